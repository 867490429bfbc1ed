//! `[[notify]]`: known event kinds, a command, a sane timeout and retry count.

use std::time::Duration;

use toml::Spanned;

use super::context::Ctx;
use crate::runbook::notify::{Notify, NotifyKind};
use crate::runbook::spec::NotifySpec;

/// A hook's time limit when it gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a hook may run (it never holds the run, but a queue behind it waits).
const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// How far behind plan a `behind_plan` hook is told, by default.
const DEFAULT_BEHIND_BY: Duration = Duration::from_secs(300);

/// Every `[[notify]]`, validated.
pub(super) fn hooks(cx: &mut Ctx<'_>, specs: &[Spanned<NotifySpec>]) -> Vec<Notify> {
    specs.iter().map(|s| hook(cx, s.get_ref())).collect()
}

fn hook(cx: &mut Ctx<'_>, s: &NotifySpec) -> Notify {
    let mut on = Vec::new();
    for k in s.on.get_ref() {
        match NotifyKind::parse(k.get_ref()) {
            Some(kind) if !on.contains(&kind) => on.push(kind),
            Some(_) => cx.err(k.span(), format!("notify on names {:?} twice", k.get_ref())),
            None => {
                let known: Vec<&str> = NotifyKind::ALL.iter().map(|k| k.word()).collect();
                cx.err(
                    k.span(),
                    format!(
                        "notify on: unknown event kind {:?} (known: {})",
                        k.get_ref(),
                        known.join(", ")
                    ),
                );
            }
        }
    }
    if s.on.get_ref().is_empty() {
        cx.err(
            s.on.span(),
            "notify on names no event: give the kinds to send, e.g. on = [\"trigger\", \"run_ended\"]",
        );
    }
    cx.not_blank(&s.run, || {
        "notify run is empty: give the command that sends the event (it reads the event as JSON on stdin)".to_string()
    });
    let timeout = s
        .timeout
        .as_ref()
        .map_or(DEFAULT_TIMEOUT, |d| d.get_ref().get());
    if let Some(t) = &s.timeout
        && (timeout.is_zero() || timeout > MAX_TIMEOUT)
    {
        cx.err(
            t.span(),
            "notify timeout must be more than 0 and at most 5m",
        );
    }
    let retries = s.retries.as_ref().map_or(2, |r| *r.get_ref());
    if let Some(r) = &s.retries
        && retries > 10
    {
        cx.err(r.span(), "notify retries must be at most 10");
    }
    Notify {
        on,
        run: cx.shell_template(&s.run),
        timeout,
        retries,
        behind_by: s
            .behind_by
            .as_ref()
            .map_or(DEFAULT_BEHIND_BY, |d| d.get_ref().get()),
    }
}
