//! The engine: walks the runbook step by step, driven by [`Command`]s, reporting [`Event`]s,
//! journaling each event (fsynced) before it is reported.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::event::*;
use super::exec::expect::OutputWatch;
use super::exec::shell::{self, ShellExit, ShellSpec};
use super::journal::{self, Journal, JournalError};
use super::resume::{self, Done, Restored};
use super::runbook::{Action, Runbook, Template, WaitCond};
use super::secrets::{self, Masker, MissingSecret};

/// Lines sent to the front end in one `Output` event, at most.
const OUTPUT_BATCH: usize = 512;

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
}

/// Per-step state inside the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Done(Done),
    Failed,
}

/// Why a running step stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Cancel,
    Abort(Option<String>),
}

/// The result of one step attempt.
struct Attempt {
    outcome: StepOutcome,
    exit_code: Option<i32>,
    checks: Vec<CheckResult>,
    message: Option<String>,
    output_file: Option<String>,
}

/// A prepared run.
pub struct Engine {
    rb: Runbook,
    secrets: BTreeMap<String, String>,
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
                let mut accepted = None;
                if old != rb.sha256 {
                    if !opts.accept_changed_runbook {
                        let now = masker.mask(&rb.source).into_owned();
                        let diff = match &r.source {
                            Some(before) => {
                                similar::TextDiff::from_lines(before.as_str(), now.as_str())
                                    .unified_diff()
                                    .context_radius(1)
                                    .header("journal", "now")
                                    .to_string()
                            }
                            None => "(the journal holds no copy of the earlier runbook)\n".into(),
                        };
                        return Err(EngineError::RunbookChanged {
                            runbook: rb.path.clone(),
                            journal: p.display().to_string(),
                            old,
                            new: rb.sha256.clone(),
                            diff,
                        });
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
                    kind: s.action.kind().to_string(),
                    command: m.mask(&s.action.display()).into_owned(),
                    notes: s.notes.clone(),
                    expected_ms: s.expected.map(|d| d.as_millis() as u64),
                    timeout_ms: s.timeout.map(|d| d.as_millis() as u64),
                    point_of_no_return: s.point_of_no_return.clone(),
                    rollback: s.rollback.as_ref().map(|r| {
                        m.mask(&match r {
                            super::runbook::RollbackAction::Run(t) => t.display(),
                            super::runbook::RollbackAction::Sql { sql, on } => {
                                format!("[{on}] {}", sql.display())
                            }
                        })
                        .into_owned()
                    }),
                })
                .collect(),
            lag_configured: self.rb.lag.is_some(),
            reconcile: self.rb.reconcile.iter().map(|r| r.name.clone()).collect(),
            operator: self.operator.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Runs until the run completes or is aborted.
    pub async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Result<RunOutcome, EngineError> {
        let info = self.run_info();
        let output_dir = journal::output_dir_for(self.journal.path());
        let mut io = Io {
            journal: &mut self.journal,
            events: &events,
        };
        io.emit(Event::RunStarted { run: info }).await?;
        let text = self.masker.mask(&self.rb.source).into_owned();
        io.emit(Event::RunbookText { source: text }).await?;
        let unsupported: Vec<&str> = self
            .rb
            .steps
            .iter()
            .filter(|s| unsupported(&s.action).is_some())
            .map(|s| s.id.as_str())
            .collect();
        if !unsupported.is_empty() {
            io.emit(Event::Notice {
                level: Level::Warn,
                message: format!(
                    "this build cannot execute SQL, lag or reconcile steps yet; these steps will fail: {}",
                    unsupported.join(", ")
                ),
            })
            .await?;
        }
        let mut runner = Runner {
            rb: &self.rb,
            secrets: &self.secrets,
            masker: &self.masker,
            operator: &self.operator,
            io,
            cmds: &mut cmds,
            output_dir,
        };
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
        let outcome = runner
            .drive(&mut self.states, &mut self.attempts, self.restored.take())
            .await?;
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

/// A step the engine cannot execute yet, with the reason.
fn unsupported(a: &Action) -> Option<&'static str> {
    match a {
        Action::Sql { .. } => Some("SQL steps are not executed by this build yet"),
        Action::Wait(w) => match w.cond {
            WaitCond::LagBelow(_) => Some("lag waits are not executed by this build yet"),
            WaitCond::Reconcile(_) => Some("reconcile waits are not executed by this build yet"),
            WaitCond::Sql { .. } => Some("SQL waits are not executed by this build yet"),
            WaitCond::Run(_) => None,
        },
        _ => None,
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

struct Runner<'a> {
    rb: &'a Runbook,
    secrets: &'a BTreeMap<String, String>,
    masker: &'a Masker,
    operator: &'a Operator,
    io: Io<'a>,
    cmds: &'a mut mpsc::Receiver<Command>,
    output_dir: PathBuf,
}

/// What the operator decided at a decision point.
enum Decision {
    Retry,
    Done,
    Abort,
}

impl Runner<'_> {
    async fn operator_action(
        &mut self,
        step: Option<&str>,
        action: OperatorAction,
    ) -> Result<(), EngineError> {
        self.io
            .emit(Event::Operator {
                step: step.map(str::to_string),
                action,
                by: self.operator.user.clone(),
                at: Utc::now(),
            })
            .await
    }

    async fn notice(
        &mut self,
        level: Level,
        message: impl Into<String>,
    ) -> Result<(), EngineError> {
        self.io
            .emit(Event::Notice {
                level,
                message: message.into(),
            })
            .await
    }

    /// Receives the next command; a closed channel means the front end is gone: abort.
    async fn next_command(&mut self) -> Command {
        self.cmds.recv().await.unwrap_or(Command::Abort {
            reason: Some("front end closed".into()),
        })
    }

    async fn drive(
        &mut self,
        states: &mut [State],
        attempts: &mut [u32],
        restored: Option<Restored>,
    ) -> Result<RunOutcome, EngineError> {
        if let Some(r) = &restored {
            let done: Vec<String> = self
                .rb
                .steps
                .iter()
                .filter(|s| r.done.contains_key(&s.id))
                .map(|s| s.id.clone())
                .collect();
            self.io
                .emit(Event::Resumed {
                    done,
                    interrupted: r.interrupted.as_ref().map(|i| i.id.clone()),
                    failed_before: r.failed.iter().cloned().collect(),
                })
                .await?;
            for (i, s) in self.rb.steps.iter().enumerate() {
                let state = match states[i] {
                    State::Done(d) => d.as_str(),
                    State::Failed => "failed",
                    State::Pending if r.interrupted.as_ref().is_some_and(|x| x.id == s.id) => {
                        "interrupted"
                    }
                    State::Pending => continue,
                };
                self.io
                    .emit(Event::StepRestored {
                        index: i,
                        state: state.to_string(),
                        duration_ms: r.durations.get(&s.id).copied(),
                    })
                    .await?;
            }
            if let Some(int) = &r.interrupted
                && let Some(index) = self.rb.step_index(&int.id)
            {
                let still = match int.pid {
                    Some(pid) if shell::group_alive(pid as i32) => {
                        format!("; its process group {pid} is STILL RUNNING")
                    }
                    Some(pid) => format!("; its process group {pid} is no longer running"),
                    None => String::new(),
                };
                let message = format!(
                    "step {} started at {} and never finished — outcome unknown{still}. Re-run it, mark it done with a reason, or abort.",
                    int.id,
                    int.at.format("%H:%M:%S UTC")
                );
                match self
                    .decide(index, DecisionKind::Interrupted, message)
                    .await?
                {
                    Decision::Abort => return Ok(RunOutcome::Aborted),
                    Decision::Done => {}
                    Decision::Retry => {
                        if !self.run_until_settled(index, attempts).await? {
                            return Ok(RunOutcome::Aborted);
                        }
                    }
                }
                states[index] = State::Done(Done::Passed);
            }
        }
        loop {
            let Some(next) = states.iter().position(|s| !matches!(s, State::Done(_))) else {
                return Ok(RunOutcome::Completed);
            };
            self.io.emit(Event::Ready { next }).await?;
            match self.next_command().await {
                Command::RunNext => {
                    self.operator_action(Some(&self.rb.steps[next].id), OperatorAction::Run)
                        .await?;
                    if !self.run_until_settled(next, attempts).await? {
                        return Ok(RunOutcome::Aborted);
                    }
                    states[next] = State::Done(Done::Passed);
                }
                Command::Abort { reason } => {
                    self.operator_action(None, OperatorAction::Abort { reason })
                        .await?;
                    return Ok(RunOutcome::Aborted);
                }
                other => {
                    self.notice(
                        Level::Warn,
                        format!(
                            "{} does nothing now: no step is running or failed",
                            cmd_name(&other)
                        ),
                    )
                    .await?;
                }
            }
        }
    }

    /// Runs step `index` until it passes or the operator skips it (true), or aborts (false).
    async fn run_until_settled(
        &mut self,
        index: usize,
        attempts: &mut [u32],
    ) -> Result<bool, EngineError> {
        loop {
            attempts[index] += 1;
            let outcome = self.attempt(index, attempts[index]).await?;
            match outcome {
                Ok(true) => return Ok(true),
                Err(Stop::Abort(reason)) => {
                    self.operator_action(
                        Some(&self.rb.steps[index].id),
                        OperatorAction::Abort { reason },
                    )
                    .await?;
                    return Ok(false);
                }
                Ok(false) | Err(Stop::Cancel) => {
                    let msg = format!(
                        "step {} did not pass: retry it, skip it with a reason, or abort",
                        self.rb.steps[index].id
                    );
                    match self.decide(index, DecisionKind::Failed, msg).await? {
                        Decision::Retry => continue,
                        Decision::Done => return Ok(true),
                        Decision::Abort => return Ok(false),
                    }
                }
            }
        }
    }

    /// Waits for retry / skip / mark-done / abort at a decision point.
    async fn decide(
        &mut self,
        index: usize,
        kind: DecisionKind,
        message: String,
    ) -> Result<Decision, EngineError> {
        let id = self.rb.steps[index].id.clone();
        self.io
            .emit(Event::DecisionNeeded {
                index,
                kind,
                message,
            })
            .await?;
        loop {
            match self.next_command().await {
                Command::Retry => {
                    self.operator_action(Some(&id), OperatorAction::Retry)
                        .await?;
                    return Ok(Decision::Retry);
                }
                Command::Skip { reason } | Command::MarkDone { reason }
                    if reason.trim().is_empty() =>
                {
                    self.notice(
                        Level::Warn,
                        "a reason is required to skip or mark a step done",
                    )
                    .await?;
                }
                Command::Skip { reason } => {
                    let reason = self.masker.mask(&reason).into_owned();
                    self.operator_action(Some(&id), OperatorAction::Skip { reason })
                        .await?;
                    return Ok(Decision::Done);
                }
                Command::MarkDone { reason } => {
                    let reason = self.masker.mask(&reason).into_owned();
                    self.operator_action(Some(&id), OperatorAction::MarkDone { reason })
                        .await?;
                    return Ok(Decision::Done);
                }
                Command::Abort { reason } => {
                    self.operator_action(Some(&id), OperatorAction::Abort { reason })
                        .await?;
                    return Ok(Decision::Abort);
                }
                other => {
                    self.notice(
                        Level::Warn,
                        format!(
                            "{} does nothing now: step {id} needs retry, skip or abort",
                            cmd_name(&other)
                        ),
                    )
                    .await?;
                }
            }
        }
    }

    /// One attempt: Ok(passed) or Err(stop) when cancelled/aborted.
    async fn attempt(
        &mut self,
        index: usize,
        attempt: u32,
    ) -> Result<Result<bool, Stop>, EngineError> {
        let step = &self.rb.steps[index];
        let started = Instant::now();
        self.io
            .emit(Event::StepStarted {
                index,
                id: step.id.clone(),
                attempt,
                at: Utc::now(),
                command: self.masker.mask(&step.action.display()).into_owned(),
            })
            .await?;
        let result = if let Some(why) = unsupported(&step.action) {
            Ok(Ok(Attempt {
                outcome: StepOutcome::Failed,
                exit_code: None,
                checks: vec![],
                message: Some(format!("{why} (PostgreSQL support is in progress)")),
                output_file: None,
            }))
        } else {
            match &step.action {
                Action::Run(t) => self.shell_step(index, attempt, t).await,
                Action::Confirm(word) => self.confirm_step(index, word).await,
                Action::Wait(w) => match &w.cond {
                    WaitCond::Run(t) => {
                        self.wait_run_step(index, attempt, t, w.every, w.hold).await
                    }
                    _ => unreachable_wait(),
                },
                Action::Sql { .. } => unreachable_wait(),
            }
        };
        let (att, stop) = match result? {
            Ok(a) => (a, None),
            Err((a, stop)) => (a, Some(stop)),
        };
        let passed = att.outcome.is_ok();
        self.io
            .emit(Event::StepFinished {
                index,
                id: step.id.clone(),
                attempt,
                outcome: att.outcome,
                duration_ms: started.elapsed().as_millis() as u64,
                expected_ms: step.expected.map(|d| d.as_millis() as u64),
                exit_code: att.exit_code,
                checks: att.checks,
                message: att.message,
                output_file: att.output_file,
            })
            .await?;
        Ok(match stop {
            Some(s) => Err(s),
            None => Ok(passed),
        })
    }

    fn env(&self, step_id: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("CUTOVER_STEP_ID".to_string(), step_id.to_string()),
            ("CUTOVER_RUNBOOK".to_string(), self.rb.path.clone()),
        ];
        for (k, v) in &self.rb.vars {
            env.push((format!("CUTOVER_VAR_{}", env_name(k)), v.clone()));
        }
        for (k, v) in self.secrets {
            env.push((format!("CUTOVER_SECRET_{}", env_name(k)), v.clone()));
        }
        env
    }

    async fn shell_step(
        &mut self,
        index: usize,
        attempt: u32,
        t: &Template,
    ) -> Result<Result<Attempt, (Attempt, Stop)>, EngineError> {
        let step = &self.rb.steps[index];
        let spec = ShellSpec {
            command: t.render(self.secrets),
            env: self.env(&step.id),
            timeout: step.timeout,
        };
        let mut watch = OutputWatch::new(&step.expect);
        let file = self.output_path(index, attempt);
        let run = self.exec(index, &spec, &mut watch, &file).await?;
        let output_file = Some(file.display().to_string());
        Ok(match run {
            ShellRun::Failed(e) => Ok(Attempt {
                outcome: StepOutcome::Failed,
                exit_code: None,
                checks: vec![],
                message: Some(format!("could not start sh: {e}")),
                output_file,
            }),
            ShellRun::Exited(exit, stop) => {
                let checks = watch.checks(&step.expect, exit.code, exit.signal);
                let (outcome, message) = classify(&exit, &checks, step.timeout);
                let a = Attempt {
                    outcome,
                    exit_code: exit.code,
                    checks,
                    message,
                    output_file,
                };
                match stop {
                    Some(s) => Err((a, s)),
                    None => Ok(a),
                }
            }
        })
    }

    async fn confirm_step(
        &mut self,
        index: usize,
        word: &str,
    ) -> Result<Result<Attempt, (Attempt, Stop)>, EngineError> {
        let id = self.rb.steps[index].id.clone();
        self.io
            .emit(Event::ConfirmRequested {
                index,
                word: word.to_string(),
            })
            .await?;
        let attempt = |outcome, detail: &str, passed| Attempt {
            outcome,
            exit_code: None,
            checks: vec![CheckResult {
                name: "confirm".into(),
                passed,
                detail: detail.to_string(),
            }],
            message: None,
            output_file: None,
        };
        loop {
            match self.next_command().await {
                Command::Confirm { text } if text.trim() == word => {
                    self.operator_action(Some(&id), OperatorAction::Confirm)
                        .await?;
                    return Ok(Ok(attempt(
                        StepOutcome::Passed,
                        &format!("typed {word}"),
                        true,
                    )));
                }
                Command::Confirm { .. } => {
                    self.io.emit(Event::ConfirmRejected { index }).await?;
                }
                Command::Cancel => {
                    self.operator_action(Some(&id), OperatorAction::Cancel)
                        .await?;
                    return Ok(Err((
                        attempt(StepOutcome::Cancelled, "not confirmed", false),
                        Stop::Cancel,
                    )));
                }
                Command::Abort { reason } => {
                    return Ok(Err((
                        attempt(StepOutcome::Cancelled, "not confirmed", false),
                        Stop::Abort(reason),
                    )));
                }
                other => {
                    self.notice(
                        Level::Warn,
                        format!(
                            "{} does nothing now: step {id} waits for the word {word}",
                            cmd_name(&other)
                        ),
                    )
                    .await?;
                }
            }
        }
    }

    async fn wait_run_step(
        &mut self,
        index: usize,
        attempt: u32,
        t: &Template,
        every: Duration,
        hold: Duration,
    ) -> Result<Result<Attempt, (Attempt, Stop)>, EngineError> {
        let step = &self.rb.steps[index];
        let started = Instant::now();
        let deadline = step.timeout.map(|d| started + d);
        let file = self.output_path(index, attempt);
        let output_file = Some(file.display().to_string());
        let mut polls = 0u32;
        let mut holding_since: Option<Instant> = None;
        let mut last_code = None;
        let result = |outcome, code, detail: String, passed, message| Attempt {
            outcome,
            exit_code: code,
            checks: vec![CheckResult {
                name: "wait".into(),
                passed,
                detail,
            }],
            message,
            output_file: output_file.clone(),
        };
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                let msg = format!(
                    "timed out after {} polls (last exit {})",
                    polls,
                    last_code.map_or("none".into(), |c: i32| c.to_string())
                );
                return Ok(Ok(result(
                    StepOutcome::TimedOut,
                    last_code,
                    msg.clone(),
                    false,
                    Some(msg),
                )));
            }
            let spec = ShellSpec {
                command: t.render(self.secrets),
                env: self.env(&step.id),
                timeout: deadline.map(|d| d.saturating_duration_since(now)),
            };
            let mut watch = OutputWatch::new(&step.expect);
            let run = self.exec(index, &spec, &mut watch, &file).await?;
            polls += 1;
            let (code, stop) = match run {
                ShellRun::Failed(e) => {
                    let msg = format!("could not start sh: {e}");
                    return Ok(Ok(result(
                        StepOutcome::Failed,
                        None,
                        msg.clone(),
                        false,
                        Some(msg),
                    )));
                }
                ShellRun::Exited(exit, stop) => (exit.code, stop),
            };
            if let Some(s) = stop {
                return Ok(Err((
                    result(
                        StepOutcome::Cancelled,
                        code,
                        format!("cancelled after {polls} polls"),
                        false,
                        None,
                    ),
                    s,
                )));
            }
            last_code = code;
            let now = Instant::now();
            let holding = code == Some(0);
            if holding {
                let since = *holding_since.get_or_insert(now);
                if now.duration_since(since) >= hold {
                    let detail = format!("condition met after {polls} polls");
                    return Ok(Ok(result(StepOutcome::Passed, code, detail, true, None)));
                }
            } else {
                holding_since = None;
            }
            let message = match (holding, holding_since) {
                (true, Some(since)) => format!(
                    "poll {polls}: exit 0, holding {} of {}",
                    super::runbook::units::format_duration(now.duration_since(since)),
                    super::runbook::units::format_duration(hold)
                ),
                _ => format!(
                    "poll {polls}: exit {}; next poll in {}",
                    code.map_or("none".into(), |c| c.to_string()),
                    super::runbook::units::format_duration(every)
                ),
            };
            self.io
                .emit(Event::WaitProgress {
                    index,
                    polls,
                    holding,
                    message,
                })
                .await?;
            // Sleep until the next poll, answering commands meanwhile.
            let wake = deadline.map_or(now + every, |d| d.min(now + every));
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => break,
                    cmd = self.cmds.recv() => {
                        let cmd = cmd.unwrap_or(Command::Abort { reason: Some("front end closed".into()) });
                        match cmd {
                            Command::Cancel => {
                                self.operator_action(Some(&step.id), OperatorAction::Cancel).await?;
                                return Ok(Err((result(StepOutcome::Cancelled, code, format!("cancelled after {polls} polls"), false, None), Stop::Cancel)));
                            }
                            Command::Abort { reason } => {
                                return Ok(Err((result(StepOutcome::Cancelled, code, format!("aborted after {polls} polls"), false, None), Stop::Abort(reason))));
                            }
                            other => self.notice(Level::Warn, format!("{} does nothing now: step {} is waiting", cmd_name(&other), step.id)).await?,
                        }
                    }
                }
            }
        }
    }

    fn output_path(&self, index: usize, attempt: u32) -> PathBuf {
        self.output_dir.join(format!(
            "{:02}-{}.{}.log",
            index + 1,
            self.rb.steps[index].id,
            attempt
        ))
    }

    /// Runs one shell command, streaming masked output to the front end and to `file`,
    /// answering Cancel/Abort by killing the process group.
    async fn exec(
        &mut self,
        index: usize,
        spec: &ShellSpec,
        watch: &mut OutputWatch,
        file: &Path,
    ) -> Result<ShellRun, EngineError> {
        let mut out = OutputFile::open(file);
        let (line_tx, mut line_rx) = mpsc::channel::<(Stream, String)>(4096);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let (pid_tx, pid_rx) = oneshot::channel();
        let mut pid_rx = Some(pid_rx);
        let fut = shell::run(spec, line_tx, Some(pid_tx), cancel_rx);
        tokio::pin!(fut);
        let mut stop: Option<Stop> = None;
        let mut exit: Option<std::io::Result<ShellExit>> = None;
        let mut batch: Vec<Line> = Vec::new();
        let mut lines_open = true;
        while exit.is_none() || lines_open {
            tokio::select! {
                biased;
                cmd = self.cmds.recv(), if stop.is_none() && exit.is_none() => {
                    let cmd = cmd.unwrap_or(Command::Abort { reason: Some("front end closed".into()) });
                    match cmd {
                        Command::Cancel => {
                            self.operator_action(Some(&self.rb.steps[index].id), OperatorAction::Cancel).await?;
                            stop = Some(Stop::Cancel);
                            let _ = cancel_tx.send(true);
                        }
                        Command::Abort { reason } => {
                            stop = Some(Stop::Abort(reason));
                            let _ = cancel_tx.send(true);
                        }
                        other => {
                            let id = self.rb.steps[index].id.clone();
                            self.notice(Level::Warn, format!("{} does nothing now: step {id} is running (cancel it first)", cmd_name(&other))).await?;
                        }
                    }
                }
                pid = async { pid_rx.as_mut().expect("guarded").await }, if pid_rx.is_some() => {
                    pid_rx = None;
                    if let Ok(pid) = pid {
                        self.io.emit(Event::Process { index, pid }).await?;
                    }
                }
                first = line_rx.recv(), if lines_open => {
                    match first {
                        None => lines_open = false,
                        Some(first) => {
                            let mut next = Some(first);
                            while let Some((stream, text)) = next.take() {
                                let text = self.masker.mask(&text).into_owned();
                                match stream {
                                    Stream::Stdout => watch.stdout(&text),
                                    Stream::Stderr => watch.stderr(&text),
                                }
                                out.write(stream, &text);
                                batch.push(Line { stream, text });
                                if batch.len() >= OUTPUT_BATCH {
                                    break;
                                }
                                next = line_rx.try_recv().ok();
                            }
                            let lines = std::mem::take(&mut batch);
                            self.io.emit(Event::Output { index, lines }).await?;
                        }
                    }
                }
                r = &mut fut, if exit.is_none() => exit = Some(r),
            }
        }
        out.finish();
        Ok(match exit {
            Some(Ok(e)) => ShellRun::Exited(e, stop),
            Some(Err(e)) => ShellRun::Failed(e.to_string()),
            None => ShellRun::Failed("no exit status".into()),
        })
    }
}

/// How one shell execution ended.
enum ShellRun {
    Exited(ShellExit, Option<Stop>),
    Failed(String),
}

fn unreachable_wait() -> Result<Result<Attempt, (Attempt, Stop)>, EngineError> {
    Ok(Ok(Attempt {
        outcome: StepOutcome::Failed,
        exit_code: None,
        checks: vec![],
        message: Some("this step kind is not executed by this build".into()),
        output_file: None,
    }))
}

fn classify(
    exit: &ShellExit,
    checks: &[CheckResult],
    timeout: Option<Duration>,
) -> (StepOutcome, Option<String>) {
    if exit.timed_out {
        let t = timeout.map_or(String::new(), super::runbook::units::format_duration);
        return (
            StepOutcome::TimedOut,
            Some(format!("timed out after {t}; its process group was killed")),
        );
    }
    if exit.cancelled {
        return (
            StepOutcome::Cancelled,
            Some("cancelled by the operator; its process group was killed".into()),
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

/// The full output of one step attempt, on disk (0600), masked.
struct OutputFile {
    w: Option<BufWriter<File>>,
}

impl OutputFile {
    fn open(path: &Path) -> Self {
        let w = (|| {
            if let Some(dir) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .ok()?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .ok()
                .map(|f| BufWriter::with_capacity(64 * 1024, f))
        })();
        if w.is_none() {
            tracing::warn!(path = %path.display(), "cannot open step output file");
        }
        OutputFile { w }
    }

    fn write(&mut self, stream: Stream, text: &str) {
        if let Some(w) = &mut self.w {
            let r = match stream {
                Stream::Stdout => writeln!(w, "{text}"),
                Stream::Stderr => writeln!(w, "[stderr] {text}"),
            };
            if r.is_err() {
                self.w = None;
            }
        }
    }

    fn finish(&mut self) {
        if let Some(mut w) = self.w.take() {
            let _ = w.flush();
            let _ = w.get_ref().sync_data();
        }
    }
}
