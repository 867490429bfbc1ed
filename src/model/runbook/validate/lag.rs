//! `[lag]`: how replication lag is measured, and which thresholds suit the method.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::context::{Ctx, value_of};
use crate::runbook::spec::{LagMethod, LagSpec};
use crate::runbook::units::{Dur, Threshold};
use crate::runbook::{Connection, LagConfig};

/// `[lag]`, checked against the connections.
pub(super) fn lag_config(
    cx: &mut Ctx<'_>,
    l: &Spanned<LagSpec>,
    conns: &BTreeMap<String, Connection>,
) -> LagConfig {
    let s = l.get_ref();
    let method = *s.method.get_ref();
    for c in [&s.on, &s.target].into_iter().flatten() {
        cx.connection(c, conns, "[lag]");
    }
    method_key(cx, s);
    let needs_conn = !matches!(method, LagMethod::Command);
    if needs_conn && s.on.is_none() && !conns.contains_key("source") {
        let head = cx.head(l.span());
        cx.err(
            head,
            "[lag] needs `on = \"CONNECTION\"` (there is no connection named `source` to default to)",
        );
    }
    let sql = cx.opt_sql_template(&s.sql);
    let command = cx.opt_shell_template(&s.command);
    thresholds(cx, s);
    LagConfig {
        method,
        on: value_of(&s.on).or_else(|| needs_conn.then(|| "source".to_string())),
        target: value_of(&s.target),
        slot: value_of(&s.slot),
        subscription: value_of(&s.subscription),
        application_name: value_of(&s.application_name),
        table: value_of(&s.table),
        sql,
        command,
        warn: value_of(&s.warn),
        critical: value_of(&s.critical),
        interval: interval(cx, &s.interval),
    }
}

/// Reports a missing key the method cannot do without (the slot of `logical`...).
fn method_key(cx: &mut Ctx<'_>, s: &LagSpec) {
    let method = *s.method.get_ref();
    let (value, key, what) = match method {
        LagMethod::Logical => (
            &s.slot,
            "slot",
            "the replication slot on the source, e.g. slot = \"orders_sub\"",
        ),
        LagMethod::Heartbeat => (
            &s.target,
            "target",
            "the connection that reads the heartbeat, e.g. target = \"target\"",
        ),
        LagMethod::Sql => (
            &s.sql,
            "sql",
            "a query returning the lag as one number, e.g. sql = \"select ...\"",
        ),
        LagMethod::Command => (
            &s.command,
            "command",
            "a command printing the lag as one number, e.g. command = \"./lag.sh\"",
        ),
        LagMethod::Streaming => return,
    };
    if value.is_none() {
        cx.err(
            s.method.span(),
            format!(
                "lag method \"{}\" needs `{key}`: {what}",
                method_name(method)
            ),
        );
    }
}

/// Reports a threshold whose unit does not suit the method, warn and critical of different
/// units, and a critical not above warn.
fn thresholds(cx: &mut Ctx<'_>, s: &LagSpec) {
    let method = *s.method.get_ref();
    for t in [&s.warn, &s.critical].into_iter().flatten() {
        if let Some(msg) = threshold_fits(method, t.get_ref()) {
            cx.err(t.span(), msg);
        }
    }
    let (Some(w), Some(c)) = (&s.warn, &s.critical) else {
        return;
    };
    let (warn, critical) = (w.get_ref(), c.get_ref());
    if !warn.same_kind(critical) {
        cx.err(
            c.span(),
            format!(
                "critical is {} but warn is {}: use the same unit for both",
                critical.kind_name(),
                warn.kind_name()
            ),
        );
    } else if threshold_value(warn) >= threshold_value(critical) {
        let (as_written_c, as_written_w) = (cx.written(c.span()), cx.written(w.span()));
        cx.err(
            c.span(),
            format!(
                "critical ({as_written_c}) must be above warn ({as_written_w}): swap them or raise critical"
            ),
        );
    }
}

/// How often to probe (default 1s, at least 100ms).
fn interval(cx: &mut Ctx<'_>, interval: &Option<Spanned<Dur>>) -> Duration {
    cx.every_at_least(
        interval,
        Duration::from_secs(1),
        Duration::from_millis(100),
        "lag interval must be at least 100ms (probing faster only loads the server)",
    )
}

/// A threshold as one number, to compare two of the same kind.
fn threshold_value(t: &Threshold) -> f64 {
    match t {
        Threshold::Bytes(b) => *b as f64,
        Threshold::Time(d) => d.get().as_secs_f64(),
        Threshold::Number(n) => *n,
    }
}

/// The method as written in the file (`"streaming"`...).
fn method_name(method: LagMethod) -> String {
    format!("{method:?}").to_lowercase()
}

/// Whether a threshold's unit suits the lag method; `Some(message)` when it does not.
fn threshold_fits(method: LagMethod, t: &Threshold) -> Option<String> {
    let ok = match method {
        LagMethod::Streaming | LagMethod::Logical => !matches!(t, Threshold::Number(_)),
        LagMethod::Heartbeat => matches!(t, Threshold::Time(_)),
        LagMethod::Sql | LagMethod::Command => true,
    };
    (!ok).then(|| {
        let want = match method {
            LagMethod::Heartbeat => "measures time: write a time such as \"5s\"",
            _ => {
                "measures bytes or time: write a size such as \"16MB\" or a time such as \"5s\" (plain numbers are for sql and command lag)"
            }
        };
        format!(
            "{} does not fit lag method \"{}\", which {want}",
            t.kind_name(),
            method_name(method)
        )
    })
}

/// The `[lag]` a condition on lag (`key`, e.g. `lag_above`) needs: reports its absence, and a
/// threshold `t` that does not suit its method.
pub(super) fn measured<'a>(
    cx: &mut Ctx<'_>,
    lag: Option<&'a LagConfig>,
    t: &Spanned<Threshold>,
    key: &str,
) -> Option<&'a LagConfig> {
    match lag {
        None => cx.err(
            t.span(),
            format!(
                "{key} needs a [lag] section saying how lag is measured (method, on, thresholds)"
            ),
        ),
        Some(l) => {
            if let Some(msg) = threshold_fits(l.method, t.get_ref()) {
                cx.err(t.span(), msg);
            }
        }
    }
    lag
}
