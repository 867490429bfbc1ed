//! A cockpit on a detached run: built from the run's snapshot, leaving it by detaching (or
//! ending the run first), and, for a watcher, sending nothing.

use chrono::{DateTime, Utc};

use super::action::Action;
use super::modal::{Ask, Modal};
use super::output::OutputView;
use super::reading::Search;
use super::{App, Effect, Phase};
use cutover_model::narrate;
use cutover_model::protocol::{ClientChange, ClientRole, Event, Level, Operator};

/// What a terminal that lost the controls is told.
fn demoted(by: Option<&Operator>) -> String {
    let who = by.map_or_else(|| "another terminal".into(), narrate::operator_at);
    format!("{who} took control: this terminal now watches (read-only)")
}

/// How the operator looks at the run, kept across a snapshot: a resynchronisation mid-flood
/// must not close the key map, drop a search or a half-typed reason, or forget that the
/// operator asked to leave once the run ends.
struct Viewing {
    /// The phase before the snapshot: where the run still stands there, the rest is kept too.
    phase: Phase,
    modal: Option<Modal>,
    selected: usize,
    view: OutputView,
    search: Option<Search>,
    zoom: bool,
    times: bool,
    show_reconcile: bool,
    show_summary: bool,
    summary_scroll: usize,
    reconcile_scroll: usize,
    quitting: bool,
}

impl Viewing {
    fn take(app: &mut App) -> Self {
        Viewing {
            phase: app.phase.clone(),
            modal: app.modal.take(),
            selected: app.selected,
            view: app.view,
            search: app.search.take(),
            zoom: app.zoom,
            times: app.times,
            show_reconcile: app.show_reconcile,
            show_summary: app.show_summary,
            summary_scroll: app.summary_scroll,
            reconcile_scroll: app.reconcile_scroll,
            quitting: app.quitting,
        }
    }

    /// Puts back what the replay of the run left as it was. The key map, zoom, times, the
    /// reconcile view, the search's words and a wish to leave are the operator's whatever the
    /// run did; the selection, the scroll and the other pop-ups only while the run is where it
    /// was (had it moved on, the live events would have moved them too).
    fn restore(self, app: &mut App) {
        app.zoom = self.zoom;
        app.times = self.times;
        app.show_reconcile = self.show_reconcile;
        app.quitting |= self.quitting;
        let still = app.phase == self.phase && self.selected < app.steps.len();
        if still {
            app.selected = self.selected;
            app.view = self.view;
            app.show_summary = self.show_summary;
            app.summary_scroll = self.summary_scroll;
            app.reconcile_scroll = self.reconcile_scroll;
        }
        if let Some(mut search) = self.search {
            if !still {
                search.current = None;
            }
            app.search = Some(search);
        }
        // Where the run stands still, the pop-up is as the operator left it (a word half
        // typed, or closed), not as the replay opened it afresh.
        let view_only = matches!(self.modal, Some(Modal::Help | Modal::Search { .. }));
        if still || (view_only && app.modal.is_none()) {
            app.modal = self.modal;
        }
    }
}

/// What a watcher is told when a key would have sent a command.
pub const READ_ONLY: &str = "watch is read-only: nothing was sent";

impl App {
    /// The run so far replaces what was shown (a first attach, or a resynchronisation after
    /// this terminal fell behind); what is local to this terminal stays: its size and role,
    /// how the operator looks at the run ([`Viewing`]), and, where the run still stands where
    /// it stood, the operator's place in it and the open pop-up.
    pub(super) fn on_snapshot(&mut self, events: Vec<Event>) -> Vec<Effect> {
        let viewing = Viewing::take(self);
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
        viewing.restore(self);
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
