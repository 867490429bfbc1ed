//! Everything the engine reports. All text is already masked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    CheckResult, DecisionKind, Operator, OperatorAction, RollbackPlan, RunInfo, RunOutcome,
    StepOutcome, StepState, Stream, TriggerAction,
};

/// What happened to a terminal of a detached run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientChange {
    /// It attached (`cutover attach`, `cutover watch`, or the terminal that started the run).
    Attached,
    /// It left: the operator detached, or the terminal (the SSH session) went away.
    Detached,
    /// It took control from the terminal that had it (which now only watches).
    TookOver,
}

/// What a terminal of a detached run may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientRole {
    /// It drives the run: its keys send commands. One terminal at a time.
    Control,
    /// It shows the run and sends nothing (`cutover watch`).
    Watch,
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
        /// The run and its steps.
        run: Box<RunInfo>,
    },
    /// Journal only: the runbook's text at the start of the session (secrets and DSN
    /// passwords masked), so a resume can show what changed.
    RunbookText {
        /// The masked runbook text.
        source: String,
    },
    /// This session continues an earlier journal.
    Resumed {
        /// Ids of the steps already done (passed, skipped or marked done).
        done: Vec<String>,
        /// The id of a step that started and never finished.
        interrupted: Option<String>,
        /// Ids of the steps whose last attempt failed.
        failed_before: Vec<String>,
    },
    /// Restored state of one step from the journal (sent on resume, not journaled again).
    StepRestored {
        /// The step's position (0-based).
        index: usize,
        /// Where it stands.
        state: StepState,
        /// How long its last finished attempt took, ms.
        duration_ms: Option<u64>,
        /// How its last finished attempt ended (a failed step: failed, timed out, cancelled).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<StepOutcome>,
        /// Why its last finished attempt did not pass, as that session said it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The file holding that attempt's full output.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_file: Option<String>,
        /// Its rollback action was done by an earlier session (a rollback resumed after a
        /// crash): a fold of this session's events alone knows it from this.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rolled_back: bool,
    },
    /// Waiting for the operator to run step `next`.
    Ready {
        /// The position of the step `RunNext` would run.
        next: usize,
    },
    /// A step attempt started (journaled before anything runs).
    StepStarted {
        /// The step's position (0-based).
        index: usize,
        /// The step's id.
        id: String,
        /// Which attempt this is (1-based).
        attempt: u32,
        /// When it started (wall clock).
        at: DateTime<Utc>,
        /// The command as shown (masked).
        command: String,
    },
    /// The step's process group is running.
    Process {
        /// The step's position (0-based).
        index: usize,
        /// The shell's process id, which is also its process group's id.
        pid: u32,
    },
    /// Output lines of one stream, as read in one go (not journaled; the full output goes to
    /// the step's output file).
    Output {
        /// The step's position (0-based).
        index: usize,
        /// Which stream the lines came from.
        stream: Stream,
        /// Complete lines, each followed by `\n`, secrets masked.
        text: String,
        /// When they were read (absent from older engines).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
        /// Lines of this step that came before these and were not sent to this terminal: it
        /// keeps only the newest lines of a step, and the newer lines sent with these push them
        /// out (0, and absent, everywhere else: the engine and the journal never skip a line).
        #[serde(default, skip_serializing_if = "crate::is_zero")]
        skipped: u64,
    },
    /// A wait step polled.
    WaitProgress {
        /// The step's position (0-based).
        index: usize,
        /// Polls (or rounds of checks) so far.
        polls: u32,
        /// Whether the condition held at the last poll.
        holding: bool,
        /// What the step is waiting for, and why.
        message: String,
    },
    /// A confirm step waits for the word.
    ConfirmRequested {
        /// The step's position (0-based).
        index: usize,
        /// The word to type, exactly.
        word: String,
    },
    /// The typed text was not the word.
    ConfirmRejected {
        /// The step's position (0-based).
        index: usize,
    },
    /// An approve step waits for its sign-offs (sent again after each one).
    ApprovalRequested {
        /// The step's position (0-based).
        index: usize,
        /// Every role the step needs.
        roles: Vec<String>,
        /// The roles signed off so far, with the name typed for each.
        approved: Vec<(String, String)>,
    },
    /// A step attempt ended.
    StepFinished {
        /// The step's position (0-based).
        index: usize,
        /// The step's id.
        id: String,
        /// Which attempt ended (1-based).
        attempt: u32,
        /// How it ended.
        outcome: StepOutcome,
        /// How long it took, ms.
        duration_ms: u64,
        /// How long it was planned to take, ms.
        expected_ms: Option<u64>,
        /// The exit code of a shell step.
        exit_code: Option<i32>,
        /// Each expectation and whether it held.
        checks: Vec<CheckResult>,
        /// Why it did not pass, in one line.
        message: Option<String>,
        /// The file holding the attempt's full output.
        output_file: Option<String>,
    },
    /// The engine waits for retry / skip / mark-done / abort.
    DecisionNeeded {
        /// The step's position (0-based).
        index: usize,
        /// What happened, and so which decisions are possible.
        kind: DecisionKind,
        /// The explanation shown to the operator.
        message: String,
        /// For an interrupted attempt: its process group from the earlier session, while it is
        /// still running. A re-run is refused until it ends or is stopped
        /// (`Command::StopInterrupted`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        still_running: Option<u32>,
    },
    /// The operator did something.
    Operator {
        /// The id of the step concerned, when the action concerns one.
        step: Option<String>,
        /// What the operator did.
        #[serde(flatten)]
        action: OperatorAction,
        /// The operator's user name.
        by: String,
        /// When it happened.
        at: DateTime<Utc>,
    },
    /// Something worth saying that is not a step event.
    Notice {
        /// How much attention it needs.
        level: Level,
        /// What to say.
        message: String,
    },
    /// The rollback plan, on request (`Command::RollbackPlan`) or when a trigger proposes it.
    RollbackPlan {
        /// The plan as it stands now.
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
        /// The trigger's name.
        name: String,
        /// What was seen (`lag 300 MB above 256 MB for 1m`).
        message: String,
        /// What happens now: an alert, or an automatic rollback after a countdown.
        action: TriggerAction,
        /// For `action = "rollback"`: the rollback starts after this many ms unless cancelled.
        countdown_ms: Option<u64>,
        /// When it happened.
        at: DateTime<Utc>,
    },
    /// A fired trigger's finding grew while it stays fired (a `mismatch_rows_above` trigger
    /// that fired on the first check's result and more differing rows came in): its message
    /// now. The countdown, if any, is unchanged.
    TriggerUpdated {
        /// The trigger's name.
        name: String,
        /// What is seen now (`3 mismatching rows (above 0): accounts 2, orders 1`).
        message: String,
    },
    /// An automatic-rollback countdown was cancelled.
    CountdownCancelled {
        /// The trigger's name.
        name: String,
        /// The user name of who cancelled it.
        by: String,
    },
    /// A rollback action started.
    RollbackActionStarted {
        /// The step's position (0-based).
        index: usize,
        /// The step's id.
        id: String,
        /// Which attempt of the rollback action this is (1-based).
        attempt: u32,
        /// When it started.
        at: DateTime<Utc>,
        /// The action as shown (masked).
        command: String,
    },
    /// A rollback action ended.
    RollbackActionFinished {
        /// The step's position (0-based).
        index: usize,
        /// The step's id.
        id: String,
        /// Which attempt ended (1-based).
        attempt: u32,
        /// How it ended.
        outcome: StepOutcome,
        /// How long it took, ms.
        duration_ms: u64,
        /// The exit code of a shell action.
        exit_code: Option<i32>,
        /// The checks made (a rollback action passes on exit 0, or a SQL action that runs).
        checks: Vec<CheckResult>,
        /// Why it did not pass, in one line.
        message: Option<String>,
        /// The file holding the action's full output.
        output_file: Option<String>,
    },
    /// The rollback ended.
    RollbackFinished {
        /// Whether every action ran (or was skipped with a reason).
        completed: bool,
        /// When it ended.
        at: DateTime<Utc>,
    },
    /// The latest lag reading (sent every engine tick while it changes; journaled when
    /// `keep`, i.e. downsampled).
    LagSample {
        /// The probe's latest reading (or its failure).
        sample: crate::lag::LagSample,
        /// Whether this one goes to the journal.
        keep: bool,
    },
    /// How far a running step is, from its `progress` query (not journaled).
    StepProgress {
        /// The step's position (0-based).
        index: usize,
        /// How much is done.
        done: u64,
        /// Of how much, when the query knows.
        total: Option<u64>,
        /// What is counted (`rows`).
        unit: String,
        /// The query failed this time (masked): the figures are the last good ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// When it was read.
        at: DateTime<Utc>,
    },
    /// A reconcile check's progress (not journaled).
    ReconcileProgress {
        /// Which check, in which phase, how many partitions done.
        progress: crate::reconcile::Progress,
    },
    /// A reconcile check finished (journaled), or its last result restored on resume.
    ReconcileResult {
        /// The check's verdict, counts and mismatching keys.
        result: Box<crate::reconcile::ReconcileResult>,
        /// Restored from the journal rather than run in this session.
        restored: bool,
    },
    /// A terminal attached to the run, left it, or took control of it (journaled: who was
    /// at the controls, from where, and when).
    Client {
        /// What happened.
        change: ClientChange,
        /// What the terminal may do now.
        role: ClientRole,
        /// Who is at that terminal.
        who: Operator,
        /// For a takeover: who had control before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Operator>,
        /// The terminal's number in this engine session (as its welcome said).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminal: Option<u64>,
        /// For a detach: whether the operator left on purpose (`q d`), or the terminal went
        /// away (the SSH session dropped, the window closed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_purpose: Option<bool>,
    },
    /// A `repair` step's patch: saved (its inverse first), and — once `applied` — how it went.
    /// Journaled twice: when the patch is saved (before the word is typed) and after it applied.
    Repair {
        /// The step.
        index: usize,
        /// What the patch holds and what became of it.
        repair: Box<crate::protocol::RepairRecord>,
    },
    /// A rollback applied (committed) the inverse of a `repair` step's patch: a later try of
    /// the rollback does not apply it again.
    RepairUndone {
        /// The step.
        index: usize,
        /// The inverse patch file, as its [`Event::Repair`] record names it.
        inverse_file: String,
    },
    /// What preflight found before step 1 (connections, replication, tables, window, room).
    /// When it `blocks`, the engine waits for [`super::Command::OverridePreflight`] or
    /// [`super::Command::Abort`].
    Preflight {
        /// Every finding, in order (details masked).
        findings: Vec<crate::preflight::Finding>,
        /// Whether a finding stops the run.
        blocks: bool,
    },
    /// The run ended (for this session).
    RunFinished {
        /// How the run ended.
        outcome: RunOutcome,
        /// When it happened.
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
                | Event::StepProgress { .. }
                | Event::StepRestored { .. }
                | Event::Ready { .. }
                | Event::RollbackPlan { .. }
        )
    }
}
