//! The rollback plan (rollback actions of attempted steps, newest first, stopping at the last
//! crossed point of no return) and its execution.

use chrono::Utc;
use tokio::time::Instant;

use super::drive::Decision;
use super::{EngineError, Runner, Stop};
use cutover_model::protocol::{
    DecisionKind, Event, OperatorAction, PonrCrossed, RollbackEntry, RollbackPlan, RunOutcome,
};
use cutover_model::runbook::{Action, Expect, RollbackAction};

/// The rollback's progress: which steps' rollback actions ran (or were skipped with a
/// reason), how often each was attempted, and whether a rollback is executing.
#[derive(Debug, Clone, Default)]
pub(super) struct RollbackBook {
    attempts: Vec<u32>,
    done: Vec<bool>,
    running: bool,
}

impl RollbackBook {
    /// One entry per step; `done` tells which steps a journal shows rolled back already.
    pub(super) fn new(done: impl IntoIterator<Item = bool>) -> Self {
        let done: Vec<bool> = done.into_iter().collect();
        RollbackBook {
            attempts: vec![0; done.len()],
            done,
            running: false,
        }
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
            let undoable = matches!(s.action, Action::Run(_) | Action::Sql { .. });
            if s.rollback.is_none() && !undoable {
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

    /// Executes the plan; a failing action asks retry / skip with a reason / abort.
    pub(super) async fn rollback(&mut self, by: String) -> Result<RunOutcome, EngineError> {
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
                let result = match &action {
                    RollbackAction::Run(t) => {
                        let file = self.output_path(index, &format!("rollback.{attempt}"));
                        self.shell_attempt(index, t, &Expect::default(), file)
                            .await?
                    }
                    RollbackAction::Sql { sql, on } => {
                        self.sql_attempt(index, sql, on, &Expect::default()).await?
                    }
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
                    return self.rollback_finished(false).await;
                }
                if passed {
                    self.rollback.done[index] = true;
                    break;
                }
                let msg = format!(
                    "rollback of step {} did not pass: retry it, skip it with a reason, or abort the rollback",
                    entry.id
                );
                match self
                    .decide(index, DecisionKind::RollbackFailed, msg)
                    .await?
                {
                    Decision::Retry | Decision::Rollback => continue,
                    Decision::Done => {
                        self.rollback.done[index] = true;
                        break;
                    }
                    Decision::Abort => return self.rollback_finished(false).await,
                }
            }
        }
        self.rollback_finished(true).await
    }

    async fn rollback_finished(&mut self, completed: bool) -> Result<RunOutcome, EngineError> {
        self.rollback.running = false;
        self.io
            .emit(Event::RollbackFinished {
                completed,
                at: Utc::now(),
            })
            .await?;
        Ok(if completed {
            RunOutcome::RolledBack
        } else {
            RunOutcome::Aborted
        })
    }
}
