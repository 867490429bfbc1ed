//! The head of the step pane: the command (masked), the state, the point of no return, the
//! notes, the decision asked for, failed checks and the output file. Abridged to fit beside
//! the other panes; unabridged when zoomed (`z`): nothing important is ever only cut off.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::steps::{status_style, timing};
use super::text::{fit, ms, wrap, wrap_indented};
use crate::app::step::{StepStatus, StepView};
use crate::app::{App, Approval, Confirmation, DecisionNeeded, Phase};
use crate::tui::theme::Theme;

/// Lines of `text`, each wrapped to `cols` (all of them when `full`, else the first cut to
/// one row).
fn lines_of(text: &str, cols: usize, full: bool, style: Style) -> Vec<Line<'static>> {
    if full {
        wrap(text, cols)
            .into_iter()
            .map(|l| Line::from(Span::styled(l, style)))
            .collect()
    } else {
        vec![Line::from(Span::styled(fit(text, cols), style))]
    }
}

/// ` · times out in 1:17` for a running step with a `timeout` (`M:SS`, `H:MM:SS` from an hour).
fn times_out(s: &StepView, app: &App) -> String {
    let (Some(limit), Some(ran)) = (s.info.timeout_ms, s.actual_ms(app.clock())) else {
        return String::new();
    };
    let left = limit.saturating_sub(ran).div_ceil(1000);
    let (h, m, sec) = (left / 3600, left / 60 % 60, left % 60);
    if h > 0 {
        format!(" · times out in {h}:{m:02}:{sec:02}")
    } else {
        format!(" · times out in {m}:{sec:02}")
    }
}

/// The step's state in words.
fn state(s: &StepView, app: &App) -> String {
    match &s.status {
        StepStatus::Running => match &app.phase {
            Phase::Confirming(Confirmation { word, .. }) => {
                format!("waiting for the operator to type {word}")
            }
            Phase::Approving(Approval { approved, .. }) => {
                let done: Vec<String> =
                    approved.iter().map(|(r, n)| format!("{r} ✔ {n}")).collect();
                let open = app.pending_roles();
                format!(
                    "waiting for sign-off by {}{}",
                    open.join(", "),
                    if done.is_empty() {
                        String::new()
                    } else {
                        format!(" · signed: {}", done.join(", "))
                    }
                )
            }
            _ => match &s.wait {
                Some(w) => format!("… {w}{}", times_out(s, app)),
                None => format!(
                    "▶ running {}{}{}",
                    timing(s, app),
                    s.pid.map_or(String::new(), |p| format!(" · pid {p}")),
                    times_out(s, app)
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
            if let Some(m) = &s.message {
                if matches!(st, StepStatus::Skipped | StepStatus::MarkedDone) {
                    x = format!("{} {m}", st.glyph());
                } else if !matches!(st, StepStatus::Passed) {
                    x.push_str(&format!(": {m}"));
                }
            }
            x
        }
    }
}

/// The command: `$ ` and its first line, with how many more there are; every line when
/// `full`.
fn command(s: &StepView, cols: usize, full: bool, t: &Theme) -> Vec<Line<'static>> {
    let text = s.info.command.trim_end_matches('\n');
    let mut rows = text.lines();
    let first = rows.next().unwrap_or("");
    let more = rows.clone().count();
    let room = cols.saturating_sub(2);
    if !full {
        let mut v = vec![Line::from(vec![
            Span::styled("$ ", t.muted),
            Span::styled(fit(first, room), t.output_marker),
        ])];
        if more > 0 {
            v.push(Line::from(Span::styled(
                fit(
                    &format!(
                        "  … {more} more lines · {} shows them all",
                        super::text::key(crate::app::action::Action::Zoom)
                    ),
                    cols,
                ),
                t.muted,
            )));
        }
        return v;
    }
    let mut v = Vec::new();
    for (i, row) in text.lines().enumerate() {
        for (j, part) in wrap_indented(row, room, 2).into_iter().enumerate() {
            let lead = if i == 0 && j == 0 { "$ " } else { "  " };
            v.push(Line::from(vec![
                Span::styled(lead, t.muted),
                Span::styled(part, t.output_marker),
            ]));
        }
    }
    v
}

/// The head lines for step `s`, `cols` wide; unabridged when `full`.
pub fn head(s: &StepView, app: &App, cols: usize, full: bool, t: &Theme) -> Vec<Line<'static>> {
    let mut head = command(s, cols, full, t);
    head.extend(lines_of(
        &state(s, app),
        cols,
        full,
        status_style(&s.status, t),
    ));
    // How far a running step is, on a line of its own (a long copy's progress query).
    if let Some(p) = s
        .progress
        .as_ref()
        .filter(|_| s.status == StepStatus::Running)
    {
        head.extend(lines_of(
            &format!("  {}", p.words()),
            cols,
            full,
            status_style(&s.status, t),
        ));
    }
    // In the rollback, its undo action is what ran (or is to run by hand).
    if let Some(undo) = &s.info.rollback
        && matches!(
            s.status,
            StepStatus::RollingBack
                | StepStatus::RolledBack
                | StepStatus::RollbackFailed
                | StepStatus::RollbackSkipped
        )
    {
        head.extend(lines_of(&format!("↺ undo: {undo}"), cols, full, t.muted));
    }
    let upcoming = matches!(s.status, StepStatus::Pending | StepStatus::Running);
    if let Some(p) = &s.info.point_of_no_return
        && (upcoming || full)
    {
        head.extend(lines_of(
            &format!("⚑ point of no return: {p}"),
            cols,
            full,
            t.point_of_no_return,
        ));
    }
    if let Some(n) = &s.info.notes
        && (upcoming || full)
    {
        head.extend(lines_of(&format!("note: {n}"), cols, full, t.muted));
    }
    head.extend(decision(app, cols, full, t));
    head.extend(failed_checks(s, cols, full, t));
    head.extend(output_file(s, cols, full, t));
    head
}

/// The decision the engine asks the operator for about the selected step, in warning style:
/// its first 4 rows, all of them when `full`.
fn decision(app: &App, cols: usize, full: bool, t: &Theme) -> Vec<Line<'static>> {
    let mut v = Vec::new();
    if let Phase::Deciding(DecisionNeeded { index, message, .. }) = &app.phase
        && *index == app.selected
    {
        let rows = wrap(message, cols);
        let keep = if full { rows.len() } else { 4 };
        for l in rows.into_iter().take(keep) {
            v.push(Line::from(Span::styled(l, t.status_warn)));
        }
    }
    v
}

/// The step's failed checks (but the one its message already tells), in failure style: the
/// first 2, each cut to 2 rows ending "… (z)"; all of them in full when `full`.
fn failed_checks(s: &StepView, cols: usize, full: bool, t: &Theme) -> Vec<Line<'static>> {
    let mut v = Vec::new();
    let failed = s
        .checks
        .iter()
        .filter(|c| !c.passed && s.message.as_deref() != Some(c.detail.as_str()));
    for c in failed.take(if full { usize::MAX } else { 2 }) {
        let rows = wrap(&format!("✘ {}: {}", c.name, c.detail), cols);
        let keep = if full { rows.len() } else { 2 };
        let cut = rows.len() > keep;
        for (i, l) in rows.into_iter().take(keep).enumerate() {
            let l = if cut && i + 1 == keep {
                // Cut: `z` shows the rest.
                let mut short = fit(&format!("{l}…"), cols.saturating_sub(4));
                if !short.ends_with('…') {
                    short.push('…');
                }
                format!("{short} (z)")
            } else {
                l
            };
            v.push(Line::from(Span::styled(l, t.step_failed)));
        }
    }
    v
}

/// Where the step's full output is, when zoomed or the step failed: cut from the left to keep
/// the file's name, or wrapped when `full`.
fn output_file(s: &StepView, cols: usize, full: bool, t: &Theme) -> Vec<Line<'static>> {
    let mut v = Vec::new();
    if let Some(file) = &s.output_file
        && (full || matches!(s.status, StepStatus::Failed(_)))
    {
        let text = format!("full output: {file}");
        if full {
            v.extend(lines_of(&text, cols, true, t.muted));
        } else {
            // The file's name is the end of the path: keep it.
            v.push(Line::from(Span::styled(fit_start(&text, cols), t.muted)));
        }
    }
    v
}

/// `s` cut to `max` columns from the left (`…` first), keeping its end.
fn fit_start(s: &str, max: usize) -> String {
    use super::text::width;
    if width(s) <= max {
        return s.to_string();
    }
    let mut out: Vec<char> = Vec::new();
    let mut w = 1;
    for c in s.chars().rev() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out.into_iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::fit_start;

    #[test]
    fn fit_start_keeps_the_end() {
        assert_eq!(fit_start("abc", 5), "abc");
        assert_eq!(
            fit_start("full output: /long/path/01-a.1.log", 12),
            "…/01-a.1.log"
        );
    }
}
