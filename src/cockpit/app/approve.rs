//! Sign-offs in the cockpit: an approve step waits for each of its roles; `A` opens a box
//! where the person types their name (and the role, when more than one is still open). Any
//! terminal may sign off, a `watch` one too (the server stamps who is at it).

use tui_input::Input;

use super::action::Action;
use super::keys::edit;
use super::modal::Modal;
use super::{App, Approval, Effect, Phase};
use cutover_model::protocol::Command;

impl App {
    /// The roles of the approve step waiting, not signed off yet.
    pub fn pending_roles(&self) -> Vec<String> {
        match &self.phase {
            Phase::Approving(Approval {
                roles, approved, ..
            }) => cutover_model::summary::not_signed(roles, approved),
            _ => Vec::new(),
        }
    }

    /// `A`: the sign-off box, when a step waits for one.
    pub(super) fn open_approve(&mut self) -> Vec<Effect> {
        match &self.phase {
            Phase::Approving(Approval { index, .. }) => {
                self.modal = Some(Modal::Approve {
                    index: *index,
                    input: Input::default(),
                    rejected: None,
                });
                vec![Effect::Redraw]
            }
            _ => self.refuse("no step waits for a sign-off"),
        }
    }

    /// A key in the sign-off box: enter sends `ROLE NAME` (just `NAME` when one role is open).
    pub(super) fn approve_box(&mut self, index: usize, mut input: Input, a: Action) -> Vec<Effect> {
        match a {
            Action::Interrupt => self.quit(),
            Action::Escape => vec![Effect::Redraw],
            Action::Enter => match self.sign_off(input.value()) {
                Ok((role, name)) => self.send(Command::Approve {
                    role,
                    name,
                    by: None,
                }),
                Err(why) => {
                    input.reset();
                    self.modal = Some(Modal::Approve {
                        index,
                        input,
                        rejected: Some(why),
                    });
                    vec![Effect::Redraw, Effect::Bell]
                }
            },
            _ => {
                let changed = edit(&mut input, a);
                self.modal = Some(Modal::Approve {
                    index,
                    input,
                    rejected: None,
                });
                if changed {
                    vec![Effect::Redraw]
                } else {
                    vec![]
                }
            }
        }
    }

    /// The role and name a typed sign-off means, or why it means none.
    fn sign_off(&self, typed: &str) -> Result<(String, String), String> {
        let pending = self.pending_roles();
        let typed = typed.trim();
        if pending.is_empty() {
            return Err("no role waits for a sign-off".into());
        }
        let (first, rest) = typed.split_once(' ').unwrap_or((typed, ""));
        if let Some(role) = pending.iter().find(|r| *r == first) {
            let name = rest.trim();
            if name.is_empty() {
                return Err(format!("type your name after {role}"));
            }
            return Ok((role.clone(), name.to_string()));
        }
        match pending.as_slice() {
            [only] if !typed.is_empty() => Ok((only.clone(), typed.to_string())),
            [_] => Err("type your name".into()),
            _ => Err(format!(
                "start with the role you sign off as: {}",
                pending.join(" or ")
            )),
        }
    }
}
