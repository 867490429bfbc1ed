//! Drilling a mismatching key range down to rows. A range with more rows than
//! [`super::Options::drill_max_rows`] is split (at every N-th key of the larger side) and the
//! pieces are checksummed again; a small enough range is fetched from both sides at once as
//! `(key text, row text)` and diffed by key. Client memory is bounded by the range size.

use std::collections::HashMap;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt, stream};

use super::partition::{self, KeyText, Range, ranges_from_bounds};
use super::rowtext;
use super::sql::{Bounds, range_params};
use super::table::{Prepared, Side, Table};
use super::{
    ColumnDiff, Cx, Mismatch, MismatchClass, Phase, ReconcileError, ReconcileResult, Verdict,
};
use cutover_model::shown;

/// Pieces a large mismatching range is split into.
const SPLIT: u64 = 16;
/// How deep splitting goes before rows are fetched anyway.
const MAX_DEPTH: u32 = 6;

/// A row's fields as parsed from its text (`None`: NULL).
type Fields = [Option<String>];

/// Drills every mismatching range `(range, source rows, target rows)` and records the
/// mismatches in `res` (listed up to `max_listed`, counted beyond). Stops early, with
/// `mismatch_total_is_lower_bound`, once the listing is full and the verdict can only be fail.
pub(crate) async fn drill_all(
    cx: &Cx<'_>,
    t: &Table<'_>,
    stmts: (&Prepared, &Prepared),
    bad: Vec<(Range, i64, i64)>,
    res: &mut ReconcileResult,
) -> Result<(), ReconcileError> {
    if bad.is_empty() {
        return Ok(());
    }
    cx.report(res, Phase::DrillingDown);
    let rows = res.source_rows.max(res.target_rows);
    let mut pending: Vec<u64> = bad
        .iter()
        .map(|(_, a, b)| (a - b).unsigned_abs().max(1))
        .collect();
    let mut drills = stream::iter(0..bad.len())
        .map(|i| drill(cx, t, stmts, bad[i].0.clone(), bad[i].1, bad[i].2, 0))
        .buffered(cx.opts.drill_parallel.max(1))
        .enumerate();
    while let Some((i, found)) = drills.next().await {
        let found = found?;
        pending[i] = 0;
        res.mismatch_total += found.len() as u64;
        let room = cx.opts.max_listed.saturating_sub(res.mismatches.len());
        res.mismatches.extend(found.into_iter().take(room));
        res.bound_full_values();
        cx.report(res, Phase::DrillingDown);
        let full = res.mismatches.len() >= cx.opts.max_listed;
        let verdict = Verdict::compute(
            res.mismatch_total,
            rows,
            cx.check.max_mismatch_rows,
            cx.check.max_mismatch_pct,
        );
        if full && !verdict.within && pending.iter().any(|p| *p > 0) {
            res.mismatch_total += pending.iter().sum::<u64>();
            res.mismatch_total_is_lower_bound = true;
            break;
        }
    }
    Ok(())
}

fn drill<'a>(
    cx: &'a Cx<'a>,
    t: &'a Table<'a>,
    stmts: (&'a Prepared, &'a Prepared),
    range: Range,
    source_rows: i64,
    target_rows: i64,
    depth: u32,
) -> BoxFuture<'a, Result<Vec<Mismatch>, ReconcileError>> {
    async move {
        let larger = source_rows.max(target_rows).unsigned_abs();
        // Fetched rows come here whole: wide rows are fetched fewer at a time.
        let max_rows = t.rows_within_bytes(cx.opts.drill_max_rows);
        if larger > max_rows && depth < MAX_DEPTH {
            let side = if source_rows >= target_rows {
                &t.source
            } else {
                &t.target
            };
            let step = larger.div_ceil(SPLIT).max(1);
            let mut bounds =
                partition::boundaries(side.client, side.label, &side.sql, &range, step).await?;
            if bounds.last() == range.hi.as_ref() {
                bounds.pop();
            }
            if !bounds.is_empty() {
                let subs = split(&range, bounds);
                let hashes = t
                    .compare_ranges(
                        stmts,
                        &subs,
                        cx.opts.pipeline_depth,
                        None,
                        &mut |_, _, _| {},
                    )
                    .await?;
                let mut out = Vec::new();
                for (sub, (a, b)) in subs.into_iter().zip(hashes) {
                    if a != b {
                        out.extend(drill(cx, t, stmts, sub, a.count, b.count, depth + 1).await?);
                    }
                }
                return Ok(out);
            }
        }
        let columns: Vec<String> = t.plan.columns.iter().map(|c| c.name.clone()).collect();
        let (a, b) = futures::try_join!(fetch(&t.source, &range), fetch(&t.target, &range))?;
        Ok(diff(a, b, &columns))
    }
    .boxed()
}

/// `range` split at `bounds` (all inside it, ascending).
fn split(range: &Range, bounds: Vec<KeyText>) -> Vec<Range> {
    let mut subs = ranges_from_bounds(bounds);
    if let Some(first) = subs.first_mut() {
        first.lo = range.lo.clone();
    }
    if let Some(last) = subs.last_mut() {
        last.hi = range.hi.clone();
    }
    subs
}

/// Every `(key, row text)` of a range on one side.
async fn fetch(side: &Side<'_>, range: &Range) -> Result<HashMap<KeyText, String>, ReconcileError> {
    let n = side.sql.key.len();
    let rows = side
        .client
        .query_raw(
            side.sql.fetch(Bounds::of(range)).as_str(),
            range_params(range),
        )
        .await
        .map_err(ReconcileError::sql(
            side.label,
            "fetch the rows of a mismatching range",
        ))?;
    let mut map = HashMap::new();
    let mut rows = std::pin::pin!(rows);
    while let Some(row) = rows.try_next().await.map_err(ReconcileError::sql(
        side.label,
        "fetch the rows of a mismatching range",
    ))? {
        let key: KeyText = (0..n).map(|i| row.get::<_, String>(i)).collect();
        map.insert(key, row.get::<_, String>(n));
    }
    Ok(map)
}

/// The mismatches between the rows of both sides, in key order.
pub fn diff(
    source: HashMap<KeyText, String>,
    mut target: HashMap<KeyText, String>,
    columns: &[String],
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (key, s) in source {
        let t = target.remove(&key);
        if let Some(m) = classify(key, Some(s), t, columns) {
            out.push(m);
        }
    }
    for (key, t) in target {
        if let Some(m) = classify(key, None, Some(t), columns) {
            out.push(m);
        }
    }
    out.sort_by(|a, b| compare_keys(&a.key, &b.key));
    out
}

/// Natural order of key texts (integers numerically).
pub fn compare_keys(a: &[String], b: &[String]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.parse::<i128>(), y.parse::<i128>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            _ => x.cmp(y),
        };
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// The mismatch for one key given both sides' row texts (`None`: no row), or `None` when
/// they agree.
pub fn classify(
    key: KeyText,
    source: Option<String>,
    target: Option<String>,
    columns: &[String],
) -> Option<Mismatch> {
    let (class, s, t) = match (source, target) {
        (None, None) => return None,
        (Some(s), Some(t)) if s == t => return None,
        (Some(s), None) => (MismatchClass::MissingOnTarget, Some(s), None),
        (None, Some(t)) => (MismatchClass::ExtraOnTarget, None, Some(t)),
        (Some(s), Some(t)) => (MismatchClass::Different, Some(s), Some(t)),
    };
    let parse = |r: &Option<String>| r.as_deref().and_then(rowtext::parse);
    let (ps, pt) = (parse(&s), parse(&t));
    let mut full = Vec::new();
    // What the detail line says of each difference, from the whole values.
    let mut said: Vec<String> = Vec::new();
    let diffs = match class {
        MismatchClass::Different => differing_columns(
            columns,
            (&s, &t),
            (ps.as_deref(), pt.as_deref()),
            &mut said,
            &mut full,
        ),
        _ => one_side_columns(class, columns, ps.or(pt).unwrap_or_default(), &mut full),
    };
    let detail = match class {
        MismatchClass::Different => said.join("; "),
        MismatchClass::MissingOnTarget => {
            format!(
                "missing on target: {}",
                shown::row(s.as_deref().unwrap_or(""))
            )
        }
        MismatchClass::ExtraOnTarget => {
            format!(
                "extra on target: {}",
                shown::row(t.as_deref().unwrap_or(""))
            )
        }
    };
    Some(Mismatch {
        full,
        ..Mismatch::new(key, class, diffs, detail)
    })
}

/// The columns that differ between two rows of the same key, given their texts `(s, t)` and
/// their parsed fields `(ps, pt)`; the whole row as one `(row)` difference when the fields
/// cannot be told apart (unparsable, another column count, or no field differs). What the
/// detail line says of each goes to `said`, whole long values to `full`.
fn differing_columns(
    columns: &[String],
    (s, t): (&Option<String>, &Option<String>),
    (ps, pt): (Option<&Fields>, Option<&Fields>),
    said: &mut Vec<String>,
    full: &mut Vec<ColumnDiff>,
) -> Vec<ColumnDiff> {
    let mut diffs = Vec::new();
    if let (Some(ps), Some(pt)) = (ps, pt)
        && ps.len() == columns.len()
        && pt.len() == columns.len()
    {
        for (i, c) in columns.iter().enumerate() {
            if ps[i] != pt[i] {
                let (x, y) = shown::pair(ps[i].as_deref(), pt[i].as_deref());
                said.push(format!("{c}: {x} → {y}"));
                let (source, target) = keep(c, ps[i].clone(), pt[i].clone(), full);
                diffs.push(ColumnDiff {
                    column: c.clone(),
                    source,
                    target,
                });
            }
        }
    }
    if diffs.is_empty() {
        let (x, y) = shown::pair(s.as_deref(), t.as_deref());
        said.push(format!("(row): {x} → {y}"));
        let (source, target) = keep("(row)", s.clone(), t.clone(), full);
        diffs.push(ColumnDiff {
            column: "(row)".into(),
            source,
            target,
        });
    }
    diffs
}

/// Every column of a row on one side only (`class` says which), its value on that side and
/// none on the other; whole long values go to `full`.
fn one_side_columns(
    class: MismatchClass,
    columns: &[String],
    present: Vec<Option<String>>,
    full: &mut Vec<ColumnDiff>,
) -> Vec<ColumnDiff> {
    let mut diffs = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let v = present.get(i).cloned().flatten();
        let v = keep(c, v, None, full).0;
        let (source, target) = if class == MismatchClass::MissingOnTarget {
            (v, None)
        } else {
            (None, v)
        };
        diffs.push(ColumnDiff {
            column: c.clone(),
            source,
            target,
        });
    }
    diffs
}

/// The values of a difference as a result keeps them ([`shown::kept`]); when that cuts them,
/// the whole values are added to `full` (for the values file).
pub fn keep(
    column: &str,
    source: Option<String>,
    target: Option<String>,
    full: &mut Vec<ColumnDiff>,
) -> (Option<String>, Option<String>) {
    let long = |v: &Option<String>| v.as_ref().is_some_and(|x| x.len() > shown::MAX_KEPT);
    if long(&source) || long(&target) {
        full.push(ColumnDiff {
            column: column.to_string(),
            source: source.clone(),
            target: target.clone(),
        });
    }
    shown::kept(source, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(v: &str) -> KeyText {
        vec![v.to_string()]
    }

    #[test]
    fn diffs_rows_by_key_and_names_columns() {
        let cols: Vec<String> = ["id", "a", "b"].iter().map(|s| s.to_string()).collect();
        let s = HashMap::from([
            (k("1"), "(1,x,)".to_string()),
            (k("2"), "(2,y,\"\")".to_string()),
            (k("10"), "(10,z,1)".to_string()),
        ]);
        let t = HashMap::from([
            (k("1"), "(1,x,)".to_string()),
            (k("2"), "(2,y,)".to_string()),
            (k("11"), "(11,w,2)".to_string()),
        ]);
        let d = diff(s, t, &cols);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].key, k("2"));
        assert_eq!(d[0].class, MismatchClass::Different);
        assert_eq!(
            d[0].columns,
            vec![ColumnDiff {
                column: "b".into(),
                source: Some(String::new()),
                target: None
            }]
        );
        assert_eq!(d[0].detail, "b: '' → NULL");
        assert_eq!(d[1].key, k("10"));
        assert_eq!(d[1].class, MismatchClass::MissingOnTarget);
        assert_eq!(d[2].class, MismatchClass::ExtraOnTarget);
        assert_eq!(d[2].columns[1].target.as_deref(), Some("w"));
    }

    #[test]
    fn splits_inside_the_range() {
        let r = Range {
            lo: Some(k("0")),
            hi: Some(k("100")),
        };
        let s = split(&r, vec![k("50")]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].lo, Some(k("0")));
        assert_eq!(s[1].hi, Some(k("100")));
    }
}
