//! What the cockpit knows about one step.

use chrono::{DateTime, Utc};

use super::output::OutputBuffer;
use cutover_model::narrate;
use cutover_model::protocol::{CheckResult, StepInfo, StepOutcome};

/// A step's state as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// Not run yet.
    Pending,
    /// Running now (or waiting for its confirmation word).
    Running,
    /// Its last attempt passed.
    Passed,
    /// The last attempt did not pass.
    Failed(StepOutcome),
    /// Skipped by the operator after a failure.
    Skipped,
    /// An interrupted step the operator marked done.
    MarkedDone,
    /// Started in an earlier session and never finished: outcome unknown.
    Interrupted,
    /// Its rollback action is running.
    RollingBack,
    /// Rolled back: its rollback action passed.
    RolledBack,
    /// Its rollback action was skipped (with a reason): it still needs undoing by hand.
    RollbackSkipped,
    /// Its rollback action did not pass.
    RollbackFailed,
}

impl StepStatus {
    /// The glyph in the steps list.
    pub fn glyph(&self) -> &'static str {
        match self {
            StepStatus::Pending => " ",
            StepStatus::Running => "▶",
            StepStatus::Passed => "✔",
            StepStatus::Failed(_) => "✘",
            StepStatus::Skipped => "↷",
            StepStatus::MarkedDone => "☑",
            StepStatus::Interrupted => "?",
            StepStatus::RollingBack => "↺",
            StepStatus::RolledBack => "↶",
            StepStatus::RollbackSkipped => "⊘",
            StepStatus::RollbackFailed => "✘",
        }
    }

    /// In words.
    pub fn word(&self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Passed => "passed",
            StepStatus::Failed(StepOutcome::TimedOut) => "timed out",
            StepStatus::Failed(StepOutcome::Cancelled) => "cancelled",
            StepStatus::Failed(_) => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::MarkedDone => "marked done",
            StepStatus::Interrupted => "interrupted — outcome unknown",
            StepStatus::RollingBack => "rolling back",
            StepStatus::RolledBack => "rolled back",
            StepStatus::RollbackSkipped => "rollback skipped — undo by hand",
            StepStatus::RollbackFailed => "rollback failed",
        }
    }

    /// Whether the run may move past this step.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            StepStatus::Passed | StepStatus::Skipped | StepStatus::MarkedDone
        )
    }
}

/// A running step's progress, from its `progress` query.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressView {
    /// How much is done.
    pub done: u64,
    /// Of how much, when known.
    pub total: Option<u64>,
    /// What is counted.
    pub unit: String,
    /// The latest poll failed (its figures are the last good ones).
    pub error: Option<String>,
    /// The attempt's first reading (for the rate): when, and how much was done then.
    pub first: (DateTime<Utc>, u64),
    /// When the figures were read.
    pub at: DateTime<Utc>,
    /// A poll has answered in this attempt (before that, the figures are none).
    pub good: bool,
}

impl ProgressView {
    /// `412000 / 1000000 rows · 41% · 12k rows/s · ETA 48s` (the rate once two readings a
    /// second or more apart are in); a failing query says so after the last good figures.
    pub fn words(&self) -> String {
        if !self.good {
            let e = self.error.as_deref().unwrap_or("no answer yet");
            return format!("progress query failed: {e}");
        }
        let rate = narrate::progress_rate(self.first, self.at, self.done);
        let mut s = narrate::step_progress(self.done, self.total, &self.unit, rate);
        if let Some(e) = &self.error {
            s.push_str(&format!(" · progress query failed: {e}"));
        }
        s
    }
}

/// One step: the plan, plus what happened to it.
#[derive(Debug, Clone)]
pub struct StepView {
    /// The plan (masked).
    pub info: StepInfo,
    /// Where it stands (pending, running, passed, failed, rolled back, ...): read from the
    /// run's fold after each event that moves a step ([`StepStatus::of`]), never set apart.
    pub status: StepStatus,
    /// Attempts so far (this session and restored).
    pub attempt: u32,
    /// Start of the current/last attempt, or of its rollback action once the rollback reached
    /// it (the clock the list shows).
    pub started_at: Option<DateTime<Utc>>,
    /// Duration of the last finished attempt (or rollback action), ms.
    pub duration_ms: Option<u64>,
    /// Expectations of the last finished attempt.
    pub checks: Vec<CheckResult>,
    /// Why the last attempt failed, or the operator's reason for skipping it.
    pub message: Option<String>,
    /// Latest wait-step poll.
    pub wait: Option<String>,
    /// Process group of the running attempt.
    pub pid: Option<u32>,
    /// The running attempt's progress figures (`progress = {...}`).
    pub progress: Option<ProgressView>,
    /// Where the full output of the last attempt is.
    pub output_file: Option<String>,
    /// The kept tail of the output.
    pub output: OutputBuffer,
}

impl StepView {
    /// A pending step.
    pub fn new(info: StepInfo) -> Self {
        StepView {
            info,
            status: StepStatus::Pending,
            attempt: 0,
            started_at: None,
            duration_ms: None,
            checks: Vec::new(),
            message: None,
            wait: None,
            pid: None,
            progress: None,
            output_file: None,
            output: OutputBuffer::default(),
        }
    }

    /// Elapsed time of the running attempt at `now`, or the last attempt's duration, ms.
    pub fn actual_ms(&self, now: DateTime<Utc>) -> Option<u64> {
        match (&self.status, self.started_at) {
            (StepStatus::Running | StepStatus::RollingBack, Some(at)) => {
                Some((now - at).num_milliseconds().max(0) as u64)
            }
            _ => self.duration_ms,
        }
    }

    /// Whether it ran (or is running) past its planned duration at `now`.
    pub fn over_plan(&self, now: DateTime<Utc>) -> bool {
        // The plan is the step's own; a rollback action has none.
        !matches!(
            self.status,
            StepStatus::RollingBack | StepStatus::RolledBack | StepStatus::RollbackFailed
        ) && matches!((self.actual_ms(now), self.info.expected_ms), (Some(a), Some(e)) if a > e)
    }
}

impl super::App {
    /// Steps done (passed, skipped, marked done) of all, and how many of those a rollback has
    /// undone. The count never goes backwards: a rollback undoes work, it does not un-run it.
    pub fn progress(&self) -> (usize, usize, usize) {
        use cutover_model::summary::{Ended, Undo};
        let done = self
            .summary
            .steps
            .iter()
            .filter(|s| matches!(s.ended, Ended::Passed | Ended::Skipped | Ended::MarkedDone))
            .count();
        let undone = self
            .summary
            .steps
            .iter()
            .filter(|s| s.undo == Some(Undo::Passed))
            .count();
        (done, self.steps.len(), undone)
    }
}

impl StepStatus {
    /// Where step `s` stands, read from the run's fold; `live`: its attempt or rollback action
    /// runs in the engine this terminal is attached to (otherwise a started, unfinished one
    /// is interrupted: its outcome is unknown).
    pub fn of(s: &cutover_model::summary::StepSummary, live: bool) -> Self {
        use cutover_model::summary::{Ended, Undo};
        match (&s.undo, s.ended) {
            (Some(Undo::Running), _) if live => StepStatus::RollingBack,
            (Some(Undo::Running), _) => StepStatus::Interrupted,
            (Some(Undo::Passed), _) => StepStatus::RolledBack,
            (Some(Undo::Failed { .. }), _) => StepStatus::RollbackFailed,
            (Some(Undo::Skipped { .. }), _) => StepStatus::RollbackSkipped,
            (None, Ended::NotRun) => StepStatus::Pending,
            (None, Ended::Interrupted) if live => StepStatus::Running,
            (None, Ended::Interrupted) => StepStatus::Interrupted,
            (None, Ended::Passed) => StepStatus::Passed,
            (None, Ended::Failed) => StepStatus::Failed(StepOutcome::Failed),
            (None, Ended::TimedOut) => StepStatus::Failed(StepOutcome::TimedOut),
            (None, Ended::Cancelled) => StepStatus::Failed(StepOutcome::Cancelled),
            (None, Ended::Skipped) => StepStatus::Skipped,
            (None, Ended::MarkedDone) => StepStatus::MarkedDone,
        }
    }
}
