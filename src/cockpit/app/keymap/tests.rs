//! The key table: no key means two things in one place, every action has a key, and the README's
//! key section is the table's.

use std::path::PathBuf;

use super::*;
use crate::app::action::KeyContext;

const CONTEXTS: [KeyContext; 3] = [KeyContext::Commands, KeyContext::Question, KeyContext::Text];

/// Rewrites the README's key section from the table instead of failing.
const UPDATE_ENV: &str = "CUTOVER_UPDATE_README";
const BEGIN: &str = "<!-- keys:begin";
const END: &str = "<!-- keys:end -->";

#[test]
fn no_key_is_bound_twice_in_one_context() {
    let bindings: Vec<&Binding> = KEYMAP.iter().flat_map(|e| e.keys).collect();
    for ctx in CONTEXTS {
        for (i, a) in bindings.iter().enumerate() {
            for b in &bindings[i + 1..] {
                assert!(
                    !(a.key == b.key && a.action.applies_in(ctx) && b.action.applies_in(ctx)),
                    "{} is bound to {:?} and {:?} in {ctx:?}",
                    a.key,
                    a.action,
                    b.action
                );
            }
        }
    }
}

/// Every action, as a chain: a new `Action` does not build until it has an arm here, and the
/// count in `every_action_has_a_key` fails until the chain reaches it (a list in the test
/// itself let `ToggleSummary` go unchecked).
fn after(a: Action) -> Option<Action> {
    use Action::*;
    Some(match a {
        Enter => Retry,
        Retry => Skip,
        Skip => MarkDone,
        MarkDone => Abort,
        Abort => CancelStep,
        CancelStep => Rollback,
        Rollback => CancelCountdown,
        CancelCountdown => StopInterrupted,
        StopInterrupted => Reconcile,
        Reconcile => ToggleReconcileView,
        ToggleReconcileView => ToggleSummary,
        ToggleSummary => SelectNext,
        SelectNext => SelectPrev,
        SelectPrev => PageUp,
        PageUp => PageDown,
        PageDown => Top,
        Top => Bottom,
        Bottom => ToggleFollow,
        ToggleFollow => Approve,
        Approve => Search,
        Search => SearchNext,
        SearchNext => SearchPrev,
        SearchPrev => Zoom,
        Zoom => ToggleTimes,
        ToggleTimes => Help,
        Help => Escape,
        Escape => Quit,
        Quit => Interrupt,
        Interrupt => Detach,
        Detach => EndRun,
        EndRun => Yes,
        Yes => No,
        No => Type('x'),
        Type(_) => Edit(tui_input::InputRequest::GoToStart),
        Edit(_) => return None,
    })
}

#[test]
fn every_action_has_a_key() {
    let mut a = Some(Action::Enter);
    let mut checked = 0;
    while let Some(now) = a {
        // The search's next match is the countdown's key, taken before the table is asked
        // (`SEARCH_NEXT`); typing and editing are the text box's own keys.
        let by_the_table = !matches!(now, Action::SearchNext | Action::Type(_) | Action::Edit(_));
        if by_the_table {
            assert!(
                KEYMAP.iter().flat_map(|e| e.keys).any(|b| b.action == now),
                "no key for {now:?}"
            );
            checked += 1;
        }
        a = after(now);
    }
    assert_eq!(
        checked, 32,
        "the chain reaches every action the table binds"
    );
}

#[test]
fn lookups_follow_the_context() {
    assert_eq!(
        action(Key::Char('n'), KeyContext::Commands),
        Some(Action::CancelCountdown)
    );
    assert_eq!(
        action(Key::Char('n'), KeyContext::Question),
        Some(Action::No)
    );
    assert_eq!(action(Key::Char('q'), KeyContext::Text), None, "q is text");
    assert_eq!(
        action(Key::CtrlC, KeyContext::Text),
        Some(Action::Interrupt)
    );
    assert_eq!(action(Key::Home, KeyContext::Commands), Some(Action::Top));
}

/// A hint names the key the table binds, even one named nowhere else (a pop-up's own keys).
#[test]
fn hints_name_the_first_key_the_table_binds() {
    use Action::{CancelCountdown, Detach, Escape, Top, Yes};
    assert_eq!(
        [Detach, Yes, Escape, Top, CancelCountdown].map(key_of),
        ["d", "y", "esc", "g", "n"]
    );
    // An action no binding of the table triggers names nothing.
    assert_eq!(key_of(Action::SearchNext), "");
    assert_eq!(
        crate::app::hints::deciding(cutover_model::protocol::DecisionKind::Failed),
        "the step did not pass: r retry · s skip (with a reason) · a abort"
    );
    assert_eq!(
        crate::app::hints::leave_footer(),
        " d detach · e end the run · esc stay "
    );
}

#[test]
fn the_bar_and_the_help_name_keys_as_before() {
    use Action::{Enter, PageDown, Quit, SelectNext};
    assert_eq!(
        [SelectNext, PageDown, Quit, Enter].map(bar_keys),
        ["j/k", "PgUp/PgDn", "q", "enter"]
    );
    let rows = help_rows();
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "enter A",
            "r",
            "s",
            "d",
            "a",
            "K",
            "x",
            "j k ↑ ↓",
            "PgUp PgDn",
            "g G f",
            "/",
            "z t",
            "R",
            "n",
            "c v",
            "S",
            "esc",
            "?",
            "q ctrl-c"
        ]
    );
    assert_eq!(rows[14].1, "reconcile now · show the differing keys");
    assert_eq!(rows[11].1, "zoom the step pane · output times on/off");
}

pub(crate) fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// The README up to the line after the begin marker, the key section, and the rest from the end
/// marker on.
fn split(readme: &str) -> (&str, &str, &str) {
    split_at(readme, BEGIN, END)
}

/// [`split`] between the markers `BEGIN` and `END`.
pub(crate) fn split_at<'a>(
    readme: &'a str,
    begin_marker: &str,
    end_marker: &str,
) -> (&'a str, &'a str, &'a str) {
    let begin = readme
        .find(begin_marker)
        .unwrap_or_else(|| panic!("README.md has no {begin_marker} … --> marker"));
    let table = begin
        + readme[begin..]
            .find('\n')
            .expect("a line break after the begin marker")
        + 1;
    let end = table
        + readme[table..]
            .find(end_marker)
            .unwrap_or_else(|| panic!("README.md has no {end_marker} marker after {begin_marker}"));
    (&readme[..table], &readme[table..end], &readme[end..])
}

#[test]
fn readme_key_section_is_generated_from_the_table() {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let (before, table, after) = split(&readme);
    // A blank line either side keeps the markers out of the table.
    let generated = format!("\n{}\n", markdown());
    if table == generated {
        return;
    }
    if std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1") {
        std::fs::write(&path, format!("{before}{generated}{after}")).expect("write README.md");
        return;
    }
    panic!(
        "README.md's key section differs from the key table (src/cockpit/app/keymap/table.rs).\n\
         Regenerate it with: {UPDATE_ENV}=1 cargo test -p cutover-cockpit readme\n\
         --- README.md\n{table}--- generated\n{generated}"
    );
}
