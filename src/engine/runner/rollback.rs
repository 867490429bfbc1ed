//! The rollback plan (rollback actions of attempted steps, newest first, stopping at the last
//! crossed point of no return) and its execution.

use chrono::Utc;
use tokio::time::Instant;

use super::drive::Decision;
use super::{EngineError, Runner, Stop};
use crate::resume::Interrupted;
use cutover_model::protocol::{
    DecisionKind, Event, OperatorAction, PonrCrossed, RollbackEntry, RollbackPlan, RunOutcome,
};
use cutover_model::runbook::{Expect, RollbackAction};

/// The rollback's progress: which steps' rollback actions ran (or were skipped with a
/// reason), how often each was attempted, and whether a rollback is executing.
#[derive(Debug, Clone, Default)]
pub(super) struct RollbackBook {
    attempts: Vec<u32>,
    done: Vec<bool>,
    running: bool,
    /// An action was skipped by the operator (this session or, from the journal, an earlier
    /// one): the rollback cannot end as fully rolled back.
    skipped: bool,
}

impl RollbackBook {
    /// One entry per step: whether a journal shows it rolled back already, and how many
    /// attempts its rollback action had (so a resumed rollback never reuses an output file).
    pub(super) fn new(steps: impl IntoIterator<Item = (bool, u32)>) -> Self {
        let (done, attempts) = steps.into_iter().unzip();
        RollbackBook {
            attempts,
            done,
            running: false,
            skipped: false,
        }
    }

    /// Notes that an action was skipped (from a journal being resumed).
    pub(super) fn note_skipped(&mut self) {
        self.skipped = true;
    }

    /// Whether a rollback is executing.
    pub(super) fn running(&self) -> bool {
        self.running
    }

    /// Whether step `i`'s rollback action ran (or was skipped).
    fn is_done(&self, i: usize) -> bool {
        self.done[i]
    }

    /// Counts a new attempt of step `i`'s rollback action and returns its number (1-based).
    fn next_attempt(&mut self, i: usize) -> u32 {
        self.attempts[i] += 1;
        self.attempts[i]
    }
}

/// A rollback action as shown (before masking).
pub(super) fn rollback_display(r: &RollbackAction) -> String {
    match r {
        RollbackAction::Run(t) => t.display(),
        RollbackAction::Sql { sql, on } => format!("[{on}] {}", sql.display()),
        RollbackAction::RepairInverse { on } => format!("[{on}] the repair's inverse patch"),
    }
}

impl Runner<'_> {
    /// The plan as it stands now.
    pub(super) fn plan(&self) -> RollbackPlan {
        let ponr = self.steps.point_of_no_return();
        let ponr_index = ponr.map(|(i, _)| i);
        let mut entries = Vec::new();
        for (i, s) in self.rb.steps.iter().enumerate().rev() {
            if ponr_index.is_some_and(|p| i <= p) || self.rollback.is_done(i) {
                continue;
            }
            let Some(state) = self.steps.attempted_state(i) else {
                continue;
            };
            // A step that changes nothing has nothing to undo, by hand or otherwise (the
            // summary and the report list the same steps).
            if s.rollback.is_none() && !s.changes {
                continue;
            }
            entries.push(RollbackEntry {
                index: i,
                id: s.id.clone(),
                title: s.title.clone(),
                state,
                action: s
                    .rollback
                    .as_ref()
                    .map(|r| self.masker.mask(&rollback_display(r)).into_owned()),
            });
        }
        RollbackPlan {
            entries,
            point_of_no_return: ponr.map(|(i, at)| PonrCrossed {
                index: i,
                id: self.rb.steps[i].id.clone(),
                text: self.rb.steps[i]
                    .point_of_no_return
                    .clone()
                    .unwrap_or_default(),
                at,
            }),
        }
    }

    /// Executes the plan; a failing action asks retry / skip with a reason / abort. When a
    /// resumed rollback had an action interrupted (`interrupted`), that action's outcome is
    /// unknown: the operator decides on it before anything runs.
    pub(super) async fn rollback(
        &mut self,
        by: String,
        interrupted: Option<(usize, Interrupted)>,
    ) -> Result<RunOutcome, EngineError> {
        self.rollback.running = true;
        let plan = self.plan();
        self.io
            .emit(Event::RollbackStarted {
                plan: plan.clone(),
                by,
            })
            .await?;
        for entry in &plan.entries {
            let Some(action) = self.rb.steps[entry.index].rollback.clone() else {
                continue;
            };
            let index = entry.index;
            if let Some((_, int)) = interrupted.as_ref().filter(|(i, _)| *i == index) {
                match self.settle_interrupted_rollback(index, int).await? {
                    Decision::Retry | Decision::Rollback => {}
                    Decision::Done => {
                        self.rollback.done[index] = true;
                        continue;
                    }
                    Decision::Abort => return self.rollback_finished(false).await,
                }
            }
            if !self.undo(entry, &action).await? {
                return self.rollback_finished(false).await;
            }
        }
        self.rollback_finished(true).await
    }

    /// Runs one step's rollback action until it passes or the operator skips it; false when
    /// the operator aborted the rollback.
    async fn undo(
        &mut self,
        entry: &RollbackEntry,
        action: &RollbackAction,
    ) -> Result<bool, EngineError> {
        let index = entry.index;
        loop {
            let attempt = self.rollback.next_attempt(index);
            let started = Instant::now();
            self.io
                .emit(Event::RollbackActionStarted {
                    index,
                    id: entry.id.clone(),
                    attempt,
                    at: Utc::now(),
                    command: entry.action.clone().unwrap_or_default(),
                })
                .await?;
            let result = match action {
                RollbackAction::Run(t) => {
                    let file = self.output_path(index, &format!("rollback.{attempt}"));
                    self.shell_attempt(index, t, &Expect::default(), file)
                        .await?
                }
                RollbackAction::Sql { sql, on } => {
                    let file = self.output_path(index, &format!("rollback.{attempt}"));
                    self.sql_attempt(index, sql, on, &Expect::default(), &file)
                        .await?
                }
                RollbackAction::RepairInverse { on } => self.undo_repair(index, on).await?,
            };
            let (att, stop) = match result {
                Ok(a) => (a, None),
                Err((a, s)) => (a, Some(s)),
            };
            let passed = att.outcome.is_ok() && stop.is_none();
            self.io
                .emit(Event::RollbackActionFinished {
                    index,
                    id: entry.id.clone(),
                    attempt,
                    outcome: att.outcome,
                    duration_ms: started.elapsed().as_millis() as u64,
                    exit_code: att.exit_code,
                    checks: att.checks,
                    message: att.message,
                    output_file: att.output_file,
                })
                .await?;
            if let Some(Stop::Abort(reason)) = stop {
                self.operator_action(Some(&entry.id), OperatorAction::Abort { reason })
                    .await?;
                return Ok(false);
            }
            if passed {
                self.rollback.done[index] = true;
                return Ok(true);
            }
            let msg = format!(
                "rollback of step {} did not pass: retry it, skip it with a reason, or abort the rollback",
                entry.id
            );
            match self
                .decide(index, DecisionKind::RollbackFailed, msg, None)
                .await?
            {
                Decision::Retry | Decision::Rollback => continue,
                Decision::Done => {
                    self.rollback.done[index] = true;
                    self.rollback.skipped = true;
                    return Ok(true);
                }
                Decision::Abort => return Ok(false),
            }
        }
    }

    async fn rollback_finished(&mut self, completed: bool) -> Result<RunOutcome, EngineError> {
        self.rollback.running = false;
        self.io
            .emit(Event::RollbackFinished {
                completed,
                at: Utc::now(),
            })
            .await?;
        Ok(match (completed, self.rollback.skipped) {
            (true, false) => RunOutcome::RolledBack,
            (true, true) => RunOutcome::RolledBackPartly,
            (false, _) => RunOutcome::Aborted,
        })
    }
}
