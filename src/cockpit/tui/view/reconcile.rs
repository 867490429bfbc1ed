//! Reconcile pane: one line per configured check and its state.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::text::{fit, pad};
use crate::app::App;
use crate::app::panels::{CheckState, ReconcileCheck};
use crate::tui::theme::Theme;
use cutover_model::narrate::count;
use cutover_model::reconcile;

/// Draws the reconcile pane.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            // After the run the results stay, marked: nothing runs any more.
            if app.ended_at.is_some() {
                " RECONCILE · stopped with the run "
            } else {
                " RECONCILE "
            },
            t.title,
        ));
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
        if checks.len() > rows {
            lines.push(summary_line(checks, cols, t));
        }
        let shown = if checks.len() > rows {
            rows.saturating_sub(1)
        } else {
            rows
        };
        for c in checks.iter().take(shown) {
            lines.push(check_line(c, name_w, cols, t));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The row shown first when the pane is too small for one row per check: how many differ or
/// failed, passed and run, and the key for the details; in the difference style when any
/// differs or failed.
fn summary_line<'a>(checks: &[ReconcileCheck], cols: usize, t: &Theme) -> Line<'a> {
    let count = |f: fn(&CheckState) -> bool| checks.iter().filter(|c| f(&c.state)).count();
    let bad = count(|s| matches!(s, CheckState::Different { .. } | CheckState::Error(_)));
    let ok = count(|s| matches!(s, CheckState::Equal { .. }));
    let run = count(|s| matches!(s, CheckState::Running(_)));
    let text = format!(
        "{} checks: {bad} ✘ · {ok} ✔ · {run} running · {} details",
        checks.len(),
        super::text::key(crate::app::action::Action::ToggleReconcileView)
    );
    let style = if bad > 0 { t.reconcile_diff } else { t.text };
    Line::from(Span::styled(fit(&text, cols), style))
}

/// One check's row: its name padded to `name_w`, then its state in words in its style.
fn check_line<'a>(c: &ReconcileCheck, name_w: usize, cols: usize, t: &Theme) -> Line<'a> {
    let (text, style) = match &c.state {
        CheckState::NotRun => ("not run yet".to_string(), t.muted),
        CheckState::Running(p) => (running(p), t.step_running),
        CheckState::Equal { rows } => (format!("✔ {} equal", count(*rows, "row")), t.reconcile_ok),
        CheckState::Different { rows } => (
            format!("✘ {} differ · v", count(*rows, "row")),
            t.reconcile_diff,
        ),
        CheckState::Error(e) => (format!("✘ error: {e}"), t.reconcile_diff),
    };
    Line::from(vec![
        Span::styled(pad(&c.name, name_w), t.text),
        Span::raw("  "),
        Span::styled(fit(&text, cols.saturating_sub(name_w + 2)), style),
    ])
}

/// A running check's state: a 10-cell bar of the partitions done (none while it waits to
/// recheck), then its progress in words.
fn running(p: &reconcile::Progress) -> String {
    let bar_w = 10usize;
    let filled = if p.partitions_total == 0 {
        0
    } else {
        (p.partitions_done as usize * bar_w / p.partitions_total as usize).min(bar_w)
    };
    let bar = if p.recheck_in_ms.is_some() {
        String::new()
    } else {
        format!("{}{} ", "█".repeat(filled), "░".repeat(bar_w - filled))
    };
    format!("{bar}{}", reconcile::progress_line(p))
}
