//! What the operator asks for, in the cockpit's words rather than the terminal's: the key table
//! ([`keymap`](super::keymap)) names the keys for each [`Action`], the terminal layer turns key
//! presses into actions, and [`App::update`](super::App::update) acts on them.

use tui_input::InputRequest;

/// One thing the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `enter`: run the next step, open the box for a confirmation word, submit a typed text,
    /// close the help.
    Enter,
    /// Retry a failed step, re-run an interrupted one, retry a failed rollback action.
    Retry,
    /// Skip a failed step (or a failed rollback action): opens the box for the reason.
    Skip,
    /// Mark an interrupted step done: opens the box for the reason.
    MarkDone,
    /// End the run at a decision point (asks first).
    Abort,
    /// Cancel the running step, killing its process group (asks first).
    CancelStep,
    /// Open the rollback plan.
    Rollback,
    /// Stop a fired trigger's automatic-rollback countdown.
    CancelCountdown,
    /// Stop the process group an interrupted attempt left running in the earlier session
    /// (asks first), so it can be re-run without doing its work twice.
    StopInterrupted,
    /// Run every reconcile check now.
    Reconcile,
    /// Show the reconcile results in place of the output, or the output again.
    ToggleReconcileView,
    /// Show the run's summary in place of the output (once the run is over), or the output.
    ToggleSummary,
    /// Select the step below.
    SelectNext,
    /// Select the step above.
    SelectPrev,
    /// Scroll the output one visible page towards older lines.
    PageUp,
    /// Scroll the output one visible page towards newer lines.
    PageDown,
    /// Scroll to the oldest kept output line.
    Top,
    /// Scroll to the newest output line and follow it.
    Bottom,
    /// Follow the newest output, or stop following it.
    ToggleFollow,
    /// `A`: sign off a role of the approve step that waits (any terminal may).
    Approve,
    /// `/`: search the selected step's output.
    Search,
    /// The next match of the search towards older lines (`n` while a search is on and no
    /// countdown runs; `n` stops a countdown first).
    SearchNext,
    /// The next match towards newer lines.
    SearchPrev,
    /// The detail pane full screen, everything in it unabridged, or back.
    Zoom,
    /// Show each output line's arrival time, or not.
    ToggleTimes,
    /// Open (or close) the key map.
    Help,
    /// `esc`: clear the status line, close a pop-up.
    Escape,
    /// `q`: quit (asks first while a step runs; ends the run otherwise).
    Quit,
    /// `ctrl-c`: quit from anywhere, even from a text box; answers yes to "quit while a step
    /// runs?".
    Interrupt,
    /// Leave a detached run to itself: the terminal goes, the run goes on (an answer to
    /// "leave how?").
    Detach,
    /// End the run before leaving (an answer to "leave how?").
    EndRun,
    /// Yes to the open question.
    Yes,
    /// No to the open question.
    No,
    /// A character typed into the open text box.
    Type(char),
    /// Any other edit of the open text box (delete, move the cursor).
    Edit(InputRequest),
}

/// What the keyboard is talking to; it decides what a key means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyContext {
    /// The screen or the help overlay: letters are commands.
    Commands,
    /// A yes/no question: `y` and `n` answer it.
    Question,
    /// A text box: letters are text; `enter`, `esc` and `ctrl-c` keep their meaning.
    Text,
}

impl Action {
    /// Whether this action means something in `ctx`: a key bound to it is looked up there only.
    pub fn applies_in(self, ctx: KeyContext) -> bool {
        match self {
            Action::Enter | Action::Escape | Action::Interrupt => true,
            Action::Yes | Action::No | Action::Detach | Action::EndRun => {
                ctx == KeyContext::Question
            }
            Action::Type(_) | Action::Edit(_) => ctx == KeyContext::Text,
            _ => ctx == KeyContext::Commands,
        }
    }
}

impl From<InputRequest> for Action {
    /// A text edit; inserting a character is [`Action::Type`].
    fn from(req: InputRequest) -> Self {
        match req {
            InputRequest::InsertChar(c) => Action::Type(c),
            other => Action::Edit(other),
        }
    }
}
