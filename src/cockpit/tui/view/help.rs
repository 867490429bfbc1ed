//! `?`: the key map.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::text::{fit, pad};
use crate::app::App;
use crate::tui::theme::Theme;

/// Every key, with what it does.
pub const KEYS: &[(&str, &str)] = &[
    ("enter", "run the next step · type a confirmation word"),
    ("r", "retry a failed step · re-run an interrupted one"),
    ("s", "skip a failed step (typed reason, journaled)"),
    ("d", "mark an interrupted step done (typed reason)"),
    ("a", "abort the run at a failed/interrupted step"),
    ("x", "cancel the running step (kills its process group)"),
    ("j k ↑ ↓", "select a step: its command and output"),
    ("PgUp PgDn", "scroll the output a page"),
    ("g G", "oldest kept line · newest line (follow on)"),
    ("f", "follow the newest output on/off"),
    ("R", "rollback plan; type ROLLBACK to execute it"),
    ("n", "stop a trigger's automatic rollback countdown"),
    (
        "c v",
        "reconcile now · show the differing keys (v again: output)",
    ),
    ("esc", "clear the status line · close a pop-up"),
    ("?", "this help"),
    ("q ctrl-c", "quit; asks first while a step runs"),
];

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
    let r = centered(area, 64, KEYS.len() as u16 + 3);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.modal_border)
        .title(Span::styled(" KEYS ", t.title))
        .title_bottom(Span::styled(" esc / ? close ", t.muted));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let cols = inner.width as usize;
    let key_w = 11.min(cols / 3);
    let mut lines: Vec<Line> = KEYS
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
