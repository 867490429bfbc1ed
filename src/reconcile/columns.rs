//! Catalog lookup of a table's columns and types on each side, the choice of compared columns
//! (`columns` / `exclude`) in a canonical order, and the per-column expressions that make the
//! text of equal values equal on both sides (type normalisation).

use tokio_postgres::Client;

use super::ReconcileError;
use cutover_model::ident::{quote_ident, quote_parts, split_qualified};

/// One column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(20)`.
    pub type_display: String,
    /// The type's schema.
    pub type_schema: String,
    /// The type's internal name (`int4`, `bpchar`, `_text`).
    pub type_name: String,
    /// Whether the column has a collation (text-like types).
    pub collatable: bool,
    /// `NOT NULL`.
    pub not_null: bool,
    /// The column's collation as `name/provider/locale/version` when it can be trusted to
    /// order alike on another server (deterministic, version known), else `None`.
    pub collation: Option<String>,
    /// An enum: ordered by its labels' positions, which may differ between two servers.
    pub enum_type: bool,
}

impl Column {
    /// The type as a qualified, quoted name without modifiers (`"pg_catalog"."int4"`), for
    /// casting parameters.
    pub fn type_sql(&self) -> String {
        quote_parts(&self.type_schema, &self.type_name)
    }
}

/// A table (or view) resolved on one side.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `pg_class.oid`.
    pub oid: u32,
    /// `pg_class.reltuples` (negative or 0 when never analysed).
    pub reltuples: f64,
    /// A partitioned table (`relkind = 'p'`).
    pub partitioned: bool,
    /// Columns in `attnum` order.
    pub columns: Vec<Column>,
}

impl TableInfo {
    /// `"schema"."name"`.
    pub fn qualified(&self) -> String {
        quote_parts(&self.schema, &self.name)
    }

    /// `schema.name` for messages.
    pub fn display(&self) -> String {
        // A name may hold any character: one with a line break would split the line it is
        // said on.
        use cutover_model::shown::name;
        format!("{}.{}", name(&self.schema), name(&self.name))
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Resolves `table` (`name`, `schema.name`, quoted parts allowed; unqualified names through
/// the session's search path) and reads its columns. `Ok(None)`: no such table.
pub async fn lookup(
    client: &Client,
    side: &str,
    table: &str,
) -> Result<Option<TableInfo>, ReconcileError> {
    let parts = split_qualified(table);
    let (schema, name) = match parts.as_slice() {
        [n] => (None, n.clone()),
        [s, n] => (Some(s.clone()), n.clone()),
        [_db, s, n] => (Some(s.clone()), n.clone()),
        _ => {
            return Err(ReconcileError::Other(format!(
                "cannot read table name {table:?}"
            )));
        }
    };
    let row = client
        .query_opt(
            "select c.oid, n.nspname::text, c.relname::text, c.reltuples::float8, c.relkind = 'p' \
             from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace \
             where c.relkind in ('r','p','v','m','f') and c.relname = $2 \
               and case when $1::text is null then pg_catalog.pg_table_is_visible(c.oid) \
                        else n.nspname = $1::text end",
            &[&schema, &name],
        )
        .await
        .map_err(ReconcileError::sql(side, "look up the table"))?;
    let Some(row) = row else { return Ok(None) };
    let oid: u32 = row.get(0);
    let columns = client
        .query(
            "select a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    tn.nspname::text, t.typname::text, a.attcollation <> 0, a.attnotnull, \
                    t.typtype = 'e', \
                    (SELECT co.collname::text || '/' || co.collprovider::text || '/' || \
                            CASE WHEN co.oid = 100 THEN \
                                 d.datcollate::text || ':' || \
                                 coalesce(pg_catalog.to_jsonb(d) ->> 'datlocprovider', '') || ':' || \
                                 coalesce(pg_catalog.to_jsonb(d) ->> 'daticulocale', \
                                          pg_catalog.to_jsonb(d) ->> 'datlocale', '') || '/' || \
                                 coalesce(pg_catalog.to_jsonb(d) ->> 'datcollversion', '') \
                            ELSE coalesce(pg_catalog.to_jsonb(co) ->> 'colliculocale', \
                                          pg_catalog.to_jsonb(co) ->> 'colllocale', \
                                          co.collcollate::text, '') || '/' || \
                                 coalesce(pg_catalog.pg_collation_actual_version(co.oid), '') END \
                     FROM pg_catalog.pg_collation co, pg_catalog.pg_database d \
                     WHERE co.oid = a.attcollation AND d.datname = pg_catalog.current_database() \
                       AND coalesce((pg_catalog.to_jsonb(co) ->> 'collisdeterministic')::boolean, true)) \
             from pg_catalog.pg_attribute a \
             join pg_catalog.pg_type t on t.oid = a.atttypid \
             join pg_catalog.pg_namespace tn on tn.oid = t.typnamespace \
             where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped \
             order by a.attnum",
            &[&oid],
        )
        .await
        .map_err(ReconcileError::sql(side, "read the table's columns"))?
        .iter()
        .map(|r| Column {
            name: r.get(0),
            type_display: r.get(1),
            type_schema: r.get(2),
            type_name: r.get(3),
            collatable: r.get(4),
            not_null: r.get(5),
            collation: r.get(7),
            enum_type: r.get(6),
        })
        .collect();
    Ok(Some(TableInfo {
        schema: row.get(1),
        name: row.get(2),
        oid,
        reltuples: row.get(3),
        partitioned: row.get(4),
        columns,
    }))
}

/// A compared column and the expression that renders it the same way on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// The column's name.
    pub name: String,
    /// SQL expression (identical on both sides), e.g. `"amount"` or `"doc"::pg_catalog.jsonb`.
    pub expr: String,
}

/// A key column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    /// The column's name.
    pub name: String,
    /// `"k"`.
    pub ident: String,
    /// The ordering expression: `"k" COLLATE "C"` for text-like keys so that both sides
    /// order (and split into ranges) alike whatever their collations, else `"k"`.
    pub order_expr: String,
    /// The source's type, for casting text parameters (`"pg_catalog"."int4"`).
    pub type_sql: String,
    /// The type a range's bounds are cast to: `type_sql`, or text for a key ordered by its
    /// text (an enum).
    pub order_type: String,
    /// `int2`/`int4`/`int8`.
    pub integer: bool,
    /// `NOT NULL` on both sides: no row can have a NULL in it.
    pub not_null: bool,
}

/// The compared columns and the key of a check, the same on both sides.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The key columns, in key order.
    pub key: Vec<KeyColumn>,
    /// Compared columns, canonical order: `columns = [...]` as written, else the source's
    /// column order minus `exclude`.
    pub columns: Vec<Compared>,
    /// Normalisations applied and columns left out.
    pub notes: Vec<String>,
}

/// Whether a key is ordered by its text rather than its type's order: an enum (on either
/// side), whose labels' order two servers may not share.
fn by_label(s: &Column, t: Option<&Column>) -> bool {
    s.enum_type || t.is_some_and(|t| t.enum_type)
}

/// How a key column is ordered (the same expression on both sides), and a note when that
/// costs a sort: a text key in its own collation when both sides have the same deterministic
/// collation at the same known version (its index gives that order), else `COLLATE "C"`
/// (correct on any pair; each range is sorted unless the collation is C already).
fn key_order(s: &Column, t: Option<&Column>, ident: &str) -> (String, Option<String>) {
    if by_label(s, t) {
        return (
            format!("{ident}::pg_catalog.text COLLATE \"C\""),
            Some(format!(
                "key {} (an enum) ordered by its labels' text COLLATE \"C\": two servers may order its labels differently",
                s.name
            )),
        );
    }
    if !s.collatable {
        return (ident.to_string(), None);
    }
    // `name/provider/locale/version`; the default collation's locale is
    // `datcollate:locale provider:ICU locale`.
    let c_like = |c: &Column| {
        c.collation.as_deref().is_some_and(|x| {
            let parts: Vec<&str> = x.split('/').collect();
            let locale: Vec<&str> = parts.get(2).map_or(vec![], |l| l.split(':').collect());
            matches!(parts.first(), Some(&"C") | Some(&"POSIX"))
                || (parts.first() == Some(&"default")
                    && matches!(locale.first(), Some(&"C") | Some(&"POSIX"))
                    && matches!(locale.get(1), None | Some(&"") | Some(&"c")))
        })
    };
    let same = t.and_then(|t| t.collation.as_ref()) == s.collation.as_ref();
    // A version to compare (the last part): without one the two orders cannot be trusted alike.
    let trusted = s
        .collation
        .as_deref()
        .is_some_and(|x| x.rsplit('/').next().is_some_and(|v| !v.is_empty()));
    if same && trusted && !c_like(s) {
        let shown = s.collation.as_deref().unwrap_or_default();
        return (
            ident.to_string(),
            Some(format!(
                "key {} ordered in its own collation ({shown}, the same on both sides): its index serves the ranges",
                s.name
            )),
        );
    }
    let note = (!c_like(s)).then(|| {
        format!(
            "key {} ordered COLLATE \"C\" (its collation is not the same known version on both sides): each range is sorted rather than read in index order",
            s.name
        )
    });
    (format!("{ident} COLLATE \"C\""), note)
}

/// Chooses the compared columns and key and how each is rendered.
pub fn plan(
    source: &TableInfo,
    target: &TableInfo,
    key: &[String],
    columns: Option<&[String]>,
    exclude: &[String],
    versions: (u32, u32),
) -> Result<Plan, ReconcileError> {
    let mut notes = Vec::new();
    let key_cols = key_columns(source, target, key, &mut notes)?;
    for e in exclude {
        if source.column(e).is_none() && target.column(e).is_none() {
            return Err(ReconcileError::Other(format!(
                "exclude names column {e:?}, which is on neither side"
            )));
        }
    }
    let names: Vec<String> = match columns {
        Some(list) => list.to_vec(),
        None => source
            .columns
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| !exclude.contains(n))
            .collect(),
    };
    let out = compared_columns(source, target, &names, versions, &mut notes)?;
    if columns.is_none() {
        notes.extend(only_on_target(source, target, exclude));
    }
    if out.is_empty() {
        return Err(ReconcileError::Other("no columns left to compare".into()));
    }
    Ok(Plan {
        key: key_cols,
        columns: out,
        notes,
    })
}

/// The key columns, in key order, each with its ordering expression (a note added to `notes`
/// when it costs a sort); fails naming the side a key column is missing from.
fn key_columns(
    source: &TableInfo,
    target: &TableInfo,
    key: &[String],
    notes: &mut Vec<String>,
) -> Result<Vec<KeyColumn>, ReconcileError> {
    let mut key_cols = Vec::new();
    for k in key {
        let (Some(s), Some(_)) = (source.column(k), target.column(k)) else {
            return Err(ReconcileError::Other(format!(
                "key column {k:?} is not in {} on {}",
                if source.column(k).is_none() {
                    source.display()
                } else {
                    target.display()
                },
                if source.column(k).is_none() {
                    "the source"
                } else {
                    "the target"
                }
            )));
        };
        let ident = quote_ident(k);
        let (order_expr, note) = key_order(s, target.column(k), &ident);
        notes.extend(note);
        key_cols.push(KeyColumn {
            name: k.clone(),
            order_expr,
            ident,
            order_type: if by_label(s, target.column(k)) {
                "\"pg_catalog\".\"text\"".to_string()
            } else {
                s.type_sql()
            },
            type_sql: s.type_sql(),
            integer: s.type_schema == "pg_catalog"
                && matches!(s.type_name.as_str(), "int2" | "int4" | "int8"),
            not_null: s.not_null && target.column(k).is_some_and(|c| c.not_null),
        });
    }
    Ok(key_cols)
}

/// The compared columns `names`, in that order, each with the expression that renders it
/// alike on both sides (a note added to `notes` when it is not the plain column); fails on a
/// column missing from one side, pointing to `exclude` and `kind = "schema"`.
fn compared_columns(
    source: &TableInfo,
    target: &TableInfo,
    names: &[String],
    versions: (u32, u32),
    notes: &mut Vec<String>,
) -> Result<Vec<Compared>, ReconcileError> {
    let mut out = Vec::new();
    for n in names {
        let (s, t) = match (source.column(n), target.column(n)) {
            (Some(s), Some(t)) => (s, t),
            (s, _) => {
                let side = if s.is_none() { "source" } else { "target" };
                return Err(ReconcileError::Other(format!(
                    "column {n:?} is not on the {side}: exclude it (exclude = [\"{n}\"]) \
                     and compare structure with kind = \"schema\""
                )));
            }
        };
        let (expr, note) = normalise(s, t, versions);
        if let Some(note) = note {
            notes.push(note);
        }
        out.push(Compared {
            name: n.clone(),
            expr,
        });
    }
    Ok(out)
}

/// The note naming the target's columns that the source lacks and `exclude` does not list
/// (left out of the comparison), if there are any.
fn only_on_target(source: &TableInfo, target: &TableInfo, exclude: &[String]) -> Option<String> {
    let only_target: Vec<&str> = target
        .columns
        .iter()
        .filter(|c| source.column(&c.name).is_none() && !exclude.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    (!only_target.is_empty()).then(|| {
        format!(
            "{}: {}",
            cutover_model::reconcile::NOT_COMPARED,
            only_target.join(", ")
        )
    })
}

/// The expression for one column (the same on both sides) and a note when it is not the
/// plain column.
fn normalise(s: &Column, t: &Column, (sv, tv): (u32, u32)) -> (String, Option<String>) {
    let ident = quote_ident(&s.name);
    let is = |c: &Column, n: &str| c.type_schema == "pg_catalog" && c.type_name == n;
    if is(s, "money") || is(t, "money") {
        // money's text depends on lc_monetary; its numeric value does not.
        return (format!("{ident}::pg_catalog.numeric"), None);
    }
    if s.type_display == t.type_display {
        return (ident, None);
    }
    let note = |how: &str| {
        Some(format!(
            "column {}: {} on the source, {} on the target; compared {how}",
            s.name, s.type_display, t.type_display
        ))
    };
    if is(s, "bpchar") != is(t, "bpchar") {
        // char(n) drops its padding when cast to text; the other side's trailing blanks must
        // go too, or `ab` and `ab   ` differ although char(n) cannot tell them apart.
        return (
            format!("pg_catalog.rtrim({ident}::pg_catalog.text, ' ')"),
            note("as text with trailing blanks ignored on both sides (char(n) semantics)"),
        );
    }
    let float = |c: &Column| is(c, "float4") || is(c, "float8");
    if float(s) && float(t) && (is(s, "float4") || is(t, "float4")) {
        // real widened to double precision (or narrowed): compare at real's precision, where
        // both sides hold the same value (16777216 is 1.6777216e+07 as real text).
        return (
            format!("{ident}::pg_catalog.float4"),
            note("as real (the narrower type's precision)"),
        );
    }
    if (is(s, "json") && is(t, "jsonb")) || (is(s, "jsonb") && is(t, "json")) {
        return (format!("{ident}::pg_catalog.jsonb"), note("as jsonb"));
    }
    if is(s, "numeric") && is(t, "numeric") && sv >= 130_000 && tv >= 130_000 {
        return (
            format!("pg_catalog.trim_scale({ident})"),
            note("with trailing zeros trimmed (trim_scale)"),
        );
    }
    (ident, note("by their text"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A built-in column of type `ty` (shown as `display`), for the tests of this crate.
    pub(crate) fn col(name: &str, ty: &str, display: &str, collatable: bool) -> Column {
        Column {
            name: name.into(),
            type_display: display.into(),
            type_schema: "pg_catalog".into(),
            type_name: ty.into(),
            collatable,
            not_null: false,
            collation: None,
            enum_type: false,
        }
    }

    fn table(cols: Vec<Column>) -> TableInfo {
        TableInfo {
            schema: "public".into(),
            name: "t".into(),
            oid: 1,
            reltuples: 0.0,
            partitioned: false,
            columns: cols,
        }
    }

    #[test]
    fn chooses_columns_in_canonical_order_and_normalises_types() {
        // The same on both sides, and excluded.
        let updated_at = col(
            "updated_at",
            "timestamptz",
            "timestamp with time zone",
            false,
        );
        let s = table(vec![
            col("id", "int4", "integer", false),
            col("code", "bpchar", "character(5)", true),
            col("doc", "json", "json", false),
            updated_at.clone(),
            col("name", "text", "text", true),
        ]);
        let t = table(vec![
            col("name", "text", "text", true),
            col("id", "int8", "bigint", false),
            col("code", "varchar", "character varying(5)", true),
            col("doc", "jsonb", "jsonb", false),
            col("extra", "int4", "integer", false),
            updated_at,
        ]);
        let p = plan(
            &s,
            &t,
            &["name".into(), "id".into()],
            None,
            &["updated_at".into()],
            (150_000, 160_000),
        )
        .unwrap();
        let exprs: Vec<&str> = p.columns.iter().map(|c| c.expr.as_str()).collect();
        assert_eq!(
            exprs,
            [
                "\"id\"",
                "pg_catalog.rtrim(\"code\"::pg_catalog.text, ' ')",
                "\"doc\"::pg_catalog.jsonb",
                "\"name\""
            ]
        );
        assert_eq!(p.key[0].order_expr, "\"name\" COLLATE \"C\"");
        assert_eq!(p.key[1].order_expr, "\"id\"");
        assert!(p.key[1].integer && !p.key[0].integer);
        assert!(p.notes.iter().any(|n| n.contains("extra")));
        let err = plan(&s, &t, &["nope".into()], None, &[], (150_000, 150_000)).unwrap_err();
        assert!(err.to_string().contains("nope"));
        let err = plan(&t, &s, &["id".into()], None, &[], (150_000, 150_000)).unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
    }
}
