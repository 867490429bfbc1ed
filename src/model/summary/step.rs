//! One step's state, folded from its events: the one place a step's start, end, restored
//! state, operator decision and rollback action are taken. The summary, the report, the
//! cockpit's step list and a resume all read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::protocol::{OperatorAction, StepKind, StepOutcome, StepState};

/// Where a step ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// Never started.
    NotRun,
    /// Started and not finished when the record ends (or its engine stopped): outcome unknown.
    Interrupted,
    /// Its last attempt passed.
    Passed,
    /// Failed (the last attempt), with nothing decided after.
    Failed,
    /// Hit its timeout.
    TimedOut,
    /// Cancelled by the operator (or by the run ending under it).
    Cancelled,
    /// Failed, then skipped with a reason.
    Skipped,
    /// Interrupted, then marked done with a reason.
    MarkedDone,
}

impl Ended {
    /// The glyph the cockpit shows for it.
    pub fn glyph(self) -> &'static str {
        match self {
            Ended::NotRun => " ",
            Ended::Interrupted => "?",
            Ended::Passed => "✔",
            Ended::Failed | Ended::TimedOut | Ended::Cancelled => "✘",
            Ended::Skipped => "↷",
            Ended::MarkedDone => "☑",
        }
    }

    /// In words.
    pub fn word(self) -> &'static str {
        match self {
            Ended::NotRun => "not run",
            Ended::Interrupted => "interrupted — outcome unknown",
            Ended::Passed => "passed",
            Ended::Failed => "failed",
            Ended::TimedOut => "timed out",
            Ended::Cancelled => "cancelled",
            Ended::Skipped => "skipped",
            Ended::MarkedDone => "marked done",
        }
    }

    /// Whether the step's work was (or may have been) done, so a rollback concerns it.
    pub fn did_work(self) -> bool {
        matches!(
            self,
            Ended::Passed
                | Ended::MarkedDone
                | Ended::Interrupted
                | Ended::Failed
                | Ended::TimedOut
                | Ended::Cancelled
        )
    }
}

impl Ended {
    /// How a finished attempt left the step.
    pub fn from_outcome(outcome: StepOutcome) -> Self {
        match outcome {
            StepOutcome::Passed => Ended::Passed,
            StepOutcome::Failed => Ended::Failed,
            StepOutcome::TimedOut => Ended::TimedOut,
            StepOutcome::Cancelled => Ended::Cancelled,
        }
    }

    /// A state restored from an earlier session: a failed step keeps how it failed (timed
    /// out, cancelled) when its session said.
    pub fn restored(state: StepState, outcome: Option<StepOutcome>) -> Self {
        match state {
            StepState::Passed => Ended::Passed,
            StepState::Skipped => Ended::Skipped,
            StepState::MarkedDone => Ended::MarkedDone,
            StepState::Interrupted => Ended::Interrupted,
            StepState::Failed => outcome
                .filter(|o| !o.is_ok())
                .map_or(Ended::Failed, Ended::from_outcome),
        }
    }

    /// The state a resumed session restores (`None`: never attempted).
    pub fn to_restore(self) -> Option<StepState> {
        match self {
            Ended::NotRun => None,
            Ended::Interrupted => Some(StepState::Interrupted),
            Ended::Passed => Some(StepState::Passed),
            Ended::Failed | Ended::TimedOut | Ended::Cancelled => Some(StepState::Failed),
            Ended::Skipped => Some(StepState::Skipped),
            Ended::MarkedDone => Some(StepState::MarkedDone),
        }
    }

    /// Passed, skipped or marked done: the run may move past it.
    pub fn is_done(self) -> bool {
        matches!(self, Ended::Passed | Ended::Skipped | Ended::MarkedDone)
    }

    /// Its last attempt did not pass, and nothing was decided after.
    pub fn is_failed(self) -> bool {
        matches!(self, Ended::Failed | Ended::TimedOut | Ended::Cancelled)
    }
}

/// What became of a step's rollback action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Undo {
    /// It started and did not finish (when the record ends).
    Running,
    /// It passed.
    Passed,
    /// It did not pass.
    Failed {
        /// Why, as the engine said it (a failed check, the error), when it said.
        message: Option<String>,
    },
    /// The operator skipped it.
    Skipped {
        /// The typed reason.
        reason: String,
    },
}

/// One step of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSummary {
    /// Position in the runbook (0-based).
    pub index: usize,
    /// The step's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// What it does.
    pub kind: StepKind,
    /// Planned duration, ms.
    pub expected_ms: Option<u64>,
    /// The point of no return's text, when the step is one.
    pub point_of_no_return: Option<String>,
    /// Whether it has a rollback action.
    pub has_rollback: bool,
    /// Whether it changes anything a rollback would undo (`changes`).
    #[serde(default = "yes")]
    pub changes: bool,
    /// Where it ended up.
    pub ended: Ended,
    /// Attempts made (over every session).
    pub attempts: u32,
    /// The last finished attempt's duration, ms.
    pub actual_ms: Option<u64>,
    /// Every finished attempt's duration added up, ms.
    pub total_ms: u64,
    /// When its first attempt started.
    pub first_started: Option<DateTime<Utc>>,
    /// When its last attempt ended.
    pub last_ended: Option<DateTime<Utc>>,
    /// Why the last attempt did not pass, or the operator's reason (skip, mark done).
    pub message: Option<String>,
    /// Where the full output of the last attempt is.
    pub output_file: Option<String>,
    /// Its rollback action, once the rollback reached it.
    pub undo: Option<Undo>,
    /// What a resume needs besides (not in reports): the latest attempt's start, process
    /// group and end, and its rollback action's.
    #[serde(skip)]
    pub facts: AttemptFacts,
}

/// Serde's default for flags that were always true before they existed.
fn yes() -> bool {
    true
}

impl StepSummary {
    /// A step not run yet.
    pub fn new(index: usize, info: &crate::protocol::StepInfo) -> Self {
        StepSummary {
            index,
            id: info.id.clone(),
            title: info.title.clone(),
            kind: info.kind,
            expected_ms: info.expected_ms,
            point_of_no_return: info.point_of_no_return.clone(),
            has_rollback: info.rollback.is_some(),
            changes: info.changes,
            ended: Ended::NotRun,
            attempts: 0,
            actual_ms: None,
            total_ms: 0,
            first_started: None,
            last_ended: None,
            message: None,
            output_file: None,
            undo: None,
            facts: AttemptFacts::default(),
        }
    }
}

/// How a step's last finished attempt ended, as its session said it (the step's `message`
/// may since have become the operator's reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEnd {
    /// The outcome.
    pub outcome: StepOutcome,
    /// Why it did not pass.
    pub message: Option<String>,
    /// Its full output.
    pub output_file: Option<String>,
}

/// What a resume needs of a step beyond what a report shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFacts {
    /// When its latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// The latest attempt's process group, once it had one.
    pub pid: Option<u32>,
    /// How its last finished attempt ended.
    pub last_end: Option<LastEnd>,
    /// When it last passed (a journal's time).
    pub passed_at: Option<DateTime<Utc>>,
    /// Attempts of its rollback action.
    pub undo_attempts: u32,
    /// When its rollback action's latest attempt started.
    pub undo_started_at: Option<DateTime<Utc>>,
    /// That attempt's process group.
    pub undo_pid: Option<u32>,
    /// The operator cancelled its latest attempt (`x`): an end of the run after that is not
    /// what stopped it.
    pub cancel_asked: bool,
}

impl StepSummary {
    /// An attempt started at `at`.
    pub fn started(&mut self, attempt: u32, at: DateTime<Utc>) {
        self.attempts = self.attempts.max(attempt);
        self.first_started.get_or_insert(at);
        self.ended = Ended::Interrupted;
        self.message = None;
        self.facts.started_at = Some(at);
        self.facts.pid = None;
        self.facts.cancel_asked = false;
    }

    /// The process group of whatever of it runs now: its rollback action, or its attempt.
    pub fn process(&mut self, pid: u32) {
        if self.undo == Some(Undo::Running) {
            self.facts.undo_pid = Some(pid);
        } else {
            self.facts.pid = Some(pid);
        }
    }

    /// An attempt ended (`ts`: the journal's time, when known).
    pub fn finished(&mut self, end: LastEnd, duration_ms: u64, ts: Option<DateTime<Utc>>) {
        self.ended = Ended::from_outcome(end.outcome);
        self.actual_ms = Some(duration_ms);
        self.total_ms += duration_ms;
        if ts.is_some() {
            self.last_ended = ts;
            if end.outcome.is_ok() {
                self.facts.passed_at = ts;
            }
        }
        self.message = end.message.clone();
        if end.output_file.is_some() {
            self.output_file = end.output_file.clone();
        }
        self.facts.last_end = Some(end);
    }

    /// Its state as an earlier session left it.
    pub fn restored(
        &mut self,
        state: StepState,
        outcome: Option<StepOutcome>,
        duration_ms: Option<u64>,
    ) {
        self.ended = Ended::restored(state, outcome);
        if self.actual_ms.is_none() {
            self.actual_ms = duration_ms;
        }
    }

    /// What the operator decided about it.
    pub fn operator(&mut self, action: &OperatorAction) {
        match action {
            OperatorAction::Skip { reason } => {
                self.ended = Ended::Skipped;
                self.message = Some(reason.clone());
            }
            OperatorAction::MarkDone { reason } => {
                self.ended = Ended::MarkedDone;
                self.message = Some(reason.clone());
            }
            OperatorAction::SkipRollback { reason } => {
                self.undo = Some(Undo::Skipped {
                    reason: reason.clone(),
                });
            }
            OperatorAction::Cancel => self.facts.cancel_asked = true,
            OperatorAction::Abort { reason }
                if self.ended == Ended::Cancelled && !self.facts.cancel_asked =>
            {
                self.message = Some(crate::narrate::ended_under_step(reason.as_deref()));
            }
            _ => {}
        }
    }

    /// Its rollback action's attempt started.
    pub fn undo_started(&mut self, attempt: u32, at: DateTime<Utc>) {
        self.undo = Some(Undo::Running);
        self.facts.undo_attempts = self.facts.undo_attempts.max(attempt);
        self.facts.undo_started_at = Some(at);
        self.facts.undo_pid = None;
    }

    /// Its rollback action's attempt ended.
    pub fn undo_finished(&mut self, outcome: StepOutcome, message: Option<String>) {
        self.undo = Some(if outcome.is_ok() {
            Undo::Passed
        } else {
            Undo::Failed { message }
        });
    }
}
