//! `cutover-engine`: runs a runbook, step by step, with no terminal code.
//!
//! [`Engine::prepare`] reads the secrets, resolves the connections and opens (or resumes) the
//! journal; [`Engine::run`] then walks the steps, driven by
//! [`Command`](cutover_model::protocol::Command)s and reporting
//! [`Event`](cutover_model::protocol::Event)s, each journaled and fsynced ([`journal`]) before
//! it is reported. The same engine serves the cockpit, `--headless` and the tests.
//!
//! * `runner/`: the step loop, decisions, shell/SQL/wait/confirm steps, lag gates,
//!   reconciliation, triggers and the rollback (its `mod.rs` maps the parts);
//! * [`journal`]: the JSON Lines record of a run; `resume.rs` rebuilds a run's state from it;
//! * `expect.rs`: a step's `expect = {...}` checked against its output;
//! * [`check_run`]: one reconcile check with its re-check after the lag drains, [`values_file`]:
//!   the whole values of long differences, [`masking`]: every text of an event masked (the
//!   engine's runs and `cutover reconcile` share them);
//! * [`preflight`]: what a run checks before step 1; [`inventory`]: the catalog reading of
//!   `cutover init`.

pub mod check_run;
mod expect;
pub mod files;
pub mod inventory;
pub mod journal;
pub mod masking;
pub mod metrics_file;
pub mod notify;
pub mod preflight;
mod resume;
mod runner;
pub mod values_file;

pub use runner::{Engine, EngineError, EngineOptions, JournalChoice, sleep_until};

/// Asserts that `text` holds `want`; a failure shows what was missing and the whole text.
#[cfg(test)]
#[track_caller]
pub(crate) fn has(text: &str, want: &str) {
    assert!(text.contains(want), "{want:?} is not in:\n{text}");
}
