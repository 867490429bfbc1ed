//! The pictures of a report: the timeline (planned against actual per step, on the run's
//! clock) as text rows for Markdown and as inline SVG for HTML, and the lag chart (SVG, with
//! the warn and critical lines). No external reference: everything is drawn here.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::facts::Report;
use cutover_model::summary::{Ended, StepSummary};

/// Where a step's bars go on the run's clock, ms from the run's start.
struct Bars {
    start: u64,
    planned: u64,
    actual: u64,
}

fn since(t: DateTime<Utc>, from: DateTime<Utc>) -> u64 {
    u64::try_from((t - from).num_milliseconds()).unwrap_or(0)
}

/// Each step's bars and the span the axis must cover, ms.
fn layout(r: &Report) -> (Vec<Option<Bars>>, u64) {
    let s = &r.summary;
    let Some(t0) = s.started_at else {
        return (s.steps.iter().map(|_| None).collect(), 1);
    };
    let mut span = r.elapsed_ms.unwrap_or(0);
    let bars: Vec<Option<Bars>> = s
        .steps
        .iter()
        .map(|st| {
            let start = since(st.first_started?, t0);
            let actual = match st.last_ended {
                Some(end) => since(end, t0).saturating_sub(start),
                None => st.actual_ms.unwrap_or(0),
            };
            let planned = st.expected_ms.unwrap_or(0);
            span = span.max(start + actual).max(start + planned);
            Some(Bars {
                start,
                planned,
                actual,
            })
        })
        .collect();
    (bars, span.max(1))
}

/// The timeline as text rows `width` cells wide: `·` planned, `█` actual.
pub fn timeline_rows(r: &Report, width: usize) -> Vec<String> {
    let (bars, span) = layout(r);
    let id_w = r
        .summary
        .steps
        .iter()
        .map(|s| s.id.chars().count() + (s.index + 1).to_string().len() + 1)
        .max()
        .unwrap_or(0);
    let cells = |ms: u64| ((ms as f64 / span as f64) * width as f64).round() as usize;
    r.summary
        .steps
        .iter()
        .zip(bars)
        .map(|(st, b)| {
            let mut row = vec![' '; width];
            if let Some(b) = b {
                let from = cells(b.start).min(width);
                for c in row.iter_mut().skip(from).take(cells(b.planned)) {
                    *c = '·';
                }
                for c in row.iter_mut().skip(from).take(cells(b.actual).max(1)) {
                    *c = '█';
                }
            }
            let name = format!("{} {}", st.index + 1, st.id);
            format!(
                "{name:<id_w$} |{}| {}",
                row.into_iter().collect::<String>(),
                st.ended.glyph()
            )
        })
        .collect()
}

/// Escapes text for SVG/HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn bar_class(st: &StepSummary) -> &'static str {
    match st.ended {
        Ended::Passed | Ended::MarkedDone => "ok",
        Ended::Skipped => "skip",
        Ended::NotRun => "none",
        Ended::Interrupted => "unknown",
        Ended::Failed | Ended::TimedOut | Ended::Cancelled => "bad",
    }
}

/// The timeline as SVG: one row per step, the planned bar outlined, the actual bar filled,
/// the point of no return marked.
pub fn timeline(r: &Report) -> String {
    let (bars, span) = layout(r);
    let (label_w, plot_w, row_h) = (200.0, 560.0, 22.0);
    let h = row_h * r.summary.steps.len().max(1) as f64 + 28.0;
    let x = |ms: u64| label_w + ms as f64 / span as f64 * plot_w;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="timeline: planned against actual per step">"#,
        w = label_w + plot_w + 10.0
    );
    for (i, (st, b)) in r.summary.steps.iter().zip(bars).enumerate() {
        let y = 6.0 + i as f64 * row_h;
        let _ = write!(
            o,
            r#"<text x="{lx}" y="{ty}" class="label">{n} {id}</text>"#,
            lx = label_w - 6.0,
            ty = y + 13.0,
            n = st.index + 1,
            id = esc(&st.id)
        );
        if let Some(b) = b {
            if b.planned > 0 {
                let _ = write!(
                    o,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="14" class="planned"><title>planned {}</title></rect>"#,
                    x(b.start),
                    y + 1.0,
                    (x(b.start + b.planned) - x(b.start)).max(1.0),
                    esc(&super::facts::ms(st.expected_ms))
                );
            }
            let _ = write!(
                o,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="10" class="actual {}"><title>{} {} · {} attempt(s)</title></rect>"#,
                x(b.start),
                y + 3.0,
                (x(b.start + b.actual) - x(b.start)).max(2.0),
                bar_class(st),
                esc(st.ended.word()),
                esc(&super::facts::ms(st.actual_ms)),
                st.attempts
            );
            if st.point_of_no_return.is_some() {
                let _ = write!(
                    o,
                    r#"<text x="{:.1}" y="{:.1}" class="ponr">⚑</text>"#,
                    x(b.start + b.actual) + 3.0,
                    y + 13.0
                );
            }
        }
    }
    let axis_y = 6.0 + row_h * r.summary.steps.len() as f64 + 4.0;
    let _ = write!(
        o,
        r#"<line x1="{label_w}" x2="{}" y1="{axis_y}" y2="{axis_y}" class="axis"/><text x="{label_w}" y="{}" class="tick">0</text><text x="{}" y="{}" class="tick end">{}</text></svg>"#,
        label_w + plot_w,
        axis_y + 14.0,
        label_w + plot_w,
        axis_y + 14.0,
        esc(&cutover_model::narrate::duration(span))
    );
    o
}

/// The lag over the run as SVG, with the warn and critical lines; empty without readings.
pub fn lag_chart(r: &Report) -> String {
    let l = &r.summary.lag;
    let (Some(info), Some(first), Some(last)) = (&l.info, l.points.first(), l.points.last()) else {
        return String::new();
    };
    let (w, h, pad) = (760.0, 180.0, 34.0);
    let t_span = since(last.at, first.at).max(1) as f64;
    let top = l
        .points
        .iter()
        .map(|p| p.value)
        .chain(info.warn)
        .chain(info.critical)
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.1;
    let px = |at: DateTime<Utc>| pad + since(at, first.at) as f64 / t_span * (w - 2.0 * pad);
    let py = |v: f64| h - pad - v / top * (h - 2.0 * pad);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="replication lag over the run">"#
    );
    for (name, v) in [("warn", info.warn), ("critical", info.critical)] {
        if let Some(v) = v {
            let _ = write!(
                o,
                r#"<line x1="{pad}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" class="{name}"/><text x="{x2}" y="{ty:.1}" class="tick end">{name} {val}</text>"#,
                x2 = w - pad,
                y = py(v),
                ty = py(v) - 3.0,
                val = esc(&cutover_model::lag::show(v, info.unit))
            );
        }
    }
    let pts: Vec<String> = l
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", px(p.at), py(p.value)))
        .collect();
    let _ = write!(
        o,
        r#"<polyline points="{}" class="lag"/><line x1="{pad}" x2="{x2}" y1="{y}" y2="{y}" class="axis"/><text x="{pad}" y="{ty}" class="tick">{t0}</text><text x="{x2}" y="{ty}" class="tick end">{t1}</text></svg>"#,
        pts.join(" "),
        x2 = w - pad,
        y = h - pad,
        ty = h - pad + 14.0,
        t0 = super::facts::clock(first.at),
        t1 = super::facts::clock(last.at)
    );
    o
}
