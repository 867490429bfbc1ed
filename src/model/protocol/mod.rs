//! The protocol between the engine and its front ends: [`Command`]s in, [`Event`]s out.
//!
//! Both are serde types (JSON with a `type` tag in snake_case), so the same engine serves the
//! cockpit, `--headless` (`--json` prints the events as they are), the tests, and the journal,
//! which is the events that matter ([`Event::journaled`]), one per line. Every text in an
//! event is already masked.
//!
//! * [`run`]: what a front end learns first: the run ([`RunInfo`]) and its steps
//!   ([`StepInfo`]), the lag probe ([`LagInfo`]), who runs it ([`Operator`]);
//! * [`step`]: how attempts end and what the operator decides ([`StepOutcome`],
//!   [`CheckResult`], [`DecisionKind`], [`OperatorAction`], [`RunOutcome`]);
//! * [`rollback`]: the rollback plan ([`RollbackPlan`]);
//! * [`event`] and [`command`]: the messages themselves;
//! * [`record`]: one journal line ([`Record`]): an event and when it was written.

pub mod command;
pub mod event;
pub mod front;
pub mod record;
pub mod repair;
pub mod rollback;
pub mod run;
pub mod step;

pub use crate::runbook::TriggerAction;
pub use command::{Command, ROLLBACK_WORD};
pub use event::{ClientChange, ClientRole, Event, Level};
pub use front::Incoming;
pub use record::Record;
pub use repair::RepairRecord;
pub use rollback::{PonrCrossed, RollbackEntry, RollbackPlan};
pub use run::{LagInfo, Operator, PeerFacts, RunInfo, StepInfo, StepKind};
pub use step::{
    CheckResult, DecisionKind, OperatorAction, RunOutcome, StepOutcome, StepState, Stream,
};
