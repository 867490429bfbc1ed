//! Picking a run up where its journal left it: what the session journals first (a torn last
//! record, a changed runbook or vars accepted), the state replayed to the front end, a step
//! that never finished settled by the operator, and a rollback that was in progress
//! continued (a run whose rollback started never goes forward again).

use chrono::Utc;

use super::drive::{Decision, Settled};
use super::{EngineError, Runner};
use crate::journal::TornTail;
use crate::resume::{Interrupted, Restored};
use cutover_model::protocol::{DecisionKind, Event, Level, OperatorAction, RunOutcome, StepState};
use cutover_model::summary::{Ended, Undo};
use cutover_shell as shell;

impl Runner<'_> {
    /// What a session journals right after it starts: a torn last record of the journal it
    /// continues, and the changed runbook or vars the operator accepted.
    pub(super) async fn opening_records(
        &mut self,
        torn: Option<TornTail>,
        accepted_change: Option<(String, String)>,
        accepted_vars: Option<Vec<String>>,
    ) -> Result<(), EngineError> {
        if let Some(t) = torn {
            let kept = t.kept_in.map_or(String::new(), |k| {
                format!("; its bytes are kept in {}", k.display())
            });
            let message = format!(
                "the journal's last record was cut off ({} bytes: a crash or a full disk){kept}; the run continues after the last complete record",
                t.bytes
            );
            self.notice(Level::Warn, message).await?;
        }
        if let Some((old, new)) = accepted_change {
            let action = OperatorAction::AcceptChangedRunbook {
                old_sha256: old,
                new_sha256: new,
            };
            self.operator_action(None, action).await?;
        }
        if let Some(changes) = accepted_vars {
            self.operator_action(None, OperatorAction::AcceptChangedVars { changes })
                .await?;
        }
        Ok(())
    }

    /// Tells the front end what the journal says: what is done, what failed, what was
    /// interrupted, the last reconcile results.
    pub(super) async fn replay(&mut self, r: &Restored) -> Result<(), EngineError> {
        let done: Vec<String> = self
            .rb
            .steps
            .iter()
            .filter(|s| r.is_done(&s.id))
            .map(|s| s.id.clone())
            .collect();
        self.io
            .emit(Event::Resumed {
                done,
                interrupted: r.interrupted.as_ref().map(|i| i.id.clone()),
                failed_before: r.failed.iter().cloned().collect(),
            })
            .await?;
        for (i, s) in self.rb.steps.iter().enumerate() {
            let Some(state) = self.steps.state(i).to_restore() else {
                continue;
            };
            let was = r.step_of(&s.id);
            if state == StepState::Interrupted
                && r.interrupted.as_ref().is_none_or(|x| x.id != s.id)
            {
                continue;
            }
            if matches!(
                state,
                StepState::Passed | StepState::Skipped | StepState::MarkedDone
            ) && s.point_of_no_return.is_some()
            {
                let at = was.and_then(|w| w.facts.passed_at).unwrap_or_else(Utc::now);
                self.steps.cross_point_of_no_return(i, at);
            }
            let last = was.and_then(|w| w.facts.last_end.as_ref());
            self.io
                .emit(Event::StepRestored {
                    index: i,
                    state,
                    duration_ms: was.and_then(|w| w.actual_ms),
                    outcome: last.map(|l| l.outcome),
                    message: last.and_then(|l| l.message.clone()),
                    output_file: last.and_then(|l| l.output_file.clone()),
                    rolled_back: was.is_some_and(|w| w.undo == Some(Undo::Passed)),
                })
                .await?;
        }
        for result in r.reconcile.values() {
            if self.rb.reconcile.iter().any(|c| c.name == result.name) {
                self.recon.restore(result.clone());
                self.io
                    .emit(Event::ReconcileResult {
                        result: Box::new(result.clone()),
                        restored: true,
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// A step that started and never finished: the operator re-runs it, marks it done, rolls
    /// back or aborts. `None` when no step was interrupted.
    pub(super) async fn settle_interrupted(
        &mut self,
        r: &Restored,
    ) -> Result<Option<Settled>, EngineError> {
        let Some(int) = &r.interrupted else {
            return Ok(None);
        };
        let Some(index) = self.rb.step_index(&int.id) else {
            return Ok(None);
        };
        let message = format!(
            "step {} started at {} and never finished — outcome unknown{}. Re-run it, mark it done with a reason, or abort.",
            int.id,
            int.at.format("%H:%M:%S UTC"),
            group_state(int)
        );
        Ok(Some(
            match self
                .decide(index, DecisionKind::Interrupted, message, int.pid)
                .await?
            {
                Decision::Abort => Settled::Abort,
                Decision::Rollback => Settled::Rollback,
                Decision::Done => {
                    self.steps.set(index, Ended::MarkedDone);
                    Settled::Done
                }
                Decision::Retry => self.run_until_settled(index).await?,
            },
        ))
    }

    /// Continues the rollback that was in progress when the last session ended: the actions
    /// not done yet, newest step first, starting with a decision on the action that was
    /// interrupted (its outcome is unknown). Ends rolled back (exit 3) or aborted (exit 4).
    pub(super) async fn continue_rollback(
        &mut self,
        r: &Restored,
    ) -> Result<RunOutcome, EngineError> {
        let message = format!(
            "a rollback was in progress when the last session ended ({} done): it continues, and the run cannot go forward any more",
            cutover_model::narrate::count(r.rolled_back.len() as u64, "action")
        );
        self.notice(Level::Warn, message).await?;
        let interrupted = r
            .rollback_interrupted
            .as_ref()
            .and_then(|int| self.rb.step_index(&int.id).map(|i| (i, int.clone())));
        let by = self.operator.user.clone();
        self.rollback(by, interrupted).await
    }

    /// Asks the operator about a rollback action interrupted by the end of the last session;
    /// `Retry` runs it again.
    pub(super) async fn settle_interrupted_rollback(
        &mut self,
        index: usize,
        int: &Interrupted,
    ) -> Result<Decision, EngineError> {
        let message = format!(
            "the rollback of step {} started at {} and never finished — outcome unknown{}. Re-run it, skip it with a reason (if it was undone by hand), or abort the rollback.",
            int.id,
            int.at.format("%H:%M:%S UTC"),
            group_state(int)
        );
        self.decide(index, DecisionKind::RollbackInterrupted, message, int.pid)
            .await
    }
}

/// What became of an interrupted attempt's process group, for the decision's message.
fn group_state(int: &Interrupted) -> String {
    int.pid.map_or_else(String::new, |pid| {
        group_said(pid, shell::group_alive(pid as i32))
    })
}

/// `; its process group 4242 is STILL RUNNING` (`alive`), or `… is no longer running`.
pub(super) fn group_said(pid: u32, alive: bool) -> String {
    if alive {
        format!("; its process group {pid} is STILL RUNNING")
    } else {
        format!("; its process group {pid} is no longer running")
    }
}
