//! The step pane: the selected step's head ([`detail`](super::detail)), then the kept tail of
//! its stdout/stderr, scrollable, following the newest line unless scrolled. Search matches
//! are marked, and each line can show its arrival time.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::detail;
use super::lag;
use super::text::{clean, clock, fit, hhmmss, width};
use crate::app::App;
use crate::app::output::{Shown, matcher};
use crate::app::step::{StepStatus, StepView};
use crate::tui::theme::Theme;
use cutover_model::protocol::Stream;

/// Draws the detail/output pane for the selected step; returns how many rows it gave to the
/// output (below the detail), or `None` when there is no step to show.
pub fn render(f: &mut Frame, area: Rect, app: &App, t: &Theme) -> Option<usize> {
    let cols = area.width.saturating_sub(2) as usize;
    let Some(s) = app.steps.get(app.selected) else {
        let block = t.pane(" OUTPUT ", area.width);
        f.render_widget(block, area);
        return None;
    };
    let inner = t.draw_pane(f, &title(s, app), area);
    let rows = inner.height as usize;
    if rows == 0 || cols == 0 {
        return Some(0);
    }

    let head = head_lines(s, app, cols, rows, t);
    let out_rows = rows - head.len();
    let scroll = app.view.scroll.min(s.output.max_scroll(out_rows));
    let mut lines = head;
    if s.output.dropped() > 0 && scroll == s.output.max_scroll(out_rows) && out_rows > 0 {
        lines.push(dropped_line(s, cols, t));
    }
    let room = rows.saturating_sub(lines.len());
    let take = room.min(out_rows);
    let window: Vec<Shown<'_>> = s.output.shown(out_rows, scroll).collect();
    // Under the dropped-lines marker (at the top), the oldest kept line shows first and the
    // window's newest gives way; elsewhere the newest stay.
    let from = if take < out_rows && scroll == s.output.max_scroll(out_rows) {
        0
    } else {
        out_rows - take
    };
    for l in window.into_iter().skip(from).take(take) {
        lines.push(output_line(&l, app, cols, t));
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

/// The pane's title: the step's number, id and kind, then its attempt, zoom, search and
/// whether the output follows the newest line or is scrolled.
fn title(s: &StepView, app: &App) -> String {
    let mut title = format!(" {} {} · {}", app.selected + 1, s.info.id, s.info.kind);
    if s.attempt > 1 {
        title.push_str(&format!(" · attempt {}", s.attempt));
    }
    if app.zoom {
        title.push_str(" · zoomed");
    }
    if let Some(search) = &app.search {
        title.push_str(&format!(" · /{}", search.needle));
    }
    if !s.output.is_empty() {
        if app.view.follow {
            title.push_str(" · follow");
        } else {
            title.push_str(&format!(" · scrolled ↑{}", app.view.scroll));
        }
    }
    title.push(' ');
    title
}

/// The step's head above its output (with the lag in full when zoomed), cut to leave room for
/// the output; a cut head ends with a row saying how to see the rest.
fn head_lines(s: &StepView, app: &App, cols: usize, rows: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut head = detail::head(s, app, cols, app.zoom, t);
    if app.zoom && app.lag.configured {
        head.extend(zoomed_lag(app, cols, t));
    }
    // Beside the other panes at least half the pane (and 3 rows) is left for output; zoomed,
    // the head may take all but 3 rows (all of them when there is no output).
    let keep_for_output = match (app.zoom, s.output.is_empty()) {
        (true, true) => 0,
        (true, false) => 3,
        (false, _) => (rows / 2).max(3),
    };
    let head_max = rows.saturating_sub(keep_for_output).max(1);
    if head.len() > head_max {
        head.truncate(head_max);
        let more = if app.zoom {
            "… (more than this terminal shows)"
        } else {
            "… (z shows the rest)"
        };
        if let Some(last) = head.last_mut() {
            *last = Line::from(Span::styled(fit(more, cols), t.muted));
        }
    }
    head
}

/// The lag's facts in full, staleness first, wrapped to `cols` after "lag:": their cause is
/// cut off in the narrow lag pane. No rows when there is nothing to say.
fn zoomed_lag(app: &App, cols: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut facts = lag::facts(app);
    if let Some((since, err)) = &app.lag.stale {
        facts.insert(0, format!("STALE since {} UTC: {err}", hhmmss(*since)));
    }
    if facts.is_empty() {
        return Vec::new();
    }
    super::text::wrap(&format!("lag: {}", facts.join(" · ")), cols)
        .into_iter()
        .map(|l| Line::from(Span::styled(l, t.muted)))
        .collect()
}

/// The marker row above the oldest kept line saying how many earlier lines were dropped.
fn dropped_line(s: &StepView, cols: usize, t: &Theme) -> Line<'static> {
    Line::from(Span::styled(
        fit(
            &format!(
                "({} earlier lines not kept here; see the step's output file)",
                s.output.dropped()
            ),
            cols,
        ),
        t.output_marker,
    ))
}

/// One output line: its time when shown, its text with search matches marked.
fn output_line<'a>(l: &Shown<'_>, app: &App, cols: usize, t: &Theme) -> Line<'a> {
    let style = match l.stream {
        Stream::Stdout if l.text.starts_with("── ") => t.output_marker,
        Stream::Stdout => t.output,
        Stream::Stderr => t.output_stderr,
    };
    let mut spans = Vec::new();
    let mut room = cols;
    if app.times {
        let stamp =
            l.at.map_or("--:--:-- ".to_string(), |at| format!("{} ", hhmmss(at)));
        room = room.saturating_sub(width(&stamp));
        spans.push(Span::styled(stamp, t.muted));
    }
    let text = fit(&clean(l.text), room);
    match &app.search {
        Some(search) if matcher(&search.needle)(&text) => {
            let current = search.current == Some(l.number);
            let hit = if current {
                t.selected.add_modifier(ratatui::style::Modifier::BOLD)
            } else {
                t.selected
            };
            spans.extend(marked(&text, &search.needle, style, hit));
        }
        _ => spans.push(Span::styled(text, style)),
    }
    Line::from(spans)
}

/// `text` in `style` with each occurrence of `needle` in `hit` (case ignored unless the needle
/// has a capital, as the search does).
fn marked<'a>(text: &str, needle: &str, style: Style, hit: Style) -> Vec<Span<'a>> {
    let exact = needle.chars().any(char::is_uppercase);
    let hay = if exact {
        text.to_string()
    } else {
        text.to_lowercase()
    };
    let pat = if exact {
        needle.to_string()
    } else {
        needle.to_lowercase()
    };
    // Lower-casing can change byte lengths (rare): then the whole line is marked.
    if hay.len() != text.len() || pat.is_empty() {
        return vec![Span::styled(text.to_string(), hit)];
    }
    let mut spans = Vec::new();
    let mut at = 0;
    for (i, _) in hay.match_indices(&pat) {
        if i < at || !text.is_char_boundary(i) || !text.is_char_boundary(i + pat.len()) {
            continue;
        }
        if i > at {
            spans.push(Span::styled(text[at..i].to_string(), style));
        }
        spans.push(Span::styled(text[i..i + pat.len()].to_string(), hit));
        at = i + pat.len();
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), style));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_splits_at_each_match_ignoring_case() {
        let (s, h) = (Style::default(), Style::default().bold());
        let spans = marked("Error: disk error", "error", s, h);
        let parts: Vec<(&str, bool)> = spans
            .iter()
            .map(|sp| (sp.content.as_ref(), sp.style == h))
            .collect();
        assert_eq!(
            parts,
            vec![("Error", true), (": disk ", false), ("error", true)]
        );
        // A capital makes it exact.
        let spans = marked("Error: disk error", "Error", s, h);
        assert_eq!(spans.len(), 2);
    }
}
