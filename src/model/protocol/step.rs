//! How a step attempt ends, and what the operator decides about it.

use serde::{Deserialize, Serialize};

/// Which output stream of a shell step a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How one attempt of a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// It ran and every expectation held.
    Passed,
    /// It ran and an expectation failed, or it could not run.
    Failed,
    /// It hit its `timeout`; its process group was killed (or its query cancelled).
    TimedOut,
    /// The operator cancelled it.
    Cancelled,
}

impl StepOutcome {
    /// Whether the run may move on.
    pub fn is_ok(self) -> bool {
        matches!(self, StepOutcome::Passed)
    }
}

/// Where an attempted step stands, as restored from a journal or listed in a rollback plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Its last attempt passed.
    Passed,
    /// It failed and the operator skipped it with a reason.
    Skipped,
    /// It was interrupted and the operator marked it done with a reason.
    MarkedDone,
    /// Its last attempt failed and nothing was decided yet.
    Failed,
    /// It started and never finished: the outcome is unknown.
    Interrupted,
}

impl StepState {
    /// The name used in events and the journal: `passed`, `skipped`, `marked_done`,
    /// `failed`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Passed => "passed",
            StepState::Skipped => "skipped",
            StepState::MarkedDone => "marked_done",
            StepState::Failed => "failed",
            StepState::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One expectation of a step and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which expectation: `exit`, `stdout`, `stderr_empty`, `rows`, `value`, `sql`, `confirm`,
    /// `wait` or `reconcile`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was seen, in words (`exit 1 (expected 0)`).
    pub detail: String,
}

/// Why the engine waits for an operator decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The step failed: retry, skip with a reason, roll back, or abort.
    Failed,
    /// The step started in an earlier session and never finished: re-run, mark done with a
    /// reason, roll back, or abort.
    Interrupted,
    /// A rollback action failed: retry it, skip it with a reason, or abort the rollback.
    RollbackFailed,
    /// A rollback action started in an earlier session and never finished (outcome unknown):
    /// re-run it, skip it with a reason (when it was undone by hand), or abort the rollback.
    RollbackInterrupted,
}

impl DecisionKind {
    /// Whether the decision is about a rollback action (skip means "skip this undo").
    pub fn in_rollback(self) -> bool {
        matches!(
            self,
            DecisionKind::RollbackFailed | DecisionKind::RollbackInterrupted
        )
    }

    /// Whether the decision is about an attempt whose outcome is unknown.
    pub fn interrupted(self) -> bool {
        matches!(
            self,
            DecisionKind::Interrupted | DecisionKind::RollbackInterrupted
        )
    }
}

/// Something the operator did, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OperatorAction {
    /// Ran the next step.
    Run,
    /// Retried a failed step, or re-ran an interrupted one.
    Retry,
    /// Skipped a failed step.
    Skip {
        /// The reason the operator typed.
        reason: String,
    },
    /// Marked an interrupted step as done.
    MarkDone {
        /// The reason the operator typed.
        reason: String,
    },
    /// Typed a confirm step's word (or a point of no return's id).
    Confirm,
    /// Signed off a role of an approve step.
    Approve {
        /// The role.
        role: String,
        /// The name the person typed.
        name: String,
        /// Where they were, as far as it is known for a fact: for a terminal on the engine's
        /// socket what the kernel vouches for (uid, pid, terminal, its login's origin); for the
        /// run's own process its `SSH_CLIENT`, else the host.
        from: String,
        /// What the terminal said about itself (its `SSH_CLIENT` and host), which nothing
        /// vouches for: shown as claimed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claimed: Option<String>,
    },
    /// Cancelled the running step.
    Cancel,
    /// Ended the run.
    Abort {
        /// Why, when known (`operator quit the cockpit`).
        reason: Option<String>,
    },
    /// Confirmed the rollback by typing its word.
    Rollback,
    /// Skipped a rollback action that failed.
    SkipRollback {
        /// The reason the operator typed.
        reason: String,
    },
    /// Cancelled a trigger's automatic-rollback countdown.
    CancelCountdown {
        /// The trigger's name.
        trigger: String,
    },
    /// Stopped the process group of an interrupted attempt that was still running.
    StopInterrupted {
        /// The process group (the id of its leader).
        pid: u32,
    },
    /// Accepted a runbook that changed since the journal started.
    AcceptChangedRunbook {
        /// The runbook's sha256 in the journal.
        old_sha256: String,
        /// The runbook's sha256 now.
        new_sha256: String,
    },
    /// Accepted vars (`--var`) that differ from the ones the run had.
    AcceptChangedVars {
        /// `name: old → new` for each, masked.
        changes: Vec<String>,
    },
    /// Started the run although preflight found something that stops it.
    OverridePreflight {
        /// The reason the operator typed (`--skip-preflight`, or in the cockpit).
        reason: String,
    },
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step is done.
    Completed,
    /// The rollback ran to its end.
    RolledBack,
    /// The rollback ran to its end, but the operator skipped at least one of its actions
    /// (after it failed): what that action would have undone is left to undo by hand.
    RolledBackPartly,
    /// The run was aborted, or a rollback did not complete.
    Aborted,
    /// Preflight found something that stops the run, and nobody overrode it: no step ran.
    NotStarted,
}

impl RunOutcome {
    /// The process exit code (README, "Commands"): 0 completed, 2 not started (preflight),
    /// 3 rolled back, 4 aborted, 5 rolled back with actions skipped (undo by hand).
    pub fn exit_code(self) -> i32 {
        match self {
            RunOutcome::Completed => 0,
            RunOutcome::NotStarted => 2,
            RunOutcome::RolledBack => 3,
            RunOutcome::Aborted => 4,
            RunOutcome::RolledBackPartly => 5,
        }
    }
}
