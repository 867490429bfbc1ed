//! The preflight panel: what preflight found before step 1, in the step pane's place until
//! step 1 starts. Failures first, then warnings, then what passed, each finding wrapped; when
//! they do not all fit, the last row says how many more (`z` gives the panel the screen, and
//! the journal has every finding).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::wrap_indented;
use crate::app::{App, Phase};
use crate::tui::theme::Theme;
use cutover_model::narrate;
use cutover_model::preflight::Verdict;

/// Draws the panel in `area`.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let title = if app.phase == Phase::PreflightBlocked {
        use crate::app::{action::Action, keymap::key_of};
        format!(
            " PREFLIGHT · the run waits: {} start anyway (reason) · {} end ",
            key_of(Action::Skip),
            key_of(Action::Abort)
        )
    } else {
        " PREFLIGHT ".to_string()
    };
    let inner = t.draw_pane(f, &title, area);
    let cols = inner.width as usize;
    let failed = app.preflight.iter().any(|x| x.verdict == Verdict::Fail);
    let head_style = if failed { t.status_warn } else { t.status_info };
    let mut lines = vec![Line::from(Span::styled(
        narrate::preflight(&app.preflight),
        head_style,
    ))];
    for verdict in [Verdict::Fail, Verdict::Warn, Verdict::Pass] {
        let style = match verdict {
            Verdict::Fail => t.step_failed,
            Verdict::Warn => t.lag_warn,
            Verdict::Pass => t.step_passed,
        };
        for finding in app.preflight.iter().filter(|x| x.verdict == verdict) {
            for l in wrap_indented(&finding.line(), cols, 2) {
                lines.push(Line::from(Span::styled(l, style)));
            }
        }
    }
    let rows = inner.height as usize;
    if lines.len() > rows && rows > 0 {
        let more = lines.len() - (rows - 1);
        lines.truncate(rows - 1);
        lines.push(Line::from(Span::styled(
            format!("… {more} more lines: z shows more; the journal has every finding"),
            t.muted,
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
