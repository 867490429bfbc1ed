//! `cutover-probe`: reading replication lag while the cutover runs.
//!
//! [`LagProbe::spawn`] starts one task that polls the runbook's `[lag]` source once per
//! interval and publishes the latest [`LagSample`](cutover_model::lag::LagSample) through a
//! `tokio::sync::watch` channel (`poller.rs`). A poll that fails or hangs never freezes the
//! reading: the sample turns stale with the error, and the session reconnects with backoff
//! (`session.rs`). One file per method: `streaming.rs`, `logical.rs`, `heartbeat.rs`,
//! `sql.rs`, `command.rs`. [`lag_info`] says what a `[lag]` section measures and in which
//! unit, for every front end.
//!
//! No terminal code lives here (the crate does not depend on ratatui or crossterm).

mod command;
mod heartbeat;
mod logical;
mod number;
mod poller;
mod session;
mod sql;
mod streaming;

pub use poller::{LagProbe, ProbeError, ProbeSpec, ProbeStats, lag_info};
