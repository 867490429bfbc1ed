//! `cutover-reconcile`: does the target hold the same data as the source?
//!
//! One [`ReconcileCheck`] of the runbook is run with [`run_check`] on two connected clients
//! (or [`run_check_with`] on connection settings) and yields a [`ReconcileResult`]:
//!
//! * `count`: row counts per key-range partition on both sides;
//! * `checksum`: per partition, `sha256` of the key-ordered `ROW(cols)::text` lines, computed by
//!   both servers at once (one connection per side, statements pipelined), each side in one
//!   `REPEATABLE READ READ ONLY` snapshot with the text-output settings pinned
//!   (`settings.rs`); mismatching partitions are split further while large and then drilled
//!   down to the exact keys (`bisect.rs`);
//! * `query`: a business query on both sides, result sets compared as multisets (`query.rs`);
//! * `sequences`: the target's sequences must be at or ahead of the source's;
//! * `schema`: columns, types, nullability, defaults, constraints, indexes, triggers.
//!
//! Progress goes to a callback ([`ProgressFn`]). [`recheck`] re-compares the listed
//! mismatches (after lag drains) and marks those that now match as transient.
//!
//! No user value is ever pasted into SQL: identifiers are quoted with [`cutover_model::ident`],
//! range bounds and keys travel as text parameters cast on the server.

mod bisect;
mod checksum;
mod columns;
mod count;
pub mod hashing;
mod incremental;
mod integrity;
mod multiset;
mod partition;
mod partitions;
mod query;
pub mod repair;
mod rowtext;
mod schema;
mod selection;
mod sequences;
mod settings;
mod sql;
mod table;
mod tables;
mod throttle;

pub use sequences::{SequencePosition, sequence_position};
pub use settings::guard_session;
pub use tables::{glob_match, selected as table_selected};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use cutover_model::runbook::{ReconcileCheck, ReconcileKind};
use cutover_pg::{ConnSettings, ConnectError};

use cutover_model::reconcile::{
    ColumnDiff, Mismatch, MismatchClass, Phase, Progress, ReconcileResult, SequenceCompare, Status,
    Verdict,
};

/// Receives progress updates; called from the task running the check, so keep it cheap
/// (e.g. `watch::Sender::send_replace` or `mpsc::UnboundedSender::send`).
pub type ProgressFn<'a> = dyn Fn(&Progress) + Send + Sync + 'a;

/// A progress callback that drops every update.
pub fn no_progress(_: &Progress) {}

/// Why a check could not be done (reported as [`Status::Error`]).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A statement failed on one side.
    #[error("{side}: cannot {what}: {detail}")]
    Sql {
        /// `source` or `target`.
        side: String,
        /// What was being done.
        what: String,
        /// The server's message.
        detail: String,
    },
    /// Could not connect.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Anything else (missing table, bad configuration...).
    #[error("{0}")]
    Other(String),
}

impl ReconcileError {
    /// Maps a driver error on `side` while doing `what`.
    pub fn sql(side: &str, what: &str) -> impl FnOnce(tokio_postgres::Error) -> ReconcileError {
        let (side, what) = (side.to_string(), what.to_string());
        move |e| {
            let detail = match e.as_db_error() {
                Some(db) => {
                    let mut said = match db.detail() {
                        Some(d) => format!("{} ({d})", db.message()),
                        None => db.message().to_string(),
                    };
                    said.push_str(cutover_pg::conn::lock_hint(db.code()));
                    said
                }
                None => e.to_string(),
            };
            ReconcileError::Sql { side, what, detail }
        }
    }
}

/// What a check's statement waits for a lock another session holds before it fails
/// ([`Options::lock_wait`]'s default, and the repair's reads).
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Tuning of a check run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Mismatches listed in the result (the total is counted beyond this).
    pub max_listed: usize,
    /// Rows per key-range partition when the check does not set `partitions` (5,000: a
    /// mismatching range costs half as much to drill into as at 10,000, for a range pass
    /// that is as fast; measured with `benches/reconcile.sh`).
    pub rows_per_partition: u64,
    /// A mismatching range with more rows than this (on either side) is split again before
    /// its rows are fetched: client memory stays bounded by this many rows per side.
    pub drill_max_rows: u64,
    /// Statements in flight per connection (pipelining hides round trips).
    pub pipeline_depth: usize,
    /// Mismatching partitions drilled down at the same time.
    pub drill_parallel: usize,
    /// `statement_timeout` for every statement (`None`: no limit).
    pub statement_timeout: Option<Duration>,
    /// `lock_timeout` for every statement: a table locked by another session's DDL fails
    /// the check with the lock named after this long (60 s), instead of waiting as long as
    /// the DDL does and staying queued on the server after cutover is stopped.
    pub lock_wait: Duration,
    /// Rows a `query` check may return per side.
    pub query_max_rows: usize,
    /// Secret values for rendering `sql` / `target_sql` templates.
    pub secrets: BTreeMap<String, String>,
    /// The check's source and target, for the sessions of its own a check may open
    /// (`pause_when` on the source, `concurrency` on both sides).
    pub sessions: Option<(ConnSettings, ConnSettings)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_listed: 1000,
            rows_per_partition: 5_000,
            drill_max_rows: 2_000,
            pipeline_depth: 4,
            drill_parallel: 2,
            statement_timeout: None,
            lock_wait: LOCK_WAIT,
            query_max_rows: 1_000_000,
            secrets: BTreeMap::new(),
            sessions: None,
        }
    }
}

/// What every kind runner gets.
pub(crate) struct Cx<'a> {
    pub check: &'a ReconcileCheck,
    pub source: &'a Client,
    pub target: &'a Client,
    pub opts: &'a Options,
    pub progress: &'a ProgressFn<'a>,
    pub started: Instant,
    /// Why the check goes slower than it could, as the pacing last said.
    throttled: std::sync::Mutex<Option<String>>,
    /// The last progress sent (sent again when the pacing changes).
    last: std::sync::Mutex<Option<Progress>>,
    /// Both servers' `server_version_num`, when already known (the tables of a `tables`
    /// check share their check's).
    versions: Option<(u32, u32)>,
}

impl<'a> Cx<'a> {
    /// The context of one check run on `source` and `target`; its clock starts now.
    fn new(
        check: &'a ReconcileCheck,
        source: &'a Client,
        target: &'a Client,
        opts: &'a Options,
        progress: &'a ProgressFn<'a>,
    ) -> Self {
        Cx {
            check,
            source,
            target,
            opts,
            progress,
            started: Instant::now(),
            throttled: std::sync::Mutex::new(None),
            last: std::sync::Mutex::new(None),
            versions: None,
        }
    }

    /// The same context for a table of a `tables` check (versions already read).
    fn for_table(
        check: &'a ReconcileCheck,
        parent: &Cx<'a>,
        (source, target): (&'a Client, &'a Client),
        versions: (u32, u32),
        progress: &'a ProgressFn<'a>,
    ) -> Self {
        let mut cx = Cx::new(check, source, target, parent.opts, progress);
        cx.versions = Some(versions);
        cx
    }

    /// Records why the check is slowed down (`None`: it is not) and, when that changed,
    /// sends the last progress again with it.
    pub fn set_throttled(&self, why: Option<String>) {
        let changed = match self.throttled.lock() {
            Ok(mut t) if *t != why => {
                *t = why.clone();
                true
            }
            _ => false,
        };
        if changed {
            let last = self.last.lock().ok().and_then(|l| l.clone());
            if let Some(mut p) = last {
                p.throttled = why;
                p.elapsed_ms = self.elapsed_ms();
                (self.progress)(&p);
            }
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sends a progress update built from the result so far.
    pub fn report(&self, res: &ReconcileResult, phase: Phase) {
        let p = Progress {
            name: res.name.clone(),
            phase,
            partitions_done: res.partitions_done,
            partitions_total: res.partitions_total,
            rows_compared: res.source_rows.max(res.target_rows),
            mismatches: res.mismatch_total,
            elapsed_ms: self.elapsed_ms(),
            throttled: self.throttled.lock().ok().and_then(|t| t.clone()),
            recheck_in_ms: None,
        };
        (self.progress)(&p);
        if let Ok(mut l) = self.last.lock() {
            *l = Some(p);
        }
    }

    pub fn statement_timeout_ms(&self) -> u64 {
        self.opts
            .statement_timeout
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn lock_timeout_ms(&self) -> u64 {
        u64::try_from(self.opts.lock_wait.as_millis()).unwrap_or(u64::MAX)
    }

    /// Reads both servers' `server_version_num` (concurrently) and records them in `res`.
    pub async fn server_versions(
        &self,
        res: &mut ReconcileResult,
    ) -> Result<(u32, u32), ReconcileError> {
        if let Some((sv, tv)) = self.versions {
            res.source_version = Some(sv);
            res.target_version = Some(tv);
            return Ok((sv, tv));
        }
        let (sv, tv) = futures::try_join!(
            settings::server_version(self.source, "source"),
            settings::server_version(self.target, "target")
        )?;
        res.source_version = Some(sv);
        res.target_version = Some(tv);
        Ok((sv, tv))
    }
}

/// Runs one check on two connected clients. Never fails: problems become
/// [`Status::Error`]. Statements run in transactions this function opens and ends, with
/// `SET LOCAL` settings, so the sessions are left as they were; do not share the clients
/// with other work while it runs.
pub async fn run_check(
    check: &ReconcileCheck,
    source: &Client,
    target: &Client,
    opts: &Options,
    progress: &ProgressFn<'_>,
) -> ReconcileResult {
    run_in(Cx::new(check, source, target, opts, progress)).await
}

/// [`run_check`] in a context made already.
async fn run_in(cx: Cx<'_>) -> ReconcileResult {
    let check = cx.check;
    let mut res = ReconcileResult::new(&check.name, check.kind);
    let r = match check.kind {
        ReconcileKind::Checksum | ReconcileKind::Count if !check.tables.is_empty() => {
            tables::run(&cx, &mut res).await
        }
        ReconcileKind::Checksum if check.key.is_empty() => multiset::run(&cx, &mut res).await,
        ReconcileKind::Checksum => checksum::run(&cx, &mut res).await,
        ReconcileKind::Count => count::run(&cx, &mut res).await,
        ReconcileKind::Query => query::run(&cx, &mut res).await,
        ReconcileKind::Sequences => sequences::run(&cx, &mut res).await,
        ReconcileKind::Schema => schema::run(&cx, &mut res).await,
    };
    finish(&cx, res, r)
}

/// Compares only the rows whose `changed_since` column is within `lookback` of each server's
/// `now()` (the rows changed lately), for the rounds of a drift watch; a check without
/// `changed_since`, or with more changed rows than `incremental::MAX_CHANGED_ROWS`, is compared
/// in full (said in the notes).
pub async fn run_changed_since(
    check: &ReconcileCheck,
    source: &Client,
    target: &Client,
    opts: &Options,
    lookback: std::time::Duration,
    progress: &ProgressFn<'_>,
) -> ReconcileResult {
    let Some(column) = check.changed_since.as_deref() else {
        return run_check(check, source, target, opts, progress).await;
    };
    let cx = Cx::new(check, source, target, opts, progress);
    let mut res = ReconcileResult::new(&check.name, check.kind);
    match incremental::run(&cx, column, lookback, &mut res).await {
        Ok(incremental::Changed::Compared) => finish(&cx, res, Ok(())),
        Ok(incremental::Changed::TooMany(n)) => {
            let mut full = run_check(check, source, target, opts, progress).await;
            full.notes.push(format!(
                "{n} rows changed in the last {}: the whole table was compared",
                cutover_model::runbook::units::format_duration(lookback)
            ));
            full
        }
        Err(e) => finish(&cx, res, Err(e)),
    }
}

/// Connects to both sides (concurrently) and runs the check; a connection failure is
/// reported as [`Status::Error`].
pub async fn run_check_with(
    check: &ReconcileCheck,
    source: &ConnSettings,
    target: &ConnSettings,
    opts: &Options,
    progress: &ProgressFn<'_>,
) -> ReconcileResult {
    match connect_pair(source, target).await {
        Ok((s, t)) => run_check(check, &s, &t, opts, progress).await,
        Err(e) => {
            let mut res = ReconcileResult::new(&check.name, check.kind);
            res.error = Some(e.to_string());
            res
        }
    }
}

/// Opens one connection per side (with `application_name = cutover-reconcile`), each
/// [guarded](settings::guard_session): watching for a gone client, and a bounded lock wait.
pub async fn connect_pair(
    source: &ConnSettings,
    target: &ConnSettings,
) -> Result<(Client, Client), ReconcileError> {
    let s = source.clone().with_application_name("cutover-reconcile");
    let t = target.clone().with_application_name("cutover-reconcile");
    let (a, b) = futures::try_join!(s.connect(), t.connect())?;
    futures::join!(settings::guard_session(&a), settings::guard_session(&b));
    Ok((a, b))
}

/// Re-compares the mismatches listed in `previous` (e.g. after replication lag drained) and
/// returns a new result in which those that now match are kept with `transient = true` and
/// no longer count against the thresholds. For `checksum` only the listed keys are read again
/// (mismatches beyond [`Options::max_listed`] stay counted); the other kinds run again in full
/// and every previous mismatch that is gone is listed as transient.
pub async fn recheck(
    check: &ReconcileCheck,
    source: &Client,
    target: &Client,
    opts: &Options,
    previous: &ReconcileResult,
    progress: &ProgressFn<'_>,
) -> ReconcileResult {
    if previous.status == Status::Error || previous.mismatches.iter().all(|m| m.transient) {
        return previous.clone();
    }
    // A keyed checksum re-reads its keys; a keyless one (a multiset) runs again in full.
    if check.kind == ReconcileKind::Checksum && !check.key.is_empty() {
        let cx = Cx::new(check, source, target, opts, progress);
        let mut res = previous.clone();
        res.rechecked = true;
        let r = checksum::recheck(&cx, previous, &mut res).await;
        let mut out = finish(&cx, res, r);
        out.elapsed_ms += previous.elapsed_ms;
        return out;
    }
    let mut fresh = run_check(check, source, target, opts, progress).await;
    // The check's time is both comparisons (the wait between them is the caller's).
    fresh.elapsed_ms += previous.elapsed_ms;
    if fresh.status == Status::Error {
        return fresh;
    }
    if !check.tables.is_empty() {
        // Per table: what went away since the first run was in flight.
        for t in &mut fresh.tables {
            if let Some(p) = previous.tables.iter().find(|p| p.name == t.name) {
                mark_transient(check, p, t);
            }
        }
        tables::resum(&mut fresh);
        let rows = fresh.source_rows.max(fresh.target_rows);
        let v = Verdict::compute(
            fresh.mismatch_total,
            rows,
            check.max_mismatch_rows,
            check.max_mismatch_pct,
        );
        fresh.status = if v.within { Status::Pass } else { Status::Fail };
        fresh.verdict = Some(v);
        fresh.rechecked = true;
        return fresh;
    }
    mark_transient(check, previous, &mut fresh);
    fresh
}

/// Lists every mismatch of `previous` that `fresh` (a new full run) no longer has as
/// transient in `fresh`, and recomputes its verdict without them.
fn mark_transient(check: &ReconcileCheck, previous: &ReconcileResult, fresh: &mut ReconcileResult) {
    let mut transient = 0u64;
    for m in previous.mismatches.iter() {
        let still = fresh
            .mismatches
            .iter()
            .any(|n| n.key == m.key && n.class == m.class);
        if !still {
            let mut m = m.clone();
            m.transient = true;
            fresh.mismatches.push(m);
            transient += 1;
        }
    }
    fresh.mismatch_total += transient;
    fresh.rechecked = true;
    let rows = fresh.source_rows.max(fresh.target_rows);
    let real = fresh.mismatch_total - fresh.transient().count() as u64;
    let v = Verdict::compute(real, rows, check.max_mismatch_rows, check.max_mismatch_pct);
    fresh.status = if v.within { Status::Pass } else { Status::Fail };
    fresh.verdict = Some(v);
}

/// Sets status, verdict and elapsed time.
fn finish(cx: &Cx<'_>, mut res: ReconcileResult, r: Result<(), ReconcileError>) -> ReconcileResult {
    res.elapsed_ms = cx.elapsed_ms();
    res.rows_compared = res.source_rows.max(res.target_rows);
    res.mismatches.truncate(cx.opts.max_listed.max(
        // a recheck keeps every previously listed mismatch
        res.mismatches.iter().filter(|m| m.transient).count(),
    ));
    res.bound_full_values();
    match r {
        Err(e) => {
            res.status = Status::Error;
            res.error = Some(e.to_string());
            res.verdict = None;
        }
        Ok(()) => {
            let transient = res.transient().count() as u64;
            let v = Verdict::compute(
                res.mismatch_total.saturating_sub(transient),
                res.rows_compared,
                cx.check.max_mismatch_rows,
                cx.check.max_mismatch_pct,
            );
            res.status = if v.within { Status::Pass } else { Status::Fail };
            res.error = None;
            res.verdict = Some(v);
        }
    }
    cx.report(&res, Phase::Done);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The engine spawns checks on tokio tasks: the futures must be `Send`.
    #[allow(dead_code, clippy::diverging_sub_expression)]
    async fn futures_are_send(check: &ReconcileCheck, c: &Client, prev: &ReconcileResult) {
        let opts = Options::default();
        let f = run_check(check, c, c, &opts, &no_progress);
        assert_send(&f);
        let g = recheck(check, c, c, &opts, prev, &no_progress);
        assert_send(&g);
    }
}
