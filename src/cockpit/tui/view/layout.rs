//! The screen. At 80x24 (the smallest supported size):
//!
//! ```text
//!  demo: orders service cutover… ─ elapsed 0:41 ─ plan ETA 03:12 ─ +4s behind
//! ┌ STEPS 2/8 ─────────────────────┐┌ LAG ────────────────────────────────────────┐
//! │✔ 1 preflight          28ms / 2s││no lag source configured                     │
//! │✔ 2 prepare            11ms / 1s│└─────────────────────────────────────────────┘
//! │▶ 3 freeze-writes      0:03 / 5s│┌ RECONCILE ──────────────────────────────────┐
//! │  4 drain                 — / 2s││no checks configured                         │
//! │  5 copy-data             — / 4s│└─────────────────────────────────────────────┘
//! │  6 go-no-go               — / —│┌ 3 freeze-writes · run · follow ─────────────┐
//! │⚑ 7 switch                — / 3s││$ echo maintenance > /tmp/cutover-demo/state …│
//! │  8 verify                — / 2s││▶ running 0:03 / 5s · pid 4242               │
//! │                                ││orders-api: writes frozen                    │
//! │                                ││                                             │
//! └────────────────────────────────┘└─────────────────────────────────────────────┘
//!  running step 3 freeze-writes
//!  x cancel step · j/k select · PgUp/PgDn scroll · f follow · R rollback · ? help
//! ```
//!
//! Header (1 row) · body: steps on the left, lag / reconcile / step output on the right ·
//! status bar (2 rows). Pop-ups (help, confirm, reason, yes/no) are centred over the body.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::{
    header, help, lag, output, preflight, prompt, reconcile, reconcile_detail, status, steps,
    summary,
};
use crate::app::App;
use crate::app::modal::Modal;
use crate::tui::theme::Theme;

/// Where each pane goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Header line.
    pub header: Rect,
    /// Steps list.
    pub steps: Rect,
    /// Lag pane.
    pub lag: Rect,
    /// Reconcile pane.
    pub reconcile: Rect,
    /// Detail and output of the selected step.
    pub output: Rect,
    /// Status rows.
    pub status: Rect,
}

/// What a drawn frame tells the app back: the layout facts its keys depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drawn {
    /// Rows the output pane gave to the selected step's output (the page `PgUp`/`PgDn`
    /// scroll); `None` when the pane showed no output (no step yet, or the reconcile view).
    pub output_rows: Option<usize>,
    /// The reconcile detail, when the pane showed it: its rows and its lines in all.
    pub detail: Option<(usize, usize)>,
}

/// Splits the screen.
pub fn areas(area: Rect, app: &App) -> Areas {
    let [header, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(2),
    ])
    .areas(area);
    let steps_w = (area.width * 2 / 5).clamp(24.min(area.width), 48);
    let [steps, right] =
        Layout::horizontal([Constraint::Length(steps_w), Constraint::Min(0)]).areas(body);
    let tall = area.height >= 34;
    // A configured probe gets a second row (thresholds, rate, ETA); a tall screen one more.
    let lag_h = match (app.lag.configured, tall, area.height >= 24) {
        (false, true, _) => 4,
        (false, false, _) => 3,
        (true, true, _) => 5,
        (true, false, true) => 4,
        (true, false, false) => 3,
    };
    let checks = app.reconcile.checks.len().max(1) as u16;
    let rec_h = if tall { (checks + 2).min(7) } else { 3 };
    let [lag, reconcile, output] = Layout::vertical([
        Constraint::Length(lag_h),
        Constraint::Length(rec_h),
        Constraint::Min(0),
    ])
    .areas(right);
    if app.zoom {
        // The step pane takes the whole body; the others are not drawn.
        let none = Rect::new(body.x, body.y, 0, 0);
        return Areas {
            header,
            steps: none,
            lag: none,
            reconcile: none,
            output: body,
            status,
        };
    }
    Areas {
        header,
        steps,
        lag,
        reconcile,
        output,
        status,
    }
}

/// Draws a whole frame and reports what its layout gave the output.
pub fn render(f: &mut Frame, app: &App, t: &Theme) -> Drawn {
    let area = f.area();
    let a = areas(area, app);
    f.render_widget(ratatui::widgets::Block::default().style(t.text), area);
    header::render(f, a.header, app, t);
    if !app.zoom {
        steps::render(f, a.steps, app, t);
        lag::render(f, a.lag, app, t);
        reconcile::render(f, a.reconcile, app, t);
    }
    let mut detail = None;
    let output_rows = if app.show_summary {
        summary::render(f, a.output, app, t);
        None
    } else if app.show_reconcile {
        detail = Some(reconcile_detail::render(f, a.output, app, t));
        None
    } else if app.show_preflight() {
        preflight::render(f, a.output, app, t);
        None
    } else {
        output::render(f, a.output, app, t)
    };
    status::render(f, a.status, app, t);
    match &app.modal {
        Some(Modal::Help) => help::render(f, area, app, t),
        Some(_) => prompt::render(f, area, app, t),
        None => {}
    }
    Drawn {
        output_rows,
        detail,
    }
}
