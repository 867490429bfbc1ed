//! The headless engine: runbook model, executor, journal. No terminal code lives here
//! (`tests/architecture.rs` enforces it).

pub mod event;
pub mod exec;
pub mod journal;
pub mod resume;
pub mod runbook;
pub mod runner;
pub mod secrets;

pub use event::{Command, Event};
pub use runner::{Engine, EngineError, EngineOptions, JournalChoice};
