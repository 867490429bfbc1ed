//! Footer: the status message when there is one, else the key hints from the key table
//! ([`KEYS`]), the keys that act first, as many as fit (`? help` always).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::lanes::app::LanesApp;
use crate::lanes::keys::{CONTROL_ONLY, KEYS, hint_word};
use crate::tui::theme::Theme;
use crate::tui::view::text::{fit, width};
use cutover_model::fleet::lane::FleetPhase;
use cutover_model::protocol::ClientRole;

/// Draws the footer.
pub fn render(f: &mut Frame, area: Rect, app: &LanesApp, t: &Theme) {
    if area.height == 0 {
        return;
    }
    let cols = area.width as usize;
    if let Some(status) = &app.status {
        let p = Paragraph::new(fit(&format!(" {status}"), cols)).style(t.status_warn);
        f.render_widget(p, area);
        return;
    }
    let go = app
        .view
        .as_ref()
        .is_some_and(|v| v.phase == FleetPhase::AwaitingGo);
    f.render_widget(Paragraph::new(hints(app.role, go, cols, t)), area);
}

/// The footer's order: the keys that act first, then moving about.
const ORDER: &[&str] = &[
    "enter",
    "n",
    "R",
    "g",
    "space",
    "a",
    "↑/k ↓/j",
    "PgUp/PgDn",
    "Home/End",
    "q",
];

/// The key hints that fit in `cols` columns, `? help` kept last; a watching terminal is not
/// offered the keys that send commands, nor is `g` offered unless the fleet waits for a go
/// (`go`).
pub fn hints(role: ClientRole, go: bool, cols: usize, t: &Theme) -> Line<'static> {
    let all: Vec<(&str, &str)> = ORDER
        .iter()
        .filter(|k| KEYS.iter().any(|(key, _)| key == *k))
        .filter(|k| role == ClientRole::Control || !CONTROL_ONLY.contains(k))
        .filter(|k| go || **k != "g")
        .map(|k| (*k, hint_word(k)))
        .collect();
    let help_w = width(" ? help");
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (k, word) in all.iter().filter(|(k, _)| *k != "?") {
        let sep = if used == 1 { "" } else { " · " };
        let w = width(sep) + width(k) + 1 + width(word);
        if used + w + width(" · ") + help_w > cols {
            break;
        }
        used += w;
        spans.push(Span::styled(sep, t.muted));
        spans.push(Span::styled(k.to_string(), t.key));
        spans.push(Span::styled(format!(" {word}"), t.muted));
    }
    if used > 1 {
        spans.push(Span::styled(" · ", t.muted));
    }
    if used + help_w <= cols + 1 {
        spans.push(Span::styled("?", t.key));
        spans.push(Span::styled(" help", t.muted));
    }
    Line::from(spans)
}
