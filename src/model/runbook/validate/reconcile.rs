//! `[[reconcile]]`: the data comparisons between source and target.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::context::{Ctx, span_of, value_of};
use crate::runbook::spec::{ReconcileKind, ReconcileSpec, SStr};
use crate::runbook::{Connection, ReconcileCheck};

/// `[[reconcile]]` in order, checked against the connections.
pub(super) fn checks(
    cx: &mut Ctx<'_>,
    specs: &[Spanned<ReconcileSpec>],
    conns: &BTreeMap<String, Connection>,
) -> Vec<ReconcileCheck> {
    let mut names = BTreeMap::new();
    specs
        .iter()
        .map(|r| check(cx, r, conns, &mut names))
        .collect()
}

/// One check; `names` are the check names seen so far.
fn check(
    cx: &mut Ctx<'_>,
    r: &Spanned<ReconcileSpec>,
    conns: &BTreeMap<String, Connection>,
    names: &mut BTreeMap<String, usize>,
) -> ReconcileCheck {
    let s = r.get_ref();
    let head = cx.head(r.span());
    let name = s.name.get_ref().clone();
    unique_name(cx, s, names);
    let source = side(cx, &name, s.source.as_ref(), "source", &head, conns);
    let target = side(cx, &name, s.target.as_ref(), "target", &head, conns);
    required_keys(cx, s, &head);
    stray_keys(cx, s);
    limits(cx, s);
    let recheck_after_lag = recheck_after_lag(cx, s, &head);
    let hash_text = hash_text(cx, s);
    let sql = cx.opt_sql_template(&s.sql);
    let target_sql = cx.opt_sql_template(&s.target_sql);
    ReconcileCheck {
        name,
        kind: s.kind,
        source,
        target,
        table: value_of(&s.table),
        target_table: value_of(&s.target_table),
        key: s
            .key
            .as_ref()
            .map_or_else(Vec::new, |k| k.get_ref().0.clone()),
        columns: value_of(&s.columns),
        exclude: value_of(&s.exclude).unwrap_or_default(),
        max_mismatch_rows: value_of(&s.max_mismatch_rows).unwrap_or(0),
        max_mismatch_pct: value_of(&s.max_mismatch_pct),
        recheck_after_lag,
        hash_text,
        sql,
        target_sql,
        schemas: value_of(&s.schemas).unwrap_or_default(),
        sequences: value_of(&s.sequences).unwrap_or_default(),
        tables: value_of(&s.tables).unwrap_or_default(),
        exclude_tables: value_of(&s.exclude_tables).unwrap_or_default(),
        max_rows_per_second: value_of(&s.max_rows_per_second),
        adaptive_throttle: adaptive(cx, s),
        concurrency: value_of(&s.concurrency),
        pause_when: cx.opt_sql_template(&s.pause_when),
        changed_since: value_of(&s.changed_since),
        full_every: full_every(cx, s),
        partitions: value_of(&s.partitions),
        tolerance: tolerance(cx, s),
    }
}

/// `tolerance`: at least one bound, neither negative nor NaN.
fn tolerance(cx: &mut Ctx<'_>, s: &ReconcileSpec) -> Option<crate::runbook::Tolerance> {
    let t = s.tolerance.as_ref()?;
    let spec = *t.get_ref();
    let name = s.name.get_ref();
    if spec.absolute.is_none() && spec.relative.is_none() {
        cx.err(
            t.span(),
            format!(
                "reconcile `{name}`: tolerance needs `absolute` or `relative`, e.g. tolerance = {{ absolute = 0.01 }} or {{ relative = 1e-9 }}"
            ),
        );
    }
    for (key, v) in [("absolute", spec.absolute), ("relative", spec.relative)] {
        if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
            cx.err(
                t.span(),
                format!("reconcile `{name}`: tolerance {key} must be a finite number at least 0"),
            );
        }
    }
    Some(crate::runbook::Tolerance {
        absolute: spec.absolute,
        relative: spec.relative,
    })
}

/// Reports the reserved name `all` and a name an earlier check has.
fn unique_name(cx: &mut Ctx<'_>, s: &ReconcileSpec, names: &mut BTreeMap<String, usize>) {
    let name = s.name.get_ref();
    cx.typable(
        &s.name,
        "the reconcile name",
        "it is typed in `cutover reconcile NAME` and waits, and shown in the cockpit, reports and the journal",
    );
    if name == "all" {
        cx.err(
            s.name.span(),
            "`all` is reserved (wait = { reconcile = \"all\" }); pick another name",
        );
    } else if let Some(first_line) = cx.used_before(names, &s.name) {
        cx.err(
            s.name.span(),
            format!(
                "duplicate reconcile name `{name}` (first used on line {first_line}): names must be unique because waits and reports refer to them"
            ),
        );
    }
}

/// The connection of one side of check `name` (`what` is `source` or `target`): the one
/// `given`, which must exist, else the one named like the side, which must then be defined;
/// `head` is where the check starts.
fn side(
    cx: &mut Ctx<'_>,
    name: &str,
    given: Option<&SStr>,
    what: &str,
    head: &Range<usize>,
    conns: &BTreeMap<String, Connection>,
) -> String {
    match given {
        Some(c) => {
            cx.connection(c, conns, &format!("reconcile `{name}` {what}"));
            c.get_ref().clone()
        }
        None => {
            if !conns.contains_key(what) {
                cx.err(
                    head.clone(),
                    format!(
                        "reconcile `{name}` needs a {what} connection: define [connections.{what}] or set `{what} = \"NAME\"`"
                    ),
                );
            }
            what.to_string()
        }
    }
}

/// The kind written as in the file (`"count"`...).
fn kind_name(kind: ReconcileKind) -> String {
    format!("{kind:?}").to_lowercase()
}

/// Reports the keys the kind cannot do without (the table of a count...); `head` is where the
/// check starts.
fn required_keys(cx: &mut Ctx<'_>, s: &ReconcileSpec, head: &Range<usize>) {
    let name = s.name.get_ref();
    let kind = kind_name(s.kind);
    let mut need = |missing: bool, msg: String| {
        if missing {
            cx.err(head.clone(), msg);
        }
    };
    match s.kind {
        ReconcileKind::Count | ReconcileKind::Checksum => {
            need(
                s.table.is_none() && s.tables.is_none(),
                format!(
                    "reconcile `{name}` (kind = \"{kind}\") needs `table`, or `tables` (globs such as [\"public.*\"])"
                ),
            );
            need(
                s.table.is_some() && s.tables.is_some(),
                format!(
                    "reconcile `{name}`: use either `table` (one table) or `tables` (globs), not both"
                ),
            );
            if let Some(t) = &s.tables {
                table_globs(cx, t);
            }
            if let Some(t) = &s.exclude_tables {
                table_globs(cx, t);
            }
            if let Some(c) = &s.changed_since
                && s.kind == ReconcileKind::Checksum
                && (s.key.is_none() || s.table.is_none())
            {
                cx.err_entry(
                    c.span(),
                    format!(
                        "reconcile `{name}`: changed_since needs one `table` and its `key` (the changed rows are read again by key)"
                    ),
                );
            }
            // Without a key: a count is one count(*) per side, a checksum a multiset compare.
        }
        ReconcileKind::Query => need(
            s.sql.is_none(),
            format!("reconcile `{name}` (kind = \"query\") needs `sql`"),
        ),
        ReconcileKind::Sequences => need(
            s.schemas.is_none() && s.sequences.is_none(),
            format!("reconcile `{name}` (kind = \"sequences\") needs `schemas` or `sequences`"),
        ),
        ReconcileKind::Schema => need(
            s.schemas.is_none() && s.tables.is_none(),
            format!("reconcile `{name}` (kind = \"schema\") needs `tables` or `schemas`"),
        ),
    }
}

/// Reports keys that only other kinds read (mistakes, not silently ignored), and `columns`
/// given with `exclude`.
fn stray_keys(cx: &mut Ctx<'_>, s: &ReconcileSpec) {
    use ReconcileKind::{Checksum, Count, Query, Schema, Sequences};
    let kind = s.kind;
    let table_kind = matches!(kind, Count | Checksum);
    let keys = [
        ("table", span_of(&s.table), table_kind),
        ("target_table", span_of(&s.target_table), table_kind),
        ("key", span_of(&s.key), table_kind),
        ("columns", span_of(&s.columns), kind == Checksum),
        ("exclude", span_of(&s.exclude), kind == Checksum),
        ("hash", span_of(&s.hash), kind == Checksum),
        ("partitions", span_of(&s.partitions), table_kind),
        ("sql", span_of(&s.sql), kind == Query),
        ("target_sql", span_of(&s.target_sql), kind == Query),
        (
            "schemas",
            span_of(&s.schemas),
            matches!(kind, Sequences | Schema),
        ),
        ("sequences", span_of(&s.sequences), kind == Sequences),
        (
            "tables",
            span_of(&s.tables),
            matches!(kind, Schema | Count | Checksum),
        ),
        (
            "exclude_tables",
            span_of(&s.exclude_tables),
            s.tables.is_some() && table_kind,
        ),
        (
            "max_rows_per_second",
            span_of(&s.max_rows_per_second),
            table_kind,
        ),
        ("throttle", span_of(&s.throttle), table_kind),
        ("pause_when", span_of(&s.pause_when), table_kind),
        ("concurrency", span_of(&s.concurrency), table_kind),
        ("changed_since", span_of(&s.changed_since), kind == Checksum),
        (
            "full_every",
            span_of(&s.full_every),
            s.changed_since.is_some(),
        ),
        ("tolerance", span_of(&s.tolerance), kind == Query),
    ];
    for (key, span, applies) in keys {
        cx.unread(span, applies, || {
            format!(
                "reconcile `{}`: `{key}` does not apply to kind = \"{}\" ({}); remove it or change kind",
                s.name.get_ref(),
                kind_name(kind),
                kind_keys(kind)
            )
        });
    }
    if s.tables.is_some() {
        // Each table's key and columns are its own: one key or column list cannot fit them all.
        for (key, span) in [
            ("key", span_of(&s.key)),
            ("target_table", span_of(&s.target_table)),
            ("columns", span_of(&s.columns)),
            ("exclude", span_of(&s.exclude)),
            ("partitions", span_of(&s.partitions)),
        ] {
            cx.unread(span, false, || {
                format!(
                    "reconcile `{}`: `{key}` does not go with `tables` (each table is compared with its own primary key or unique NOT NULL index and all its columns); use one check per table for that",
                    s.name.get_ref()
                )
            });
        }
    }
    if let (Some(_), Some(ex)) = (&s.columns, &s.exclude) {
        cx.err_entry(
            ex.span(),
            "use either `columns` (compare only these) or `exclude` (compare all but these), not both",
        );
    }
}

/// The keys a reconcile kind reads, for error messages.
fn kind_keys(kind: ReconcileKind) -> &'static str {
    match kind {
        ReconcileKind::Count => {
            "it uses table, target_table, key, partitions, tables, exclude_tables, max_rows_per_second, throttle, pause_when and concurrency"
        }
        ReconcileKind::Checksum => {
            "it uses table, target_table, key, columns or exclude, partitions, tables, exclude_tables, max_rows_per_second, throttle, pause_when, concurrency, and changed_since with a table and key"
        }
        ReconcileKind::Query => "it uses sql, target_sql and tolerance",
        ReconcileKind::Sequences => "it uses schemas and sequences",
        ReconcileKind::Schema => "it uses schemas and tables",
    }
}

/// Reports table globs that are not `schema.table` (either part may hold `*` and `?`).
fn table_globs(cx: &mut Ctx<'_>, globs: &Spanned<Vec<String>>) {
    for g in globs.get_ref() {
        let parts = crate::ident::split_qualified(g);
        if parts.len() != 2 || parts.iter().any(String::is_empty) {
            cx.err(
                globs.span(),
                format!(
                    "table glob {g:?} must be schema.table, e.g. \"public.*\" or \"billing.invoices\""
                ),
            );
        }
    }
}

/// `throttle`: only `"adaptive"`.
fn adaptive(cx: &mut Ctx<'_>, s: &ReconcileSpec) -> bool {
    match &s.throttle {
        None => false,
        Some(t) if t.get_ref() == "adaptive" => true,
        Some(t) => {
            cx.err(
                t.span(),
                format!(
                    "throttle must be \"adaptive\" (or left out; max_rows_per_second sets a fixed pace), not {:?}",
                    t.get_ref()
                ),
            );
            false
        }
    }
}

/// `full_every`: a duration of at least a minute.
fn full_every(cx: &mut Ctx<'_>, s: &ReconcileSpec) -> Option<std::time::Duration> {
    let f = s.full_every.as_ref()?;
    match crate::runbook::units::parse_duration(f.get_ref()) {
        Ok(d) if d >= std::time::Duration::from_secs(60) => Some(d),
        Ok(_) => {
            cx.err(f.span(), "full_every must be at least 1m");
            None
        }
        Err(e) => {
            cx.err(f.span(), format!("full_every: {e}"));
            None
        }
    }
}

/// Reports a tolerated mismatch percentage outside 0-100, and zero partitions.
fn limits(cx: &mut Ctx<'_>, s: &ReconcileSpec) {
    if let Some(p) = &s.max_mismatch_pct
        && !(0.0..=100.0).contains(p.get_ref())
    {
        cx.err(
            p.span(),
            format!(
                "max_mismatch_pct is a percentage of rows: it must be between 0 and 100, not {}",
                p.get_ref()
            ),
        );
    }
    if let Some(p) = &s.partitions
        && *p.get_ref() == 0
    {
        cx.err(p.span(), "partitions must be at least 1");
    }
    if let Some(c) = &s.concurrency
        && !(1..=16).contains(c.get_ref())
    {
        cx.err(c.span(), "concurrency is sessions per side: 1 to 16");
    }
    if let Some(p) = &s.max_rows_per_second
        && *p.get_ref() == 0
    {
        cx.err(p.span(), "max_rows_per_second must be at least 1");
    }
}

/// `hash`: `native` (the default) or `text` (true).
fn hash_text(cx: &mut Ctx<'_>, s: &ReconcileSpec) -> bool {
    match s.hash.as_ref().map(|h| (h.get_ref().as_str(), h.span())) {
        None | Some(("native", _)) => false,
        Some(("text", _)) => true,
        Some((other, span)) => {
            cx.err(
                span,
                format!("hash must be \"native\" or \"text\", not {other:?}"),
            );
            false
        }
    }
}

/// `recheck`: `after_lag_drains` (the default, `true`) or `never`.
fn recheck_after_lag(cx: &mut Ctx<'_>, s: &ReconcileSpec, head: &Range<usize>) -> bool {
    match s.recheck.as_ref().map(|r| r.get_ref().as_str()) {
        None | Some("after_lag_drains") => true,
        Some("never") => false,
        Some(other) => {
            let span = s.recheck.as_ref().map_or(head.clone(), |r| r.span());
            cx.err(
                span,
                format!("recheck must be \"after_lag_drains\" or \"never\", not {other:?}"),
            );
            true
        }
    }
}
