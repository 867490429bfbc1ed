//! The header's figures: window, elapsed, remaining, plan ETA, behind/ahead of plan.

use chrono::{DateTime, Duration, Utc};

use super::App;
use super::step::StepStatus;

/// How urgent the window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// On plan or ahead: nothing to worry about.
    Calm,
    /// Under a quarter of the window (or 15 minutes) left.
    Warn,
    /// The window is over, or the plan ends after it.
    Critical,
}

/// Derived plan figures at `App::now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFigures {
    /// Window start and end, when the runbook has a window.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Time into the window (or into this session, without a window), ms; negative before it opens.
    pub elapsed_ms: i64,
    /// Time left in the window, ms (negative: over).
    pub remaining_ms: Option<i64>,
    /// When the plan ends: now plus the planned time of what is left.
    pub eta: DateTime<Utc>,
    /// How much later than planned the run ends at this pace (negative: earlier), ms: time
    /// since its first step started plus the planned time of what is left, less the plan of
    /// every step; the summary and the metrics file say the same figure. 0 without a plan or
    /// before step 1.
    pub behind_ms: i64,
    /// How worried the header should look (its colour).
    pub urgency: Urgency,
}

impl App {
    /// When the run started: its first session's start (a resumed run's too), or this
    /// session's.
    pub fn run_start(&self) -> Option<DateTime<Utc>> {
        self.run
            .as_ref()
            .and_then(|r| r.run_started_at)
            .or(self.session_start)
    }

    /// The header's figures now.
    pub fn plan(&self) -> PlanFigures {
        let now = self.clock();
        let window = self.run.as_ref().and_then(|r| {
            let start = r.window_start?;
            let minutes = r.window_minutes?;
            Some((start, start + Duration::minutes(i64::from(minutes))))
        });
        // A resumed run counts from its first session's start, as the summary does.
        let run_ms = self.run_start().map(|s| (now - s).num_milliseconds());
        let elapsed_ms = match (window, run_ms) {
            (Some((start, _)), _) => (now - start).num_milliseconds(),
            (None, Some(ms)) => ms,
            (None, None) => 0,
        };
        let mut left_ms: i64 = 0;
        let mut planned_ms: i64 = 0;
        for s in &self.steps {
            let Some(e) = s.info.expected_ms.map(|e| e as i64) else {
                continue;
            };
            planned_ms += e;
            match &s.status {
                // A failed step's plan is still ahead (its attempt's time is spent).
                StepStatus::Pending | StepStatus::Interrupted | StepStatus::Failed(_) => {
                    left_ms += e;
                }
                StepStatus::Running => {
                    let a = s.actual_ms(now).unwrap_or(0) as i64;
                    left_ms += (e - a).max(0);
                }
                _ => {}
            }
        }
        // An ended run has nothing left to do, whatever did not run.
        if matches!(self.phase, super::Phase::Finished(_)) {
            left_ms = 0;
        }
        // The summary's figure, now: time since step 1 started and the plan left, against the
        // plan (nothing before step 1 starts).
        let behind_ms = match self.first_step_at {
            Some(first) if planned_ms > 0 => {
                (now - first).num_milliseconds().max(0) + left_ms - planned_ms
            }
            _ => 0,
        };
        let eta = now + Duration::milliseconds(left_ms);
        let remaining_ms = window.map(|(_, end)| (end - now).num_milliseconds());
        let urgency = match (window, remaining_ms) {
            (Some((start, end)), Some(rem)) => {
                let len = (end - start).num_milliseconds().max(1);
                if rem <= 0 || eta > end {
                    Urgency::Critical
                } else if rem * 4 < len || rem < 15 * 60 * 1000 {
                    Urgency::Warn
                } else {
                    Urgency::Calm
                }
            }
            _ => Urgency::Calm,
        };
        PlanFigures {
            window,
            elapsed_ms,
            remaining_ms,
            eta,
            behind_ms,
            urgency,
        }
    }
}
