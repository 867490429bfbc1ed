//! `[[rollback_trigger]]`: the conditions that alert or roll back on their own.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Defined;
use super::context::{Ctx, list_or_none, span_of, written};
use super::lag::measured;
use crate::runbook::diag::did_you_mean;
use crate::runbook::spec::{SStr, TriggerAction, TriggerSpec, WhenSpec};
use crate::runbook::{Trigger, TriggerCond};

/// `[[rollback_trigger]]` in order; `step_ids` are the steps `step_failed` may name.
pub(super) fn triggers(
    cx: &mut Ctx<'_>,
    specs: &[Spanned<TriggerSpec>],
    defined: Defined<'_>,
    step_ids: &BTreeMap<String, usize>,
) -> Vec<Trigger> {
    let mut names = BTreeMap::new();
    specs
        .iter()
        .map(|t| trigger(cx, t.get_ref(), defined, step_ids, &mut names))
        .collect()
}

/// One trigger; `names` are the trigger names seen so far.
fn trigger(
    cx: &mut Ctx<'_>,
    s: &TriggerSpec,
    defined: Defined<'_>,
    step_ids: &BTreeMap<String, usize>,
    names: &mut BTreeMap<String, usize>,
) -> Trigger {
    let name = s.name.get_ref().clone();
    cx.typable(
        &s.name,
        "the trigger name",
        "it is shown in the banner, reports and the journal",
    );
    if let Some(first_line) = cx.used_before(names, &s.name) {
        cx.err(
            s.name.span(),
            format!(
                "duplicate rollback_trigger name `{name}` (first used on line {first_line}): names must be unique because the banner and the journal show them"
            ),
        );
    }
    let w = s.when.get_ref();
    let head = cx.head(s.when.span());
    one_condition(cx, w, head, &name);
    cx.unread(span_of(&w.on), w.sql.is_some(), || {
        format!(
            "trigger `{name}`: `on` names the connection for its sql; this trigger has no sql: remove it"
        )
    });
    let when = condition(cx, w, defined, step_ids, &name);
    // A condition that can never hold would watch nothing while looking armed.
    if w.window_left_below.is_some() && !defined.window {
        cx.err(
            s.when.span(),
            format!(
                "trigger `{name}`: window_left_below needs `[runbook] window = {{ start = \"…\", minutes = N }}`; without a window it can never fire"
            ),
        );
    }
    if w.mismatch_rows_above.is_some() && defined.reconcile.is_empty() {
        cx.err(
            s.when.span(),
            format!(
                "trigger `{name}`: mismatch_rows_above counts the [[reconcile]] checks' mismatches; this runbook has none, so it can never fire"
            ),
        );
    }
    let action = s.action.unwrap_or_default();
    if let Some(c) = &s.countdown
        && action == TriggerAction::Rollback
        && c.get_ref().get() < Duration::from_secs(1)
    {
        cx.err(
            c.span(),
            format!(
                "trigger `{name}`: countdown must be at least 1s: an automatic rollback is never instant, the operator must be able to stop it"
            ),
        );
    }
    if let Some(c) = &s.countdown
        && action != TriggerAction::Rollback
    {
        cx.err(
            c.span(),
            format!(
                "trigger `{name}`: countdown applies only to action = \"rollback\" (the default action only alerts): add action = \"rollback\" or remove countdown"
            ),
        );
    }
    Trigger {
        name,
        when,
        hold: w.hold.map_or(Duration::ZERO, |d| d.get()),
        action,
        countdown: s.countdown.as_ref().map(|c| c.get_ref().get()),
    }
}

/// Reports a `when` without exactly one condition; `head` is where it starts.
fn one_condition(cx: &mut Ctx<'_>, w: &WhenSpec, head: Range<usize>, name: &str) {
    let given = written!(w; lag_above, mismatch_rows_above, step_failed, window_left_below, sql);
    if given.len() != 1 {
        cx.err(
            head,
            format!(
                "trigger `{name}`: when needs exactly one of lag_above, mismatch_rows_above, step_failed, window_left_below or sql (found {}); use one [[rollback_trigger]] per condition",
                list_or_none(&given)
            ),
        );
    }
}

/// The first condition `when` gives, checked. A `when` with none (see [`one_condition`]) gets
/// one that never fires so that the rest of the trigger is still checked.
fn condition(
    cx: &mut Ctx<'_>,
    w: &WhenSpec,
    defined: Defined<'_>,
    step_ids: &BTreeMap<String, usize>,
    name: &str,
) -> TriggerCond {
    if let Some(t) = &w.lag_above {
        measured(cx, defined.lag, t, "lag_above");
        TriggerCond::LagAbove(*t.get_ref())
    } else if let Some(n) = w.mismatch_rows_above {
        TriggerCond::MismatchRowsAbove(n)
    } else if let Some(step) = &w.step_failed {
        step_failed(cx, step, step_ids);
        TriggerCond::StepFailed(step.get_ref().clone())
    } else if let Some(d) = &w.window_left_below {
        TriggerCond::WindowLeftBelow(d.get_ref().get())
    } else if let Some(q) = &w.sql {
        let on = cx.sql_connection(
            w.on.as_ref(),
            defined.connections,
            q.span(),
            &format!("trigger `{name}` sql"),
        );
        TriggerCond::Sql {
            sql: cx.sql_template(q),
            on,
        }
    } else {
        TriggerCond::MismatchRowsAbove(u64::MAX)
    }
}

/// `step_failed` must name a step.
fn step_failed(cx: &mut Ctx<'_>, step: &SStr, step_ids: &BTreeMap<String, usize>) {
    if step_ids.contains_key(step.get_ref()) {
        return;
    }
    let known: Vec<&str> = step_ids.keys().map(String::as_str).collect();
    cx.err(
        step.span(),
        format!(
            "step_failed names unknown step `{}`{}; known steps: {}",
            step.get_ref(),
            did_you_mean(step.get_ref(), &known),
            known.join(", ")
        ),
    );
}
