//! `?`: the key map, rendered from the key table ([`keymap`]).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::text::{fit, pad};
use crate::app::App;
use crate::app::keymap;
use crate::tui::theme::Theme;

/// A centred rectangle of at most `w` x `h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Draws the help overlay.
pub fn render(f: &mut Frame, area: Rect, _app: &App, t: &Theme) {
    let keys = keymap::help_rows();
    let r = centered(area, 64, keys.len() as u16 + 3);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.modal_border)
        .title(Span::styled(" KEYS ", t.title))
        .title_bottom(Span::styled(
            format!(
                " {} / {} close ",
                keymap::key_of(crate::app::Action::Escape),
                keymap::key_of(crate::app::Action::Help)
            ),
            t.muted,
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let cols = inner.width as usize;
    let key_w = 11.min(cols / 3);
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(pad(k, key_w), t.key),
                Span::raw(" "),
                Span::styled(fit(d, cols.saturating_sub(key_w + 1)), t.modal),
            ])
        })
        .collect();
    lines.insert(
        0,
        Line::from(Span::styled(
            fit(
                "Steps run in order; a failed step never lets the run move on.",
                cols,
            ),
            t.muted,
        )),
    );
    let rows = inner.height as usize;
    if lines.len() > rows {
        lines.truncate(rows.saturating_sub(1));
        lines.push(Line::from(Span::styled(
            fit("… (enlarge the terminal for the rest)", cols),
            t.muted,
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
