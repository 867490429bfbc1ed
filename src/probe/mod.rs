//! Live probes of a running migration. [`lag`] runs the `[lag]` probe: one task polling once
//! per interval and publishing the latest [`LagSample`] through a `tokio::sync::watch`
//! channel; one file per method ([`streaming`], [`logical`], [`heartbeat`], [`sql`],
//! [`command`]).
//!
//! No terminal code lives here (no ratatui, no crossterm).

pub mod command;
pub mod heartbeat;
pub mod lag;
pub mod logical;
pub mod number;
pub mod sample;
pub mod session;
pub mod sql;
pub mod streaming;

pub use lag::{LagProbe, ProbeError, ProbeSpec, ProbeStats};
pub use sample::{LagSample, LagUnit, Reading};
