//! What the operator's keys do, as [`Action`]s: commands for the engine, pop-ups, scrolling.
//! No command leaves here without what the operator had to type. The keys that only change
//! what is shown are in `view_keys.rs`; what a key does in each pop-up, in `modal_keys.rs`.

use tui_input::{Input, InputRequest};

use super::action::{Action, KeyContext};
use super::keymap::{self, Key};
use super::modal::{Ask, Modal, ReasonFor};
use super::{App, Confirmation, DecisionNeeded, Effect, Phase};
use cutover_model::protocol::{
    ClientRole, Command, DecisionKind, Level, ROLLBACK_WORD, RollbackPlan,
};

/// Reason sent with the abort when the operator quits the cockpit.
pub const QUIT_REASON: &str = "operator quit the cockpit";

/// Applies a text action to a text box; whether the text (or cursor) changed. Other actions
/// change nothing.
pub(super) fn edit(input: &mut Input, action: Action) -> bool {
    let req = match action {
        Action::Type(c) => InputRequest::InsertChar(c),
        Action::Edit(req) => req,
        _ => return false,
    };
    input.handle(req).is_some()
}

impl App {
    /// A key a typed box (the confirm word, a reason, the rollback word) does not act on
    /// itself: a text key edits the box (`reopen` is told whether the text changed) and
    /// redraws; any other is ignored. The box stays open, as `reopen` rebuilds it.
    pub(super) fn keep_box(
        &mut self,
        mut input: Input,
        a: Action,
        reopen: impl FnOnce(Input, bool) -> Modal,
    ) -> Vec<Effect> {
        let typed = matches!(a, Action::Type(_) | Action::Edit(_));
        let changed = edit(&mut input, a);
        self.modal = Some(reopen(input, changed));
        if typed { vec![Effect::Redraw] } else { vec![] }
    }

    /// What the keyboard talks to now, which decides what a key means.
    pub fn key_context(&self) -> KeyContext {
        match &self.modal {
            Some(
                Modal::Confirm { .. }
                | Modal::Reason { .. }
                | Modal::Rollback { .. }
                | Modal::Search { .. }
                | Modal::Approve { .. },
            ) => KeyContext::Text,
            Some(Modal::Ask(_)) => KeyContext::Question,
            Some(Modal::Help) | None => KeyContext::Commands,
        }
    }

    /// What `key` asks for here: the key table's answer where the keyboard is now, except
    /// that while an automatic rollback counts down, `n` stops it whatever is open (the
    /// banner's promise): in a question it also answers no, in a text box it is not typed.
    pub fn key_action(&self, key: Key) -> Option<Action> {
        if self.countdown_active() && matches!(key, Key::Char('n' | 'N')) {
            return Some(Action::CancelCountdown);
        }
        // With no countdown to stop, `n` goes on with the search.
        if key == keymap::SEARCH_NEXT
            && self.search.is_some()
            && self.key_context() == KeyContext::Commands
            && self.modal.is_none()
        {
            return Some(Action::SearchNext);
        }
        keymap::action(key, self.key_context())
    }

    pub(super) fn on_action(&mut self, a: Action) -> Vec<Effect> {
        if self.role == ClientRole::Watch && Self::sends_command(a) && self.modal.is_none() {
            return self.refuse(super::attached::READ_ONLY);
        }
        if a == Action::CancelCountdown && self.countdown_active() && self.modal.is_some() {
            if self.role == ClientRole::Watch {
                return self.refuse(super::attached::READ_ONLY);
            }
            // A question is answered no; a text box or the rollback plan stays open.
            if matches!(self.modal, Some(Modal::Ask(_))) {
                self.modal = None;
            }
            return self.send(Command::CancelCountdown);
        }
        if let Some(modal) = self.modal.take() {
            return self.modal_action(modal, a);
        }
        match a {
            Action::Quit | Action::Interrupt => self.quit(),
            Action::Enter
            | Action::Retry
            | Action::Skip
            | Action::MarkDone
            | Action::Abort
            | Action::StopInterrupted
            | Action::CancelStep
            | Action::Approve
            | Action::Reconcile => self.run_control_action(a),
            Action::Rollback => self.open_rollback(),
            Action::CancelCountdown if self.countdown_active() => {
                self.send(Command::CancelCountdown)
            }
            Action::SelectNext | Action::SelectPrev | Action::SearchNext | Action::SearchPrev => {
                self.selection_action(a)
            }
            Action::PageUp | Action::PageDown | Action::Top | Action::Bottom => {
                self.scroll_action(a)
            }
            Action::Help
            | Action::ToggleSummary
            | Action::ToggleReconcileView
            | Action::ToggleFollow
            | Action::Escape
            | Action::Search
            | Action::Zoom
            | Action::ToggleTimes => self.view_action(a),
            Action::CancelCountdown
            | Action::Detach
            | Action::EndRun
            | Action::Yes
            | Action::No
            | Action::Type(_)
            | Action::Edit(_) => vec![],
        }
    }

    /// The run's controls: enter (run the next step, or open the box the waiting step
    /// needs), retry, skip, mark done, abort, stop an interrupted attempt still running,
    /// cancel the running step, sign off, reconcile. Each is refused, saying why, where it
    /// does not apply; the grave ones ask first (a yes/no question or a typed reason).
    fn run_control_action(&mut self, a: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::Enter => self.enter(),
            Action::Retry => self.retry(),
            Action::Skip => match &self.phase {
                Phase::Deciding(DecisionNeeded {
                    kind: DecisionKind::RollbackFailed | DecisionKind::RollbackInterrupted,
                    ..
                }) => self.open_reason(ReasonFor::SkipRollback),
                Phase::PreflightBlocked => self.open_reason(ReasonFor::Preflight),
                _ => self.open_reason(ReasonFor::Skip),
            },
            Action::MarkDone => self.open_reason(ReasonFor::MarkDone),
            Action::Abort => match &self.phase {
                Phase::Deciding(DecisionNeeded { index, .. }) => {
                    self.modal = Some(Modal::Ask(Ask::Abort { index: *index }));
                    redraw
                }
                Phase::PreflightBlocked => {
                    self.modal = Some(Modal::Ask(Ask::EndBeforeStart));
                    redraw
                }
                _ => self.refuse(&format!(
                    "{} aborts only at a decision; {} quits (and ends the run)",
                    super::keymap::key_of(Action::Abort),
                    super::keymap::key_of(Action::Quit)
                )),
            },
            Action::StopInterrupted => match &self.phase {
                Phase::Deciding(DecisionNeeded {
                    index,
                    still_running: Some(pid),
                    ..
                }) => {
                    self.modal = Some(Modal::Ask(Ask::StopInterrupted {
                        index: *index,
                        pid: *pid,
                    }));
                    redraw
                }
                _ => self.refuse("K stops an interrupted attempt that is still running; none is"),
            },
            Action::CancelStep => match &self.phase {
                Phase::Running { index } | Phase::Confirming(Confirmation { index, .. }) => {
                    self.modal = Some(Modal::Ask(Ask::Cancel { index: *index }));
                    redraw
                }
                _ => self.refuse("no step is running: nothing to cancel"),
            },
            Action::Approve => self.open_approve(),
            Action::Reconcile => match &self.phase {
                _ if self.reconcile.checks.is_empty() => {
                    self.refuse("no [[reconcile]] checks in this runbook")
                }
                Phase::Finished(_) | Phase::EngineGone | Phase::Starting => {
                    self.refuse("the run is not active")
                }
                _ => self.send(Command::Reconcile { name: None }),
            },
            // Not one of the run's controls: `on_action` sends only those above here.
            _ => vec![],
        }
    }

    pub(super) fn refuse(&mut self, why: &str) -> Vec<Effect> {
        self.say_briefly(Level::Warn, why);
        vec![Effect::Redraw, Effect::Bell]
    }

    pub(super) fn send(&mut self, cmd: Command) -> Vec<Effect> {
        vec![Effect::Send(cmd), Effect::Redraw]
    }

    /// `q` / `ctrl-c`.
    pub(super) fn quit(&mut self) -> Vec<Effect> {
        if self.detachable {
            return self.leave();
        }
        self.end_run()
    }

    /// Ends the run (the running step is cancelled first, after asking) and leaves when it
    /// has ended.
    pub(super) fn end_run(&mut self) -> Vec<Effect> {
        match self.phase.clone() {
            Phase::Finished(_) | Phase::EngineGone => vec![Effect::Quit],
            Phase::Running { index } => {
                self.modal = Some(Modal::Ask(Ask::QuitRunning { index }));
                vec![Effect::Redraw]
            }
            _ if self.quitting => vec![],
            _ => {
                self.quitting = true;
                self.say(Level::Info, "ending the run…");
                self.send(Command::Abort {
                    reason: Some(QUIT_REASON.into()),
                })
            }
        }
    }

    fn enter(&mut self) -> Vec<Effect> {
        match self.phase.clone() {
            Phase::Ready { next } => {
                self.phase = Phase::Busy;
                self.status = None;
                self.select(next);
                self.send(Command::RunNext)
            }
            Phase::Confirming(Confirmation { index, word }) => {
                self.modal = Some(Modal::Confirm {
                    index,
                    word,
                    input: Input::default(),
                    rejected: false,
                });
                vec![Effect::Redraw]
            }
            Phase::Approving(_) => self.open_approve(),
            Phase::PreflightBlocked => self.refuse(&super::hints::preflight_blocked()),
            Phase::Deciding(DecisionNeeded { kind, .. }) => {
                self.refuse(&super::hints::deciding(kind))
            }
            Phase::Running { index } => {
                let id = self.step_id(index);
                let x = keymap::key_of(Action::CancelStep);
                self.refuse(&format!(
                    "{id} is running; wait for it, or {x} to cancel it"
                ))
            }
            Phase::Finished(_) => self.refuse(&format!(
                "the run is over; {} quits",
                keymap::key_of(Action::Quit)
            )),
            Phase::Starting | Phase::Busy | Phase::EngineGone => vec![],
        }
    }

    fn retry(&mut self) -> Vec<Effect> {
        match self.phase {
            Phase::Deciding(DecisionNeeded {
                still_running: Some(pid),
                ..
            }) => self.refuse(&format!(
                "its process group {pid} from the earlier session is still running: a re-run would do the work twice; wait for it, or K to stop it"
            )),
            Phase::Deciding(_) => {
                self.phase = Phase::Busy;
                self.status = None;
                self.send(Command::Retry)
            }
            _ => self.refuse("r retries a step that did not pass; none is waiting"),
        }
    }

    fn open_reason(&mut self, purpose: ReasonFor) -> Vec<Effect> {
        match (&self.phase, purpose) {
            (
                Phase::Deciding(DecisionNeeded {
                    index,
                    kind: DecisionKind::Failed,
                    ..
                }),
                ReasonFor::Skip,
            )
            | (
                Phase::Deciding(DecisionNeeded {
                    index,
                    kind: DecisionKind::Interrupted,
                    ..
                }),
                ReasonFor::MarkDone,
            )
            | (
                Phase::Deciding(DecisionNeeded {
                    index,
                    kind: DecisionKind::RollbackFailed | DecisionKind::RollbackInterrupted,
                    ..
                }),
                ReasonFor::SkipRollback,
            ) => {
                self.modal = Some(Modal::Reason {
                    index: *index,
                    purpose,
                    input: Input::default(),
                    empty: false,
                });
                vec![Effect::Redraw]
            }
            (Phase::PreflightBlocked, ReasonFor::Preflight) => {
                self.modal = Some(Modal::Reason {
                    index: 0,
                    purpose,
                    input: Input::default(),
                    empty: false,
                });
                vec![Effect::Redraw]
            }
            (_, ReasonFor::Preflight) => self.refuse("preflight did not stop the run"),
            (_, ReasonFor::Skip | ReasonFor::SkipRollback) => {
                self.refuse("s skips a failed step; none is waiting")
            }
            (_, ReasonFor::MarkDone) => {
                self.refuse("d marks an interrupted step done; none is waiting")
            }
        }
    }

    /// `R`: ask the engine for the plan and show it; nothing runs without the typed word.
    fn open_rollback(&mut self) -> Vec<Effect> {
        match self.phase {
            Phase::Finished(_) | Phase::EngineGone | Phase::Starting => {
                self.refuse("the run is not active: there is nothing to roll back")
            }
            _ if self.rolling_back => self.refuse("a rollback is already running"),
            _ => {
                self.modal = Some(Modal::Rollback {
                    plan: None,
                    input: Input::default(),
                    rejected: false,
                });
                self.send(Command::RollbackPlan)
            }
        }
    }

    /// An action while the rollback plan is open.
    fn rollback_action(
        &mut self,
        plan: Option<RollbackPlan>,
        mut input: Input,
        rejected: bool,
        a: Action,
    ) -> Vec<Effect> {
        match a {
            Action::Interrupt => self.quit(),
            Action::Escape => {
                self.say_briefly(Level::Info, "rollback plan closed: nothing was sent");
                vec![Effect::Redraw]
            }
            Action::Enter => {
                let typed = input.value().trim().to_string();
                let runnable = plan.as_ref().is_some_and(RollbackPlan::has_actions);
                if !runnable {
                    // Nothing to execute: enter just closes the plan.
                    return vec![Effect::Redraw];
                }
                if typed == ROLLBACK_WORD {
                    self.status = None;
                    return self.send(Command::Rollback {
                        confirmation: typed,
                    });
                }
                input.reset();
                self.modal = Some(Modal::Rollback {
                    plan,
                    input,
                    rejected: true,
                });
                vec![Effect::Redraw, Effect::Bell]
            }
            _ => self.keep_box(input, a, |input, changed| Modal::Rollback {
                plan,
                input,
                rejected: rejected && !changed,
            }),
        }
    }

    /// An action while a pop-up is open; the pop-up was taken out of `self.modal`.
    fn modal_action(&mut self, modal: Modal, a: Action) -> Vec<Effect> {
        match modal {
            Modal::Rollback {
                plan,
                input,
                rejected,
            } => self.rollback_action(plan, input, rejected, a),
            Modal::Search { input } => self.search_box(input, a),
            Modal::Approve { index, input, .. } => self.approve_box(index, input, a),
            Modal::Help => self.help_action(a),
            Modal::Ask(Ask::Leave) => self.leave_question_action(a),
            Modal::Ask(ask) => self.question_action(ask, a),
            Modal::Confirm {
                index,
                word,
                input,
                rejected,
            } => self.confirm_box(index, word, input, rejected, a),
            Modal::Reason {
                index,
                purpose,
                input,
                empty,
            } => self.reason_box(index, purpose, input, empty, a),
        }
    }

    /// Yes to `ask`: does what it asked, if what it asked about still stands (else it just
    /// closes, or, for quitting while a step ran, ends the run the ordinary way).
    pub(super) fn answer_yes(&mut self, ask: Ask) -> Vec<Effect> {
        match ask {
            Ask::Leave => vec![Effect::Redraw],
            Ask::QuitRunning { index } => {
                if !matches!(self.phase, Phase::Running { index: i } if i == index) {
                    // The step finished while the question was open: end the ordinary way.
                    return self.end_run();
                }
                self.quitting = true;
                let id = self.step_id(index);
                self.say(
                    Level::Warn,
                    format!("cancelling {id} (killing its process group) and ending the run…"),
                );
                self.send(Command::Abort {
                    reason: Some(format!("{QUIT_REASON} while {id} was running")),
                })
            }
            Ask::Cancel { index } => {
                if !matches!(self.phase, Phase::Running { index: i } | Phase::Confirming(Confirmation { index: i, .. }) if i == index)
                {
                    return vec![Effect::Redraw];
                }
                self.send(Command::Cancel)
            }
            Ask::StopInterrupted { index, .. } => {
                if !matches!(self.phase, Phase::Deciding(DecisionNeeded { index: i, still_running: Some(_), .. }) if i == index)
                {
                    return vec![Effect::Redraw];
                }
                self.send(Command::StopInterrupted)
            }
            Ask::EndBeforeStart => {
                if self.phase != Phase::PreflightBlocked {
                    return vec![Effect::Redraw];
                }
                self.phase = Phase::Busy;
                self.send(Command::Abort {
                    reason: Some("operator ended the run at preflight, before step 1".into()),
                })
            }
            Ask::Abort { index } => {
                if !matches!(self.phase, Phase::Deciding(DecisionNeeded { index: i, .. }) if i == index)
                {
                    return vec![Effect::Redraw];
                }
                self.phase = Phase::Busy;
                self.send(Command::Abort {
                    reason: Some(format!(
                        "operator aborted the run at {}",
                        self.step_id(index)
                    )),
                })
            }
        }
    }
}
