//! A run folded into what the team needs after it (DESIGN §9): the outcome, each step with its
//! state, times and attempts, the operators' decisions with their typed reasons, the triggers
//! that fired, the rollback action by action, and what is left to undo by hand.
//!
//! [`RunSummary::fold`] takes the run's events in order — a journal's records, or the events a
//! cockpit saw — so the cockpit's end-of-run summary, the text printed after leaving it, and
//! `cutover report` all read the same facts. [`text`] renders it as plain lines.

mod phase;
pub mod probes;
mod step;
pub mod text;

pub use phase::{Approval, Confirmation, DecisionNeeded, RunPhase, not_signed};
pub use step::{AttemptFacts, Ended, LastEnd, StepSummary, Undo};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::narrate;
use crate::protocol::{
    ClientChange, ClientRole, Event, Operator, OperatorAction, RunInfo, RunOutcome, TriggerAction,
};

/// Something the operator decided, with who and the typed reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// Who (the user name the engine journaled).
    pub by: String,
    /// The step it concerned.
    pub step: Option<String>,
    /// The action.
    pub action: OperatorAction,
}

impl Decision {
    /// In words: `copy skipped: copied by hand (by dba)`.
    pub fn words(&self) -> Option<String> {
        narrate::operator(self.step.as_deref(), &self.action, &self.by)
    }
}

/// A trigger that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    /// When it fired.
    pub at: DateTime<Utc>,
    /// The trigger's name.
    pub name: String,
    /// What was seen.
    pub message: String,
    /// Alert, or automatic rollback.
    pub action: TriggerAction,
    /// Whether its countdown was cancelled.
    pub cancelled_by: Option<String>,
}

/// The rollback, when one ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackSummary {
    /// Who started it: a user, or `trigger NAME`.
    pub by: String,
    /// Whether every action ran or was skipped (`None`: not finished when the record ends).
    pub completed: Option<bool>,
}

/// A terminal that came, went or took control (of a detached run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientNote {
    /// When (the journal's time; none from a live stream).
    pub at: Option<DateTime<Utc>>,
    /// What happened.
    pub change: ClientChange,
    /// Its role.
    pub role: ClientRole,
    /// Who was at the terminal, as the kernel vouches (user, host, ssh origin).
    pub who: Operator,
    /// For a takeover: who had the controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Operator>,
    /// For a detach: on purpose (`q d`), or the terminal was lost (`None`: not recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_purpose: Option<bool>,
}

impl ClientNote {
    /// What happened, in words: `alice (from 10.0.0.5) lost the terminal (in control
    /// before): the run goes on without it`.
    pub fn words(&self) -> String {
        crate::narrate::client(
            self.change,
            self.role,
            &self.who,
            self.from.as_ref(),
            self.on_purpose,
        )
    }
}

/// A whole run, as far as its events go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The runbook's name.
    pub name: String,
    /// The runbook's path.
    pub runbook: String,
    /// The runbook's sha256 (of the latest session).
    pub sha256: String,
    /// The journal's path.
    pub journal: String,
    /// Each session: who started it and when.
    pub sessions: Vec<(Operator, Option<DateTime<Utc>>)>,
    /// The maintenance window: start and minutes.
    pub window: Option<(DateTime<Utc>, u32)>,
    /// When the first session started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the run's first step first started, as a resumed session's `RunStarted` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_step_hint: Option<DateTime<Utc>>,
    /// When the run ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended (`None`: the record ends before the run did).
    pub outcome: Option<RunOutcome>,
    /// The steps, in runbook order.
    pub steps: Vec<StepSummary>,
    /// The operators' decisions, in order.
    pub decisions: Vec<Decision>,
    /// Triggers fired, in order.
    pub triggers: Vec<Fired>,
    /// The rollback, if one started.
    pub rollback: Option<RollbackSummary>,
    /// Terminals that came and went.
    pub clients: Vec<ClientNote>,
    /// The lag over the run (the kept samples).
    #[serde(default)]
    pub lag: probes::LagSeries,
    /// Each reconcile check's rounds and latest result.
    #[serde(default)]
    pub reconcile: probes::ReconcileRounds,
    /// What preflight found before step 1 (the latest session's that ran it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<crate::preflight::Finding>,
    /// The `repair` steps' patches, each with its step's id, latest state per patch file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<(String, crate::protocol::RepairRecord)>,
}

impl RunSummary {
    /// Folds a run's events, in order, each with its time when known (a journal's `ts`).
    pub fn fold<'a>(events: impl IntoIterator<Item = (Option<DateTime<Utc>>, &'a Event)>) -> Self {
        let mut s = RunSummary::default();
        for (ts, ev) in events {
            s.apply(ts, ev);
        }
        s
    }

    /// Takes one more event.
    pub fn apply(&mut self, ts: Option<DateTime<Utc>>, ev: &Event) {
        match ev {
            Event::RunStarted { run } => self.on_run_started(run, ts),
            Event::Preflight { findings, .. } => self.preflight = findings.clone(),
            Event::Repair { index, repair } => self.on_repair(*index, repair),
            Event::RepairUndone { inverse_file, .. } => {
                if let Some((_, r)) = self
                    .repairs
                    .iter_mut()
                    .rfind(|(_, r)| r.inverse_file == *inverse_file)
                {
                    r.undone = true;
                }
            }
            Event::StepRestored { .. }
            | Event::StepStarted { .. }
            | Event::Process { .. }
            | Event::StepFinished { .. } => self.on_step(ts, ev),
            Event::Operator {
                step,
                action,
                by,
                at,
            } => self.on_operator(step.as_deref(), action, by, *at),
            Event::TriggerFired {
                name,
                message,
                action,
                at,
                ..
            } => self.triggers.push(Fired {
                at: *at,
                name: name.clone(),
                message: message.clone(),
                action: *action,
                cancelled_by: None,
            }),
            Event::CountdownCancelled { name, by } => {
                if let Some(f) = self.triggers.iter_mut().rev().find(|f| &f.name == name) {
                    f.cancelled_by = Some(by.clone());
                }
            }
            Event::TriggerUpdated { name, message } => {
                if let Some(f) = self.triggers.iter_mut().rev().find(|f| &f.name == name) {
                    f.message = message.clone();
                }
            }
            Event::RollbackStarted { .. }
            | Event::RollbackActionStarted { .. }
            | Event::RollbackActionFinished { .. }
            | Event::RollbackFinished { .. } => self.on_rollback(ev),
            Event::RunFinished { outcome, at } => {
                self.outcome = Some(*outcome);
                self.ended_at = Some(*at);
            }
            Event::LagSample { sample, keep: true } => self.lag.push(sample),
            Event::ReconcileResult {
                result,
                restored: false,
            } => probes::push_result(&mut self.reconcile, result),
            Event::Client {
                change,
                role,
                who,
                from,
                on_purpose,
                ..
            } => self.clients.push(ClientNote {
                at: ts,
                change: *change,
                role: *role,
                who: who.clone(),
                from: from.clone(),
                on_purpose: *on_purpose,
            }),
            _ => {}
        }
    }

    /// A step's start, process, end, or state restored from an earlier session: taken by
    /// the step itself ([`StepSummary`]).
    fn on_step(&mut self, ts: Option<DateTime<Utc>>, ev: &Event) {
        match ev {
            Event::StepRestored {
                index,
                state,
                duration_ms,
                outcome,
                rolled_back,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(*index) {
                    s.restored(*state, *outcome, *duration_ms);
                    if *rolled_back {
                        s.undo_finished(crate::protocol::StepOutcome::Passed, None);
                    }
                }
            }
            Event::StepStarted {
                index, attempt, at, ..
            } => {
                if let Some(s) = self.steps.get_mut(*index) {
                    s.started(*attempt, *at);
                }
            }
            Event::Process { index, pid } => {
                if let Some(s) = self.steps.get_mut(*index) {
                    s.process(*pid);
                }
            }
            Event::StepFinished {
                index,
                outcome,
                duration_ms,
                message,
                output_file,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(*index) {
                    let end = LastEnd {
                        outcome: *outcome,
                        message: message.clone(),
                        output_file: output_file.clone(),
                    };
                    s.finished(end, *duration_ms, ts);
                }
            }
            _ => {}
        }
    }

    /// The rollback and its actions.
    fn on_rollback(&mut self, ev: &Event) {
        match ev {
            Event::RollbackStarted { by, .. } => {
                self.rollback = Some(RollbackSummary {
                    by: by.clone(),
                    completed: None,
                });
            }
            Event::RollbackActionStarted {
                index, attempt, at, ..
            } => {
                if let Some(s) = self.steps.get_mut(*index) {
                    s.undo_started(*attempt, *at);
                }
            }
            Event::RollbackActionFinished {
                index,
                outcome,
                message,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(*index) {
                    s.undo_finished(*outcome, message.clone());
                }
            }
            Event::RollbackFinished { completed, .. } => {
                let r = self.rollback.get_or_insert_with(|| RollbackSummary {
                    by: String::new(),
                    completed: None,
                });
                r.completed = Some(*completed);
            }
            _ => {}
        }
    }

    fn on_run_started(&mut self, run: &RunInfo, ts: Option<DateTime<Utc>>) {
        let at = run.started_at.or(ts);
        self.sessions.push((run.operator.clone(), at));
        if self.started_at.is_none() {
            // A resumed session says when the run started (a fold of its events alone, as
            // the cockpit's, would count from this session's start).
            self.started_at = run.run_started_at.or(at);
        }
        // A resumed session knows when the run's first step started (a fold of this session's
        // events alone, as the metrics file and notify hooks make, would not).
        if let Some(first) = run.first_step_at {
            self.first_step_hint = Some(self.first_step_hint.map_or(first, |h| h.min(first)));
        }
        self.name = run.name.clone();
        self.runbook = run.runbook.clone();
        self.sha256 = run.sha256.clone();
        self.journal = run.journal.clone();
        self.window = run.window_start.zip(run.window_minutes);
        if run.lag.is_some() {
            self.lag.info = run.lag.clone();
        }
        // A new session of the same run (a resume) keeps what happened; a changed runbook's
        // steps are matched by id.
        let before = std::mem::take(&mut self.steps);
        self.steps = run
            .steps
            .iter()
            .enumerate()
            .map(|(index, info)| {
                let mut s = before
                    .iter()
                    .find(|s| s.id == info.id)
                    .cloned()
                    .unwrap_or_else(|| StepSummary::new(index, info));
                s.index = index;
                s.title = info.title.clone();
                s.kind = info.kind;
                s.expected_ms = info.expected_ms;
                s.point_of_no_return = info.point_of_no_return.clone();
                s.has_rollback = info.rollback.is_some();
                s
            })
            .collect();
        // An earlier session's run did not finish; this one goes on.
        self.outcome = None;
        self.ended_at = None;
    }

    fn on_operator(
        &mut self,
        step: Option<&str>,
        action: &OperatorAction,
        by: &str,
        at: DateTime<Utc>,
    ) {
        if let Some(s) = step.and_then(|id| self.steps.iter_mut().find(|s| s.id == id)) {
            s.operator(action);
        }
        // Running the next step is routine; everything else is a decision worth listing.
        if !matches!(action, OperatorAction::Run | OperatorAction::Confirm) {
            self.decisions.push(Decision {
                at,
                by: by.to_string(),
                step: step.map(str::to_string),
                action: action.clone(),
            });
        }
    }

    /// Steps whose work stands although the run was rolled back: a rollback action skipped or
    /// failed, or none at all for a step that did its work. Empty when no rollback started.
    pub fn undo_by_hand(&self) -> Vec<(&StepSummary, String)> {
        if self.rollback.is_none() {
            return Vec::new();
        }
        self.steps
            .iter()
            .filter_map(|s| {
                let why = match &s.undo {
                    Some(Undo::Skipped { reason }) => format!("rollback skipped: {reason}"),
                    Some(Undo::Failed { message }) => format!(
                        "rollback failed{}",
                        message
                            .as_deref()
                            .map_or(String::new(), |m| format!(": {m}"))
                    ),
                    Some(Undo::Running) => "rollback interrupted — outcome unknown".into(),
                    Some(Undo::Passed) => return None,
                    None if s.ended.did_work() && !s.has_rollback && s.changes => {
                        "no rollback action".into()
                    }
                    None => return None,
                };
                Some((s, why))
            })
            .collect()
    }

    /// A repair record: the latest of its patch file (saved, then applied).
    fn on_repair(&mut self, index: usize, r: &crate::protocol::RepairRecord) {
        let id = self
            .steps
            .get(index)
            .map_or_else(|| format!("#{}", index + 1), |s| s.id.clone());
        match self
            .repairs
            .iter_mut()
            .rfind(|(_, old)| old.patch_file == r.patch_file && old.sha256 == r.sha256)
        {
            Some(slot) => *slot = (id, r.clone()),
            None => self.repairs.push((id, r.clone())),
        }
    }

    /// Planned time of every step, ms.
    pub fn planned_ms(&self) -> u64 {
        self.steps.iter().filter_map(|s| s.expected_ms).sum()
    }

    /// When the first step first started (an earlier session's, when a resumed one said so):
    /// the plan's clock starts here.
    pub fn first_step_at(&self) -> Option<DateTime<Utc>> {
        self.steps
            .iter()
            .filter_map(|s| s.first_started)
            .chain(self.first_step_hint)
            .min()
    }

    /// How much later than planned the run ends (negative: earlier), ms: from its first
    /// step's start to its end, less the plan of every step — what the cockpit's header and
    /// the metrics file counted while it ran. A record that ends before the run did counts to
    /// its last known moment plus the plan of what did not run. `None` without a plan or a
    /// start.
    pub fn behind_plan_ms(&self) -> Option<i64> {
        let planned = i64::try_from(self.planned_ms()).ok().filter(|p| *p > 0)?;
        let first = self.first_step_at()?;
        let (end, left) = match self.ended_at {
            Some(end) => (end, 0),
            None => {
                let last = self.steps.iter().filter_map(|s| s.last_ended).max()?;
                let left: u64 = self
                    .steps
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.ended,
                            Ended::NotRun
                                | Ended::Interrupted
                                | Ended::Failed
                                | Ended::TimedOut
                                | Ended::Cancelled
                        )
                    })
                    .filter_map(|s| s.expected_ms)
                    .sum();
                (last, i64::try_from(left).unwrap_or(i64::MAX))
            }
        };
        Some((end - first).num_milliseconds().max(0) + left - planned)
    }

    /// From the first start to the end (or the last thing known), ms.
    pub fn elapsed_ms(&self) -> Option<u64> {
        let start = self.started_at?;
        let end = self
            .ended_at
            .or_else(|| self.steps.iter().filter_map(|s| s.last_ended).max())?;
        Some((end - start).num_milliseconds().max(0) as u64)
    }
}

#[cfg(test)]
mod tests;
