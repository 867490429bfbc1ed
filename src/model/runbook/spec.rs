//! The runbook file exactly as written (serde types). `validate` turns it into a [`super::Runbook`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

use super::units::{Dur, Threshold};

/// A string with its location in the file.
pub type SStr = Spanned<String>;

pub use super::secret_spec::SecretSpec;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// `[runbook]`
    pub runbook: MetaSpec,
    /// `[vars]`
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<VarValue>>,
    /// `[secrets]`
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<SecretSpec>>,
    /// `[connections.NAME]`
    #[serde(default)]
    pub connections: BTreeMap<String, Spanned<ConnectionSpec>>,
    /// `[lag]`
    pub lag: Option<Spanned<LagSpec>>,
    /// `[[reconcile]]`
    #[serde(default)]
    pub reconcile: Vec<Spanned<ReconcileSpec>>,
    /// `[[step]]`
    #[serde(default)]
    pub step: Vec<Spanned<StepSpec>>,
    /// `[[rollback_trigger]]`
    #[serde(default)]
    pub rollback_trigger: Vec<Spanned<TriggerSpec>>,
    /// `[[notify]]`
    #[serde(default)]
    pub notify: Vec<Spanned<NotifySpec>>,
}

/// `[[notify]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    /// Event kinds (`trigger`, `step_failed`, ...).
    pub on: Spanned<Vec<SStr>>,
    /// The command.
    pub run: SStr,
    /// Killed after this long (default 10s).
    pub timeout: Option<Spanned<Dur>>,
    /// Tries after a failed one (default 2).
    pub retries: Option<Spanned<u32>>,
    /// For `behind_plan`: how far behind (default 5m).
    pub behind_by: Option<Spanned<Dur>>,
}

/// `[runbook]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSpec {
    /// Shown in the header.
    pub name: String,
    /// Who owns the cutover.
    pub owner: Option<String>,
    /// Free text shown in reports.
    pub description: Option<String>,
    /// The maintenance window.
    pub window: Option<Spanned<WindowSpec>>,
    /// Whether the roles of one sign-off step must be signed by different people.
    #[serde(default)]
    pub distinct_people: bool,
    /// What a source table or sequence no check covers is: `warn` (default) or `strict` (an error).
    pub coverage: Option<Coverage>,
}

/// `[runbook] coverage`: what preflight makes of a source table or sequence that no reconcile
/// check covers and no `exclude_tables` names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// A warning.
    #[default]
    Warn,
    /// A failure: the run does not start.
    Strict,
}

/// `window = { start = "...", minutes = 90 }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// RFC 3339 start time.
    pub start: SStr,
    /// Length in minutes.
    pub minutes: Spanned<u32>,
}

/// A `[vars]` value: strings, integers, floats and booleans are all used as text.
#[derive(Debug, Clone)]
pub struct VarValue(pub String);

impl<'de> Deserialize<'de> for VarValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = VarValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VarValue, E> {
                Ok(VarValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<VarValue, E> {
                Ok(VarValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<VarValue, E> {
                Ok(VarValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<VarValue, E> {
                Ok(VarValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<VarValue, E> {
                Ok(VarValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[connections.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// libpq conninfo or `postgres://` URL.
    pub dsn: SStr,
}

/// How lag is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LagMethod {
    /// `pg_stat_replication` / standby replay.
    Streaming,
    /// Replication slot / subscription.
    Logical,
    /// Timestamp written on the source, read on the target.
    Heartbeat,
    /// A user query returning a number.
    Sql,
    /// A user command printing a number.
    Command,
}

/// `[lag]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagSpec {
    /// The method.
    pub method: Spanned<LagMethod>,
    /// Connection the probe runs on (the source / primary).
    pub on: Option<SStr>,
    /// Second connection (subscriber, standby or heartbeat reader).
    pub target: Option<SStr>,
    /// Logical replication slot name.
    pub slot: Option<SStr>,
    /// Subscription name on the target.
    pub subscription: Option<SStr>,
    /// Standby `application_name` for streaming.
    pub application_name: Option<SStr>,
    /// Heartbeat table (default `public.cutover_heartbeat`).
    pub table: Option<SStr>,
    /// Query for `method = "sql"`.
    pub sql: Option<SStr>,
    /// Command for `method = "command"`.
    pub command: Option<SStr>,
    /// Warning threshold.
    pub warn: Option<Spanned<Threshold>>,
    /// Critical threshold.
    pub critical: Option<Spanned<Threshold>>,
    /// Poll interval (default 1s).
    pub interval: Option<Spanned<Dur>>,
}

/// What a reconcile check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileKind {
    /// Row counts per key range.
    Count,
    /// Hashes per key range, bisected to rows.
    Checksum,
    /// A business query on both sides.
    Query,
    /// Sequence values.
    Sequences,
    /// Table structure.
    Schema,
}

/// `key = "id"` or `key = ["tenant_id", "id"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec(pub Vec<String>);

impl<'de> Deserialize<'de> for KeySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrMore {
            expecting: "a column name or an array of column names",
            empty: "key must name at least one column, e.g. key = \"id\" or key = [\"tenant_id\", \"id\"]",
        })
        .map(KeySpec)
    }
}

/// `reconcile = "orders"` or `reconcile = ["orders", "invoices"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrMore {
            expecting: "a check name, \"all\", or an array of check names",
            empty: "the list names no check: give at least one name, e.g. reconcile = [\"orders\", \"invoices\"], or \"all\"",
        })
        .map(NameList)
    }
}

/// Reads a string, or an array of strings that is not empty, as a list of strings.
struct OneOrMore {
    /// What the value should be, for a value of another type.
    expecting: &'static str,
    /// The error for an empty array.
    empty: &'static str,
}

impl<'de> Visitor<'de> for OneOrMore {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut all = Vec::new();
        while let Some(c) = seq.next_element::<String>()? {
            all.push(c);
        }
        if all.is_empty() {
            return Err(de::Error::custom(self.empty));
        }
        Ok(all)
    }
}

/// `[[reconcile]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSpec {
    /// Unique name.
    pub name: SStr,
    /// What to compare.
    pub kind: ReconcileKind,
    /// Source connection (default `source`).
    pub source: Option<SStr>,
    /// Target connection (default `target`).
    pub target: Option<SStr>,
    /// Table (schema-qualified or not).
    pub table: Option<SStr>,
    /// Table name on the target when it differs.
    pub target_table: Option<SStr>,
    /// Key column(s).
    pub key: Option<Spanned<KeySpec>>,
    /// Only these columns.
    pub columns: Option<Spanned<Vec<String>>>,
    /// All columns but these.
    pub exclude: Option<Spanned<Vec<String>>>,
    /// Mismatching rows tolerated.
    pub max_mismatch_rows: Option<Spanned<u64>>,
    /// Mismatching rows tolerated, in percent of rows.
    pub max_mismatch_pct: Option<Spanned<f64>>,
    /// `after_lag_drains` (default) or `never`.
    pub recheck: Option<SStr>,
    /// `native` (default: each column with its type's own hash where that is exact) or `text`.
    pub hash: Option<SStr>,
    /// Query for `kind = "query"`.
    pub sql: Option<SStr>,
    /// Query on the target when it differs.
    pub target_sql: Option<SStr>,
    /// Schemas for `sequences` / `schema`.
    pub schemas: Option<Spanned<Vec<String>>>,
    /// Sequences for `sequences`.
    pub sequences: Option<Spanned<Vec<String>>>,
    /// Tables for `schema`; table globs for `count` / `checksum`.
    pub tables: Option<Spanned<Vec<String>>>,
    /// Table globs left out (`count` / `checksum` with `tables`).
    pub exclude_tables: Option<Spanned<Vec<String>>>,
    /// Rows read per second per side, at most (`count` / `checksum`).
    pub max_rows_per_second: Option<Spanned<u64>>,
    /// Sessions per side (`count` / `checksum`).
    pub concurrency: Option<Spanned<u32>>,
    /// `"adaptive"`: slow down when the servers slow down (`count` / `checksum`).
    pub throttle: Option<SStr>,
    /// SQL on the source that pauses the check while it returns true.
    pub pause_when: Option<SStr>,
    /// Column of the last change (`checksum` with a key): incremental watch rounds.
    pub changed_since: Option<SStr>,
    /// A full comparison at least this often with `changed_since` (a duration).
    pub full_every: Option<SStr>,
    /// Number of key-range partitions (default chosen from the row count).
    pub partitions: Option<Spanned<u32>>,
    /// How far numbers may differ and still be equal (`query`).
    pub tolerance: Option<Spanned<ToleranceSpec>>,
}

/// `tolerance = { absolute = 0.01 }` or `{ relative = 1e-9 }` (or both: either suffices).
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct ToleranceSpec {
    /// Equal when `|a - b| <= absolute`.
    pub absolute: Option<f64>,
    /// Equal when `|a - b| <= relative * max(|a|, |b|)`.
    pub relative: Option<f64>,
}

/// `sync_sequences = { from = "source", to = "target", schemas = ["public"], margin = 1000 }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// Connection read (default `source`).
    pub from: Option<SStr>,
    /// Connection written (default `target`).
    pub to: Option<SStr>,
    /// Schemas whose sequences are copied.
    pub schemas: Spanned<Vec<String>>,
    /// Added to each source value (default 0).
    pub margin: Option<Spanned<i64>>,
}

/// `repair = { check = "orders", max_rows = 100, triggers = "fire" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairSpec {
    /// The checksum check whose differences are repaired.
    pub check: SStr,
    /// More differing rows than this: the step fails without changing anything (default 100).
    pub max_rows: Option<Spanned<u64>>,
    /// `fire` (default) or `skip` (`session_replication_role = replica` while applying).
    pub triggers: Option<SStr>,
}

/// `expect = { ... }`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Exit code (default 0).
    pub exit: Option<Spanned<i32>>,
    /// Regex that stdout must match.
    pub stdout: Option<SStr>,
    /// Stderr must be empty.
    pub stderr_empty: Option<Spanned<bool>>,
    /// Number of rows a SQL step returns.
    pub rows: Option<Spanned<u64>>,
    /// Single scalar a SQL step returns (as text).
    pub value: Option<SStr>,
}

/// `wait = { ... }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    /// Lag below this.
    pub lag_below: Option<Spanned<Threshold>>,
    /// `all`, a reconcile name, or a list of names.
    pub reconcile: Option<Spanned<NameList>>,
    /// A query that returns true.
    pub sql: Option<SStr>,
    /// Connection for `sql`.
    pub on: Option<SStr>,
    /// A command that exits 0.
    pub run: Option<SStr>,
    /// Poll interval (default 2s).
    pub every: Option<Spanned<Dur>>,
    /// The condition must hold this long.
    #[serde(rename = "for")]
    pub hold: Option<Dur>,
}

/// `progress = { sql = "...", on = "target", every = "5s", unit = "rows" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressSpec {
    /// A query returning one row: how much is done, and the total (or NULL when unknown).
    pub sql: SStr,
    /// Connection for `sql` (default: the step's `on`).
    pub on: Option<SStr>,
    /// Poll interval (default 5s, at least 1s).
    pub every: Option<Spanned<Dur>>,
    /// What is counted (default `rows`).
    pub unit: Option<SStr>,
}

/// `[[step]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique id.
    pub id: SStr,
    /// Human title.
    pub title: Option<SStr>,
    /// Free text shown in the step detail.
    pub notes: Option<String>,
    /// Shell command.
    pub run: Option<SStr>,
    /// SQL statement.
    pub sql: Option<SStr>,
    /// Poll a condition.
    pub wait: Option<Spanned<WaitSpec>>,
    /// Word the operator must type.
    pub confirm: Option<SStr>,
    /// Roles that must each approve, by a person typing their name (a sign-off).
    pub approve: Option<Spanned<Vec<String>>>,
    /// Set every target sequence to the source's value plus a margin.
    pub sync_sequences: Option<Spanned<SyncSpec>>,
    /// Repair what a checksum check finds: a reviewed, guarded patch applied on its target.
    pub repair: Option<Spanned<RepairSpec>>,
    /// Connection for `sql` and `rollback_sql`.
    pub on: Option<SStr>,
    /// Expected outcome.
    pub expect: Option<Spanned<ExpectSpec>>,
    /// Planned duration.
    pub expected: Option<Spanned<Dur>>,
    /// Hard limit.
    pub timeout: Option<Spanned<Dur>>,
    /// Shell rollback.
    pub rollback: Option<SStr>,
    /// SQL rollback on `on`.
    pub rollback_sql: Option<SStr>,
    /// Text shown once this step has run: rolling back is no longer possible.
    pub point_of_no_return: Option<SStr>,
    /// Whether the step changes anything a rollback would have to undo (`false`: a read-only
    /// check, such as a `select`; not listed as "undo by hand").
    pub changes: Option<bool>,
    /// How far the step is, polled while it runs (a long copy).
    pub progress: Option<Spanned<ProgressSpec>>,
}

/// `when = { ... }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenSpec {
    /// Lag above this...
    pub lag_above: Option<Spanned<Threshold>>,
    /// Reconcile mismatches above this.
    pub mismatch_rows_above: Option<u64>,
    /// A step failed.
    pub step_failed: Option<SStr>,
    /// Less than this left in the window.
    pub window_left_below: Option<Spanned<Dur>>,
    /// A query that returns true.
    pub sql: Option<SStr>,
    /// Connection for `sql`.
    pub on: Option<SStr>,
    /// ...for this long.
    #[serde(rename = "for")]
    pub hold: Option<Dur>,
}

/// What a trigger does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TriggerAction {
    /// Banner, bell, and propose the rollback plan.
    #[default]
    Alert,
    /// Roll back after the countdown.
    Rollback,
}

/// `[[rollback_trigger]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// Unique name.
    pub name: SStr,
    /// What fires it (`when = { lag_above = ... }` and the like), with where it was written.
    pub when: Spanned<WhenSpec>,
    /// What to do.
    pub action: Option<TriggerAction>,
    /// Visible, cancellable delay before an automatic rollback.
    pub countdown: Option<Spanned<Dur>>,
}
