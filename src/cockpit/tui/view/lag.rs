//! Lag pane: the current value, a sparkline of recent readings, staleness. Shows what is not
//! configured rather than a number it does not have.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::{fit, hhmmss, ms, width, wrap};
use crate::app::App;
use crate::app::panels::LagLevel;
use crate::tui::theme::Theme;
use cutover_model::lag::LagUnit;

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Bytes in the largest fitting unit.
pub use cutover_model::narrate::bytes;

/// A sparkline of `values`, at most `width` cells, newest on the right, scaled to the largest
/// of them or `floor` (the warn threshold: 40 B is not a full bar next to an 8 MB warn).
pub fn sparkline(values: &[u64], width: usize, floor: u64) -> String {
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(floor).max(1);
    tail.iter()
        .map(|v| SPARK[((*v as f64 / max as f64) * 7.0).round() as usize])
        .collect()
}

/// A value in the probe's unit, for display.
pub fn show(v: f64, unit: LagUnit) -> String {
    match unit {
        LagUnit::Bytes => bytes(v.max(0.0) as u64),
        LagUnit::Seconds if v < 10.0 => format!("{v:.1}s"),
        LagUnit::Seconds => ms((v * 1000.0) as u64),
        LagUnit::Number => format!("{v}"),
    }
}

/// What is known about the lag besides its value, most important first: whether the probe
/// stopped, the cause (subscription disabled, slot inactive, an error), the rate and ETA, the
/// thresholds.
pub fn facts(app: &App) -> Vec<String> {
    let lag = &app.lag;
    let unit = lag.unit();
    let over = app.ended_at.is_some();
    let rate = if over { None } else { lag.rate(15) };
    let mut facts: Vec<String> = Vec::new();
    if over && let Some(last) = lag.latest() {
        facts.push(format!(
            "probe stopped · last reading {} UTC",
            hhmmss(last.at)
        ));
    }
    if let Some(d) = lag.latest().and_then(|r| r.detail.clone()) {
        facts.push(d);
    }
    match (rate, lag.eta_to_zero()) {
        (Some(r), Some(eta)) => facts.push(format!(
            "catching up {}/s · zero in {}",
            show(-r, unit),
            ms((eta * 1000.0) as u64)
        )),
        (Some(r), None) if r > 0.0 => facts.push(format!("growing {}/s", show(r, unit))),
        _ => {}
    }
    if let Some(i) = &lag.info {
        if let Some(w) = i.warn {
            facts.push(format!("warn {}", show(w, unit)));
        }
        if let Some(c) = i.critical {
            facts.push(format!("critical {}", show(c, unit)));
        }
    }
    facts
}

/// The pane's title: the probed server (its connection name and target) first, then the
/// probe's description; just "LAG" when no probe is described.
fn title(app: &App) -> String {
    // The probed server first: at 80 columns the title is cut from the right.
    match &app.lag.info {
        Some(i) => {
            let target =
                i.on.as_ref()
                    .and_then(|on| {
                        app.run
                            .as_ref()?
                            .connections
                            .get(on)
                            .map(|t| format!("{on} {t} · "))
                    })
                    .unwrap_or_default();
            format!(" LAG  {target}{} ", i.description)
        }
        None => " LAG ".to_string(),
    }
}

/// Draws the lag pane: value, trend and rate, ETA to zero, sparkline, thresholds, staleness.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let lag = &app.lag;
    let inner = t.draw_pane(f, &title(app), area);
    let cols = inner.width as usize;
    let lines = if !lag.configured {
        vec![Line::from(Span::styled(
            fit("no lag source configured", cols),
            t.muted,
        ))]
    } else if let Some(v) = lag.value() {
        reading_lines(app, v, cols, inner.height as usize, t)
    } else if let Some((since, err)) = &lag.stale {
        vec![Line::from(Span::styled(
            fit(
                &format!("no reading since {} UTC: {err}", hhmmss(*since)),
                cols,
            ),
            t.lag_critical,
        ))]
    } else {
        vec![Line::from(Span::styled(
            fit("waiting for the first reading…", cols),
            t.muted,
        ))]
    };
    f.render_widget(Paragraph::new(lines), inner);
}

/// The pane's rows when there is a reading `v`: a staleness warning first when the probe has
/// stopped answering, then the sparkline and value, then the facts wrapped over the rows left.
fn reading_lines<'a>(app: &App, v: f64, cols: usize, height: usize, t: &Theme) -> Vec<Line<'a>> {
    let lag = &app.lag;
    let mut lines: Vec<Line> = Vec::new();
    if let Some((since, err)) = &lag.stale {
        // The number below is the last known one: say so first.
        lines.push(Line::from(Span::styled(
            fit(&format!("STALE since {} UTC: {err}", hhmmss(*since)), cols),
            t.lag_critical,
        )));
    }
    lines.push(value_line(app, v, cols, t));
    // The facts wrap over the rows left, the most important first; `z` shows them all.
    let stale_row = usize::from(lag.stale.is_some());
    let rows_left = height.saturating_sub(1 + stale_row).max(1);
    for r in fact_rows(app, cols, rows_left) {
        lines.push(Line::from(Span::styled(r, t.muted)));
    }
    lines
}

/// The sparkline of recent readings beside the value with its trend arrow, coloured by its
/// level (critical when stale).
fn value_line<'a>(app: &App, v: f64, cols: usize, t: &Theme) -> Line<'a> {
    let lag = &app.lag;
    let unit = lag.unit();
    let style = if lag.stale.is_some() {
        t.lag_critical
    } else {
        match lag.level() {
            LagLevel::Ok => t.lag_ok,
            LagLevel::Warn => t.lag_warn,
            LagLevel::Critical => t.lag_critical,
        }
    };
    // After the run, the last reading stays, marked; no trend is claimed.
    let over = app.ended_at.is_some();
    let rate = if over { None } else { lag.rate(15) };
    let arrow = match rate {
        Some(r) if r < 0.0 => " ↓",
        Some(r) if r > 0.0 => " ↑",
        _ => "",
    };
    let value = format!("{}{arrow}", show(v, unit));
    let vals: Vec<u64> = lag
        .history
        .iter()
        .filter_map(|r| r.value(unit))
        .map(|v| (v.max(0.0) * 1000.0) as u64)
        .collect();
    let floor = lag
        .info
        .as_ref()
        .and_then(|i| i.warn)
        .map_or(0, |w| (w.max(0.0) * 1000.0) as u64);
    let spark = sparkline(&vals, cols.saturating_sub(width(&value) + 2).min(40), floor);
    Line::from(vec![
        Span::styled(spark, t.muted),
        Span::raw("  "),
        Span::styled(value, style),
    ])
}

/// The [`facts`] joined and wrapped to `cols`, at most `rows_left` rows; the last row ends
/// with "…" when some did not fit.
fn fact_rows(app: &App, cols: usize, rows_left: usize) -> Vec<String> {
    let mut rows = wrap(&facts(app).join(" · "), cols);
    if rows.len() > rows_left {
        rows.truncate(rows_left);
        if let Some(last) = rows.last_mut() {
            *last = fit(&format!("{last} …"), cols);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_sparkline() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2 * 1024 * 1024 + 100 * 1024), "2.1 MB");
        assert_eq!(sparkline(&[0, 7, 14], 10, 0), "▁▅█");
        assert_eq!(sparkline(&[1, 2, 3, 4], 2, 0), "▆█");
        // Scaled to the warn threshold when every value is below it.
        assert_eq!(sparkline(&[40, 40], 10, 8 * 1024 * 1024), "▁▁");
        assert_eq!(sparkline(&[4, 8], 10, 8), "▅█");
    }
}
