//! Pop-ups that take the keyboard: help, typed confirmation, typed reason, yes/no questions.

use tui_input::Input;

use cutover_model::protocol::RollbackPlan;

/// What a typed reason is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonFor {
    /// Skip a failed step.
    Skip,
    /// Mark an interrupted step done.
    MarkDone,
    /// Skip a failed rollback action.
    SkipRollback,
    /// Start the run although preflight found something that stops it.
    Preflight,
}

/// A yes/no question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Quit while step `index` runs: it will be cancelled.
    QuitRunning {
        /// The running step.
        index: usize,
    },
    /// Cancel the running step `index`.
    Cancel {
        /// The running step.
        index: usize,
    },
    /// End the run at a decision point.
    Abort {
        /// The step waiting for a decision.
        index: usize,
    },
    /// Leave a detached run: detach (it goes on), end it, or stay.
    Leave,
    /// End the run before step 1: preflight stopped it.
    EndBeforeStart,
    /// Stop the process group an interrupted attempt of step `index` left running.
    StopInterrupted {
        /// The step waiting for a decision.
        index: usize,
        /// The process group.
        pid: u32,
    },
}

/// The open pop-up.
#[derive(Debug, Clone)]
pub enum Modal {
    /// The key map.
    Help,
    /// A confirm step: the operator types the word.
    Confirm {
        /// Step index.
        index: usize,
        /// The word to type.
        word: String,
        /// What has been typed.
        input: Input,
        /// The last Enter did not match.
        rejected: bool,
    },
    /// A typed reason (skip / mark done).
    Reason {
        /// Step index.
        index: usize,
        /// What for.
        purpose: ReasonFor,
        /// What has been typed.
        input: Input,
        /// The last Enter had an empty reason.
        empty: bool,
    },
    /// A yes/no question.
    Ask(Ask),
    /// A sign-off (`A`): the person types their name (after the role, when several are open).
    Approve {
        /// Step index.
        index: usize,
        /// What has been typed.
        input: Input,
        /// Why the last enter was refused.
        rejected: Option<String>,
    },
    /// The search box (`/`): what to look for in the selected step's output.
    Search {
        /// What has been typed.
        input: Input,
    },
    /// The rollback plan; executing it needs the typed word `ROLLBACK`.
    Rollback {
        /// The plan, once the engine has sent it.
        plan: Option<RollbackPlan>,
        /// What has been typed.
        input: Input,
        /// The last Enter did not match.
        rejected: bool,
    },
}
