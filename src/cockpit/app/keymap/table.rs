//! The table itself, in the order the help and the README list it. Change a key here and the
//! key handling, the help overlay, the key bar and (with `CUTOVER_UPDATE_README=1 cargo test
//! -p cutover-cockpit readme`) the README follow.

use super::{Binding, HelpLine, Key, KeyEntry, Named};
use crate::app::action::Action;

/// Every key the cockpit answers to.
pub static KEYMAP: &[KeyEntry] = &[
    KeyEntry {
        keys: &[Binding::new(Key::Enter, Action::Enter)],
        help: HelpLine::Row("run the next step · type the word"),
        readme: Some(
            "run the next step (steps run in order); on a confirm step, open the box to type the word",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('A'), Action::Approve)],
        help: HelpLine::SameRow("sign off"),
        readme: Some(
            "sign off a role of the approve step that waits: type your name (after the role, when several roles are open); any terminal may, a `watch` one too, and each sign-off is journaled with who and from where",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('r'), Action::Retry)],
        help: HelpLine::Row("retry a failed step · re-run an interrupted one"),
        readme: Some("retry a failed step · re-run an interrupted one (on `--resume`)"),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('s'), Action::Skip)],
        help: HelpLine::Row("skip a failed step · override preflight (reason)"),
        readme: Some(
            "skip a failed step: type a reason (required, journaled); when preflight stopped the run before step 1, start it anyway with a typed reason (journaled)",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('d'), Action::MarkDone)],
        help: HelpLine::Row("mark an interrupted step done (typed reason)"),
        readme: Some("mark an interrupted step done: type a reason (required, journaled)"),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('a'), Action::Abort)],
        help: HelpLine::Row("abort the run at a failed/interrupted step"),
        readme: Some("abort the run at a failed or interrupted step (asks `y`/`n`)"),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('K'), Action::StopInterrupted)],
        help: HelpLine::Row("stop an interrupted attempt still running"),
        readme: Some(
            "stop the process group an interrupted attempt left running in the earlier session (asks `y`/`n`), so it can be re-run without doing its work twice",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('x'), Action::CancelStep)],
        help: HelpLine::Row("cancel the running step (kills its process group)"),
        readme: Some("cancel the running step: its process group is killed (asks `y`/`n`)"),
    },
    KeyEntry {
        keys: &[
            Binding::new(Key::Char('j'), Action::SelectNext),
            Binding::new(Key::Char('k'), Action::SelectPrev),
            Binding::new(Key::Up, Action::SelectPrev).named(Named::NotInBar),
            Binding::new(Key::Down, Action::SelectNext).named(Named::NotInBar),
        ],
        help: HelpLine::Row("select a step: its command and output"),
        readme: Some("select a step: its command, state and output"),
    },
    KeyEntry {
        keys: &[
            Binding::new(Key::PageUp, Action::PageUp),
            Binding::new(Key::PageDown, Action::PageDown),
        ],
        help: HelpLine::Row("scroll the output a page"),
        readme: Some("scroll the output a page"),
    },
    KeyEntry {
        keys: &[
            Binding::new(Key::Char('g'), Action::Top),
            Binding::new(Key::Char('G'), Action::Bottom),
            Binding::new(Key::Home, Action::Top).named(Named::ReadmeOnly),
            Binding::new(Key::End, Action::Bottom).named(Named::ReadmeOnly),
        ],
        help: HelpLine::Row("oldest kept line · newest line"),
        readme: Some("oldest kept line · newest line (follow back on)"),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('f'), Action::ToggleFollow)],
        help: HelpLine::SameRow("follow it on/off"),
        readme: Some("follow the newest output on/off"),
    },
    KeyEntry {
        keys: &[
            Binding::new(Key::Char('/'), Action::Search),
            Binding::new(Key::Char('N'), Action::SearchPrev).named(Named::Nowhere),
        ],
        help: HelpLine::Row("search the output · n older match, N newer"),
        readme: Some(
            "search the selected step's kept output (case ignored unless the text has a capital); enter shows the newest match, then `n` the next older one and `N` the next newer one; `esc` ends the search (while a countdown runs, `n` stops it first)",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('z'), Action::Zoom)],
        help: HelpLine::Row("zoom the step pane"),
        readme: Some(
            "zoom: the selected step's pane takes the whole screen and shows everything in it unabridged (the whole command or SQL, every check, the lag in full, the output file path); `z` again goes back",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('t'), Action::ToggleTimes)],
        help: HelpLine::SameRow("output times on/off"),
        readme: Some("each output line's arrival time (UTC) on/off"),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('R'), Action::Rollback)],
        help: HelpLine::Row("rollback plan; type ROLLBACK to execute it"),
        readme: Some(
            "the rollback plan; type `ROLLBACK` and enter to execute it, `esc` to close it with nothing sent",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('n'), Action::CancelCountdown)],
        help: HelpLine::Row("stop a trigger's automatic rollback countdown"),
        readme: Some(
            "stop a trigger's automatic-rollback countdown (shown in the banner); while one counts down, `n` stops it whatever is open: it answers no to a question and is not typed into a text box",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('c'), Action::Reconcile)],
        help: HelpLine::Row("reconcile now"),
        readme: Some("run every reconcile check now (in the background; the cockpit stays live)"),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('v'), Action::ToggleReconcileView)],
        help: HelpLine::SameRow("show the differing keys"),
        readme: Some(
            "show the reconcile results and the differing keys (both sides' values) in place of the output, every one of them (`PgUp`/`PgDn`, `g`/`G` scroll it); `v` again goes back",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('S'), Action::ToggleSummary)],
        help: HelpLine::Row("the run's summary, once it is over"),
        readme: Some(
            "once the run is over: its summary (each step's state, time against plan and attempts, the decisions with their reasons, triggers, the rollback, what is left to undo by hand) in place of the output, shown at the end by itself; `S` again or `j`/`k` go back",
        ),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Esc, Action::Escape)],
        help: HelpLine::Row("clear the status line · close a pop-up"),
        readme: Some("clear the status line · close a pop-up"),
    },
    KeyEntry {
        keys: &[Binding::new(Key::Char('?'), Action::Help)],
        help: HelpLine::Row("this help"),
        readme: Some("the key map"),
    },
    KeyEntry {
        keys: &[
            Binding::new(Key::Char('q'), Action::Quit),
            Binding::new(Key::CtrlC, Action::Interrupt).named(Named::NotInBar),
        ],
        help: HelpLine::Row("leave: detach (the run goes on) or end the run"),
        readme: Some(
            "leave. It asks: `d` detach (the run goes on without this terminal; `cutover attach` comes back to it), `e` end the run (a running step is cancelled, its process group killed; resume later with `cutover run --resume JOURNAL`), `esc` stay. A second `ctrl-c` detaches. A watcher (`cutover watch`) just leaves.",
        ),
    },
    // The answers to "leave how?"; the question names them.
    KeyEntry {
        keys: &[
            Binding::new(Key::Char('d'), Action::Detach).named(Named::Nowhere),
            Binding::new(Key::Char('e'), Action::EndRun).named(Named::Nowhere),
        ],
        help: HelpLine::Hidden,
        readme: None,
    },
    // The answers to a yes/no question; the question names them.
    KeyEntry {
        keys: &[
            Binding::new(Key::Char('y'), Action::Yes).named(Named::Nowhere),
            Binding::new(Key::Char('Y'), Action::Yes).named(Named::Nowhere),
            Binding::new(Key::Char('n'), Action::No).named(Named::Nowhere),
            Binding::new(Key::Char('N'), Action::No).named(Named::Nowhere),
        ],
        help: HelpLine::Hidden,
        readme: None,
    },
];
