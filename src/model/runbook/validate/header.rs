//! `[runbook]`: the header; of its keys only the maintenance window can be wrong.

use chrono::{DateTime, Utc};
use toml::Spanned;

use super::context::Ctx;
use crate::runbook::Window;
use crate::runbook::spec::WindowSpec;

/// The maintenance window; `None` when its start is not a time.
pub(super) fn window(cx: &mut Ctx<'_>, w: &Spanned<WindowSpec>) -> Option<Window> {
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
}
