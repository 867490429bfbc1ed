//! `?`: the key table ([`KEYS`]) in a box over the lanes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::lanes::app::{LanesApp, READ_ONLY};
use crate::lanes::keys::KEYS;
use crate::tui::theme::Theme;
use crate::tui::view::help::centered;
use crate::tui::view::text::{fit, pad};
use cutover_model::protocol::ClientRole;

/// Draws the help overlay.
pub fn render(f: &mut Frame, area: Rect, app: &LanesApp, t: &Theme) {
    let r = centered(area, 76, KEYS.len() as u16 + 4);
    if r.width < 3 || r.height < 3 {
        return;
    }
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.modal_border)
        .title(Span::styled(" KEYS ", t.title))
        .title_bottom(Span::styled(crate::lanes::keys::close_help_hint(), t.muted));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let cols = inner.width as usize;
    let key_w = 10.min(cols / 3);
    let note = match app.role {
        ClientRole::Control => "n, R and g ask you to type the number of members first.",
        ClientRole::Watch => READ_ONLY,
    };
    let mut lines = vec![Line::from(Span::styled(fit(note, cols), t.muted))];
    lines.extend(KEYS.iter().map(|(k, what)| {
        Line::from(vec![
            Span::styled(pad(k, key_w), t.key),
            Span::raw(" "),
            Span::styled(fit(what, cols.saturating_sub(key_w + 1)), t.modal),
        ])
    }));
    f.render_widget(Paragraph::new(lines), inner);
}
