//! Turns the parsed [`FileSpec`] into a [`Runbook`], collecting every located error.
//!
//! One file per part of the runbook, in the order [`parse`] validates them: [`header`]
//! (`[runbook]`), [`definitions`] (`[vars]`, `[secrets]`, `[connections]`), [`lag`],
//! [`reconcile`], [`steps`] (with [`wait`]) and [`triggers`]. [`context`] holds what they
//! share: the collected errors and how to place them.

mod context;
mod definitions;
mod header;
mod lag;
mod notify;
mod progress;
mod reconcile;
mod repair;
mod steps;
mod triggers;
mod wait;

use std::collections::BTreeMap;

use self::context::Ctx;
use super::diag::{Diagnostic, Diagnostics};
use super::spec::FileSpec;
use super::{Connection, LagConfig, ReconcileCheck, Runbook, sha256_hex};

/// What steps and triggers may refer to, validated before them.
#[derive(Clone, Copy)]
struct Defined<'a> {
    /// `[connections]`.
    connections: &'a BTreeMap<String, Connection>,
    /// `[lag]`.
    lag: Option<&'a LagConfig>,
    /// `[[reconcile]]`.
    reconcile: &'a [ReconcileCheck],
    /// `[runbook] window` is set.
    window: bool,
}

/// Parses and validates.
pub(super) fn parse(
    file: &str,
    source: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Runbook, Diagnostics> {
    let (mut spec, early) = read(file, source)?;
    let mut cx = Ctx::new(
        file,
        source,
        BTreeMap::new(),
        spec.secrets.keys().cloned().collect(),
    );
    let vars = definitions::vars(&mut cx, &spec, overrides);
    cx.set_vars(vars);
    definitions::resolve_names(&mut cx, &mut spec);
    let window = spec
        .runbook
        .window
        .as_ref()
        .and_then(|w| header::window(&mut cx, w));
    let secrets = definitions::secrets(&mut cx, &spec);
    let connections = definitions::connections(&mut cx, &spec);
    let lag = spec
        .lag
        .as_ref()
        .map(|l| lag::lag_config(&mut cx, l, &connections));
    let reconcile = reconcile::checks(&mut cx, &spec.reconcile, &connections);
    let defined = Defined {
        connections: &connections,
        lag: lag.as_ref(),
        reconcile: &reconcile,
        window: spec.runbook.window.is_some(),
    };
    let (steps, step_ids) = steps::steps(&mut cx, &spec.step, defined);
    let triggers = triggers::triggers(&mut cx, &spec.rollback_trigger, defined, &step_ids);
    let notify = notify::hooks(&mut cx, &spec.notify);
    let (vars, notes) = match (cx.finish(), early.found.is_empty()) {
        (Ok(done), true) => done,
        (Ok(_), false) => {
            let mut found = early.found;
            found.sort_by_key(|d| (d.line, d.col));
            return Err(Diagnostics(found));
        }
        (Err(Diagnostics(later)), _) => {
            let mut all = early.consequences_dropped(source, later);
            all.sort_by_key(|d| (d.line, d.col));
            return Err(Diagnostics(all));
        }
    };
    Ok(Runbook {
        path: file.to_string(),
        source: source.to_string(),
        sha256: sha256_hex(source),
        notes,
        name: spec.runbook.name,
        owner: spec.runbook.owner,
        description: spec.runbook.description,
        window,
        distinct_people: spec.runbook.distinct_people,
        coverage: spec.runbook.coverage.unwrap_or_default(),
        vars,
        secrets,
        connections,
        lag,
        reconcile,
        steps,
        triggers,
        notify,
    })
}

/// Reads the TOML into the file's types. Plain TOML is parsed first so that syntax errors
/// are told apart from format errors (an unknown key, a missing `name`...).
///
/// Every format error is reported, not only the first: the key (or `key = value`) an error
/// points at is taken out and the file read again, until it reads (then the semantic checks
/// add theirs) or an error cannot be taken out (a missing key). A syntax error stops the file.
/// Returns the file's types and the format errors found on the way.
fn read(file: &str, source: &str) -> Result<(FileSpec, Early), Diagnostics> {
    use serde::Deserialize;
    let diagnostic =
        |e: &toml::de::Error, syntax: bool| Diagnostic::of_toml(file, source, e, syntax);
    if let Err(e) = source.parse::<toml::Table>() {
        return Err(Diagnostics(vec![diagnostic(&e, true)]));
    }
    let mut table =
        toml::de::DeTable::parse(source).map_err(|e| Diagnostics(vec![diagnostic(&e, true)]))?;
    let mut found = Vec::new();
    let mut removed: Vec<(String, usize)> = Vec::new();
    for _ in 0..MAX_FORMAT_ERRORS {
        let e = match FileSpec::deserialize(toml::de::Deserializer::from(table.clone())) {
            Ok(spec) => return Ok((spec, Early { found, removed })),
            Err(e) => e,
        };
        // A key taken out for being wrong is not also reported missing.
        let missing = e
            .message()
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next());
        let d = diagnostic(&e, false);
        if found.last() == Some(&d) {
            // Nothing was taken out the last time: stop rather than repeat it.
            break;
        }
        if !missing.is_some_and(|m| removed.iter().any(|(r, _)| r == m)) {
            found.push(d);
        }
        let taken = match (missing, e.span()) {
            (None, Some(span)) => take_out(table.get_mut(), span.start).map(|k| (k, span.start)),
            _ => None,
        };
        match taken {
            Some(key) => removed.push(key),
            None => break,
        }
    }
    found.sort_by_key(|d| (d.line, d.col));
    Err(Diagnostics(found))
}

/// The format errors found while reading, and the keys taken out for them (with where).
struct Early {
    found: Vec<Diagnostic>,
    removed: Vec<(String, usize)>,
}

impl Early {
    /// These errors and the semantic ones in `later`, less those that only follow from a key
    /// taken out (`needs \`key\`` about the section it was taken from).
    fn consequences_dropped(self, source: &str, later: Vec<Diagnostic>) -> Vec<Diagnostic> {
        let line_of = |at: usize| source[..at.min(source.len())].matches('\n').count() + 1;
        let headers: Vec<usize> = source
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with('['))
            .map(|(i, _)| i + 1)
            .collect();
        let section = |line: usize| headers.iter().rev().find(|h| **h <= line).copied();
        let col_of = |at: usize| {
            let at = at.min(source.len());
            at - source[..at].rfind('\n').map_or(0, |i| i + 1) + 1
        };
        // A consequence names the removed key in its section, or is about the value that
        // held it (the same line, starting at or before it: `wait = { reconcile = [] }` has
        // no condition left once `reconcile` is out).
        let follows = |d: &Diagnostic| {
            self.removed.iter().any(|(key, at)| {
                (d.message.contains(&format!("`{key}`"))
                    && section(d.line) == section(line_of(*at)))
                    || (d.line == line_of(*at) && d.col <= col_of(*at))
            })
        };
        let mut all = self.found;
        all.extend(later.into_iter().filter(|d| !follows(d)));
        all
    }
}

/// Format errors reported from one file at most.
const MAX_FORMAT_ERRORS: usize = 50;

/// Takes out of `table` the `key = value` an error at byte `at` points at: the one whose key
/// is there, else the innermost whose value holds it; returns the key's name. (A table's own
/// span may be only its header, so every table is searched.)
fn take_out(table: &mut toml::de::DeTable<'_>, at: usize) -> Option<String> {
    let on_key = |key: &toml::Spanned<toml::de::DeString<'_>>,
                  _: &toml::Spanned<toml::de::DeValue<'_>>| {
        key.span().contains(&at)
    };
    let in_value =
        |_: &toml::Spanned<toml::de::DeString<'_>>,
         value: &toml::Spanned<toml::de::DeValue<'_>>| { value.span().contains(&at) };
    take_where(table, &on_key).or_else(|| take_where(table, &in_value))
}

/// Takes out the innermost entry of `table` (searching nested tables first) that `pick`
/// chooses; returns its key.
fn take_where(
    table: &mut toml::de::DeTable<'_>,
    pick: &dyn Fn(
        &toml::Spanned<toml::de::DeString<'_>>,
        &toml::Spanned<toml::de::DeValue<'_>>,
    ) -> bool,
) -> Option<String> {
    let mut here: Option<String> = None;
    for (key, value) in table.iter_mut() {
        let chosen = pick(key, value);
        let inner = match value.get_mut() {
            toml::de::DeValue::Table(t) => take_where(t, pick),
            toml::de::DeValue::Array(items) => {
                items.iter_mut().find_map(|item| match item.get_mut() {
                    toml::de::DeValue::Table(t) => take_where(t, pick),
                    _ => None,
                })
            }
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
        if here.is_none() && chosen {
            here = Some(key.get_ref().to_string());
        }
    }
    let key = here?;
    table.remove(key.as_str());
    Some(key)
}
