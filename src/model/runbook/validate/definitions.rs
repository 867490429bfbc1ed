//! `[vars]`, `[secrets]` and `[connections]`: the names templates and steps refer to.

use std::collections::BTreeMap;

use toml::Spanned;

use super::context::Ctx;
use crate::runbook::Connection;
use crate::runbook::spec::FileSpec;

/// `[vars]` as text, with `overrides` (`--var`) replacing or adding values.
pub(super) fn vars(
    spec: &FileSpec,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = spec
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.get_ref().0.clone()))
        .collect();
    vars.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    vars
}

/// `[secrets]`: each name to the environment variable that holds it.
pub(super) fn secrets(cx: &mut Ctx<'_>, spec: &FileSpec) -> BTreeMap<String, String> {
    each(cx, &spec.secrets, |cx, name, s| {
        cx.not_blank(&s.env, || {
            format!(
                "secret `{name}` needs the name of the environment variable that holds it, e.g. env = \"CUTOVER_{name}\""
            )
        });
        s.env.get_ref().trim().to_string()
    })
}

/// `[connections]`, their DSNs as templates (they may use secrets).
pub(super) fn connections(cx: &mut Ctx<'_>, spec: &FileSpec) -> BTreeMap<String, Connection> {
    each(cx, &spec.connections, |cx, name, c| {
        cx.not_blank(&c.dsn, || {
            format!(
                "connection `{name}` has an empty dsn: write a libpq conninfo (\"host=db-new dbname=orders user=migrator\") or a URL (\"postgres://migrator@db-new/orders\")"
            )
        });
        let dsn = cx.template(&c.dsn);
        // The DSN as it will be used (vars filled in; a secret stands as one word).
        if !dsn.segments.is_empty()
            && let Some(why) = crate::runbook::dsn::syntax_error(&dsn.display())
        {
            cx.err(c.dsn.span(), format!("connection `{name}`: {why}"));
        }
        Connection { dsn }
    })
}

/// Each `NAME = {...}` of a section, made into its value by `f` (given the name), in name order.
fn each<S, T>(
    cx: &mut Ctx<'_>,
    spec: &BTreeMap<String, Spanned<S>>,
    mut f: impl FnMut(&mut Ctx<'_>, &str, &S) -> T,
) -> BTreeMap<String, T> {
    spec.iter()
        .map(|(name, s)| (name.clone(), f(cx, name, s.get_ref())))
        .collect()
}
