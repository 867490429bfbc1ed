//! Header: the fleet's id, runbook, phase in words and time since it started; then the count
//! of lanes in each state.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::list::state_style;
use crate::lanes::app::LanesApp;
use crate::tui::theme::Theme;
use crate::tui::view::text::{clock, fit, width};
use cutover_model::fleet::lane::{FleetPhase, FleetView};

/// The phase in words.
pub fn phase_words(v: &FleetView) -> String {
    match v.phase {
        FleetPhase::Canary => "canary".into(),
        FleetPhase::AwaitingGo => "waiting for your go (g)".into(),
        FleetPhase::Running => format!("running, {} at a time", v.concurrency),
        FleetPhase::Halted => format!("HALTED: {}", v.halted.as_deref().unwrap_or("halted")),
        FleetPhase::Finished => "finished".into(),
    }
}

/// Draws the header (its first row; the counts on the second when there is one).
pub fn render(f: &mut Frame, area: Rect, app: &LanesApp, t: &Theme) {
    if area.height == 0 {
        return;
    }
    let cols = area.width as usize;
    let Some(v) = &app.view else {
        let p = Paragraph::new(fit(" cutover fleet — waiting for the fleet…", cols)).style(t.muted);
        f.render_widget(p, area);
        return;
    };
    let phase_style = match v.phase {
        FleetPhase::Halted => t.header_critical,
        FleetPhase::AwaitingGo => t.header_warn,
        _ => t.header,
    };
    let elapsed = (app.now - v.started_at).num_milliseconds().max(0) as u64;
    let segs = [
        (format!("fleet {}", v.id), t.header_name),
        (v.runbook.clone(), t.header),
        (phase_words(v), phase_style),
        (clock(elapsed), t.muted),
    ];
    let mut lines = vec![row(segs.into(), " · ", t, cols)];
    let counts = counts(v, t, cols);
    if area.height >= 2 {
        lines.push(counts);
    }
    f.render_widget(Paragraph::new(lines).style(t.header), area);
}

/// The count of lanes in each state: `✖ 2 failed · ▶ 5 running · ✔ 40 completed`; where that
/// is too wide the glyphs alone separate them, and what still does not fit is cut (the first
/// counts are the ones that matter most).
fn counts(v: &FleetView, t: &Theme, cols: usize) -> Line<'static> {
    let items: Vec<(String, Style)> = v
        .counts()
        .into_iter()
        .map(|(state, n)| {
            let text = format!("{} {n} {}", state.glyph(), state.word());
            (text.trim_start().to_string(), state_style(state, t))
        })
        .collect();
    let wide: usize = items.iter().map(|(s, _)| width(s) + 3).sum();
    let sep = if wide <= cols { " · " } else { " " };
    row(items, sep, t, cols)
}

/// `items` on one row `cols` wide after a space, `sep` (in the border's style) between them:
/// each cut to the room left, and those after the room runs out left out.
fn row(items: Vec<(String, Style)>, sep: &'static str, t: &Theme, cols: usize) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = vec![Span::raw(" ")];
    let mut used = 1;
    for (i, (text, style)) in items.into_iter().enumerate() {
        let sep = if i == 0 { "" } else { sep };
        let room = cols.saturating_sub(used + width(sep));
        if room == 0 {
            break;
        }
        let text = fit(&text, room);
        used += width(sep) + width(&text);
        spans.push(Span::styled(sep, t.border));
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}
