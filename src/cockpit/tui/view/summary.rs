//! The end of the run: its summary in place of the output (shown by itself when the run is
//! over; `S` toggles it). The same lines are printed on the normal terminal after leaving.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::wrap_indented;
use crate::app::keymap::key_of;
use crate::app::{Action, App};
use crate::tui::theme::Theme;
use cutover_model::summary::text;

/// Draws the summary in `area`.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let title = format!(
        " SUMMARY · {}/{} scroll · {}: a step's output ",
        key_of(Action::PageUp),
        key_of(Action::PageDown),
        key_of(Action::ToggleSummary)
    );
    let inner = t.draw_pane(f, &title, area);
    let cols = inner.width as usize;
    let mut all = text::lines(&app.summary);
    if let Some(hint) = text::resume_hint(&app.summary) {
        all.push(hint);
    }
    let lines: Vec<Line> = all
        .iter()
        .flat_map(|l| {
            let style = if !l.starts_with(' ') {
                t.title
            } else {
                match l.trim_start().chars().next() {
                    Some('✔') => t.step_passed,
                    Some('✘') => t.step_failed,
                    Some('?' | '⊘') => t.step_interrupted,
                    Some('↷' | '☑') => t.step_skipped,
                    _ => t.text,
                }
            };
            // Nothing is cut off: a long line (a typed reason) wraps.
            wrap_indented(l, cols, 6)
                .into_iter()
                .map(move |w| Line::from(Span::styled(w, style)))
        })
        .collect();
    let rows = inner.height as usize;
    let skip = app.summary_scroll.min(lines.len().saturating_sub(rows));
    let shown: Vec<Line> = lines.into_iter().skip(skip).collect();
    f.render_widget(Paragraph::new(shown), inner);
}
