//! Step detail and output: the command (masked), state, checks, then the kept tail of
//! stdout/stderr, scrollable, following the newest line unless scrolled.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::steps::{status_style, timing};
use super::text::{clean, clock, fit, ms, wrap};
use crate::app::step::StepStatus;
use crate::app::{App, Phase};
use crate::tui::theme::Theme;
use cutover_model::protocol::Stream;

/// Draws the detail/output pane for the selected step; returns how many rows it gave to the
/// output (below the detail), or `None` when there is no step to show.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) -> Option<usize> {
    let cols = area.width.saturating_sub(2) as usize;
    let Some(s) = app.steps.get(app.selected) else {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border)
            .title(Span::styled(" OUTPUT ", t.title));
        f.render_widget(block, area);
        return None;
    };
    let mut title = format!(" {} {} · {}", app.selected + 1, s.info.id, s.info.kind);
    if s.attempt > 1 {
        title.push_str(&format!(" · attempt {}", s.attempt));
    }
    if !s.output.is_empty() {
        if app.view.follow {
            title.push_str(" · follow");
        } else {
            title.push_str(&format!(" · scrolled ↑{}", app.view.scroll));
        }
    }
    title.push(' ');
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(fit(&title, cols), t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = inner.height as usize;
    if rows == 0 || cols == 0 {
        return Some(0);
    }

    let mut head: Vec<Line> = Vec::new();
    head.push(Line::from(vec![
        Span::styled("$ ", t.muted),
        Span::styled(
            fit(&s.info.command, cols.saturating_sub(2)),
            t.output_marker,
        ),
    ]));
    let state = match &s.status {
        StepStatus::Running => match &app.phase {
            Phase::Confirming { word, .. } => format!("waiting for the operator to type {word}"),
            _ => match &s.wait {
                Some(w) => format!("… {w}"),
                None => format!(
                    "▶ running {}{}",
                    timing(s, app),
                    s.pid.map_or(String::new(), |p| format!(" · pid {p}"))
                ),
            },
        },
        StepStatus::Pending => match s.info.expected_ms {
            Some(e) => format!("not run yet · planned {}", ms(e)),
            None => "not run yet".to_string(),
        },
        st @ StepStatus::Failed(_) => format!(
            "✘ {} after {}{}",
            st.word(),
            s.duration_ms.map_or("—".into(), ms),
            s.message
                .as_ref()
                .map_or(String::new(), |m| format!(": {m}"))
        ),
        st => {
            let mut x = format!("{} {}", st.glyph(), st.word());
            if s.duration_ms.is_some() {
                x.push_str(&format!(" in {}", timing(s, app)));
            }
            if let Some(m) = &s.message
                && matches!(st, StepStatus::Skipped | StepStatus::MarkedDone)
            {
                x = format!("{} {m}", st.glyph());
            }
            x
        }
    };
    head.push(Line::from(Span::styled(
        fit(&state, cols),
        status_style(&s.status, t),
    )));
    if let Some(p) = &s.info.point_of_no_return
        && matches!(s.status, StepStatus::Pending | StepStatus::Running)
    {
        head.push(Line::from(Span::styled(
            fit(&format!("⚑ point of no return: {p}"), cols),
            t.point_of_no_return,
        )));
    }
    if let Some(n) = &s.info.notes
        && matches!(s.status, StepStatus::Pending | StepStatus::Running)
    {
        head.push(Line::from(Span::styled(
            fit(&format!("note: {n}"), cols),
            t.muted,
        )));
    }
    if let Phase::Deciding { index, message, .. } = &app.phase
        && *index == app.selected
    {
        for l in wrap(message, cols).into_iter().take(4) {
            head.push(Line::from(Span::styled(l, t.status_warn)));
        }
    }
    for c in s
        .checks
        .iter()
        .filter(|c| !c.passed && s.message.as_deref() != Some(c.detail.as_str()))
        .take(2)
    {
        head.push(Line::from(Span::styled(
            fit(&format!("✘ {}: {}", c.name, c.detail), cols),
            t.step_failed,
        )));
    }
    if matches!(s.status, StepStatus::Failed(_))
        && let Some(file) = &s.output_file
    {
        head.push(Line::from(Span::styled(
            fit(&format!("full output: {file}"), cols),
            t.muted,
        )));
    }
    // Leave at least half the pane (and 3 rows) for output.
    let head_max = rows.saturating_sub((rows / 2).max(3)).max(1);
    head.truncate(head_max);
    let out_rows = rows - head.len();
    let scroll = app.view.scroll.min(s.output.max_scroll(out_rows));
    let mut lines = head;
    if s.output.dropped() > 0 && scroll == s.output.max_scroll(out_rows) && out_rows > 0 {
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "({} earlier lines not kept here; see the step's output file)",
                    s.output.dropped()
                ),
                cols,
            ),
            t.output_marker,
        )));
    }
    let room = rows.saturating_sub(lines.len());
    let take = room.min(out_rows);
    let skip_extra = out_rows - take;
    let window: Vec<_> = s.output.window(out_rows, scroll).collect();
    for (stream, text) in window.into_iter().skip(skip_extra) {
        let style = match stream {
            Stream::Stdout if text.starts_with("── attempt ") => t.output_marker,
            Stream::Stdout => t.output,
            Stream::Stderr => t.output_stderr,
        };
        lines.push(Line::from(Span::styled(fit(&clean(text), cols), style)));
    }
    if s.output.is_empty() && s.status == StepStatus::Running && rows > lines.len() {
        let since = s.actual_ms(app.clock()).map_or(String::new(), clock);
        lines.push(Line::from(Span::styled(
            format!("(no output yet {since})"),
            t.muted,
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
    Some(out_rows)
}
