//! Repair what a checksum check found: the guarded SQL statements that make the target's
//! differing rows equal to the source's, and the inverse statements that put them back.
//!
//! The differing keys of a [`ReconcileResult`] are read again on both sides, by key, in one
//! pinned snapshot per side (the text settings of a comparison). For each key:
//!
//! * missing on the target → `INSERT … SELECT … WHERE NOT EXISTS (the key)`;
//! * different → `UPDATE … SET` only the differing columns;
//! * extra on the target → `DELETE`.
//!
//! An `UPDATE` or `DELETE` changes the row only while the target row is still what the repair
//! read: `md5(row text)` is in its `WHERE` clause, so a patch built an hour ago cannot
//! clobber a newer write; an `INSERT` only while the key is still absent. A statement whose
//! guard fails changes nothing and is reported as stale ([`apply`]). Values travel as
//! quoted literals of their text output cast to the column's type: with the pinned settings
//! (`TimeZone` UTC, ISO dates, hex bytea, shortest-exact floats) that text reads back as the
//! same value. Identifiers are quoted; nothing of a value is ever outside its literal.

mod apply;
mod build;
mod file;
mod multiset;
mod rows;

pub use apply::{Applied, Expected, apply, apply_file};
pub use build::{Limits, build};
pub use file::{inverse_path, render, withhold_secrets};

/// What a statement of a patch does to its row.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The row is missing on the target: inserted.
    Insert,
    /// The row differs: its differing columns set.
    Update,
    /// The row is on the target only: deleted.
    Delete,
}

impl Change {
    /// `insert` / `update` / `delete`.
    pub fn word(self) -> &'static str {
        match self {
            Change::Insert => "insert",
            Change::Update => "update",
            Change::Delete => "delete",
        }
    }
}

/// One row's repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The table, `schema.name` for messages.
    pub table: String,
    /// The key, as text, in key order (`column = value`).
    pub key: Vec<(String, String)>,
    /// What it does.
    pub change: Change,
    /// Each column it sets or compares, with its value on the source and on the target (`None`:
    /// NULL, or the side has no row).
    pub values: Vec<(String, Option<String>, Option<String>)>,
    /// The guarded statement.
    pub sql: String,
    /// The guarded statement that undoes it.
    pub inverse: String,
}

/// A whole patch: the statements, and what was left out and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// The check it repairs.
    pub check: String,
    /// `host:port/db` of the source and the target.
    pub source: String,
    /// The target.
    pub target: String,
    /// The statements, table by table, in key order.
    pub statements: Vec<Statement>,
    /// Things the patch does not do, each said (a generated column, a key that now matches).
    pub notes: Vec<String>,
    /// `SET LOCAL` lines the statements need (the text settings they were built under).
    pub settings: Vec<String>,
}

impl Patch {
    /// How many statements of each kind.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |c: Change| self.statements.iter().filter(|s| s.change == c).count();
        (n(Change::Insert), n(Change::Update), n(Change::Delete))
    }

    /// `2 inserts, 1 update, 0 deletes`.
    pub fn describe(&self) -> String {
        let (i, u, d) = self.counts();
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}, {}",
            plural(i, "insert"),
            plural(u, "update"),
            plural(d, "delete")
        )
    }
}

/// A SQL literal of `value` cast to `type_sql` (`NULL` for none). Standard-conforming:
/// quotes doubled, backslashes literal (every patch sets `standard_conforming_strings`).
pub fn literal(value: Option<&str>, type_sql: &str) -> String {
    match value {
        None => format!("NULL::{type_sql}"),
        Some(v) => format!("'{}'::{type_sql}", v.replace('\'', "''")),
    }
}

/// A text literal (no cast).
fn text_literal(value: Option<&str>) -> String {
    match value {
        None => "NULL".into(),
        Some(v) => format!("'{}'", v.replace('\'', "''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_keep_quotes_and_backslashes_inside() {
        assert_eq!(
            literal(Some("it's a \\ back"), "\"pg_catalog\".\"text\""),
            "'it''s a \\ back'::\"pg_catalog\".\"text\""
        );
        assert_eq!(
            literal(None, "\"pg_catalog\".\"int4\""),
            "NULL::\"pg_catalog\".\"int4\""
        );
        assert_eq!(
            text_literal(Some("'; drop table x; --")),
            "'''; drop table x; --'"
        );
    }
}
