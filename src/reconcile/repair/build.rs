//! Building a patch from a checksum check's result: the refusals first (nothing to patch row
//! by row, more differences than listed or allowed, a read-only target), then each table's
//! differing keys read again on both sides and turned into guarded statements.

use tokio_postgres::Client;

use super::rows::{self, Row, Unwritable};
use super::{Change, Patch, Statement, literal, text_literal};
use crate::ReconcileError;
use crate::columns::{self, Column, TableInfo};
use crate::settings::{self, Pinning};
use cutover_model::ident::{quote_ident, split_qualified};
use cutover_model::reconcile::{MismatchClass, ReconcileResult, Status};
use cutover_model::runbook::{ReconcileCheck, ReconcileKind};

/// How far a repair may go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// More differing rows than this: a reload, not a repair (nothing is built).
    pub max_rows: u64,
}

/// Why no patch: said to the operator as is.
fn refuse(why: String) -> ReconcileError {
    ReconcileError::Other(why)
}

/// The refusals that need no server: a kind with no rows to patch, an error, differences
/// not all listed, more of them than `max_rows`.
fn refusals(
    check: &ReconcileCheck,
    result: &ReconcileResult,
    limits: Limits,
) -> Result<(), ReconcileError> {
    if check.kind != ReconcileKind::Checksum {
        return Err(refuse(format!(
            "check `{}` is a {} check: it finds {}, not rows to patch one by one; repair works on checksum checks",
            check.name,
            kind_word(check.kind),
            match check.kind {
                ReconcileKind::Count => "differing counts per key range",
                ReconcileKind::Query => "differing query results",
                ReconcileKind::Sequences => "sequences behind (sync_sequences sets them)",
                _ => "differing structure",
            }
        )));
    }
    if result.status == Status::Error {
        return Err(refuse(format!(
            "check `{}` could not compare ({}): nothing to repair from",
            check.name,
            result.error.as_deref().unwrap_or("an error")
        )));
    }
    let parts = tables_of(result);
    let found: u64 = parts.iter().map(|r| r.mismatch_total).sum();
    // A multiset's rows are grouped again by the repair: only keyed tables must list all.
    let keyed: Vec<&&ReconcileResult> = parts.iter().filter(|r| !is_multiset(r)).collect();
    let keyed_found: u64 = keyed.iter().map(|r| r.mismatch_total).sum();
    let listed: u64 = keyed.iter().map(|r| r.mismatches.len() as u64).sum();
    if found > limits.max_rows {
        return Err(refuse(format!(
            "check `{}` found {found} differing rows, more than max_rows {}: that is a reload of the table, not a repair; nothing was built",
            check.name, limits.max_rows
        )));
    }
    if parts.iter().any(|r| r.mismatch_total_is_lower_bound) || keyed_found > listed {
        return Err(refuse(format!(
            "check `{}` found {found}{} differing rows but lists {listed}: a patch of some of them would not repair the table; reload it, or raise the check's listing limit",
            check.name,
            if parts.iter().any(|r| r.mismatch_total_is_lower_bound) {
                " or more"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

fn kind_word(k: ReconcileKind) -> String {
    format!("{k:?}").to_lowercase()
}

/// Whether `r` compared its table as a multiset of rows (it has no key).
fn is_multiset(r: &ReconcileResult) -> bool {
    r.key_columns.is_empty()
        || (r.key_columns == ["row"] && r.mismatches.iter().all(|m| m.by_content))
}

/// The per-table results of `result` (itself, when it checks one table).
fn tables_of(result: &ReconcileResult) -> Vec<&ReconcileResult> {
    if result.tables.is_empty() {
        vec![result]
    } else {
        result.tables.iter().collect()
    }
}

/// Builds the patch that makes the target's differing rows of `result` equal to the
/// source's, reading them again on `source` and `target` (each in a pinned read-only
/// snapshot). `source_at`/`target_at` name the servers (`host:port/db`).
pub async fn build(
    source: &Client,
    target: &Client,
    check: &ReconcileCheck,
    result: &ReconcileResult,
    limits: Limits,
    (source_at, target_at): (&str, &str),
) -> Result<Patch, ReconcileError> {
    refusals(check, result, limits)?;
    let standby: bool = target
        .query_one("SELECT pg_catalog.pg_is_in_recovery()", &[])
        .await
        .map_err(ReconcileError::sql("target", "ask whether it is a standby"))?
        .get(0);
    if standby {
        return Err(refuse(format!(
            "the target {target_at} is a standby (read-only): promote it before repairing it"
        )));
    }
    let (sv, tv) = (
        settings::server_version(source, "source").await?,
        settings::server_version(target, "target").await?,
    );
    let pinning = Pinning {
        extra_float_digits: settings::extra_float_digits(sv, tv),
        catalog_search_path: true,
        statement_timeout_ms: 0,
        lock_timeout_ms: u64::try_from(crate::LOCK_WAIT.as_millis()).unwrap_or(u64::MAX),
    };
    let mut patch = Patch {
        check: check.name.clone(),
        source: source_at.to_string(),
        target: target_at.to_string(),
        settings: pinned_settings(&pinning),
        ..Patch::default()
    };
    one_sided_tables(result, &mut patch);
    // Each table named as the check's session read it (its search path): an unqualified
    // name is resolved before the pinned snapshot's catalog-only search path hides it.
    let mut named = Vec::new();
    for part in tables_of(result) {
        if part.mismatches.is_empty() {
            continue;
        }
        let (src_table, tgt_table) = if result.tables.is_empty() {
            let t = check.table.clone().unwrap_or_default();
            (t.clone(), check.target_table.clone().unwrap_or(t))
        } else {
            (part.name.clone(), part.name.clone())
        };
        let resolved = (
            qualified(source, "source", src_table).await?,
            qualified(target, "target", tgt_table).await?,
        );
        named.push((part, resolved));
    }
    settings::begin(source, "source", &pinning).await?;
    if let Err(e) = settings::begin(target, "target", &pinning).await {
        settings::end(source).await;
        return Err(e);
    }
    let mut outcome = Ok(());
    for (part, (src_table, tgt_table)) in named {
        if let Err(e) = table(source, target, part, (&src_table, &tgt_table), &mut patch).await {
            outcome = Err(e);
            break;
        }
    }
    settings::end(source).await;
    settings::end(target).await;
    outcome.map(|()| patch)
}

/// A note for each table a `tables` check found on one side only: a patch works row by row
/// in tables both sides have, so these are left to the operator, said.
fn one_sided_tables(result: &ReconcileResult, patch: &mut Patch) {
    if result.tables.is_empty() {
        return;
    }
    for m in &result.mismatches {
        let what = match m.class {
            MismatchClass::MissingOnTarget => "is on the source only",
            MismatchClass::ExtraOnTarget => "is on the target only",
            _ => "differs as a table",
        };
        patch.notes.push(format!(
            "table {} {what}: a patch works row by row in tables both sides have; create or drop it by hand",
            m.key.join(".")
        ));
    }
}

/// Why the rows of `columns` (`side` and `other`: a column's type on each side) cannot be
/// guarded by their text, if they cannot: a type whose text depends on the search path
/// (`regclass` and its kin). `None`: they can.
fn unguardable(info: &TableInfo) -> Option<String> {
    let by_path: Vec<String> = info
        .columns
        .iter()
        .filter(|c| {
            // `regrole` and `regnamespace` name objects no search path qualifies.
            let base = c.type_name.trim_start_matches('_');
            c.type_schema == "pg_catalog"
                && base.starts_with("reg")
                && !matches!(base, "regrole" | "regnamespace")
        })
        .map(|c| format!("{} ({})", c.name, c.type_display))
        .collect();
    (!by_path.is_empty()).then(|| {
        format!(
            "{}: {} {} printed by the search path, so a row's text (a patch's guard) differs between the repair and its application: not patched, patch it by hand",
            info.display(),
            by_path.join(", "),
            if by_path.len() == 1 { "is" } else { "are" }
        )
    })
}

/// The `SET LOCAL` lines a patch runs under: those of the snapshot it was built in (its
/// guards compare row texts, which these settings shape), less the read-only ones.
fn pinned_settings(p: &Pinning) -> Vec<String> {
    settings::begin_sql(p)
        .lines()
        .filter(|l| l.starts_with("SET LOCAL"))
        .filter(|l| !l.contains("statement_timeout") && !l.contains("search_path"))
        .map(str::to_string)
        .collect()
}

/// `name` with its schema: as written when it has one, else as `side`'s search path resolves
/// it (one catalog read, only for a name without a schema: `table()` reads the table again
/// in the pinned snapshot).
async fn qualified(client: &Client, side: &str, name: String) -> Result<String, ReconcileError> {
    if split_qualified(&name).len() > 1 {
        return Ok(name);
    }
    Ok(info(client, side, &name).await?.qualified())
}

/// Looks `name` up on `side`, or says it is gone.
async fn info(client: &Client, side: &str, name: &str) -> Result<TableInfo, ReconcileError> {
    columns::lookup(client, side, name).await?.ok_or_else(|| {
        refuse(format!(
            "{side}: no table {name} (it was there when the check ran)"
        ))
    })
}

/// The columns of `info` called `names`, in that order; a name it lacks is an error.
fn pick<'a>(
    info: &'a TableInfo,
    side: &str,
    names: &[String],
) -> Result<Vec<&'a Column>, ReconcileError> {
    names
        .iter()
        .map(|n| {
            info.column(n)
                .ok_or_else(|| refuse(format!("{side}: {} has no column {n} now", info.display())))
        })
        .collect()
}

/// The statements of one table's differences.
async fn table(
    source: &Client,
    target: &Client,
    part: &ReconcileResult,
    (src_name, tgt_name): (&str, &str),
    patch: &mut Patch,
) -> Result<(), ReconcileError> {
    let (s, t) = (
        info(source, "source", src_name).await?,
        info(target, "target", tgt_name).await?,
    );
    // The compared columns both sides still have.
    let compared: Vec<String> = part
        .columns
        .iter()
        .filter(|c| s.column(c).is_some() && t.column(c).is_some())
        .cloned()
        .collect();
    if let Some(why) = unguardable(&t) {
        patch.notes.push(why);
        return Ok(());
    }
    if is_multiset(part) {
        if let Some(why) = types_differ(&s, &t, &compared) {
            patch.notes.push(why);
            return Ok(());
        }
        let unwritable = rows::unwritable(target, "target", &t).await?;
        return super::multiset::statements(
            (source, target),
            (&s, &t),
            &compared,
            &unwritable,
            patch,
        )
        .await;
    }
    let keys = keys_to_read(part, &t, patch);
    if keys.is_empty() {
        return Ok(());
    }
    let (sk, tk) = (
        pick(&s, "source", &part.key_columns)?,
        pick(&t, "target", &part.key_columns)?,
    );
    // What the source rows are read with: the compared columns first (what an update
    // compares), then the other columns both sides have (`exclude`d ones): a row missing on
    // the target is inserted whole, not with its excluded columns left to their defaults.
    let shared: Vec<String> = compared
        .iter()
        .cloned()
        .chain(
            s.columns
                .iter()
                .map(|c| c.name.clone())
                .filter(|n| !compared.contains(n) && t.column(n).is_some()),
        )
        .collect();
    let sc = pick(&s, "source", &shared)?;
    let all_target: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let tc = pick(&t, "target", &all_target)?;
    let src_rows = rows::read(source, "source", &s, &sk, &sc, &keys).await?;
    let tgt_rows = rows::read(target, "target", &t, &tk, &tc, &keys).await?;
    let unwritable = rows::unwritable(target, "target", &t).await?;
    let shape = Shape {
        info: &t,
        key: tk,
        compared: &compared,
        shared: &shared,
        all: &all_target,
        unwritable: &unwritable,
    };
    let foreign = rows_of_other_keys(source, (&s, &sk, &sc), &keys, &tgt_rows).await?;
    // Two keys the check found apart (`1.5` on the source, `1.50` on the target) may be one
    // row on each side: one statement for the pair.
    let mut done = std::collections::BTreeSet::new();
    for k in &keys {
        if let Some(own) = foreign.get(k) {
            patch
                .notes
                .push(another_rows(&t, &part.key_columns, (k, own)));
            continue;
        }
        let (s, t) = (src_rows.get(k), tgt_rows.get(k));
        let pair = (s.map(|r| r.hash.clone()), t.map(|r| r.hash.clone()));
        if (s.is_some() || t.is_some()) && !done.insert(pair) {
            continue;
        }
        shape.statement(k, s, t, patch);
    }
    Ok(())
}

/// The differing keys of `part` to read again on both sides; a row whose key has a NULL
/// (found by its content) cannot be read by key, and is a note of `patch`.
fn keys_to_read(part: &ReconcileResult, t: &TableInfo, patch: &mut Patch) -> Vec<Vec<String>> {
    let mut keys = Vec::new();
    for m in part.mismatches.iter().filter(|m| !m.transient) {
        if m.by_content || m.key.len() != part.key_columns.len() {
            patch.notes.push(format!(
                "{}: a row whose key has a NULL ({}) cannot be found by key: patch it by hand",
                t.display(),
                m.key.join(", ")
            ));
            continue;
        }
        keys.push(m.key.clone());
    }
    keys
}

/// Why a table without a key whose `compared` columns have other types on each side
/// (`json` and `jsonb`, `numeric` and `numeric(10,2)`) cannot be repaired: its rows are
/// matched by their text, which the two types write differently, so every row would look
/// missing and be inserted again. `None`: the types are the same.
fn types_differ(s: &TableInfo, t: &TableInfo, compared: &[String]) -> Option<String> {
    let differ: Vec<String> = compared
        .iter()
        .filter_map(|c| Some((s.column(c)?, t.column(c)?)))
        .filter(|(a, b)| !same_text(a, b))
        .map(|(a, b)| {
            format!(
                "{} ({} on the source, {} on the target)",
                a.name, a.type_display, b.type_display
            )
        })
        .collect();
    (!differ.is_empty()).then(|| {
        format!(
            "{}: a table without a key whose columns differ in type cannot be repaired row by row (its rows are matched by their text, which the types write differently): {}; patch it by hand",
            t.display(),
            differ.join(", ")
        )
    })
}

/// The keys of `keys` whose target row (`found`) holds another key (`a` found for `A` under a
/// case-insensitive collation or type) that the source holds as a row of its own, each with
/// that key: a statement for them would overwrite the target's copy of another source row.
/// A key equal but written otherwise on the target (`1.50` for `1.5`) is the same row.
async fn rows_of_other_keys(
    source: &Client,
    (s, key, cols): (&TableInfo, &[&Column], &[&Column]),
    keys: &[Vec<String>],
    found: &std::collections::BTreeMap<Vec<String>, Row>,
) -> Result<std::collections::BTreeMap<Vec<String>, Vec<String>>, ReconcileError> {
    let own = |r: &Row| -> Vec<String> {
        r.key
            .iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect()
    };
    let other: Vec<(Vec<String>, Vec<String>)> = keys
        .iter()
        .filter_map(|k| Some((k.clone(), own(found.get(k)?))))
        .filter(|(k, o)| k != o)
        .collect();
    if other.is_empty() {
        return Ok(std::collections::BTreeMap::new());
    }
    let asked: Vec<Vec<String>> = other.iter().map(|(_, o)| o.clone()).collect();
    let theirs = rows::read(source, "source", s, key, cols, &asked).await?;
    Ok(other
        .into_iter()
        .filter(|(_, o)| theirs.get(o).is_some_and(|r| own(r) == *o))
        .collect())
}

/// The note for key `asked`, whose target row is the source's row `own`.
fn another_rows(
    t: &TableInfo,
    key_columns: &[String],
    (asked, own): (&[String], &[String]),
) -> String {
    format!(
        "{} ({}): the target finds the row ({}) by this key (a case-insensitive collation or type), and the source holds that row as its own: not patched (it would overwrite it), patch it by hand",
        t.display(),
        shown(&named(key_columns, asked)),
        shown(&named(key_columns, own))
    )
}

/// `key_columns` paired with the values of `key`, for messages.
fn named(key_columns: &[String], key: &[String]) -> Vec<(String, String)> {
    key_columns
        .iter()
        .cloned()
        .zip(key.iter().cloned())
        .collect()
}

/// Whether every value of column `a` is written the same by column `b`: the same type, or
/// a widening that keeps the text (`int4` to `int8`, `varchar(20)` to `text`).
fn same_text(a: &Column, b: &Column) -> bool {
    let family = |c: &Column| match (c.type_schema.as_str(), c.type_name.as_str()) {
        ("pg_catalog", "int2" | "int4" | "int8") => Some("integer"),
        ("pg_catalog", "text" | "varchar") => Some("text"),
        _ => None,
    };
    a.type_display == b.type_display || family(a).is_some_and(|f| family(b) == Some(f))
}

/// The target table as the statements need it.
struct Shape<'a> {
    info: &'a TableInfo,
    key: Vec<&'a Column>,
    /// Columns the check compared (on both sides), in the check's order.
    compared: &'a [String],
    /// Those, then every other column both sides have: how a source row was read.
    shared: &'a [String],
    /// Every column of the target, in order.
    all: &'a [String],
    unwritable: &'a Unwritable,
}

impl Shape<'_> {
    fn type_of(&self, column: &str) -> String {
        self.info
            .column(column)
            .map_or_else(|| "\"pg_catalog\".\"text\"".to_string(), Column::type_sql)
    }

    /// `(t."k1", t."k2") = ('1'::T1, 'a'::T2)`.
    fn key_pred(&self, key: &[String]) -> String {
        let cols: Vec<String> = self
            .key
            .iter()
            .map(|c| format!("t.{}", quote_ident(&c.name)))
            .collect();
        let vals: Vec<String> = self
            .key
            .iter()
            .zip(key)
            .map(|(c, v)| literal(Some(v), &c.type_sql()))
            .collect();
        format!("({}) = ({})", cols.join(", "), vals.join(", "))
    }

    /// `(t."a"::text, t."b"::text) IS NOT DISTINCT FROM (('x'::T)::text, NULL)`: the row still
    /// holds these values, the guard of an inverse statement. Each value is compared as the
    /// target's column writes it (its type and modifier: `1.5` is held as `1.50` in a
    /// `numeric(8,2)`, a `json` text as `jsonb` writes it), not as the source wrote it.
    fn holds(&self, cols: &[&str], values: &[Option<&str>]) -> String {
        if cols.is_empty() {
            return "true".into();
        }
        let l: Vec<String> = cols
            .iter()
            .map(|c| format!("t.{}::pg_catalog.text", quote_ident(c)))
            .collect();
        let r: Vec<String> = cols
            .iter()
            .zip(values)
            .map(|(c, v)| match (v, self.info.column(c)) {
                (Some(_), Some(col)) => format!(
                    "({}::{})::pg_catalog.text",
                    text_literal(*v),
                    col.type_display
                ),
                _ => text_literal(*v),
            })
            .collect();
        format!(
            "ROW({}) IS NOT DISTINCT FROM ROW({})",
            l.join(", "),
            r.join(", ")
        )
    }

    fn insert(&self, cols: &[&str], values: &[Option<&str>], key: &[String]) -> String {
        let names: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
        let lits: Vec<String> = cols
            .iter()
            .zip(values)
            .map(|(c, v)| literal(*v, &self.type_of(c)))
            .collect();
        format!(
            "INSERT INTO {rel} ({}) OVERRIDING SYSTEM VALUE SELECT {} WHERE NOT EXISTS (SELECT 1 FROM {rel} AS t WHERE {})",
            names.join(", "),
            lits.join(", "),
            self.key_pred(key),
            rel = self.info.qualified()
        )
    }

    fn writable(&self, c: &str) -> bool {
        !self.unwritable.generated.iter().any(|g| g == c)
    }

    /// The statement for key `key`, from the rows read on each side (pushed, or a note).
    fn statement(&self, key: &[String], src: Option<&Row>, tgt: Option<&Row>, patch: &mut Patch) {
        let key_shown: Vec<(String, String)> = self
            .key
            .iter()
            .zip(key)
            .map(|(c, v)| (c.name.clone(), v.clone()))
            .collect();
        let made = match (src, tgt) {
            (None, None) => Err("gone from both sides since the check: nothing to do".to_string()),
            (Some(s), None) => Ok(self.insert_of(key, s)),
            (None, Some(t)) => Ok(self.delete_of(key, t)),
            (Some(s), Some(t)) => self.update_of(key, s, t),
        };
        match made {
            Ok(mut st) => {
                st.key = key_shown;
                patch.statements.push(st);
            }
            Err(why) => patch.notes.push(format!(
                "{} ({}): {why}",
                self.info.display(),
                shown(&key_shown)
            )),
        }
    }

    /// `columns` that may be written, with their values from `values` (in `columns` order).
    fn written<'v>(
        &self,
        columns: &'v [String],
        values: &'v [Option<String>],
    ) -> (Vec<&'v str>, Vec<Option<&'v str>>) {
        columns
            .iter()
            .zip(values)
            .filter(|(c, _)| self.writable(c))
            .map(|(c, v)| (c.as_str(), v.as_deref()))
            .unzip()
    }

    /// A row missing on the target: inserted; undone by deleting it while it holds the
    /// inserted values.
    fn insert_of(&self, key: &[String], s: &Row) -> Statement {
        let (cols, vals) = self.written(self.shared, &s.values);
        Statement {
            table: self.info.display(),
            key: Vec::new(),
            change: Change::Insert,
            values: self
                .shared
                .iter()
                .zip(&s.values)
                .map(|(c, v)| (c.clone(), v.clone(), None))
                .collect(),
            sql: self.insert(&cols, &vals, key),
            inverse: format!(
                "DELETE FROM {} AS t WHERE {} AND {}",
                self.info.qualified(),
                self.key_pred(key),
                self.holds(&cols, &vals)
            ),
        }
    }

    /// A row on the target only: deleted while it is what was read; undone by inserting its
    /// every column back.
    fn delete_of(&self, key: &[String], t: &Row) -> Statement {
        let (cols, vals) = self.written(self.all, &t.values);
        Statement {
            table: self.info.display(),
            key: Vec::new(),
            change: Change::Delete,
            values: self
                .all
                .iter()
                .zip(&t.values)
                .map(|(c, v)| (c.clone(), None, v.clone()))
                .collect(),
            sql: format!(
                "DELETE FROM {} AS t WHERE {} AND pg_catalog.md5(ROW(t.*)::pg_catalog.text) = '{}'",
                self.info.qualified(),
                self.key_pred(key),
                t.hash
            ),
            inverse: self.insert(&cols, &vals, key),
        }
    }

    /// A row that differs: its differing writable columns set while the row is what was
    /// read; undone by setting them back while they hold what the patch wrote. `Err` says
    /// why there is nothing to write.
    fn update_of(&self, key: &[String], s: &Row, t: &Row) -> Result<Statement, String> {
        let mut values = Vec::new();
        let mut computed = Vec::new();
        for (c, sv) in self.compared.iter().zip(&s.values) {
            let Some(i) = self.all.iter().position(|a| a == c) else {
                continue;
            };
            if *sv == t.values[i] {
                continue;
            }
            if !self.writable(c) || self.unwritable.identity_always.contains(c) {
                computed.push(c.as_str());
            } else {
                values.push((c.clone(), sv.clone(), t.values[i].clone()));
            }
        }
        if values.is_empty() {
            return Err(if computed.is_empty() {
                "the row matches now: nothing to do".to_string()
            } else {
                format!(
                    "only {} differ{}, which the server computes: not written, patch the table's definition",
                    computed.join(", "),
                    if computed.len() == 1 { "s" } else { "" }
                )
            });
        }
        let assign = |from_source: bool| -> String {
            values
                .iter()
                .map(|(c, sv, tv)| {
                    let v = if from_source { sv } else { tv };
                    format!(
                        "{} = {}",
                        quote_ident(c),
                        literal(v.as_deref(), &self.type_of(c))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let set: Vec<&str> = values.iter().map(|(c, _, _)| c.as_str()).collect();
        let new: Vec<Option<&str>> = values.iter().map(|(_, s, _)| s.as_deref()).collect();
        let (rel, pred) = (self.info.qualified(), self.key_pred(key));
        Ok(Statement {
            table: self.info.display(),
            key: Vec::new(),
            change: Change::Update,
            sql: format!(
                "UPDATE {rel} AS t SET {} WHERE {pred} AND pg_catalog.md5(ROW(t.*)::pg_catalog.text) = '{}'",
                assign(true),
                t.hash
            ),
            inverse: format!(
                "UPDATE {rel} AS t SET {} WHERE {pred} AND {}",
                assign(false),
                self.holds(&set, &new)
            ),
            values,
        })
    }
}

/// `id = 7, region = eu`.
pub(super) fn shown(key: &[(String, String)]) -> String {
    key.iter()
        .map(|(c, v)| format!("{c} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
