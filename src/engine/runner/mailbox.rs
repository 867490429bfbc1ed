//! The engine's mailbox: operator commands from the front end, and the engine clock that
//! drives triggers, lag publishing and reconcile progress between commands.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use cutover_model::protocol::Command;

/// What the engine's wait points receive: an operator command or a clock tick.
pub(super) enum Inbound {
    /// The front end sent a command.
    Cmd(Command),
    /// A second passed.
    Tick,
}

/// Commands in, ticks out: every wait point of the engine reads from here.
pub(super) struct Mailbox<'a> {
    cmds: &'a mut mpsc::Receiver<Command>,
    /// The engine clock: triggers are checked on each tick.
    tick: Interval,
}

impl<'a> Mailbox<'a> {
    /// A mailbox on the front end's command channel, ticking every second.
    pub(super) fn new(cmds: &'a mut mpsc::Receiver<Command>) -> Self {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Mailbox { cmds, tick }
    }

    /// The next command or clock tick (cancel-safe). A closed channel means the front end is
    /// gone: that reads as an abort.
    pub(super) async fn recv(&mut self) -> Inbound {
        tokio::select! {
            biased;
            c = self.cmds.recv() => Inbound::Cmd(c.unwrap_or(Command::Abort {
                reason: Some("front end closed".into()),
            })),
            _ = self.tick.tick() => Inbound::Tick,
        }
    }
}

/// A command's name in the operator's words, for "… does nothing now" notices.
pub(super) fn cmd_name(c: &Command) -> &'static str {
    match c {
        Command::RunNext => "run",
        Command::Retry => "retry",
        Command::Skip { .. } => "skip",
        Command::MarkDone { .. } => "mark done",
        Command::Confirm { .. } => "confirm",
        Command::Cancel => "cancel",
        Command::StopInterrupted => "stop the earlier attempt",
        Command::Abort { .. } => "abort",
        Command::RollbackPlan => "rollback plan",
        Command::Rollback { .. } => "rollback",
        Command::CancelCountdown => "cancel countdown",
        Command::Reconcile { .. } => "reconcile",
    }
}
