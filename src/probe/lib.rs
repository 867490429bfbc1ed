//! `cutover-probe`: reading replication lag while the cutover runs (DESIGN §5).
//!
//! [`LagProbe::spawn`] starts one task that polls the runbook's `[lag]` source once per
//! interval and publishes the latest [`LagSample`](cutover_model::lag::LagSample) through a
//! `tokio::sync::watch` channel ([`poller`]). A poll that fails or hangs never freezes the
//! reading: the sample turns stale with the error, and the session reconnects with backoff
//! ([`session`]). One file per method: [`streaming`], [`logical`], [`heartbeat`], [`sql`],
//! [`command`].
//!
//! No terminal code lives here (the crate does not depend on ratatui or crossterm).
#![forbid(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod command;
pub mod heartbeat;
pub mod logical;
pub mod number;
pub mod poller;
pub mod session;
pub mod sql;
pub mod streaming;

pub use poller::{LagProbe, ProbeError, ProbeSpec, ProbeStats, lag_info};
