//! The lanes: one row per member in screen order (failures first), failures pinned while the
//! rest scroll (see [`scroll`](crate::lanes::scroll)). A row: the cursor and selection marks,
//! the state's glyph, the member, `step n/m`, the step's title, a trigger's countdown (a row
//! without one gives its columns to the title), elapsed against the plan, lag and the
//! reconcile verdict. Narrow screens drop lag, then the reconcile verdict, then the plan,
//! before the title gets too short.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::lanes::app::LanesApp;
use crate::lanes::scroll::Region;
use crate::tui::theme::Theme;
use crate::tui::view::text::{clock, fit, pad, width};
use cutover_model::fleet::lane::{Lane, LaneState};

/// The title gets at least this many columns before optional columns are dropped.
const TITLE_MIN: usize = 24;
/// The member column's widest.
const NAME_MAX: usize = 24;
/// Columns before the member: cursor mark, selection mark, glyph, space.
const PREFIX: usize = 4;

/// A state's style (glyph, counts).
pub fn state_style(s: LaneState, t: &Theme) -> Style {
    match s {
        LaneState::Failed | LaneState::Ended => t.step_failed,
        LaneState::RollingBack => t.step_interrupted,
        LaneState::RolledBack => t.step_skipped,
        LaneState::Asking => t.header_warn,
        LaneState::Running => t.step_running,
        LaneState::Waiting => t.step_pending,
        LaneState::Completed => t.step_passed,
        LaneState::Starting | LaneState::Queued | LaneState::Halted => t.muted,
    }
}

/// A duration as the lanes show it: `0m42`, `12m03`, `2h05m`.
pub fn dur(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}", s / 60, s % 60)
    }
}

/// A lane's texts, before they are fitted to columns.
struct Cells {
    step: String,
    elapsed: String,
    plan: String,
    lag: String,
    rec: String,
    countdown: String,
}

impl Cells {
    fn of(l: &Lane, now: DateTime<Utc>) -> Cells {
        Cells {
            step: l
                .step
                .map(|s| format!("step {}/{}", s + 1, l.steps))
                .unwrap_or_default(),
            elapsed: l.elapsed_ms.map(dur).unwrap_or_else(|| "—".into()),
            plan: l
                .planned_ms
                .map(|p| format!(" / {}", dur(p)))
                .unwrap_or_default(),
            lag: l
                .lag
                .as_ref()
                .map(|g| format!("lag {g}"))
                .unwrap_or_default(),
            rec: l.reconcile.clone().unwrap_or_default(),
            countdown: l
                .countdown
                .as_ref()
                .map(|(trigger, at)| {
                    let left = (*at - now).num_milliseconds().max(0) as u64;
                    format!("↺ in {} {trigger}", clock(left))
                })
                .unwrap_or_default(),
        }
    }
}

/// The columns' widths (0: the column is not shown).
#[derive(Debug, Clone, Copy, Default)]
struct Widths {
    name: usize,
    step: usize,
    title: usize,
    elapsed: usize,
    plan: usize,
    lag: usize,
    rec: usize,
    countdown: usize,
}

impl Widths {
    /// Columns taken by everything but the title.
    fn fixed(&self) -> usize {
        let opt = |w: usize| if w == 0 { 0 } else { w + 1 };
        PREFIX
            + self.name
            + opt(self.step)
            + 1
            + self.elapsed
            + self.plan
            + opt(self.lag)
            + opt(self.rec)
            + opt(self.countdown)
    }

    /// Widths for `cells` in `cols` columns, dropping lag, reconcile and plan (in that order)
    /// while the title would get under [`TITLE_MIN`].
    fn fit(lanes: &[&Lane], cells: &[Cells], cols: usize) -> Widths {
        let max = |f: fn(&Cells) -> &str| cells.iter().map(|c| width(f(c))).max().unwrap_or(0);
        let name = lanes
            .iter()
            .map(|l| width(&l.member))
            .max()
            .unwrap_or(0)
            .clamp(4, NAME_MAX)
            .min((cols / 4).max(4));
        let mut w = Widths {
            name,
            step: max(|c| &c.step),
            title: 0,
            elapsed: max(|c| &c.elapsed),
            plan: max(|c| &c.plan),
            lag: max(|c| &c.lag),
            rec: max(|c| &c.rec),
            countdown: max(|c| &c.countdown),
        };
        for drop in [
            (|w: &mut Widths| w.lag = 0) as fn(&mut Widths),
            |w| w.rec = 0,
            |w| w.plan = 0,
        ] {
            if w.fixed() + 1 + TITLE_MIN <= cols {
                break;
            }
            drop(&mut w);
        }
        w.title = cols.saturating_sub(w.fixed() + 1);
        w
    }
}

/// Draws the list.
pub fn render(f: &mut Frame, area: Rect, app: &LanesApp, t: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let Some(v) = &app.view else { return };
    let sorted = v.sorted();
    if sorted.is_empty() {
        let p = Paragraph::new(fit(" no members", area.width as usize)).style(t.muted);
        f.render_widget(p, area);
        return;
    }
    let cells: Vec<Cells> = sorted.iter().map(|l| Cells::of(l, app.now)).collect();
    let w = Widths::fit(&sorted, &cells, area.width as usize);
    let (regions, _) = app.window(area.height as usize);
    let cursor = app.cursor_index();
    let mut lines: Vec<Line> = Vec::new();
    for r in &regions {
        for i in r.lanes() {
            if let (Some(l), Some(c)) = (sorted.get(i), cells.get(i)) {
                let line = row(l, c, &w, app.selected.contains(&l.member), t);
                lines.push(if cursor == Some(i) {
                    cursor_row(line, t)
                } else {
                    line
                });
            }
        }
        if r.marker {
            lines.push(marker(r, t));
        }
    }
    f.render_widget(Paragraph::new(lines), area);
}

/// The cursor's row: marked, and in the `selected` style.
fn cursor_row(mut line: Line<'static>, t: &Theme) -> Line<'static> {
    if let Some(first) = line.spans.first_mut() {
        first.content = "›".into();
    }
    line.style(t.selected)
}

/// A region's marker row: how many of its lanes are hidden above and below.
fn marker(r: &Region, t: &Theme) -> Line<'static> {
    let mut parts = Vec::new();
    if r.top > 0 {
        parts.push(format!("↑ {} more", r.top));
    }
    if r.below() > 0 {
        parts.push(format!("↓ {} more", r.below()));
    }
    Line::from(Span::styled(format!("   {}", parts.join(" · ")), t.muted))
}

/// One lane's row in the widths `w`.
fn row(l: &Lane, c: &Cells, w: &Widths, selected: bool, t: &Theme) -> Line<'static> {
    let over = matches!((l.elapsed_ms, l.planned_ms), (Some(e), Some(p)) if e > p);
    let mut spans = vec![
        Span::raw(" "),
        Span::styled(if selected { "●" } else { " " }, t.key),
        Span::styled(l.state.glyph(), state_style(l.state, t)),
        Span::raw(" "),
        Span::styled(pad(&l.member, w.name), t.text),
    ];
    if w.step > 0 {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!("{:>1$}", c.step, w.step), t.text));
    }
    let (title, title_style) = if l.title.is_empty() {
        (l.state.word(), t.muted)
    } else {
        (l.title.as_str(), t.text)
    };
    spans.push(Span::raw(" "));
    if w.countdown > 0 && c.countdown.is_empty() {
        // No countdown on this row: its title takes the countdown's columns.
        spans.push(Span::styled(
            pad(title, w.title + 1 + w.countdown),
            title_style,
        ));
    } else {
        spans.push(Span::styled(pad(title, w.title), title_style));
        if w.countdown > 0 {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(pad(&c.countdown, w.countdown), t.status_warn));
        }
    }
    spans.push(Span::raw(" "));
    let elapsed_style = if over { t.over_plan } else { t.text };
    spans.push(Span::styled(
        format!("{:>1$}", c.elapsed, w.elapsed),
        elapsed_style,
    ));
    if w.plan > 0 {
        spans.push(Span::styled(pad(&c.plan, w.plan), t.muted));
    }
    for (width, text, style) in [(w.lag, &c.lag, t.muted), (w.rec, &c.rec, rec_style(l, t))] {
        if width > 0 {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(pad(text, width), style));
        }
    }
    Line::from(spans)
}

/// The reconcile verdict's style: `match` is good news, anything else is not.
fn rec_style(l: &Lane, t: &Theme) -> Style {
    match l.reconcile.as_deref() {
        Some("match") => t.reconcile_ok,
        Some(_) => t.reconcile_diff,
        None => t.muted,
    }
}
