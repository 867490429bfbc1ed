//! The rollback plan: the rollback actions of the attempted steps, newest first, stopping at
//! the last point of no return crossed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StepState;

/// One step of the rollback plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackEntry {
    /// The step's position in the runbook (0-based).
    pub index: usize,
    /// The step's id.
    pub id: String,
    /// The step's title.
    pub title: String,
    /// Where the step stands now (passed, failed, interrupted…).
    pub state: StepState,
    /// The rollback action as shown (masked); `None` when the step has none and must be
    /// undone by hand.
    pub action: Option<String>,
}

/// A point of no return that has been crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PonrCrossed {
    /// The step's position in the runbook (0-based).
    pub index: usize,
    /// The step's id.
    pub id: String,
    /// The runbook's `point_of_no_return` text: what to do instead of rolling back.
    pub text: String,
    /// When the step completed.
    pub at: DateTime<Utc>,
}

/// The rollback plan: rollback actions of attempted steps, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// The entries in execution order (reverse step order).
    pub entries: Vec<RollbackEntry>,
    /// The last crossed point of no return; only steps after it are in `entries`.
    pub point_of_no_return: Option<PonrCrossed>,
}

impl RollbackPlan {
    /// Whether executing the plan would run anything.
    pub fn has_actions(&self) -> bool {
        self.entries.iter().any(|e| e.action.is_some())
    }
}
