//! The key table: every key, the [`Action`] it triggers and what it does, written once
//! ([`KEYMAP`]). Key handling looks keys up here ([`action`]); the help overlay
//! ([`help_rows`]), the key bar ([`bar_keys`]) and the README's key section ([`markdown`]) are
//! rendered from it.

mod table;
#[cfg(test)]
pub(crate) mod tests;

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

/// The key that goes on with a search, to the next older match, while one is shown: it is
/// the countdown's key in the table (a countdown running, it stops that first), so the search
/// takes it before the table is asked (`App::key_action`) and [`key_of`] does not name it.
pub const SEARCH_NEXT: Key = Key::Char('n');

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

/// The entry that binds `action`.
fn entry_of(action: Action) -> Option<&'static KeyEntry> {
    KEYMAP
        .iter()
        .find(|e| e.keys.iter().any(|b| b.action == action))
}

/// The names of `entry`'s keys that `pick` accepts, in order.
fn key_names(entry: &KeyEntry, pick: impl Fn(Named) -> bool) -> Vec<String> {
    entry
        .keys
        .iter()
        .filter(|b| pick(b.named))
        .map(|b| b.key.to_string())
        .collect()
}

/// Whether a key so named appears in the help overlay (and so in the README).
fn in_help(named: Named) -> bool {
    matches!(named, Named::Everywhere | Named::NotInBar)
}

/// The keys the key bar names for `action`: those of its entry named everywhere, joined by `/`
/// (`j/k`, `PgUp/PgDn`). Empty for an action no key triggers.
pub fn bar_keys(action: Action) -> String {
    entry_of(action).map_or_else(String::new, |e| {
        key_names(e, |n| n == Named::Everywhere).join("/")
    })
}

/// The first key the table binds to `action`, however it is named (`d` for detach in the
/// leave question, `y` for yes): for the hints and pop-up footers that name one key. Empty
/// for an action no key triggers.
pub fn key_of(action: Action) -> String {
    KEYMAP
        .iter()
        .flat_map(|e| e.keys.iter())
        .find(|b| b.action == action)
        .map_or_else(String::new, |b| b.key.to_string())
}

/// The help overlay's rows: the keys as the overlay names them, and what they do.
pub fn help_rows() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    for e in KEYMAP {
        let keys = key_names(e, in_help).join(" ");
        match (e.help, rows.last_mut()) {
            (HelpLine::Row(text), _) | (HelpLine::SameRow(text), None) => {
                rows.push((keys, text.to_string()));
            }
            (HelpLine::SameRow(text), Some((k, t))) => {
                k.push(' ');
                k.push_str(&keys);
                t.push_str(" · ");
                t.push_str(text);
            }
            (HelpLine::Hidden, _) => {}
        }
    }
    rows
}

/// The README's key table (markdown, one row per entry, each line ending in a newline).
pub fn markdown() -> String {
    let code = |names: Vec<String>| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut md = String::from("| key | what it does |\n|---|---|\n");
    for e in KEYMAP {
        let Some(text) = e.readme else { continue };
        let mut keys = code(key_names(e, in_help));
        let more = code(key_names(e, |n| n == Named::ReadmeOnly));
        if !more.is_empty() {
            keys = format!("{keys} ({more})");
        }
        md.push_str(&format!("| {keys} | {text} |\n"));
    }
    md
}
