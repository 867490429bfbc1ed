//! What a key does in the pop-ups `modal_action` (keys.rs) hands on to here, one method
//! each: help, the leave question, the other yes/no questions, the typed confirm word and
//! the typed reason. (The search box, the sign-off and the rollback plan have theirs in
//! reading.rs, approve.rs and keys.rs.)

use tui_input::Input;

use super::action::Action;
use super::modal::{Ask, Modal, ReasonFor};
use super::{App, DecisionNeeded, Effect, Phase};
use cutover_model::protocol::{Command, Level};

impl App {
    /// A key while help is shown: esc, help, quit or enter close it; ctrl-c quits; any other
    /// key leaves it open.
    pub(super) fn help_action(&mut self, a: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::Interrupt => self.quit(),
            Action::Escape | Action::Help | Action::Quit | Action::Enter => redraw,
            _ => {
                self.modal = Some(Modal::Help);
                vec![]
            }
        }
    }

    /// A key in the question asked on leaving a detached run: detach (the run goes on), end
    /// the run (cancelling a running step without a second question), or stay; a second
    /// ctrl-c detaches. Any other key leaves the question open.
    pub(super) fn leave_question_action(&mut self, a: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::Detach => vec![Effect::Detach],
            // The question said what ending does to a running step: no second question.
            Action::EndRun => match self.phase {
                Phase::Running { index } => self.answer_yes(Ask::QuitRunning { index }),
                _ => self.end_run(),
            },
            // A second ctrl-c leaves the run to itself: the safe way out.
            Action::Interrupt => vec![Effect::Detach],
            Action::No | Action::Escape => redraw,
            _ => {
                self.modal = Some(Modal::Ask(Ask::Leave));
                vec![]
            }
        }
    }

    /// A key in any other yes/no question: yes does what it asked (so does ctrl-c when the
    /// question is whether to quit while a step runs); no or esc closes it; any other key
    /// leaves it open.
    pub(super) fn question_action(&mut self, ask: Ask, a: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::Yes => self.answer_yes(ask),
            Action::Interrupt if matches!(ask, Ask::QuitRunning { .. }) => self.answer_yes(ask),
            Action::No | Action::Escape => redraw,
            _ => {
                self.modal = Some(Modal::Ask(ask));
                vec![]
            }
        }
    }

    /// A key in the box where the operator types step `index`'s confirm `word`: enter sends
    /// it if it matches while the step still waits, else empties the box and rings; esc
    /// closes the box and says how to come back; typing clears the mismatch mark.
    pub(super) fn confirm_box(
        &mut self,
        index: usize,
        word: String,
        mut input: Input,
        rejected: bool,
        a: Action,
    ) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::Interrupt => self.quit(),
            Action::Escape => {
                self.say(
                    Level::Info,
                    format!(
                        "{} waits for {word}: press {} to type it",
                        self.step_id(index),
                        super::keymap::key_of(Action::Enter)
                    ),
                );
                redraw
            }
            Action::Enter => {
                let typed = input.value().trim().to_string();
                if typed == word && matches!(self.phase, Phase::Confirming(_)) {
                    self.phase = Phase::Busy;
                    self.status = None;
                    self.send(Command::Confirm { text: typed })
                } else {
                    input.reset();
                    self.modal = Some(Modal::Confirm {
                        index,
                        word,
                        input,
                        rejected: true,
                    });
                    vec![Effect::Redraw, Effect::Bell]
                }
            }
            _ => self.keep_box(input, a, |input, changed| Modal::Confirm {
                index,
                word,
                input,
                rejected: rejected && !changed,
            }),
        }
    }

    /// A key in the box where the operator types a reason (to skip, mark done, skip a
    /// rollback action, override preflight): enter sends it while the decision still waits
    /// for it; an empty reason rings and keeps the box open, a decision gone closes it.
    pub(super) fn reason_box(
        &mut self,
        index: usize,
        purpose: ReasonFor,
        input: Input,
        empty: bool,
        a: Action,
    ) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::Interrupt => self.quit(),
            Action::Escape => redraw,
            Action::Enter => {
                let reason = input.value().trim().to_string();
                let still = match purpose {
                    ReasonFor::Preflight => self.phase == Phase::PreflightBlocked,
                    _ => {
                        matches!(self.phase, Phase::Deciding(DecisionNeeded { index: i, .. }) if i == index)
                    }
                };
                if reason.is_empty() || !still {
                    self.modal = still.then_some(Modal::Reason {
                        index,
                        purpose,
                        input,
                        empty: true,
                    });
                    return vec![Effect::Redraw, Effect::Bell];
                }
                self.phase = Phase::Busy;
                self.status = None;
                self.send(match purpose {
                    ReasonFor::Skip | ReasonFor::SkipRollback => Command::Skip { reason },
                    ReasonFor::MarkDone => Command::MarkDone { reason },
                    ReasonFor::Preflight => Command::OverridePreflight { reason },
                })
            }
            _ => self.keep_box(input, a, |input, _| Modal::Reason {
                index,
                purpose,
                input,
                empty,
            }),
        }
    }
}
