//! `progress = { sql, on, every, unit }`: how far a long step (a copy) is, polled while it
//! runs.

use std::time::Duration;

use toml::Spanned;

use super::Defined;
use super::context::Ctx;
use crate::runbook::spec::ProgressSpec;
use crate::runbook::{Action, StepProgress};

/// The progress of step `id`; `step_on` is the step's `on`, the default for its sql.
pub(super) fn progress(
    cx: &mut Ctx<'_>,
    p: &Spanned<ProgressSpec>,
    step_on: Option<&crate::runbook::spec::SStr>,
    defined: Defined<'_>,
    id: &str,
    action: &Action,
) -> StepProgress {
    let s = p.get_ref();
    if matches!(action, Action::Confirm(_) | Action::Approve(_)) {
        cx.err(
            p.span(),
            format!(
                "step `{id}`: progress polls a long-running step (a copy); a confirm or a sign-off waits for a person: remove it"
            ),
        );
    }
    let on = cx.sql_connection(
        s.on.as_ref().or(step_on),
        defined.connections,
        s.sql.span(),
        &format!("step `{id}` progress sql"),
    );
    let every = cx.every_at_least(
        &s.every,
        Duration::from_secs(5),
        Duration::from_secs(1),
        &format!(
            "step `{id}`: progress every must be at least 1s (it runs a query on a server that is busy with the copy)"
        ),
    );
    let unit = s
        .unit
        .as_ref()
        .map_or_else(|| "rows".to_string(), |u| u.get_ref().clone());
    if let Some(u) = &s.unit
        && (unit.is_empty()
            || unit.chars().count() > 16
            || !unit
                .chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || c == '_'))
    {
        cx.err(
            u.span(),
            format!(
                "step `{id}`: progress unit must be 1 to 16 letters, digits, spaces or underscores (e.g. \"rows\", \"MB\"), not {unit:?}"
            ),
        );
    }
    StepProgress {
        sql: cx.sql_template(&s.sql),
        on,
        every,
        unit,
    }
}
