//! What a run is doing now, folded from its events: the one fold of a run's phase that `ls`,
//! a fleet's lanes and the cockpit read (the cockpit adds only what its own keys sent).

use chrono::{DateTime, Utc};

use crate::protocol::{DecisionKind, Event, RunOutcome};

/// What the run is doing, as its events say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RunPhase {
    /// No event that says yet.
    #[default]
    Starting,
    /// The engine waits for the operator to run step `next`.
    Ready {
        /// The step it would run.
        next: usize,
    },
    /// Step `index`'s attempt runs, since `since`.
    Running {
        /// The step's position (0-based).
        index: usize,
        /// When the attempt started.
        since: DateTime<Utc>,
    },
    /// Step `index`'s attempt (started at `since`) ended; the engine says next what follows.
    Ended {
        /// The step's position (0-based).
        index: usize,
        /// Whether it passed.
        passed: bool,
        /// When the attempt started (when its start was seen).
        since: Option<DateTime<Utc>>,
    },
    /// A step waits for its confirmation word.
    Confirming(Confirmation),
    /// A step waits for sign-offs.
    Approving(Approval),
    /// A step (or its rollback action) needs the operator's decision.
    Deciding(DecisionNeeded),
    /// Preflight found something that stops the run: it waits for a typed reason to start
    /// anyway, or for its end.
    PreflightBlocked,
    /// The rollback runs; `action`: the step whose rollback action runs now, and since when.
    RollingBack {
        /// The running action's step and start, between actions none.
        action: Option<(usize, DateTime<Utc>)>,
    },
    /// The run ended.
    Finished(RunOutcome),
}

/// A step that waits for its confirmation word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The step's position (0-based).
    pub index: usize,
    /// The word to type.
    pub word: String,
}

/// A step that waits for sign-offs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The step's position (0-based).
    pub index: usize,
    /// Every role it needs.
    pub roles: Vec<String>,
    /// Roles signed off so far, with the names typed.
    pub approved: Vec<(String, String)>,
}

/// A step (or its rollback action) that needs the operator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionNeeded {
    /// The step's position (0-based).
    pub index: usize,
    /// Failed or interrupted, a step or a rollback action.
    pub kind: DecisionKind,
    /// What happened, in the engine's words.
    pub message: String,
    /// An interrupted attempt's process group from an earlier session, while it still runs: a
    /// re-run waits until it ends or is stopped.
    pub still_running: Option<u32>,
}

impl RunPhase {
    /// Takes one event; whether it changed the phase.
    pub fn apply(&mut self, ev: &Event) -> bool {
        let next = match ev {
            Event::Ready { next } => RunPhase::Ready { next: *next },
            Event::Preflight { blocks: true, .. } => RunPhase::PreflightBlocked,
            Event::StepStarted { index, at, .. } => RunPhase::Running {
                index: *index,
                since: *at,
            },
            Event::StepFinished { index, outcome, .. } => RunPhase::Ended {
                index: *index,
                passed: outcome.is_ok(),
                since: match self {
                    RunPhase::Running { index: i, since } if i == index => Some(*since),
                    _ => None,
                },
            },
            Event::ConfirmRequested { index, word } => RunPhase::Confirming(Confirmation {
                index: *index,
                word: word.clone(),
            }),
            Event::ApprovalRequested {
                index,
                roles,
                approved,
            } => RunPhase::Approving(Approval {
                index: *index,
                roles: roles.clone(),
                approved: approved.clone(),
            }),
            Event::DecisionNeeded {
                index,
                kind,
                message,
                still_running,
            } => RunPhase::Deciding(DecisionNeeded {
                index: *index,
                kind: *kind,
                message: message.clone(),
                still_running: *still_running,
            }),
            Event::RollbackStarted { .. } | Event::RollbackActionFinished { .. } => {
                RunPhase::RollingBack { action: None }
            }
            Event::RollbackActionStarted { index, at, .. } => RunPhase::RollingBack {
                action: Some((*index, *at)),
            },
            Event::RunFinished { outcome, .. } => RunPhase::Finished(*outcome),
            _ => return false,
        };
        *self = next;
        true
    }

    /// The step the run is at (running, asking about, deciding on, or about to run).
    pub fn step(&self) -> Option<usize> {
        match self {
            RunPhase::Ready { next: i }
            | RunPhase::Running { index: i, .. }
            | RunPhase::Ended { index: i, .. }
            | RunPhase::Confirming(Confirmation { index: i, .. })
            | RunPhase::Approving(Approval { index: i, .. })
            | RunPhase::Deciding(DecisionNeeded { index: i, .. }) => Some(*i),
            RunPhase::RollingBack { action } => action.map(|(i, _)| i),
            _ => None,
        }
    }

    /// The roles a sign-off still waits for (empty: none is waited for).
    pub fn missing_sign_offs(&self) -> Vec<String> {
        match self {
            RunPhase::Approving(Approval {
                roles, approved, ..
            }) => not_signed(roles, approved),
            _ => Vec::new(),
        }
    }
}

/// The roles of `roles` that `approved` (role, name typed) has no sign-off for.
pub fn not_signed(roles: &[String], approved: &[(String, String)]) -> Vec<String> {
    roles
        .iter()
        .filter(|r| !approved.iter().any(|(a, _)| a == *r))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StepOutcome;

    fn finished(index: usize, outcome: StepOutcome) -> Event {
        Event::StepFinished {
            index,
            id: "s".into(),
            attempt: 1,
            outcome,
            duration_ms: 1,
            expected_ms: None,
            exit_code: None,
            checks: vec![],
            message: None,
            output_file: None,
        }
    }

    #[test]
    fn a_run_goes_from_ready_to_a_decision_to_a_rollback_and_its_end() {
        let t = Utc::now();
        let mut p = RunPhase::default();
        assert!(!p.apply(&Event::Notice {
            level: crate::protocol::Level::Info,
            message: "hi".into(),
        }));
        assert_eq!(p, RunPhase::Starting);
        p.apply(&Event::Ready { next: 1 });
        assert_eq!(p.step(), Some(1));
        p.apply(&Event::StepStarted {
            index: 1,
            id: "s".into(),
            attempt: 1,
            at: t,
            command: "true".into(),
        });
        p.apply(&finished(1, StepOutcome::Failed));
        assert_eq!(
            p,
            RunPhase::Ended {
                index: 1,
                passed: false,
                since: Some(t)
            },
            "the attempt's start is kept until the engine says what follows"
        );
        p.apply(&Event::ApprovalRequested {
            index: 2,
            roles: vec!["dba".into(), "owner".into()],
            approved: vec![("dba".into(), "alice".into())],
        });
        assert_eq!(p.missing_sign_offs(), vec!["owner".to_string()]);
        p.apply(&Event::RollbackActionStarted {
            index: 1,
            id: "s".into(),
            attempt: 2,
            at: t,
            command: "undo".into(),
        });
        assert_eq!(p.step(), Some(1));
        p.apply(&Event::RunFinished {
            outcome: RunOutcome::RolledBack,
            at: t,
        });
        assert_eq!(p, RunPhase::Finished(RunOutcome::RolledBack));
        assert_eq!(p.step(), None);
    }
}
