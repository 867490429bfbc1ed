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
    /// When.
    pub at: DateTime<Utc>,
}

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

    /// The notes `ev` gives (`margin` notes carry the margin they crossed, in ms, in
    /// `behind_plan` messages).
    pub fn see(&mut self, ev: &Event, now: DateTime<Utc>) -> Vec<(Note, Option<u64>)> {
        let mut out = Vec::new();
        let mut note = |kind, step, message: String| {
            out.push((
                Note {
                    kind,
                    step,
                    message,
                    at: now,
                },
                None,
            ));
        };
        match ev {
            Event::RunStarted { run } => {
                self.steps = run.steps.iter().map(|s| (s.id.clone(), s.kind)).collect();
                self.lag = run.lag.clone();
            }
            Event::StepStarted { index, .. } => {
                self.running = Some(*index);
                self.signing.remove(index);
                self.blocked.remove(index);
            }
            Event::StepFinished {
                index,
                id,
                outcome,
                message,
                ..
            } => {
                self.running = None;
                if *outcome != StepOutcome::Passed {
                    let word = match outcome {
                        StepOutcome::Failed => "failed",
                        StepOutcome::TimedOut => "timed out",
                        StepOutcome::Cancelled => "was cancelled",
                        StepOutcome::Passed => "passed",
                    };
                    let why = message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    note(
                        NotifyKind::StepFailed,
                        self.step(*index),
                        format!("step {id} {word}{why}"),
                    );
                }
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
                note(
                    NotifyKind::SignOff,
                    self.step(*index),
                    format!(
                        "step {} waits for the sign-off of {}",
                        self.step(*index).map(|s| s.1).unwrap_or_default(),
                        waiting.join(", ")
                    ),
                );
            }
            Event::TriggerFired {
                name,
                message,
                countdown_ms,
                ..
            } => {
                note(
                    NotifyKind::Trigger,
                    None,
                    format!("trigger {name}: {message}"),
                );
                if let Some(ms) = countdown_ms {
                    note(
                        NotifyKind::Countdown,
                        None,
                        format!(
                            "automatic rollback in {}s unless cancelled (trigger {name})",
                            ms / 1000
                        ),
                    );
                }
            }
            Event::RollbackStarted { by, .. } => {
                note(
                    NotifyKind::Rollback,
                    None,
                    format!("rollback started by {by}"),
                );
            }
            Event::RunFinished { outcome, .. } => {
                note(
                    NotifyKind::RunEnded,
                    None,
                    format!(
                        "run {}",
                        cutover_model::summary::text::outcome(Some(*outcome))
                    ),
                );
            }
            Event::LagSample { sample, .. } => {
                let stale = sample.is_stale();
                if stale && !self.stale {
                    note(
                        NotifyKind::LagStale,
                        None,
                        format!(
                            "the lag probe is failing: {}",
                            sample.error.as_deref().unwrap_or("no reading")
                        ),
                    );
                }
                self.stale = stale;
                if let Some(info) = &self.lag
                    && let (Some(limit), Some(v)) = (info.critical, sample.value(info.unit))
                    && sample.is_fresh()
                {
                    let critical = v >= limit;
                    if critical && !self.critical {
                        note(
                            NotifyKind::LagCritical,
                            None,
                            format!(
                                "lag {} reached its critical threshold {} ({})",
                                cutover_model::lag::show(v, info.unit),
                                cutover_model::lag::show(limit, info.unit),
                                info.description
                            ),
                        );
                    }
                    self.critical = critical;
                }
            }
            Event::ReconcileResult {
                result,
                restored: false,
            } => {
                if let Some(i) = self.running
                    && self
                        .steps
                        .get(i)
                        .is_some_and(|(_, k)| *k == cutover_model::protocol::StepKind::Wait)
                    && !result.passed()
                    && self.blocked.insert(i)
                {
                    note(
                        NotifyKind::GateBlocked,
                        self.step(i),
                        format!(
                            "the gate {} holds the run: {}",
                            self.step(i).map(|s| s.1).unwrap_or_default(),
                            cutover_model::reconcile::summary(result)
                        ),
                    );
                }
            }
            _ => {}
        }
        self.plan.see(ev, now);
        let behind = self.plan.behind_plan_ms(now);
        for (margin, past) in &mut self.behind {
            let now_past = behind >= i64::try_from(*margin).unwrap_or(i64::MAX);
            if now_past && !*past {
                out.push((
                    Note {
                        kind: NotifyKind::BehindPlan,
                        step: None,
                        message: format!(
                            "the run is {} behind its plan",
                            cutover_model::narrate::duration(behind.unsigned_abs())
                        ),
                        at: now,
                    },
                    Some(*margin),
                ));
            }
            *past = now_past;
        }
        out
    }
}
