//! Which events a run's notify hooks hear about: each engine event, in order, becomes zero or
//! more notes (a kind, the step it concerns, a message). Conditions that last (the lag
//! critical or stale, the run behind plan, a gate blocked, a sign-off waited for) are told
//! once when they begin, and again only after they ended.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::metrics_file::run::RunState;
use cutover_model::protocol::{Event, LagInfo, StepOutcome};
use cutover_model::runbook::notify::NotifyKind;

/// One thing to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// What happened.
    pub kind: NotifyKind,
    /// The step it concerns: position (0-based) and id.
    pub step: Option<(usize, String)>,
    /// In words (masked: it comes from masked events).
    pub message: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// A kind, the step it concerns, and the words: a note before its time is set.
type Told = (NotifyKind, Option<(usize, String)>, String);

/// What the watch remembers between events.
#[derive(Default)]
pub struct Watch {
    steps: Vec<(String, cutover_model::protocol::StepKind)>,
    lag: Option<LagInfo>,
    critical: bool,
    stale: bool,
    running: Option<usize>,
    signing: BTreeSet<usize>,
    blocked: BTreeSet<usize>,
    plan: RunState,
    /// For each behind-plan margin asked for (ms): whether the run is past it now.
    behind: Vec<(u64, bool)>,
}

impl Watch {
    /// A watch that tells `behind_plan` at each of these margins.
    pub fn new(margins: &[u64]) -> Watch {
        Watch {
            behind: margins.iter().map(|m| (*m, false)).collect(),
            ..Watch::default()
        }
    }

    fn step(&self, index: usize) -> Option<(usize, String)> {
        self.steps.get(index).map(|(id, _)| (index, id.clone()))
    }

    /// The notes `ev` gives; a `behind_plan` note carries the margin it crossed (ms).
    pub fn see(&mut self, ev: &Event, now: DateTime<Utc>) -> Vec<(Note, Option<u64>)> {
        let told: Vec<Told> = match ev {
            Event::RunStarted { run } => {
                self.steps = run.steps.iter().map(|s| (s.id.clone(), s.kind)).collect();
                self.lag = run.lag.clone();
                Vec::new()
            }
            Event::StepStarted { .. }
            | Event::StepFinished { .. }
            | Event::ApprovalRequested { .. } => self.on_step(ev).into_iter().collect(),
            Event::TriggerFired {
                name,
                message,
                countdown_ms,
                ..
            } => {
                let mut v = vec![(
                    NotifyKind::Trigger,
                    None,
                    format!("trigger {name}: {message}"),
                )];
                if let Some(ms) = countdown_ms {
                    v.push((
                        NotifyKind::Countdown,
                        None,
                        format!(
                            "automatic rollback in {}s unless cancelled (trigger {name})",
                            ms / 1000
                        ),
                    ));
                }
                v
            }
            Event::RollbackStarted { by, .. } => {
                vec![(
                    NotifyKind::Rollback,
                    None,
                    format!("rollback started by {by}"),
                )]
            }
            Event::RunFinished { outcome, .. } => vec![(
                NotifyKind::RunEnded,
                None,
                format!(
                    "run {}",
                    cutover_model::summary::text::outcome(Some(*outcome))
                ),
            )],
            Event::LagSample { sample, .. } => self.on_lag(sample),
            Event::ReconcileResult {
                result,
                restored: false,
            } => self.on_gate(result).into_iter().collect(),
            _ => Vec::new(),
        };
        let mut out: Vec<(Note, Option<u64>)> = told
            .into_iter()
            .map(|(kind, step, message)| {
                let note = Note {
                    kind,
                    step,
                    message,
                    at: now,
                };
                (note, None)
            })
            .collect();
        self.plan.see(ev, now);
        out.extend(self.on_plan(now));
        out
    }

    /// A step started (its conditions start afresh), did not pass, or waits for sign-offs.
    fn on_step(&mut self, ev: &Event) -> Option<Told> {
        match ev {
            Event::StepStarted { index, .. } => {
                self.running = Some(*index);
                self.signing.remove(index);
                self.blocked.remove(index);
                None
            }
            Event::StepFinished {
                index,
                id,
                outcome,
                message,
                ..
            } => {
                self.running = None;
                let word = match outcome {
                    StepOutcome::Passed => return None,
                    StepOutcome::Failed => "failed",
                    StepOutcome::TimedOut => "timed out",
                    StepOutcome::Cancelled => "was cancelled",
                };
                let why = message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                Some((
                    NotifyKind::StepFailed,
                    self.step(*index),
                    format!("step {id} {word}{why}"),
                ))
            }
            Event::ApprovalRequested {
                index,
                roles,
                approved,
            } if self.signing.insert(*index) => {
                let waiting: Vec<&str> = roles
                    .iter()
                    .filter(|r| !approved.iter().any(|(a, _)| a == *r))
                    .map(String::as_str)
                    .collect();
                let step = self.step(*index);
                let id = step.as_ref().map(|s| s.1.clone()).unwrap_or_default();
                Some((
                    NotifyKind::SignOff,
                    step,
                    format!("step {id} waits for the sign-off of {}", waiting.join(", ")),
                ))
            }
            _ => None,
        }
    }

    /// The lag probe began failing, or the lag reached its critical threshold.
    fn on_lag(&mut self, sample: &cutover_model::lag::LagSample) -> Vec<Told> {
        let mut out = Vec::new();
        let stale = sample.is_stale();
        if stale && !self.stale {
            out.push((
                NotifyKind::LagStale,
                None,
                format!(
                    "the lag probe is failing: {}",
                    sample.error.as_deref().unwrap_or("no reading")
                ),
            ));
        }
        self.stale = stale;
        if let Some(info) = &self.lag
            && let (Some(limit), Some(v)) = (info.critical, sample.value(info.unit))
            && sample.is_fresh()
        {
            let critical = v >= limit;
            if critical && !self.critical {
                out.push((
                    NotifyKind::LagCritical,
                    None,
                    format!(
                        "lag {} reached its critical threshold {} ({})",
                        cutover_model::lag::show(v, info.unit),
                        cutover_model::lag::show(limit, info.unit),
                        info.description
                    ),
                ));
            }
            self.critical = critical;
        }
        out
    }

    /// A failing result while a `wait` gate runs: the gate holds the run (once per attempt).
    fn on_gate(&mut self, result: &cutover_model::reconcile::ReconcileResult) -> Option<Told> {
        let i = self.running?;
        let gate = self
            .steps
            .get(i)
            .is_some_and(|(_, k)| *k == cutover_model::protocol::StepKind::Wait);
        if !gate || result.passed() || !self.blocked.insert(i) {
            return None;
        }
        let step = self.step(i);
        let id = step.as_ref().map(|s| s.1.clone()).unwrap_or_default();
        Some((
            NotifyKind::GateBlocked,
            step,
            format!(
                "the gate {id} holds the run: {}",
                cutover_model::reconcile::summary(result)
            ),
        ))
    }

    /// The run fell past a `behind_plan` margin (told again only after it caught up).
    fn on_plan(&mut self, now: DateTime<Utc>) -> Vec<(Note, Option<u64>)> {
        let behind = self.plan.behind_plan_ms(now);
        let mut out = Vec::new();
        for (margin, past) in &mut self.behind {
            let now_past = behind >= i64::try_from(*margin).unwrap_or(i64::MAX);
            if now_past && !*past {
                let message = format!(
                    "the run is {} behind its plan",
                    cutover_model::narrate::duration(behind.unsigned_abs())
                );
                let note = Note {
                    kind: NotifyKind::BehindPlan,
                    step: None,
                    message,
                    at: now,
                };
                out.push((note, Some(*margin)));
            }
            *past = now_past;
        }
        out
    }
}
