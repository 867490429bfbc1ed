//! `repair = { check, max_rows, triggers }`: a checksum check of the runbook, a bound on the
//! rows a repair may touch, and whether triggers fire while it applies.

use toml::Spanned;

use super::context::Ctx;
use crate::runbook::spec::RepairSpec;
use crate::runbook::{Action, ReconcileCheck, ReconcileKind};

/// Rows a repair step patches at most when `max_rows` is not given.
pub const DEFAULT_MAX_ROWS: u64 = 100;

/// More than this is never a repair (the patch is reviewed on a screen).
const MAX_MAX_ROWS: u64 = 100_000;

/// The step's action; errors located at the offending key.
pub(super) fn repair_action(
    cx: &mut Ctx<'_>,
    spec: &Spanned<RepairSpec>,
    checks: &[ReconcileCheck],
    id: &str,
) -> Action {
    let r = spec.get_ref();
    let name = r.check.get_ref().clone();
    match checks.iter().find(|c| c.name == name) {
        None => {
            let known: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
            cx.err(
                r.check.span(),
                format!(
                    "step `{id}`: repair names check `{name}`, which no [[reconcile]] defines (known: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
        }
        Some(c) if c.kind != ReconcileKind::Checksum => cx.err(
            r.check.span(),
            format!(
                "step `{id}`: repair works on checksum checks (they list the differing rows); `{name}` is a {} check",
                format!("{:?}", c.kind).to_lowercase()
            ),
        ),
        Some(_) => {}
    }
    let max_rows = r
        .max_rows
        .as_ref()
        .map_or(DEFAULT_MAX_ROWS, |m| *m.get_ref());
    if let Some(m) = &r.max_rows
        && !(1..=MAX_MAX_ROWS).contains(m.get_ref())
    {
        cx.err(
            m.span(),
            format!("step `{id}`: repair max_rows must be 1 to {MAX_MAX_ROWS} (more is a reload, not a repair)"),
        );
    }
    let fire_triggers = match r.triggers.as_ref().map(|t| t.get_ref().as_str()) {
        None | Some("fire") => true,
        Some("skip") => false,
        Some(other) => {
            if let Some(t) = &r.triggers {
                cx.err(
                    t.span(),
                    format!("step `{id}`: repair triggers = {other:?}: give \"fire\" or \"skip\""),
                );
            }
            true
        }
    };
    Action::Repair {
        check: name,
        max_rows,
        fire_triggers,
    }
}
