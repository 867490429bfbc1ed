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

/// How a step's last finished attempt ended, as its session journaled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEnd {
    /// The outcome.
    pub outcome: cutover_model::protocol::StepOutcome,
    /// Why it did not pass.
    pub message: Option<String>,
    /// Its full output.
    pub output_file: Option<String>,
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
    /// How each step's last finished attempt ended: outcome, message, output file.
    pub last_end: BTreeMap<String, LastEnd>,
    /// When the run first started (its first session), if the journal says.
    pub run_started_at: Option<DateTime<Utc>>,
    /// When its first step first started.
    pub first_step_at: Option<DateTime<Utc>>,
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
    /// The operator skipped a rollback action (its undo is left by hand).
    pub rollback_skipped: bool,
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
        r.apply(rec);
    }
    r
}

impl Restored {
    /// Takes one journal record.
    fn apply(&mut self, rec: &Record) {
        match &rec.event {
            Event::RunStarted { run } => {
                if self.run_started_at.is_none() {
                    self.run_started_at = Some(run.started_at.unwrap_or(rec.ts));
                }
                self.sha256 = Some(run.sha256.clone());
                if !run.vars.is_empty() {
                    self.vars = Some(run.vars.clone());
                }
            }
            Event::RunbookText { source } => self.source = Some(source.clone()),
            Event::StepStarted {
                id, attempt, at, ..
            } => {
                self.first_step_at.get_or_insert(*at);
                self.attempts.insert(id.clone(), *attempt);
                self.interrupted = Some(Interrupted {
                    id: id.clone(),
                    at: *at,
                    pid: None,
                });
            }
            Event::Process { pid, .. } => {
                // The process of whatever runs now: a rollback action, or a step.
                let now = self.rollback_interrupted.as_mut();
                if let Some(i) = now.or(self.interrupted.as_mut()) {
                    i.pid = Some(*pid);
                }
            }
            Event::StepFinished {
                id,
                outcome,
                duration_ms,
                message,
                output_file,
                ..
            } => {
                self.last_end.insert(
                    id.clone(),
                    LastEnd {
                        outcome: *outcome,
                        message: message.clone(),
                        output_file: output_file.clone(),
                    },
                );
                self.step_finished(id, outcome.is_ok(), *duration_ms, rec.ts);
            }
            Event::ReconcileResult { result, .. } => {
                self.reconcile
                    .insert(result.name.clone(), (**result).clone());
            }
            Event::Operator {
                step: Some(id),
                action,
                ..
            } => self.operator(id, action),
            ev => self.rollback_event(ev, rec.ts),
        }
    }

    fn step_finished(&mut self, id: &str, ok: bool, duration_ms: u64, ts: DateTime<Utc>) {
        self.interrupted = None;
        self.durations.insert(id.to_string(), duration_ms);
        if ok {
            self.finished_at.insert(id.to_string(), ts);
            self.done.insert(id.to_string(), Done::Passed);
            self.failed.remove(id);
        } else {
            self.done.remove(id);
            self.failed.insert(id.to_string());
        }
    }

    /// What the operator did about step `id`.
    fn operator(&mut self, id: &str, action: &OperatorAction) {
        let how = match action {
            OperatorAction::SkipRollback { .. } => {
                self.rolled_back.insert(id.to_string());
                self.rollback_skipped = true;
                return;
            }
            OperatorAction::Skip { .. } => Done::Skipped,
            OperatorAction::MarkDone { .. } => Done::Marked,
            _ => return,
        };
        self.done.insert(id.to_string(), how);
        self.failed.remove(id);
        if self.interrupted.as_ref().is_some_and(|i| i.id == id) {
            self.interrupted = None;
        }
    }

    /// The rollback's records (any other record is not for resume).
    fn rollback_event(&mut self, ev: &Event, ts: DateTime<Utc>) {
        match ev {
            Event::RollbackStarted { .. } => self.rollback_started = true,
            Event::RollbackActionStarted {
                id, attempt, at, ..
            } => {
                self.rollback_attempts.insert(id.clone(), *attempt);
                self.rollback_interrupted = Some(Interrupted {
                    id: id.clone(),
                    at: *at,
                    pid: None,
                });
            }
            Event::RollbackActionFinished { id, outcome, .. } => {
                self.rollback_interrupted = None;
                if outcome.is_ok() {
                    self.rolled_back.insert(id.clone());
                }
            }
            Event::RollbackFinished {
                completed: true, ..
            } => self.rolled_back_at = Some(ts),
            _ => {}
        }
    }
}
