//! A `checksum` without a key: the table compared as a **multiset** of rows. Each side gives
//! its row count and an order-independent aggregate of per-row hashes (the sum of 60 bits of
//! each row text's md5), both in one pinned snapshot; when they differ, the rows are grouped by
//! their text on both sides (when that fits in memory) and the surplus of each side is listed
//! with its multiplicity. Duplicates count: a key made of all columns would hide them.

use std::collections::BTreeMap;

use super::table::{self, MAX_RANGE_BYTES, Side, Table};
use super::{Cx, Phase, ReconcileError, ReconcileResult};
use cutover_model::shown;

/// Count and hash sum of one side.
async fn digest(side: &Side<'_>) -> Result<(i64, String), ReconcileError> {
    // The rows' native hashes summed (see `hashing`), or 60 bits of the md5 of each row
    // text's UTF-8 bytes (not the server's encoding: a LATIN1 source and a UTF8 target hold
    // the same text as other bytes).
    let q = match &side.sql.row_hash {
        Some(h) => format!(
            "SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum({h}), 0)::pg_catalog.text FROM {}",
            side.sql.relation
        ),
        None => format!(
            "SELECT pg_catalog.count(*), \
         COALESCE(pg_catalog.sum(('x' || pg_catalog.substr(pg_catalog.md5(pg_catalog.convert_to(s.r, 'UTF8')), 1, 15))::pg_catalog.bit(60)::pg_catalog.int8), 0)::pg_catalog.text \
         FROM (SELECT {} AS r FROM {}) s",
            side.sql.row_text, side.sql.relation
        ),
    };
    let row = side
        .client
        .query_one(&q, &[])
        .await
        .map_err(ReconcileError::sql(side.label, "hash the rows"))?;
    Ok((row.get(0), row.get(1)))
}

/// Each distinct row text of one side with how many rows hold it.
async fn grouped(side: &Side<'_>) -> Result<Vec<(String, i64)>, ReconcileError> {
    let q = format!(
        "SELECT s.r, pg_catalog.count(*) FROM (SELECT {} AS r FROM {}) s GROUP BY s.r",
        side.sql.row_text, side.sql.relation
    );
    Ok(side
        .client
        .query(&q, &[])
        .await
        .map_err(ReconcileError::sql(side.label, "group the rows"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Planning);
    let t = table::setup(cx, res).await?;
    t.begin().await?;
    let r = compare(cx, &t, res).await;
    t.end().await;
    r
}

async fn compare(
    cx: &Cx<'_>,
    t: &Table<'_>,
    res: &mut ReconcileResult,
) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Comparing);
    res.key_columns = vec!["row".into()];
    res.partitions_total = 1;
    res.notes.push(
        "no key: compared as a multiset of rows (row count and a sum of row hashes; duplicates count)"
            .into(),
    );
    let ((na, ha), (nb, hb)) = futures::try_join!(digest(&t.source), digest(&t.target))?;
    res.partitions_done = 1;
    res.source_rows = u64::try_from(na).unwrap_or(0);
    res.target_rows = u64::try_from(nb).unwrap_or(0);
    if na == nb && ha == hb {
        return Ok(());
    }
    // Listing needs both sides' rows here: only when they fit.
    let width = table::row_width(t).await?.max(1);
    let rows = u64::try_from(na.max(nb)).unwrap_or(u64::MAX);
    if rows.saturating_mul(width) > MAX_RANGE_BYTES {
        res.mismatch_total = (na - nb).unsigned_abs().max(1);
        res.mismatch_total_is_lower_bound = true;
        res.notes.push(format!(
            "the rows differ; too many to list without a key ({rows} rows): give a key to see which"
        ));
        return Ok(());
    }
    let (a, b) = futures::try_join!(grouped(&t.source), grouped(&t.target))?;
    let mut surplus: BTreeMap<String, i64> = BTreeMap::new();
    for (r, n) in a {
        *surplus.entry(r).or_default() += n;
    }
    for (r, n) in b {
        *surplus.entry(r).or_default() -= n;
    }
    let columns: Vec<String> = t.plan.columns.iter().map(|c| c.name.clone()).collect();
    for (row, n) in surplus.into_iter().filter(|(_, n)| *n != 0) {
        res.mismatch_total += n.unsigned_abs();
        if res.mismatches.len() >= cx.opts.max_listed {
            continue;
        }
        let (s, tg) = if n > 0 {
            (Some(row.clone()), None)
        } else {
            (None, Some(row.clone()))
        };
        if let Some(mut m) = super::bisect::classify(vec![shown::row(&row)], s, tg, &columns) {
            m.by_content = true;
            if n.unsigned_abs() > 1 {
                m.detail = format!("{} (×{})", m.detail, n.unsigned_abs());
            }
            res.mismatches.push(m);
        }
    }
    Ok(())
}
