//! What reaches a front end from its run, beyond the engine's events: a front end attached to
//! a detached run is sent the run so far, may lose the controls to another terminal, and is
//! told when the host refuses something.

use super::{ClientRole, Event, Operator};

/// What reaches a front end from its run.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The run so far: replaces what the front end shows.
    Snapshot(Vec<Event>),
    /// One live event.
    Event(Event),
    /// This terminal's role changed (another terminal took control).
    Role {
        /// The new role.
        role: ClientRole,
        /// Who took control.
        by: Option<Operator>,
    },
    /// Something the run's host says: a refused command, a resynchronisation.
    Note(String),
}
