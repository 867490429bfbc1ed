//! The integration test binary (one binary keeps link time down on small machines).

mod architecture;
mod corpus;
mod drill;
mod engine;
mod pg;
mod pty;
mod rollback;
mod support;
mod triggers;
