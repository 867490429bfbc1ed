//! Engine events into cockpit state.

use tui_input::Input;

use super::modal::Modal;
use super::output::OutputView;
use super::panels::{CheckState, ReconcilePanel};
use super::step::{StepStatus, StepView};
use super::{App, Effect, Phase};
use cutover_model::protocol::{Event, Level, OperatorAction, RunOutcome, StepOutcome, StepState};

impl App {
    pub(super) fn on_event(&mut self, ev: Event) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match ev {
            Event::RunStarted { run } => {
                self.steps = run.steps.iter().cloned().map(StepView::new).collect();
                self.lag.configured = run.lag_configured;
                self.lag.info = run.lag.clone();
                self.reconcile = ReconcilePanel::from_names(&run.reconcile);
                self.session_start = Some(self.now);
                self.selected = 0;
                self.view = OutputView::default();
                self.run = Some(*run);
                redraw
            }
            Event::RunbookText { .. } => vec![],
            Event::Resumed {
                done,
                interrupted,
                failed_before,
            } => {
                let mut s = format!("resumed: {} step(s) already done", done.len());
                if !failed_before.is_empty() {
                    s.push_str(&format!("; failed last time: {}", failed_before.join(", ")));
                }
                if let Some(i) = interrupted {
                    s.push_str(&format!("; {i} was interrupted — outcome unknown"));
                }
                self.say(Level::Info, s);
                redraw
            }
            Event::StepRestored {
                index,
                state,
                duration_ms,
            } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.status = match state {
                        StepState::Passed => StepStatus::Passed,
                        StepState::Skipped => StepStatus::Skipped,
                        StepState::MarkedDone => StepStatus::MarkedDone,
                        StepState::Interrupted => StepStatus::Interrupted,
                        StepState::Failed => StepStatus::Failed(StepOutcome::Failed),
                    };
                    s.duration_ms = duration_ms;
                }
                redraw
            }
            Event::Ready { next } => {
                let first = matches!(self.phase, Phase::Starting);
                self.phase = Phase::Ready { next };
                if first {
                    self.select(next);
                }
                redraw
            }
            Event::StepStarted {
                index,
                attempt,
                at,
                command,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(index) {
                    if attempt > 1 || !s.output.is_empty() {
                        s.output.marker(format!("── attempt {attempt} ──"));
                    }
                    s.status = StepStatus::Running;
                    s.attempt = attempt;
                    s.started_at = Some(at);
                    s.info.command = command;
                    s.checks.clear();
                    s.message = None;
                    s.wait = None;
                    s.pid = None;
                }
                if at > self.now {
                    self.now = at;
                }
                self.phase = Phase::Running { index };
                self.select(index);
                self.view = OutputView::default();
                redraw
            }
            Event::Process { index, pid } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.pid = Some(pid);
                }
                vec![]
            }
            Event::Output {
                index,
                stream,
                text,
            } => {
                let Some(s) = self.steps.get_mut(index) else {
                    return vec![];
                };
                let n = s.output.push(stream, text);
                if index == self.selected {
                    self.view.on_lines(n);
                    redraw
                } else {
                    vec![]
                }
            }
            Event::WaitProgress { index, message, .. } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.wait = Some(message);
                }
                redraw
            }
            Event::ConfirmRequested { index, word } => {
                self.phase = Phase::Confirming {
                    index,
                    word: word.clone(),
                };
                if !matches!(self.modal, Some(Modal::Ask(_))) {
                    self.modal = Some(Modal::Confirm {
                        index,
                        word,
                        input: Input::default(),
                        rejected: false,
                    });
                }
                vec![Effect::Redraw, Effect::Bell]
            }
            Event::ConfirmRejected { index } => {
                if let Some(Modal::Confirm { rejected, .. }) = &mut self.modal {
                    *rejected = true;
                }
                let id = self.step_id(index);
                self.say(
                    Level::Warn,
                    format!("{id}: that is not the confirmation word"),
                );
                redraw
            }
            Event::StepFinished {
                index,
                outcome,
                duration_ms,
                checks,
                message,
                output_file,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.status = if outcome.is_ok() {
                        StepStatus::Passed
                    } else {
                        StepStatus::Failed(outcome)
                    };
                    s.duration_ms = Some(duration_ms);
                    s.checks = checks;
                    s.message = message;
                    s.output_file = output_file;
                    s.pid = None;
                }
                if matches!(&self.modal, Some(Modal::Confirm { index: i, .. }) if *i == index)
                    || matches!(
                        &self.modal,
                        Some(Modal::Ask(super::modal::Ask::Cancel { .. }))
                    )
                {
                    self.modal = None;
                }
                self.phase = Phase::Busy;
                redraw
            }
            Event::DecisionNeeded {
                index,
                kind,
                message,
            } => {
                self.phase = Phase::Deciding {
                    index,
                    kind,
                    message: message.clone(),
                };
                self.select(index);
                self.say(Level::Warn, message);
                vec![Effect::Redraw, Effect::Bell]
            }
            Event::Operator { step, action, .. } => {
                let index = step
                    .as_ref()
                    .and_then(|id| self.steps.iter().position(|s| &s.info.id == id));
                match action {
                    OperatorAction::SkipRollback { reason } => {
                        if let Some(s) = index.and_then(|i| self.steps.get_mut(i)) {
                            s.status = StepStatus::RolledBack;
                            s.message = Some(format!("rollback skipped: {reason}"));
                        }
                    }
                    OperatorAction::Skip { reason } => {
                        if let Some(s) = index.and_then(|i| self.steps.get_mut(i)) {
                            s.status = StepStatus::Skipped;
                            s.message = Some(format!("skipped: {reason}"));
                        }
                    }
                    OperatorAction::MarkDone { reason } => {
                        if let Some(s) = index.and_then(|i| self.steps.get_mut(i)) {
                            s.status = StepStatus::MarkedDone;
                            s.message = Some(format!("marked done: {reason}"));
                        }
                    }
                    OperatorAction::Cancel => {
                        let id = step.unwrap_or_default();
                        self.say(
                            Level::Warn,
                            format!("{id}: cancelling — its process group is being killed"),
                        );
                    }
                    _ => {}
                }
                redraw
            }
            Event::Notice { level, message } => {
                self.say(level, message);
                redraw
            }
            Event::RollbackPlan { plan } => {
                if let Some(Modal::Rollback { plan: p, .. }) = &mut self.modal {
                    *p = Some(plan);
                    return redraw;
                }
                vec![]
            }
            Event::RollbackStarted { plan, by } => {
                self.rolling_back = true;
                if matches!(
                    self.modal,
                    Some(Modal::Rollback { .. } | Modal::Confirm { .. })
                ) {
                    self.modal = None;
                }
                if let Some(t) = &mut self.trigger {
                    t.rollback_at = None;
                }
                self.say(
                    Level::Warn,
                    format!(
                        "ROLLBACK started by {by}: {} step(s) in the plan",
                        plan.entries.len()
                    ),
                );
                self.phase = Phase::Busy;
                vec![Effect::Redraw, Effect::Bell]
            }
            Event::RollbackActionStarted { index, attempt, .. } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.output
                        .marker(format!("── rollback, attempt {attempt} ──"));
                    s.status = StepStatus::RollingBack;
                    s.message = None;
                }
                self.phase = Phase::Running { index };
                self.select(index);
                self.view = OutputView::default();
                redraw
            }
            Event::RollbackActionFinished {
                index,
                outcome,
                message,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.status = if outcome.is_ok() {
                        StepStatus::RolledBack
                    } else {
                        StepStatus::RollbackFailed
                    };
                    s.message = message;
                }
                self.phase = Phase::Busy;
                redraw
            }
            Event::RollbackFinished { completed, .. } => {
                self.rolling_back = false;
                if completed {
                    self.say(Level::Warn, "rollback completed");
                } else {
                    self.say(Level::Warn, "rollback NOT completed: see the journal");
                }
                redraw
            }
            Event::TriggerFired {
                name,
                message,
                countdown_ms,
                ..
            } => {
                let rollback_at =
                    countdown_ms.map(|ms| self.now + chrono::Duration::milliseconds(ms as i64));
                self.trigger = Some(super::TriggerBanner {
                    name,
                    message,
                    rollback_at,
                });
                vec![Effect::Redraw, Effect::Bell]
            }
            Event::CountdownCancelled { name, by } => {
                if let Some(t) = &mut self.trigger {
                    t.rollback_at = None;
                }
                self.say(
                    Level::Info,
                    format!("automatic rollback of trigger {name} cancelled by {by}"),
                );
                redraw
            }
            Event::ReconcileProgress { progress } => {
                self.reconcile.set(
                    &progress.name,
                    CheckState::Running {
                        done: progress.partitions_done,
                        total: progress.partitions_total,
                    },
                );
                redraw
            }
            Event::ReconcileResult { result, .. } => {
                let state = match result.status {
                    cutover_model::reconcile::Status::Pass => CheckState::Equal {
                        rows: result.rows_compared,
                    },
                    cutover_model::reconcile::Status::Fail => CheckState::Different {
                        rows: result.mismatch_rows(),
                    },
                    cutover_model::reconcile::Status::Error => {
                        CheckState::Error(result.error.clone().unwrap_or_else(|| "failed".into()))
                    }
                };
                self.reconcile.set(&result.name, state);
                self.reconcile.results.insert(result.name.clone(), *result);
                redraw
            }
            Event::LagSample { sample, .. } => {
                match (&sample.stale_since, sample.at) {
                    (Some(since), _) => {
                        let err = sample.error.clone().unwrap_or_else(|| "no answer".into());
                        self.lag.failed(*since, err);
                    }
                    (None, Some(at)) => self.lag.push(super::panels::LagReading {
                        at,
                        bytes: sample.bytes,
                        seconds: sample.seconds,
                        number: sample.number,
                        detail: sample.detail.clone(),
                    }),
                    (None, None) => return vec![],
                }
                redraw
            }
            Event::RunFinished { outcome, .. } => {
                self.phase = Phase::Finished(outcome);
                if matches!(
                    self.modal,
                    Some(Modal::Confirm { .. } | Modal::Reason { .. })
                ) {
                    self.modal = None;
                }
                let j = self.journal().to_string();
                let text = match outcome {
                    RunOutcome::Completed => "run completed — every step is done · q quits".into(),
                    RunOutcome::RolledBack => "run rolled back · q quits".into(),
                    RunOutcome::Aborted => {
                        format!("run aborted — resume with cutover run --resume {j} · q quits")
                    }
                };
                self.say(
                    if outcome == RunOutcome::Completed {
                        Level::Info
                    } else {
                        Level::Warn
                    },
                    text,
                );
                if self.quitting {
                    vec![Effect::Quit]
                } else {
                    redraw
                }
            }
        }
    }
}
