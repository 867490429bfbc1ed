//! The key table: no key means two things in one place, and every action has a key.

use super::*;
use crate::app::action::KeyContext;

const CONTEXTS: [KeyContext; 3] = [KeyContext::Commands, KeyContext::Question, KeyContext::Text];

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

#[test]
fn every_action_has_a_key() {
    use Action::*;
    for a in [
        Enter,
        Retry,
        Skip,
        MarkDone,
        Abort,
        CancelStep,
        Rollback,
        CancelCountdown,
        Reconcile,
        ToggleReconcileView,
        SelectNext,
        SelectPrev,
        PageUp,
        PageDown,
        Top,
        Bottom,
        ToggleFollow,
        Help,
        Escape,
        Quit,
        Interrupt,
        Yes,
        No,
    ] {
        assert!(
            KEYMAP.iter().flat_map(|e| e.keys).any(|b| b.action == a),
            "no key for {a:?}"
        );
    }
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
