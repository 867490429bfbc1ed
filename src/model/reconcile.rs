//! What a reconcile check reports: the result (journaled, shown in the reconcile pane) and the
//! progress updates sent while it runs. All serde types.

use serde::{Deserialize, Serialize};

use crate::runbook::ReconcileKind;

/// Outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Compared, and the mismatches are within the thresholds.
    Pass,
    /// Compared, and the mismatches exceed the thresholds.
    Fail,
    /// The comparison could not be done (connection, SQL, missing table...). Never passes.
    Error,
}

/// How a row (or object) differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchClass {
    /// Present on the source, absent on the target.
    MissingOnTarget,
    /// Present on the target, absent on the source.
    ExtraOnTarget,
    /// Present on both sides with different values.
    Different,
}

impl MismatchClass {
    /// `missing on target` / `extra on target` / `different`.
    pub fn label(self) -> &'static str {
        match self {
            MismatchClass::MissingOnTarget => "missing on target",
            MismatchClass::ExtraOnTarget => "extra on target",
            MismatchClass::Different => "different",
        }
    }
}

/// One column (or attribute) and its value on each side; `None` is SQL NULL, or "absent" when
/// the whole row is missing on that side (see [`Mismatch::class`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDiff {
    /// Column (or attribute, e.g. `type`, `last_value`).
    pub column: String,
    /// Source value as text.
    pub source: Option<String>,
    /// Target value as text.
    pub target: Option<String>,
}

/// One differing row (checksum, query), partition (count), sequence or schema object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// The key values as text, in the order of [`ReconcileResult::key_columns`]. For
    /// `count`: the key range; for `sequences`: the sequence; for `schema`: table and object.
    pub key: Vec<String>,
    /// How it differs.
    pub class: MismatchClass,
    /// For `different`: only the differing columns, with both values. For missing/extra rows:
    /// every compared column, with the side that lacks the row as `None`.
    pub columns: Vec<ColumnDiff>,
    /// One line for humans, e.g. `column amount: 10.00 → 12.00` or `index x missing on target`.
    pub detail: String,
    /// Set by the re-check after the lag drains: the keys matched when re-compared (a difference that was in
    /// flight). Transient mismatches do not count against the thresholds.
    #[serde(default)]
    pub transient: bool,
    /// Found by comparing rows by their content, not by a key (rows whose key has a NULL):
    /// a re-check cannot re-read it by key, so it stands until the check runs again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_content: bool,
    /// The whole values of the columns that [`Mismatch::columns`] keeps only as an excerpt
    /// (values longer than `shown::MAX_KEPT`). Never journaled: the engine writes them to a
    /// file next to the journal ([`ReconcileResult::values_file`]).
    #[serde(skip)]
    pub full: Vec<ColumnDiff>,
}

impl Mismatch {
    /// A difference as a check first finds it: by key, not (yet) transient, no whole values
    /// kept beside its columns.
    pub fn new(
        key: Vec<String>,
        class: MismatchClass,
        columns: Vec<ColumnDiff>,
        detail: String,
    ) -> Self {
        Mismatch {
            key,
            class,
            columns,
            detail,
            transient: false,
            by_content: false,
            full: Vec::new(),
        }
    }
}

/// Mismatches whose whole long values a result keeps for the values file; the others keep
/// only their excerpts (client memory stays bounded).
pub const MAX_FULL_VALUES: usize = 10;

/// What a result's note about columns left out of the comparison starts with (a column only
/// on the target): front ends say such a note on the check's line, not only in the journal.
pub const NOT_COMPARED: &str = "columns only on the target, not compared";

/// One partition of a partitioned table compared through its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRows {
    /// `schema.partition`.
    pub name: String,
    /// Rows in it on the source.
    pub source_rows: u64,
    /// Rows in it on the target.
    pub target_rows: u64,
    /// Listed differing rows whose row is in it (on the side that has the row).
    pub mismatches: u64,
}

impl PartitionRows {
    /// `app.events_2026: 250 rows on the source, 249 on the target, 1 differs`.
    pub fn describe(&self) -> String {
        let rows = if self.source_rows == self.target_rows {
            format!(
                "{} on both sides",
                crate::narrate::count(self.source_rows, "row")
            )
        } else {
            format!(
                "{} on the source, {} on the target",
                crate::narrate::count(self.source_rows, "row"),
                self.target_rows
            )
        };
        let diff = match self.mismatches {
            0 => String::new(),
            1 => ", 1 differs".to_string(),
            n => format!(", {n} differ"),
        };
        format!("{}: {rows}{diff}", self.name)
    }
}

/// Threshold verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Mismatching rows counted against the thresholds (transient ones excluded).
    pub mismatch_rows: u64,
    /// `mismatch_rows` in percent of the larger side's row count.
    pub mismatch_pct: f64,
    /// `max_mismatch_rows` of the check.
    pub max_mismatch_rows: u64,
    /// `max_mismatch_pct` of the check.
    pub max_mismatch_pct: Option<f64>,
    /// Whether the mismatches are tolerated: `mismatch_rows <= max_mismatch_rows`, or
    /// `mismatch_pct <= max_mismatch_pct` when that is set.
    pub within: bool,
}

impl Verdict {
    /// Computes the verdict for `mismatch_rows` out of `rows`.
    pub fn compute(
        mismatch_rows: u64,
        rows: u64,
        max_mismatch_rows: u64,
        max_mismatch_pct: Option<f64>,
    ) -> Verdict {
        let pct = if rows == 0 {
            if mismatch_rows == 0 { 0.0 } else { 100.0 }
        } else {
            mismatch_rows as f64 * 100.0 / rows as f64
        };
        let within =
            mismatch_rows <= max_mismatch_rows || max_mismatch_pct.is_some_and(|m| pct <= m);
        Verdict {
            mismatch_rows,
            mismatch_pct: pct,
            max_mismatch_rows,
            max_mismatch_pct,
            within,
        }
    }
}

/// A sequence compared by `kind = "sequences"` (every one is listed, passing or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceCompare {
    /// `schema.name`.
    pub name: String,
    /// The value the next `nextval()` returns on the source.
    pub source_next: Option<i64>,
    /// The same on the target (`None`: the sequence does not exist there).
    pub target_next: Option<i64>,
    /// Whether the target is at or ahead of the source (behind for descending sequences).
    pub ok: bool,
}

/// What a finished check reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileResult {
    /// The check's name.
    pub name: String,
    /// The check's `kind`.
    pub kind: ReconcileKind,
    /// Pass, fail or error.
    pub status: Status,
    /// The error, when `status` is `error`.
    pub error: Option<String>,
    /// Rows (or objects) read on the source.
    pub source_rows: u64,
    /// Rows (or objects) read on the target.
    pub target_rows: u64,
    /// Rows compared: the larger of the two.
    pub rows_compared: u64,
    /// Partitions (key ranges) compared so far.
    pub partitions_done: u32,
    /// Partitions planned.
    pub partitions_total: u32,
    /// Wall time of the check's comparing, milliseconds: the wait before a re-check is not
    /// in it (see `recheck_wait_ms`).
    pub elapsed_ms: u64,
    /// How long the check waited before its re-check (for the lag to drain, or a fixed
    /// delay), milliseconds; not part of `elapsed_ms`.
    #[serde(default, skip_serializing_if = "crate::is_zero")]
    pub recheck_wait_ms: u64,
    /// Names of the key columns (what [`Mismatch::key`] holds).
    pub key_columns: Vec<String>,
    /// Columns compared, in the canonical order.
    pub columns: Vec<String>,
    /// The mismatches, at most the check's listing limit (`Options::max_listed` of cutover-reconcile) of them.
    pub mismatches: Vec<Mismatch>,
    /// Mismatches found, listed or not, transient ones included.
    pub mismatch_total: u64,
    /// `mismatch_total` is a lower bound: drilling stopped once the verdict could only be fail.
    pub mismatch_total_is_lower_bound: bool,
    /// The threshold verdict (`None` when the check errored).
    pub verdict: Option<Verdict>,
    /// `kind = "sequences"`: every sequence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequences: Vec<SequenceCompare>,
    /// Whether the re-check after the lag drains produced this result.
    #[serde(default)]
    pub rechecked: bool,
    /// How each compared column was hashed in the range pass (`checksum` checks): with its
    /// type's own hash, or by its text, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashing: Vec<ColumnHashing>,
    /// Things worth knowing (columns only on the target, normalisations applied...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `tables = [...]` checks: one result per table compared (this result sums them up; its
    /// own `mismatches` list the tables missing on one side).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<ReconcileResult>,
    /// A partitioned table: its partitions' rows on each side and the listed differences in
    /// each (the table is compared through its parent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionRows>,
    /// The file holding the whole values of differences too long to show (next to the
    /// journal; secrets masked), written by the engine once per change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_file: Option<String>,
    /// `server_version_num` of the source.
    pub source_version: Option<u32>,
    /// `server_version_num` of the target.
    pub target_version: Option<u32>,
}

impl ReconcileResult {
    /// Drops the whole values of every mismatch after the first [`MAX_FULL_VALUES`] that
    /// have them (their excerpts stay).
    pub fn bound_full_values(&mut self) {
        let mut kept = 0;
        for m in &mut self.mismatches {
            if !m.full.is_empty() {
                if kept < MAX_FULL_VALUES {
                    kept += 1;
                } else {
                    m.full = Vec::new();
                }
            }
        }
    }

    /// An empty result for a check that is about to run.
    pub fn new(name: &str, kind: ReconcileKind) -> ReconcileResult {
        ReconcileResult {
            name: name.to_string(),
            kind,
            status: Status::Error,
            error: None,
            source_rows: 0,
            target_rows: 0,
            rows_compared: 0,
            partitions_done: 0,
            partitions_total: 0,
            elapsed_ms: 0,
            recheck_wait_ms: 0,
            key_columns: Vec::new(),
            columns: Vec::new(),
            mismatches: Vec::new(),
            mismatch_total: 0,
            mismatch_total_is_lower_bound: false,
            verdict: None,
            sequences: Vec::new(),
            rechecked: false,
            hashing: Vec::new(),
            notes: Vec::new(),
            tables: Vec::new(),
            partitions: Vec::new(),
            values_file: None,
            source_version: None,
            target_version: None,
        }
    }

    /// Whether the check passed (an errored check never does).
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    /// Mismatching rows that count against the thresholds (0 when errored).
    pub fn mismatch_rows(&self) -> u64 {
        self.verdict.as_ref().map_or(0, |v| v.mismatch_rows)
    }

    /// Every listed mismatch with the key columns it is read by and, for a `tables` check,
    /// the table it is in (`None`: the check's own list, e.g. a table missing on one side).
    pub fn listed(&self) -> Vec<(Option<&str>, &Mismatch, &[String])> {
        let own = self
            .mismatches
            .iter()
            .map(|m| (None, m, self.key_columns.as_slice()));
        let per_table = self.tables.iter().flat_map(|t| {
            t.mismatches
                .iter()
                .map(move |m| (Some(t.name.as_str()), m, t.key_columns.as_slice()))
        });
        own.chain(per_table).collect()
    }

    /// Listed mismatches that were found to be transient by a recheck.
    pub fn transient(&self) -> impl Iterator<Item = &Mismatch> {
        self.mismatches.iter().filter(|m| m.transient)
    }
}

/// Phase of a running check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading the catalogs and planning key ranges.
    Planning,
    /// Counting or hashing partitions on both sides.
    Comparing,
    /// Fetching the rows of mismatching partitions.
    DrillingDown,
    /// Waiting before the re-check (for the lag to drain, or a fixed delay).
    WaitingToRecheck,
    /// Re-comparing the mismatching keys.
    Rechecking,
    /// Every range was compared: the result follows.
    Done,
}

/// How one compared column was hashed in a `checksum` range pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnHashing {
    /// The column.
    pub column: String,
    /// `native`: its type's own hash (`hash_record_extended`), or `text`: its normalised text.
    pub mode: HashMode,
    /// Why it was hashed by its text (`types differ: integer on the source, bigint on the
    /// target`, `real: compared by its text digits`, `hash = "text"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// How a column is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashMode {
    /// The type's own hash function.
    Native,
    /// The text of its (normalised) value.
    Text,
}

/// A progress update ("12/16 parts").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The check's name.
    pub name: String,
    /// What the check is doing now.
    pub phase: Phase,
    /// Partitions compared on both sides.
    pub partitions_done: u32,
    /// Partitions planned.
    pub partitions_total: u32,
    /// Rows compared so far.
    pub rows_compared: u64,
    /// Mismatches found so far (partitions for the comparing phase, rows after drilling).
    pub mismatches: u64,
    /// Milliseconds since the check started.
    pub elapsed_ms: u64,
    /// Why the check is going slower than the servers could: `max_rows_per_second 50000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled: Option<String>,
    /// [`Phase::WaitingToRecheck`]: milliseconds until the re-check at the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_in_ms: Option<u64>,
}

/// A running check's progress for humans, after its bar, what matters most first: `8/16 parts
/// · ETA 12s · 120k rows/s · 412000 rows`, or while it waits to re-check: `3 rows differ · checking again in 4s`.
/// The rate and ETA need a second of comparing and a part done (before that they would be
/// noise).
pub fn progress_line(p: &Progress) -> String {
    if let Some(ms) = p.recheck_in_ms {
        return format!(
            "{} differ · checking again in {}",
            crate::narrate::count(p.mismatches, "row"),
            crate::narrate::duration(ms.div_ceil(1000) * 1000)
        );
    }
    let mut s = format!(
        "{}/{}",
        p.partitions_done,
        crate::narrate::count(p.partitions_total, "part")
    );
    if p.phase == Phase::Comparing
        && p.partitions_done > 0
        && p.partitions_done < p.partitions_total
    {
        let left = u64::from(p.partitions_total - p.partitions_done);
        let eta = p.elapsed_ms.saturating_mul(left) / u64::from(p.partitions_done);
        s.push_str(&format!(" · ETA {}", crate::narrate::duration(eta)));
    }
    if p.elapsed_ms >= 1000 && p.rows_compared > 0 {
        let rate = p.rows_compared as f64 * 1000.0 / p.elapsed_ms as f64;
        s.push_str(&format!(" · {} rows/s", crate::narrate::si(rate)));
    }
    if p.rows_compared > 0 {
        let rows = crate::narrate::count(p.rows_compared, "row");
        s.push_str(&format!(" · {rows}"));
    }
    if let Some(w) = &p.throttled {
        s.push_str(&format!(" · throttled: {w}"));
    }
    s
}

/// One line: `orders: ✔ 200000 rows equal (16 parts, 1.2s)` or `orders: ✘ 3 rows differ (max 0)`.
pub fn summary(r: &ReconcileResult) -> String {
    // The comparing time, and the wait before the re-check beside it (not in it).
    let secs = if r.recheck_wait_ms > 0 {
        format!(
            "{:.1}s + {:.1}s waiting to re-check",
            r.elapsed_ms as f64 / 1000.0,
            r.recheck_wait_ms as f64 / 1000.0
        )
    } else {
        format!("{:.1}s", r.elapsed_ms as f64 / 1000.0)
    };
    match (&r.status, &r.error) {
        (Status::Error, e) => format!(
            "{}: ✘ error: {}",
            r.name,
            e.as_deref().unwrap_or("the check could not be done")
        ),
        (Status::Pass, _) => {
            let transient = r.transient().count();
            let parts = if r.tables.is_empty() {
                crate::narrate::count(r.partitions_total, "part")
            } else {
                crate::narrate::count(r.partitions_total, "table")
            };
            let mut s = format!(
                "{}: ✔ {} equal ({parts}, {secs})",
                r.name,
                crate::narrate::count(r.rows_compared, "row"),
            );
            if let Some(v) = &r.verdict
                && v.mismatch_rows > 0
            {
                s.push_str(&format!(
                    ", {} differ within the threshold",
                    v.mismatch_rows
                ));
            }
            if transient > 0 {
                s.push_str(&format!(", {transient} transient (gone on re-check)"));
            }
            s
        }
        (Status::Fail, _) => fail_line(r, &secs),
    }
}

/// A failing check's line: `orders: ✘ 3 rows differ (max 0) of 200000 (1.2s)`; `secs` is its
/// time as [`summary`] words it.
fn fail_line(r: &ReconcileResult, secs: &str) -> String {
    let max = r.verdict.as_ref().map_or(0, |v| v.max_mismatch_rows);
    let transient = r.transient().count();
    let n = r.mismatch_rows();
    let plus = if r.mismatch_total_is_lower_bound {
        "+"
    } else {
        ""
    };
    let what = if n == 1 && plus.is_empty() {
        "row differs"
    } else {
        "rows differ"
    };
    let tables = if r.tables.is_empty() {
        String::new()
    } else {
        let bad = r.tables.iter().filter(|t| !t.passed()).count()
            + r.mismatches.iter().filter(|m| !m.transient).count();
        format!(" in {bad} of {} tables", r.partitions_total)
    };
    // What the count is of: a query check compares its result rows by their first
    // column (a changed value there is a row missing on each side).
    let of = if r.kind == ReconcileKind::Query {
        format!(
            "comparing the query's result rows ({} on the source, {} on the target) by {}",
            r.source_rows,
            r.target_rows,
            r.key_columns
                .first()
                .map_or("position".to_string(), |k| format!(
                    "their first column {k}"
                )),
        )
    } else {
        format!("of {}", r.rows_compared)
    };
    let mut s = format!(
        "{}: ✘ {n}{plus} {what}{tables} (max {max}) {of} ({secs})",
        r.name
    );
    if transient > 0 {
        s.push_str(&format!(", {transient} more were transient"));
    }
    s
}

/// One mismatch for humans: `different  aid=7  abalance: 10 → 12`.
pub fn describe(m: &Mismatch, key_columns: &[String]) -> String {
    // Key values shown so that a comma or an empty string inside one reads unambiguously.
    let key = if key_columns.len() == m.key.len() && !key_columns.is_empty() {
        key_columns
            .iter()
            .zip(&m.key)
            .map(|(c, v)| format!("{c}={}", crate::shown::value(Some(v))))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        crate::shown::key(&m.key)
    };
    format!(
        "{:<17} {key}  {}{}",
        m.class.label(),
        m.detail,
        if m.transient {
            "  (transient: gone on re-check)"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u32, total: u32, rows: u64, elapsed_ms: u64) -> Progress {
        Progress {
            name: "accounts".into(),
            phase: Phase::Comparing,
            partitions_done: done,
            partitions_total: total,
            rows_compared: rows,
            mismatches: 3,
            elapsed_ms,
            throttled: None,
            recheck_in_ms: None,
        }
    }

    #[test]
    fn progress_says_rate_and_eta_once_they_mean_something() {
        // Under a second, nothing done: no rate, no ETA (they would be noise).
        assert_eq!(progress_line(&progress(0, 16, 0, 300)), "0/16 parts");
        assert_eq!(
            progress_line(&progress(4, 16, 1_200_000, 10_000)),
            "4/16 parts · ETA 30s · 120k rows/s · 1200000 rows"
        );
        // Done comparing: no ETA.
        assert_eq!(
            progress_line(&progress(16, 16, 2_500_000, 2_000)),
            "16/16 parts · 1.2M rows/s · 2500000 rows"
        );
        let mut waiting = progress(16, 16, 500, 2_000);
        waiting.phase = Phase::WaitingToRecheck;
        waiting.recheck_in_ms = Some(4_200);
        assert_eq!(
            progress_line(&waiting),
            "3 rows differ · checking again in 5s"
        );
    }

    #[test]
    fn a_result_shows_its_recheck_wait_beside_its_time_and_a_query_what_it_compared() {
        let mut r = ReconcileResult::new("totals", ReconcileKind::Query);
        r.status = Status::Fail;
        r.source_rows = 1;
        r.target_rows = 1;
        r.rows_compared = 1;
        r.mismatch_total = 2;
        r.key_columns = vec!["count".into()];
        r.elapsed_ms = 1_200;
        r.recheck_wait_ms = 5_000;
        r.verdict = Some(Verdict::compute(2, 1, 0, None));
        assert_eq!(
            summary(&r),
            "totals: ✘ 2 rows differ (max 0) comparing the query's result rows (1 on the \
             source, 1 on the target) by their first column count (1.2s + 5.0s waiting to re-check)"
        );
        r.kind = ReconcileKind::Count;
        r.recheck_wait_ms = 0;
        assert_eq!(summary(&r), "totals: ✘ 2 rows differ (max 0) of 1 (1.2s)");
    }

    #[test]
    fn verdict_tolerates_either_threshold_and_handles_empty_tables() {
        assert!(Verdict::compute(0, 0, 0, None).within);
        assert!(!Verdict::compute(1, 0, 0, None).within);
        assert!(!Verdict::compute(1, 1000, 0, None).within);
        assert!(Verdict::compute(1, 1000, 1, None).within);
        assert!(Verdict::compute(1, 1000, 0, Some(0.1)).within);
        assert!(!Verdict::compute(2, 1000, 0, Some(0.1)).within);
        assert!((Verdict::compute(2, 1000, 0, None).mismatch_pct - 0.2).abs() < 1e-9);
    }
}
