//! `cutover-report`: what the team needs the morning after a cutover, from its journal alone —
//! the run's report as Markdown ([`markdown`]), one self-contained HTML file with inline SVG
//! ([`html`]) or JSON ([`json`]); several rehearsals lined up step by step ([`compare`]); and
//! the report of a drift watch's journal (`cutover reconcile`: its rounds, not a run,
//! [`drift`]).
//!
//! The facts come from [`cutover_model::summary::RunSummary`], the fold the cockpit's end
//! screen also reads ([`Report::from_records`]); this crate only renders them. A journal cut
//! off by a crash still reports, marked incomplete. It reads records already read
//! ([`cutover_model::protocol::Record`]) and returns text: reading the journal, writing the
//! file and the exit code are the binary's (`cutover report`). No engine, no database, no
//! terminal: this crate depends on none of them.

pub mod compare;
pub mod drift;
mod facts;
pub mod fleet;
pub mod html;
pub mod markdown;
mod svg;

pub use compare::Comparison;
pub use drift::{DriftReport, is_drift_watch};
pub use facts::Report;
pub use fleet::FleetReport;

/// `value` as the report's JSON (`--json`): pretty-printed, ending in a newline.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(value).map(|t| t + "\n")
}

/// Asserts that `text` holds `want`; a failure shows what was missing and the whole text.
#[cfg(test)]
#[track_caller]
pub(crate) fn has(text: &str, want: &str) {
    assert!(text.contains(want), "{want:?} is not in:\n{text}");
}
