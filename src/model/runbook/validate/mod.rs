//! Turns the parsed [`FileSpec`] into a [`Runbook`], collecting every located error.
//!
//! One file per part of the runbook, in the order [`parse`] validates them: [`lag`],
//! [`reconcile`], [`steps`] (with [`wait`]) and [`triggers`]; [`context`] holds what they share.

mod context;
mod lag;
mod reconcile;
mod steps;
mod triggers;
mod wait;

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, Utc};

use self::context::Ctx;
use super::diag::{self, Diagnostic, Diagnostics};
use super::spec::FileSpec;
use super::{Connection, Runbook, Window, sha256_hex};

/// Parses and validates.
pub(super) fn parse(
    file: &str,
    source: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Runbook, Diagnostics> {
    // Parse as plain TOML first so that syntax errors are told apart from format errors.
    let toml_error = |e: toml::de::Error, syntax: bool| {
        let span = e.span().unwrap_or(0..0);
        let text = source.get(span.clone()).unwrap_or("");
        let msg = diag::toml_message(e.message(), text, syntax);
        Diagnostics(vec![Diagnostic::at(file, source, span, msg)])
    };
    if let Err(e) = source.parse::<toml::Table>() {
        return Err(toml_error(e, true));
    }
    let spec: FileSpec = toml::from_str(source).map_err(|e| toml_error(e, false))?;
    let mut vars: BTreeMap<String, String> = spec
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.get_ref().0.clone()))
        .collect();
    vars.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut cx = Ctx {
        file,
        source,
        errors: Vec::new(),
        vars,
        secrets: spec.secrets.keys().cloned().collect(),
    };

    let window = spec.runbook.window.as_ref().and_then(|w| {
        let ws = w.get_ref();
        if *ws.minutes.get_ref() == 0 {
            cx.err(
                ws.minutes.span(),
                "window minutes must be at least 1: give the length of the maintenance window, e.g. minutes = 90",
            );
        }
        match DateTime::parse_from_rfc3339(ws.start.get_ref()) {
            Ok(t) => Some(Window {
                start: t.with_timezone(&Utc),
                minutes: *ws.minutes.get_ref(),
            }),
            Err(_) => {
                cx.err(
                    ws.start.span(),
                    format!(
                        "window start {:?} is not a date and time with a time zone (RFC 3339); write e.g. \"2026-12-05T02:00:00Z\" (UTC) or \"2026-12-05T03:00:00+01:00\"",
                        ws.start.get_ref()
                    ),
                );
                None
            }
        }
    });

    let mut secrets = BTreeMap::new();
    for (name, s) in &spec.secrets {
        let env_spec = &s.get_ref().env;
        let env = env_spec.get_ref().trim();
        if env.is_empty() {
            cx.err(
                env_spec.span(),
                format!(
                    "secret `{name}` needs the name of the environment variable that holds it, e.g. env = \"CUTOVER_{name}\""
                ),
            );
        }
        secrets.insert(name.clone(), env.to_string());
    }

    let mut connections = BTreeMap::new();
    for (name, c) in &spec.connections {
        let dsn = &c.get_ref().dsn;
        if dsn.get_ref().trim().is_empty() {
            cx.err(
                dsn.span(),
                format!(
                    "connection `{name}` has an empty dsn: write a libpq conninfo (\"host=db-new dbname=orders user=migrator\") or a URL (\"postgres://migrator@db-new/orders\")"
                ),
            );
        }
        let dsn = cx.template(dsn);
        connections.insert(name.clone(), Connection { dsn });
    }

    let lag = spec
        .lag
        .as_ref()
        .map(|l| lag::lag_config(&mut cx, l, &connections));
    let reconcile = reconcile::reconcile_checks(&mut cx, &spec.reconcile, &connections);

    if spec.step.is_empty() {
        cx.err(
            0..0,
            "the runbook has no steps: add at least one [[step]] with id and one of run, sql, wait or confirm",
        );
    }
    let mut ids: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut steps = Vec::new();
    for s in &spec.step {
        if let Some(step) = steps::step(&mut cx, s, &connections, &lag, &reconcile, &mut ids) {
            steps.push(step);
        }
    }
    let triggers = triggers::triggers(&mut cx, &spec.rollback_trigger, &connections, &lag, &ids);

    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|d| (d.line, d.col));
        return Err(Diagnostics(cx.errors));
    }
    Ok(Runbook {
        path: file.to_string(),
        source: source.to_string(),
        sha256: sha256_hex(source),
        name: spec.runbook.name,
        owner: spec.runbook.owner,
        description: spec.runbook.description,
        window,
        vars: cx.vars,
        secrets,
        connections,
        lag,
        reconcile,
        steps,
        triggers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("[runbook]\nname='x'\n[[step]]\nid='a'\nrun='true'\nexpected='1m'\ntimeout='30s'\n",
        "expected (1m) is longer than timeout (30s)"; "expected over timeout")]
    #[test_case("[runbook]\nname='x'\n[[step]]\nid='a'\nwait={run='true', on='db'}\n",
        "this wait has no sql"; "wait on without sql")]
    #[test_case("[runbook]\nname='x'\n[[step]]\nid='a'\nrun='true'\n[[rollback_trigger]]\nname='t'\nwhen={step_failed='a', on='db'}\n",
        "this trigger has no sql"; "trigger on without sql")]
    #[test_case("[runbook]\nname='x'\n[connections.source]\ndsn='a'\n[connections.target]\ndsn='b'\n[[reconcile]]\nname='s'\nkind='sequences'\nschemas=['public']\nkey='id'\n[[step]]\nid='a'\nrun='true'\n",
        "`key` does not apply to kind = \"sequences\""; "reconcile key for sequences")]
    fn semantic_mistakes_are_caught(source: &str, want: &str) {
        let err = parse("f.toml", source, &BTreeMap::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(want), "{text}");
    }
}
