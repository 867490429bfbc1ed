//! `[[rollback_trigger]]`: the conditions that alert or roll back on their own.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::context::{Ctx, sql_connection};
use super::lag::threshold_fits;
use crate::runbook::spec::{TriggerAction, TriggerSpec};
use crate::runbook::{Connection, LagConfig, Trigger, TriggerCond};

pub(super) fn triggers(
    cx: &mut Ctx<'_>,
    specs: &[Spanned<TriggerSpec>],
    conns: &BTreeMap<String, Connection>,
    lag: &Option<LagConfig>,
    ids: &BTreeMap<String, Range<usize>>,
) -> Vec<Trigger> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for t in specs {
        let s = t.get_ref();
        let name = s.name.get_ref().clone();
        if let Some(first) = names.get(&name) {
            let msg = format!(
                "duplicate rollback_trigger name `{name}` (first used on line {}): names must be unique because the banner and the journal show them",
                cx.line_of(*first)
            );
            cx.err(s.name.span(), msg);
        } else {
            names.insert(name.clone(), s.name.span().start);
        }
        let w = s.when.get_ref();
        let head = cx.head(s.when.span());
        let given: Vec<&str> = [
            ("lag_above", w.lag_above.is_some()),
            ("mismatch_rows_above", w.mismatch_rows_above.is_some()),
            ("step_failed", w.step_failed.is_some()),
            ("window_left_below", w.window_left_below.is_some()),
            ("sql", w.sql.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        if given.len() != 1 {
            cx.err(
                head.clone(),
                format!(
                    "trigger `{name}`: when needs exactly one of lag_above, mismatch_rows_above, step_failed, window_left_below or sql (found {}); use one [[rollback_trigger]] per condition",
                    if given.is_empty() { "none".to_string() } else { given.join(", ") }
                ),
            );
        }
        if let Some(on) = &w.on
            && w.sql.is_none()
        {
            let entry = cx.entry(on.span());
            cx.err(
                entry,
                format!("trigger `{name}`: `on` names the connection for its sql; this trigger has no sql: remove it"),
            );
        }
        let cond = if let Some(th) = &w.lag_above {
            match lag {
                None => cx.err(
                    th.span(),
                    "lag_above needs a [lag] section saying how lag is measured (method, on, thresholds)",
                ),
                Some(l) => {
                    if let Some(msg) = threshold_fits(l.method, th.get_ref()) {
                        cx.err(th.span(), msg);
                    }
                }
            }
            TriggerCond::LagAbove(*th.get_ref())
        } else if let Some(n) = w.mismatch_rows_above {
            TriggerCond::MismatchRowsAbove(n)
        } else if let Some(step) = &w.step_failed {
            if !ids.contains_key(step.get_ref()) {
                let known: Vec<&str> = ids.keys().map(String::as_str).collect();
                cx.err(
                    step.span(),
                    format!(
                        "step_failed names unknown step `{}`{}; known steps: {}",
                        step.get_ref(),
                        crate::runbook::diag::did_you_mean(step.get_ref(), &known),
                        known.join(", ")
                    ),
                );
            }
            TriggerCond::StepFailed(step.get_ref().clone())
        } else if let Some(d) = &w.window_left_below {
            TriggerCond::WindowLeftBelow(d.get_ref().get())
        } else if let Some(q) = &w.sql {
            let on = sql_connection(
                cx,
                w.on.as_ref(),
                conns,
                q.span(),
                &format!("trigger `{name}` sql"),
            );
            TriggerCond::Sql {
                sql: cx.template(q),
                on,
            }
        } else {
            TriggerCond::MismatchRowsAbove(u64::MAX)
        };
        let action = s.action.unwrap_or_default();
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
        out.push(Trigger {
            name,
            when: cond,
            hold: w.hold.map_or(Duration::ZERO, |d| d.get()),
            action,
            countdown: s.countdown.as_ref().map(|c| c.get_ref().get()),
        });
    }
    out
}
