//! Rendering: one file per pane, all drawing from `&App` and a [`Theme`](super::theme::Theme).
//! `layout.rs` opens with a sketch of the screen.

pub mod detail;
pub mod header;
pub mod help;
pub mod lag;
pub mod layout;
pub mod output;
pub mod preflight;
pub mod prompt;
pub mod reconcile;
pub mod reconcile_detail;
pub mod status;
pub mod steps;
pub mod summary;
#[cfg(test)]
mod tests;
pub mod text;

pub use layout::render;
