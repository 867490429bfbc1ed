//! `cutover-model`: the vocabulary every other cutover crate speaks.
//!
//! * [`runbook`]: the TOML runbook — parsed, validated (every error located at
//!   `file:line:col`), with its units ([`runbook::Dur`], [`runbook::Threshold`]) and
//!   `${...}` templates;
//! * [`protocol`]: what a front end and the engine say to each other — [`protocol::Command`]s
//!   in, [`protocol::Event`]s out — serde types that travel over channels, the journal, and
//!   the detached engine's socket;
//! * [`file`]: reading a file the user names — a regular file only, bounded;
//! * [`fleet`]: a fleet file — one runbook over many databases, each a member with its own
//!   vars and secrets, and the rules (concurrency, canary, halt) that tie them together;
//! * [`lag`] and [`reconcile`]: the values those events carry (lag samples, reconcile results
//!   and progress);
//! * [`narrate`]: one wording for events, shared by the cockpit and `--headless`;
//! * [`secrets`]: reading `[secrets]` from the environment and masking them everywhere text
//!   leaves cutover;
//! * [`ident`]: quoting SQL identifiers and literals;
//! * [`host`]: this machine's name and this process's user, for the operator record;
//! * [`text`]: text from outside made plain (no terminal escape sequences) before it is shown,
//!   journaled or masked.
//!
//! No database, no terminal: this crate depends on neither.
//!
//! ```
//! use cutover_model::runbook::Runbook;
//! let rb = Runbook::parse(
//!     "rb.toml",
//!     "[runbook]\nname = \"demo\"\n\n[[step]]\nid = \"hello\"\ntitle = \"Say hello\"\nrun = \"echo hello\"\n",
//!     &Default::default(),
//! )
//! .expect("a valid runbook");
//! assert_eq!(rb.steps[0].id, "hello");
//! ```

pub mod file;
pub mod fleet;
pub mod host;
pub mod ident;
pub mod inventory;
pub mod lag;
pub mod narrate;
pub mod preflight;
pub mod proc_stat;
pub mod protocol;
pub mod reconcile;
pub mod runbook;
pub mod runbook_writer;
pub mod secrets;
pub mod shown;
pub mod summary;
pub mod text;

/// Serde's `skip_serializing_if` for counters that are mostly zero.
pub fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Asserts that `text` holds `want`; a failure shows what was missing and the whole text.
#[cfg(test)]
#[track_caller]
pub(crate) fn has(text: &str, want: &str) {
    assert!(text.contains(want), "{want:?} is not in:\n{text}");
}
