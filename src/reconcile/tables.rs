//! `tables = ["public.*", "billing.invoices"]` for `count` and `checksum`: the globs are
//! expanded on both servers at run time (ordinary and partitioned tables; a partition is
//! compared through its parent), each table is compared on its own with its primary key (or
//! its narrowest unique index over NOT NULL columns) as key, the keyless rule otherwise, and
//! the check's result sums them up with one result per table. A table on one side only is a
//! mismatch (all its rows), not an error.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use cutover_model::ident::{quote_parts, split_qualified_marked};
use cutover_model::reconcile::{MAX_FULL_VALUES, Progress};

use super::{
    ColumnDiff, Cx, Mismatch, MismatchClass, Phase, ReconcileError, ReconcileResult, Status,
};

/// Tables of a side that are not partitions, outside the system schemas: `(schema, name)`.
const LIST_TABLES: &str = "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
       AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' \
     ORDER BY 1, 2";

/// The key of a table: its primary key, else its narrowest valid unique index without
/// expressions or predicate over NOT NULL columns (no row is NULL in it, no two rows share it).
const TABLE_KEY: &str = "SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY k.ord) \
     FROM pg_catalog.pg_index i \
     CROSS JOIN LATERAL pg_catalog.unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord) \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
     WHERE i.indrelid = (SELECT c.oid FROM pg_catalog.pg_class c \
                         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = $1 AND c.relname = $2) \
       AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL \
     GROUP BY i.indexrelid, i.indisprimary \
     HAVING pg_catalog.bool_and(a.attnotnull) \
     ORDER BY i.indisprimary DESC, pg_catalog.count(*), i.indexrelid \
     LIMIT 1";

/// Whether `text` matches `glob` (`*`: any run of characters, `?`: one character).
pub fn glob_match(glob: &str, text: &str) -> bool {
    let g: Vec<Tok> = glob.chars().map(Tok::of).collect();
    toks_match(&g, text)
}

/// One character of a glob: a wildcard, or a character to match as it is (every character
/// of a part written in double quotes is one).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Star,
    One,
    Char(char),
}

impl Tok {
    fn of(c: char) -> Tok {
        match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Char(c),
        }
    }
}

/// Whether `text` matches the glob `g`.
fn toks_match(g: &[Tok], text: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let (mut gi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == Tok::One || g[gi] == Tok::Char(t[ti])) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == Tok::Star {
            star = Some((gi, ti));
            gi += 1;
        } else if let Some((sg, st)) = star {
            gi = sg + 1;
            ti = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == Tok::Star)
}

/// `schema.table` split at dots outside double quotes ([`split_qualified_marked`]), each
/// part a glob in which the characters written inside quotes are literal (`public."o*"`
/// names the table `o*` only, as `init` writes it, never every table starting with `o`).
fn glob_parts(glob: &str) -> Vec<Vec<Tok>> {
    split_qualified_marked(glob)
        .into_iter()
        .map(|part| {
            part.into_iter()
                .map(|(c, quoted)| if quoted { Tok::Char(c) } else { Tok::of(c) })
                .collect()
        })
        .collect()
}

/// Whether `(schema, name)` matches one of `globs` (each `schema.table`; a `*` or `?` inside
/// double quotes is the character itself).
pub fn selected(globs: &[String], schema: &str, name: &str) -> bool {
    globs.iter().any(|g| match glob_parts(g).as_slice() {
        [s, t] => toks_match(s, schema) && toks_match(t, name),
        _ => false,
    })
}

/// Sessions per side a `tables` check compares tables on at once (the check's own and the
/// extra ones it opens); a paced check uses one, so its pace is the whole check's.
const TABLE_LANES: usize = 2;

/// The tables of one side the check selects.
async fn list(
    client: &Client,
    side: &str,
    include: &[String],
    exclude: &[String],
) -> Result<BTreeSet<(String, String)>, ReconcileError> {
    let rows = client
        .query(LIST_TABLES, &[])
        .await
        .map_err(ReconcileError::sql(side, "list the tables"))?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .filter(|(s, n)| selected(include, s, n) && !selected(exclude, s, n))
        .collect())
}

/// The key columns of `schema.name` on the source (empty: no usable unique key).
async fn key_of(client: &Client, schema: &str, name: &str) -> Result<Vec<String>, ReconcileError> {
    let row = client
        .query_opt(TABLE_KEY, &[&schema, &name])
        .await
        .map_err(ReconcileError::sql("source", "read a table's key"))?;
    Ok(row
        .and_then(|r| r.get::<_, Option<Vec<String>>>(0))
        .unwrap_or_default())
}

/// Rows of a table on one side (for a table the other side lacks).
async fn row_count(
    client: &Client,
    side: &str,
    schema: &str,
    name: &str,
) -> Result<u64, ReconcileError> {
    let q = format!(
        "SELECT pg_catalog.count(*) FROM {}",
        quote_parts(schema, name)
    );
    let n: i64 = client
        .query_one(q.as_str(), &[])
        .await
        .map_err(ReconcileError::sql(side, "count the rows of a table"))?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `schema.name` as a key and a check name: parts quoted only when they need it.
fn shown_name(schema: &str, name: &str) -> String {
    cutover_model::ident::shown_qualified(schema, name)
}

/// Runs the check over every selected table.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Planning);
    let versions = cx.server_versions(res).await?;
    let check = cx.check;
    let (on_source, on_target) = futures::try_join!(
        list(cx.source, "source", &check.tables, &check.exclude_tables),
        list(cx.target, "target", &check.tables, &check.exclude_tables)
    )?;
    if on_source.is_empty() {
        return Err(nothing_selected(&check.tables, &check.exclude_tables));
    }
    res.key_columns = vec!["table".into()];
    res.partitions_total = u32::try_from(on_source.union(&on_target).count()).unwrap_or(u32::MAX);
    // Tables on one side only: every row of them differs.
    for (schema, name) in on_source.symmetric_difference(&on_target) {
        let missing = !on_target.contains(&(schema.clone(), name.clone()));
        record_one_sided(cx, res, schema, name, missing).await?;
    }
    let total = res.partitions_total;
    let both: Vec<(String, String)> = on_source.intersection(&on_target).cloned().collect();
    let extra = extra_sessions(cx, both.len()).await;
    let shared = std::sync::Mutex::new(Sums {
        done: res.partitions_done,
        rows: res.source_rows.max(res.target_rows),
        diffs: res.mismatch_total,
        full_kept: 0,
    });
    let lanes: Vec<(&Client, &Client)> = std::iter::once((cx.source, cx.target))
        .chain(extra.iter().map(|(s, t)| (s, t)))
        .collect();
    let runs = lanes.iter().enumerate().map(|(lane, clients)| {
        let mine: Vec<(usize, &(String, String))> = both
            .iter()
            .enumerate()
            .filter(|(i, _)| i % lanes.len() == lane)
            .collect();
        compare_tables(cx, *clients, versions, mine, total, &shared)
    });
    let mut done: Vec<(usize, ReconcileResult)> = Vec::with_capacity(both.len());
    for r in futures::future::join_all(runs).await {
        done.extend(r?);
    }
    done.sort_by_key(|(i, _)| *i);
    let keyless = add_compared(res, done);
    cx.report(res, Phase::Comparing);
    if keyless > 0 {
        res.notes.push(format!(
            "{keyless} of the tables have no primary key or unique NOT NULL index: compared as multisets"
        ));
    }
    settle(res)
}

/// The error for a `tables` selection that matches no table on the source (the check would
/// compare nothing), naming the globs and the exclusions.
fn nothing_selected(tables: &[String], exclude: &[String]) -> ReconcileError {
    ReconcileError::Other(format!(
        "source: tables [{}] match no table{} (the check would compare nothing)",
        tables.join(", "),
        if exclude.is_empty() {
            String::new()
        } else {
            format!(" outside [{}]", exclude.join(", "))
        }
    ))
}

/// Records a table found on one side only (`missing`: on the source, not the target) as one
/// mismatch whose rows all differ: counts its rows on the side that has it and adds them to
/// the result's sums (at least one mismatch, even for an empty table).
async fn record_one_sided(
    cx: &Cx<'_>,
    res: &mut ReconcileResult,
    schema: &str,
    name: &str,
    missing: bool,
) -> Result<(), ReconcileError> {
    let (client, side) = if missing {
        (cx.source, "source")
    } else {
        (cx.target, "target")
    };
    let rows = row_count(client, side, schema, name).await?;
    let (class, detail) = if missing {
        (
            MismatchClass::MissingOnTarget,
            format!("table missing on target ({rows} rows on the source)"),
        )
    } else {
        (
            MismatchClass::ExtraOnTarget,
            format!("table only on the target ({rows} rows there)"),
        )
    };
    if missing {
        res.source_rows += rows;
    } else {
        res.target_rows += rows;
    }
    res.mismatch_total += rows.max(1);
    res.partitions_done += 1;
    let count = Some(rows.to_string());
    res.mismatches.push(Mismatch::new(
        vec![shown_name(schema, name)],
        class,
        vec![ColumnDiff {
            column: "rows".into(),
            source: if missing { count.clone() } else { None },
            target: if missing { None } else { count },
        }],
        detail,
    ));
    Ok(())
}

/// The extra session pairs the check compares tables on beside its own: up to
/// `TABLE_LANES - 1`, fewer when there are fewer `tables` to share out, none for a paced check
/// or when the settings to open them are not known. A pair that fails to connect is left out.
async fn extra_sessions(cx: &Cx<'_>, tables: usize) -> Vec<(Client, Client)> {
    // Up to TABLE_LANES sessions per side when the settings to open more are known: one
    // table's round trips (catalog, snapshot, plan) overlap the others' comparisons.
    let mut extra = Vec::new();
    let paced = super::throttle::is_paced(cx.check);
    if let Some((s, t)) = cx.opts.sessions.as_ref().filter(|_| !paced) {
        let wanted = tables.min(TABLE_LANES).saturating_sub(1);
        let opened =
            futures::future::join_all((0..wanted).map(|_| super::connect_pair(s, t))).await;
        extra.extend(opened.into_iter().flatten());
    }
    extra
}

/// Adds each compared table's result (in the check's table order) to the check's sums and
/// its list of tables; returns how many of them had no unique key (compared as multisets).
fn add_compared(res: &mut ReconcileResult, done: Vec<(usize, ReconcileResult)>) -> usize {
    let mut keyless = 0usize;
    for (_, r) in done {
        keyless += usize::from(r.key_columns == ["row"]);
        res.source_rows += r.source_rows;
        res.target_rows += r.target_rows;
        res.mismatch_total += r.mismatch_rows();
        res.partitions_done += 1;
        res.tables.push(r);
    }
    keyless
}

/// Progress over the tables compared so far, shared by the lanes.
struct Sums {
    done: u32,
    rows: u64,
    diffs: u64,
    /// Mismatches whose whole long values are kept (bounded over the whole check).
    full_kept: usize,
}

/// Compares `tables` (with their index in the check's order) one after the other on one
/// session per side.
async fn compare_tables(
    cx: &Cx<'_>,
    (source, target): (&Client, &Client),
    versions: (u32, u32),
    tables: Vec<(usize, &(String, String))>,
    total: u32,
    sums: &std::sync::Mutex<Sums>,
) -> Result<Vec<(usize, ReconcileResult)>, ReconcileError> {
    let check = cx.check;
    let mut out = Vec::with_capacity(tables.len());
    for (i, (schema, name)) in tables {
        let key = key_of(source, schema, name).await?;
        let mut sub = check.clone();
        sub.name = shown_name(schema, name);
        sub.table = Some(quote_parts(schema, name));
        sub.tables = Vec::new();
        sub.exclude_tables = Vec::new();
        sub.key = key;
        let progress = |p: &Progress| {
            let (done, rows, diffs) = match sums.lock() {
                Ok(s) => (s.done, s.rows, s.diffs),
                Err(_) => (0, 0, 0),
            };
            (cx.progress)(&Progress {
                name: check.name.clone(),
                phase: p.phase,
                partitions_done: done,
                partitions_total: total,
                rows_compared: rows + p.rows_compared,
                mismatches: diffs + p.mismatches,
                elapsed_ms: cx.elapsed_ms(),
                throttled: p.throttled.clone(),
                recheck_in_ms: None,
            })
        };
        let sub_cx = Cx::for_table(&sub, cx, (source, target), versions, &progress);
        let mut r = Box::pin(super::run_in(sub_cx)).await;
        if let Ok(mut s) = sums.lock() {
            // Whole long values: a handful over the whole check, not per table.
            for m in r.mismatches.iter_mut().filter(|m| !m.full.is_empty()) {
                if s.full_kept < MAX_FULL_VALUES {
                    s.full_kept += 1;
                } else {
                    m.full = Vec::new();
                }
            }
            s.done += 1;
            s.rows += r.source_rows.max(r.target_rows);
            s.diffs += r.mismatch_rows();
        }
        out.push((i, r));
    }
    Ok(out)
}

/// A table that could not be compared makes the whole check an error (it never passes), with
/// every table's own result kept.
fn settle(res: &ReconcileResult) -> Result<(), ReconcileError> {
    let failed: Vec<&ReconcileResult> = res
        .tables
        .iter()
        .filter(|t| t.status == Status::Error)
        .collect();
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(ReconcileError::Other(format!(
            "{} of {} tables could not be compared; {}: {}",
            failed.len(),
            res.tables.len(),
            first.name,
            first.error.as_deref().unwrap_or("error")
        ))),
    }
}

/// Recomputes the sums of a `tables` result from its tables (after a re-check changed them).
pub(crate) fn resum(res: &mut ReconcileResult) {
    let missing: u64 = res
        .mismatches
        .iter()
        .map(|m| {
            m.columns
                .iter()
                .filter_map(|c| c.source.as_deref().or(c.target.as_deref()))
                .filter_map(|n| n.parse::<u64>().ok())
                .sum::<u64>()
                .max(1)
        })
        .sum();
    res.mismatch_total = missing
        + res
            .tables
            .iter()
            .map(ReconcileResult::mismatch_rows)
            .sum::<u64>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_match("*", "orders"));
        // Quoted, a wildcard is the character itself: the table `o*` only.
        let globs = ["public.\"o*\"".to_string()];
        assert!(selected(&globs, "public", "o*"));
        assert!(!selected(&globs, "public", "orders"));
        let globs = ["\"a.b\".\"x?\"\"y\"".to_string()];
        assert!(selected(&globs, "a.b", "x?\"y"));
        assert!(!selected(&globs, "a.b", "xz\"y"));
        assert!(selected(&["public.o*".to_string()], "public", "orders"));
        assert!(glob_match("order?", "orders"));
        assert!(glob_match("or*rs", "orders"));
        assert!(glob_match("*_2026_*", "events_2026_11"));
        assert!(!glob_match("order?", "order"));
        assert!(!glob_match("orders", "orders2"));
        assert!(glob_match("", ""));
        assert!(selected(&["public.*".into()], "public", "t"));
        assert!(!selected(&["public.*".into()], "billing", "t"));
        assert!(selected(&["\"My Schema\".*".into()], "My Schema", "t"));
        assert_eq!(shown_name("public", "orders"), "public.orders");
        assert_eq!(shown_name("App", "a.b"), "\"App\".\"a.b\"");
    }
}
