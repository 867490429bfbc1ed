//! Rebuilding a run's state from its journal, for `--resume`: the model's fold of the run
//! ([`RunSummary`]: each step's state, attempts and rollback action) read by id, with the few
//! run-wide facts only a resume needs (the runbook's text and vars, the reconcile results).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::journal::Record;
use cutover_model::protocol::Event;
use cutover_model::summary::{Ended, RunSummary, StepSummary, Undo};

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
    /// The run, folded by the model as the report and the cockpit fold it.
    pub run: RunSummary,
    /// Steps whose last attempt failed with no decision after.
    pub failed: BTreeSet<String>,
    /// The step in flight when the journal ends.
    pub interrupted: Option<Interrupted>,
    /// Steps whose rollback action passed or was skipped.
    pub rolled_back: BTreeSet<String>,
    /// A rollback started and has not completed (an aborted rollback counts: once a rollback
    /// started, the run can only continue it).
    pub rollback_started: bool,
    /// A rollback action that started and never finished.
    pub rollback_interrupted: Option<Interrupted>,
    /// The operator skipped a rollback action (its undo is left by hand).
    pub rollback_skipped: bool,
    /// When a completed rollback finished (such a run cannot be resumed).
    pub rolled_back_at: Option<DateTime<Utc>>,
    /// sha256 of the runbook the journal last ran.
    pub sha256: Option<String>,
    /// Text of that runbook.
    pub source: Option<String>,
    /// The latest result of each reconcile check.
    pub reconcile: BTreeMap<String, cutover_model::reconcile::ReconcileResult>,
    /// The vars of the latest session that journaled them (masked).
    pub vars: Option<BTreeMap<String, String>>,
}

/// Replays journal records.
pub fn restore(records: &[Record]) -> Restored {
    let run = RunSummary::fold(records.iter().map(|r| (Some(r.ts), &r.event)));
    let mut r = Restored::default();
    for rec in records {
        r.run_fact(rec);
    }
    for s in &run.steps {
        r.step(s);
    }
    r.rollback_started = run.rollback.is_some();
    r.run = run;
    r
}

impl Restored {
    /// A run-wide fact only a resume needs.
    fn run_fact(&mut self, rec: &Record) {
        match &rec.event {
            Event::RunStarted { run } => {
                self.sha256 = Some(run.sha256.clone());
                if !run.vars.is_empty() {
                    self.vars = Some(run.vars.clone());
                }
            }
            Event::RunbookText { source } => self.source = Some(source.clone()),
            Event::ReconcileResult { result, .. } => {
                self.reconcile
                    .insert(result.name.clone(), (**result).clone());
            }
            Event::RollbackFinished {
                completed: true, ..
            } => self.rolled_back_at = Some(rec.ts),
            _ => {}
        }
    }

    /// One step as the fold left it.
    fn step(&mut self, s: &StepSummary) {
        if s.ended.is_failed() {
            self.failed.insert(s.id.clone());
        }
        if s.ended == Ended::Interrupted
            && let Some(at) = s.facts.started_at
        {
            self.interrupted = Some(Interrupted {
                id: s.id.clone(),
                at,
                pid: s.facts.pid,
            });
        }
        match &s.undo {
            Some(Undo::Passed) => {
                self.rolled_back.insert(s.id.clone());
            }
            Some(Undo::Skipped { .. }) => {
                self.rolled_back.insert(s.id.clone());
                self.rollback_skipped = true;
            }
            Some(Undo::Running) => {
                self.rollback_interrupted = s.facts.undo_started_at.map(|at| Interrupted {
                    id: s.id.clone(),
                    at,
                    pid: s.facts.undo_pid,
                });
            }
            Some(Undo::Failed { .. }) | None => {}
        }
    }

    /// Step `id` as the journal left it (`None`: not in the journal's latest session).
    pub fn step_of(&self, id: &str) -> Option<&StepSummary> {
        self.run.steps.iter().find(|s| s.id == id)
    }

    /// Whether step `id` is done (passed, skipped, marked done).
    pub fn is_done(&self, id: &str) -> bool {
        self.step_of(id).is_some_and(|s| s.ended.is_done())
    }
}
