//! Preflight before step 1: the findings journaled and shown, and, when one stops the run,
//! a wait for the operator's typed reason to start anyway (journaled) or for the end of the
//! run (nothing ran: [`RunOutcome::NotStarted`]).

use chrono::Utc;

use super::mailbox::cmd_name;
use super::{EngineError, Runner};
use crate::preflight::{self, Input};
use crate::resume::Restored;
use cutover_model::preflight::blocks;
use cutover_model::protocol::{Command, Event, Level, OperatorAction, RunOutcome};

/// Whether a session starting from `restored` is still before step 1: a new run, or a
/// resumed one in which no step (and no rollback) ever started.
pub(super) fn before_step_one(restored: Option<&Restored>) -> bool {
    restored.is_none_or(|r| r.run.steps.iter().all(|s| s.attempts == 0) && !r.rollback_started)
}

impl Runner<'_> {
    /// Runs preflight; `Some(outcome)` when the run ends here (preflight stopped it and the
    /// operator ended the run rather than start anyway).
    pub(super) async fn preflight(&mut self) -> Result<Option<RunOutcome>, EngineError> {
        let input = Input {
            rb: self.rb,
            conns: self.conns,
            approvals: None,
            journal: &self.journal_path,
            journal_new: false,
            metrics_file: self.metrics_path.as_deref(),
            now: Utc::now(),
        };
        let findings = preflight::run(&input).await;
        let stops = blocks(&findings);
        self.io
            .emit(Event::Preflight {
                findings,
                blocks: stops,
            })
            .await?;
        if !stops {
            return Ok(None);
        }
        self.triggers.armed = false;
        let answer = self.preflight_answer().await;
        self.triggers.armed = true;
        answer
    }

    /// Waits for the operator's answer to a preflight that stops the run.
    async fn preflight_answer(&mut self) -> Result<Option<RunOutcome>, EngineError> {
        loop {
            match self.command().await? {
                Command::OverridePreflight { reason } if reason.trim().is_empty() => {
                    self.notice(
                        Level::Warn,
                        "a reason is required to start although preflight failed",
                    )
                    .await?;
                }
                Command::OverridePreflight { reason } => {
                    let reason = self.masker.mask(&reason).into_owned();
                    self.operator_action(None, OperatorAction::OverridePreflight { reason })
                        .await?;
                    return Ok(None);
                }
                Command::Abort { reason } => {
                    self.operator_action(None, OperatorAction::Abort { reason })
                        .await?;
                    return Ok(Some(RunOutcome::NotStarted));
                }
                other => {
                    let what = cmd_name(&other);
                    self.notice(
                        Level::Warn,
                        format!(
                            "{what} does nothing now: preflight failed; start anyway with a typed reason, or end the run"
                        ),
                    )
                    .await?;
                }
            }
        }
    }
}
