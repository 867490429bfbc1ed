//! What a key-range comparison cannot see by itself, checked in the same snapshots: whether
//! the key is unique on each side where rows are matched by it (a checksum's drill-down: a
//! duplicate would hide behind its twin; a count needs no such thing, see
//! [`super::table::KeyUse`]), and the rows whose key has a NULL (no key range holds them),
//! compared by content as a multiset.

use std::collections::BTreeMap;

use tokio_postgres::types::ToSql;

use super::bisect;
use super::sql::UNIQUE_INDEX_ON_KEY;
use super::table::{Side, Table};
use super::{Cx, ReconcileError, ReconcileResult};

/// Rows with a NULL key fetched per side to list the differing ones, at most.
const NULL_KEY_ROWS: i64 = 10_000;

/// The key shown for rows whose key has a NULL (a count check lists them as one mismatch).
pub const NULL_KEY: &str = "(key has NULL)";

/// Fails unless the key is unique among the rows without NULLs on both sides: by the
/// catalog (a unique index on key columns only), else by looking for a duplicate.
pub(crate) async fn key_is_unique(t: &Table<'_>) -> Result<(), ReconcileError> {
    let names: Vec<String> = t.plan.key.iter().map(|k| k.name.clone()).collect();
    let (a, b) = futures::try_join!(unique_on(&t.source, &names), unique_on(&t.target, &names))?;
    for (side, dup) in [("source", a), ("target", b)] {
        if let Some((key, n)) = dup {
            return Err(ReconcileError::Other(format!(
                "the key ({}) is not unique on the {side}: {key} is held by {n} rows, so rows \
                 could hide behind their twins; give a unique key (e.g. the primary key)",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// A duplicated key value of `side` and how many rows hold it, if any.
async fn unique_on(
    side: &Side<'_>,
    names: &[String],
) -> Result<Option<(String, i64)>, ReconcileError> {
    let relation = side.sql.relation.clone();
    let proven: bool = side
        .client
        .query_one(UNIQUE_INDEX_ON_KEY, &[&relation, &names])
        .await
        .map_err(ReconcileError::sql(
            side.label,
            "read the table's unique indexes",
        ))?
        .get(0);
    if proven {
        return Ok(None);
    }
    let row = side
        .client
        .query_opt(&side.sql.duplicate_key(), &[])
        .await
        .map_err(ReconcileError::sql(
            side.label,
            "check that the key is unique",
        ))?;
    Ok(row.map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))))
}

/// Compares the rows whose key has a NULL: their counts (`digest` false, for `count`), or
/// their contents as multisets (`checksum`), listing the rows present on one side only.
pub(crate) async fn null_keys(
    cx: &Cx<'_>,
    t: &Table<'_>,
    res: &mut ReconcileResult,
    digest: bool,
) -> Result<(), ReconcileError> {
    // A key NOT NULL on both sides has no such rows.
    if !t.plan.key.is_empty() && t.plan.key.iter().all(|k| k.not_null) {
        return Ok(());
    }
    let q = |s: &Side<'_>| {
        if digest {
            s.sql.null_key_checksum()
        } else {
            s.sql.null_key_count()
        }
    };
    let (qs, qt) = (q(&t.source), q(&t.target));
    let (a, b) = futures::try_join!(
        t.source.client.query_one(&qs, &[]),
        t.target.client.query_one(&qt, &[])
    )
    .map_err(ReconcileError::sql(
        "source/target",
        "compare the rows with a NULL key",
    ))?;
    let (na, nb): (i64, i64) = (a.get(0), b.get(0));
    res.source_rows += u64::try_from(na).unwrap_or(0);
    res.target_rows += u64::try_from(nb).unwrap_or(0);
    let same =
        na == nb && (!digest || a.get::<_, Option<Vec<u8>>>(1) == b.get::<_, Option<Vec<u8>>>(1));
    if same {
        return Ok(());
    }
    if !digest {
        res.mismatch_total += (na - nb).unsigned_abs();
        res.mismatches.push(null_key_count_mismatch(na, nb));
        return Ok(());
    }
    // Wide rows are fetched fewer at a time (they come here whole).
    let limit = i64::try_from(t.rows_within_bytes(NULL_KEY_ROWS as u64)).unwrap_or(NULL_KEY_ROWS);
    let (ra, rb) = futures::try_join!(rows(&t.source, limit), rows(&t.target, limit))?;
    let mut differing = list_null_key_rows(cx, t, res, surplus(ra, rb));
    // Rows past the fetch limit were not compared one by one: count at least the difference.
    let fetched_all = na <= limit && nb <= limit;
    if !fetched_all {
        differing = differing.max((na - nb).unsigned_abs()).max(1);
        res.notes.push(format!(
            "{na} source and {nb} target rows have a NULL in the key; the first {limit} \
             of each were compared row by row"
        ));
    }
    res.mismatch_total += differing;
    Ok(())
}

/// The one mismatch a `count` check lists for rows whose key has a NULL when the sides hold
/// `na` (source) and `nb` (target) of them: missing or extra by whichever side has more.
fn null_key_count_mismatch(na: i64, nb: i64) -> super::Mismatch {
    super::Mismatch {
        by_content: true,
        ..super::count::counts_differ(
            NULL_KEY.into(),
            na,
            nb,
            format!("rows whose key has a NULL: {na} on the source, {nb} on the target"),
        )
    }
}

/// Each distinct row text with how many more times it is on the source than on the target
/// (negative: more on the target; zero: as many on both).
fn surplus(source: Vec<String>, target: Vec<String>) -> BTreeMap<String, i64> {
    let mut surplus: BTreeMap<String, i64> = BTreeMap::new();
    for r in source {
        *surplus.entry(r).or_default() += 1;
    }
    for r in target {
        *surplus.entry(r).or_default() -= 1;
    }
    surplus
}

/// Lists the rows with a NULL in the key that one side holds more often than the other, one
/// mismatch per surplus copy (keyed by the row's key values, `NULL` shown as such), until
/// `max_listed` mismatches are listed; returns how many rows differ, listed or not.
fn list_null_key_rows(
    cx: &Cx<'_>,
    t: &Table<'_>,
    res: &mut ReconcileResult,
    surplus: BTreeMap<String, i64>,
) -> u64 {
    let columns: Vec<String> = t.plan.columns.iter().map(|c| c.name.clone()).collect();
    let key_at: Vec<Option<usize>> = t
        .plan
        .key
        .iter()
        .map(|k| columns.iter().position(|c| *c == k.name))
        .collect();
    let mut differing = 0u64;
    for (row, n) in surplus.into_iter().filter(|(_, n)| *n != 0) {
        differing += n.unsigned_abs();
        let fields = super::rowtext::parse(&row).unwrap_or_default();
        let key: Vec<String> = key_at
            .iter()
            .map(|i| {
                i.and_then(|i| fields.get(i).cloned().flatten())
                    .unwrap_or_else(|| "NULL".into())
            })
            .collect();
        let (s, tg) = if n > 0 {
            (Some(row), None)
        } else {
            (None, Some(row))
        };
        for _ in 0..n.unsigned_abs() {
            if res.mismatches.len() >= cx.opts.max_listed {
                break;
            }
            if let Some(mut m) = bisect::classify(key.clone(), s.clone(), tg.clone(), &columns) {
                m.by_content = true;
                m.detail = format!("key has NULL · {}", m.detail);
                res.mismatches.push(m);
            }
        }
    }
    differing
}

/// The row texts of `side`'s rows whose key has a NULL (the first `limit`).
async fn rows(side: &Side<'_>, limit: i64) -> Result<Vec<String>, ReconcileError> {
    let limit: &(dyn ToSql + Sync) = &limit;
    Ok(side
        .client
        .query(&side.sql.null_key_rows(), &[limit])
        .await
        .map_err(ReconcileError::sql(
            side.label,
            "read the rows with a NULL key",
        ))?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect())
}
