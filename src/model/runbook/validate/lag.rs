//! `[lag]`: how replication lag is measured, and which thresholds suit the method.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::context::Ctx;
use crate::runbook::spec::{LagMethod, LagSpec, SStr};
use crate::runbook::units::Threshold;
use crate::runbook::{Connection, LagConfig};

pub(super) fn lag_config(
    cx: &mut Ctx<'_>,
    l: &Spanned<LagSpec>,
    conns: &BTreeMap<String, Connection>,
) -> LagConfig {
    let s = l.get_ref();
    let method = *s.method.get_ref();
    let head = cx.head(l.span());
    for c in [&s.on, &s.target].into_iter().flatten() {
        cx.connection(c, conns, "[lag]");
    }
    let need = |cx: &mut Ctx<'_>, v: &Option<SStr>, key: &str, what: &str| {
        if v.is_none() {
            cx.err(
                s.method.span(),
                format!(
                    "lag method \"{}\" needs `{key}`: {what}",
                    format!("{method:?}").to_lowercase()
                ),
            );
        }
    };
    match method {
        LagMethod::Logical => need(
            cx,
            &s.slot,
            "slot",
            "the replication slot on the source, e.g. slot = \"orders_sub\"",
        ),
        LagMethod::Heartbeat => need(
            cx,
            &s.target,
            "target",
            "the connection that reads the heartbeat, e.g. target = \"target\"",
        ),
        LagMethod::Sql => need(
            cx,
            &s.sql,
            "sql",
            "a query returning the lag as one number, e.g. sql = \"select ...\"",
        ),
        LagMethod::Command => need(
            cx,
            &s.command,
            "command",
            "a command printing the lag as one number, e.g. command = \"./lag.sh\"",
        ),
        LagMethod::Streaming => {}
    }
    let needs_conn = !matches!(method, LagMethod::Command);
    if needs_conn && s.on.is_none() && !conns.contains_key("source") {
        cx.err(
            head.clone(),
            "[lag] needs `on = \"CONNECTION\"` (there is no connection named `source` to default to)",
        );
    }
    let sql = cx.opt_template(&s.sql);
    let command = cx.opt_template(&s.command);
    for t in [&s.warn, &s.critical].into_iter().flatten() {
        if let Some(msg) = threshold_fits(method, t.get_ref()) {
            cx.err(t.span(), msg);
        }
    }
    if let (Some(w), Some(c)) = (&s.warn, &s.critical) {
        match (w.get_ref(), c.get_ref()) {
            (a, b) if !a.same_kind(b) => cx.err(
                c.span(),
                format!(
                    "critical is {} but warn is {}: use the same unit for both",
                    b.kind_name(),
                    a.kind_name()
                ),
            ),
            (a, b) if threshold_value(a) >= threshold_value(b) => {
                let msg = format!(
                    "critical ({}) must be above warn ({}): swap them or raise critical",
                    cx.written(c.span()),
                    cx.written(w.span())
                );
                cx.err(c.span(), msg);
            }
            _ => {}
        }
    }
    let interval = s.interval.as_ref().map_or(Duration::from_secs(1), |i| {
        let d = i.get_ref().get();
        if d < Duration::from_millis(100) {
            cx.err(
                i.span(),
                "lag interval must be at least 100ms (probing faster only loads the server)",
            );
        }
        d
    });
    LagConfig {
        method,
        on: s
            .on
            .as_ref()
            .map(|x| x.get_ref().clone())
            .or_else(|| needs_conn.then(|| "source".to_string())),
        target: s.target.as_ref().map(|x| x.get_ref().clone()),
        slot: s.slot.as_ref().map(|x| x.get_ref().clone()),
        subscription: s.subscription.as_ref().map(|x| x.get_ref().clone()),
        application_name: s.application_name.as_ref().map(|x| x.get_ref().clone()),
        table: s.table.as_ref().map(|x| x.get_ref().clone()),
        sql,
        command,
        warn: s.warn.as_ref().map(|t| *t.get_ref()),
        critical: s.critical.as_ref().map(|t| *t.get_ref()),
        interval,
    }
}

pub(super) fn threshold_value(t: &Threshold) -> f64 {
    match t {
        Threshold::Bytes(b) => *b as f64,
        Threshold::Time(d) => d.get().as_secs_f64(),
        Threshold::Number(n) => *n,
    }
}

/// Whether a threshold's unit suits the lag method; `Some(message)` when it does not.
pub(super) fn threshold_fits(method: LagMethod, t: &Threshold) -> Option<String> {
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
            format!("{method:?}").to_lowercase()
        )
    })
}
