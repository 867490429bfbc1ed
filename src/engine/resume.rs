//! Rebuilding a run's state from its journal, for `--resume`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::journal::Record;
use cutover_model::protocol::{Event, OperatorAction, StepState};

/// How a step came to be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// It passed.
    Passed,
    /// The operator skipped it after a failure.
    Skipped,
    /// The operator marked an interrupted step done.
    Marked,
}

impl Done {
    /// The step state this is.
    pub fn state(self) -> StepState {
        match self {
            Done::Passed => StepState::Passed,
            Done::Skipped => StepState::Skipped,
            Done::Marked => StepState::MarkedDone,
        }
    }
}

/// A step that started and never finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The step's id.
    pub id: String,
    /// When it started.
    pub at: DateTime<Utc>,
    /// Its process group, if it got that far.
    pub pid: Option<u32>,
}

/// What the journal says about the run so far.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// How each done step came to be done, by step id.
    pub done: BTreeMap<String, Done>,
    /// Duration of the last finished attempt, per step.
    pub durations: BTreeMap<String, u64>,
    /// Steps whose last attempt failed with no decision after.
    pub failed: BTreeSet<String>,
    /// The step in flight when the journal ends.
    pub interrupted: Option<Interrupted>,
    /// Last attempt number per step.
    pub attempts: BTreeMap<String, u32>,
    /// sha256 of the runbook the journal last ran.
    pub sha256: Option<String>,
    /// Text of that runbook.
    pub source: Option<String>,
    /// When each done step last passed.
    pub finished_at: BTreeMap<String, DateTime<Utc>>,
    /// Steps whose rollback action passed or was skipped.
    pub rolled_back: BTreeSet<String>,
    /// A rollback started and has not completed (an aborted rollback counts: once a rollback
    /// started, the run can only continue it).
    pub rollback_started: bool,
    /// A rollback action that started and never finished.
    pub rollback_interrupted: Option<Interrupted>,
    /// Last attempt number of each step's rollback action.
    pub rollback_attempts: BTreeMap<String, u32>,
    /// When a completed rollback finished (such a run cannot be resumed).
    pub rolled_back_at: Option<DateTime<Utc>>,
    /// The latest result of each reconcile check.
    pub reconcile: BTreeMap<String, cutover_model::reconcile::ReconcileResult>,
    /// The vars of the latest session that journaled them (masked).
    pub vars: Option<BTreeMap<String, String>>,
}

/// Replays journal records.
pub fn restore(records: &[Record]) -> Restored {
    let mut r = Restored::default();
    for rec in records {
        match &rec.event {
            Event::RunStarted { run } => {
                r.sha256 = Some(run.sha256.clone());
                if !run.vars.is_empty() {
                    r.vars = Some(run.vars.clone());
                }
            }
            Event::RunbookText { source } => r.source = Some(source.clone()),
            Event::StepStarted {
                id, attempt, at, ..
            } => {
                r.attempts.insert(id.clone(), *attempt);
                r.interrupted = Some(Interrupted {
                    id: id.clone(),
                    at: *at,
                    pid: None,
                });
            }
            Event::Process { pid, .. } => {
                // The process of whatever runs now: a rollback action, or a step.
                if let Some(i) = r.rollback_interrupted.as_mut().or(r.interrupted.as_mut()) {
                    i.pid = Some(*pid);
                }
            }
            Event::StepFinished {
                id,
                outcome,
                duration_ms,
                ..
            } => {
                r.interrupted = None;
                r.durations.insert(id.clone(), *duration_ms);
                if outcome.is_ok() {
                    r.finished_at.insert(id.clone(), rec.ts);
                    r.done.insert(id.clone(), Done::Passed);
                    r.failed.remove(id);
                } else {
                    r.done.remove(id);
                    r.failed.insert(id.clone());
                }
            }
            Event::RollbackStarted { .. } => r.rollback_started = true,
            Event::RollbackActionStarted {
                id, attempt, at, ..
            } => {
                r.rollback_attempts.insert(id.clone(), *attempt);
                r.rollback_interrupted = Some(Interrupted {
                    id: id.clone(),
                    at: *at,
                    pid: None,
                });
            }
            Event::ReconcileResult { result, .. } => {
                r.reconcile.insert(result.name.clone(), (**result).clone());
            }
            Event::RollbackActionFinished { id, outcome, .. } => {
                r.rollback_interrupted = None;
                if outcome.is_ok() {
                    r.rolled_back.insert(id.clone());
                }
            }
            Event::RollbackFinished {
                completed: true, ..
            } => r.rolled_back_at = Some(rec.ts),
            Event::Operator {
                step: Some(id),
                action: OperatorAction::SkipRollback { .. },
                ..
            } => {
                r.rolled_back.insert(id.clone());
            }
            Event::Operator {
                step: Some(id),
                action,
                ..
            } => {
                let how = match action {
                    OperatorAction::Skip { .. } => Some(Done::Skipped),
                    OperatorAction::MarkDone { .. } => Some(Done::Marked),
                    _ => None,
                };
                if let Some(how) = how {
                    r.done.insert(id.clone(), how);
                    r.failed.remove(id);
                    if r.interrupted.as_ref().is_some_and(|i| &i.id == id) {
                        r.interrupted = None;
                    }
                }
            }
            _ => {}
        }
    }
    r
}
