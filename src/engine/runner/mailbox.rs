//! The engine's mailbox: operator commands from the front end, and the engine clock that
//! drives triggers, lag publishing and reconcile progress between commands.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use cutover_model::protocol::{Command, Event};

/// What the engine's wait points receive: an operator command, a fact from the host to
/// journal, or a clock tick.
pub(super) enum Inbound {
    /// The front end sent a command.
    Cmd(Command),
    /// The host of a detached run reports something to journal (a terminal came or went).
    Fact(Event),
    /// A second passed.
    Tick,
}

/// Commands and facts in, ticks out: every wait point of the engine reads from here.
pub(super) struct Mailbox<'a> {
    cmds: &'a mut mpsc::Receiver<Command>,
    /// Facts from the host of a detached run; `None` once closed (or for a plain run).
    facts: Option<mpsc::Receiver<Event>>,
    /// The engine clock: triggers are checked on each tick.
    tick: Interval,
}

impl<'a> Mailbox<'a> {
    /// A mailbox on the front end's command channel (and a host's facts), ticking every
    /// second.
    pub(super) fn new(
        cmds: &'a mut mpsc::Receiver<Command>,
        facts: Option<mpsc::Receiver<Event>>,
    ) -> Self {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Mailbox { cmds, facts, tick }
    }

    /// The next command, fact or clock tick (cancel-safe). A closed command channel means the
    /// front end is gone: that reads as an abort.
    pub(super) async fn recv(&mut self) -> Inbound {
        loop {
            let fact = async {
                match self.facts.as_mut() {
                    Some(f) => f.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                c = self.cmds.recv() => match c {
                    // A terminal's goodbye is the socket's business (it journals the detach);
                    // an engine with its cockpit in process has nothing to do with it.
                    Some(Command::Leave) => {}
                    c => {
                        return Inbound::Cmd(c.unwrap_or(Command::Abort {
                            reason: Some("front end closed".into()),
                        }));
                    }
                },
                f = fact => match f {
                    Some(ev) => return Inbound::Fact(ev),
                    None => self.facts = None,
                },
                _ = self.tick.tick() => return Inbound::Tick,
            }
        }
    }
}

/// A command's name in the operator's words, for "… does nothing now" notices.
pub(super) fn cmd_name(c: &Command) -> &'static str {
    match c {
        Command::RunNext | Command::RunStep { .. } => "run",
        Command::Retry => "retry",
        Command::Skip { .. } => "skip",
        Command::MarkDone { .. } => "mark done",
        Command::Confirm { .. } => "confirm",
        Command::Approve { .. } => "sign-off",
        Command::Cancel => "cancel",
        Command::StopInterrupted => "stop the earlier attempt",
        Command::Abort { .. } => "abort",
        Command::RollbackPlan => "rollback plan",
        Command::Rollback { .. } => "rollback",
        Command::CancelCountdown => "cancel countdown",
        Command::Reconcile { .. } => "reconcile",
        Command::OverridePreflight { .. } => "start past preflight",
        Command::Leave => "leave",
    }
}
