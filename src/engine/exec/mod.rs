//! Executing step actions.

pub mod expect;
pub mod shell;
