//! The engine's protocol: [`Command`]s in, [`Event`]s out. Both are serde types so the same engine
//! serves the cockpit, `--headless`, tests and (later) a socket client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::runbook::TriggerAction;

/// Who is driving the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// `$USER`.
    pub user: String,
    /// `$SSH_CLIENT`, when logged in over SSH.
    pub ssh_client: Option<String>,
    /// This machine's host name.
    pub host: String,
}

impl Operator {
    /// Reads the operator from the environment.
    pub fn from_env() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_string());
        let ssh_client = std::env::var("SSH_CLIENT").ok().filter(|s| !s.is_empty());
        Operator {
            user,
            ssh_client,
            host: crate::host::host_name(),
        }
    }
}

/// What the cockpit needs to know about one step, without the runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// What the step does.
    pub kind: StepKind,
    /// The command as shown (secrets masked).
    pub command: String,
    /// Operator notes.
    pub notes: Option<String>,
    /// Planned duration, ms.
    pub expected_ms: Option<u64>,
    /// Hard limit, ms.
    pub timeout_ms: Option<u64>,
    /// Point-of-no-return text.
    pub point_of_no_return: Option<String>,
    /// The rollback action as shown, if any.
    pub rollback: Option<String>,
}

/// What a step does: its one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A shell command (`run = "..."`).
    Run,
    /// SQL on a named connection (`sql = "..."`).
    Sql,
    /// A condition polled until it holds (`wait = {...}`).
    Wait,
    /// A word the operator types (`confirm = "GO"`).
    Confirm,
}

impl StepKind {
    /// The runbook key of the action: `run`, `sql`, `wait` or `confirm`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Run => "run",
            StepKind::Sql => "sql",
            StepKind::Wait => "wait",
            StepKind::Confirm => "confirm",
        }
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an attempted step stands, as restored from a journal or listed in a rollback plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Its last attempt passed.
    Passed,
    /// It failed and the operator skipped it with a reason.
    Skipped,
    /// It was interrupted and the operator marked it done with a reason.
    MarkedDone,
    /// Its last attempt failed and nothing was decided yet.
    Failed,
    /// It started and never finished: the outcome is unknown.
    Interrupted,
}

impl StepState {
    /// The name used in events and the journal: `passed`, `skipped`, `marked_done`,
    /// `failed`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Passed => "passed",
            StepState::Skipped => "skipped",
            StepState::MarkedDone => "marked_done",
            StepState::Failed => "failed",
            StepState::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the lag pane needs to know about the probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LagInfo {
    /// e.g. `logical slot orders_sub on source`.
    pub description: String,
    /// The unit thresholds are compared in.
    pub unit: crate::lag::LagUnit,
    /// Warning threshold, in `unit` (bytes or seconds or a number).
    pub warn: Option<f64>,
    /// Critical threshold, in `unit`.
    pub critical: Option<f64>,
    /// Poll interval, ms.
    pub interval_ms: u64,
}

/// The run as a whole, sent first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Runbook name.
    pub name: String,
    /// Runbook owner.
    pub owner: Option<String>,
    /// Runbook path.
    pub runbook: String,
    /// sha256 of the runbook.
    pub sha256: String,
    /// Journal path.
    pub journal: String,
    /// Window start.
    pub window_start: Option<DateTime<Utc>>,
    /// Window length.
    pub window_minutes: Option<u32>,
    /// Steps in order.
    pub steps: Vec<StepInfo>,
    /// Whether a `[lag]` section is configured.
    pub lag_configured: bool,
    /// What the lag probe measures, when one runs.
    #[serde(default)]
    pub lag: Option<LagInfo>,
    /// Reconcile check names.
    pub reconcile: Vec<String>,
    /// Operator.
    pub operator: Operator,
    /// cutover version.
    pub version: String,
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How one attempt of a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Ran and every expectation held.
    Passed,
    /// Ran and an expectation failed (or it could not run).
    Failed,
    /// Hit its timeout; its process group was killed.
    TimedOut,
    /// The operator cancelled it.
    Cancelled,
}

impl StepOutcome {
    /// Whether the run may move on.
    pub fn is_ok(self) -> bool {
        matches!(self, StepOutcome::Passed)
    }
}

/// One expectation and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `exit`, `stdout`, `stderr_empty`, `rows`, `value`, `confirm`, `wait`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was seen.
    pub detail: String,
}

/// Why the engine is waiting for an operator decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The step failed: retry, skip with a reason, or abort.
    Failed,
    /// The step started in an earlier session and never finished: re-run, mark done, or abort.
    Interrupted,
    /// A rollback action failed: retry it, skip it with a reason, or abort the rollback.
    RollbackFailed,
}

/// Something the operator did, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OperatorAction {
    /// Ran the next step.
    Run,
    /// Retried (or re-ran) a step.
    Retry,
    /// Skipped a failed step.
    Skip {
        /// Typed reason.
        reason: String,
    },
    /// Marked an interrupted step as done.
    MarkDone {
        /// Typed reason.
        reason: String,
    },
    /// Typed the confirmation word.
    Confirm,
    /// Cancelled the running step.
    Cancel,
    /// Ended the run.
    Abort {
        /// Why.
        reason: Option<String>,
    },
    /// Confirmed the rollback.
    Rollback,
    /// Skipped a failed rollback action.
    SkipRollback {
        /// Typed reason.
        reason: String,
    },
    /// Cancelled a trigger's automatic-rollback countdown.
    CancelCountdown {
        /// The trigger.
        trigger: String,
    },
    /// Accepted a runbook that changed since the journal started.
    AcceptChangedRunbook {
        /// sha256 in the journal.
        old_sha256: String,
        /// sha256 now.
        new_sha256: String,
    },
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step done.
    Completed,
    /// Rolled back.
    RolledBack,
    /// Aborted or failed.
    Aborted,
}

impl RunOutcome {
    /// Process exit code (DESIGN §1).
    pub fn exit_code(self) -> i32 {
        match self {
            RunOutcome::Completed => 0,
            RunOutcome::RolledBack => 3,
            RunOutcome::Aborted => 4,
        }
    }
}

/// The word the operator types to execute a rollback plan.
pub const ROLLBACK_WORD: &str = "ROLLBACK";

/// One entry of the rollback plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackEntry {
    /// Step index.
    pub index: usize,
    /// Step id.
    pub id: String,
    /// Step title.
    pub title: String,
    /// Where the step stands.
    pub state: StepState,
    /// The rollback action as shown; `None` when the step has none.
    pub action: Option<String>,
}

/// A point of no return that has been crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PonrCrossed {
    /// Step index.
    pub index: usize,
    /// Step id.
    pub id: String,
    /// The runbook's text for it.
    pub text: String,
    /// When the step completed.
    pub at: DateTime<Utc>,
}

/// The rollback plan: rollback actions of attempted steps, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// Entries in execution order (reverse step order).
    pub entries: Vec<RollbackEntry>,
    /// The last crossed point of no return; only steps after it are in `entries`.
    pub point_of_no_return: Option<PonrCrossed>,
}

impl RollbackPlan {
    /// Whether executing the plan would run anything.
    pub fn has_actions(&self) -> bool {
        self.entries.iter().any(|e| e.action.is_some())
    }
}

/// Severity of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// For information.
    Info,
    /// Needs attention.
    Warn,
}

/// Everything the engine reports. All text is already masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First event of every session.
    RunStarted {
        /// The plan.
        run: Box<RunInfo>,
    },
    /// Journal only: the runbook text at start (DSN passwords masked).
    RunbookText {
        /// The text.
        source: String,
    },
    /// This session continues an earlier journal.
    Resumed {
        /// Steps already done.
        done: Vec<String>,
        /// A step that started and never finished.
        interrupted: Option<String>,
        /// Steps that failed last time and run again.
        failed_before: Vec<String>,
    },
    /// Restored state of one step from the journal (sent on resume, not journaled again).
    StepRestored {
        /// Index.
        index: usize,
        /// Restored state.
        state: StepState,
        /// Duration of the last attempt, ms.
        duration_ms: Option<u64>,
    },
    /// Waiting for the operator to run step `next`.
    Ready {
        /// Index of the next step.
        next: usize,
    },
    /// A step attempt started (journaled before anything runs).
    StepStarted {
        /// Index.
        index: usize,
        /// Id.
        id: String,
        /// 1-based attempt.
        attempt: u32,
        /// Wall-clock start.
        at: DateTime<Utc>,
        /// Command as shown.
        command: String,
    },
    /// The step's process group is running.
    Process {
        /// Index.
        index: usize,
        /// Process (and group) id.
        pid: u32,
    },
    /// Output lines of one stream, as read in one go (not journaled; the full output goes to
    /// the step's output file).
    Output {
        /// Index.
        index: usize,
        /// Which stream the lines came from.
        stream: Stream,
        /// Complete lines, each followed by `\n`, secrets masked.
        text: String,
    },
    /// A wait step polled.
    WaitProgress {
        /// Index.
        index: usize,
        /// Polls so far.
        polls: u32,
        /// Whether the condition held at the last poll.
        holding: bool,
        /// What the step is waiting for, and why.
        message: String,
    },
    /// A confirm step waits for the word.
    ConfirmRequested {
        /// Index.
        index: usize,
        /// The word to type.
        word: String,
    },
    /// The typed text was not the word.
    ConfirmRejected {
        /// Index.
        index: usize,
    },
    /// A step attempt ended.
    StepFinished {
        /// Index.
        index: usize,
        /// Id.
        id: String,
        /// Attempt.
        attempt: u32,
        /// Outcome.
        outcome: StepOutcome,
        /// Actual duration, ms.
        duration_ms: u64,
        /// Planned duration, ms.
        expected_ms: Option<u64>,
        /// Exit code of a shell step.
        exit_code: Option<i32>,
        /// Expectations.
        checks: Vec<CheckResult>,
        /// Why it failed, in one line.
        message: Option<String>,
        /// Where the full output is.
        output_file: Option<String>,
    },
    /// The engine waits for retry / skip / mark-done / abort.
    DecisionNeeded {
        /// Index.
        index: usize,
        /// Why.
        kind: DecisionKind,
        /// Explanation for the operator.
        message: String,
    },
    /// The operator did something.
    Operator {
        /// Id of the step concerned.
        step: Option<String>,
        /// What.
        #[serde(flatten)]
        action: OperatorAction,
        /// Who.
        by: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Something worth saying that is not a step event.
    Notice {
        /// Severity.
        level: Level,
        /// Text.
        message: String,
    },
    /// The rollback plan, on request (`Command::RollbackPlan`) or when a trigger proposes it.
    RollbackPlan {
        /// The plan.
        plan: RollbackPlan,
    },
    /// The operator confirmed the rollback (or a trigger's countdown expired); the plan runs now.
    RollbackStarted {
        /// The plan being executed.
        plan: RollbackPlan,
        /// Who started it: the operator's user name, or `trigger <name>`.
        by: String,
    },
    /// A rollback trigger's condition was met.
    TriggerFired {
        /// Trigger name.
        name: String,
        /// What was seen.
        message: String,
        /// What happens now.
        action: TriggerAction,
        /// For `action = "rollback"`: the rollback starts after this many ms unless cancelled.
        countdown_ms: Option<u64>,
        /// When.
        at: DateTime<Utc>,
    },
    /// An automatic-rollback countdown was cancelled.
    CountdownCancelled {
        /// Trigger name.
        name: String,
        /// Who cancelled it.
        by: String,
    },
    /// A rollback action started.
    RollbackActionStarted {
        /// Step index.
        index: usize,
        /// Step id.
        id: String,
        /// 1-based attempt.
        attempt: u32,
        /// When.
        at: DateTime<Utc>,
        /// The action as shown.
        command: String,
    },
    /// A rollback action ended.
    RollbackActionFinished {
        /// Step index.
        index: usize,
        /// Step id.
        id: String,
        /// Attempt.
        attempt: u32,
        /// Outcome.
        outcome: StepOutcome,
        /// Duration, ms.
        duration_ms: u64,
        /// Exit code of a shell action.
        exit_code: Option<i32>,
        /// Checks.
        checks: Vec<CheckResult>,
        /// Why it failed.
        message: Option<String>,
        /// Where the full output is.
        output_file: Option<String>,
    },
    /// The rollback ended.
    RollbackFinished {
        /// Every action ran (or was skipped with a reason).
        completed: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// The latest lag reading (sent every engine tick while it changes; journaled when
    /// `keep`, i.e. downsampled).
    LagSample {
        /// The sample.
        sample: crate::lag::LagSample,
        /// Whether this one goes to the journal.
        keep: bool,
    },
    /// A reconcile check's progress (not journaled).
    ReconcileProgress {
        /// Where the check is.
        progress: crate::reconcile::Progress,
    },
    /// A reconcile check finished (journaled), or its last result restored on resume.
    ReconcileResult {
        /// The result.
        result: Box<crate::reconcile::ReconcileResult>,
        /// Restored from the journal rather than run in this session.
        restored: bool,
    },
    /// The run ended (for this session).
    RunFinished {
        /// Outcome.
        outcome: RunOutcome,
        /// When.
        at: DateTime<Utc>,
    },
}

impl Event {
    /// Whether the event goes to the journal (output lines and restored state do not).
    pub fn journaled(&self) -> bool {
        if let Event::LagSample { keep, .. } = self {
            return *keep;
        }
        if let Event::ReconcileResult { restored, .. } = self {
            return !*restored;
        }
        !matches!(
            self,
            Event::Output { .. }
                | Event::ReconcileProgress { .. }
                | Event::StepRestored { .. }
                | Event::Ready { .. }
                | Event::RollbackPlan { .. }
        )
    }
}

/// What a front end asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Run the next step.
    RunNext,
    /// Retry the failed step, or re-run the interrupted one.
    Retry,
    /// Skip the failed step, with a reason.
    Skip {
        /// Why.
        reason: String,
    },
    /// Mark the interrupted step as done, with a reason.
    MarkDone {
        /// Why.
        reason: String,
    },
    /// Answer a confirm step.
    Confirm {
        /// What the operator typed.
        text: String,
    },
    /// Cancel the running step (kills its process group).
    Cancel,
    /// End the run here (a running step is cancelled first).
    Abort {
        /// Why.
        reason: Option<String>,
    },
    /// Run reconcile checks now: one by name, or all (`None`).
    Reconcile {
        /// A check's name; `None` for all.
        name: Option<String>,
    },
    /// Send the current rollback plan (`Event::RollbackPlan`).
    RollbackPlan,
    /// Cancel a trigger's automatic-rollback countdown.
    CancelCountdown,
    /// Execute the rollback plan; `confirmation` must be [`ROLLBACK_WORD`]. A running step is
    /// cancelled first.
    Rollback {
        /// What the operator typed.
        confirmation: String,
    },
}
