//! A partitioned table is compared through its parent (a row that sits in another partition
//! on the target is still matched by key); its result then says, per partition, how many rows
//! each side has and which partition each listed difference is in (on the side that has the
//! row), read in the check's snapshots.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt, stream};
use tokio_postgres::types::ToSql;

use cutover_model::reconcile::{MismatchClass, PartitionRows};
use cutover_model::runbook::ReconcileKind;

use super::table::{Side, Table};
use super::{Cx, ReconcileError, ReconcileResult};

/// Rows per partition on one side.
async fn counts(side: &Side<'_>) -> Result<BTreeMap<String, u64>, ReconcileError> {
    let rows = side
        .client
        .query(side.sql.partition_counts().as_str(), &[])
        .await
        .map_err(ReconcileError::sql(
            side.label,
            "count the rows per partition",
        ))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            )
        })
        .collect())
}

/// The partition holding `key`'s row on `side` (`None`: no such row now).
async fn home(
    side: &Side<'_>,
    stmt: &tokio_postgres::Statement,
    key: &[String],
) -> Result<Option<String>, ReconcileError> {
    let params: Vec<&(dyn ToSql + Sync)> = key.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    side.client
        .query_opt(stmt, &params)
        .await
        .map(|r| r.map(|r| r.get::<_, String>(0)))
        .map_err(ReconcileError::sql(side.label, "find a row's partition"))
}

/// Fills `res.partitions` for a partitioned table (nothing for any other).
pub(crate) async fn attribute(
    cx: &Cx<'_>,
    t: &Table<'_>,
    res: &mut ReconcileResult,
) -> Result<(), ReconcileError> {
    if !t.partitioned || t.plan.key.is_empty() {
        return Ok(());
    }
    let (s, g) = futures::try_join!(counts(&t.source), counts(&t.target))?;
    let (qs, qt) = (t.source.sql.partition_of(), t.target.sql.partition_of());
    let (ps, pt) =
        futures::try_join!(t.source.client.prepare(&qs), t.target.client.prepare(&qt)).map_err(
            ReconcileError::sql("source/target", "prepare the partition lookup"),
        )?;
    let listed: Vec<(Vec<String>, bool)> = res
        .mismatches
        .iter()
        // A count's mismatches are key ranges, not rows: only the counts per partition.
        .filter(|m| !m.transient && !m.by_content && cx.check.kind != ReconcileKind::Count)
        .map(|m| (m.key.clone(), m.class == MismatchClass::ExtraOnTarget))
        .collect();
    let (ps, pt, listed) = (&ps, &pt, &listed);
    let homes: Vec<Option<String>> = stream::iter(0..listed.len())
        .map(|i| {
            let (key, on_target) = &listed[i];
            if *on_target {
                home(&t.target, pt, key)
            } else {
                home(&t.source, ps, key)
            }
        })
        .buffered(cx.opts.pipeline_depth.max(1))
        .try_collect()
        .await?;
    let mut parts: BTreeMap<String, PartitionRows> = BTreeMap::new();
    let mut entry = |name: &str| {
        parts
            .entry(name.to_string())
            .or_insert_with(|| PartitionRows {
                name: name.to_string(),
                source_rows: 0,
                target_rows: 0,
                mismatches: 0,
            })
            .clone()
    };
    for name in s.keys().chain(g.keys()) {
        entry(name);
    }
    for (name, n) in &s {
        if let Some(p) = parts.get_mut(name) {
            p.source_rows = *n;
        }
    }
    for (name, n) in &g {
        if let Some(p) = parts.get_mut(name) {
            p.target_rows = *n;
        }
    }
    for home in homes.into_iter().flatten() {
        parts
            .entry(home.clone())
            .or_insert_with(|| PartitionRows {
                name: home,
                source_rows: 0,
                target_rows: 0,
                mismatches: 0,
            })
            .mismatches += 1;
    }
    res.partitions = parts.into_values().collect();
    Ok(())
}
