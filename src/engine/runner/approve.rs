//! An approve step: each of its roles signed off by a person typing their name, from the
//! cockpit or any terminal of the run (a `watch` terminal may send this and nothing else).
//! Every sign-off is journaled with who, when and from where; the step passes when every role
//! has one. Nothing answers it on its own (`--assume-yes` never approves).

use chrono::Utc;

use super::mailbox::cmd_name;
use super::{Attempt, AttemptResult, Runner, Stop};
use cutover_model::protocol::{CheckResult, Command, Event, Level, OperatorAction, StepOutcome};
use cutover_model::runbook::{same_person, usable_name};

impl Runner<'_> {
    /// Waits for every role of step `index` to be signed off.
    pub(super) async fn approve_step(&mut self, index: usize, roles: &[String]) -> AttemptResult {
        let id = self.rb.steps[index].id.clone();
        let mut approved: Vec<(String, String)> = Vec::new();
        let result = |outcome, detail: String, passed| Attempt {
            outcome,
            exit_code: None,
            checks: vec![CheckResult {
                name: "approve".into(),
                passed,
                detail,
            }],
            message: None,
            output_file: None,
        };
        loop {
            if approved.len() == roles.len() {
                let who: Vec<String> = approved.iter().map(|(r, n)| format!("{r}: {n}")).collect();
                return Ok(Ok(result(
                    StepOutcome::Passed,
                    format!("signed off by {}", who.join(", ")),
                    true,
                )));
            }
            self.io
                .emit(Event::ApprovalRequested {
                    index,
                    roles: roles.to_vec(),
                    approved: approved.clone(),
                })
                .await?;
            let stop = |s| {
                Ok(Err((
                    result(StepOutcome::Cancelled, "not signed off".into(), false),
                    s,
                )))
            };
            match self.command().await? {
                Command::Approve { role, name, by } => {
                    let usable = usable_name(&name).map(str::to_string);
                    let name = usable.clone().unwrap_or_default();
                    let twice = approved
                        .iter()
                        .find(|(_, n)| self.rb.distinct_people && same_person(n, &name));
                    let why = if !roles.contains(&role) {
                        Some(format!(
                            "step {id} has no role `{role}` to sign off (its roles: {})",
                            roles.join(", ")
                        ))
                    } else if approved.iter().any(|(r, _)| *r == role) {
                        Some(format!("{role} has signed off step {id} already"))
                    } else if let Err(why) = usable {
                        Some(format!("sign-off as {role}: {why}"))
                    } else if let Some((other, _)) = twice {
                        Some(format!(
                            "{name} has signed off step {id} as {other} already: this runbook wants distinct people"
                        ))
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        self.notice(Level::Warn, why).await?;
                        continue;
                    }
                    let who = by.unwrap_or_else(|| self.operator.clone());
                    let from = cutover_model::narrate::origin(&who);
                    let claimed = cutover_model::narrate::claimed(&who);
                    self.io
                        .emit(Event::Operator {
                            step: Some(id.clone()),
                            action: OperatorAction::Approve {
                                role: role.clone(),
                                name: name.clone(),
                                from,
                                claimed,
                            },
                            by: who.user.clone(),
                            at: Utc::now(),
                        })
                        .await?;
                    approved.push((role, name));
                }
                Command::Cancel => {
                    self.operator_action(Some(&id), OperatorAction::Cancel)
                        .await?;
                    return stop(Stop::Cancel);
                }
                Command::Abort { reason } => return stop(Stop::Abort(reason)),
                Command::Rollback { .. } => return stop(Stop::Rollback),
                other => {
                    self.notice(
                        Level::Warn,
                        format!(
                            "{} does nothing now: step {id} waits for its sign-offs",
                            cmd_name(&other)
                        ),
                    )
                    .await?;
                }
            }
        }
    }
}
