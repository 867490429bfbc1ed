//! `v`: the output pane shows every check's latest result and the differing keys, with both
//! sides' values, instead of the selected step's output.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::{fit, key};
use crate::app::App;
use crate::app::action::Action;
use crate::tui::theme::Theme;
use cutover_model::reconcile::{MismatchClass, ReconcileResult, Status, describe, summary};
use cutover_model::shown;

/// Draws the reconcile drill-down in `area`, from `app.reconcile_scroll` lines down; returns
/// its rows and how many lines it has in all (every difference can be scrolled to).
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) -> (usize, usize) {
    let title = format!(
        " RECONCILE DETAIL · {} back to output · {} run checks now ",
        key(Action::ToggleReconcileView),
        key(Action::Reconcile)
    );
    let inner = t.draw_pane(f, &title, area);
    let cols = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    for c in &app.reconcile.checks {
        match app.reconcile.results.get(&c.name) {
            None => lines.push(Line::from(Span::styled(
                fit(
                    &format!("{}: not run yet in this session (c runs it)", c.name),
                    cols,
                ),
                t.muted,
            ))),
            Some(r) => lines.extend(result_lines(r, cols, t)),
        }
    }
    let rows = inner.height as usize;
    let total = lines.len();
    let skip = app.reconcile_scroll.min(total.saturating_sub(rows));
    let mut shown: Vec<Line> = lines.into_iter().skip(skip).take(rows).collect();
    // What is above and below the page, and the keys that reach it.
    let below = total.saturating_sub(skip + rows);
    if below > 0 && rows > 1 {
        shown.truncate(rows - 1);
        let more = cutover_model::narrate::count((below + 1) as u64, "more line");
        shown.push(Line::from(Span::styled(
            fit(&format!("… {more} · {} scroll", scroll_keys()), cols),
            t.muted,
        )));
    }
    if skip > 0
        && rows > 1
        && let Some(first) = shown.first_mut()
    {
        let above = cutover_model::narrate::count((skip + 1) as u64, "line");
        *first = Line::from(Span::styled(
            fit(&format!("… {above} above · {} scroll", scroll_keys()), cols),
            t.muted,
        ));
    }
    f.render_widget(Paragraph::new(shown), inner);
    (rows, total)
}

/// The keys that scroll the detail, as the key table names them (`PgUp/PgDn g/G`).
fn scroll_keys() -> String {
    format!("{} {}", key(Action::PageDown), key(Action::Bottom))
}

/// One check's latest result: its line, failing tables, each listed difference with both
/// sides' values, what was not listed, partitions, the whole-values file and notes.
fn result_lines(r: &ReconcileResult, cols: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let style = match r.status {
        Status::Pass => t.reconcile_ok,
        _ => t.reconcile_diff,
    };
    lines.push(Line::from(Span::styled(fit(&summary(r), cols), style)));
    for table in r.tables.iter().filter(|x| !x.passed()) {
        lines.push(Line::from(Span::styled(
            fit(&format!("  {}", summary(table)), cols),
            t.reconcile_diff,
        )));
    }
    let listed = r.listed();
    for (table, m, keys) in &listed {
        let style = if m.transient { t.muted } else { t.text };
        let table = table.map(|n| format!("{n}: ")).unwrap_or_default();
        lines.push(Line::from(Span::styled(
            fit(&format!("  {table}{}", describe(m, keys)), cols),
            style,
        )));
        for d in m.columns.iter().take(8) {
            // Escaped, quoted where blanks or commas would hide, long ones cut
            // around their first difference.
            // A side without the row says so, not NULL.
            let (a, b) = shown::pair(d.source.as_deref(), d.target.as_deref());
            let (a, b) = match m.class {
                MismatchClass::MissingOnTarget => (a, "(no row)".to_string()),
                MismatchClass::ExtraOnTarget => ("(no row)".to_string(), b),
                MismatchClass::Different => (a, b),
            };
            lines.push(Line::from(Span::styled(
                fit(
                    &format!("      {}: source {a} · target {b}", d.column),
                    cols,
                ),
                t.muted,
            )));
        }
    }
    if r.tables.is_empty() && r.mismatch_total > r.mismatches.len() as u64 {
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "  … {} more not listed",
                    r.mismatch_total - r.mismatches.len() as u64
                ),
                cols,
            ),
            t.muted,
        )));
    }
    for p in std::iter::once(r)
        .chain(r.tables.iter())
        .flat_map(|x| x.partitions.iter())
    {
        lines.push(Line::from(Span::styled(
            fit(&format!("  partition {}", p.describe()), cols),
            t.muted,
        )));
    }
    if let Some(f) = &r.values_file {
        lines.push(Line::from(Span::styled(
            fit(&format!("  whole values: {f}"), cols),
            t.muted,
        )));
    }
    for n in &r.notes {
        lines.push(Line::from(Span::styled(
            fit(&format!("  note: {n}"), cols),
            t.muted,
        )));
    }
    lines
}
