//! The lanes screen's key table, written once: key handling follows it, and the footer's key
//! hints, the help overlay and the README's key list are rendered from it.

/// Every key of the lanes screen: the key as the help names it, and what it does.
pub const KEYS: &[(&str, &str)] = &[
    ("↑/k ↓/j", "move"),
    ("PgUp/PgDn", "page"),
    ("Home/End", "first/last lane"),
    ("space", "select/unselect the lane"),
    ("a", "select all/none"),
    ("enter", "open the member's cockpit"),
    ("n", "run the next step on the waiting members"),
    (
        "R",
        "roll back the selected members (or the one under the cursor)",
    ),
    ("g", "canary go: start the queued members"),
    ("?", "help"),
    ("q", "leave"),
];

/// The keys of the typed count (`n`, `R`, `g` ask for it): the one that confirms it and the
/// one that cancels it.
pub const PROMPT: [(&str, &str); 2] = [("enter", "confirms"), ("esc", "cancels")];

/// The keys that close the help.
pub const CLOSE_HELP: [&str; 2] = ["esc", "?"];

/// The typed count's hint: `enter confirms · esc cancels`.
pub fn prompt_hint() -> String {
    PROMPT
        .iter()
        .map(|(k, what)| format!("{k} {what}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The help's closing hint: ` esc / ? close `.
pub fn close_help_hint() -> String {
    format!(" {} close ", CLOSE_HELP.join(" / "))
}

/// The keys a watching terminal cannot use (they send commands).
pub const CONTROL_ONLY: &[&str] = &["n", "R", "g"];

/// The short words the footer gives a key (the help gives [`KEYS`]' full text).
pub fn hint_word(key: &str) -> &'static str {
    match key {
        "↑/k ↓/j" => "move",
        "PgUp/PgDn" => "page",
        "Home/End" => "ends",
        "space" => "select",
        "a" => "all",
        "enter" => "open",
        "n" => "next step",
        "R" => "roll back",
        "g" => "go",
        "?" => "help",
        "q" => "leave",
        _ => "",
    }
}

/// The key table as a Markdown table (for the README).
pub fn markdown() -> String {
    let mut out = String::from("| key | what it does |\n|---|---|\n");
    for (k, what) in KEYS {
        out.push_str(&format!("| `{k}` | {what} |\n"));
    }
    out
}
