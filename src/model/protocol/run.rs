//! What a front end learns at the start of a session: the run, its steps, its lag probe, and
//! who is driving it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lag::LagUnit;

/// Who is driving the run: recorded with every operator action, attach and sign-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The login name: `$USER`, else `$LOGNAME`, else `unknown`.
    pub user: String,
    /// `$SSH_CLIENT` (`address port port`) when logged in over SSH: where the operator is.
    pub ssh_client: Option<String>,
    /// The host name of the machine cutover runs on.
    pub host: String,
    /// For a terminal that reached a detached engine over its socket: what the kernel vouches
    /// for about it. `ssh_client` and `host` are then only what that terminal claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerFacts>,
}

/// What the kernel vouches for about the process at the other end of the engine's socket
/// (`SO_PEERCRED`, `/proc/PID/stat`, and the login record of its terminal), as opposed to what
/// that process says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerFacts {
    /// Its user id.
    pub uid: u32,
    /// Its process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Its controlling terminal (`pts/3`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    /// Where the login on that terminal came from, as the system's login records (utmp,
    /// written by sshd or login) say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_from: Option<String>,
}

impl Operator {
    /// Reads the operator from this process's environment.
    pub fn from_env() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(crate::host::current_user_name)
            .unwrap_or_else(|| "unknown".to_string());
        let ssh_client = std::env::var("SSH_CLIENT").ok().filter(|s| !s.is_empty());
        Operator {
            user,
            ssh_client,
            host: crate::host::host_name(),
            peer: None,
        }
    }
}

/// One step as a front end shows it, without the runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// The runbook's `id`, unique in the runbook (`freeze-writes`).
    pub id: String,
    /// The one-line title shown next to the id.
    pub title: String,
    /// What the step does.
    pub kind: StepKind,
    /// The command, SQL, condition or word, as shown (secrets masked).
    pub command: String,
    /// The runbook's `notes` for the operator, if any.
    pub notes: Option<String>,
    /// The planned duration (`expected`), ms: the plan ETA adds these up.
    pub expected_ms: Option<u64>,
    /// The hard limit (`timeout`), ms: the step fails when it runs longer.
    pub timeout_ms: Option<u64>,
    /// The runbook's `point_of_no_return` text: once this step completes, the rollback stops
    /// before it.
    pub point_of_no_return: Option<String>,
    /// The step's rollback action as shown (masked), if it has one.
    pub rollback: Option<String>,
    /// Whether the step changes anything a rollback would have to undo (`changes`); one that
    /// does not is never "undo by hand".
    #[serde(default = "changes_by_default")]
    pub changes: bool,
}

/// A journal written before `changes` existed: every step counted as changing something.
fn changes_by_default() -> bool {
    true
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
    /// Sign-offs: each role approved by a person typing their name (`approve = [...]`).
    Approve,
    /// Target sequences set from the source's (`sync_sequences = {...}`).
    SyncSequences,
    /// A checksum check's differences patched on the target (`repair = {...}`).
    Repair,
}

impl StepKind {
    /// The runbook key of the action: `run`, `sql`, `wait` or `confirm`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Run => "run",
            StepKind::Sql => "sql",
            StepKind::Wait => "wait",
            StepKind::Confirm => "confirm",
            StepKind::Approve => "approve",
            StepKind::SyncSequences => "sync_sequences",
            StepKind::Repair => "repair",
        }
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the lag pane shows about the probe (computed by the probe crate, so every front end
/// says the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LagInfo {
    /// What is measured, for the pane title: `logical slot orders_sub on source`.
    pub description: String,
    /// The unit the thresholds compare in.
    pub unit: LagUnit,
    /// The `warn` threshold, in `unit` (bytes, seconds, or a plain number).
    pub warn: Option<f64>,
    /// The `critical` threshold, in `unit`.
    pub critical: Option<f64>,
    /// How often the probe polls, ms.
    pub interval_ms: u64,
    /// The connection the probe reads (`on`), when it reads one.
    #[serde(default)]
    pub on: Option<String>,
}

/// The run as a whole: the first event of every session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The runbook's `name`.
    pub name: String,
    /// The runbook's `owner`, if given.
    pub owner: Option<String>,
    /// The runbook's path, as given on the command line.
    pub runbook: String,
    /// The directory the session started in (absolute): its steps, and the runbook's path
    /// when relative, are read from there, so a resume is made from there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_in: Option<String>,
    /// The sha256 of the runbook file: a resume refuses a changed runbook unless accepted.
    pub sha256: String,
    /// The journal's path.
    pub journal: String,
    /// When the maintenance window opens, if the runbook sets one.
    pub window_start: Option<DateTime<Utc>>,
    /// How long the maintenance window lasts, minutes.
    pub window_minutes: Option<u32>,
    /// The steps, in the order they run.
    pub steps: Vec<StepInfo>,
    /// Whether the runbook has a `[lag]` section.
    pub lag_configured: bool,
    /// What the lag probe measures, when one runs.
    #[serde(default)]
    pub lag: Option<LagInfo>,
    /// The names of the `[[reconcile]]` checks, in runbook order.
    pub reconcile: Vec<String>,
    /// Who started this session.
    pub operator: Operator,
    /// Where each `[connections]` entry points: name → `host:port/dbname` (no password).
    #[serde(default)]
    pub connections: std::collections::BTreeMap<String, String>,
    /// The run's vars as this session resolved them (the runbook's `[vars]` with `--var`
    /// applied; secrets and passwords masked): a resume runs with the same ones.
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, String>,
    /// When this session's engine started (a terminal that attaches later counts from here).
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When the run itself started: its first session's start (a resumed run's elapsed time
    /// counts from here); `started_at` for a new run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_started_at: Option<DateTime<Utc>>,
    /// When the run's first step first started (earlier sessions included): the plan's clock
    /// starts here, so time spent before step 1 (preflight, reading) is not "behind plan".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_step_at: Option<DateTime<Utc>>,
    /// The cutover version that wrote this.
    pub version: String,
}
