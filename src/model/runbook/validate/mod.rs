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
mod reconcile;
mod steps;
mod triggers;
mod wait;

use std::collections::BTreeMap;

use self::context::Ctx;
use super::diag::{self, Diagnostic, Diagnostics};
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
}

/// Parses and validates.
pub(super) fn parse(
    file: &str,
    source: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Runbook, Diagnostics> {
    let spec = read(file, source)?;
    let mut cx = Ctx::new(
        file,
        source,
        definitions::vars(&spec, overrides),
        spec.secrets.keys().cloned().collect(),
    );
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
    };
    let (steps, step_ids) = steps::steps(&mut cx, &spec.step, defined);
    let triggers = triggers::triggers(&mut cx, &spec.rollback_trigger, defined, &step_ids);
    let (vars, notes) = cx.finish()?;
    Ok(Runbook {
        path: file.to_string(),
        source: source.to_string(),
        sha256: sha256_hex(source),
        notes,
        name: spec.runbook.name,
        owner: spec.runbook.owner,
        description: spec.runbook.description,
        window,
        vars,
        secrets,
        connections,
        lag,
        reconcile,
        steps,
        triggers,
    })
}

/// Reads the TOML into the file's types. Plain TOML is parsed first so that syntax errors
/// are told apart from format errors (an unknown key, a missing `name`...).
fn read(file: &str, source: &str) -> Result<FileSpec, Diagnostics> {
    let toml_error = |e: toml::de::Error, syntax: bool| {
        let span = e.span().unwrap_or(0..0);
        let text = source.get(span.clone()).unwrap_or("");
        let msg = diag::toml_message(e.message(), text, syntax);
        Diagnostics(vec![Diagnostic::at(file, source, span, msg)])
    };
    if let Err(e) = source.parse::<toml::Table>() {
        return Err(toml_error(e, true));
    }
    toml::from_str(source).map_err(|e| toml_error(e, false))
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
