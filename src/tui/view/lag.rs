//! Lag pane: the current value, a sparkline of recent readings, staleness. Shows what is not
//! configured rather than a number it does not have.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::text::{fit, hhmmss};
use crate::app::App;
use crate::tui::theme::Theme;

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Bytes in the largest fitting unit.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A sparkline of `values`, at most `width` cells, newest on the right.
pub fn sparkline(values: &[u64], width: usize) -> String {
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|v| SPARK[((*v as f64 / max as f64) * 7.0).round() as usize])
        .collect()
}

/// Draws the lag pane.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(" LAG ", t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let cols = inner.width as usize;
    let lag = &app.lag;
    let mut lines: Vec<Line> = Vec::new();
    if !lag.configured {
        lines.push(Line::from(Span::styled(
            fit("no lag source configured", cols),
            t.muted,
        )));
    } else if let Some(r) = lag.latest() {
        let value = match (r.bytes, r.seconds) {
            (Some(b), Some(s)) => format!("{} · {s:.1}s", bytes(b)),
            (Some(b), None) => bytes(b),
            (None, Some(s)) => format!("{s:.1}s"),
            (None, None) => "no value".into(),
        };
        let vals: Vec<u64> = lag.history.iter().filter_map(|r| r.bytes).collect();
        let spark = sparkline(
            &vals,
            cols.saturating_sub(value.chars().count() + 2).min(30),
        );
        let style = if lag.stale.is_some() {
            t.lag_critical
        } else {
            t.lag_ok
        };
        lines.push(Line::from(vec![
            Span::styled(spark, t.muted),
            Span::raw("  "),
            Span::styled(value, style),
        ]));
        if let Some((since, err)) = &lag.stale {
            lines.push(Line::from(Span::styled(
                fit(&format!("stale since {} UTC: {err}", hhmmss(*since)), cols),
                t.lag_critical,
            )));
        }
    } else if let Some((since, err)) = &lag.stale {
        lines.push(Line::from(Span::styled(
            fit(
                &format!("no reading since {} UTC: {err}", hhmmss(*since)),
                cols,
            ),
            t.lag_critical,
        )));
    } else {
        lines.push(Line::from(Span::styled(
            fit(
                "[lag] configured · no reading yet (this build has no lag probe)",
                cols,
            ),
            t.muted,
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_sparkline() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2 * 1024 * 1024 + 100 * 1024), "2.1 MB");
        assert_eq!(sparkline(&[0, 7, 14], 10), "▁▅█");
        assert_eq!(sparkline(&[1, 2, 3, 4], 2), "▆█");
    }
}
