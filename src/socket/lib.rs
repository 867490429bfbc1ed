//! `cutover-socket`: a run that belongs to a background engine process, and the terminals that
//! come and go around it (DESIGN: the detached engine).
//!
//! * [`rundir`]: where runs listen — `$XDG_RUNTIME_DIR/cutover/` (else `/tmp/cutover-$UID/`),
//!   directory 0700, one socket (0600) and one description file per run — and the listing
//!   behind `cutover ls`;
//! * [`wire`]: the protocol, JSON Lines of [`wire::ClientMsg`] and [`wire::ServerMsg`] around
//!   the engine's own `Command`s and `Event`s, after a versioned handshake;
//! * [`history`]: what a terminal that attaches mid-run is sent first: the run so far, kept
//!   bounded (the newest output, the last half hour of lag) so the screen can be drawn at once;
//! * [`server`]: the engine behind the socket — every connection's peer uid checked, one
//!   controlling terminal, any number of watchers, each with its own queue, bounded in bytes
//!   (`live`: a terminal that falls behind gets a fresh snapshot, and never slows the engine or
//!   makes it hold a flood);
//! * `tail`: what a terminal that keeps only each step's newest output lines (the cockpit) is
//!   sent of a flood: gathered for a moment, without the lines it would drop at once;
//! * [`client`]: connecting, the handshake, and a channel bridge for a front end.
//!
//! No terminal code lives here.

pub mod claim;
pub mod client;
pub mod fleet;
pub mod fleet_session;
#[cfg(test)]
mod fleet_tests;
pub mod history;
mod live;
pub mod rundir;
pub mod server;
#[cfg(test)]
mod server_tests;
mod session;
#[cfg(test)]
mod signoff_tests;
pub mod status;
mod tail;
pub mod wire;

/// Asserts that `text` holds `want`; a failure shows what was missing and the whole text.
#[cfg(test)]
#[track_caller]
pub(crate) fn has(text: &str, want: &str) {
    assert!(text.contains(want), "{want:?} is not in:\n{text}");
}
