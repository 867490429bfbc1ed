//! The step loop: waiting for the operator, running steps in order, and decision points.

use chrono::Utc;

use super::mailbox::cmd_name;
use super::step_book::State;
use super::{EngineError, Runner, Stop};
use crate::resume::{Done, Restored};
use cutover_model::protocol::{
    Command, DecisionKind, Event, Level, OperatorAction, ROLLBACK_WORD, RunOutcome, StepState,
};
use cutover_shell as shell;

/// What the operator decided at a decision point.
pub(super) enum Decision {
    Retry,
    Done,
    Abort,
    Rollback,
}

/// How running one step until it settles ended.
enum Settled {
    Done,
    Abort,
    Rollback,
}

impl Runner<'_> {
    pub(super) async fn drive(
        &mut self,
        restored: Option<Restored>,
    ) -> Result<RunOutcome, EngineError> {
        if let Some(r) = &restored {
            match self.restore(r).await? {
                Some(Settled::Abort) => return Ok(RunOutcome::Aborted),
                Some(Settled::Rollback) => return self.rollback_or_continue().await,
                Some(Settled::Done) | None => {}
            }
        }
        loop {
            let Some(next) = self.steps.next_pending() else {
                return Ok(RunOutcome::Completed);
            };
            self.io.emit(Event::Ready { next }).await?;
            match self.command().await? {
                Command::RunNext => {
                    let id = self.rb.steps[next].id.clone();
                    self.operator_action(Some(&id), OperatorAction::Run).await?;
                    if self.rb.steps[next].point_of_no_return.is_some() {
                        match self.confirm_ponr(next).await? {
                            None => {}
                            Some(Stop::Cancel) => continue,
                            Some(Stop::Abort(reason)) => {
                                self.operator_action(Some(&id), OperatorAction::Abort { reason })
                                    .await?;
                                return Ok(RunOutcome::Aborted);
                            }
                            Some(Stop::Rollback) => return self.rollback_or_continue().await,
                        }
                    }
                    match self.run_until_settled(next).await? {
                        Settled::Done => {}
                        Settled::Abort => return Ok(RunOutcome::Aborted),
                        Settled::Rollback => return self.rollback_or_continue().await,
                    }
                }
                Command::Abort { reason } => {
                    self.operator_action(None, OperatorAction::Abort { reason })
                        .await?;
                    return Ok(RunOutcome::Aborted);
                }
                Command::Rollback { .. } => return self.rollback_or_continue().await,
                other => {
                    self.notice(
                        Level::Warn,
                        format!(
                            "{} does nothing now: no step is running or failed",
                            cmd_name(&other)
                        ),
                    )
                    .await?;
                }
            }
        }
    }

    /// Executes the rollback; the screen already checked there is something to roll back.
    async fn rollback_or_continue(&mut self) -> Result<RunOutcome, EngineError> {
        self.triggers.stop_countdown();
        let by = match self.triggers.take_auto_rollback() {
            Some(name) => {
                self.notice(
                    Level::Warn,
                    format!("trigger {name}: countdown expired, rolling back automatically"),
                )
                .await?;
                format!("trigger {name}")
            }
            None => {
                self.operator_action(None, OperatorAction::Rollback).await?;
                self.operator.user.clone()
            }
        };
        self.rollback(by).await
    }

    /// Replays the journal's state to the front end and settles an interrupted step.
    async fn restore(&mut self, r: &Restored) -> Result<Option<Settled>, EngineError> {
        let done: Vec<String> = self
            .rb
            .steps
            .iter()
            .filter(|s| r.done.contains_key(&s.id))
            .map(|s| s.id.clone())
            .collect();
        self.io
            .emit(Event::Resumed {
                done,
                interrupted: r.interrupted.as_ref().map(|i| i.id.clone()),
                failed_before: r.failed.iter().cloned().collect(),
            })
            .await?;
        for (i, s) in self.rb.steps.iter().enumerate() {
            let state = match self.steps.state(i) {
                State::Done(d) => d.state(),
                State::Failed => StepState::Failed,
                State::Pending if r.interrupted.as_ref().is_some_and(|x| x.id == s.id) => {
                    StepState::Interrupted
                }
                State::Pending => continue,
            };
            if matches!(
                state,
                StepState::Passed | StepState::Skipped | StepState::MarkedDone
            ) && s.point_of_no_return.is_some()
            {
                let at = r.finished_at.get(&s.id).copied().unwrap_or_else(Utc::now);
                self.steps.cross_point_of_no_return(i, at);
            }
            self.io
                .emit(Event::StepRestored {
                    index: i,
                    state,
                    duration_ms: r.durations.get(&s.id).copied(),
                })
                .await?;
        }
        for result in r.reconcile.values() {
            if self.rb.reconcile.iter().any(|c| c.name == result.name) {
                self.recon.restore(result.clone());
                self.io
                    .emit(Event::ReconcileResult {
                        result: Box::new(result.clone()),
                        restored: true,
                    })
                    .await?;
            }
        }
        if r.rollback_in_progress {
            let message = format!(
                "a rollback was in progress when the last session ended ({} action(s) done); review the plan and confirm {ROLLBACK_WORD} to continue it",
                r.rolled_back.len()
            );
            self.notice(Level::Warn, message).await?;
        }
        let Some(int) = &r.interrupted else {
            return Ok(None);
        };
        let Some(index) = self.rb.step_index(&int.id) else {
            return Ok(None);
        };
        let still = match int.pid {
            Some(pid) if shell::group_alive(pid as i32) => {
                format!("; its process group {pid} is STILL RUNNING")
            }
            Some(pid) => format!("; its process group {pid} is no longer running"),
            None => String::new(),
        };
        let message = format!(
            "step {} started at {} and never finished — outcome unknown{still}. Re-run it, mark it done with a reason, or abort.",
            int.id,
            int.at.format("%H:%M:%S UTC")
        );
        Ok(Some(
            match self
                .decide(index, DecisionKind::Interrupted, message)
                .await?
            {
                Decision::Abort => Settled::Abort,
                Decision::Rollback => Settled::Rollback,
                Decision::Done => {
                    self.steps.set(index, State::Done(Done::Marked));
                    Settled::Done
                }
                Decision::Retry => self.run_until_settled(index).await?,
            },
        ))
    }

    /// Runs step `index` until it passes or the operator skips it, aborts or rolls back.
    async fn run_until_settled(&mut self, index: usize) -> Result<Settled, EngineError> {
        loop {
            let n = self.steps.next_attempt(index);
            let outcome = self.attempt(index, n).await?;
            match outcome {
                Ok(true) => {
                    self.steps.set(index, State::Done(Done::Passed));
                    if self.rb.steps[index].point_of_no_return.is_some() {
                        self.steps.cross_point_of_no_return(index, Utc::now());
                    }
                    return Ok(Settled::Done);
                }
                Err(Stop::Abort(reason)) => {
                    self.steps.set(index, State::Failed);
                    self.operator_action(
                        Some(&self.rb.steps[index].id),
                        OperatorAction::Abort { reason },
                    )
                    .await?;
                    return Ok(Settled::Abort);
                }
                Err(Stop::Rollback) => {
                    self.steps.set(index, State::Failed);
                    return Ok(Settled::Rollback);
                }
                Ok(false) | Err(Stop::Cancel) => {
                    self.steps.set(index, State::Failed);
                    let msg = format!(
                        "step {} did not pass: retry it, skip it with a reason, roll back, or abort",
                        self.rb.steps[index].id
                    );
                    match self.decide(index, DecisionKind::Failed, msg).await? {
                        Decision::Retry => continue,
                        Decision::Done => {
                            self.steps.set(index, State::Done(Done::Skipped));
                            return Ok(Settled::Done);
                        }
                        Decision::Abort => return Ok(Settled::Abort),
                        Decision::Rollback => return Ok(Settled::Rollback),
                    }
                }
            }
        }
    }

    /// Waits for retry / skip / mark-done / rollback / abort at a decision point.
    pub(super) async fn decide(
        &mut self,
        index: usize,
        kind: DecisionKind,
        message: String,
    ) -> Result<Decision, EngineError> {
        let id = self.rb.steps[index].id.clone();
        self.io
            .emit(Event::DecisionNeeded {
                index,
                kind,
                message,
            })
            .await?;
        let in_rollback = kind == DecisionKind::RollbackFailed;
        loop {
            match self.command().await? {
                Command::Retry => {
                    self.operator_action(Some(&id), OperatorAction::Retry)
                        .await?;
                    return Ok(Decision::Retry);
                }
                Command::Skip { reason } | Command::MarkDone { reason }
                    if reason.trim().is_empty() =>
                {
                    self.notice(
                        Level::Warn,
                        "a reason is required to skip or mark a step done",
                    )
                    .await?;
                }
                Command::Skip { reason } => {
                    let reason = self.masker.mask(&reason).into_owned();
                    let action = if in_rollback {
                        OperatorAction::SkipRollback { reason }
                    } else {
                        OperatorAction::Skip { reason }
                    };
                    self.operator_action(Some(&id), action).await?;
                    return Ok(Decision::Done);
                }
                Command::MarkDone { reason } if kind == DecisionKind::Interrupted => {
                    let reason = self.masker.mask(&reason).into_owned();
                    self.operator_action(Some(&id), OperatorAction::MarkDone { reason })
                        .await?;
                    return Ok(Decision::Done);
                }
                Command::Abort { reason } => {
                    self.operator_action(Some(&id), OperatorAction::Abort { reason })
                        .await?;
                    return Ok(Decision::Abort);
                }
                Command::Rollback { .. } if !in_rollback => return Ok(Decision::Rollback),
                other => {
                    let options = match kind {
                        DecisionKind::Failed => "retry, skip, roll back or abort",
                        DecisionKind::Interrupted => "re-run, mark done, roll back or abort",
                        DecisionKind::RollbackFailed => "retry, skip or abort the rollback",
                    };
                    self.notice(
                        Level::Warn,
                        format!(
                            "{} does nothing now: step {id} needs {options}",
                            cmd_name(&other)
                        ),
                    )
                    .await?;
                }
            }
        }
    }
}
