//! `kind = "checksum"`: per key-range partition, row count and
//! `sha256(convert_to(string_agg(ROW(cols)::text, E'\n'), 'UTF8'))` over the key-ordered rows
//! (`COLLATE "C"` for text keys), computed by both servers at once; mismatching partitions
//! are drilled down to keys ([`super::bisect`]). Also the keyed re-check of mismatches.

use futures::{StreamExt, TryStreamExt, stream};
use tokio_postgres::types::ToSql;

use super::bisect;
use super::partition::Range;
use super::table::{self, RangeQuery, Side};
use super::{Cx, Mismatch, Phase, ReconcileError, ReconcileResult};

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    let (t, ranges) = table::open(cx, res, table::KeyUse::Matches).await?;
    let r = compare_and_drill(cx, &t, &ranges, res).await;
    t.end().await;
    r
}

/// Compares the ranges, then drills the mismatching ones down to keys.
async fn compare_and_drill(
    cx: &Cx<'_>,
    t: &table::Table<'_>,
    ranges: &[Range],
    res: &mut ReconcileResult,
) -> Result<(), ReconcileError> {
    let mut bad = Vec::new();
    let (ss, ts) = t
        .range_pass(
            cx,
            res,
            RangeQuery::Checksum,
            ranges,
            &mut |res, i, a, b| {
                if a != b {
                    bad.push((ranges[i].clone(), a.count, b.count));
                    res.mismatch_total += 1;
                }
            },
        )
        .await?;
    // From here on mismatch_total counts rows, not partitions.
    res.mismatch_total = 0;
    bisect::drill_all(cx, t, (&ss, &ts), bad, res).await?;
    super::integrity::null_keys(cx, t, res, true).await?;
    super::partitions::attribute(cx, t, res).await
}

/// Re-reads the listed, not yet transient mismatches by key on both sides (one new snapshot
/// per side) and marks those that now match as transient; the others get their current
/// values.
pub(crate) async fn recheck(
    cx: &Cx<'_>,
    previous: &ReconcileResult,
    res: &mut ReconcileResult,
) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Rechecking);
    let mut fresh = ReconcileResult::new(&res.name, res.kind);
    let t = table::setup(cx, &mut fresh).await?;
    if t.plan.key.len() != previous.key_columns.len() {
        return Err(ReconcileError::Other(
            "the key changed since the check ran; run it again".into(),
        ));
    }
    t.begin().await?;
    let r = recheck_keys(cx, &t, previous).await;
    t.end().await;
    res.mismatches = r?;
    if previous.mismatch_total > previous.mismatches.len() as u64 {
        res.notes.push(format!(
            "recheck covered the {} listed mismatches; {} more were not listed and still count",
            previous.mismatches.len(),
            previous.mismatch_total - previous.mismatches.len() as u64
        ));
    }
    Ok(())
}

pub(crate) async fn recheck_keys(
    cx: &Cx<'_>,
    t: &table::Table<'_>,
    previous: &ReconcileResult,
) -> Result<Vec<Mismatch>, ReconcileError> {
    let (qs, qt) = (t.source.sql.lookup(), t.target.sql.lookup());
    let (ls, lt) =
        futures::try_join!(t.source.client.prepare(&qs), t.target.client.prepare(&qt)).map_err(
            ReconcileError::sql("source/target", "prepare the key lookup"),
        )?;
    async fn one(
        side: &Side<'_>,
        stmt: &tokio_postgres::Statement,
        key: &[String],
    ) -> Result<Option<String>, ReconcileError> {
        let params: Vec<&(dyn ToSql + Sync)> =
            key.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(side
            .client
            .query_opt(stmt, &params)
            .await
            .map_err(ReconcileError::sql(side.label, "re-read a mismatching key"))?
            .map(|r| r.get(0)))
    }
    let columns: Vec<String> = t.plan.columns.iter().map(|c| c.name.clone()).collect();
    stream::iter(0..previous.mismatches.len())
        .map(|i| {
            let m = &previous.mismatches[i];
            let (ls, lt, columns) = (&ls, &lt, &columns);
            async move {
                // Rows found by content (a NULL key) cannot be re-read by key: they stand.
                if m.transient || m.by_content {
                    return Ok(m.clone());
                }
                let (a, b) =
                    futures::try_join!(one(&t.source, ls, &m.key), one(&t.target, lt, &m.key))?;
                Ok(match bisect::classify(m.key.clone(), a, b, columns) {
                    None => Mismatch {
                        transient: true,
                        ..m.clone()
                    },
                    Some(now) => now,
                })
            }
        })
        .buffered(cx.opts.pipeline_depth.max(1))
        .try_collect()
        .await
}
