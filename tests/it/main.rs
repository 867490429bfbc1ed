//! The integration test binary (one binary keeps link time down on small machines).
// Tests send signals, make FIFOs and read process ids through libc (`unsafe`, each block
// saying why), and unwrap freely: a panic is the failure message.
#![allow(unsafe_code, clippy::unwrap_used)]

mod architecture;
mod attacks;
mod check_attacks;
mod corpus;
mod crash;
mod detach;
mod drift;
mod drill;
mod engine;
mod engine_attacks;
mod fleet;
mod fleet_attacks;
mod fleet_lanes;
mod gate;
mod hashing;
mod init;
mod notify;
mod output_attacks;
mod pg;
mod preflight;
mod pty;
mod reconcile;
mod reconcile_scale;
mod repair;
mod repair_attacks;
mod report;
mod rollback;
mod run_metrics;
mod signoff;
mod sql;
mod support;
mod term;
mod triggers;
