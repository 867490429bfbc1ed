//! The integration test binary (one binary keeps link time down on small machines).

mod architecture;
mod attacks;
mod check_attacks;
mod corpus;
mod crash;
mod detach;
mod drift;
mod drill;
mod engine;
mod gate;
mod pg;
mod pty;
mod reconcile;
mod reconcile_scale;
mod report;
mod rollback;
mod signoff;
mod sql;
mod support;
mod term;
mod triggers;
