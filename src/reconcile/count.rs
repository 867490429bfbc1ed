//! `kind = "count"`: row counts per key-range partition on both sides. A partition whose
//! counts differ is one mismatch (key: the range); the rows counted against the thresholds
//! are the differences of the counts. The key need not be unique: a range counts every row
//! whose key falls in it, twins included, so a duplicate hides nothing.

use super::table::{self, RangeQuery};
use super::{ColumnDiff, Cx, Mismatch, MismatchClass, ReconcileError, ReconcileResult};

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    if cx.check.key.is_empty() {
        return whole_table(cx, res).await;
    }
    let (t, ranges) = table::open(cx, res, table::KeyUse::Ranges).await?;
    res.key_columns = vec!["range".into()];
    let max_listed = cx.opts.max_listed;
    let r = t
        .range_pass(cx, res, RangeQuery::Count, &ranges, &mut |res, i, a, b| {
            if a.count != b.count {
                res.mismatch_total += (a.count - b.count).unsigned_abs();
                if res.mismatches.len() < max_listed {
                    let range = ranges[i].describe();
                    let detail = format!(
                        "keys {range}: {} rows on the source, {} on the target",
                        a.count, b.count
                    );
                    res.mismatches
                        .push(counts_differ(range, a.count, b.count, detail));
                }
            }
        })
        .await;
    let r = match r {
        Ok(_) => match super::integrity::null_keys(cx, &t, res, false).await {
            Ok(()) => super::partitions::attribute(cx, &t, res).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    t.end().await;
    r
}

/// Without a key: one `count(*)` per side, both at once.
async fn whole_table(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    cx.report(res, super::Phase::Comparing);
    let (s, t) = table::tables(cx).await?;
    let count = |q: &str| format!("SELECT pg_catalog.count(*) FROM {q}");
    let (qs, qt) = (count(&s.qualified()), count(&t.qualified()));
    let (a, b) = futures::try_join!(
        async {
            cx.source
                .query_one(&qs, &[])
                .await
                .map_err(ReconcileError::sql("source", "count the rows"))
        },
        async {
            cx.target
                .query_one(&qt, &[])
                .await
                .map_err(ReconcileError::sql("target", "count the rows"))
        }
    )?;
    let (a, b): (i64, i64) = (a.get(0), b.get(0));
    res.key_columns = vec!["table".into()];
    res.partitions_total = 1;
    res.partitions_done = 1;
    res.source_rows = u64::try_from(a).unwrap_or(0);
    res.target_rows = u64::try_from(b).unwrap_or(0);
    if a != b {
        res.mismatch_total = (a - b).unsigned_abs();
        let detail = format!("{a} rows on the source, {b} on the target");
        res.mismatches
            .push(counts_differ(s.display(), a, b, detail));
    }
    cx.report(res, super::Phase::Comparing);
    Ok(())
}

/// The mismatch of the rows under `key` (a key range, the table, the rows whose key has a
/// NULL) counted `a` on the source and `b` on the target: missing or extra by whichever side
/// has more, the counts as its one `count` column.
pub(crate) fn counts_differ(key: String, a: i64, b: i64, detail: String) -> Mismatch {
    Mismatch::new(
        vec![key],
        if a > b {
            MismatchClass::MissingOnTarget
        } else {
            MismatchClass::ExtraOnTarget
        },
        vec![ColumnDiff {
            column: "count".into(),
            source: Some(a.to_string()),
            target: Some(b.to_string()),
        }],
        detail,
    )
}
