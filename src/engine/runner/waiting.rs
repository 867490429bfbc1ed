//! The engine's wait points: the next command a caller must act on (commands valid
//! everywhere, such as the rollback plan, are answered on the way), clock ticks turned into
//! trigger checks, and idling until a time while answering the operator.

use tokio::time::Instant;

use super::mailbox::{Inbound, cmd_name};
use super::{EngineError, Runner, Stop};
use cutover_model::protocol::{
    ClientChange, ClientRole, Command, Event, Level, OperatorAction, ROLLBACK_WORD,
};

impl Runner<'_> {
    /// Handles the commands that are valid everywhere (the rollback plan, a mistyped rollback
    /// confirmation); returns the command when the caller must act on it.
    pub(super) async fn screen(&mut self, cmd: Command) -> Result<Option<Command>, EngineError> {
        match cmd {
            Command::CancelCountdown => {
                self.cancel_countdown().await?;
                Ok(None)
            }
            Command::Reconcile { name } => {
                if self.rb.reconcile.is_empty() {
                    self.notice(Level::Warn, "no [[reconcile]] checks in this runbook")
                        .await?;
                    return Ok(None);
                }
                let names = self.check_names(name.as_deref());
                let started = self.start_checks(&names);
                let msg = if started.is_empty() {
                    "those checks are already running".to_string()
                } else {
                    format!("reconciling now: {}", started.join(", "))
                };
                self.notice(Level::Info, msg).await?;
                Ok(None)
            }
            Command::RollbackPlan => {
                let plan = self.plan();
                self.io.emit(Event::RollbackPlan { plan }).await?;
                Ok(None)
            }
            Command::Rollback { .. } if self.rollback.running() => {
                self.notice(Level::Warn, "a rollback is already running")
                    .await?;
                Ok(None)
            }
            Command::Rollback { confirmation } if confirmation.trim() != ROLLBACK_WORD => {
                self.notice(
                    Level::Warn,
                    format!("rollback not started: type {ROLLBACK_WORD} to confirm it"),
                )
                .await?;
                Ok(None)
            }
            Command::Rollback { .. } if !self.plan().has_actions() => {
                let why = match self.plan().point_of_no_return {
                    Some(p) => format!(
                        "the point of no return was crossed at step {} ({}): {}",
                        p.id,
                        p.at.format("%H:%M:%S UTC"),
                        p.text
                    ),
                    None => "no completed step has a rollback action".to_string(),
                };
                self.notice(Level::Warn, format!("nothing to roll back: {why}"))
                    .await?;
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }

    /// Receives the next command a caller must act on; a closed channel means the front end
    /// is gone: abort.
    pub(super) async fn command(&mut self) -> Result<Command, EngineError> {
        loop {
            if let Some(cmd) = self.inbound().await?
                && let Some(c) = self.screen(cmd).await?
            {
                return Ok(c);
            }
        }
    }

    /// Next command, with ticks turned into trigger checks; `None` when nothing is to be done.
    pub(super) async fn inbound(&mut self) -> Result<Option<Command>, EngineError> {
        match self.mailbox.recv().await {
            Inbound::Cmd(c) => Ok(Some(c)),
            Inbound::Fact(ev) => {
                self.on_fact(ev).await?;
                Ok(None)
            }
            Inbound::Tick => self.on_tick().await,
        }
    }

    /// Acts on what arrived while step `index` is busy (running, querying, waiting): a tick
    /// checks the triggers, commands valid everywhere are answered, and cancel / abort /
    /// rollback come back as the [`Stop`] the caller must act on. Anything else is refused
    /// with a notice that says `busy` (what the step is doing).
    pub(super) async fn while_busy(
        &mut self,
        inbound: Inbound,
        index: usize,
        busy: &str,
    ) -> Result<Option<Stop>, EngineError> {
        let cmd = match inbound {
            Inbound::Cmd(c) => Some(c),
            Inbound::Fact(ev) => {
                self.on_fact(ev).await?;
                None
            }
            Inbound::Tick => self.on_tick().await?,
        };
        let Some(cmd) = cmd else { return Ok(None) };
        let id = self.rb.steps[index].id.clone();
        match self.screen(cmd).await? {
            None => Ok(None),
            Some(Command::Cancel) => {
                self.operator_action(Some(&id), OperatorAction::Cancel)
                    .await?;
                Ok(Some(Stop::Cancel))
            }
            Some(Command::Abort { reason }) => Ok(Some(Stop::Abort(reason))),
            Some(Command::Rollback { .. }) => Ok(Some(Stop::Rollback)),
            Some(other) => {
                let msg = format!("{} does nothing now: {busy}", cmd_name(&other));
                self.notice(Level::Warn, msg).await?;
                Ok(None)
            }
        }
    }

    /// Journals a fact from the host; a terminal taking control makes its operator the one
    /// operator actions are journaled by.
    async fn on_fact(&mut self, ev: Event) -> Result<(), EngineError> {
        if let Event::Client {
            change: ClientChange::Attached | ClientChange::TookOver,
            role: ClientRole::Control,
            who,
            ..
        } = &ev
        {
            self.operator = who.clone();
        }
        self.io.emit(ev).await
    }

    /// One round of a wait step: says what it waits for, then idles until `wake` (or the next
    /// engine tick when `None`) answering the operator; `Some(stop)` when the operator stopped
    /// the step.
    pub(super) async fn wait_round(
        &mut self,
        index: usize,
        polls: u32,
        holding: bool,
        message: String,
        wake: Option<Instant>,
    ) -> Result<Option<Stop>, EngineError> {
        self.io
            .emit(Event::WaitProgress {
                index,
                polls,
                holding,
                message,
            })
            .await?;
        self.idle_until(wake, index, None).await
    }

    /// Waits until `wake` (or the next engine tick when `None`), answering the operator
    /// meanwhile; `Some(stop)` when the operator stopped the step `index`.
    pub(super) async fn idle_until(
        &mut self,
        wake: Option<Instant>,
        index: usize,
        nudge: Option<&tokio::sync::Notify>,
    ) -> Result<Option<Stop>, EngineError> {
        loop {
            let nudged = async {
                match nudge {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            let inbound = tokio::select! {
                () = super::race::sleep_until(wake) => return Ok(None),
                () = nudged => return Ok(None),
                inbound = self.mailbox.recv() => inbound,
            };
            let tick = matches!(inbound, Inbound::Tick);
            let busy = format!("step {} is waiting", self.rb.steps[index].id);
            if let Some(stop) = self.while_busy(inbound, index, &busy).await? {
                return Ok(Some(stop));
            }
            // Without a wake-up time, each tick is a chance to re-evaluate.
            if tick && wake.is_none() {
                return Ok(None);
            }
        }
    }
}
