//! A cockpit on a detached run: built from the run's snapshot, leaving it by detaching (or
//! ending the run first), and, for a watcher, sending nothing.

use chrono::{DateTime, Utc};

use super::action::Action;
use super::modal::{Ask, Modal};
use super::{App, Effect, Phase};
use cutover_model::narrate;
use cutover_model::protocol::{ClientChange, ClientRole, Event, Level, Operator};

/// What a terminal that lost the controls is told.
fn demoted(by: Option<&Operator>) -> String {
    let who = by.map_or_else(|| "another terminal".into(), narrate::operator_at);
    format!("{who} took control: this terminal now watches (read-only)")
}

/// What a watcher is told when a key would have sent a command.
pub const READ_ONLY: &str = "watch is read-only: nothing was sent";

impl App {
    /// The run so far replaces what was shown (a first attach, or a resynchronisation after
    /// this terminal fell behind); what is local to this terminal (size, selection of the
    /// view, role) stays.
    pub(super) fn on_snapshot(&mut self, events: Vec<Event>) -> Vec<Effect> {
        let fresh = App {
            now: self.now,
            size: self.size,
            output_rows: self.output_rows,
            role: self.role,
            detachable: self.detachable,
            back_to_lanes: self.back_to_lanes,
            terminal: self.terminal,
            demoted: self.demoted,
            ..App::new(self.now, self.size)
        };
        let status = self.status.take();
        let held = self.held.take();
        *self = fresh;
        self.held = held;
        for ev in events {
            self.latest_time(&ev);
            self.on_event(ev);
        }
        // What the replay said in passing (old attaches and detaches) is history, not news.
        if self.status.as_ref().is_some_and(|s| s.until.is_some()) {
            self.status = None;
        }
        if self.status.is_none() {
            self.status = status;
        }
        vec![Effect::Redraw]
    }

    /// Keeps the clock at least at the time of the events replayed.
    fn latest_time(&mut self, ev: &Event) {
        let at: Option<DateTime<Utc>> = match ev {
            Event::StepStarted { at, .. }
            | Event::TriggerFired { at, .. }
            | Event::RollbackActionStarted { at, .. }
            | Event::RollbackFinished { at, .. }
            | Event::RunFinished { at, .. } => Some(*at),
            _ => None,
        };
        if let Some(at) = at
            && at > self.now
        {
            self.now = at;
        }
    }

    /// Another terminal took control: this one now only watches.
    pub(super) fn on_role(&mut self, role: ClientRole, by: Option<Operator>) -> Vec<Effect> {
        self.role = role;
        if role == ClientRole::Watch {
            // A half-typed confirmation or reason would go nowhere now.
            if matches!(
                self.modal,
                Some(Modal::Confirm { .. } | Modal::Reason { .. } | Modal::Rollback { .. })
            ) {
                self.modal = None;
            }
            self.demoted = true;
            self.say(Level::Warn, demoted(by.as_ref()));
        }
        vec![Effect::Redraw, Effect::Bell]
    }

    /// Another terminal's attach, detach or takeover, as the journal has it.
    pub(super) fn on_client(
        &mut self,
        change: ClientChange,
        role: ClientRole,
        who: &Operator,
        from: Option<&Operator>,
        on_purpose: Option<bool>,
    ) -> Vec<Effect> {
        if change == ClientChange::TookOver && self.demoted {
            // This terminal is the one that lost the controls: that stays the message — under
            // a refusal the operator was just shown, if any, which is newer.
            self.demoted = false;
            if self.status.as_ref().is_some_and(|s| s.until.is_some()) {
                self.held = Some(super::Status {
                    level: Level::Warn,
                    text: demoted(Some(who)),
                    until: None,
                });
            } else {
                self.say(Level::Warn, demoted(Some(who)));
            }
        } else {
            self.say_briefly(
                Level::Info,
                narrate::client(change, role, who, from, on_purpose),
            );
        }
        vec![Effect::Redraw]
    }

    /// Whether `a` would send a command to the engine (refused for a watcher).
    pub fn sends_command(a: Action) -> bool {
        matches!(
            a,
            Action::Enter
                | Action::Retry
                | Action::Skip
                | Action::MarkDone
                | Action::Abort
                | Action::CancelStep
                | Action::StopInterrupted
                | Action::Rollback
                | Action::CancelCountdown
                | Action::Reconcile
                | Action::EndRun
        )
    }

    /// `q` on a detached run: a watcher just leaves (the run goes on); the controller is
    /// asked how to leave.
    pub(super) fn leave(&mut self) -> Vec<Effect> {
        if matches!(self.phase, Phase::Finished(_) | Phase::EngineGone) {
            return vec![Effect::Quit];
        }
        if self.role == ClientRole::Watch {
            return vec![Effect::Detach];
        }
        self.modal = Some(Modal::Ask(Ask::Leave));
        vec![Effect::Redraw]
    }
}
