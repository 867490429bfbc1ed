//! `kind = "count"`: row counts per key-range partition on both sides. A partition whose
//! counts differ is one mismatch (key: the range); the rows counted against the thresholds
//! are the differences of the counts.

use super::partition;
use super::table::{self, RangeQuery};
use super::{ColumnDiff, Cx, Mismatch, MismatchClass, Phase, ReconcileError, ReconcileResult};

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Planning);
    let t = table::setup(cx, res).await?;
    t.begin().await?;
    let r = pass(cx, &t, res).await;
    t.end().await;
    r
}

async fn pass(
    cx: &Cx<'_>,
    t: &table::Table<'_>,
    res: &mut ReconcileResult,
) -> Result<(), ReconcileError> {
    let ranges = partition::plan_for(cx, t, res).await?;
    res.key_columns = vec!["range".into()];
    cx.report(res, Phase::Comparing);
    let (ss, ts) = futures::try_join!(
        t.source.prepare(RangeQuery::Count),
        t.target.prepare(RangeQuery::Count)
    )?;
    let max_listed = cx.opts.max_listed;
    t.compare_ranges(
        (&ss, &ts),
        &ranges,
        cx.opts.pipeline_depth,
        &mut |i, a, b| {
            res.partitions_done += 1;
            res.source_rows += u64::try_from(a.count).unwrap_or(0);
            res.target_rows += u64::try_from(b.count).unwrap_or(0);
            if a.count != b.count {
                res.mismatch_total += (a.count - b.count).unsigned_abs();
                if res.mismatches.len() < max_listed {
                    let range = ranges[i].describe();
                    res.mismatches.push(Mismatch {
                        detail: format!(
                            "keys {range}: {} rows on the source, {} on the target",
                            a.count, b.count
                        ),
                        key: vec![range],
                        class: if a.count > b.count {
                            MismatchClass::MissingOnTarget
                        } else {
                            MismatchClass::ExtraOnTarget
                        },
                        columns: vec![ColumnDiff {
                            column: "count".into(),
                            source: Some(a.count.to_string()),
                            target: Some(b.count.to_string()),
                        }],
                        transient: false,
                    });
                }
            }
            cx.report(res, Phase::Comparing);
        },
    )
    .await?;
    Ok(())
}
