//! The engine: walks the runbook step by step, driven by [`Command`]s, reporting [`Event`]s,
//! journaling each event (fsynced) before it is reported.
//!
//! [`Engine`] ([`engine.rs`](engine)) prepares a run and hands its parts to a [`Runner`] for
//! the length of the run. The runner's state is split by concern, each part owned and changed
//! through its own methods:
//!
//! | part | file | holds |
//! |---|---|---|
//! | `io` | `io.rs` | the journal and the event channel: journal first, then report |
//! | `mailbox` | `mailbox.rs` | operator commands in, and the engine clock |
//! | `steps` | `step_book.rs` | each step's state and attempts, the point of no return crossed |
//! | `rollback` | `rollback.rs` | the rollback plan, its progress and execution |
//! | `triggers` | `triggers.rs` | per-trigger state, the automatic-rollback countdown |
//! | `sessions` | `sql_step.rs` | open SQL sessions by connection; `sql` steps and SQL waits (their results: `sql_result.rs`) |
//! | `lag` | `lag_watch.rs` | the lag probe's samples; `lag_below` gates |
//! | `recon` | `reconciler.rs` | reconcile checks on their own tasks; `reconcile` gates |
//!
//! The step loop and the decision points are in `drive.rs`; one attempt of each kind of step
//! in `attempt.rs`; a shell command with its streamed output in `shell_step.rs`.

mod approve;
mod attempt;
mod drive;
mod engine;
mod hold;
mod io;
mod lag_watch;
mod mailbox;
mod preflight_gate;
mod progress_poll;
mod race;
mod reconciler;
mod repair_apply;
mod repair_step;
mod resumed;
mod rollback;
mod shell_step;
mod sql_result;
mod sql_step;
mod sql_words;
mod step_book;
mod sync_step;
mod triggers;
mod waiting;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cutover_model::protocol::{CheckResult, Operator, StepOutcome};
use cutover_model::runbook::Runbook;
use cutover_model::secrets::Masker;
use cutover_pg::ConnSettings;
use cutover_shell::ShellExit;

pub use engine::{Engine, EngineError, EngineOptions, JournalChoice};
pub use race::sleep_until;

/// Why a running step (or a wait for the operator) stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    /// The operator cancelled the step.
    Cancel,
    /// The operator ended the run.
    Abort(Option<String>),
    /// The operator (or a trigger) started the rollback.
    Rollback,
}

/// The result of one step attempt.
struct Attempt {
    outcome: StepOutcome,
    exit_code: Option<i32>,
    checks: Vec<CheckResult>,
    message: Option<String>,
    output_file: Option<String>,
}

impl Attempt {
    /// An attempt judged by one check (waits and gates).
    fn checked(
        name: &str,
        outcome: StepOutcome,
        detail: String,
        passed: bool,
        message: Option<String>,
    ) -> Attempt {
        Attempt {
            outcome,
            exit_code: None,
            checks: vec![CheckResult {
                name: name.to_string(),
                passed,
                detail,
            }],
            message,
            output_file: None,
        }
    }

    /// A wait step's attempt that ended `outcome`, `detail` saying how: also its message when
    /// the wait failed or timed out, none when it passed or the operator stopped it.
    fn waited(outcome: StepOutcome, detail: String) -> Attempt {
        let failed = matches!(outcome, StepOutcome::Failed | StepOutcome::TimedOut);
        let message = failed.then(|| detail.clone());
        let passed = outcome == StepOutcome::Passed;
        Attempt::checked("wait", outcome, detail, passed, message)
    }

    /// An attempt that failed before any check could be made.
    fn failed(message: String) -> Attempt {
        Attempt {
            outcome: StepOutcome::Failed,
            exit_code: None,
            checks: vec![],
            message: Some(message),
            output_file: None,
        }
    }
}

/// An attempt that ran to its end, or was stopped (with what was seen so far).
type AttemptResult = Result<Result<Attempt, (Attempt, Stop)>, EngineError>;

/// A run in progress: what does not change during the run (borrowed from the [`Engine`]),
/// and the parts of its state, each owned and changed through its own methods.
struct Runner<'a> {
    rb: &'a Runbook,
    secrets: &'a BTreeMap<String, String>,
    masker: &'a Masker,
    /// Who drives the run now: the session's operator, or whoever attached in control since.
    operator: Operator,
    /// Resolved `[connections]`.
    conns: &'a BTreeMap<String, ConnSettings>,
    /// Where the steps' full output files go.
    output_dir: PathBuf,
    /// The journal's path (preflight checks the room beside it).
    journal_path: PathBuf,
    /// `--metrics-file`, when the run keeps one (preflight checks it).
    metrics_path: Option<PathBuf>,
    io: io::Io<'a>,
    mailbox: mailbox::Mailbox<'a>,
    steps: step_book::StepBook,
    rollback: rollback::RollbackBook,
    triggers: triggers::Triggers,
    sessions: sql_step::SqlSessions,
    /// The lag probe, when `[lag]` is configured.
    lag: Option<lag_watch::LagWatch>,
    recon: reconciler::Reconciler,
    /// The sha256 the journal holds for each inverse repair patch saved (this session's and
    /// the journal's), by file name in the run's output directory (the journal's path may be
    /// spelled otherwise by the session that resumes it): a rollback applies an inverse only
    /// while the file still has it.
    inverse_digests: BTreeMap<std::ffi::OsString, repair_step::InverseOnRecord>,
}

/// The parts of a [`Runner`] a step kind uses when it reads and changes databases and shows
/// what it did, but does not answer the operator meanwhile (`sync_sequences`; a repair's
/// patch applied, and its inverse as the rollback): it cannot touch the steps' states, the
/// triggers, the rollback plan or the mailbox.
struct StepParts<'r, 'a> {
    /// Resolved `[connections]`.
    conns: &'a BTreeMap<String, ConnSettings>,
    /// Masks what the step shows.
    masker: &'a Masker,
    /// The journal and the event channel.
    io: &'r mut io::Io<'a>,
}

impl<'a> Runner<'a> {
    /// The parts a step kind that does not answer the operator uses.
    fn parts(&mut self) -> StepParts<'_, 'a> {
        StepParts {
            conns: self.conns,
            masker: self.masker,
            io: &mut self.io,
        }
    }
}

/// How a shell attempt ended, in the engine's words: outcome and, when not passed, why.
fn classify(
    exit: &ShellExit,
    checks: &[CheckResult],
    timeout: Option<Duration>,
) -> (StepOutcome, Option<String>) {
    if exit.timed_out {
        let t = timeout.map_or(
            String::new(),
            cutover_model::runbook::units::format_duration,
        );
        return (
            StepOutcome::TimedOut,
            Some(format!("timed out after {t}; its process group was killed")),
        );
    }
    if exit.cancelled {
        return (
            StepOutcome::Cancelled,
            Some("stopped by the operator; its process group was killed".into()),
        );
    }
    match checks.iter().find(|c| !c.passed) {
        Some(c) => (StepOutcome::Failed, Some(c.detail.clone())),
        None => (StepOutcome::Passed, None),
    }
}
