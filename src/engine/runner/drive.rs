//! The step loop: waiting for the operator, running steps in order, and decision points.

use chrono::Utc;

use super::mailbox::cmd_name;
use super::preflight_gate;
use super::{EngineError, Runner, Stop};
use crate::resume::Restored;
use cutover_model::protocol::{Command, DecisionKind, Event, Level, OperatorAction, RunOutcome};
use cutover_model::summary::Ended;
use cutover_shell as shell;

/// What the operator decided at a decision point.
pub(super) enum Decision {
    Retry,
    Done,
    Abort,
    Rollback,
}

/// How running one step until it settles ended.
pub(super) enum Settled {
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
            self.replay(r).await?;
        }
        if preflight_gate::before_step_one(restored.as_ref())
            && let Some(outcome) = self.preflight().await?
        {
            return Ok(outcome);
        }
        if let Some(r) = &restored {
            if r.rollback_started {
                // Once a rollback started, the run can only continue it (or end).
                return self.continue_rollback(r).await;
            }
            match self.settle_interrupted(r).await? {
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
                Command::RunStep { index } if index != next => {
                    let msg = format!(
                        "step {} was not run: the next step is {} {}",
                        index.saturating_add(1),
                        next + 1,
                        self.rb.steps[next].id
                    );
                    self.notice(Level::Warn, msg).await?;
                }
                Command::RunNext | Command::RunStep { .. } => {
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
        self.rollback(by, None).await
    }

    /// Runs step `index` until it passes or the operator skips it, aborts or rolls back.
    pub(super) async fn run_until_settled(&mut self, index: usize) -> Result<Settled, EngineError> {
        loop {
            let n = self.steps.next_attempt(index);
            let outcome = self.attempt(index, n).await?;
            match outcome {
                Ok(true) => {
                    self.steps.set(index, Ended::Passed);
                    if self.rb.steps[index].point_of_no_return.is_some() {
                        self.steps.cross_point_of_no_return(index, Utc::now());
                    }
                    return Ok(Settled::Done);
                }
                Err(Stop::Abort(reason)) => {
                    self.steps.set(index, Ended::Failed);
                    self.operator_action(
                        Some(&self.rb.steps[index].id),
                        OperatorAction::Abort { reason },
                    )
                    .await?;
                    return Ok(Settled::Abort);
                }
                Err(Stop::Rollback) => {
                    self.steps.set(index, Ended::Failed);
                    return Ok(Settled::Rollback);
                }
                Ok(false) | Err(Stop::Cancel) => {
                    self.steps.set(index, Ended::Failed);
                    let msg = format!(
                        "step {} did not pass: retry it, skip it with a reason, roll back, or abort",
                        self.rb.steps[index].id
                    );
                    match self.decide(index, DecisionKind::Failed, msg, None).await? {
                        Decision::Retry => continue,
                        Decision::Done => {
                            self.steps.set(index, Ended::Skipped);
                            return Ok(Settled::Done);
                        }
                        Decision::Abort => return Ok(Settled::Abort),
                        Decision::Rollback => return Ok(Settled::Rollback),
                    }
                }
            }
        }
    }

    /// Waits for retry / skip / mark-done / rollback / abort at a decision point. `old_group`
    /// is an interrupted attempt's process group from the earlier session: while it runs, a
    /// re-run is refused (it would do the work twice) until it ends or the operator stops it.
    pub(super) async fn decide(
        &mut self,
        index: usize,
        kind: DecisionKind,
        message: String,
        old_group: Option<u32>,
    ) -> Result<Decision, EngineError> {
        let id = self.rb.steps[index].id.clone();
        let running = |g: Option<u32>| g.filter(|pid| shell::group_alive(*pid as i32));
        let mut shown = running(old_group);
        self.decision_needed(index, kind, &message, shown).await?;
        loop {
            let at = (index, kind, message.as_str());
            match self.command_watching(&mut shown, at).await? {
                Command::Retry => {
                    if let Some(pid) = running(old_group) {
                        let msg = format!(
                            "step {id}'s process group {pid} from the earlier session is still running: a re-run now would do its work twice. Wait for it to end, or stop it first"
                        );
                        self.notice(Level::Warn, msg).await?;
                        if shown != Some(pid) {
                            // The front end thought it had ended: told again.
                            shown = Some(pid);
                            self.decision_needed(index, kind, &message, shown).await?;
                        }
                        continue;
                    }
                    self.operator_action(Some(&id), OperatorAction::Retry)
                        .await?;
                    return Ok(Decision::Retry);
                }
                Command::StopInterrupted => {
                    let acted = self.stop_old_group(&id, running(old_group)).await?;
                    // Said again when it acted, or when the front end's view of the group
                    // (what it was last told) is stale; never for nothing (a front end that
                    // answers each decision would loop).
                    let now = running(old_group);
                    if acted || now != shown {
                        shown = now;
                        let said = group_now(&message, old_group, shown);
                        self.decision_needed(index, kind, &said, shown).await?;
                    }
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
                    let action = if kind.in_rollback() {
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
                Command::Rollback { .. } if !kind.in_rollback() => return Ok(Decision::Rollback),
                other => {
                    let options = options(kind);
                    let what = cmd_name(&other);
                    let msg = format!("{what} does nothing now: step {id} needs {options}");
                    self.notice(Level::Warn, msg).await?;
                }
            }
        }
    }

    /// The next command at a decision point, watching the old process group the front end
    /// was last told of (`shown`): once it has ended, the decision is said again without it
    /// (checked every tick), so a front end that refuses a re-run while the group runs (the
    /// cockpit, a cockpit attached later from the run's state) lets it through.
    async fn command_watching(
        &mut self,
        shown: &mut Option<u32>,
        (index, kind, message): (usize, DecisionKind, &str),
    ) -> Result<Command, EngineError> {
        loop {
            if let Some(cmd) = self.inbound().await?
                && let Some(c) = self.screen(cmd).await?
            {
                return Ok(c);
            }
            if let Some(pid) = *shown
                && !shell::group_alive(pid as i32)
            {
                *shown = None;
                let now = group_now(message, Some(pid), None);
                self.decision_needed(index, kind, &now, None).await?;
            }
        }
    }

    /// Tells the front end that step `index` waits for a decision.
    async fn decision_needed(
        &mut self,
        index: usize,
        kind: DecisionKind,
        message: &str,
        still_running: Option<u32>,
    ) -> Result<(), EngineError> {
        self.io
            .emit(Event::DecisionNeeded {
                index,
                kind,
                message: message.to_string(),
                still_running,
            })
            .await
    }

    /// Stops process group `pid` left running by an earlier session's attempt of step `id`
    /// (SIGTERM, then SIGKILL after the grace). Only a group that carries the step's marker
    /// in its environment is signalled: a group id reused by some other program is left alone.
    /// Returns whether it acted.
    async fn stop_old_group(&mut self, id: &str, pid: Option<u32>) -> Result<bool, EngineError> {
        let Some(pid) = pid else {
            self.notice(
                Level::Warn,
                "no process group of an earlier attempt is running",
            )
            .await?;
            return Ok(false);
        };
        let marker = format!("CUTOVER_STEP_ID={id}");
        let members = shell::group_members(pid as i32).unwrap_or_default();
        let ours = members
            .iter()
            .any(|m| shell::environ_holds(*m, &marker) != Some(false));
        if !members.is_empty() && !ours {
            let msg = format!(
                "process group {pid} is running but none of its processes carries {marker}: it may not be this step's. Check it by hand (ps -g {pid}) before re-running"
            );
            self.notice(Level::Warn, msg).await?;
            return Ok(false);
        }
        self.operator_action(Some(id), OperatorAction::StopInterrupted { pid })
            .await?;
        shell::GroupGuard::new(pid as i32)
            .terminate(shell::KILL_GRACE)
            .await;
        Ok(true)
    }
}

/// A decision's `message`, written while `old_group` ran, as it reads once the group is in
/// the state `shown` says (running, or `None`: no longer).
fn group_now(message: &str, old_group: Option<u32>, shown: Option<u32>) -> String {
    match (old_group, shown) {
        (Some(pid), None) => message.replace(
            &super::resumed::group_said(pid, true),
            &super::resumed::group_said(pid, false),
        ),
        _ => message.to_string(),
    }
}

/// What the operator may do at a decision point of `kind`, in words.
fn options(kind: DecisionKind) -> &'static str {
    match kind {
        DecisionKind::Failed => "retry, skip, roll back or abort",
        DecisionKind::Interrupted => "re-run, mark done, roll back or abort",
        DecisionKind::RollbackFailed => "retry, skip or abort the rollback",
        DecisionKind::RollbackInterrupted => "re-run, skip (undone by hand) or abort the rollback",
    }
}
