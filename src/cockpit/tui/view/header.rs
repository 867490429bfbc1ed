//! Header: runbook name, window, elapsed, time left, plan ETA, behind/ahead of plan.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::{clock, fit, hhmm, ms, width};
use crate::app::App;
use crate::app::plan::Urgency;
use crate::tui::theme::Theme;

/// Segments ranked below this go before the runbook's name is cut.
const NAME_RANK: u8 = 4;

/// One header segment; lower `rank` is dropped first when the line is too narrow.
struct Seg {
    text: String,
    style: Style,
    rank: u8,
}

/// Draws the header line.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let Some(run) = &app.run else {
        let p = Paragraph::new(fit(" cutover — starting…", area.width as usize)).style(t.muted);
        f.render_widget(p, area);
        return;
    };
    let mut segs = segments(app, run, t);
    let cols = area.width as usize;
    let sep = " ─ ";
    // The name outranks the connections, the ahead figure and the window: while one of those
    // is still on the line, it goes before the name is cut; after them the name may be cut
    // to its first 14 columns before the clocks go.
    let name_min = 14.min(width(&run.name));
    let name_full = width(&run.name).min(cols / 2);
    let total = |segs: &[Seg]| -> usize {
        segs.iter()
            .map(|s| width(&s.text) + width(sep))
            .sum::<usize>()
            + 1
    };
    let need = |segs: &[Seg]| {
        if segs.iter().any(|s| s.rank < NAME_RANK) {
            name_full
        } else {
            name_min
        }
    };
    while !segs.is_empty() && total(&segs) + need(&segs) > cols {
        if let Some(i) = segs
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.rank)
            .map(|(i, _)| i)
        {
            segs.remove(i);
        }
    }
    let name = fit(&run.name, cols.saturating_sub(total(&segs)));
    let mut spans = vec![Span::raw(" "), Span::styled(name, t.header_name)];
    for s in segs {
        spans.push(Span::styled(sep, t.border));
        spans.push(Span::styled(s.text, s.style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(t.header), area);
}

/// The header's segments after the name, each with the rank it is dropped in: the window,
/// the clocks, the plan's ETA, behind/ahead, the connections.
fn segments(app: &App, run: &cutover_model::protocol::RunInfo, t: &Theme) -> Vec<Seg> {
    let p = app.plan();
    let window_style = match p.urgency {
        Urgency::Calm => t.header,
        Urgency::Warn => t.header_warn,
        Urgency::Critical => t.header_critical,
    };
    let mut segs: Vec<Seg> = Vec::new();
    if let Some((start, end)) = p.window {
        segs.push(Seg {
            text: format!("window {}–{} UTC", hhmm(start), hhmm(end)),
            style: t.header,
            rank: 3,
        });
    }
    let elapsed = if p.elapsed_ms >= 0 {
        format!("elapsed {}", clock(p.elapsed_ms as u64))
    } else {
        format!("opens in {}", clock((-p.elapsed_ms) as u64))
    };
    segs.push(Seg {
        text: elapsed,
        style: t.header,
        rank: 4,
    });
    if let Some(rem) = p.remaining_ms {
        let text = if rem >= 0 {
            format!("left {}", clock(rem as u64))
        } else {
            format!("OVER by {}", clock((-rem) as u64))
        };
        segs.push(Seg {
            text,
            style: window_style,
            rank: 6,
        });
    }
    segs.push(Seg {
        text: format!("plan ETA {}", hhmm(p.eta)),
        style: window_style,
        rank: 5,
    });
    if p.behind_ms >= 1000 {
        segs.push(Seg {
            text: format!("+{} behind", ms(p.behind_ms as u64)),
            style: t.header_behind,
            rank: 7,
        });
    } else if p.behind_ms <= -1000 {
        segs.push(Seg {
            text: format!("{} ahead", ms((-p.behind_ms) as u64)),
            style: t.muted,
            rank: 2,
        });
    }
    // Where the run is connected: a wrong target is visible at a glance (first to go when
    // the line is narrow; the lag pane's title names the probed one).
    if !run.connections.is_empty() {
        let text = run
            .connections
            .iter()
            .map(|(name, target)| format!("{name} {target}"))
            .collect::<Vec<_>>()
            .join(" · ");
        segs.push(Seg {
            text,
            style: t.muted,
            rank: 1,
        });
    }
    segs
}
