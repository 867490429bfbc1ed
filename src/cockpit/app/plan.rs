//! The header's figures: window, elapsed, remaining, plan ETA, behind/ahead of plan.

use chrono::{DateTime, Duration, Utc};

use super::App;
use super::step::StepStatus;

/// How urgent the window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Comfortable.
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
    /// Overrun of planned durations so far (negative: ahead), ms.
    pub behind_ms: i64,
    /// Urgency.
    pub urgency: Urgency,
}

impl App {
    /// The header's figures now.
    pub fn plan(&self) -> PlanFigures {
        let now = self.clock();
        let window = self.run.as_ref().and_then(|r| {
            let start = r.window_start?;
            let minutes = r.window_minutes?;
            Some((start, start + Duration::minutes(i64::from(minutes))))
        });
        let elapsed_ms = match (window, self.session_start) {
            (Some((start, _)), _) => (now - start).num_milliseconds(),
            (None, Some(s)) => (now - s).num_milliseconds(),
            (None, None) => 0,
        };
        let mut left_ms: i64 = 0;
        let mut behind_ms: i64 = 0;
        for s in &self.steps {
            let exp = s.info.expected_ms.map(|e| e as i64);
            match (&s.status, exp) {
                (StepStatus::Pending | StepStatus::Interrupted, Some(e)) => left_ms += e,
                (StepStatus::Failed(_), Some(e)) => {
                    // The failed attempt's time is lost; the step's plan is still ahead.
                    left_ms += e;
                    behind_ms += s.duration_ms.map_or(0, |a| a as i64);
                }
                (StepStatus::Running, Some(e)) => {
                    let a = s.actual_ms(now).unwrap_or(0) as i64;
                    left_ms += (e - a).max(0);
                    behind_ms += (a - e).max(0);
                }
                (StepStatus::Passed, Some(e)) => {
                    if let Some(a) = s.duration_ms {
                        behind_ms += a as i64 - e;
                    }
                }
                _ => {}
            }
        }
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
