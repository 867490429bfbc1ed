//! What a front end asks the engine to do.

use serde::{Deserialize, Serialize};

/// The word the operator types to execute a rollback plan.
pub const ROLLBACK_WORD: &str = "ROLLBACK";

/// What a front end asks the engine to do. The engine refuses (with a notice) whatever does
/// not fit where the run is: it never guesses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Run the next step.
    RunNext,
    /// Run step `index` (0-based) only if it is the next one: what a fleet sends from lanes
    /// that may be a moment behind the member, so a command meant for one step never runs
    /// another. Anything else is refused with a notice.
    RunStep {
        /// The step the operator saw waiting.
        index: usize,
    },
    /// Retry the failed step, or re-run the interrupted one.
    Retry,
    /// Skip the failed step (or a failed rollback action).
    Skip {
        /// Why, as typed; required (an empty reason is refused).
        reason: String,
    },
    /// Mark the interrupted step as done.
    MarkDone {
        /// Why, as typed; required.
        reason: String,
    },
    /// Answer a confirm step (or a point of no return, whose word is the step's id).
    Confirm {
        /// What the operator typed; it must be the word exactly.
        text: String,
    },
    /// Sign off step's role `role` as `name` (the one command a read-only `watch` terminal
    /// may send).
    Approve {
        /// The role approved for.
        role: String,
        /// The name the person typed.
        name: String,
        /// Who sent it, as the socket knows them (set by the server for a terminal of a
        /// detached run; `None`: the run's own operator).
        #[serde(default)]
        by: Option<super::Operator>,
    },
    /// Start the run although preflight found something that stops it.
    OverridePreflight {
        /// Why, as typed; required (an empty reason is refused).
        reason: String,
    },
    /// Cancel the running step (kills its process group, or cancels its query).
    Cancel,
    /// This terminal leaves on purpose (`q d`, or `q` in a watcher): the socket journals its
    /// detach as deliberate, apart from a lost terminal. Never reaches the engine.
    Leave,
    /// At an interrupted step (or rollback action) whose process group from the earlier
    /// session is still running: stop that group (SIGTERM, then SIGKILL), so a re-run cannot
    /// do its work twice.
    StopInterrupted,
    /// End the run here (a running step is cancelled first).
    Abort {
        /// Why, for the journal.
        reason: Option<String>,
    },
    /// Run reconcile checks now: one by name, or all.
    Reconcile {
        /// A check's name; `None` for all of them.
        name: Option<String>,
    },
    /// Send the current rollback plan (answered with `Event::RollbackPlan`).
    RollbackPlan,
    /// Cancel a trigger's automatic-rollback countdown.
    CancelCountdown,
    /// Execute the rollback plan. A running step is cancelled first.
    Rollback {
        /// What the operator typed; it must be [`ROLLBACK_WORD`].
        confirmation: String,
    },
}
