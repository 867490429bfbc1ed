//! An approve step: each of its roles signed off by a person typing their name, from the
//! cockpit or any terminal of the run (a `watch` terminal may send this and nothing else).
//! Every sign-off is journaled with who, when and from where; the step passes when every role
//! has one. Nothing answers it on its own (`--assume-yes` never approves).

use chrono::Utc;

use super::mailbox::cmd_name;
use super::{Attempt, AttemptResult, Runner, Stop};
use cutover_model::protocol::{CheckResult, Command, Event, Level, OperatorAction, StepOutcome};
use cutover_model::runbook::{same_person, usable_name};

/// A sign-off step as it stands, to judge one more sign-off against.
struct SignOff<'a> {
    id: &'a str,
    roles: &'a [String],
    approved: &'a [(String, String)],
    distinct: bool,
}

impl SignOff<'_> {
    /// The name to record for a sign-off as `role` by `name`, or why it is refused.
    fn refusal(&self, role: &str, name: &str) -> Result<String, String> {
        let id = self.id;
        if !self.roles.iter().any(|r| r == role) {
            return Err(format!(
                "step {id} has no role `{role}` to sign off (its roles: {})",
                self.roles.join(", ")
            ));
        }
        if self.approved.iter().any(|(r, _)| r == role) {
            return Err(format!("{role} has signed off step {id} already"));
        }
        let name = usable_name(name).map_err(|why| format!("sign-off as {role}: {why}"))?;
        if self.distinct
            && let Some((other, _)) = self.approved.iter().find(|(_, n)| same_person(n, name))
        {
            return Err(format!(
                "{name} has signed off step {id} as {other} already: this runbook wants distinct people"
            ));
        }
        Ok(name.to_string())
    }
}

impl Runner<'_> {
    /// Journals the sign-off of step `id` as `role` by `name`, from the terminal of `by`
    /// (`None`: this process's operator).
    async fn record_sign_off(
        &mut self,
        id: &str,
        role: &str,
        name: &str,
        by: Option<cutover_model::protocol::Operator>,
    ) -> Result<(), super::EngineError> {
        let who = by.unwrap_or_else(|| self.operator.clone());
        self.io
            .emit(Event::Operator {
                step: Some(id.to_string()),
                action: OperatorAction::Approve {
                    role: role.to_string(),
                    name: name.to_string(),
                    from: cutover_model::narrate::origin(&who),
                    claimed: cutover_model::narrate::claimed(&who),
                },
                by: who.user.clone(),
                at: Utc::now(),
            })
            .await
    }

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
                    let sign = SignOff {
                        id: &id,
                        roles,
                        approved: &approved,
                        distinct: self.rb.distinct_people,
                    };
                    match sign.refusal(&role, &name) {
                        Ok(name) => {
                            self.record_sign_off(&id, &role, &name, by).await?;
                            approved.push((role, name));
                        }
                        Err(why) => self.notice(Level::Warn, why).await?,
                    }
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
