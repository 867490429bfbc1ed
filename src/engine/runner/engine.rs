//! Preparing a run ([`Engine::prepare`]: secrets, connections, journal, resumed state) and
//! running it ([`Engine::run`]: hands the parts to a [`Runner`] and drives it to the end).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use tokio::sync::mpsc;

use super::Runner;
use super::io::Io;
use super::lag_watch::LagWatch;
use super::mailbox::Mailbox;
use super::reconciler::Reconciler;
use super::rollback::{RollbackBook, rollback_display};
use super::sql_step::SqlSessions;
use super::step_book::StepBook;
use super::triggers::Triggers;
use crate::journal::{self, Journal, JournalError, TornTail};
use crate::metrics_file::run::RunMetrics;
use crate::resume::{self, Restored};
use cutover_model::protocol::{Command, Event, Operator, RunInfo, RunOutcome, StepInfo};
use cutover_model::runbook::Runbook;
use cutover_model::secrets::{self, Masker, MissingSecret};
use cutover_pg::ConnSettings;

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
    /// A new journal, or the journal of the run to resume.
    pub journal: JournalChoice,
    /// Continue even though the runbook changed since the journal started.
    pub accept_changed_runbook: bool,
    /// Continue even though the vars differ from the ones the run had (a `--var` on resume).
    pub accept_changed_vars: bool,
    /// Who is running it.
    pub operator: Operator,
    /// `--metrics-file`: a Prometheus textfile kept up to date with the run.
    pub metrics_file: Option<PathBuf>,
    /// More values to mask besides the run's own secrets and passwords: in a fleet, the other
    /// members' secrets, which this member's steps inherit in their environment.
    pub also_masked: Vec<String>,
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
        /// The runbook's path.
        runbook: String,
        /// The journal's path.
        journal: String,
        /// The journal's sha256 of the runbook.
        old: String,
        /// The runbook's sha256 now.
        new: String,
        /// The difference, as a unified diff of the masked texts.
        diff: String,
    },
    /// The vars differ from the ones the run had.
    #[error(
        "the vars differ from the ones journal {journal} ran with:\n{}\nRe-run with --accept-changed-vars to continue with the new values, or without those --var to keep the run's own.",
        changes.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
    )]
    VarsChanged {
        /// The journal's path.
        journal: String,
        /// `name: old → new` for each var that differs (masked).
        changes: Vec<String>,
    },
    /// A `[connections]` DSN cannot be used.
    #[error(transparent)]
    Connection(#[from] cutover_pg::ConnError),
    /// The `[lag]` probe cannot start.
    #[error(transparent)]
    Probe(#[from] cutover_probe::ProbeError),
    /// `--metrics-file` names something the run cannot keep (a device, FIFO, symbolic link, or
    /// a directory that does not take a new file).
    #[error("{0}")]
    MetricsFile(String),
    /// The journal's run was rolled back; it cannot be resumed.
    #[error(
        "the run in journal {journal} was rolled back at {at}; start a new run (without --resume) to try the cutover again"
    )]
    RolledBack {
        /// The journal's path.
        journal: String,
        /// When the rollback finished.
        at: String,
    },
}

impl EngineError {
    /// Whether the run could not start because of how it was asked for (a changed runbook or
    /// vars, a missing secret, a rolled-back or existing or busy journal): exit code 2, not 4.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            EngineError::RunbookChanged { .. }
                | EngineError::VarsChanged { .. }
                | EngineError::Secret(_)
                | EngineError::RolledBack { .. }
                | EngineError::MetricsFile(_)
                | EngineError::Journal(JournalError::Exists { .. } | JournalError::Locked { .. })
        )
    }
}

/// A prepared run: everything checked and opened, nothing run yet.
pub struct Engine {
    rb: Runbook,
    secrets: BTreeMap<String, String>,
    conns: BTreeMap<String, ConnSettings>,
    masker: Masker,
    journal: Journal,
    operator: Operator,
    steps: StepBook,
    restored: Option<Restored>,
    accepted_change: Option<(String, String)>,
    /// Vars that differ from the journal's, accepted (`name: old → new`).
    accepted_vars: Option<Vec<String>>,
    /// What a resume found cut off at the end of the journal, and set aside.
    torn: Option<TornTail>,
    /// The `--metrics-file` writer, handed to the run's output.
    metrics: Option<RunMetrics>,
    /// `--metrics-file`.
    metrics_path: Option<PathBuf>,
    /// When this session was prepared.
    started_at: chrono::DateTime<chrono::Utc>,
}

/// The `--metrics-file` writer, started (its path was checked before the journal was made).
fn start_metrics(path: Option<&Path>) -> Result<Option<RunMetrics>, EngineError> {
    path.map(|p| {
        RunMetrics::start(p.to_path_buf()).map_err(|e| {
            EngineError::MetricsFile(format!(
                "--metrics-file {}: cannot start its writer: {e}",
                p.display()
            ))
        })
    })
    .transpose()
}

impl Engine {
    /// Reads secrets, opens (or resumes) the journal, and restores state. Nothing runs yet.
    pub fn prepare(rb: Runbook, opts: EngineOptions) -> Result<Engine, EngineError> {
        let secrets = secrets::read_secrets(&rb.secrets)?;
        let conns = cutover_pg::conn::resolve_all(&rb.connections, &secrets)?;
        // Every password a connection uses is a secret too, wherever it came from (a literal in
        // the DSN, PGPASSWORD, ~/.pgpass): it is masked wherever its value appears.
        let passwords = conns
            .values()
            .filter_map(|c| c.config().get_password())
            .map(|p| String::from_utf8_lossy(p).into_owned());
        // A secret goes into a shell command single-quoted: that form is masked too (a shell
        // that echoes part of its command shows it so when the secret holds a quote).
        let quoted = secrets
            .values()
            .filter(|v| v.contains('\''))
            .map(|v| cutover_model::runbook::shell::quote(v));
        let masker = Masker::new(
            secrets
                .values()
                .cloned()
                .chain(quoted)
                .chain(passwords)
                .chain(opts.also_masked.iter().cloned()),
        );
        // Checked before the journal is made: a refused run leaves nothing behind.
        if let Some(path) = &opts.metrics_file {
            crate::metrics_file::check_path(path).map_err(EngineError::MetricsFile)?;
        }
        let mut steps = StepBook::new(rb.steps.len());
        let mut torn = None;
        let mut accepted_vars = None;
        let (journal, restored, accepted_change) = match &opts.journal {
            JournalChoice::New(p) => (Journal::create(p)?, None, None),
            JournalChoice::Resume(p) => {
                let (journal, contents) = Journal::open_append(p)?;
                torn = contents.torn;
                let (r, accepted) = restore(
                    &rb,
                    &masker,
                    p,
                    &contents.records,
                    opts.accept_changed_runbook,
                )?;
                let changes = changed_vars(&rb, &masker, &r);
                if !changes.is_empty() {
                    if !opts.accept_changed_vars {
                        return Err(EngineError::VarsChanged {
                            journal: p.display().to_string(),
                            changes,
                        });
                    }
                    accepted_vars = Some(changes);
                }
                for (i, s) in rb.steps.iter().enumerate() {
                    if let Some(was) = r.step_of(&s.id) {
                        steps.restore(i, was.ended, was.attempts);
                    }
                }
                (journal, Some(r), accepted)
            }
        };
        let metrics = start_metrics(opts.metrics_file.as_deref())?;
        Ok(Engine {
            rb,
            secrets,
            conns,
            masker,
            journal,
            operator: opts.operator,
            steps,
            restored,
            accepted_change,
            accepted_vars,
            torn,
            metrics,
            metrics_path: opts.metrics_file.clone(),
            started_at: chrono::Utc::now(),
        })
    }

    /// The masker of this run: its secrets and every password its connections use. For
    /// whatever else writes text about the run (the diagnostics log).
    pub fn masker(&self) -> Masker {
        self.masker.clone()
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
            started_in: std::env::current_dir()
                .ok()
                .map(|p| p.display().to_string()),
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
                    changes: s.changes,
                })
                .collect(),
            lag_configured: self.rb.lag.is_some(),
            lag: self.rb.lag.as_ref().map(cutover_probe::lag_info),
            reconcile: self.rb.reconcile.iter().map(|r| r.name.clone()).collect(),
            operator: self.operator.clone(),
            connections: self
                .conns
                .iter()
                .map(|(name, c)| (name.clone(), c.target()))
                .collect(),
            vars: masked_vars(&self.rb, m),
            started_at: Some(self.started_at),
            run_started_at: Some(
                self.restored
                    .as_ref()
                    .and_then(|r| r.run.started_at)
                    .unwrap_or(self.started_at),
            ),
            first_step_at: self.restored.as_ref().and_then(|r| r.run.first_step_at()),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Runs until the run completes, is rolled back, or is aborted.
    pub async fn run(
        self,
        cmds: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Result<RunOutcome, EngineError> {
        self.run_hosted(cmds, None, events).await
    }

    /// The lag probe of the runbook's `[lag]`, started.
    fn lag_watch(&self) -> Result<Option<LagWatch>, EngineError> {
        let Some(config) = &self.rb.lag else {
            return Ok(None);
        };
        let probe = cutover_probe::LagProbe::spawn(cutover_probe::ProbeSpec {
            config: config.clone(),
            connections: self.conns.clone(),
            secrets: self.secrets.clone(),
            env: cutover_model::runbook::shell::process_env(&self.rb, &self.secrets),
        })?;
        Ok(Some(LagWatch::new(probe)))
    }

    /// The `[[notify]]` hooks' notifier, when the runbook has hooks.
    fn notifier(&self) -> Option<crate::notify::Notifier> {
        (!self.rb.notify.is_empty()).then(|| {
            crate::notify::Notifier::start(
                crate::notify::Hook::all(&self.rb.notify, &self.secrets),
                crate::notify::RunFacts {
                    name: self.rb.name.clone(),
                    journal: self.journal.path().display().to_string(),
                    env: cutover_model::runbook::shell::process_env(&self.rb, &self.secrets),
                },
                self.masker.clone(),
            )
        })
    }

    /// [`Engine::run`] for a host that serves several terminals (a detached run): besides
    /// commands, it sends `facts` to journal (a terminal attached, left, took control), which
    /// also tell the engine who is at the controls now.
    pub async fn run_hosted(
        mut self,
        mut cmds: mpsc::Receiver<Command>,
        facts: Option<mpsc::Receiver<Event>>,
        events: mpsc::Sender<Event>,
    ) -> Result<RunOutcome, EngineError> {
        let info = self.run_info();
        let text = self.masker.mask(&self.rb.source).into_owned();
        let restored = self.restored.take();
        let lag = self.lag_watch()?;
        let rollback = rollback_book(&self.rb, restored.as_ref());
        let notifier = self.notifier();
        let mut runner = Runner {
            rb: &self.rb,
            secrets: &self.secrets,
            masker: &self.masker,
            operator: self.operator.clone(),
            conns: &self.conns,
            output_dir: journal::output_dir_for(self.journal.path()),
            journal_path: self.journal.path().to_path_buf(),
            metrics_path: self.metrics_path.clone(),
            io: Io::new(
                &mut self.journal,
                &events,
                &self.masker,
                self.metrics.take(),
            ),
            mailbox: Mailbox::new(&mut cmds, facts),
            steps: std::mem::replace(&mut self.steps, StepBook::new(0)),
            rollback,
            triggers: Triggers::new(&self.rb.triggers, &self.conns, &self.secrets),
            sessions: SqlSessions::default(),
            lag,
            recon: Reconciler::new(),
            inverse_digests: restored
                .iter()
                .flat_map(|r| &r.run.repairs)
                .filter_map(|(_, r)| {
                    let name = Path::new(&r.inverse_file).file_name()?;
                    Some((
                        name.to_owned(),
                        super::repair_step::InverseOnRecord(r.clone()),
                    ))
                })
                .collect(),
        };
        runner.io.notifier = notifier;
        runner
            .io
            .emit(Event::RunStarted {
                run: Box::new(info),
            })
            .await?;
        runner.io.emit(Event::RunbookText { source: text }).await?;
        runner
            .opening_records(
                self.torn.take(),
                self.accepted_change.take(),
                self.accepted_vars.take(),
            )
            .await?;
        let outcome = runner.drive(restored).await?;
        runner
            .io
            .emit(Event::RunFinished {
                outcome,
                at: Utc::now(),
            })
            .await?;
        runner.io.close().await?;
        Ok(outcome)
    }
}

/// The rollback's book for a run of `rb`: which steps' rollback actions a journal being
/// resumed shows done (and how often each was tried), and whether one was skipped.
fn rollback_book(rb: &Runbook, restored: Option<&Restored>) -> RollbackBook {
    let mut book = RollbackBook::new(rb.steps.iter().map(|s| {
        restored.map_or((false, 0), |r| {
            (
                r.rolled_back.contains(&s.id),
                r.step_of(&s.id).map_or(0, |was| was.facts.undo_attempts),
            )
        })
    }));
    if restored.is_some_and(|r| r.rollback_skipped) {
        book.note_skipped();
    }
    book
}

/// Rebuilds the run of journal `p` from its records: refuses a rolled-back run and (unless `accept_changed`) a
/// changed runbook. Returns the restored state and, when a change was accepted, the old and
/// new sha256.
fn restore(
    rb: &Runbook,
    masker: &Masker,
    p: &Path,
    records: &[journal::Record],
    accept_changed: bool,
) -> Result<(Restored, Option<(String, String)>), EngineError> {
    let r = resume::restore(records);
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
    if old == rb.sha256 {
        return Ok((r, None));
    }
    if !accept_changed {
        return Err(changed(rb, masker, p, &r, old));
    }
    let new = rb.sha256.clone();
    Ok((r, Some((old, new))))
}

/// The runbook's vars as the journal shows them: masked.
fn masked_vars(rb: &Runbook, m: &Masker) -> BTreeMap<String, String> {
    rb.vars
        .iter()
        .map(|(k, v)| (k.clone(), m.mask(v).into_owned()))
        .collect()
}

/// `name: old → new` for each var that differs from the latest session's in the journal
/// (none when the journal predates journaled vars).
fn changed_vars(rb: &Runbook, m: &Masker, r: &Restored) -> Vec<String> {
    let Some(before) = &r.vars else {
        return Vec::new();
    };
    let now = masked_vars(rb, m);
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (before.get(k), now.get(k)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => Some(format!("{k}: {a:?} → {b:?}")),
            (Some(a), None) => Some(format!("{k}: {a:?} → (gone)")),
            (None, Some(b)) => Some(format!("{k}: (none) → {b:?}")),
            (None, None) => None,
        })
        .collect()
}

/// The refusal of a changed runbook, with the difference shown.
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
