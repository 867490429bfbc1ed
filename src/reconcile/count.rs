//! `kind = "count"`: row counts per key-range partition on both sides. A partition whose
//! counts differ is one mismatch (key: the range); the rows counted against the thresholds
//! are the differences of the counts.

use super::table::{self, RangeQuery};
use super::{ColumnDiff, Cx, Mismatch, MismatchClass, ReconcileError, ReconcileResult};

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    let (t, ranges) = table::open(cx, res).await?;
    res.key_columns = vec!["range".into()];
    let max_listed = cx.opts.max_listed;
    let r = t
        .range_pass(cx, res, RangeQuery::Count, &ranges, &mut |res, i, a, b| {
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
                        by_content: false,
                    });
                }
            }
        })
        .await;
    let r = match r {
        Ok(_) => super::integrity::null_keys(cx, &t, res, false).await,
        Err(e) => Err(e),
    };
    t.end().await;
    r
}
