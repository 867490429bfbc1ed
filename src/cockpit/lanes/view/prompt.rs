//! The typed confirmation, in the footer: the question naming the members, then what has been
//! typed (`esc` cancels). A wrong number is said on the input row.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::lanes::app::LanesApp;
use crate::lanes::confirm::{Pending, Prompt};
use crate::tui::theme::Theme;
use crate::tui::view::text::{fit, width};

/// Columns kept for the typed text when question and input share one row.
const INPUT_W: usize = 12;

/// Draws the typed confirmation in `area` (two rows: question, input; one: both).
pub fn render(f: &mut Frame, area: Rect, app: &LanesApp, t: &Theme) {
    let Some(p) = &app.prompt else { return };
    if area.height == 0 || area.width == 0 {
        return;
    }
    let cols = area.width as usize;
    let question_style = match p.pending {
        Pending::Rollback(_) => t.header_critical,
        _ => t.header_warn,
    };
    let question = format!(" {}", p.pending.question());
    if area.height >= 2 {
        let q = Line::from(Span::styled(fit(&question, cols), question_style));
        let (input, cursor_x) = input_line(p, cols, t);
        f.render_widget(Paragraph::new(vec![q, input]), area);
        set_cursor(f, area.x + cursor_x, area.y + 1, area);
    } else {
        let q_w = cols.saturating_sub(INPUT_W);
        let q = fit(&question, q_w);
        let used = width(&q);
        let (input, cursor_x) = input_line(p, cols.saturating_sub(used), t);
        let mut spans = vec![Span::styled(q, question_style)];
        spans.extend(input.spans);
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        set_cursor(f, area.x + used as u16 + cursor_x, area.y, area);
    }
}

/// The input row in `cols` columns, and the cursor's column in it.
fn input_line(p: &Prompt, cols: usize, t: &Theme) -> (Line<'static>, u16) {
    let field = cols.saturating_sub(3).clamp(1, 8);
    let scroll = p.input.visual_scroll(field);
    let shown: String = p.input.value().chars().skip(scroll).take(field).collect();
    let cursor = 3 + p.input.visual_cursor().saturating_sub(scroll);
    let mut spans = vec![
        Span::styled(" > ", t.key),
        Span::styled(format!("{shown:<field$}"), t.input),
    ];
    let after = if p.rejected {
        Span::styled(
            format!("  wrong number: type exactly {}", p.pending.count()),
            t.input_rejected,
        )
    } else {
        Span::styled(format!("  {}", crate::lanes::keys::prompt_hint()), t.muted)
    };
    spans.push(after);
    (Line::from(spans), cursor as u16)
}

/// Puts the terminal's cursor at (`x`, `y`) when that is inside `area`.
fn set_cursor(f: &mut Frame, x: u16, y: u16, area: Rect) {
    if x < area.x + area.width && y < area.y + area.height {
        f.set_cursor_position(Position::new(x, y));
    }
}
