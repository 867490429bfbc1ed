//! `changed_since = "updated_at"`: a drift-watch round that compares only the rows changed
//! lately (since the previous round, plus an overlap): the keys of the rows changed on either
//! side are read (both servers at once, each in its pinned snapshot) and those rows compared
//! by key, as a re-check does. "Lately" is a look-back from each server's own `now()` (the
//! snapshot's start), never a moment on this machine's clock: a skewed client clock cannot
//! make a round skip rows. A row deleted on one side leaves nothing changed behind: the
//! periodic full comparison (`full_every`) finds it.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::TryStreamExt;

use cutover_model::ident::quote_ident;

use super::table::{self, Side};
use super::{Cx, Mismatch, MismatchClass, Phase, ReconcileError, ReconcileResult};

/// More changed rows than this and the round compares the whole table instead.
pub const MAX_CHANGED_ROWS: usize = 200_000;

/// What an incremental round found.
pub(crate) enum Changed {
    /// Compared: the rows changed since the moment.
    Compared,
    /// Too many changed rows: the caller runs the full comparison.
    TooMany(usize),
}

/// The look-back as an `interval` literal: `125000 milliseconds`.
fn interval(lookback: Duration) -> String {
    format!("{} milliseconds", lookback.as_millis())
}

/// The moment a `column` of this type is compared with, `$1` the look-back: a `timestamptz`
/// against the server's `now()` less it; a `timestamp` (no time zone) or a `date` holds the
/// writers' local time, so that moment is taken in the session's own TimeZone (`$2`, read
/// before the check pinned it to UTC), as `now()` wrote it.
fn since_expr(column_type: &str) -> &'static str {
    match column_type {
        "timestamp without time zone" => {
            "(pg_catalog.now() - $1::pg_catalog.text::pg_catalog.interval) AT TIME ZONE $2::pg_catalog.text"
        }
        "date" => {
            "((pg_catalog.now() - $1::pg_catalog.text::pg_catalog.interval) AT TIME ZONE $2::pg_catalog.text)::pg_catalog.date"
        }
        _ => "pg_catalog.now() - $1::pg_catalog.text::pg_catalog.interval",
    }
}

/// The keys of the rows of `side` whose `column` is within `lookback` of the server's `now()`
/// (at most [`MAX_CHANGED_ROWS`] + 1 of them).
async fn changed_keys(
    side: &Side<'_>,
    column: &str,
    lookback: Duration,
) -> Result<Vec<Vec<String>>, ReconcileError> {
    // The column's type, and the session's own TimeZone (`reset_val`: not the pinned one).
    let info = side
        .client
        .query_opt(
            "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod), \
               (SELECT s.reset_val FROM pg_catalog.pg_settings s WHERE s.name = 'TimeZone') \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = $1::pg_catalog.text::pg_catalog.regclass AND a.attname = $2 \
               AND a.attnum > 0 AND NOT a.attisdropped",
            &[&side.sql.relation, &column],
        )
        .await
        .map_err(ReconcileError::sql(
            side.label,
            "read the changed_since column",
        ))?
        .ok_or_else(|| {
            ReconcileError::Other(format!(
                "changed_since: no column {column:?} in {} on the {}",
                side.sql.relation, side.label
            ))
        })?;
    let (column_type, zone): (String, String) = (info.get(0), info.get(1));
    let since = since_expr(&column_type);
    let q = format!(
        "SELECT {} FROM {} WHERE {} >= {since} LIMIT {}",
        side.sql.key_text(),
        side.sql.relation,
        quote_ident(column),
        MAX_CHANGED_ROWS + 1
    );
    let mut params = vec![interval(lookback)];
    if since.contains("$2") {
        params.push(zone);
    }
    let n = side.sql.key.len();
    let rows = side
        .client
        .query_raw(q.as_str(), params)
        .await
        .map_err(ReconcileError::sql(
            side.label,
            "read the changed rows' keys",
        ))?;
    let mut rows = std::pin::pin!(rows);
    let mut keys = Vec::new();
    while let Some(r) = rows.try_next().await.map_err(ReconcileError::sql(
        side.label,
        "read the changed rows' keys",
    ))? {
        keys.push((0..n).map(|i| r.get::<_, String>(i)).collect());
    }
    Ok(keys)
}

/// Compares the rows changed within `lookback` (of each server's `now()`) into `res`.
pub(crate) async fn run(
    cx: &Cx<'_>,
    column: &str,
    lookback: Duration,
    res: &mut ReconcileResult,
) -> Result<Changed, ReconcileError> {
    cx.report(res, Phase::Planning);
    let t = table::setup(cx, res).await?;
    t.begin().await?;
    let r = compare(cx, &t, column, lookback, res).await;
    t.end().await;
    r
}

async fn compare(
    cx: &Cx<'_>,
    t: &table::Table<'_>,
    column: &str,
    lookback: Duration,
    res: &mut ReconcileResult,
) -> Result<Changed, ReconcileError> {
    let (s, g) = futures::try_join!(
        changed_keys(&t.source, column, lookback),
        changed_keys(&t.target, column, lookback)
    )?;
    let all: BTreeSet<Vec<String>> = s.iter().chain(g.iter()).cloned().collect();
    if all.len() > MAX_CHANGED_ROWS {
        return Ok(Changed::TooMany(all.len()));
    }
    // Every changed key is read on both sides: that many rows are compared.
    let compared = all.len() as u64;
    res.source_rows = compared;
    res.target_rows = compared;
    res.partitions_total = 1;
    cx.report(res, Phase::Comparing);
    let mut probe = ReconcileResult::new(&res.name, res.kind);
    probe.key_columns = res.key_columns.clone();
    probe.mismatches = all
        .into_iter()
        .map(|key| Mismatch::new(key, MismatchClass::Different, Vec::new(), String::new()))
        .collect();
    let found: Vec<Mismatch> = super::checksum::recheck_keys(cx, t, &probe)
        .await?
        .into_iter()
        .filter(|m| !m.transient)
        .collect();
    res.partitions_done = 1;
    res.mismatch_total = found.len() as u64;
    res.mismatches = found;
    res.notes.push(format!(
        "incremental: the {} changed in the last {} ({column}, by each server's clock) compared; rows deleted on one side are found by the full comparison",
        cutover_model::narrate::count(compared, "row"),
        cutover_model::runbook::units::format_duration(lookback)
    ));
    Ok(Changed::Compared)
}
