//! The integration test binary (one binary keeps link time down on small machines).

mod architecture;
mod engine;
mod rollback;
mod support;
