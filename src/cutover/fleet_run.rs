//! `cutover run RUNBOOK --fleet FLEET.toml`: one runbook over every member of a fleet, each
//! member a full run (its own engine, journal, gates, triggers, rollback) in this process.
//! Headless, the headless driver drives each member and prints its lines; in the cockpit
//! (the detached fleet engine, `fleet_serve.rs`), each member's run is served on a socket of
//! its own and waits for the operator, who sees the lanes. The fleet's own decisions (start,
//! canary go, halt, each member's start and end, the end) go to the fleet journal, which names
//! each member's journal; `--resume FLEET-JOURNAL` continues every member from its own.
//!
//! Rules (README, "A fleet"): canaries run first, one after the other; the rest start only
//! when every canary completed and the operator said go (headless: `--assume-yes`), at most
//! `concurrency` at a time; with `halt = "first_failure"` no member starts after one did not
//! complete (members in flight run on). The process exits with the worst member's code.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use cutover_engine::{Engine, EngineOptions, JournalChoice};
use cutover_model::fleet::lane::{FleetPhase, LaneState};
use cutover_model::fleet::{Fleet, FleetRecord, Halt};
use cutover_model::protocol::{Operator, RunOutcome};
use cutover_model::runbook::Runbook;
use cutover_socket::fleet::FleetHub;

use crate::exit::{Exit, Failure, Outcome};
use crate::fleet_journal::{
    FleetJournal, Progress, open_journal, progress_of, settle_lost_ends, started_not_ended,
};
use crate::headless::{self, HeadlessOptions};

/// How bad an exit is, for "the worst member's code": a completed member is best, then a
/// clean rollback, a run preflight did not start, a rollback with an action skipped, and a
/// failure worst.
fn severity(e: Exit) -> u8 {
    match e {
        Exit::Ok => 0,
        Exit::RolledBack => 1,
        Exit::Invalid => 2,
        Exit::RolledBackPartly => 3,
        _ => 4,
    }
}

/// What the fleet run was asked to do (also what the detached fleet engine is handed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetArgs {
    /// The runbook.
    pub runbook: PathBuf,
    /// The fleet file.
    pub fleet: PathBuf,
    /// `--var` values, under each member's own.
    pub overrides: BTreeMap<String, String>,
    /// With `--resume`: go on although the runbook changed since a member's journal began.
    pub accept_changed_runbook: bool,
    /// With `--resume`: go on although a member's vars changed since its journal began.
    pub accept_changed_vars: bool,
    /// Where the fleet journal goes (`--journal`), or the one to resume (`--resume`).
    pub journal: Option<PathBuf>,
    /// Resume the fleet journal.
    pub resume: bool,
}

/// A fleet ready to go: its file, each member's runbook, its journal open with the start
/// recorded, and where each member stands.
pub struct Prepared {
    /// The fleet file.
    pub fleet: Fleet,
    books: BTreeMap<String, Runbook>,
    /// The fleet journal.
    pub journal: FleetJournal,
    progress: Progress,
    accept: (bool, bool),
    /// The values of every secret any member reads ([`Fleet::secret_envs`]): each member
    /// masks them all.
    secrets: Vec<String>,
}

impl Prepared {
    /// The runbook's name (the first member's).
    pub fn runbook_name(&self) -> String {
        self.books
            .values()
            .next()
            .map_or_else(|| "fleet".into(), |rb| rb.name.clone())
    }
}

/// Loads the fleet and each member's runbook, opens the fleet journal (new, or to resume)
/// and records the start. `Err`: why not, and the exit.
pub fn prepare(args: &FleetArgs) -> Result<Prepared, (String, Exit)> {
    let invalid = |m: String| (m, Exit::Invalid);
    let fleet = Fleet::load(&args.fleet).map_err(|e| invalid(e.to_string()))?;
    let (shown, source) =
        Runbook::read_source(&args.runbook).map_err(|e| invalid(e.to_string()))?;
    let books = fleet
        .runbooks_of(&shown, &source, &args.overrides)
        .map_err(|e| invalid(e.to_string()))?;
    let secrets = fleet
        .secret_envs(&source, &books)
        .iter()
        .filter_map(|env| std::env::var(env).ok())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(warning) = crate::limits::open_files_for(fleet.concurrency) {
        crate::say::err(&format!("cutover: {warning}"));
        tracing::warn!("{warning}");
    }
    let path = journal_path(args, &books);
    let (mut journal, before) = open_journal(&path, args.resume).map_err(invalid)?;
    let started = FleetRecord::FleetStarted {
        ts: Utc::now(),
        runbook: args.runbook.display().to_string(),
        fleet: fleet.file.clone(),
        members: fleet.members.iter().map(|m| m.name.clone()).collect(),
        resumed: args.resume,
    };
    let mut progress = progress_of(&before);
    let caught_up = settle_lost_ends(&before, &mut progress, |m| journal.member_journal(m));
    refuse_dropped_members(&before, &progress, &fleet, &path).map_err(invalid)?;
    for rec in std::iter::once(&started).chain(&caught_up) {
        journal.append(rec).map_err(|e| {
            (
                format!(
                    "cutover: cannot write the fleet journal {}: {e}",
                    path.display()
                ),
                Exit::Failed,
            )
        })?;
    }
    Ok(Prepared {
        fleet,
        books: books.into_iter().collect(),
        journal,
        progress,
        accept: (args.accept_changed_runbook, args.accept_changed_vars),
        secrets,
    })
}

/// Refuses to resume with a fleet file that leaves out a member which started and has not
/// ended for good: it would stay interrupted, its outcome unknown, and nobody told.
fn refuse_dropped_members(
    before: &[FleetRecord],
    progress: &Progress,
    fleet: &Fleet,
    path: &std::path::Path,
) -> Result<(), String> {
    let dropped: Vec<&str> = started_not_ended(before, progress)
        .into_iter()
        .filter(|m| !fleet.members.iter().any(|f| f.name == *m))
        .collect();
    if dropped.is_empty() {
        return Ok(());
    }
    let ran_with = before.iter().rev().find_map(|r| match r {
        FleetRecord::FleetStarted { fleet, .. } => Some(fleet.as_str()),
        _ => None,
    });
    Err(format!(
        "cutover: {} started in {} and did not end, and {} leaves it out: resume with the fleet file it ran with{}",
        dropped.join(", "),
        path.display(),
        fleet.file,
        ran_with.map(|f| format!(" ({f})")).unwrap_or_default()
    ))
}

/// The fleet journal's path: `--journal`/`--resume`, else one named after the runbook.
pub fn journal_path(args: &FleetArgs, books: &[(String, Runbook)]) -> PathBuf {
    let name = books.first().map_or("fleet", |(_, rb)| rb.name.as_str());
    args.journal.clone().unwrap_or_else(|| {
        cutover_engine::journal::default_path(&format!("{name}-fleet"), Utc::now())
    })
}

/// Runs the fleet headless; returns the worst member's exit.
pub fn run(args: FleetArgs, opts: HeadlessOptions) -> Outcome {
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err((why, code)) => return Err(Failure::new(code, why)),
    };
    let rt = crate::serve::client_runtime("cutover", Exit::Failed)?;
    crate::say::err(&format!(
        "cutover: fleet of {} members · fleet journal {}",
        prepared.fleet.members.len(),
        prepared.journal.path.display()
    ));
    let host = Host::Headless {
        opts,
        out: Arc::new(Mutex::new(std::io::stdout())),
    };
    let exit = rt.block_on(async move {
        let stop = match headless::stop_signals() {
            Ok(s) => s,
            Err(e) => {
                return Err(Failure::new(
                    Exit::Failed,
                    format!("cutover: cannot watch signals: {e}"),
                ));
            }
        };
        Ok(Driver::new(prepared, host).run(stop).await)
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    exit
}

/// Who drives each member's run.
pub enum Host {
    /// The headless driver, in this process, printing member-prefixed lines.
    Headless {
        /// How it answers.
        opts: HeadlessOptions,
        /// The shared stdout.
        out: Arc<Mutex<std::io::Stdout>>,
    },
    /// Each member served on its own socket in `dir`, waiting for the operator; the lanes in
    /// `hub`.
    Served {
        /// The fleet's lanes and commands.
        hub: Arc<FleetHub>,
        /// Where the members' sockets go.
        dir: PathBuf,
    },
}

/// What one member's run came to: its name, its outcome (none: its engine failed) and exit.
pub type MemberEnd = (String, Option<RunOutcome>, Exit);

/// One member's run, to the end.
pub type MemberTask = std::pin::Pin<Box<dyn std::future::Future<Output = MemberEnd> + Send>>;

/// The fleet run in progress.
pub struct Driver {
    prepared: Prepared,
    host: Host,
    worst: Exit,
    /// Set once a stop signal came: no member starts after it.
    stopped: watch::Sender<Option<&'static str>>,
}

impl Driver {
    /// A driver of `prepared` through `host`.
    pub fn new(prepared: Prepared, host: Host) -> Self {
        Driver {
            prepared,
            host,
            worst: Exit::Ok,
            stopped: watch::Sender::new(None),
        }
    }

    fn progress(&mut self) -> &mut Progress {
        &mut self.prepared.progress
    }

    /// Canaries first, then the go, then the rest at `concurrency`; returns the worst exit.
    /// A name arriving on `stop` (a signal) stops members from starting, and (headless) is
    /// passed to every member's driver.
    pub async fn run(&mut self, stop: mpsc::Receiver<&'static str>) -> Exit {
        let ended: Vec<(String, Exit)> = self
            .prepared
            .progress
            .ended
            .iter()
            .map(|(n, e)| (n.clone(), *e))
            .collect();
        for (name, e) in ended {
            self.note_exit(e);
            self.lane(
                &name,
                LaneState::RolledBack,
                "rolled back (an earlier session)",
            );
        }
        for name in self.prepared.progress.completed.clone() {
            self.lane(
                &name,
                LaneState::Completed,
                "completed (an earlier session)",
            );
        }
        let (stops, _fan) = fan_out(stop, self.stopped.clone());
        let canaries: Vec<String> = self.prepared.fleet.canary.clone();
        let rest: Vec<String> = self
            .prepared
            .fleet
            .members
            .iter()
            .map(|m| m.name.clone())
            .filter(|n| !canaries.contains(n))
            .collect();
        self.phase(if canaries.is_empty() {
            FleetPhase::Running
        } else {
            FleetPhase::Canary
        });
        let canary_ok = self.batch(&canaries, &rest, 1, &stops).await;
        if !canary_ok && !self.progress().halted {
            self.halt("a canary did not complete", &rest);
        } else if !canaries.is_empty() && !self.progress().go && !self.progress().halted {
            self.canary_go(&rest).await;
        }
        if !self.progress().halted {
            self.phase(FleetPhase::Running);
            let concurrency = self.prepared.fleet.concurrency;
            self.batch(&rest, &[], concurrency, &stops).await;
        }
        let worst = self.worst;
        self.record(&FleetRecord::FleetFinished {
            ts: Utc::now(),
            exit: worst.code(),
        });
        self.phase(FleetPhase::Finished);
        worst
    }

    /// Every canary completed: the rest wait for the operator's go (headless:
    /// `--assume-yes`; the cockpit: `g` on the lanes). A stop signal meanwhile halts.
    async fn canary_go(&mut self, rest: &[String]) {
        let by = match &self.host {
            Host::Headless { opts, .. } => opts.assume_yes.then(|| "--assume-yes".to_string()),
            Host::Served { hub, .. } => {
                let hub = hub.clone();
                hub.set_phase(FleetPhase::AwaitingGo, None);
                let mut stopped = self.stopped.subscribe();
                tokio::select! {
                    by = hub.go_given() => Some(by),
                    _ = stopped.wait_for(Option::is_some) => None,
                }
            }
        };
        match by {
            Some(by) => {
                self.record(&FleetRecord::CanaryGo { ts: Utc::now(), by });
                self.progress().go = true;
            }
            None if matches!(self.host, Host::Headless { .. }) => self.halt(
                "the canaries completed; the rest wait for the operator's go (headless: --assume-yes)",
                rest,
            ),
            None => self.halt("the engine was stopped before the go", rest),
        }
    }

    /// Runs `names` (those not done yet), at most `concurrency` at once; with
    /// `halt = "first_failure"`, none starts after one did not complete, and none after a stop
    /// signal (a halt names those and the `later` members, which would have followed this
    /// batch, as not started). Returns whether every one completed.
    async fn batch(
        &mut self,
        names: &[String],
        later: &[String],
        concurrency: usize,
        stops: &Stops,
    ) -> bool {
        let p = &self.prepared.progress;
        let mut all_ok = names.iter().all(|n| !p.ended.contains_key(n));
        let todo: Vec<String> = names
            .iter()
            .filter(|n| !p.completed.contains(n) && !p.ended.contains_key(*n))
            .cloned()
            .collect();
        let mut queue = todo.into_iter();
        let mut running = tokio::task::JoinSet::new();
        // Which member each task runs, for a task that panics.
        let mut names_of = BTreeMap::new();
        loop {
            while running.len() < concurrency && !self.progress().halted {
                let stopped = *self.stopped.borrow();
                if let Some(sig) = stopped {
                    let left: Vec<String> = queue.by_ref().chain(later.iter().cloned()).collect();
                    self.halt(&format!("the fleet received {sig}"), &left);
                    break;
                }
                let Some(name) = queue.next() else { break };
                match self.start(&name, stops) {
                    Some(task) => {
                        let id = running.spawn(task).id();
                        names_of.insert(id, name);
                    }
                    None => {
                        all_ok = false;
                        self.failed(&name, &queue, later);
                    }
                }
            }
            let Some(done) = running.join_next_with_id().await else {
                break;
            };
            let (name, outcome, exit) = match done {
                Ok((_, ended)) => ended,
                // A member whose driver panicked ended without an outcome: a failure.
                Err(e) => {
                    let name = names_of.get(&e.id()).cloned().unwrap_or_default();
                    (name, None, Exit::Failed)
                }
            };
            self.record(&FleetRecord::MemberFinished {
                ts: Utc::now(),
                member: name.clone(),
                outcome,
                exit: exit.code(),
            });
            self.note_exit(exit);
            if exit != Exit::Ok {
                all_ok = false;
                self.failed(&name, &queue, later);
            }
        }
        all_ok
    }

    /// Starts member `name`'s run (resuming its journal when it started before); `None` when
    /// its engine cannot be prepared (said, and counted as a failure).
    fn start(&mut self, name: &str, stops: &Stops) -> Option<MemberTask> {
        let rb = self.prepared.books.get(name)?.clone();
        let journal = self.prepared.journal.member_journal(name);
        // A member that started in an earlier session goes on from its own journal.
        let resumed = journal.exists();
        let choice = if resumed {
            JournalChoice::Resume(journal.clone())
        } else {
            JournalChoice::New(journal.clone())
        };
        let engine = Engine::prepare(
            rb,
            EngineOptions {
                journal: choice,
                accept_changed_runbook: self.prepared.accept.0,
                accept_changed_vars: self.prepared.accept.1,
                operator: Operator::from_env(),
                metrics_file: None,
                also_masked: self.prepared.secrets.clone(),
            },
        );
        let engine = match engine {
            Ok(e) => e,
            Err(e) => {
                // A secret its environment lacks: nothing was done, as for one run (exit 2).
                let exit = if matches!(e, cutover_engine::EngineError::Secret(_)) {
                    Exit::Invalid
                } else {
                    Exit::Failed
                };
                let why = format!("cannot start: {e}");
                self.say(name, &why);
                self.lane(name, LaneState::Ended, &why);
                self.record(&FleetRecord::MemberFinished {
                    ts: Utc::now(),
                    member: name.to_string(),
                    outcome: None,
                    exit: exit.code(),
                });
                self.note_exit(exit);
                return None;
            }
        };
        self.record(&FleetRecord::MemberStarted {
            ts: Utc::now(),
            member: name.to_string(),
            journal: journal.display().to_string(),
            resumed,
        });
        self.lane(name, LaneState::Starting, "starting");
        let member = match &self.host {
            Host::Headless { opts, out } => {
                let (tx, rx) = mpsc::channel(4);
                if let Ok(mut s) = stops.lock() {
                    s.push(tx);
                }
                drive_headless(name, engine, opts.clone(), out.clone(), rx)
            }
            Host::Served { hub, dir } => {
                let index = self.member_index(name);
                let cap = crate::fleet_serve::member_output_cap(self.prepared.fleet.concurrency);
                crate::fleet_serve::serve_member(
                    name,
                    (index, cap),
                    engine,
                    hub.clone(),
                    dir.clone(),
                )
            }
        };
        Some(member)
    }

    /// Member `name`'s position in the fleet file (its socket's name).
    fn member_index(&self, name: &str) -> usize {
        self.prepared
            .fleet
            .members
            .iter()
            .position(|m| m.name == name)
            .unwrap_or(0)
    }

    /// Member `name` did not complete: with `halt = "first_failure"`, the members still
    /// queued, and those `later` ones that would have followed, never start. Stopped by a
    /// signal, the halt names the signal: the member ended because of it.
    fn failed(&mut self, name: &str, queue: &std::vec::IntoIter<String>, later: &[String]) {
        if self.prepared.fleet.halt == Halt::FirstFailure && !self.progress().halted {
            let left: Vec<String> = queue.clone().chain(later.iter().cloned()).collect();
            let reason = match *self.stopped.borrow() {
                Some(sig) => format!("the fleet received {sig}"),
                None => format!("member {name} did not complete"),
            };
            self.halt(&reason, &left);
        }
    }

    /// Records a halt: `left` never start.
    fn halt(&mut self, reason: &str, left: &[String]) {
        self.progress().halted = true;
        let p = &self.prepared.progress;
        let not_started: Vec<String> = left
            .iter()
            .filter(|n| !p.completed.contains(n) && !p.ended.contains_key(*n))
            .cloned()
            .collect();
        let text = format!(
            "fleet halted: {reason}; not started: {}",
            if not_started.is_empty() {
                "none".to_string()
            } else {
                not_started.join(", ")
            }
        );
        match &self.host {
            Host::Headless { .. } => crate::say::err(&format!("cutover: {text}")),
            Host::Served { hub, .. } => {
                tracing::warn!("{text}");
                hub.set_phase(FleetPhase::Halted, Some(reason.to_string()));
                hub.notice(&text);
            }
        }
        for n in &not_started {
            self.lane(n, LaneState::Halted, "not started: the fleet halted");
        }
        if !not_started.is_empty() {
            self.note_exit(Exit::Failed);
        }
        self.record(&FleetRecord::Halted {
            ts: Utc::now(),
            reason: reason.to_string(),
            not_started,
        });
    }

    /// Keeps the worst exit seen.
    fn note_exit(&mut self, e: Exit) {
        if severity(e) > severity(self.worst) {
            self.worst = e;
        }
    }

    /// Appends to the fleet journal; a failure is said (the members' own journals go on).
    fn record(&mut self, rec: &FleetRecord) {
        if let Err(e) = self.prepared.journal.append(rec) {
            // No member starts unrecorded: the fleet halts (those in flight run on, each in
            // its own journal), and the fleet fails.
            let halting = if self.progress().halted {
                ""
            } else {
                "; no more members start"
            };
            self.progress().halted = true;
            self.note_exit(Exit::Failed);
            let why = format!(
                "cutover: cannot write the fleet journal {}: {e}{halting}",
                self.prepared.journal.path.display()
            );
            match &self.host {
                Host::Headless { .. } => crate::say::err(&why),
                Host::Served { hub, .. } => {
                    tracing::error!("{why}");
                    hub.notice(&why);
                }
            }
        }
    }

    /// One line about member `name`: prefixed like its output (headless), or a notice on the
    /// lanes.
    fn say(&self, name: &str, text: &str) {
        match &self.host {
            Host::Headless { opts, out } => {
                let mut p = Prefixed::new(name, opts.json, out.clone());
                let _ = p.line(text);
            }
            Host::Served { hub, .. } => {
                tracing::warn!("[{name}] {text}");
                hub.notice(&format!("[{name}] {text}"));
            }
        }
    }

    /// Sets member `name`'s lane (the cockpit's; nothing headless).
    fn lane(&self, name: &str, state: LaneState, title: &str) {
        if let Host::Served { hub, .. } = &self.host {
            hub.set_state(name, state, title);
        }
    }

    /// Sets the fleet's phase on the lanes (a halt sets its own, with its reason).
    fn phase(&self, phase: FleetPhase) {
        if let Host::Served { hub, .. } = &self.host
            && !(hub.phase() == FleetPhase::Halted && phase == FleetPhase::Running)
        {
            hub.set_phase(phase, None);
        }
    }
}

/// Member `name` driven by the headless driver, its lines prefixed.
fn drive_headless(
    name: &str,
    engine: Engine,
    opts: HeadlessOptions,
    out: Arc<Mutex<std::io::Stdout>>,
    rx: mpsc::Receiver<&'static str>,
) -> MemberTask {
    let mut out = Prefixed::new(name, opts.json, out);
    let name = name.to_string();
    Box::pin(async move {
        let ended = headless::drive(engine, opts, &mut out, rx).await;
        out.flush_rest();
        match ended {
            Ok(e) => (name, Some(e.outcome), Exit::of_run(e.outcome)),
            Err(e) => {
                let _ = out.line(&format!("the engine failed: {e}"));
                (name, None, Exit::Failed)
            }
        }
    })
}

/// The stop channels of the members' drivers, each signal sent to all.
type Stops = Arc<Mutex<Vec<mpsc::Sender<&'static str>>>>;

/// Sends each signal that arrives on `stop` to every member's driver, and marks the fleet
/// stopped.
fn fan_out(
    mut stop: mpsc::Receiver<&'static str>,
    stopped: watch::Sender<Option<&'static str>>,
) -> (Stops, tokio::task::JoinHandle<()>) {
    let senders: Stops = Arc::default();
    let all = senders.clone();
    let task = tokio::spawn(async move {
        while let Some(name) = stop.recv().await {
            stopped.send_replace(Some(name));
            let now: Vec<_> = all.lock().map(|s| s.clone()).unwrap_or_default();
            for s in now {
                let _ = s.send(name).await;
            }
        }
    });
    (senders, task)
}

/// A member's output: each complete line written whole to the shared stdout, prefixed
/// `[member] ` (human) or tagged `"member":"…"` (JSON).
struct Prefixed {
    name: String,
    json: bool,
    out: Arc<Mutex<std::io::Stdout>>,
    buf: Vec<u8>,
}

impl Prefixed {
    fn new(name: &str, json: bool, out: Arc<Mutex<std::io::Stdout>>) -> Self {
        Prefixed {
            name: name.to_string(),
            json,
            out,
            buf: Vec::new(),
        }
    }

    /// Writes one line (without its `\n`) with the member's mark.
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        let marked = self.mark(text);
        let mut o = self
            .out
            .lock()
            .map_err(|_| std::io::Error::other("stdout's lock is poisoned"))?;
        writeln!(o, "{marked}")?;
        o.flush()
    }

    /// `text` marked as this member's: `[name] text`, or a JSON record with `"member"` first
    /// (a line that is no JSON record, the fleet's own word about the member, becomes one:
    /// `{"member":…,"type":"note","message":…}`).
    fn mark(&self, text: &str) -> String {
        if !self.json {
            return format!("[{}] {text}", self.name);
        }
        match text.strip_prefix('{') {
            Some(rest) => format!(
                "{{\"member\":{},{rest}",
                serde_json::Value::String(self.name.clone())
            ),
            None => serde_json::json!({ "member": self.name, "type": "note", "message": text })
                .to_string(),
        }
    }

    /// A last line without its `\n`.
    fn flush_rest(&mut self) {
        if !self.buf.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            let _ = self.line(&rest);
        }
    }
}

impl Write for Prefixed {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.line(&text)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_member_decides_the_exit() {
        let order = [
            Exit::Ok,
            Exit::RolledBack,
            Exit::Invalid,
            Exit::RolledBackPartly,
            Exit::Failed,
        ];
        for w in order.windows(2) {
            assert!(severity(w[0]) < severity(w[1]), "{w:?}");
        }
    }

    /// The fleet's engine keeps 256 MiB of output for its members' terminals: one share each,
    /// within a single run's 64 MiB and no less than 256 KiB.
    #[test]
    fn members_share_one_output_budget() {
        use crate::fleet_serve::member_output_cap;
        const MIB: usize = 1024 * 1024;
        assert_eq!(member_output_cap(1), 64 * MIB);
        assert_eq!(member_output_cap(4), 64 * MIB);
        assert_eq!(member_output_cap(6), 256 * MIB / 6);
        assert_eq!(member_output_cap(16), 16 * MIB);
        assert_eq!(member_output_cap(10_000), MIB / 4);
        assert_eq!(member_output_cap(0), 64 * MIB);
    }

    /// A member's lines are marked; a JSON record is tagged with the member as its first
    /// key, the name JSON-escaped; a partial write is held until its line ends.
    #[test]
    fn member_lines_are_marked_and_json_records_tagged() {
        let out = Arc::new(Mutex::new(std::io::stdout()));
        let mut p = Prefixed::new("s\"1", true, out);
        let v: serde_json::Value =
            serde_json::from_str(&p.mark("{\"type\":\"ready\"}")).expect("still JSON");
        assert_eq!(v["member"], "s\"1");
        assert_eq!(v["type"], "ready");
        let v: serde_json::Value =
            serde_json::from_str(&p.mark("cannot start: a \"quoted\" word")).expect("JSON");
        assert_eq!(v["member"], "s\"1");
        assert_eq!(v["type"], "note");
        assert_eq!(v["message"], "cannot start: a \"quoted\" word");
        p.write_all(b"{\"type\":").expect("write");
        assert_eq!(p.buf, b"{\"type\":");
        p.json = false;
        assert_eq!(p.mark("hello"), "[s\"1] hello");
    }
}
