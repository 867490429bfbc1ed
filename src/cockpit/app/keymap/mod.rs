//! The key table: every key, the [`Action`] it triggers and what it does, written once
//! ([`KEYMAP`]). Key handling looks keys up here ([`action`]).

mod table;
#[cfg(test)]
mod tests;

use std::fmt;

use super::action::{Action, KeyContext};
pub use table::KEYMAP;

/// A key as the operator presses it, named as the help names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character (`r`, `R`, `?`).
    Char(char),
    /// `enter`.
    Enter,
    /// `esc`.
    Esc,
    /// `↑`.
    Up,
    /// `↓`.
    Down,
    /// `PgUp`.
    PageUp,
    /// `PgDn`.
    PageDown,
    /// `Home`.
    Home,
    /// `End`.
    End,
    /// `ctrl-c`.
    CtrlC,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Char(c) => write!(f, "{c}"),
            Key::Enter => f.write_str("enter"),
            Key::Esc => f.write_str("esc"),
            Key::Up => f.write_str("↑"),
            Key::Down => f.write_str("↓"),
            Key::PageUp => f.write_str("PgUp"),
            Key::PageDown => f.write_str("PgDn"),
            Key::Home => f.write_str("Home"),
            Key::End => f.write_str("End"),
            Key::CtrlC => f.write_str("ctrl-c"),
        }
    }
}

/// Where a key is named: the key bar has the least room, the README the most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// In the key bar, the help overlay and the README.
    Everywhere,
    /// In the help overlay and the README, not in the key bar (`↑`, `ctrl-c`).
    NotInBar,
    /// Only in the README, in parentheses after the others (`Home`, `End`).
    ReadmeOnly,
    /// Nowhere: the pop-up that takes it says so (`y`, `n`).
    Nowhere,
}

/// One key and the action it triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The key.
    pub key: Key,
    /// What it triggers (in the contexts where the action applies).
    pub action: Action,
    /// Where the key is named.
    pub named: Named,
}

impl Binding {
    /// `key` triggers `action` and is named everywhere.
    pub const fn new(key: Key, action: Action) -> Self {
        Binding {
            key,
            action,
            named: Named::Everywhere,
        }
    }

    /// The same binding, named only where `named` says.
    pub const fn named(self, named: Named) -> Self {
        Binding { named, ..self }
    }
}

/// How an entry shows in the help overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpLine {
    /// A row of its own, with this text.
    Row(&'static str),
    /// Shares the row above: its keys and this text are added to that row's (`c v`).
    SameRow(&'static str),
    /// Not in the overlay.
    Hidden,
}

/// Keys that belong together, with what they do: one row of the README's key table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEntry {
    /// The keys, in the order they are named.
    pub keys: &'static [Binding],
    /// The help overlay's short text.
    pub help: HelpLine,
    /// The README's text (markdown); `None` leaves the entry out of the README.
    pub readme: Option<&'static str>,
}

/// The action `key` triggers in `ctx`, if any. Inside a text box only `enter`, `esc` and
/// `ctrl-c` are bound; the terminal layer makes every other key an edit of the text.
pub fn action(key: Key, ctx: KeyContext) -> Option<Action> {
    KEYMAP
        .iter()
        .flat_map(|e| e.keys)
        .find(|b| b.key == key && b.action.applies_in(ctx))
        .map(|b| b.action)
}
