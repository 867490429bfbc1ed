//! Repairing a table without a key, which its check compared as a multiset of rows: the rows
//! are grouped by their text on both sides again, and each row the target holds too few or
//! too many copies of becomes one statement that inserts or deletes exactly that many copies.
//! Its guard is the number of copies the target held when the repair read it: a table changed
//! since leaves the statement stale (it changes nothing).

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::rows::Unwritable;
use super::{Change, Patch, Statement, literal};
use crate::ReconcileError;
use crate::columns::{Column, TableInfo};
use crate::rowtext;
use cutover_model::ident::quote_ident;

/// A row text shown as the "key" of a multiset statement at most this long.
const SHOWN_ROW: usize = 120;

/// `ROW(a."c1", a."c2")::text` over alias `a`.
fn row_text(alias: &str, cols: &[&Column]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|c| format!("{alias}.{}", quote_ident(&c.name)))
        .collect();
    format!("ROW({})::pg_catalog.text", parts.join(", "))
}

/// Each distinct row text of `info` (over `cols`) with how many rows hold it.
async fn grouped(
    client: &Client,
    side: &str,
    info: &TableInfo,
    cols: &[&Column],
) -> Result<BTreeMap<String, i64>, ReconcileError> {
    let q = format!(
        "SELECT s.r, pg_catalog.count(*) FROM (SELECT {} AS r FROM {} AS a) s GROUP BY s.r",
        row_text("a", cols),
        info.qualified()
    );
    Ok(client
        .query(&q, &[])
        .await
        .map_err(ReconcileError::sql(side, "group the rows again"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The target table as the statements need it.
struct Shape<'a> {
    info: &'a TableInfo,
    cols: Vec<&'a Column>,
    unwritable: &'a Unwritable,
}

impl Shape<'_> {
    /// `(SELECT count(*) FROM rel AS u WHERE ROW(u.…)::text = 'row') = n`.
    fn holds(&self, row: &str, n: i64) -> String {
        format!(
            "(SELECT pg_catalog.count(*) FROM {} AS u WHERE {} = {}) = {n}",
            self.info.qualified(),
            row_text("u", &self.cols),
            literal(Some(row), "\"pg_catalog\".\"text\"")
        )
    }

    /// Inserts `k` copies of `values` while the target holds `n` copies of `row`.
    fn insert(&self, row: &str, values: &[Option<String>], k: i64, n: i64) -> String {
        let (names, lits): (Vec<String>, Vec<String>) = self
            .cols
            .iter()
            .zip(values)
            .filter(|(c, _)| !self.unwritable.generated.contains(&c.name))
            .map(|(c, v)| (quote_ident(&c.name), literal(v.as_deref(), &c.type_sql())))
            .unzip();
        format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM pg_catalog.generate_series(1, {k}) WHERE {}",
            self.info.qualified(),
            names.join(", "),
            lits.join(", "),
            self.holds(row, n)
        )
    }

    /// The statement that gives the target `diff` more copies of `row` (fewer when negative),
    /// which it holds `held` of now; its inverse undoes it.
    fn statement(&self, row: &str, values: &[Option<String>], diff: i64, held: i64) -> Statement {
        let k = diff.abs();
        let shown: String = row.chars().take(SHOWN_ROW).collect();
        let key = vec![(
            "row".to_string(),
            if shown.len() < row.len() {
                format!("{shown}…")
            } else {
                shown
            },
        )];
        let sides = |v: &Option<String>| {
            if diff > 0 {
                (v.clone(), None)
            } else {
                (None, v.clone())
            }
        };
        let values_shown = self
            .cols
            .iter()
            .zip(values)
            .map(|(c, v)| {
                let (s, t) = sides(v);
                (c.name.clone(), s, t)
            })
            .collect();
        let (change, sql, inverse) = if diff > 0 {
            (
                Change::Insert,
                self.insert(row, values, k, held),
                self.delete(row, k, held + k),
            )
        } else {
            (
                Change::Delete,
                self.delete(row, k, held),
                self.insert(row, values, k, held - k),
            )
        };
        Statement {
            table: self.info.display(),
            key,
            change,
            values: values_shown,
            sql,
            inverse,
        }
    }

    /// Deletes `k` copies of `row` while the target holds `n` of them.
    fn delete(&self, row: &str, k: i64, n: i64) -> String {
        format!(
            "DELETE FROM {rel} AS t WHERE (t.tableoid, t.ctid) IN (SELECT v.tableoid, v.ctid FROM {rel} AS v WHERE {} = {} LIMIT {k}) AND {}",
            row_text("v", &self.cols),
            literal(Some(row), "\"pg_catalog\".\"text\""),
            self.holds(row, n),
            rel = self.info.qualified()
        )
    }
}

/// The statements that give the target's table `t` the source's copies of each row.
pub(super) async fn statements(
    (source, target): (&Client, &Client),
    (s, t): (&TableInfo, &TableInfo),
    compared: &[String],
    unwritable: &Unwritable,
    patch: &mut Patch,
) -> Result<(), ReconcileError> {
    // Without a key, a row is only what was compared: with columns left out (`exclude`,
    // `columns`), the copies a DELETE picks may differ in them, and an INSERT would leave
    // them to their defaults. Neither the patch nor its inverse would be exact: refused.
    let left_out: Vec<&str> = t
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| !compared.iter().any(|k| k == c))
        .filter(|c| !unwritable.generated.iter().any(|g| g == c))
        .collect();
    if !left_out.is_empty() {
        patch.notes.push(format!(
            "{}: a table without a key whose check leaves out {} cannot be repaired row by row (the rows the patch would delete may differ in what was not compared, and its inverse could not put them back): patch it by hand, or compare every column",
            t.display(),
            left_out.join(", ")
        ));
        return Ok(());
    }
    let pick = |info: &'_ TableInfo| -> Vec<Column> {
        compared
            .iter()
            .filter_map(|c| info.column(c).cloned())
            .collect()
    };
    let (sc, tc) = (pick(s), pick(t));
    let (sc, tc): (Vec<&Column>, Vec<&Column>) = (sc.iter().collect(), tc.iter().collect());
    let (a, b) = futures::try_join!(
        grouped(source, "source", s, &sc),
        grouped(target, "target", t, &tc)
    )?;
    let shape = Shape {
        info: t,
        cols: tc.clone(),
        unwritable,
    };
    let mut surplus: BTreeMap<&str, i64> = BTreeMap::new();
    for (r, n) in &a {
        *surplus.entry(r).or_default() += n;
    }
    for (r, n) in &b {
        *surplus.entry(r).or_default() -= n;
    }
    for (row, diff) in surplus.into_iter().filter(|(_, d)| *d != 0) {
        let Some(values) = rowtext::parse(row) else {
            patch.notes.push(format!(
                "{}: a row's text could not be read back into columns: patch it by hand",
                t.display()
            ));
            continue;
        };
        let held = b.get(row).copied().unwrap_or(0);
        let k = diff.abs();
        if k > 1 {
            patch.notes.push(format!(
                "{}: {k} copies of one row to {} (one statement)",
                t.display(),
                if diff > 0 { "insert" } else { "delete" }
            ));
        }
        let st = shape.statement(row, &values, diff, held);
        patch.statements.push(st);
    }
    Ok(())
}
