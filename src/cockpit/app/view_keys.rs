//! Keys that change only what the cockpit shows, never the run: moving between steps and
//! search matches, scrolling, and the overlays and display toggles (help, the summary, the
//! reconcile detail, following the output, the search box, zoom, arrival times).

use super::action::Action;
use super::modal::Modal;
use super::{App, Effect, Phase};
use cutover_model::protocol::Level;

impl App {
    /// Moving about: the next or previous step (which leaves the summary), the next older or
    /// newer search match.
    pub(super) fn selection_action(&mut self, a: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::SelectNext => {
                self.show_summary = false;
                self.select((self.selected + 1).min(self.steps.len().saturating_sub(1)));
                redraw
            }
            Action::SelectPrev => {
                self.show_summary = false;
                self.select(self.selected.saturating_sub(1));
                redraw
            }
            Action::SearchNext => self.search_step(true),
            Action::SearchPrev => self.search_step(false),
            // Not a move: `on_action` sends only those above here.
            _ => vec![],
        }
    }

    /// Page up, page down, top and bottom: they scroll the summary when it is shown, else the
    /// reconcile detail when it is shown, else the selected step's output.
    pub(super) fn scroll_action(&mut self, a: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            // The summary scrolls from its top; the output from its newest line.
            Action::PageUp | Action::Top if self.show_summary => {
                self.summary_scroll = if a == Action::Top {
                    0
                } else {
                    self.summary_scroll.saturating_sub(self.page())
                };
                redraw
            }
            Action::PageDown | Action::Bottom if self.show_summary => {
                self.summary_scroll = if a == Action::Bottom {
                    usize::MAX
                } else {
                    self.summary_scroll.saturating_add(self.page())
                };
                redraw
            }
            // The reconcile detail scrolls from its top, as the summary does.
            Action::PageUp | Action::Top | Action::PageDown | Action::Bottom
                if self.show_reconcile && !self.show_summary =>
            {
                // Its first and last rows may say what is above and below: a page moves by
                // the rest, so no line is ever hidden under them.
                let page = self.detail_rows.saturating_sub(2).max(1);
                let last_page = self.detail_rows.max(1);
                let last = self.reconcile_lines.saturating_sub(last_page);
                let now = self.reconcile_scroll.min(last);
                self.reconcile_scroll = match a {
                    Action::Top => 0,
                    Action::PageUp => now.saturating_sub(page),
                    Action::PageDown => (now + page).min(last),
                    _ => last,
                };
                redraw
            }
            Action::PageUp => {
                let max = self.max_scroll();
                self.view.up(self.page(), max);
                redraw
            }
            Action::PageDown => {
                self.view.down(self.page());
                redraw
            }
            Action::Top => {
                let max = self.max_scroll();
                self.view.top(max);
                redraw
            }
            Action::Bottom => {
                self.view.bottom();
                redraw
            }
            // Not a scroll: `on_action` sends only those above here.
            _ => vec![],
        }
    }

    /// How far up the selected step's output can scroll with the page as it is now (0 with
    /// no step selected).
    fn max_scroll(&self) -> usize {
        self.steps
            .get(self.selected)
            .map_or(0, |s| s.output.max_scroll(self.page()))
    }

    /// The overlays and display toggles: help, the summary (once the run is over), the
    /// reconcile detail, following the newest output line, esc (clears the status line and
    /// the search), the search box, zoom, arrival times.
    pub(super) fn view_action(&mut self, a: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match a {
            Action::Help => {
                self.modal = Some(Modal::Help);
                redraw
            }
            Action::ToggleSummary => {
                if !matches!(self.phase, Phase::Finished(_) | Phase::EngineGone) {
                    return self.refuse("the summary comes when the run is over");
                }
                self.show_summary = !self.show_summary;
                self.show_reconcile = false;
                redraw
            }
            Action::ToggleReconcileView => {
                if self.reconcile.checks.is_empty() {
                    return self.refuse("no [[reconcile]] checks in this runbook");
                }
                self.show_reconcile = !self.show_reconcile;
                redraw
            }
            Action::ToggleFollow => {
                self.view.toggle_follow();
                let s = if self.view.follow {
                    "follow on: the output sticks to the newest line"
                } else {
                    "follow off: the output stays where it is"
                };
                self.say_briefly(Level::Info, s);
                redraw
            }
            Action::Escape => {
                // A fleet member's cockpit: esc with nothing to close goes back to the lanes.
                if self.back_to_lanes && self.search.is_none() && !self.zoom {
                    return vec![Effect::Detach];
                }
                self.status = None;
                self.search = None;
                redraw
            }
            Action::Search => self.open_search(),
            Action::Zoom => self.toggle_zoom(),
            Action::ToggleTimes => self.toggle_times(),
            // Not an overlay or a toggle: `on_action` sends only those above here.
            _ => vec![],
        }
    }
}
