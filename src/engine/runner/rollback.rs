//! The rollback plan (rollback actions of attempted steps, newest first, stopping at the last
//! crossed point of no return) and its execution.

use chrono::Utc;
use tokio::time::Instant;

use super::drive::Decision;
use super::*;
use cutover_model::runbook::Expect;

impl Runner<'_> {
    /// The plan as it stands now.
    pub(super) fn plan(&self) -> RollbackPlan {
        let ponr_index = self.ponr.map(|(i, _)| i);
        let mut entries = Vec::new();
        for (i, s) in self.rb.steps.iter().enumerate().rev() {
            if ponr_index.is_some_and(|p| i <= p) || self.rolled_back[i] {
                continue;
            }
            let state = match self.states[i] {
                State::Done(d) => d.state(),
                State::Failed => StepState::Failed,
                State::Pending if self.attempts[i] > 0 => StepState::Interrupted,
                State::Pending => continue,
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
            point_of_no_return: self.ponr.map(|(i, at)| PonrCrossed {
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
        self.rolling_back = true;
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
                self.rollback_attempts[index] += 1;
                let attempt = self.rollback_attempts[index];
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
                    self.rolled_back[index] = true;
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
                        self.rolled_back[index] = true;
                        break;
                    }
                    Decision::Abort => return self.rollback_finished(false).await,
                }
            }
        }
        self.rollback_finished(true).await
    }

    async fn rollback_finished(&mut self, completed: bool) -> Result<RunOutcome, EngineError> {
        self.rolling_back = false;
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
