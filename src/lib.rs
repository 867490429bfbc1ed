//! `cutover`: a terminal cockpit for database-migration cutover day.
//!
//! The [`engine`] runs runbooks without any terminal code; front ends (the cockpit,
//! `--headless`) drive it through [`engine::Command`] and [`engine::Event`].
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod app;
pub mod cli;
pub mod drill;
pub mod engine;
pub mod headless;
pub mod pg;
pub mod probe;
pub mod reconcile;
pub mod tui;
