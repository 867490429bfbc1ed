//! Status bar: the latest message (or what the run waits for), then the keys that work now,
//! named from the key table ([`keymap`]).

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tui_input::Input;

use super::text::{fit, width};
use crate::app::keymap;
use crate::app::modal::Modal;
use crate::app::{Action, App, Approval, Confirmation, DecisionNeeded, Phase};
use crate::tui::theme::Theme;
use cutover_model::protocol::{ClientRole, DecisionKind, Level};

/// The actions that do something in the current phase, with what each does now; the keys
/// for them come from the key table.
pub fn hints(app: &App) -> Vec<(String, &'static str)> {
    // The rollback first: at 80 columns the bar is cut from the right.
    let tail: &[(Action, &str)] = &[
        (Action::Rollback, "rollback"),
        (Action::Help, "help"),
        (Action::Quit, "quit"),
        (Action::SelectNext, "select"),
        (Action::PageDown, "scroll"),
        (Action::ToggleFollow, "follow"),
    ];
    let mut v: Vec<(Action, &str)> = match &app.phase {
        Phase::Ready { .. } => vec![(Action::Enter, "run next")],
        Phase::PreflightBlocked => vec![(Action::Skip, "start anyway"), (Action::Abort, "end")],
        Phase::Approving(_) => vec![(Action::Approve, "sign off")],
        Phase::Running { .. } => vec![(Action::CancelStep, "cancel step")],
        Phase::Confirming(_) => vec![
            (Action::Enter, "type the word"),
            (Action::CancelStep, "cancel"),
        ],
        Phase::Deciding(DecisionNeeded {
            kind: DecisionKind::Failed,
            ..
        }) => vec![
            (Action::Retry, "retry"),
            (Action::Skip, "skip"),
            (Action::Abort, "abort"),
        ],
        Phase::Deciding(DecisionNeeded {
            kind: DecisionKind::Interrupted,
            ..
        }) => vec![
            (Action::Retry, "re-run"),
            (Action::MarkDone, "mark done"),
            (Action::Abort, "abort"),
        ],
        Phase::Deciding(DecisionNeeded {
            kind: DecisionKind::RollbackFailed | DecisionKind::RollbackInterrupted,
            ..
        }) => vec![
            (Action::Retry, "retry"),
            (Action::Skip, "skip"),
            (Action::Abort, "abort rollback"),
        ],
        _ => vec![],
    };
    if let Phase::Deciding(DecisionNeeded {
        still_running: Some(_),
        ..
    }) = &app.phase
    {
        v.insert(0, (Action::StopInterrupted, "stop old attempt"));
    }
    if app.countdown_active() {
        v.insert(0, (Action::CancelCountdown, "stop auto-rollback"));
    }
    if matches!(app.phase, Phase::Finished(_) | Phase::EngineGone) {
        // Nothing is carried out any more: what is left is reading.
        v = vec![
            (Action::ToggleSummary, "summary"),
            (Action::Quit, "quit"),
            (Action::SelectNext, "select"),
            (Action::PageDown, "scroll"),
            (Action::Help, "help"),
        ];
    } else {
        v.extend_from_slice(tail);
    }
    if app.role == ClientRole::Watch {
        // A watcher is shown only the keys that do something here.
        v.retain(|(a, _)| !App::sends_command(*a));
    }
    v.into_iter()
        .map(|(a, does)| (keymap::bar_keys(a), does))
        .collect()
}

fn default_line(app: &App) -> (String, Level) {
    let id = |i: usize| {
        app.steps
            .get(i)
            .map_or(String::new(), |s| format!("{} {}", i + 1, s.info.id))
    };
    match &app.phase {
        Phase::Starting => ("starting the engine…".into(), Level::Info),
        Phase::Busy => ("…".into(), Level::Info),
        Phase::Ready { next } => {
            let title = app.steps.get(*next).map_or("", |s| s.info.title.as_str());
            let who = if app.role == ClientRole::Watch {
                "the terminal in control runs"
            } else {
                &format!("{} runs", keymap::key_of(Action::Enter))
            };
            (
                format!("ready: {who} step {} — {title}", id(*next)),
                Level::Info,
            )
        }
        Phase::Running { index } => (format!("running step {}", id(*index)), Level::Info),
        Phase::Confirming(Confirmation { index, word }) if app.role == ClientRole::Watch => (
            format!("step {} waits for the operator to type {word}", id(*index)),
            Level::Warn,
        ),
        Phase::Confirming(Confirmation { index, word }) => (
            format!(
                "step {} waits for you to type {word} ({})",
                id(*index),
                keymap::key_of(Action::Enter)
            ),
            Level::Warn,
        ),
        Phase::Approving(Approval { index, .. }) => (
            format!(
                "step {} waits for sign-off by {} ({} signs off)",
                id(*index),
                app.pending_roles().join(", "),
                keymap::key_of(crate::app::action::Action::Approve)
            ),
            Level::Warn,
        ),
        Phase::Deciding(DecisionNeeded { message, .. }) => (message.clone(), Level::Warn),
        Phase::PreflightBlocked => (crate::app::hints::preflight_blocked(), Level::Warn),
        Phase::Finished(_) => (
            format!("the run is over · {} quits", quit_key()),
            Level::Info,
        ),
        Phase::EngineGone => (
            format!("the engine stopped · {} quits", quit_key()),
            Level::Warn,
        ),
    }
}

/// Draws the two status rows.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    if let Some(Modal::Search { input }) = &app.modal {
        // The search box takes the key bar's row, as in `less`.
        render_search(f, area, input, t);
        return;
    }
    let cols = area.width as usize;
    let lines = vec![message_line(app, cols, t), keys_line(app, cols, t)];
    f.render_widget(Paragraph::new(lines), area);
}

/// The message row: the latest message (or what the run waits for) in its level's style; a
/// fired trigger's countdown or rollback instead, in the critical style, until the run ends.
fn message_line<'a>(app: &App, cols: usize, t: &Theme) -> Line<'a> {
    let (text, level) = match &app.status {
        Some(s) => (s.text.clone(), s.level),
        None => default_line(app),
    };
    let mut style = if level == Level::Warn {
        t.status_warn
    } else {
        t.status_info
    };
    // A fired trigger owns the message row until the run ends: it cannot be missed. What
    // happens next comes first, so 80 columns never cut the countdown's seconds.
    let text = match (&app.trigger, &app.phase) {
        (Some(tr), phase) if !matches!(phase, Phase::Finished(_)) => {
            style = t.header_critical;
            let why = format!("trigger {}: {}", tr.name, tr.message);
            match tr.rollback_at {
                _ if app.rolling_back => format!("⚠ ROLLING BACK — {why}"),
                Some(at) => {
                    let left = (at - app.now).num_seconds().max(0);
                    format!(
                        "⚠ ROLLBACK in {left}s — {} stops it · {why} · {} reviews the plan",
                        keymap::key_of(crate::app::action::Action::CancelCountdown),
                        keymap::key_of(crate::app::action::Action::Rollback)
                    )
                }
                None => format!("⚠ {why} — R reviews the rollback plan"),
            }
        }
        _ => text,
    };
    Line::from(Span::styled(fit(&format!(" {text}"), cols), style))
}

/// Draws the search box over both rows: what enter and esc do, then `/` and the needle typed
/// so far (scrolled to keep the cursor in view), with the terminal's cursor in it.
fn render_search(f: &mut Frame, area: Rect, input: &Input, t: &Theme) {
    let cols = area.width as usize;
    let mut lines = vec![Line::from(Span::styled(
        fit(
            &format!(
                " search the output: {} shows the newest match · {} cancels",
                keymap::key_of(Action::Enter),
                keymap::key_of(Action::Escape)
            ),
            cols,
        ),
        t.status_info,
    ))];
    let room = cols.saturating_sub(3).max(1);
    let scroll = input.visual_scroll(room);
    let shown: String = input.value().chars().skip(scroll).take(room).collect();
    lines.push(Line::from(vec![
        Span::styled(" /", t.key),
        Span::styled(shown, t.input),
    ]));
    f.render_widget(Paragraph::new(lines), area);
    let cx = area.x + 2 + input.visual_cursor().saturating_sub(scroll) as u16;
    f.set_cursor_position(Position::new(
        cx.min(area.x + area.width.saturating_sub(1)),
        area.y + 1,
    ));
}

/// The key bar: a watcher's read-only chip, then the keys that work now with what each does,
/// as many as fit.
fn keys_line<'a>(app: &App, cols: usize, t: &Theme) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    if app.role == ClientRole::Watch {
        let chip = "WATCHING (read-only) · ";
        spans.push(Span::styled(chip, t.status_warn));
        used += width(chip);
    }
    for (i, (k, d)) in hints(app).into_iter().enumerate() {
        let sep = if i == 0 { "" } else { " · " };
        let w = width(sep) + width(&k) + 1 + width(d);
        if used + w > cols {
            break;
        }
        used += w;
        spans.push(Span::styled(sep, t.muted));
        spans.push(Span::styled(k, t.key));
        spans.push(Span::styled(format!(" {d}"), t.muted));
    }
    Line::from(spans)
}

/// The key that leaves, as the key table names it.
fn quit_key() -> String {
    keymap::bar_keys(crate::app::action::Action::Quit)
}
