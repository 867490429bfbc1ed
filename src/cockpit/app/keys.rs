//! Keys into commands. No command leaves here without what the operator had to type.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::modal::{Ask, Modal, ReasonFor};
use super::{App, Effect, Phase};
use cutover_model::protocol::{Command, DecisionKind, Level, ROLLBACK_WORD, RollbackPlan};

/// Reason sent with the abort when the operator quits the cockpit.
pub const QUIT_REASON: &str = "operator quit the cockpit";

/// Applies an editing key to a text box; whether the text (or cursor) changed.
fn edit(input: &mut Input, k: KeyEvent) -> bool {
    to_input_request(&TermEvent::Key(k))
        .and_then(|r| input.handle(r))
        .is_some()
}

fn is_ctrl_c(k: &KeyEvent) -> bool {
    k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char('c' | 'C'))
}

impl App {
    pub(super) fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind == KeyEventKind::Release {
            return vec![];
        }
        if let Some(modal) = self.modal.take() {
            return self.modal_key(modal, k);
        }
        if is_ctrl_c(&k) {
            return self.quit();
        }
        let redraw = vec![Effect::Redraw];
        match k.code {
            KeyCode::Char('q') => self.quit(),
            KeyCode::Char('?') => {
                self.modal = Some(Modal::Help);
                redraw
            }
            KeyCode::Enter => self.enter(),
            KeyCode::Char('r') => self.retry(),
            KeyCode::Char('s') => match &self.phase {
                Phase::Deciding {
                    kind: DecisionKind::RollbackFailed | DecisionKind::RollbackInterrupted,
                    ..
                } => self.open_reason(ReasonFor::SkipRollback),
                _ => self.open_reason(ReasonFor::Skip),
            },
            KeyCode::Char('d') => self.open_reason(ReasonFor::MarkDone),
            KeyCode::Char('a') => match &self.phase {
                Phase::Deciding { index, .. } => {
                    self.modal = Some(Modal::Ask(Ask::Abort { index: *index }));
                    redraw
                }
                _ => self.refuse("a aborts only at a decision; q quits (and ends the run)"),
            },
            KeyCode::Char('x') => match &self.phase {
                Phase::Running { index } | Phase::Confirming { index, .. } => {
                    self.modal = Some(Modal::Ask(Ask::Cancel { index: *index }));
                    redraw
                }
                _ => self.refuse("no step is running: nothing to cancel"),
            },
            KeyCode::Char('R') => self.open_rollback(),
            KeyCode::Char('n') if self.countdown_active() => self.send(Command::CancelCountdown),
            KeyCode::Char('c') => match &self.phase {
                _ if self.reconcile.checks.is_empty() => {
                    self.refuse("no [[reconcile]] checks in this runbook")
                }
                Phase::Finished(_) | Phase::EngineGone | Phase::Starting => {
                    self.refuse("the run is not active")
                }
                _ => self.send(Command::Reconcile { name: None }),
            },
            KeyCode::Char('v') => {
                if self.reconcile.checks.is_empty() {
                    return self.refuse("no [[reconcile]] checks in this runbook");
                }
                self.show_reconcile = !self.show_reconcile;
                redraw
            }
            KeyCode::Char('j') | KeyCode::Down => {
                self.select((self.selected + 1).min(self.steps.len().saturating_sub(1)));
                redraw
            }
            KeyCode::Char('k') | KeyCode::Up => {
                self.select(self.selected.saturating_sub(1));
                redraw
            }
            KeyCode::PageUp => {
                let max = self.max_scroll();
                self.view.up(self.page(), max);
                redraw
            }
            KeyCode::PageDown => {
                self.view.down(self.page());
                redraw
            }
            KeyCode::Char('g') | KeyCode::Home => {
                let max = self.max_scroll();
                self.view.top(max);
                redraw
            }
            KeyCode::Char('G') | KeyCode::End => {
                self.view.bottom();
                redraw
            }
            KeyCode::Char('f') => {
                self.view.toggle_follow();
                let s = if self.view.follow {
                    "follow on: the output sticks to the newest line"
                } else {
                    "follow off: the output stays where it is"
                };
                self.say_briefly(Level::Info, s);
                redraw
            }
            KeyCode::Esc => {
                self.status = None;
                redraw
            }
            _ => vec![],
        }
    }

    fn max_scroll(&self) -> usize {
        self.steps
            .get(self.selected)
            .map_or(0, |s| s.output.max_scroll(self.page()))
    }

    fn refuse(&mut self, why: &str) -> Vec<Effect> {
        self.say_briefly(Level::Warn, why);
        vec![Effect::Redraw, Effect::Bell]
    }

    fn send(&mut self, cmd: Command) -> Vec<Effect> {
        vec![Effect::Send(cmd), Effect::Redraw]
    }

    /// `q` / Ctrl-C.
    fn quit(&mut self) -> Vec<Effect> {
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
            Phase::Confirming { index, word } => {
                self.modal = Some(Modal::Confirm {
                    index,
                    word,
                    input: Input::default(),
                    rejected: false,
                });
                vec![Effect::Redraw]
            }
            Phase::Deciding { kind, .. } => self.refuse(match kind {
                DecisionKind::Failed => {
                    "the step did not pass: r retry · s skip (with a reason) · a abort"
                }
                DecisionKind::Interrupted => {
                    "outcome unknown: r re-run · d mark done (with a reason) · a abort"
                }
                DecisionKind::RollbackFailed => {
                    "the rollback action did not pass: r retry · s skip (with a reason) · a abort the rollback"
                }
                DecisionKind::RollbackInterrupted => {
                    "rollback action outcome unknown: r re-run · s skip (with a reason) · a abort the rollback"
                }
            }),
            Phase::Running { index } => {
                let id = self.step_id(index);
                self.refuse(&format!("{id} is running; wait for it, or x to cancel it"))
            }
            Phase::Finished(_) => self.refuse("the run is over; q quits"),
            Phase::Starting | Phase::Busy | Phase::EngineGone => vec![],
        }
    }

    fn retry(&mut self) -> Vec<Effect> {
        match self.phase {
            Phase::Deciding { .. } => {
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
                Phase::Deciding {
                    index,
                    kind: DecisionKind::Failed,
                    ..
                },
                ReasonFor::Skip,
            )
            | (
                Phase::Deciding {
                    index,
                    kind: DecisionKind::Interrupted,
                    ..
                },
                ReasonFor::MarkDone,
            )
            | (
                Phase::Deciding {
                    index,
                    kind: DecisionKind::RollbackFailed | DecisionKind::RollbackInterrupted,
                    ..
                },
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

    /// A key while the rollback plan is open.
    fn rollback_key(
        &mut self,
        plan: Option<RollbackPlan>,
        mut input: Input,
        rejected: bool,
        k: KeyEvent,
    ) -> Vec<Effect> {
        match k.code {
            _ if is_ctrl_c(&k) => self.quit(),
            KeyCode::Esc => {
                self.say_briefly(Level::Info, "rollback plan closed: nothing was sent");
                vec![Effect::Redraw]
            }
            KeyCode::Enter => {
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
            _ => {
                let changed = edit(&mut input, k);
                self.modal = Some(Modal::Rollback {
                    plan,
                    input,
                    rejected: rejected && !changed,
                });
                vec![Effect::Redraw]
            }
        }
    }

    /// A key while a pop-up is open; the pop-up was taken out of `self.modal`.
    fn modal_key(&mut self, modal: Modal, k: KeyEvent) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match modal {
            Modal::Rollback {
                plan,
                input,
                rejected,
            } => self.rollback_key(plan, input, rejected, k),
            Modal::Help => match k.code {
                _ if is_ctrl_c(&k) => self.quit(),
                KeyCode::Esc | KeyCode::Char('?' | 'q') | KeyCode::Enter => redraw,
                _ => {
                    self.modal = Some(Modal::Help);
                    vec![]
                }
            },
            Modal::Ask(ask) => match k.code {
                KeyCode::Char('y' | 'Y') => self.answer_yes(ask),
                _ if is_ctrl_c(&k) && matches!(ask, Ask::QuitRunning { .. }) => {
                    self.answer_yes(ask)
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc => redraw,
                _ => {
                    self.modal = Some(Modal::Ask(ask));
                    vec![]
                }
            },
            Modal::Confirm {
                index,
                word,
                mut input,
                rejected,
            } => match k.code {
                _ if is_ctrl_c(&k) => self.quit(),
                KeyCode::Esc => {
                    self.say(
                        Level::Info,
                        format!(
                            "{} waits for {word}: press enter to type it",
                            self.step_id(index)
                        ),
                    );
                    redraw
                }
                KeyCode::Enter => {
                    let typed = input.value().trim().to_string();
                    if typed == word && matches!(self.phase, Phase::Confirming { .. }) {
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
                _ => {
                    let changed = edit(&mut input, k);
                    self.modal = Some(Modal::Confirm {
                        index,
                        word,
                        input,
                        rejected: rejected && !changed,
                    });
                    redraw
                }
            },
            Modal::Reason {
                index,
                purpose,
                mut input,
                empty,
            } => match k.code {
                _ if is_ctrl_c(&k) => self.quit(),
                KeyCode::Esc => redraw,
                KeyCode::Enter => {
                    let reason = input.value().trim().to_string();
                    let still =
                        matches!(self.phase, Phase::Deciding { index: i, .. } if i == index);
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
                    })
                }
                _ => {
                    edit(&mut input, k);
                    self.modal = Some(Modal::Reason {
                        index,
                        purpose,
                        input,
                        empty,
                    });
                    redraw
                }
            },
        }
    }

    fn answer_yes(&mut self, ask: Ask) -> Vec<Effect> {
        match ask {
            Ask::QuitRunning { index } => {
                if !matches!(self.phase, Phase::Running { index: i } if i == index) {
                    // The step finished while the question was open: quit the ordinary way.
                    return self.quit();
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
                if !matches!(self.phase, Phase::Running { index: i } | Phase::Confirming { index: i, .. } if i == index)
                {
                    return vec![Effect::Redraw];
                }
                self.send(Command::Cancel)
            }
            Ask::Abort { index } => {
                if !matches!(self.phase, Phase::Deciding { index: i, .. } if i == index) {
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
