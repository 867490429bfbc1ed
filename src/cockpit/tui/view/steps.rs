//! Steps list: state glyph, number, id, actual vs planned time (live for the running step),
//! point-of-no-return marker.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::{clock, fit, ms, pad, width};
use crate::app::App;
use crate::app::step::{StepStatus, StepView};
use crate::tui::theme::Theme;

/// The style of a step's glyph and id.
pub fn status_style(s: &StepStatus, t: &Theme) -> Style {
    match s {
        StepStatus::Pending => t.step_pending,
        StepStatus::Running => t.step_running,
        StepStatus::Passed => t.step_passed,
        StepStatus::Failed(_) => t.step_failed,
        StepStatus::Skipped | StepStatus::MarkedDone => t.step_skipped,
        StepStatus::Interrupted => t.step_interrupted,
        StepStatus::RollingBack => t.step_running,
        StepStatus::RolledBack => t.step_skipped,
        StepStatus::RollbackSkipped => t.step_interrupted,
        StepStatus::RollbackFailed => t.step_failed,
    }
}

/// `actual / planned` as shown in the list.
pub fn timing(s: &StepView, app: &App) -> String {
    let planned = s.info.expected_ms.map_or("—".to_string(), ms);
    let actual = match (&s.status, s.actual_ms(app.clock())) {
        (StepStatus::Running | StepStatus::RollingBack, Some(a)) => clock(a),
        (StepStatus::Pending, _) => "—".to_string(),
        (_, Some(a)) => ms(a),
        (_, None) => "—".to_string(),
    };
    format!("{actual} / {planned}")
}

/// Draws the steps pane.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let (done, all, undone) = app.progress();
    let title = if undone > 0 {
        format!(" STEPS {done}/{all} · {undone} undone ")
    } else {
        format!(" STEPS {done}/{all} ")
    };
    let inner = t.draw_pane(f, &title, area);
    let rows = inner.height as usize;
    let cols = inner.width as usize;
    if rows == 0 || cols == 0 {
        return;
    }
    // Keep the selected step in view.
    let first = app
        .selected
        .saturating_sub(rows.saturating_sub(1))
        .min(app.steps.len().saturating_sub(rows));
    let num_w = app.steps.len().to_string().len();
    let lines: Vec<Line> = app
        .steps
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, s)| {
            let pending_ponr = s.info.point_of_no_return.is_some()
                && matches!(s.status, StepStatus::Pending | StepStatus::Running);
            let glyph = if pending_ponr && s.status == StepStatus::Pending {
                "⚑"
            } else {
                s.status.glyph()
            };
            let glyph_style = if glyph == "⚑" {
                t.point_of_no_return
            } else {
                status_style(&s.status, t)
            };
            let time = timing(s, app);
            let time_style = if s.over_plan(app.clock()) {
                t.over_plan
            } else if s.status == StepStatus::Pending {
                t.muted
            } else {
                t.text
            };
            let lead = format!("{glyph} {:>num_w$} ", i + 1);
            let time_w = width(&time).min(cols.saturating_sub(width(&lead) + 4));
            let id_w = cols.saturating_sub(width(&lead) + time_w + 1);
            let mut spans = vec![
                Span::styled(format!("{glyph} "), glyph_style),
                Span::styled(format!("{:>num_w$} ", i + 1), t.muted),
                Span::styled(pad(&s.info.id, id_w), status_style(&s.status, t)),
                Span::raw(" "),
                Span::styled(fit(&time, time_w), time_style),
            ];
            if i == app.selected {
                for sp in &mut spans {
                    sp.style = sp.style.patch(t.selected);
                }
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
