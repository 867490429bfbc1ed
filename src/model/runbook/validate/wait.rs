//! `wait = { ... }`: the condition a wait step polls.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Defined;
use super::context::{Ctx, list_or_none, span_of, written};
use super::lag::measured;
use crate::runbook::spec::{NameList, SStr, WaitSpec};
use crate::runbook::template::Template;
use crate::runbook::units::Threshold;
use crate::runbook::{ReconcileCheck, Wait, WaitCond};

/// The wait of step `id`; `step_on` is the step's `on`, the default for the wait's sql.
pub(super) fn wait(
    cx: &mut Ctx<'_>,
    w: &Spanned<WaitSpec>,
    step_on: Option<&SStr>,
    defined: Defined<'_>,
    id: &str,
) -> Wait {
    let s = w.get_ref();
    let head = cx.head(w.span());
    one_condition(cx, s, head, id);
    cx.unread(span_of(&s.on), s.sql.is_some(), || {
        format!(
            "step `{id}`: `on` in a wait names the connection for its sql; this wait has no sql: remove it"
        )
    });
    let cond = condition(cx, s, step_on, defined, id);
    Wait {
        cond,
        every: every(cx, s, id),
        hold: s.hold.map_or(Duration::ZERO, |d| d.get()),
    }
}

/// Reports a wait with no condition or with more than one; `head` is where the wait starts.
fn one_condition(cx: &mut Ctx<'_>, s: &WaitSpec, head: Range<usize>, id: &str) {
    let given = written!(s; lag_below, reconcile, sql, run);
    if given.is_empty() {
        cx.err(
            head,
            format!(
                "step `{id}`: wait has no condition: give one of lag_below = \"1MB\", reconcile = \"all\", sql = \"select ...\" or run = \"cmd\""
            ),
        );
    } else if given.len() > 1 {
        cx.err(
            head,
            format!(
                "step `{id}`: wait has {} conditions ({}): give exactly one (use two wait steps to wait for both)",
                given.len(),
                given.join(", ")
            ),
        );
    }
}

/// The first condition the wait gives, checked. A wait with none (see [`one_condition`])
/// gets an empty command so that the rest of it is still checked.
fn condition(
    cx: &mut Ctx<'_>,
    s: &WaitSpec,
    step_on: Option<&SStr>,
    defined: Defined<'_>,
    id: &str,
) -> WaitCond {
    if let Some(t) = &s.lag_below {
        lag_below(cx, t, defined);
        WaitCond::LagBelow(*t.get_ref())
    } else if let Some(r) = &s.reconcile {
        reconcile(cx, r, defined.reconcile);
        WaitCond::Reconcile(r.get_ref().0.clone())
    } else if let Some(q) = &s.sql {
        let on = cx.sql_connection(
            s.on.as_ref().or(step_on),
            defined.connections,
            q.span(),
            &format!("step `{id}` wait sql"),
        );
        WaitCond::Sql {
            sql: cx.sql_template(q),
            on,
        }
    } else if let Some(r) = &s.run {
        WaitCond::Run(cx.shell_template(r))
    } else {
        WaitCond::Run(Template::default())
    }
}

/// `lag_below`: lag must be measured, and the threshold written like `[lag]`'s.
fn lag_below(cx: &mut Ctx<'_>, t: &Spanned<Threshold>, defined: Defined<'_>) {
    let Some(lag) = measured(cx, defined.lag, t, "wait lag_below") else {
        return;
    };
    if let Some(r) = lag.warn.or(lag.critical)
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

/// `reconcile = "all"`, the name of a check or a list of names; `all` needs at least one
/// check and stands alone.
fn reconcile(cx: &mut Ctx<'_>, r: &Spanned<NameList>, checks: &[ReconcileCheck]) {
    let names = &r.get_ref().0;
    if names.iter().any(|n| n == "all") {
        if names.len() > 1 {
            cx.err(
                r.span(),
                "wait reconcile: \"all\" already means every check; give \"all\" alone or a list of names",
            );
        } else if checks.is_empty() {
            cx.err(
                r.span(),
                "wait reconcile = \"all\" but the runbook has no [[reconcile]] checks",
            );
        }
    }
    let known: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    for name in names.iter().filter(|n| *n != "all") {
        if !known.contains(&name.as_str()) {
            cx.err(
                r.span(),
                format!(
                    "wait names unknown reconcile check `{name}` (known: {})",
                    list_or_none(&known)
                ),
            );
        }
    }
}

/// How often to poll (default 2s, at least 100ms).
fn every(cx: &mut Ctx<'_>, s: &WaitSpec, id: &str) -> Duration {
    cx.every_at_least(
        &s.every,
        Duration::from_secs(2),
        Duration::from_millis(100),
        &format!(
            "step `{id}`: wait every must be at least 100ms (polling faster only loads the server)"
        ),
    )
}
