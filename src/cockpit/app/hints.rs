//! Hints that name keys, worded once, the keys taken from the key table (a hint never names
//! a key the table does not bind).

use super::action::Action;
use super::keymap::key_of;
use cutover_model::protocol::DecisionKind;

/// What preflight's refusal leaves to do: `s starts anyway with a reason (journaled) · a ends
/// the run`.
pub fn preflight_blocked() -> String {
    format!(
        "preflight failed: {} starts anyway with a reason (journaled) · {} ends the run",
        key_of(Action::Skip),
        key_of(Action::Abort)
    )
}

/// The choices of a decision: `the step did not pass: r retry · s skip (with a reason) · a
/// abort`.
pub fn deciding(kind: DecisionKind) -> String {
    let (r, s, d, a) = (
        key_of(Action::Retry),
        key_of(Action::Skip),
        key_of(Action::MarkDone),
        key_of(Action::Abort),
    );
    match kind {
        DecisionKind::Failed => {
            format!("the step did not pass: {r} retry · {s} skip (with a reason) · {a} abort")
        }
        DecisionKind::Interrupted => {
            format!("outcome unknown: {r} re-run · {d} mark done (with a reason) · {a} abort")
        }
        DecisionKind::RollbackFailed => format!(
            "the rollback action did not pass: {r} retry · {s} skip (with a reason) · {a} abort the rollback"
        ),
        DecisionKind::RollbackInterrupted => format!(
            "rollback action outcome unknown: {r} re-run · {s} skip (with a reason) · {a} abort the rollback"
        ),
    }
}

/// The leave question's footer: ` d detach · e end the run · esc stay `.
pub fn leave_footer() -> String {
    format!(
        " {} detach · {} end the run · {} stay ",
        key_of(Action::Detach),
        key_of(Action::EndRun),
        key_of(Action::Escape)
    )
}

/// A pop-up's footer naming enter and esc: ` enter confirm · esc hide `.
pub fn enter_esc_footer(enter: &str, esc: &str) -> String {
    format!(
        " {} {enter} · {} {esc} ",
        key_of(Action::Enter),
        key_of(Action::Escape)
    )
}

/// A pop-up's footer naming esc alone: ` esc close `.
pub fn esc_footer(esc: &str) -> String {
    format!(" {} {esc} ", key_of(Action::Escape))
}

/// `Type WORD and press enter to …`: what a typed word's box asks.
pub fn type_and_enter(word: &str, then: &str) -> String {
    format!("Type {word} and press {} to {then}.", key_of(Action::Enter))
}

/// A yes/no question's footer: ` y yes · n no `.
pub fn yes_no_footer() -> String {
    format!(" {} yes · {} no ", key_of(Action::Yes), key_of(Action::No))
}
