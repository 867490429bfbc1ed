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
use crate::app::keymap;
use crate::app::modal::{Ask, Modal, ReasonFor};
use crate::app::{Action, hints};
use crate::app::{App, Phase};
use crate::tui::theme::Theme;
use cutover_model::protocol::{ROLLBACK_WORD, RollbackPlan};

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
        // The search box is drawn in the status rows.
        Modal::Help | Modal::Search { .. } => return,
        Modal::Confirm {
            index,
            word,
            input,
            rejected,
        } => confirm_spec(app, *index, word, input, *rejected, t),
        Modal::Approve {
            index,
            input,
            rejected,
        } => approve_spec(app, *index, input, rejected.as_deref(), t),
        Modal::Reason {
            index,
            purpose,
            input,
            empty,
        } => reason_spec(app, *index, *purpose, input, *empty, t),
        Modal::Rollback {
            plan,
            input,
            rejected,
        } => rollback_spec(plan.as_ref(), input, *rejected, t),
        Modal::Ask(Ask::Leave) => leave_spec(app, t),
        Modal::Ask(ask) => ask_spec(app, ask, t),
    };
    draw(f, area, t, spec);
}

/// The confirmation pop-up of step `index`: its title and notes, what crossing a point of no
/// return means, and the typed `word` (with a note when the last one did not match).
fn confirm_spec<'a>(
    app: &App,
    index: usize,
    word: &str,
    input: &'a Input,
    rejected: bool,
    t: &Theme,
) -> Spec<'a> {
    let s = app.steps.get(index);
    // A point-of-no-return step asks for its own id before it runs.
    let ponr = s
        .filter(|s| s.info.id == word)
        .and_then(|s| s.info.point_of_no_return.clone());
    let mut body = vec![(s.map_or(String::new(), |s| s.info.title.clone()), t.modal)];
    if let Some(n) = s.and_then(|s| s.info.notes.clone()) {
        body.push((n, t.muted));
    }
    if let Some(text) = &ponr {
        body.push((format!("⚑ After this step: {text}"), t.point_of_no_return));
        body.push((
            "Once it has run, the rollback plan stops here.".into(),
            t.modal,
        ));
        body.push((hints::type_and_enter(word, "run it"), t.modal));
    } else {
        body.push((hints::type_and_enter(word, "go on"), t.modal));
    }
    if rejected {
        body.push((
            format!("That is not {word}: nothing was sent."),
            t.input_rejected,
        ));
    }
    let what = if ponr.is_some() {
        "POINT OF NO RETURN"
    } else {
        "CONFIRM"
    };
    Spec {
        title: format!(" {what} {} ", step(app, index)),
        body,
        input: Some(input),
        footer: hints::enter_esc_footer("confirm", "hide"),
    }
}

/// The sign-off pop-up of step `index`: which role(s) are open, the typed name, and why the
/// last enter was refused.
fn approve_spec<'a>(
    app: &App,
    index: usize,
    input: &'a Input,
    rejected: Option<&str>,
    t: &Theme,
) -> Spec<'a> {
    let pending = app.pending_roles();
    let ask = match pending.as_slice() {
        [only] => format!(
            "Sign off as {only}: type your name. It is journaled with who you are and where from."
        ),
        _ => format!(
            "Type the role you sign off as, then your name (e.g. {} Jane Doe). Open: {}. It is journaled with who you are and where from.",
            pending.first().map_or("role", String::as_str),
            pending.join(", ")
        ),
    };
    let mut body = vec![(ask, t.modal)];
    if let Some(why) = rejected {
        body.push((why.to_string(), t.input_rejected));
    }
    Spec {
        title: format!(" SIGN OFF {} ", step(app, index)),
        body,
        input: Some(input),
        footer: hints::enter_esc_footer("sign off", "back"),
    }
}

/// The typed-reason pop-up (skip, skip a rollback action, mark done, start despite preflight)
/// of step `index`, with a note when the last reason was empty.
fn reason_spec<'a>(
    app: &App,
    index: usize,
    purpose: ReasonFor,
    input: &'a Input,
    empty: bool,
    t: &Theme,
) -> Spec<'a> {
    let (title, ask) = match purpose {
        ReasonFor::Skip => (
            "SKIP",
            "The step did not pass. Why may the run go on without it? The reason is journaled.",
        ),
        ReasonFor::SkipRollback => (
            "SKIP ROLLBACK OF",
            "The rollback action did not pass. Why may the rollback go on without it (what will you do by hand)? The reason is journaled.",
        ),
        ReasonFor::MarkDone => (
            "MARK DONE",
            "Nobody knows how this step ended. Why do you consider it done? The reason is journaled.",
        ),
        ReasonFor::Preflight => (
            "START ANYWAY",
            "Preflight found something that stops the run (see the panel). Why may it start anyway? The reason is journaled.",
        ),
    };
    let mut body = vec![(ask.to_string(), t.modal)];
    if empty {
        body.push(("A reason is required.".into(), t.input_rejected));
    }
    let title = match purpose {
        ReasonFor::Preflight => format!(" {title} "),
        _ => format!(" {title} {} ", step(app, index)),
    };
    Spec {
        title,
        body,
        input: Some(input),
        footer: hints::enter_esc_footer("send", "back"),
    }
}

/// The leave question of a detached run: detach or end it (and what that does to a running
/// step), and how to come back.
fn leave_spec(app: &App, t: &Theme) -> Spec<'static> {
    let what = match &app.phase {
        Phase::Running { index } => format!(
            "Step {} is running. Detach: it runs to its end and the run waits for you; end the run: it is cancelled (its process group killed).",
            step(app, *index)
        ),
        _ => "Detach: the run waits for you as it is; end the run: it stops here (resume later from its journal).".to_string(),
    };
    Spec {
        title: " LEAVE? ".into(),
        body: vec![(
            format!("{what} Come back with: cutover attach {}", app.run_id()),
            t.modal,
        )],
        input: None,
        footer: crate::app::hints::leave_footer(),
    }
}

/// A yes/no question (quit, cancel, stop an earlier attempt, end before start, abort): its
/// title, what answering yes does, and the yes/no footer.
fn ask_spec(app: &App, ask: &Ask, t: &Theme) -> Spec<'static> {
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
        Ask::StopInterrupted { index, pid } => (
            "STOP THE EARLIER ATTEMPT?",
            format!(
                "Step {} left process group {pid} running when the last session ended. Stop it (SIGTERM, then SIGKILL)? Then re-run the step, or mark it done.",
                step(app, *index)
            ),
        ),
        Ask::Leave => ("LEAVE?", String::new()),
        Ask::EndBeforeStart => (
            "END THE RUN?",
            "End the run before step 1? No step ran. Fix what preflight found and start a new run."
                .to_string(),
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
        footer: crate::app::hints::yes_no_footer(),
    }
}

/// The rollback plan pop-up: every action in execution order, the point of no return, and the
/// typed confirmation.
fn rollback_spec<'a>(
    plan: Option<&RollbackPlan>,
    input: &'a Input,
    rejected: bool,
    t: &Theme,
) -> Spec<'a> {
    let Some(plan) = plan else {
        return Spec {
            title: " ROLLBACK PLAN ".into(),
            body: vec![("asking the engine for the plan…".into(), t.muted)],
            input: None,
            footer: hints::esc_footer("close"),
        };
    };
    let mut body = Vec::new();
    if let Some(p) = &plan.point_of_no_return {
        body.push((
            format!(
                "⚑ Point of no return crossed at {} (step {} {}): {}",
                p.at.format("%H:%M:%S UTC"),
                p.index + 1,
                p.id,
                p.text
            ),
            t.point_of_no_return,
        ));
        body.push((
            "Steps up to it cannot be rolled back from here.".into(),
            t.modal,
        ));
    }
    if plan.entries.is_empty() {
        body.push(("Nothing to roll back.".into(), t.modal));
    } else {
        body.push(("In this order:".into(), t.modal));
    }
    for e in &plan.entries {
        let (what, style) = match &e.action {
            Some(a) => (a.clone(), t.modal),
            None => ("— no rollback action: undo by hand".into(), t.muted),
        };
        body.push((
            format!("↺ {} {} ({}): {what}", e.index + 1, e.id, e.state),
            style,
        ));
    }
    if !plan.has_actions() {
        return Spec {
            title: " ROLLBACK PLAN ".into(),
            body,
            input: None,
            footer: format!(
                " {}/{} close ",
                keymap::key_of(Action::Enter),
                keymap::key_of(Action::Escape)
            ),
        };
    }
    body.push((
        hints::type_and_enter(ROLLBACK_WORD, "execute the plan"),
        t.modal,
    ));
    if rejected {
        body.push((
            format!("That is not {ROLLBACK_WORD}: nothing was sent."),
            t.input_rejected,
        ));
    }
    Spec {
        title: " ROLLBACK PLAN ".into(),
        body,
        input: Some(input),
        footer: hints::enter_esc_footer("execute", "cancel"),
    }
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
    // Clear a few columns either side too, so pane text never peeks through beside the border.
    let x = r.x.saturating_sub(3).max(area.x);
    let right = (r.x + r.width + 3).min(area.x + area.width);
    let margin = Rect {
        x,
        width: right - x,
        ..r
    };
    f.render_widget(Clear, margin);
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
