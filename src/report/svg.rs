//! The pictures of a report: the timeline (planned against actual per step, on the run's
//! clock) as text rows for Markdown and as inline SVG for HTML, and the lag chart (SVG, with
//! its values on the y-axis, the warn and critical lines, and marks where a trigger fired and
//! the rollback began). No external reference: everything is drawn here.
//!
//! Each SVG picture is drawn twice, [`Fit::Wide`] for a screen or paper and [`Fit::Narrow`]
//! for a phone, and the page's CSS shows one: a picture scaled down to a phone's width would
//! shrink its text with it, so the narrow one is drawn about as wide as it is shown.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::facts::{Mark, MarkKind, Report};
use cutover_model::lag::LagUnit;
use cutover_model::protocol::LagInfo;
use cutover_model::summary::{Ended, StepSummary};

/// Which width a picture is drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// A screen or paper: labels beside the bars.
    Wide,
    /// A phone (up to 40rem): drawn 360 units wide, labels above the bars.
    Narrow,
}

impl Fit {
    /// The CSS class that shows this drawing at its width.
    fn class(self) -> &'static str {
        match self {
            Fit::Wide => "wide",
            Fit::Narrow => "narrow",
        }
    }
}

/// The width of a narrow drawing, in SVG units (about CSS pixels on a 390 px phone).
pub const NARROW_W: f64 = 360.0;

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

/// The length in characters of the longest step label, `N id` (its number from 1 and its id).
fn longest_label(r: &Report) -> usize {
    r.summary
        .steps
        .iter()
        .map(|s| s.id.chars().count() + (s.index + 1).to_string().len() + 1)
        .max()
        .unwrap_or(0)
}

/// The timeline as text rows `width` cells wide: `·` planned, `█` actual.
pub fn timeline_rows(r: &Report, width: usize) -> Vec<String> {
    let (bars, span) = layout(r);
    let id_w = longest_label(r);
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

/// The timeline as SVG, for a screen and for a phone (see [`Fit`]).
pub fn timeline(r: &Report) -> String {
    timeline_fit(r, Fit::Wide) + &timeline_fit(r, Fit::Narrow)
}

/// The timeline as SVG: one row per step, the planned bar outlined, the actual bar filled,
/// the point of no return marked. `Wide`: the step's label beside its bars; `Narrow`: above.
pub fn timeline_fit(r: &Report, fit: Fit) -> String {
    let (bars, span) = layout(r);
    let longest = longest_label(r);
    // 11px monospace: about 6.7 units a character.
    let (label_w, plot_w, row_h, bar_dy) = match fit {
        Fit::Wide => (
            (longest as f64 * 6.7 + 12.0).clamp(120.0, 320.0),
            560.0,
            22.0,
            0.0,
        ),
        Fit::Narrow => (0.0, NARROW_W - 16.0, 38.0, 17.0),
    };
    let h = row_h * r.summary.steps.len().max(1) as f64 + 28.0;
    let x = |ms: u64| label_w + ms as f64 / span as f64 * plot_w;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart {class}" viewBox="0 0 {w} {h}" role="img" aria-label="timeline: planned against actual per step">"#,
        class = fit.class(),
        w = label_w + plot_w + 16.0
    );
    for (i, (st, b)) in r.summary.steps.iter().zip(bars).enumerate() {
        let y = 6.0 + i as f64 * row_h;
        let (lx, class) = match fit {
            Fit::Wide => (label_w - 6.0, "label"),
            Fit::Narrow => (0.0, "label start"),
        };
        let _ = write!(
            o,
            r#"<text x="{lx}" y="{ty}" class="{class}">{n} {id}</text>"#,
            ty = y + 12.0,
            n = st.index + 1,
            id = esc(&st.id)
        );
        if let Some(b) = b {
            bar(&mut o, st, &b, y + bar_dy, x);
        }
    }
    let axis_y = 6.0 + row_h * r.summary.steps.len() as f64 + 4.0;
    terminal_marks(&mut o, r, &x, axis_y);
    let _ = write!(
        o,
        r#"<line x1="{label_w}" x2="{x2}" y1="{axis_y}" y2="{axis_y}" class="axis"/><text x="{label_w}" y="{ty}" class="tick">0</text><text x="{x2}" y="{ty}" class="tick end">{end}</text></svg>"#,
        x2 = label_w + plot_w,
        ty = axis_y + 14.0,
        end = esc(&cutover_model::narrate::duration(span))
    );
    o
}

/// The terminals of the story on the time axis at `axis_y`: a small mark where the controlling
/// terminal attached, left on purpose, was lost, or was taken over (watchers are left out),
/// its words in its tooltip; a lost terminal is marked apart.
fn terminal_marks(o: &mut String, r: &Report, x: &impl Fn(u64) -> f64, axis_y: f64) {
    use cutover_model::protocol::{ClientChange, ClientRole};
    let Some(t0) = r.summary.started_at else {
        return;
    };
    for c in &r.summary.clients {
        let Some(at) = c.at else { continue };
        let control = c.role == ClientRole::Control || c.change == ClientChange::TookOver;
        if !control {
            continue;
        }
        let class = match (c.change, c.on_purpose) {
            (ClientChange::Detached, Some(false)) => "terminal lost",
            (ClientChange::TookOver, _) => "terminal takeover",
            _ => "terminal",
        };
        let _ = write!(
            o,
            r#"<path d="M{cx:.1} {top:.1} l-4 -7 h8 z" class="{class}"><title>{at} {words}</title></path>"#,
            cx = x(since(at, t0)),
            top = axis_y,
            at = super::facts::clock(at),
            words = esc(&c.words())
        );
    }
}

/// One step's bars at height `y`: planned outlined, actual filled, the flag of a point of no
/// return after them.
fn bar(o: &mut String, st: &StepSummary, b: &Bars, y: f64, x: impl Fn(u64) -> f64) {
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
            r#"<text x="{:.1}" y="{:.1}" class="ponr">⚑<title>point of no return</title></text>"#,
            x(b.start + b.actual.max(b.planned)) + 3.0,
            y + 13.0
        );
    }
}

/// The lag chart as SVG, for a screen and for a phone (see [`Fit`]); empty without readings.
pub fn lag_chart(r: &Report) -> String {
    lag_chart_fit(r, Fit::Wide) + &lag_chart_fit(r, Fit::Narrow)
}

/// The plot area of a lag chart and the scales onto it.
struct Plot {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    t0: DateTime<Utc>,
    t_span: f64,
    v_top: f64,
}

impl Plot {
    fn x(&self, at: DateTime<Utc>) -> f64 {
        let ms = (at - self.t0).num_milliseconds().max(0) as f64;
        self.left + ms / self.t_span * (self.right - self.left)
    }

    fn y(&self, v: f64) -> f64 {
        self.bottom - v / self.v_top * (self.bottom - self.top)
    }
}

/// The lag over the run as SVG: the readings, the y-axis with labelled values, the warn and
/// critical lines, and a vertical mark where a trigger fired and where the rollback began.
/// Empty without readings.
pub fn lag_chart_fit(r: &Report, fit: Fit) -> String {
    let l = &r.summary.lag;
    let (Some(info), Some(first), Some(last)) = (&l.info, l.points.first(), l.points.last()) else {
        return String::new();
    };
    let marks = r.marks();
    // The time axis covers the readings and every mark.
    let t0 = marks.iter().map(|m| m.at).fold(first.at, DateTime::min);
    let t1 = marks.iter().map(|m| m.at).fold(last.at, DateTime::max);
    let peak = l
        .points
        .iter()
        .map(|p| p.value)
        .chain(info.warn)
        .chain(info.critical)
        .fold(0.0_f64, f64::max);
    let (v_top, ticks) = y_ticks(peak, info.unit);
    let (w, h, left) = match fit {
        Fit::Wide => (760.0, 220.0, 64.0),
        Fit::Narrow => (NARROW_W, 230.0, 52.0),
    };
    let p = Plot {
        left,
        right: w - 12.0,
        top: 14.0 + 13.0 * marks.len().min(3) as f64,
        bottom: h - 24.0,
        t0,
        t_span: since(t1, t0).max(1) as f64,
        v_top,
    };
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart {class}" viewBox="0 0 {w} {h}" role="img" aria-label="replication lag over the run">"#,
        class = fit.class()
    );
    levels(&mut o, &p, &ticks, info);
    let pts: Vec<String> = l
        .points
        .iter()
        .map(|pt| format!("{:.1},{:.1}", p.x(pt.at), p.y(pt.value)))
        .collect();
    let _ = write!(o, r#"<polyline points="{}" class="lag"/>"#, pts.join(" "));
    // Few readings: each one shown, so a straight stretch is not taken for many.
    if l.points.len() <= 120 {
        for pt in &l.points {
            let _ = write!(
                o,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" class="reading"/>"#,
                p.x(pt.at),
                p.y(pt.value)
            );
        }
    }
    marks_svg(&mut o, &marks, &p, fit);
    let _ = write!(
        o,
        r#"<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" class="axis"/><line x1="{l}" x2="{l}" y1="{t}" y2="{b}" class="axis"/><text x="{l}" y="{ty}" class="tick">{c0}</text><text x="{r}" y="{ty}" class="tick end">{c1}</text></svg>"#,
        l = p.left,
        r = p.right,
        t = p.top,
        b = p.bottom,
        ty = p.bottom + 16.0,
        c0 = super::facts::clock(t0),
        c1 = super::facts::clock(t1)
    );
    o
}

/// The y-axis's labelled values with their grid lines, and the warn and critical lines.
fn levels(o: &mut String, p: &Plot, ticks: &[(f64, String)], info: &LagInfo) {
    for (v, label) in ticks {
        let _ = write!(
            o,
            r#"<line x1="{l}" x2="{r}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{tx}" y="{ty:.1}" class="tick end">{label}</text>"#,
            l = p.left,
            r = p.right,
            y = p.y(*v),
            tx = p.left - 5.0,
            ty = p.y(*v) + 4.0,
            label = esc(label)
        );
    }
    for (name, v) in [("warn", info.warn), ("critical", info.critical)] {
        if let Some(v) = v {
            let _ = write!(
                o,
                r#"<line x1="{l}" x2="{r}" y1="{y:.1}" y2="{y:.1}" class="{name}"/><text x="{tx}" y="{ty:.1}" class="tick">{name} {val}</text>"#,
                l = p.left,
                r = p.right,
                tx = p.left + 4.0,
                y = p.y(v),
                ty = p.y(v) - 3.0,
                val = esc(&cutover_model::lag::show(v, info.unit))
            );
        }
    }
}

/// The marks: a vertical line at each moment, its label at the top (staggered over three
/// lines so that marks close in time stay readable), toward the middle of the chart.
fn marks_svg(o: &mut String, marks: &[Mark], p: &Plot, fit: Fit) {
    let most = match fit {
        Fit::Wide => 40,
        Fit::Narrow => 22,
    };
    for (i, m) in marks.iter().enumerate() {
        let x = p.x(m.at);
        let class = match m.kind {
            MarkKind::Trigger { .. } => "mark trigger",
            MarkKind::Rollback => "mark rollback",
        };
        let ty = 12.0 + 13.0 * (i % 3) as f64;
        let (tx, anchor) = if x > (p.left + p.right) / 2.0 {
            (x - 3.0, " end")
        } else {
            (x + 3.0, "")
        };
        let _ = write!(
            o,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y1:.1}" y2="{y2}" class="{class}"><title>{full} at {at}</title></line><text x="{tx:.1}" y="{ty}" class="{class}{anchor}">{label}</text>"#,
            y1 = ty - 9.0,
            y2 = p.bottom,
            full = esc(&m.label()),
            at = super::facts::clock(m.at),
            label = esc(&shorten(&m.label(), most))
        );
    }
}

/// `s` cut to `most` characters, with `…` when cut.
fn shorten(s: &str, most: usize) -> String {
    if s.chars().count() <= most {
        return s.to_string();
    }
    let mut out: String = s.chars().take(most.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The y-axis of a lag chart whose largest value is `peak`: its top, and labelled ticks from
/// 0 to it at a round step of the unit (`0`, `5 s`, `10 s`; `0`, `16 MB`, `32 MB`).
pub fn y_ticks(peak: f64, unit: LagUnit) -> (f64, Vec<(f64, String)>) {
    // A reading that is no number (infinite) draws off the chart, not a million ticks.
    let peak = if peak.is_finite() { peak.max(0.0) } else { 0.0 };
    let step = nice_step(peak / 4.0, unit);
    let n = ((peak / step) - 1e-9).ceil().clamp(1.0, 8.0) as u32;
    let ticks = (0..=n)
        .map(|i| {
            let v = f64::from(i) * step;
            (v, tick_label(v, step, unit))
        })
        .collect();
    (f64::from(n) * step, ticks)
}

/// The smallest round step of `unit` at least `raw`: seconds go 1, 2, 5, 10, 15, 30 s, 1,
/// 2, 5, 10, 15, 30 min, 1 h; bytes 1, 2, 5, 10, ... of a unit of 1024.
fn nice_step(raw: f64, unit: LagUnit) -> f64 {
    const SECONDS: [f64; 13] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ];
    match unit {
        LagUnit::Seconds if raw < 1.0 => round_125(raw).max(0.1),
        LagUnit::Seconds => SECONDS
            .iter()
            .copied()
            .find(|s| *s >= raw)
            .unwrap_or_else(|| round_125(raw / 3600.0) * 3600.0),
        LagUnit::Bytes => {
            let scale = byte_scale(raw).0;
            match round_125(raw / scale).max(1.0) {
                // 2000 kB: 2 MB reads better (and labels in whole MB).
                m if m > 1000.0 && byte_scale(scale * 1024.0).0 > scale => {
                    round_125(m / 1024.0) * scale * 1024.0
                }
                m => m * scale,
            }
        }
        LagUnit::Number => round_125(raw),
    }
}

/// The smallest of 1, 2, 5 times a power of ten at least `x` (1 for nothing to scale).
fn round_125(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * p)
}

/// The largest unit of 1024 (B, kB, MB, GB, TB) not above `bytes`: its size and name.
fn byte_scale(bytes: f64) -> (f64, &'static str) {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut i = 0;
    let mut scale = 1.0;
    while i < UNITS.len() - 1 && bytes >= scale * 1024.0 {
        scale *= 1024.0;
        i += 1;
    }
    (scale, UNITS[i])
}

/// A tick's label: `0`, then the value in the unit of the `step` (`30 s`, `2 min`, `16 MB`).
fn tick_label(v: f64, step: f64, unit: LagUnit) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    match unit {
        LagUnit::Seconds if step % 3600.0 == 0.0 => format!("{} h", v / 3600.0),
        LagUnit::Seconds if step % 60.0 == 0.0 => format!("{} min", v / 60.0),
        LagUnit::Seconds => format!("{v:.decimals$} s"),
        LagUnit::Bytes => {
            let (scale, name) = byte_scale(step);
            format!("{} {name}", v / scale)
        }
        LagUnit::Number => format!("{v:.decimals$}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixture;

    /// The labels of `ticks`.
    fn labels(ticks: &[(f64, String)]) -> Vec<&str> {
        ticks.iter().map(|(_, l)| l.as_str()).collect()
    }

    #[test]
    fn the_y_axis_counts_in_round_steps_of_the_unit() {
        let (top, t) = y_ticks(12.0, LagUnit::Seconds);
        assert_eq!(labels(&t), ["0", "5 s", "10 s", "15 s"]);
        assert_eq!(top, 15.0);
        let (_, t) = y_ticks(0.8, LagUnit::Seconds);
        assert_eq!(labels(&t), ["0", "0.2 s", "0.4 s", "0.6 s", "0.8 s"]);
        let (_, t) = y_ticks(300.0, LagUnit::Seconds);
        assert_eq!(labels(&t), ["0", "2 min", "4 min", "6 min"]);
        let (_, t) = y_ticks(3.0 * 3600.0, LagUnit::Seconds);
        assert_eq!(labels(&t), ["0", "1 h", "2 h", "3 h"]);
        let mb = 1024.0 * 1024.0;
        let (top, t) = y_ticks(64.2 * mb, LagUnit::Bytes);
        assert_eq!(labels(&t), ["0", "20 MB", "40 MB", "60 MB", "80 MB"]);
        assert_eq!(top, 80.0 * mb);
        // Just under a unit of 1024 up: steps of the next unit, not 2000 of this one.
        let (_, t) = y_ticks(4.0 * 1010.0 * 1024.0, LagUnit::Bytes);
        assert_eq!(labels(&t), ["0", "2 MB", "4 MB"]);
        let (_, t) = y_ticks(0.35, LagUnit::Number);
        assert_eq!(labels(&t), ["0", "0.1", "0.2", "0.3", "0.4"]);
        // Nothing above zero still has an axis, and nothing makes it loop forever.
        assert_eq!(y_ticks(0.0, LagUnit::Seconds).1.len(), 2);
        assert_eq!(y_ticks(f64::INFINITY, LagUnit::Number).1.len(), 2);
    }

    /// The `x1` of the line of class `class` in `svg`.
    fn line_x(svg: &str, class: &str) -> f64 {
        let at = svg
            .find(&format!(r#"class="{class}""#))
            .unwrap_or_else(|| panic!("no {class} in {svg}"));
        let line = &svg[svg[..at].rfind("<line").unwrap()..at];
        let x1 = line.split("x1=\"").nth(1).unwrap();
        x1[..x1.find('"').unwrap()].parse().unwrap()
    }

    #[test]
    fn the_lag_chart_has_values_and_marks_where_the_trigger_fired_and_the_rollback_began() {
        let r = fixture::report();
        let svg = lag_chart_fit(&r, Fit::Wide);
        for tick in ["0", "5 s", "10 s", "15 s"] {
            assert!(
                svg.contains(&format!(r#"class="tick end">{tick}</text>"#)),
                "{tick}: {svg}"
            );
        }
        assert!(svg.contains(">trigger lag runaway</text>"), "{svg}");
        assert!(svg.contains(">rollback began</text>"), "{svg}");
        // On the time axis from 0 s to 25 s (the rollback, after the last reading at 20 s),
        // plotted from x 64 to 748.
        let x = |s: f64| 64.0 + s / 25.0 * (748.0 - 64.0);
        assert!(
            (line_x(&svg, "mark trigger") - x(20.0)).abs() < 0.1,
            "{svg}"
        );
        assert!(
            (line_x(&svg, "mark rollback") - x(25.0)).abs() < 0.1,
            "{svg}"
        );
        // The last reading is at 20 s: not at the end of the axis.
        assert!(svg.contains(r#"<circle cx="611.2""#), "{svg}");
        assert!(svg.contains(">02:00:25</text>"), "{svg}");
    }

    #[test]
    fn no_trigger_no_rollback_no_mark() {
        let mut r = fixture::report();
        r.summary.triggers.clear();
        r.rollback_started_at = None;
        let svg = lag_chart(&r);
        assert!(!svg.contains("mark"), "{svg}");
        assert!(svg.contains(">02:00:20</text>"), "{svg}");
    }

    #[test]
    fn each_picture_is_drawn_for_a_screen_and_for_a_phone() {
        let r = fixture::report();
        for svg in [timeline(&r), lag_chart(&r)] {
            assert_eq!(
                svg.matches(r#"<svg class="chart wide""#).count(),
                1,
                "{svg}"
            );
            assert_eq!(
                svg.matches(r#"<svg class="chart narrow""#).count(),
                1,
                "{svg}"
            );
        }
        // The phone's drawing is as wide as a phone shows it: its text is not scaled down.
        for svg in [
            timeline_fit(&r, Fit::Narrow),
            lag_chart_fit(&r, Fit::Narrow),
        ] {
            let vb = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
            let w: f64 = vb.split(' ').next().unwrap().parse().unwrap();
            assert!(w <= 360.0, "{w}: {svg}");
        }
        // On the phone a step's label is above its bars, from the left edge.
        let narrow = timeline_fit(&r, Fit::Narrow);
        crate::has(
            &narrow,
            r#"<text x="0" y="18" class="label start">1 prepare</text>"#,
        );
        // The point of no return is flagged after the switch step's bars.
        assert!(timeline_fit(&r, Fit::Wide).contains("class=\"ponr\">⚑"));
    }
}
