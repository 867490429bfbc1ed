//! `[[notify]]`: who hears about the run when nobody is looking at the screen.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Template;

/// What a notify hook is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// A rollback trigger fired.
    Trigger,
    /// An automatic rollback's countdown started.
    Countdown,
    /// A step did not pass (failed, timed out, or was cancelled).
    StepFailed,
    /// An approve step waits for its sign-offs.
    SignOff,
    /// The run fell behind its plan by the hook's `behind_by`.
    BehindPlan,
    /// The lag reached its critical threshold.
    LagCritical,
    /// The lag probe started failing (the reading is stale).
    LagStale,
    /// A reconcile gate found differences and holds the run.
    GateBlocked,
    /// The rollback started.
    Rollback,
    /// The run ended (completed, rolled back, aborted, not started).
    RunEnded,
    /// `cutover notify --test`.
    Test,
}

impl NotifyKind {
    /// Every kind a hook may ask for, in the order of the docs.
    pub const ALL: [NotifyKind; 10] = [
        NotifyKind::Trigger,
        NotifyKind::Countdown,
        NotifyKind::StepFailed,
        NotifyKind::SignOff,
        NotifyKind::BehindPlan,
        NotifyKind::LagCritical,
        NotifyKind::LagStale,
        NotifyKind::GateBlocked,
        NotifyKind::Rollback,
        NotifyKind::RunEnded,
    ];

    /// The word in runbooks and payloads: `step_failed`.
    pub fn word(self) -> &'static str {
        match self {
            NotifyKind::Trigger => "trigger",
            NotifyKind::Countdown => "countdown",
            NotifyKind::StepFailed => "step_failed",
            NotifyKind::SignOff => "sign_off",
            NotifyKind::BehindPlan => "behind_plan",
            NotifyKind::LagCritical => "lag_critical",
            NotifyKind::LagStale => "lag_stale",
            NotifyKind::GateBlocked => "gate_blocked",
            NotifyKind::Rollback => "rollback",
            NotifyKind::RunEnded => "run_ended",
            NotifyKind::Test => "test",
        }
    }

    /// The kind called `word`.
    pub fn parse(word: &str) -> Option<NotifyKind> {
        NotifyKind::ALL.into_iter().find(|k| k.word() == word)
    }
}

/// One `[[notify]]` hook, validated.
#[derive(Debug, Clone)]
pub struct Notify {
    /// The kinds it hears about.
    pub on: Vec<NotifyKind>,
    /// The command (`sh -c`): the event as JSON on stdin, `CUTOVER_NOTIFY_*` in its environment.
    pub run: Template,
    /// Killed (its whole process group) after this long.
    pub timeout: Duration,
    /// Tries after the first that failed (with backoff: 1 s, 2 s, 4 s…).
    pub retries: u32,
    /// For `behind_plan`: how far behind the plan the run must fall.
    pub behind_by: Duration,
}
