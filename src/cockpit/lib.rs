//! `cutover-cockpit`: the full-screen cockpit.
//!
//! * [`app`]: the UI state machine. [`app::App::update`] takes a [`app::Msg`] (an operator
//!   action, a tick, a resize, an engine event) and returns [`app::Effect`]s; pure — no
//!   terminal, no clock, no I/O — so every key path is a unit test.
//! * [`lanes`]: the fleet cockpit's lanes screen (one lane per member of a fleet): its own
//!   state machine, view and run loop.
//! * [`tui`]: owns the terminal (raw mode and the alternate screen, restored on every way
//!   out), runs the event loop between the keyboard, the engine and the app, and draws one
//!   pane per file ([`tui::view`]) in a theme ([`tui::theme`]).
//!
//! The cockpit knows the engine only through the protocol of `cutover-model`: it sends
//! [`Command`](cutover_model::protocol::Command)s and receives
//! [`Event`](cutover_model::protocol::Event)s over channels.

pub mod app;
pub mod lanes;
pub mod tui;

/// Asserts that `text` holds `want`; a failure shows what was missing and the whole text.
#[cfg(test)]
#[track_caller]
pub(crate) fn has(text: &str, want: &str) {
    assert!(text.contains(want), "{want:?} is not in:\n{text}");
}
