//! `[[reconcile]]`: the data comparisons between source and target.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::context::Ctx;
use crate::runbook::spec::{ReconcileKind, ReconcileSpec};
use crate::runbook::{Connection, ReconcileCheck};

pub(super) fn reconcile_checks(
    cx: &mut Ctx<'_>,
    specs: &[Spanned<ReconcileSpec>],
    conns: &BTreeMap<String, Connection>,
) -> Vec<ReconcileCheck> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for r in specs {
        let s = r.get_ref();
        let head = cx.head(r.span());
        let name = s.name.get_ref().clone();
        if name == "all" {
            cx.err(
                s.name.span(),
                "`all` is reserved (wait = { reconcile = \"all\" }); pick another name",
            );
        } else if let Some(first) = names.get(&name) {
            let msg = format!(
                "duplicate reconcile name `{name}` (first used on line {}): names must be unique because waits and reports refer to them",
                cx.line_of(*first)
            );
            cx.err(s.name.span(), msg);
        } else {
            names.insert(name.clone(), s.name.span().start);
        }
        let source = s
            .source
            .as_ref()
            .map_or("source".to_string(), |c| c.get_ref().clone());
        let target = s
            .target
            .as_ref()
            .map_or("target".to_string(), |c| c.get_ref().clone());
        for (given, default, what) in [
            (&s.source, &source, "source"),
            (&s.target, &target, "target"),
        ] {
            match given {
                Some(c) => cx.connection(c, conns, &format!("reconcile `{name}` {what}")),
                None if !conns.contains_key(default) => cx.err(
                    head.clone(),
                    format!(
                        "reconcile `{name}` needs a {what} connection: define [connections.{default}] or set `{what} = \"NAME\"`"
                    ),
                ),
                None => {}
            }
        }
        let kind_name = format!("{:?}", s.kind).to_lowercase();
        match s.kind {
            ReconcileKind::Count | ReconcileKind::Checksum => {
                if s.table.is_none() {
                    cx.err(
                        head.clone(),
                        format!("reconcile `{name}` (kind = \"{kind_name}\") needs `table`"),
                    );
                }
                if s.key.is_none() {
                    cx.err(
                        head.clone(),
                        format!(
                            "reconcile `{name}` (kind = \"{kind_name}\") needs `key`: the primary key column(s), e.g. key = \"id\" or key = [\"tenant_id\", \"id\"]"
                        ),
                    );
                }
            }
            ReconcileKind::Query => {
                if s.sql.is_none() {
                    cx.err(
                        head.clone(),
                        format!("reconcile `{name}` (kind = \"query\") needs `sql`"),
                    );
                }
            }
            ReconcileKind::Sequences => {
                if s.schemas.is_none() && s.sequences.is_none() {
                    cx.err(head.clone(), format!("reconcile `{name}` (kind = \"sequences\") needs `schemas` or `sequences`"));
                }
            }
            ReconcileKind::Schema => {
                if s.schemas.is_none() && s.tables.is_none() {
                    cx.err(
                        head.clone(),
                        format!(
                            "reconcile `{name}` (kind = \"schema\") needs `tables` or `schemas`"
                        ),
                    );
                }
            }
        }
        // Keys that only make sense for other kinds are mistakes, not silently ignored.
        let table_kind = matches!(s.kind, ReconcileKind::Count | ReconcileKind::Checksum);
        let unused: [(&str, Option<Range<usize>>, bool); 11] = [
            ("table", s.table.as_ref().map(|x| x.span()), table_kind),
            (
                "target_table",
                s.target_table.as_ref().map(|x| x.span()),
                table_kind,
            ),
            ("key", s.key.as_ref().map(|x| x.span()), table_kind),
            (
                "columns",
                s.columns.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Checksum,
            ),
            (
                "exclude",
                s.exclude.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Checksum,
            ),
            (
                "partitions",
                s.partitions.as_ref().map(|x| x.span()),
                table_kind,
            ),
            (
                "sql",
                s.sql.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Query,
            ),
            (
                "target_sql",
                s.target_sql.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Query,
            ),
            (
                "schemas",
                s.schemas.as_ref().map(|x| x.span()),
                matches!(s.kind, ReconcileKind::Sequences | ReconcileKind::Schema),
            ),
            (
                "sequences",
                s.sequences.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Sequences,
            ),
            (
                "tables",
                s.tables.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Schema,
            ),
        ];
        for (key, span, applies) in unused {
            if let Some(span) = span
                && !applies
            {
                let entry = cx.entry(span);
                cx.err(
                    entry,
                    format!(
                        "reconcile `{name}`: `{key}` does not apply to kind = \"{kind_name}\" ({}); remove it or change kind",
                        kind_keys(s.kind)
                    ),
                );
            }
        }
        if let (Some(_), Some(ex)) = (&s.columns, &s.exclude) {
            let entry = cx.entry(ex.span());
            cx.err(
                entry,
                "use either `columns` (compare only these) or `exclude` (compare all but these), not both",
            );
        }
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
        let recheck_after_lag = match s.recheck.as_ref().map(|r| r.get_ref().as_str()) {
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
        };
        if let Some(p) = &s.partitions
            && *p.get_ref() == 0
        {
            cx.err(p.span(), "partitions must be at least 1");
        }
        let sql = cx.opt_template(&s.sql);
        let target_sql = cx.opt_template(&s.target_sql);
        out.push(ReconcileCheck {
            name,
            kind: s.kind,
            source,
            target,
            table: s.table.as_ref().map(|t| t.get_ref().clone()),
            target_table: s.target_table.as_ref().map(|t| t.get_ref().clone()),
            key: s
                .key
                .as_ref()
                .map_or_else(Vec::new, |k| k.get_ref().0.clone()),
            columns: s.columns.as_ref().map(|c| c.get_ref().clone()),
            exclude: s
                .exclude
                .as_ref()
                .map_or_else(Vec::new, |c| c.get_ref().clone()),
            max_mismatch_rows: s.max_mismatch_rows.as_ref().map_or(0, |n| *n.get_ref()),
            max_mismatch_pct: s.max_mismatch_pct.as_ref().map(|p| *p.get_ref()),
            recheck_after_lag,
            sql,
            target_sql,
            schemas: list(&s.schemas),
            sequences: list(&s.sequences),
            tables: list(&s.tables),
            partitions: s.partitions.as_ref().map(|p| *p.get_ref()),
        });
    }
    out
}

/// The keys a reconcile kind reads, for error messages.
pub(super) fn kind_keys(kind: ReconcileKind) -> &'static str {
    match kind {
        ReconcileKind::Count => "it uses table, target_table, key and partitions",
        ReconcileKind::Checksum => {
            "it uses table, target_table, key, columns or exclude, and partitions"
        }
        ReconcileKind::Query => "it uses sql and target_sql",
        ReconcileKind::Sequences => "it uses schemas and sequences",
        ReconcileKind::Schema => "it uses schemas and tables",
    }
}

pub(super) fn list(v: &Option<Spanned<Vec<String>>>) -> Vec<String> {
    v.as_ref().map_or_else(Vec::new, |x| x.get_ref().clone())
}
