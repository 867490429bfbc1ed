//! `kind = "query"`: the business query (`sql`, or `target_sql` on the target) on both sides,
//! each in a pinned repeatable-read snapshot (the session's search path is kept), results
//! read as text and compared as **multisets**: row order is ignored, because two servers may
//! order ties, hash aggregates or unordered queries differently and still hold the same data;
//! an `ORDER BY` only makes the listing readable. Duplicate rows count. Rows only on the
//! source are `missing_on_target`, rows only on the target `extra_on_target`; when exactly one
//! missing and one extra row share the first column's value (e.g. the day of a "revenue by
//! day" query), they are shown as one `different` row with the differing columns.

use std::collections::HashMap;

use futures::TryStreamExt;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::bisect::compare_keys;
use super::settings::{self, Pinning};
use super::{ColumnDiff, Cx, Mismatch, MismatchClass, Phase, ReconcileError, ReconcileResult};
use cutover_model::runbook::Tolerance;
use cutover_model::shown;

type Row = Vec<Option<String>>;

/// A result set: column names and each distinct row with its multiplicity.
struct ResultSet {
    columns: Vec<String>,
    /// Per column, whether its type is a number (`int2`…`numeric`, `float4`, `float8`);
    /// empty when the types could not be learned (the tolerance then applies nowhere).
    numeric: Vec<bool>,
    rows: HashMap<Row, u64>,
    total: u64,
}

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Comparing);
    let sql = cx
        .check
        .sql
        .as_ref()
        .ok_or_else(|| ReconcileError::Other("the check has no sql".into()))?;
    let source_sql = sql.render(&cx.opts.secrets);
    let target_sql = cx
        .check
        .target_sql
        .as_ref()
        .unwrap_or(sql)
        .render(&cx.opts.secrets);
    let (sv, tv) = cx.server_versions(res).await?;
    let pin = Pinning {
        extra_float_digits: settings::extra_float_digits(sv, tv),
        catalog_search_path: false,
        statement_timeout_ms: cx.statement_timeout_ms(),
        lock_timeout_ms: cx.lock_timeout_ms(),
    };
    let limit = cx.opts.query_max_rows;
    let (a, b) = futures::try_join!(
        read(cx.source, "source", &source_sql, &pin, limit),
        read(cx.target, "target", &target_sql, &pin, limit)
    )?;
    res.partitions_total = 1;
    res.partitions_done = 1;
    res.source_rows = a.total;
    res.target_rows = b.total;
    if a.columns.len() != b.columns.len() {
        return Err(ReconcileError::Other(format!(
            "the source query returns {} columns ({}), the target's {} ({})",
            a.columns.len(),
            a.columns.join(", "),
            b.columns.len(),
            b.columns.join(", ")
        )));
    }
    if a.columns != b.columns {
        res.notes.push(format!(
            "column names differ: source ({}), target ({}); compared by position",
            a.columns.join(", "),
            b.columns.join(", ")
        ));
    }
    res.columns = a.columns.clone();
    res.key_columns = a.columns.first().cloned().into_iter().collect();
    let (found, total, tolerated) = compare(&a, &b, cx.check.tolerance.as_ref());
    if tolerated > 0
        && let Some(t) = &cx.check.tolerance
    {
        res.notes.push(format!(
            "{} equal within the tolerance ({}) on their numeric columns",
            cutover_model::narrate::count(tolerated, "row"),
            t.describe()
        ));
    }
    res.mismatch_total = total;
    res.mismatches = found.into_iter().take(cx.opts.max_listed).collect();
    Ok(())
}

async fn read(
    client: &Client,
    side: &str,
    sql: &str,
    pin: &Pinning,
    limit: usize,
) -> Result<ResultSet, ReconcileError> {
    // The result's types, before the snapshot (a statement that cannot be prepared, several
    // of them say, would abort the transaction): which columns a tolerance may apply to.
    let numeric = match client.prepare(sql).await {
        Ok(st) => st.columns().iter().map(|c| is_number(c.type_())).collect(),
        Err(_) => Vec::new(),
    };
    settings::begin(client, side, pin).await?;
    let r = read_in_snapshot(client, side, sql, limit).await;
    settings::end(client).await;
    r.map(|set| ResultSet { numeric, ..set })
}

/// Whether a result column of type `t` holds numbers a tolerance applies to.
fn is_number(t: &tokio_postgres::types::Type) -> bool {
    use tokio_postgres::types::Type;
    [
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::NUMERIC,
        Type::FLOAT4,
        Type::FLOAT8,
    ]
    .contains(t)
}

async fn read_in_snapshot(
    client: &Client,
    side: &str,
    sql: &str,
    limit: usize,
) -> Result<ResultSet, ReconcileError> {
    let stream = client
        .simple_query_raw(sql)
        .await
        .map_err(ReconcileError::sql(side, "run the query"))?;
    let mut stream = std::pin::pin!(stream);
    let mut set = ResultSet {
        columns: Vec::new(),
        numeric: Vec::new(),
        rows: HashMap::new(),
        total: 0,
    };
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(ReconcileError::sql(side, "run the query"))?
    {
        match msg {
            SimpleQueryMessage::RowDescription(cols) => {
                set.columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => {
                if set.columns.is_empty() {
                    set.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                }
                let values: Row = (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect();
                set.total += 1;
                if set.total as usize > limit {
                    return Err(ReconcileError::Other(format!(
                        "{side}: the query returns more than {limit} rows; compare tables with kind = \"checksum\""
                    )));
                }
                *set.rows.entry(values).or_default() += 1;
            }
            _ => {}
        }
    }
    Ok(set)
}

fn show(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) if s.is_empty() => "''".into(),
        Some(s) => s.clone(),
    }
}

fn whole_row(class: MismatchClass, columns: &[String], row: &Row, times: u64) -> Mismatch {
    let cols = columns
        .iter()
        .zip(row)
        .map(|(c, v)| ColumnDiff {
            column: c.clone(),
            source: if class == MismatchClass::MissingOnTarget {
                shown::kept(v.clone(), None).0
            } else {
                None
            },
            target: if class == MismatchClass::ExtraOnTarget {
                shown::kept(v.clone(), None).0
            } else {
                None
            },
        })
        .collect();
    let text = row
        .iter()
        .map(|v| shown::value(v.as_deref()))
        .collect::<Vec<_>>()
        .join(", ");
    let times = if times > 1 {
        format!(" (×{times})")
    } else {
        String::new()
    };
    Mismatch::new(
        vec![row.first().map(show).unwrap_or_default()],
        class,
        cols,
        format!("{}: ({text}){times}", class.label()),
    )
}

/// Whether two rows are equal with numbers compared within `t`: every column the same text,
/// or, in a column `tolerant` says is a number (never the first, which pairs the rows), both
/// numbers within the tolerance.
fn within(a: &Row, b: &Row, t: &Tolerance, tolerant: &[bool]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).enumerate().all(|(i, (x, y))| match (x, y) {
            _ if x == y => true,
            (Some(x), Some(y)) if tolerant.get(i).copied().unwrap_or(false) => {
                numbers_within(x, y, t)
            }
            _ => false,
        })
}

/// Whether the numbers written `x` and `y` are within `t`. Integers are subtracted exactly
/// (`9007199254740993` and `…992` are one apart, not equal as `f64`s); other numbers as
/// `f64`, where two numbers that differ but read as the same `f64` count as apart by the
/// least amount (so `absolute = 0` means equal).
fn numbers_within(x: &str, y: &str, t: &Tolerance) -> bool {
    let (Ok(fx), Ok(fy)) = (x.parse::<f64>(), y.parse::<f64>()) else {
        return false;
    };
    let diff = match (x.parse::<i128>(), y.parse::<i128>()) {
        (Ok(a), Ok(b)) => a.abs_diff(b) as f64,
        _ if fx == fy && !same_number(x, y) => f64::MIN_POSITIVE,
        _ => (fx - fy).abs(),
    };
    t.allows_diff(diff, fx.abs().max(fy.abs()))
}

/// Whether two decimal numbers are written alike but for a sign on zero, leading zeros and
/// trailing fractional zeros (`01.50` and `1.5`).
fn same_number(x: &str, y: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().trim_start_matches('+');
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let body = format!("{int}.{frac}");
        if body == "." {
            "0".into()
        } else if neg {
            format!("-{body}")
        } else {
            body
        }
    }
    norm(x) == norm(y)
}

/// Pairs rows only on one side with rows only on the other that are equal within `t`;
/// returns how many rows were paired (they are equal, not mismatches).
fn pair_within(
    missing: &mut [(&Row, u64)],
    extra: &mut [(&Row, u64)],
    t: &Tolerance,
    tolerant: &[bool],
) -> u64 {
    // Pairing is quadratic: beyond this the rows stay mismatches (a tolerance is for a few
    // aggregates, not for whole tables).
    const MAX_PAIRS: usize = 1_000_000;
    if missing.len().saturating_mul(extra.len()) > MAX_PAIRS {
        return 0;
    }
    let mut paired = 0;
    for (row, n) in missing.iter_mut() {
        for (other, m) in extra.iter_mut() {
            if *n == 0 {
                break;
            }
            if *m > 0 && within(row, other, t, tolerant) {
                let k = (*n).min(*m);
                *n -= k;
                *m -= k;
                paired += k;
            }
        }
    }
    paired
}

/// The rows of `of` that are there more often than in `other`, each with how many times
/// more (a multiset difference).
fn surplus<'r>(of: &'r ResultSet, other: &ResultSet) -> Vec<(&'r Row, u64)> {
    let mut out = Vec::new();
    for (row, n) in &of.rows {
        let m = other.rows.get(row).copied().unwrap_or(0);
        if *n > m {
            out.push((row, n - m));
        }
    }
    out
}

/// One `different` mismatch for a source row and a target row paired by their first
/// column's value `key`, naming the columns whose values differ.
fn paired_rows(columns: &[String], key: &Option<String>, row: &Row, other: &Row) -> Mismatch {
    let mut diffs = Vec::new();
    let mut said = Vec::new();
    let mut full = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let (a, b) = (
            row.get(i).cloned().flatten(),
            other.get(i).cloned().flatten(),
        );
        if a == b {
            continue;
        }
        let (x, y) = shown::pair(a.as_deref(), b.as_deref());
        said.push(format!("{c}: {x} → {y}"));
        let (source, target) = super::bisect::keep(c, a, b, &mut full);
        diffs.push(ColumnDiff {
            column: c.clone(),
            source,
            target,
        });
    }
    let detail = said.join("; ");
    Mismatch {
        full,
        ..Mismatch::new(vec![show(key)], MismatchClass::Different, diffs, detail)
    }
}

/// The row-level differences, the number of differing rows (a paired row counts once) and
/// the number of rows equal only within the tolerance.
fn compare(a: &ResultSet, b: &ResultSet, t: Option<&Tolerance>) -> (Vec<Mismatch>, u64, u64) {
    let mut missing = surplus(a, b);
    let mut extra = surplus(b, a);
    // A tolerance applies to the columns that are numbers on both sides, but the first.
    let tolerant: Vec<bool> = (0..a.columns.len())
        .map(|i| i > 0 && a.numeric.get(i) == Some(&true) && b.numeric.get(i) == Some(&true))
        .collect();
    let tolerated = t.map_or(0, |t| pair_within(&mut missing, &mut extra, t, &tolerant));
    missing.retain(|(_, n)| *n > 0);
    extra.retain(|(_, n)| *n > 0);
    let first = |r: &Row| r.first().cloned().flatten();
    let mut out = Vec::new();
    let mut total = 0u64;
    let columns = &a.columns;
    let count_first = |v: &[(&Row, u64)], key: &Option<String>| {
        v.iter()
            .filter(|(r, _)| &first(r) == key)
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    let mut paired_extra = std::collections::HashSet::new();
    for (row, n) in &missing {
        let key = first(row);
        if columns.len() > 1
            && *n == 1
            && count_first(&missing, &key) == 1
            && count_first(&extra, &key) == 1
            && let Some((other, _)) = extra.iter().find(|(r, _)| first(r) == key)
        {
            paired_extra.insert(*other);
            out.push(paired_rows(columns, &key, row, other));
            total += 1;
            continue;
        }
        out.push(whole_row(MismatchClass::MissingOnTarget, columns, row, *n));
        total += n;
    }
    for (row, n) in &extra {
        if !paired_extra.contains(row) {
            out.push(whole_row(MismatchClass::ExtraOnTarget, columns, row, *n));
            total += n;
        }
    }
    out.sort_by(|x, y| compare_keys(&x.key, &y.key).then(x.detail.cmp(&y.detail)));
    (out, total, tolerated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rows: &[&[Option<&str>]]) -> ResultSet {
        let mut s = ResultSet {
            columns: vec!["day".into(), "total".into()],
            numeric: vec![false, true],
            rows: HashMap::new(),
            total: 0,
        };
        for r in rows {
            let r: Row = r.iter().map(|v| v.map(str::to_string)).collect();
            *s.rows.entry(r).or_default() += 1;
            s.total += 1;
        }
        s
    }

    #[test]
    fn compares_as_multisets_and_pairs_by_first_column() {
        let a = set(&[
            &[Some("d1"), Some("10")],
            &[Some("d2"), Some("20")],
            &[Some("d3"), Some("30")],
            &[Some("d3"), Some("30")],
        ]);
        let b = set(&[
            &[Some("d3"), Some("30")],
            &[Some("d2"), Some("21")],
            &[Some("d1"), Some("10")],
            &[Some("d4"), None],
        ]);
        let (m, total, _) = compare(&a, &b, None);
        assert_eq!(total, 3);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].class, MismatchClass::Different);
        assert_eq!(m[0].detail, "total: 20 → 21");
        assert_eq!(m[1].class, MismatchClass::MissingOnTarget);
        assert_eq!(m[1].key, ["d3"]);
        assert_eq!(m[2].class, MismatchClass::ExtraOnTarget);
        assert_eq!(m[2].detail, "extra on target: (d4, NULL)");
        let (none, zero, _) = compare(&a, &a, None);
        assert!(none.is_empty() && zero == 0);
    }

    #[test]
    fn a_tolerance_pairs_numbers_that_differ_by_summation_order_only() {
        // PostgreSQL 15 and 18 summing the same floats in a different order.
        let a = set(&[
            &[Some("all"), Some("1234567.636296")],
            &[Some("x"), Some("1")],
        ]);
        let b = set(&[
            &[Some("all"), Some("1234567.636287")],
            &[Some("x"), Some("2")],
        ]);
        let t = Tolerance {
            absolute: None,
            relative: Some(1e-9),
        };
        let (m, total, tolerated) = compare(&a, &b, Some(&t));
        assert_eq!((total, tolerated), (1, 1));
        assert_eq!(m[0].key, ["x"]);
        // Without it, both differ; text that is not a number never matches by tolerance.
        assert_eq!(compare(&a, &b, None).1, 2);
        let c = set(&[&[Some("all"), Some("abc")]]);
        let d = set(&[&[Some("all"), Some("abd")]]);
        assert_eq!(compare(&c, &d, Some(&t)).2, 0);
    }

    /// A tolerance is for numbers: not the first column (ids, the pairing column), not a text
    /// column holding digits, not a column of unknown type; and integers are subtracted
    /// exactly. Each of these was tolerated before (a false pass).
    #[test]
    fn a_tolerance_applies_to_number_columns_only_and_exactly() {
        let relative = Tolerance {
            absolute: None,
            relative: Some(1e-9),
        };
        let exact = Tolerance {
            absolute: Some(0.0),
            relative: None,
        };
        // Ids in the first column: 1234567890 and 1234567891 are within 1e-9, but not alike.
        let mut a = set(&[&[Some("1234567890"), Some("10")]]);
        let mut b = set(&[&[Some("1234567891"), Some("10")]]);
        a.numeric = vec![true, true];
        b.numeric = vec![true, true];
        assert_eq!(compare(&a, &b, Some(&relative)).2, 0);
        // A text column of digits.
        let mut a = set(&[&[Some("c"), Some("9007199254740993")]]);
        let mut b = set(&[&[Some("c"), Some("9007199254740992")]]);
        a.numeric = vec![false, false];
        b.numeric = vec![false, false];
        assert_eq!(compare(&a, &b, Some(&exact)).2, 0);
        // The same as numbers: one apart (the same f64), so not within absolute 0…
        a.numeric = vec![false, true];
        b.numeric = vec![false, true];
        assert_eq!(compare(&a, &b, Some(&exact)).2, 0);
        // … but within relative 1e-9.
        assert_eq!(compare(&a, &b, Some(&relative)).2, 1);
        // Types unknown on one side: nowhere.
        b.numeric = Vec::new();
        assert_eq!(compare(&a, &b, Some(&relative)).2, 0);
        // Decimals written otherwise are the same number; 0.1 + 0.2 is not 0.3 to the digit.
        assert!(numbers_within("1.10", "01.1", &exact));
        assert!(!numbers_within("0.30000000000000004", "0.3", &exact));
        assert!(numbers_within("0.30000000000000004", "0.3", &relative));
    }
}
