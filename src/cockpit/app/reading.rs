//! Reading a step's output closely: search it (`/`, then `n` older match, `N` newer), zoom
//! the detail pane to the whole screen (`z`), show each line's arrival time (`t`).

use tui_input::Input;

use super::action::Action;
use super::keys::edit;
use super::modal::Modal;
use super::{App, Effect};
use cutover_model::protocol::Level;

/// The operator's search in the selected step's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// What is searched for (case ignored unless it has a capital letter).
    pub needle: String,
    /// The line shown as the current match, by its number in the step's output.
    pub current: Option<u64>,
}

impl App {
    /// `/`: opens the search box, holding the last search.
    pub(super) fn open_search(&mut self) -> Vec<Effect> {
        let last = self.search.as_ref().map_or("", |s| s.needle.as_str());
        self.modal = Some(Modal::Search {
            input: Input::new(last.to_string()),
        });
        vec![Effect::Redraw]
    }

    /// A key in the search box: enter searches from the newest line up, esc closes it.
    pub(super) fn search_box(&mut self, mut input: Input, a: Action) -> Vec<Effect> {
        match a {
            Action::Interrupt => self.quit(),
            Action::Escape => vec![Effect::Redraw],
            Action::Enter => {
                let needle = input.value().to_string();
                if needle.is_empty() {
                    self.search = None;
                    return vec![Effect::Redraw];
                }
                self.search = Some(Search {
                    needle,
                    current: None,
                });
                self.search_step(true)
            }
            _ => {
                let changed = edit(&mut input, a);
                self.modal = Some(Modal::Search { input });
                if changed {
                    vec![Effect::Redraw]
                } else {
                    vec![]
                }
            }
        }
    }

    /// The next match towards older lines (`older`) or newer ones; shows it mid-pane.
    pub(super) fn search_step(&mut self, older: bool) -> Vec<Effect> {
        let Some(search) = &self.search else {
            return self.refuse("no search yet: / searches the output");
        };
        let Some(s) = self.steps.get(self.selected) else {
            return self.refuse("no step to search");
        };
        let needle = search.needle.clone();
        match s.output.find(&needle, search.current, older) {
            Some(number) => {
                let (total, newer) = s.output.count(&needle, number);
                let page = self.page();
                if let Some(pos) = s.output.position(number) {
                    let from_bottom = s.output.len() - 1 - pos;
                    self.view.follow = false;
                    self.view.scroll = from_bottom
                        .saturating_sub(page / 2)
                        .min(s.output.max_scroll(page));
                }
                if let Some(search) = &mut self.search {
                    search.current = Some(number);
                }
                self.say(
                    Level::Info,
                    format!(
                        "/{needle}: match {} of {total} from the newest · {} older · {} newer · {} ends it",
                        newer + 1,
                        super::keymap::SEARCH_NEXT,
                        super::keymap::key_of(Action::SearchPrev),
                        super::keymap::key_of(Action::Escape)
                    ),
                );
                vec![Effect::Redraw]
            }
            None => {
                let what = match (search.current, older) {
                    (None, _) => format!("no kept line of this step holds \"{needle}\""),
                    (Some(_), true) => format!("no older line holds \"{needle}\""),
                    (Some(_), false) => format!("no newer line holds \"{needle}\""),
                };
                self.refuse(&what)
            }
        }
    }

    /// `z`: the detail pane takes the whole screen (everything in it unabridged), or not.
    pub(super) fn toggle_zoom(&mut self) -> Vec<Effect> {
        self.zoom = !self.zoom;
        self.say_switched(
            self.zoom,
            "zoomed: the selected step in full · z goes back",
            "all panes back",
        )
    }

    /// `t`: each output line shows when it arrived, or not.
    pub(super) fn toggle_times(&mut self) -> Vec<Effect> {
        self.times = !self.times;
        self.say_switched(
            self.times,
            "output lines show their arrival time (UTC) · t hides it",
            "arrival times hidden",
        )
    }

    /// Says briefly what a view switch does now that it is `on` (`when_on`) or off
    /// (`when_off`), and redraws.
    fn say_switched(&mut self, on: bool, when_on: &str, when_off: &str) -> Vec<Effect> {
        self.say_briefly(Level::Info, if on { when_on } else { when_off });
        vec![Effect::Redraw]
    }
}
