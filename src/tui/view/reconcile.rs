//! Reconcile pane: one line per configured check and its state.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::text::{fit, pad};
use crate::app::App;
use crate::app::panels::CheckState;
use crate::tui::theme::Theme;

/// Draws the reconcile pane.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(" RECONCILE ", t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let cols = inner.width as usize;
    let rows = inner.height as usize;
    let checks = &app.reconcile.checks;
    let mut lines: Vec<Line> = Vec::new();
    if checks.is_empty() {
        lines.push(Line::from(Span::styled(
            fit("no checks configured", cols),
            t.muted,
        )));
    } else {
        let name_w = checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(cols / 2);
        let shown = if checks.len() > rows {
            rows.saturating_sub(1)
        } else {
            rows
        };
        for c in checks.iter().take(shown) {
            let (text, style) = match &c.state {
                CheckState::NotRun => ("not run yet".to_string(), t.muted),
                CheckState::Running { done, total } => {
                    (format!("{done}/{total} parts"), t.step_running)
                }
                CheckState::Equal { rows } => (format!("✔ {rows} rows equal"), t.reconcile_ok),
                CheckState::Different { rows } => {
                    (format!("✘ {rows} rows differ"), t.reconcile_diff)
                }
                CheckState::Error(e) => (format!("✘ error: {e}"), t.reconcile_diff),
            };
            lines.push(Line::from(vec![
                Span::styled(pad(&c.name, name_w), t.text),
                Span::raw("  "),
                Span::styled(fit(&text, cols.saturating_sub(name_w + 2)), style),
            ]));
        }
        if checks.len() > shown {
            lines.push(Line::from(Span::styled(
                fit(&format!("… {} more", checks.len() - shown), cols),
                t.muted,
            )));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}
