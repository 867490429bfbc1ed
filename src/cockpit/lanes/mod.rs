//! The fleet cockpit's lanes screen: one lane per member of a fleet, failures first.
//!
//! * [`app`]: the state machine ([`LanesApp`]): keys and fleet views in, [`LanesEffect`]s
//!   out; pure, so every key path is a unit test.
//! * [`keys`]: the key table ([`KEYS`]) the footer, the help and the README are made from.
//! * [`confirm`]: the typed confirmation (the count of members) before a command is sent.
//! * [`scroll`]: scrolling that keeps the failing lanes on screen.
//! * [`view`]: drawing, one file per pane.
//! * [`run`](mod@run): owns the terminal and runs the loop between the keyboard, the fleet's
//!   views and the app.

pub mod app;
pub mod confirm;
pub mod keys;
pub mod run;
pub mod scroll;
#[cfg(test)]
mod tests;
pub mod view;

pub use app::{LanesApp, LanesEffect};
pub use keys::KEYS;
pub use run::{LanesLeft, LanesLink, run};
