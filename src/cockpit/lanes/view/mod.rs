//! Rendering the lanes screen: one file per pane, all drawing from `&LanesApp` and a
//! [`Theme`]. The screen, top to bottom:
//!
//! ```text
//!  fleet f-1 · orders · running, 8 at a time · 12:03          header (2 rows, 1 when short)
//!  ✖ 2 failed · ▶ 5 running · · 10 waiting · ✔ 30 completed
//! ›●✖ shard-07  step 3/5  Copy data ... 12m03 / 15m00  ↺ in 0:42 lag-high     list
//!   ↓ 12 more                                                               (a marker row)
//!  ↑/k ↓/j move · space select · ...  (or the status, or the typed confirmation)   footer
//! ```

pub mod footer;
pub mod header;
pub mod help;
pub mod list;
pub mod prompt;
#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::app::LanesApp;
use crate::tui::theme::Theme;

/// Where each pane goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The header.
    pub header: Rect,
    /// The lanes.
    pub list: Rect,
    /// The key hints, status or typed confirmation.
    pub footer: Rect,
}

/// The panes' areas in `area`: the header gets two rows when there is room, the footer two
/// while a typed confirmation is open; the list the rest (possibly none).
pub fn areas(area: Rect, app: &LanesApp) -> Areas {
    let h = area.height;
    let header_h = match h {
        0 => 0,
        1..=7 => 1,
        _ => 2,
    };
    let footer_h = match (h, app.prompt.is_some()) {
        (0..=1, _) => 0,
        (2..=5, _) | (_, false) => 1,
        (_, true) => 2,
    };
    let list_h = h - header_h - footer_h;
    let row = |y: u16, height: u16| Rect {
        x: area.x,
        y: area.y + y,
        width: area.width,
        height,
    };
    Areas {
        header: row(0, header_h),
        list: row(header_h, list_h),
        footer: row(header_h + list_h, footer_h),
    }
}

/// The list's area in `area` (the app scrolls by its rows).
pub fn list_area(area: Rect, app: &LanesApp) -> Rect {
    areas(area, app).list
}

/// Draws the lanes screen.
pub fn render(f: &mut Frame, app: &LanesApp, theme: &Theme) {
    let a = areas(f.area(), app);
    header::render(f, a.header, app, theme);
    list::render(f, a.list, app, theme);
    if app.prompt.is_some() {
        prompt::render(f, a.footer, app, theme);
    } else {
        footer::render(f, a.footer, app, theme);
    }
    if app.help {
        help::render(f, f.area(), app, theme);
    }
}
