//! The integration test binary: one module per area.

mod pg;
mod reconcile;
