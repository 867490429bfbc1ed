//! The engine: walks the runbook step by step, driven by [`Command`]s, reporting [`Event`]s,
//! journaling each event (fsynced) before it is reported.
//!
//! `mod.rs` prepares a run; `drive.rs` is the step loop and decision points; `steps.rs`
//! executes each kind of step; `exec.rs` runs one shell command with streamed output;
//! `rollback.rs` builds and executes the rollback plan.

mod drive;
mod exec;
mod lag_watch;
mod reconcile;
mod rollback;
mod sql;
mod steps;
mod triggers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::journal::{self, Journal, JournalError};
use crate::resume::{self, Done, Restored};
use cutover_model::protocol::*;
use cutover_model::runbook::{Action, RollbackAction, Runbook, WaitCond};
use cutover_model::secrets::{self, Masker, MissingSecret};
use cutover_shell::ShellExit;

/// Where the journal goes.
#[derive(Debug, Clone)]
pub enum JournalChoice {
    /// A new journal at this path.
    New(PathBuf),
    /// Continue this journal.
    Resume(PathBuf),
}

/// How to start the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Journal.
    pub journal: JournalChoice,
    /// Continue even though the runbook changed since the journal started.
    pub accept_changed_runbook: bool,
    /// Who is running it.
    pub operator: Operator,
}

/// Why the engine could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A secret is missing from the environment.
    #[error(transparent)]
    Secret(#[from] MissingSecret),
    /// The journal failed; nothing more can be recorded, so the run stops.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The runbook differs from the one the journal ran.
    #[error(
        "{runbook} changed since journal {journal} was started (sha256 {old:.12}… → {new:.12}…):\n{diff}\nRe-run with --accept-changed-runbook to continue with the changed runbook."
    )]
    RunbookChanged {
        /// Runbook path.
        runbook: String,
        /// Journal path.
        journal: String,
        /// Old sha256.
        old: String,
        /// New sha256.
        new: String,
        /// The shown difference.
        diff: String,
    },
    /// A `[connections]` DSN cannot be used.
    #[error(transparent)]
    Connection(#[from] cutover_pg::ConnError),
    /// The `[lag]` probe cannot start.
    #[error(transparent)]
    Probe(#[from] cutover_probe::ProbeError),
    /// The journal's run was rolled back; it cannot be resumed.
    #[error(
        "the run in journal {journal} was rolled back at {at}; start a new run (without --resume) to try the cutover again"
    )]
    RolledBack {
        /// Journal path.
        journal: String,
        /// When the rollback finished.
        at: String,
    },
}

/// Per-step state inside the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Done(Done),
    Failed,
}

/// Why a running step (or a wait for the operator) stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Cancel,
    Abort(Option<String>),
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

/// A prepared run.
pub struct Engine {
    rb: Runbook,
    secrets: BTreeMap<String, String>,
    conns: BTreeMap<String, cutover_pg::ConnSettings>,
    masker: Masker,
    journal: Journal,
    operator: Operator,
    states: Vec<State>,
    attempts: Vec<u32>,
    restored: Option<Restored>,
    accepted_change: Option<(String, String)>,
}

impl Engine {
    /// Reads secrets, opens (or resumes) the journal, and restores state. Nothing runs yet.
    pub fn prepare(rb: Runbook, opts: EngineOptions) -> Result<Engine, EngineError> {
        let secrets = secrets::read_secrets(&rb.secrets)?;
        let masker = Masker::new(secrets.values().cloned());
        let conns = cutover_pg::conn::resolve_all(&rb.connections, &secrets)?;
        let n = rb.steps.len();
        let mut states = vec![State::Pending; n];
        let mut attempts = vec![0; n];
        let (journal, restored, accepted_change) = match &opts.journal {
            JournalChoice::New(p) => (Journal::create(p)?, None, None),
            JournalChoice::Resume(p) => {
                let (records, _torn) = journal::read(p)?;
                let r = resume::restore(&records);
                let Some(old) = r.sha256.clone() else {
                    return Err(JournalError::Empty {
                        path: p.display().to_string(),
                    }
                    .into());
                };
                if let Some(at) = r.rolled_back_at {
                    return Err(EngineError::RolledBack {
                        journal: p.display().to_string(),
                        at: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    });
                }
                let mut accepted = None;
                if old != rb.sha256 {
                    if !opts.accept_changed_runbook {
                        return Err(changed(&rb, &masker, p, &r, old));
                    }
                    accepted = Some((old, rb.sha256.clone()));
                }
                for (i, s) in rb.steps.iter().enumerate() {
                    if let Some(d) = r.done.get(&s.id) {
                        states[i] = State::Done(*d);
                    } else if r.failed.contains(&s.id) {
                        states[i] = State::Failed;
                    }
                    attempts[i] = r.attempts.get(&s.id).copied().unwrap_or(0);
                }
                (Journal::open_append(p)?, Some(r), accepted)
            }
        };
        Ok(Engine {
            rb,
            secrets,
            conns,
            masker,
            journal,
            operator: opts.operator,
            states,
            attempts,
            restored,
            accepted_change,
        })
    }

    /// The journal's path.
    pub fn journal_path(&self) -> &Path {
        self.journal.path()
    }

    /// The plan as the front end sees it.
    pub fn run_info(&self) -> RunInfo {
        let m = &self.masker;
        RunInfo {
            name: self.rb.name.clone(),
            owner: self.rb.owner.clone(),
            runbook: self.rb.path.clone(),
            sha256: self.rb.sha256.clone(),
            journal: self.journal.path().display().to_string(),
            window_start: self.rb.window.map(|w| w.start),
            window_minutes: self.rb.window.map(|w| w.minutes),
            steps: self
                .rb
                .steps
                .iter()
                .map(|s| StepInfo {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    kind: s.action.kind(),
                    command: m.mask(&s.action.display()).into_owned(),
                    notes: s.notes.clone(),
                    expected_ms: s.expected.map(|d| d.as_millis() as u64),
                    timeout_ms: s.timeout.map(|d| d.as_millis() as u64),
                    point_of_no_return: s.point_of_no_return.clone(),
                    rollback: s
                        .rollback
                        .as_ref()
                        .map(|r| m.mask(&rollback_display(r)).into_owned()),
                })
                .collect(),
            lag_configured: self.rb.lag.is_some(),
            lag: self.rb.lag.as_ref().map(cutover_probe::lag_info),
            reconcile: self.rb.reconcile.iter().map(|r| r.name.clone()).collect(),
            operator: self.operator.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Runs until the run completes, is rolled back, or is aborted.
    pub async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Result<RunOutcome, EngineError> {
        let info = self.run_info();
        let output_dir = journal::output_dir_for(self.journal.path());
        let text = self.masker.mask(&self.rb.source).into_owned();
        let n = self.rb.steps.len();
        let restored = self.restored.take();
        let lag = match &self.rb.lag {
            Some(config) => Some(lag_watch::LagState::new(cutover_probe::LagProbe::spawn(
                cutover_probe::ProbeSpec {
                    config: config.clone(),
                    connections: self.conns.clone(),
                    secrets: self.secrets.clone(),
                    env: steps::base_env(&self.rb, &self.secrets),
                },
            )?)),
            None => None,
        };
        let mut runner = Runner {
            rb: &self.rb,
            secrets: &self.secrets,
            masker: &self.masker,
            operator: &self.operator,
            io: Io {
                journal: &mut self.journal,
                events: &events,
            },
            cmds: &mut cmds,
            output_dir,
            states: std::mem::take(&mut self.states),
            attempts: std::mem::take(&mut self.attempts),
            rollback_attempts: vec![0; n],
            rolled_back: restored.as_ref().map_or_else(
                || vec![false; n],
                |r| {
                    self.rb
                        .steps
                        .iter()
                        .map(|s| r.rolled_back.contains(&s.id))
                        .collect()
                },
            ),
            rolling_back: false,
            ponr: None,
            tick: {
                let mut t = tokio::time::interval(Duration::from_secs(1));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            },
            trigger_state: self
                .rb
                .triggers
                .iter()
                .map(|t| triggers::TriggerState {
                    sql: match &t.when {
                        cutover_model::runbook::TriggerCond::Sql { sql, on } => {
                            self.conns.get(on).map(|c| {
                                triggers::SqlWatch::spawn(c.clone(), sql.render(&self.secrets))
                            })
                        }
                        _ => None,
                    },
                    ..Default::default()
                })
                .collect(),
            conns: &self.conns,
            clients: BTreeMap::new(),
            lag,
            recon: reconcile::Reconciler::new(),
            countdown: None,
            auto_rollback: None,
        };
        runner
            .io
            .emit(Event::RunStarted {
                run: Box::new(info),
            })
            .await?;
        runner.io.emit(Event::RunbookText { source: text }).await?;
        if let Some((old, new)) = self.accepted_change.take() {
            runner
                .operator_action(
                    None,
                    OperatorAction::AcceptChangedRunbook {
                        old_sha256: old,
                        new_sha256: new,
                    },
                )
                .await?;
        }
        let outcome = runner.drive(restored).await?;
        runner
            .io
            .emit(Event::RunFinished {
                outcome,
                at: Utc::now(),
            })
            .await?;
        Ok(outcome)
    }
}

fn changed(
    rb: &Runbook,
    masker: &Masker,
    journal: &Path,
    r: &Restored,
    old: String,
) -> EngineError {
    let now = masker.mask(&rb.source).into_owned();
    let diff = match &r.source {
        Some(before) => similar::TextDiff::from_lines(before.as_str(), now.as_str())
            .unified_diff()
            .context_radius(1)
            .header("journal", "now")
            .to_string(),
        None => "(the journal holds no copy of the earlier runbook)\n".into(),
    };
    EngineError::RunbookChanged {
        runbook: rb.path.clone(),
        journal: journal.display().to_string(),
        old,
        new: rb.sha256.clone(),
        diff,
    }
}

/// A rollback action as shown (before masking).
fn rollback_display(r: &RollbackAction) -> String {
    match r {
        RollbackAction::Run(t) => t.display(),
        RollbackAction::Sql { sql, on } => format!("[{on}] {}", sql.display()),
    }
}

/// Journal + event channel: every journaled event is fsynced before it is sent.
struct Io<'a> {
    journal: &'a mut Journal,
    events: &'a mpsc::Sender<Event>,
}

impl Io<'_> {
    async fn emit(&mut self, ev: Event) -> Result<(), EngineError> {
        if ev.journaled() {
            self.journal.append(&ev)?;
        }
        // A front end that went away is not an engine error: the journal has the record.
        let _ = self.events.send(ev).await;
        Ok(())
    }
}

/// The running engine's state, borrowed from [`Engine`] for the length of `run`.
struct Runner<'a> {
    rb: &'a Runbook,
    secrets: &'a BTreeMap<String, String>,
    masker: &'a Masker,
    operator: &'a Operator,
    io: Io<'a>,
    cmds: &'a mut mpsc::Receiver<Command>,
    output_dir: PathBuf,
    states: Vec<State>,
    attempts: Vec<u32>,
    rollback_attempts: Vec<u32>,
    /// Steps whose rollback action ran (or was skipped with a reason).
    rolled_back: Vec<bool>,
    /// A rollback is executing.
    rolling_back: bool,
    /// The last point of no return crossed: step index and when.
    ponr: Option<(usize, DateTime<Utc>)>,
    /// The engine clock: triggers are checked on each tick.
    tick: tokio::time::Interval,
    /// Per-trigger state.
    trigger_state: Vec<triggers::TriggerState>,
    /// A running automatic-rollback countdown: trigger index and deadline.
    countdown: Option<(usize, tokio::time::Instant)>,
    /// The trigger whose countdown started the current rollback.
    auto_rollback: Option<String>,
    /// Resolved `[connections]`.
    conns: &'a BTreeMap<String, cutover_pg::ConnSettings>,
    /// Open sessions for SQL steps, by connection name.
    clients: BTreeMap<String, std::sync::Arc<tokio_postgres::Client>>,
    /// The lag probe, when `[lag]` is configured.
    lag: Option<lag_watch::LagState>,
    /// Reconcile checks running and their latest results.
    recon: reconcile::Reconciler,
}

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

fn cmd_name(c: &Command) -> &'static str {
    match c {
        Command::RunNext => "run",
        Command::Retry => "retry",
        Command::Skip { .. } => "skip",
        Command::MarkDone { .. } => "mark done",
        Command::Confirm { .. } => "confirm",
        Command::Cancel => "cancel",
        Command::Abort { .. } => "abort",
        Command::RollbackPlan => "rollback plan",
        Command::Rollback { .. } => "rollback",
        Command::CancelCountdown => "cancel countdown",
        Command::Reconcile { .. } => "reconcile",
    }
}

fn env_name(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
