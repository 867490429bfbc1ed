//! `wait = { ... }`: the condition a wait step polls.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::context::{Ctx, sql_connection};
use super::lag::threshold_fits;
use crate::runbook::spec::{StepSpec, WaitSpec};
use crate::runbook::template::Template;
use crate::runbook::units::Threshold;
use crate::runbook::{Connection, LagConfig, ReconcileCheck, Wait, WaitCond};

pub(super) fn wait(
    cx: &mut Ctx<'_>,
    w: &Spanned<WaitSpec>,
    step: &StepSpec,
    conns: &BTreeMap<String, Connection>,
    lag: &Option<LagConfig>,
    reconcile: &[ReconcileCheck],
    id: &str,
) -> Wait {
    let s = w.get_ref();
    let head = cx.head(w.span());
    let given: Vec<&str> = [
        ("lag_below", s.lag_below.is_some()),
        ("reconcile", s.reconcile.is_some()),
        ("sql", s.sql.is_some()),
        ("run", s.run.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if given.is_empty() {
        cx.err(
            head.clone(),
            format!(
                "step `{id}`: wait has no condition: give one of lag_below = \"1MB\", reconcile = \"all\", sql = \"select ...\" or run = \"cmd\""
            ),
        );
    } else if given.len() > 1 {
        cx.err(
            head.clone(),
            format!(
                "step `{id}`: wait has {} conditions ({}): give exactly one (use two wait steps to wait for both)",
                given.len(),
                given.join(", ")
            ),
        );
    }
    if let Some(on) = &s.on
        && s.sql.is_none()
    {
        let entry = cx.entry(on.span());
        cx.err(
            entry,
            format!(
                "step `{id}`: `on` in a wait names the connection for its sql; this wait has no sql: remove it"
            ),
        );
    }
    let cond = if let Some(t) = &s.lag_below {
        match lag {
            None => cx.err(
                t.span(),
                "wait lag_below needs a [lag] section saying how lag is measured (method, on, thresholds)",
            ),
            Some(l) => {
                if let Some(msg) = threshold_fits(l.method, t.get_ref()) {
                    cx.err(t.span(), msg);
                }
                let reference = l.warn.or(l.critical);
                if let Some(r) = reference
                    && !r.same_kind(t.get_ref())
                {
                    let example = match r {
                        Threshold::Bytes(_) => "\"1MB\"",
                        Threshold::Time(_) => "\"5s\"",
                        Threshold::Number(_) => "100",
                    };
                    cx.err(
                        t.span(),
                        format!(
                            "lag_below is {} but [lag] warn/critical are {}: write it the same way, e.g. lag_below = {example}",
                            t.get_ref().kind_name(),
                            r.kind_name()
                        ),
                    );
                }
            }
        }
        WaitCond::LagBelow(*t.get_ref())
    } else if let Some(r) = &s.reconcile {
        let name = r.get_ref();
        if name == "all" {
            if reconcile.is_empty() {
                cx.err(
                    r.span(),
                    "wait reconcile = \"all\" but the runbook has no [[reconcile]] checks",
                );
            }
        } else if !reconcile.iter().any(|c| &c.name == name) {
            let known: Vec<&str> = reconcile.iter().map(|c| c.name.as_str()).collect();
            cx.err(
                r.span(),
                format!(
                    "wait names unknown reconcile check `{name}` (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        WaitCond::Reconcile(name.clone())
    } else if let Some(q) = &s.sql {
        let on_spec = s.on.as_ref().or(step.on.as_ref());
        let on = sql_connection(
            cx,
            on_spec,
            conns,
            q.span(),
            &format!("step `{id}` wait sql"),
        );
        WaitCond::Sql {
            sql: cx.template(q),
            on,
        }
    } else if let Some(r) = &s.run {
        WaitCond::Run(cx.template(r))
    } else {
        WaitCond::Run(Template::default())
    };
    let every = s
        .every
        .as_ref()
        .map_or(Duration::from_secs(2), |d| d.get_ref().get());
    if let Some(e) = &s.every
        && every < Duration::from_millis(100)
    {
        cx.err(
            e.span(),
            format!(
                "step `{id}`: wait every must be at least 100ms (polling faster only loads the server)"
            ),
        );
    }
    Wait {
        cond,
        every,
        hold: s.hold.map_or(Duration::ZERO, |d| d.get()),
    }
}
