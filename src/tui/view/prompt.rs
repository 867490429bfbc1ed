//! Pop-ups that take typed input or a yes/no: confirmation word, skip / mark-done reason,
//! quit / cancel / abort questions.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use tui_input::Input;

use super::help::centered;
use super::text::{fit, wrap};
use crate::app::App;
use crate::app::modal::{Ask, Modal, ReasonFor};
use crate::tui::theme::Theme;

struct Spec<'a> {
    title: String,
    body: Vec<(String, Style)>,
    input: Option<&'a Input>,
    footer: String,
}

fn step(app: &App, i: usize) -> String {
    app.steps.get(i).map_or(format!("#{}", i + 1), |s| {
        format!("{} {}", i + 1, s.info.id)
    })
}

/// Draws the open pop-up (other than help).
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let Some(modal) = &app.modal else { return };
    let spec = match modal {
        Modal::Help => return,
        Modal::Confirm {
            index,
            word,
            input,
            rejected,
        } => {
            let s = app.steps.get(*index);
            let mut body = vec![(s.map_or(String::new(), |s| s.info.title.clone()), t.modal)];
            if let Some(n) = s.and_then(|s| s.info.notes.clone()) {
                body.push((n, t.muted));
            }
            body.push((format!("Type {word} and press enter to go on."), t.modal));
            if *rejected {
                body.push((
                    format!("That is not {word}: nothing was sent."),
                    t.input_rejected,
                ));
            }
            Spec {
                title: format!(" CONFIRM {} ", step(app, *index)),
                body,
                input: Some(input),
                footer: " enter confirm · esc hide ".into(),
            }
        }
        Modal::Reason {
            index,
            purpose,
            input,
            empty,
        } => {
            let (title, ask) = match purpose {
                ReasonFor::Skip => (
                    "SKIP",
                    "The step did not pass. Why may the run go on without it? The reason is journaled.",
                ),
                ReasonFor::MarkDone => (
                    "MARK DONE",
                    "Nobody knows how this step ended. Why do you consider it done? The reason is journaled.",
                ),
            };
            let mut body = vec![(ask.to_string(), t.modal)];
            if *empty {
                body.push(("A reason is required.".into(), t.input_rejected));
            }
            Spec {
                title: format!(" {title} {} ", step(app, *index)),
                body,
                input: Some(input),
                footer: " enter send · esc back ".into(),
            }
        }
        Modal::Ask(ask) => {
            let j = app.journal();
            let (title, text) = match ask {
                Ask::QuitRunning { index } => (
                    "QUIT?",
                    format!(
                        "Step {} is running. Quitting cancels it: its process group is killed, and the run ends here. Resume later with: cutover run --resume {j}",
                        step(app, *index)
                    ),
                ),
                Ask::Cancel { index } => (
                    "CANCEL STEP?",
                    format!(
                        "Cancel step {}? Its process group is killed; then retry it, skip it, or abort.",
                        step(app, *index)
                    ),
                ),
                Ask::Abort { index } => (
                    "ABORT RUN?",
                    format!(
                        "End the run at step {}? The journal keeps everything; resume later with: cutover run --resume {j}",
                        step(app, *index)
                    ),
                ),
            };
            Spec {
                title: format!(" {title} "),
                body: vec![(text, t.modal)],
                input: None,
                footer: " y yes · n no ".into(),
            }
        }
    };
    draw(f, area, t, spec);
}

fn draw(f: &mut Frame, area: Rect, t: &Theme, spec: Spec) {
    let w = area.width.saturating_sub(4).clamp(20, 72);
    let text_w = w.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (text, style) in &spec.body {
        for l in wrap(text, text_w) {
            lines.push(Line::from(Span::styled(l, *style)));
        }
    }
    let input_row = spec.input.map(|_| {
        lines.push(Line::raw(""));
        lines.len()
    });
    if spec.input.is_some() {
        lines.push(Line::raw(""));
    }
    let max_body = area.height.saturating_sub(2) as usize;
    if lines.len() > max_body {
        // Keep the input row visible: drop body lines from the top.
        let cut = lines.len() - max_body;
        lines.drain(0..cut.min(input_row.unwrap_or(lines.len()).saturating_sub(1)));
        lines.truncate(max_body);
    }
    let input_row = input_row.map(|r| r.min(lines.len().saturating_sub(1)));
    let h = lines.len() as u16 + 2;
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.modal_border)
        .title(Span::styled(fit(&spec.title, text_w), t.title))
        .title_bottom(Span::styled(fit(&spec.footer, text_w), t.muted));
    let inner = block.inner(r).inner(ratatui::layout::Margin {
        horizontal: 1,
        vertical: 0,
    });
    f.render_widget(block, r);
    if let (Some(input), Some(row)) = (spec.input, input_row) {
        let field_w = text_w.saturating_sub(2).max(1);
        let scroll = input.visual_scroll(field_w);
        let shown: String = input.value().chars().skip(scroll).take(field_w).collect();
        let pad = field_w.saturating_sub(shown.chars().count());
        lines[row] = Line::from(vec![
            Span::styled("> ", t.key),
            Span::styled(format!("{shown}{}", " ".repeat(pad)), t.input),
        ]);
        let cx = inner.x + 2 + (input.visual_cursor().saturating_sub(scroll)) as u16;
        let cy = inner.y + row as u16;
        if cy < inner.y + inner.height {
            f.set_cursor_position(Position::new(cx.min(inner.x + inner.width), cy));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}
