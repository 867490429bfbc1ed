//! The runbook: model, parsing and validation.

pub mod diag;
pub mod dsn;
pub mod dsn_fill;
pub mod notify;
mod secret_spec;
pub mod shell;
mod sign_offs;
pub mod spec;
pub mod template;
pub mod units;
mod validate;

pub use sign_offs::{same_person, usable_name};

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use diag::{Diagnostic, Diagnostics};
pub use spec::{LagMethod, ReconcileKind, TriggerAction};
pub use template::Template;
pub use units::{Dur, Threshold};

/// Why a runbook could not be loaded: it could not be read, or it is not a valid runbook.
pub type LoadError = crate::file::TextError;

/// A validated runbook, ready to execute.
#[derive(Debug, Clone)]
pub struct Runbook {
    /// Path as given on the command line.
    pub path: String,
    /// The file's text.
    pub source: String,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
    /// What `cutover check` points out without refusing the runbook (a `:raw` SQL reference).
    pub notes: Vec<Diagnostic>,
    /// `[runbook] name`.
    pub name: String,
    /// `[runbook] owner`.
    pub owner: Option<String>,
    /// `[runbook] description`.
    pub description: Option<String>,
    /// The maintenance window.
    pub window: Option<Window>,
    /// `[runbook] distinct_people = true`: one person may not sign two roles of one step.
    pub distinct_people: bool,
    /// `[runbook] coverage`: an uncovered source table or sequence warns or fails preflight.
    pub coverage: spec::Coverage,
    /// `[vars]`, as text.
    pub vars: BTreeMap<String, String>,
    /// `[secrets]`: name to environment variable.
    pub secrets: BTreeMap<String, String>,
    /// `[connections]`.
    pub connections: BTreeMap<String, Connection>,
    /// `[lag]`.
    pub lag: Option<LagConfig>,
    /// `[[reconcile]]`.
    pub reconcile: Vec<ReconcileCheck>,
    /// `[[step]]`, in order.
    pub steps: Vec<Step>,
    /// `[[rollback_trigger]]`.
    pub triggers: Vec<Trigger>,
    /// `[[notify]]`.
    pub notify: Vec<notify::Notify>,
}

/// The maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// When the window opens (`start`, UTC).
    pub start: DateTime<Utc>,
    /// How long it stays open (`minutes`).
    pub minutes: u32,
}

impl Window {
    /// When the window closes.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::minutes(i64::from(self.minutes))
    }
}

/// A named database connection.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The DSN; may reference secrets.
    pub dsn: Template,
}

/// `[lag]`, validated.
#[derive(Debug, Clone)]
pub struct LagConfig {
    /// How lag is measured: a streaming standby, a logical slot, a heartbeat row, a query or
    /// a command.
    pub method: LagMethod,
    /// Connection the probe runs on.
    pub on: Option<String>,
    /// Second connection.
    pub target: Option<String>,
    /// Logical slot.
    pub slot: Option<String>,
    /// Subscription name.
    pub subscription: Option<String>,
    /// Standby application_name.
    pub application_name: Option<String>,
    /// Heartbeat table.
    pub table: Option<String>,
    /// `sql` method query.
    pub sql: Option<Template>,
    /// `command` method command.
    pub command: Option<Template>,
    /// Warning threshold.
    pub warn: Option<Threshold>,
    /// Critical threshold.
    pub critical: Option<Threshold>,
    /// Poll interval.
    pub interval: Duration,
}

impl LagConfig {
    /// `[lag] method = METHOD` on the `source` connection, polled every `interval`, and no
    /// other key set (no slot, query, command or threshold): what a probe is built from
    /// before its method's own keys are added.
    pub fn on_source(method: LagMethod, interval: Duration) -> LagConfig {
        LagConfig {
            method,
            on: Some("source".into()),
            target: None,
            slot: None,
            subscription: None,
            application_name: None,
            table: None,
            sql: None,
            command: None,
            warn: None,
            critical: None,
            interval,
        }
    }
}

/// `[[reconcile]]`, validated.
#[derive(Debug, Clone)]
pub struct ReconcileCheck {
    /// Unique name.
    pub name: String,
    /// What is compared: `count`, `checksum`, `query`, `schema` or `sequences`.
    pub kind: ReconcileKind,
    /// Source connection.
    pub source: String,
    /// Target connection.
    pub target: String,
    /// The table compared (`schema.table`), for `count` and `checksum` without `tables`.
    pub table: Option<String>,
    /// Target table.
    pub target_table: Option<String>,
    /// Key columns.
    pub key: Vec<String>,
    /// Only these columns.
    pub columns: Option<Vec<String>>,
    /// All but these columns.
    pub exclude: Vec<String>,
    /// Tolerated mismatching rows.
    pub max_mismatch_rows: u64,
    /// Tolerated mismatching rows, percent.
    pub max_mismatch_pct: Option<f64>,
    /// Re-check mismatches after lag drains.
    pub recheck_after_lag: bool,
    /// `hash = "text"`: the range pass hashes every row's text (sha256 of the key-ordered row
    /// texts), never the columns' own hash functions.
    pub hash_text: bool,
    /// Query (kind = query).
    pub sql: Option<Template>,
    /// Target query.
    pub target_sql: Option<Template>,
    /// `schema` / `sequences`: the schemas compared.
    pub schemas: Vec<String>,
    /// `sequences`: the sequences compared (none: every sequence of `schemas`).
    pub sequences: Vec<String>,
    /// Tables: for `schema`, the tables compared; for `count` and `checksum`, `schema.table`
    /// globs (`*`, `?`) expanded on the source at run time, each table compared on its own.
    pub tables: Vec<String>,
    /// `count` / `checksum` with `tables`: globs of tables left out.
    pub exclude_tables: Vec<String>,
    /// `count` / `checksum`: at most this many rows read per second per side (`None`: as fast
    /// as the servers go).
    pub max_rows_per_second: Option<u64>,
    /// `count` / `checksum`: sessions per side comparing ranges at the same time (in one
    /// shared snapshot); 1 when not set.
    pub concurrency: Option<u32>,
    /// `count` / `checksum`: slow down when a side's range latency rises well above its
    /// baseline (`throttle = "adaptive"`).
    pub adaptive_throttle: bool,
    /// `count` / `checksum`: a query on the source (its own session) that pauses the check
    /// while it returns true (e.g. a replica lagging).
    pub pause_when: Option<Template>,
    /// `checksum` with a key: the column holding when a row last changed; the rounds of
    /// `cutover reconcile --every` then compare only the rows changed since the last round.
    pub changed_since: Option<String>,
    /// With `changed_since`: a full comparison at least this often (default 24h).
    pub full_every: Option<std::time::Duration>,
    /// `checksum`: how many key ranges to compare (`None`: one per 5,000 rows, fewer for wide rows).
    pub partitions: Option<u32>,
    /// How far numbers in a `query` result may differ and still be equal.
    pub tolerance: Option<Tolerance>,
}

impl ReconcileCheck {
    /// A check of `kind` on `table` keyed by `key`, between the connections `source` and
    /// `target`, with everything else as a runbook that leaves it out has it (no tolerated
    /// mismatches, re-checked after the lag drains, no pacing). For tools and tests that build a
    /// check without a runbook.
    pub fn on_table(name: &str, kind: ReconcileKind, table: &str, key: &[String]) -> Self {
        ReconcileCheck {
            name: name.to_string(),
            kind,
            source: "source".into(),
            target: "target".into(),
            table: Some(table.to_string()),
            target_table: None,
            key: key.to_vec(),
            columns: None,
            exclude: Vec::new(),
            max_mismatch_rows: 0,
            max_mismatch_pct: None,
            recheck_after_lag: true,
            hash_text: false,
            sql: None,
            target_sql: None,
            schemas: Vec::new(),
            sequences: Vec::new(),
            tables: Vec::new(),
            exclude_tables: Vec::new(),
            max_rows_per_second: None,
            adaptive_throttle: false,
            concurrency: None,
            pause_when: None,
            changed_since: None,
            full_every: None,
            partitions: None,
            tolerance: None,
        }
    }
}

/// How far two numbers may differ and still be equal: within `absolute`, or within
/// `relative` of the larger magnitude (either suffices).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tolerance {
    /// Largest absolute difference.
    pub absolute: Option<f64>,
    /// Largest difference relative to the larger of the two magnitudes.
    pub relative: Option<f64>,
}

impl Tolerance {
    /// Whether `a` and `b` are equal within the tolerance.
    pub fn allows(&self, a: f64, b: f64) -> bool {
        self.allows_diff((a - b).abs(), a.abs().max(b.abs()))
    }

    /// Whether two numbers `d` apart, the larger of magnitude `magnitude`, are equal within
    /// the tolerance.
    pub fn allows_diff(&self, d: f64, magnitude: f64) -> bool {
        self.absolute.is_some_and(|t| d <= t) || self.relative.is_some_and(|t| d <= t * magnitude)
    }

    /// In words, for notes: `absolute 0.01`, `relative 1e-9`.
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        if let Some(a) = self.absolute {
            v.push(format!("absolute {a}"));
        }
        if let Some(r) = self.relative {
            v.push(format!("relative {r}"));
        }
        v.join(" or ")
    }
}

/// One checklist step, validated.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique id.
    pub id: String,
    /// Title (defaults to the id).
    pub title: String,
    /// Notes for the operator.
    pub notes: Option<String>,
    /// What the step does.
    pub action: Action,
    /// Expected outcome.
    pub expect: Expect,
    /// Planned duration.
    pub expected: Option<Duration>,
    /// Hard limit.
    pub timeout: Option<Duration>,
    /// How to undo it.
    pub rollback: Option<RollbackAction>,
    /// Point-of-no-return text.
    pub point_of_no_return: Option<String>,
    /// Whether the step changes anything a rollback would have to undo: `run`, `sql`,
    /// `sync_sequences` and `repair` steps unless they say `changes = false`; waits, confirms
    /// and sign-offs never (unless they say `changes = true`). A step that changes nothing is
    /// never "undo by hand".
    pub changes: bool,
    /// `progress = {...}`: how far the step is, polled while it runs.
    pub progress: Option<StepProgress>,
}

/// A step's progress query: polled on its own session while the step runs, its first row
/// read as (done, total).
#[derive(Debug, Clone)]
pub struct StepProgress {
    /// The query.
    pub sql: Template,
    /// The connection it runs on.
    pub on: String,
    /// How often.
    pub every: Duration,
    /// What it counts (`rows`, `MB`, `tables`).
    pub unit: String,
}

/// The one action of a step.
#[derive(Debug, Clone)]
pub enum Action {
    /// `run = "..."`.
    Run(Template),
    /// `sql = "..."` on a connection.
    Sql {
        /// The statement, with `${...}` references resolved when it runs.
        sql: Template,
        /// Connection name.
        on: String,
    },
    /// `wait = {...}`.
    Wait(Wait),
    /// `confirm = "WORD"`.
    Confirm(String),
    /// `approve = ["role", ...]`: each role signed off by a person typing their name.
    Approve(Vec<String>),
    /// `sync_sequences = {...}`: every sequence of `schemas` on `to` set to its value on
    /// `from` plus `margin`.
    SyncSequences {
        /// Connection read.
        from: String,
        /// Connection written.
        to: String,
        /// The schemas whose sequences are set.
        schemas: Vec<String>,
        /// Added to each value.
        margin: i64,
    },
    /// `repair = {...}`: the differences of checksum check `check` patched on its target
    /// after a typed confirm, then the check run again.
    Repair {
        /// The check's name.
        check: String,
        /// More differing rows than this: a reload, not a repair (the step fails).
        max_rows: u64,
        /// Whether triggers fire while the patch applies.
        fire_triggers: bool,
    },
}

impl Action {
    /// `run`, `sql`, `wait` or `confirm`.
    pub fn kind(&self) -> crate::protocol::StepKind {
        use crate::protocol::StepKind;
        match self {
            Action::Run(_) => StepKind::Run,
            Action::Sql { .. } => StepKind::Sql,
            Action::Wait(_) => StepKind::Wait,
            Action::Confirm(_) => StepKind::Confirm,
            Action::Approve(_) => StepKind::Approve,
            Action::SyncSequences { .. } => StepKind::SyncSequences,
            Action::Repair { .. } => StepKind::Repair,
        }
    }

    /// What the operator sees as the command (secrets masked).
    pub fn display(&self) -> String {
        match self {
            Action::Run(t) => t.display(),
            Action::Sql { sql, on } => format!("[{on}] {}", sql.display()),
            Action::Wait(w) => w.describe(),
            Action::Confirm(word) => format!("type {word} to confirm"),
            Action::Approve(roles) => format!("sign-off by {}", roles.join(", ")),
            Action::SyncSequences {
                from,
                to,
                schemas,
                margin,
            } => format!(
                "sequences of {} from {from} to {to}, plus {margin}",
                schemas.join(", ")
            ),
            Action::Repair {
                check,
                max_rows,
                fire_triggers,
            } => format!(
                "repair what check {check} finds (at most {max_rows} rows; triggers {})",
                if *fire_triggers { "fire" } else { "skipped" }
            ),
        }
    }
}

/// A polled condition.
#[derive(Debug, Clone)]
pub struct Wait {
    /// The condition.
    pub cond: WaitCond,
    /// Poll interval.
    pub every: Duration,
    /// How long the condition must hold.
    pub hold: Duration,
}

impl Wait {
    /// A one-line description.
    pub fn describe(&self) -> String {
        let hold = if self.hold.is_zero() {
            String::new()
        } else {
            format!(" for {}", units::format_duration(self.hold))
        };
        match &self.cond {
            WaitCond::LagBelow(t) => format!("wait until lag < {t}{hold}"),
            WaitCond::Reconcile(names) => {
                format!("wait until reconcile {} passes{hold}", names.join(", "))
            }
            WaitCond::Sql { sql, on } => {
                format!("wait until [{on}] {} is true{hold}", sql.display())
            }
            WaitCond::Run(t) => format!(
                "wait until `{}` exits 0 (every {}){hold}",
                t.display(),
                units::format_duration(self.every)
            ),
        }
    }
}

/// What a wait step polls.
#[derive(Debug, Clone)]
pub enum WaitCond {
    /// Lag below a threshold.
    LagBelow(Threshold),
    /// Reconcile checks pass: the named ones (`["all"]`: every check).
    Reconcile(Vec<String>),
    /// A query returns true.
    Sql {
        /// The query; the wait is over once it returns true.
        sql: Template,
        /// The connection it runs on.
        on: String,
    },
    /// A command exits 0.
    Run(Template),
}

/// What a step's outcome must be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// Exit code for `run` (0 unless given).
    pub exit: Option<i32>,
    /// Regex over stdout.
    pub stdout: Option<String>,
    /// Stderr must be empty.
    pub stderr_empty: bool,
    /// Row count for `sql`.
    pub rows: Option<u64>,
    /// Scalar value for `sql`.
    pub value: Option<String>,
}

/// How a step is undone.
#[derive(Debug, Clone)]
pub enum RollbackAction {
    /// Shell command.
    Run(Template),
    /// A `repair` step's own: its inverse patch (saved before the patch applied) applied on
    /// connection `on`.
    RepairInverse {
        /// The check's target connection.
        on: String,
    },
    /// SQL on a connection.
    Sql {
        /// The statement that undoes the step.
        sql: Template,
        /// The connection it runs on.
        on: String,
    },
}

/// `[[rollback_trigger]]`, validated.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Its unique name, as the banner, the journal and the report show it.
    pub name: String,
    /// What fires it.
    pub when: TriggerCond,
    /// How long the condition must hold.
    pub hold: Duration,
    /// What it does when it fires: alert (banner, bell, the rollback plan proposed), or roll
    /// back after its countdown.
    pub action: TriggerAction,
    /// Countdown before an automatic rollback.
    pub countdown: Option<Duration>,
}

/// What fires a trigger.
#[derive(Debug, Clone)]
pub enum TriggerCond {
    /// Lag above a threshold.
    LagAbove(Threshold),
    /// Reconcile mismatching rows above.
    MismatchRowsAbove(u64),
    /// A step failed.
    StepFailed(String),
    /// Window time left below.
    WindowLeftBelow(Duration),
    /// A query returns true.
    Sql {
        /// The query; the trigger fires while it returns true.
        sql: Template,
        /// The connection it runs on.
        on: String,
    },
}

impl Runbook {
    /// Reads and validates a runbook file; `overrides` as in [`Runbook::parse`].
    pub fn load(path: &Path, overrides: &BTreeMap<String, String>) -> Result<Runbook, LoadError> {
        let (shown, source) = Self::read_source(path)?;
        Self::parse(&shown, &source, overrides).map_err(LoadError::Invalid)
    }

    /// A runbook file's name as shown and its text: a regular file of at most
    /// [`MAX_RUNBOOK_BYTES`], UTF-8. Parse it with [`Runbook::parse`] (once per fleet member).
    pub fn read_source(path: &Path) -> Result<(String, String), LoadError> {
        crate::file::read_text(path, MAX_RUNBOOK_BYTES, "runbook")
    }

    /// Parses and validates runbook text; `file` is used in error messages and
    /// `overrides` (`--var key=value`) replace or add `[vars]`.
    pub fn parse(
        file: &str,
        source: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Runbook, Diagnostics> {
        validate::parse(file, source, overrides)
    }

    /// Index of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

/// The largest runbook read: a runbook is a page of TOML, not data.
pub const MAX_RUNBOOK_BYTES: u64 = 16 * 1024 * 1024;

/// sha256 of text, as lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
