//! Footer: the status message when there is one, else the key hints from the key table
//! ([`KEYS`]), as many as fit (`? help` always).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::lanes::app::LanesApp;
use crate::lanes::keys::{CONTROL_ONLY, KEYS, hint_word};
use crate::tui::theme::Theme;
use crate::tui::view::text::{fit, width};
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
    f.render_widget(Paragraph::new(hints(app.role, cols, t)), area);
}

/// The key hints that fit in `cols` columns: in the table's order, `? help` kept last; a
/// watching terminal is not offered the keys that send commands.
pub fn hints(role: ClientRole, cols: usize, t: &Theme) -> Line<'static> {
    let all: Vec<(&str, &str)> = KEYS
        .iter()
        .filter(|(k, _)| role == ClientRole::Control || !CONTROL_ONLY.contains(k))
        .map(|(k, _)| (*k, hint_word(k)))
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
