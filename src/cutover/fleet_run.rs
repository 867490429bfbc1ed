//! `cutover run RUNBOOK --fleet FLEET.toml --headless`: one runbook over every member of a
//! fleet, each member a full run (its own engine, journal, gates, triggers, rollback) in this
//! process, driven by the headless driver. The fleet's own decisions (start, canary go, halt,
//! each member's start and end, the end) go to the fleet journal, which names each member's
//! journal; `--resume FLEET-JOURNAL` continues every member from its own.
//!
//! Rules (README, "A fleet"): canaries run first, one after the other; the rest start only
//! when every canary completed and the operator said go (headless: `--assume-yes`), at most
//! `concurrency` at a time; with `halt = "first_failure"` no member starts after one did not
//! complete (members in flight run on). The process exits with the worst member's code.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::mpsc;

use cutover_engine::{Engine, EngineOptions, JournalChoice};
use cutover_model::fleet::{Fleet, FleetRecord, Halt};
use cutover_model::protocol::{Operator, RunOutcome};
use cutover_model::runbook::Runbook;

use crate::exit::{self, Exit};
use crate::headless::{self, HeadlessOptions};

/// The fleet journal: JSON lines, each fsynced before the fleet acts on it.
struct FleetJournal {
    file: std::fs::File,
    path: PathBuf,
}

impl FleetJournal {
    /// Creates a new journal (never over an existing file) or opens one to resume.
    fn open(path: &Path, resume: bool) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut o = std::fs::OpenOptions::new();
        o.append(true).mode(0o600).custom_flags(libc::O_NOFOLLOW);
        if resume {
            o.create(false);
        } else {
            o.create_new(true);
        }
        Ok(FleetJournal {
            file: o.open(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Appends one record and syncs it to disk.
    fn append(&mut self, rec: &FleetRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    /// The journal of member `name`: beside the fleet journal, in `<stem>.members/`.
    fn member_journal(&self, name: &str) -> PathBuf {
        members_dir(&self.path).join(format!("{name}.jsonl"))
    }
}

/// The largest fleet journal read back: a few lines per member.
const MAX_FLEET_JOURNAL: u64 = 64 * 1024 * 1024;

/// The records of a fleet journal (a torn last line is left out). Only a regular file is
/// read (a FIFO or a device would hang), through no symbolic link, and at most
/// [`MAX_FLEET_JOURNAL`] bytes of it.
pub fn read_journal(path: &Path) -> std::io::Result<Vec<FleetRecord>> {
    let bytes = cutover_model::file::read_regular(path, MAX_FLEET_JOURNAL, "fleet journal", false)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Where the members' own journals go: `<fleet journal's stem>.members/` beside it.
pub fn members_dir(fleet_journal: &Path) -> PathBuf {
    beside(fleet_journal, "members")
}

/// `<stem of path>.<suffix>` in `path`'s directory.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "fleet".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.{suffix}"))
}

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

/// What the fleet run was asked to do.
pub struct FleetArgs<'a> {
    /// The runbook.
    pub runbook: &'a Path,
    /// The fleet file.
    pub fleet: &'a Path,
    /// `--var` values, under each member's own.
    pub overrides: &'a BTreeMap<String, String>,
    /// With `--resume`: go on although the runbook changed since a member's journal began.
    pub accept_changed_runbook: bool,
    /// With `--resume`: go on although a member's vars changed since its journal began.
    pub accept_changed_vars: bool,
    /// Where the fleet journal goes (`--journal`), or the one to resume (`--resume`).
    pub journal: Option<PathBuf>,
    /// Resume the fleet journal.
    pub resume: bool,
    /// How each member's run is driven.
    pub opts: HeadlessOptions,
}

/// Where each member stands when the fleet starts (or resumes).
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Members that completed: they stay completed.
    completed: Vec<String>,
    /// Members whose run is over for good (rolled back: such a run cannot be resumed), with
    /// their exit.
    ended: BTreeMap<String, Exit>,
    /// The canary go was given.
    go: bool,
    /// No more members start (this session).
    halted: bool,
}

/// Where each member stands, from the fleet journal being resumed: a completed member stays
/// completed, a rolled-back one stays rolled back; every other member that started is
/// resumed from its own journal, and the rest start. A halt of an earlier session is not
/// kept: resuming is the operator's decision to go on.
fn progress_of(records: &[FleetRecord]) -> Progress {
    let mut p = Progress::default();
    for r in records {
        match r {
            FleetRecord::MemberFinished {
                member, outcome, ..
            } => match outcome {
                Some(RunOutcome::Completed) => p.completed.push(member.clone()),
                Some(o @ (RunOutcome::RolledBack | RunOutcome::RolledBackPartly)) => {
                    p.ended.insert(member.clone(), Exit::of_run(*o));
                }
                _ => {}
            },
            FleetRecord::CanaryGo { .. } => p.go = true,
            _ => {}
        }
    }
    p
}

/// Runs the fleet headless; returns the worst member's exit.
pub fn run(args: FleetArgs<'_>) -> Exit {
    let fleet = match Fleet::load(args.fleet) {
        Ok(f) => f,
        Err(e) => return exit::fail(Exit::Invalid, &e.to_string()),
    };
    let books = match fleet.runbooks(args.runbook, args.overrides) {
        Ok(b) => b,
        Err(e) => return exit::fail(Exit::Invalid, &e.to_string()),
    };
    let name = books.first().map_or("fleet", |(_, rb)| rb.name.as_str());
    let path = args.journal.clone().unwrap_or_else(|| {
        cutover_engine::journal::default_path(&format!("{name}-fleet"), Utc::now())
    });
    let (mut journal, before) = match open_journal(&path, args.resume) {
        Ok(j) => j,
        Err(why) => return exit::fail(Exit::Invalid, &why),
    };
    let rt = match crate::serve::client_runtime("cutover", Exit::Failed) {
        Ok(rt) => rt,
        Err(e) => return e,
    };
    let started = FleetRecord::FleetStarted {
        ts: Utc::now(),
        runbook: args.runbook.display().to_string(),
        fleet: fleet.file.clone(),
        members: fleet.members.iter().map(|m| m.name.clone()).collect(),
        resumed: args.resume,
    };
    if let Err(e) = journal.append(&started) {
        return exit::fail(
            Exit::Failed,
            &format!(
                "cutover: cannot write the fleet journal {}: {e}",
                path.display()
            ),
        );
    }
    crate::say::err(&format!(
        "cutover: fleet of {} members · fleet journal {}",
        fleet.members.len(),
        path.display()
    ));
    let mut driver = Driver {
        fleet: &fleet,
        books: books.into_iter().collect(),
        journal,
        progress: progress_of(&before),
        opts: args.opts,
        accept: (args.accept_changed_runbook, args.accept_changed_vars),
        out: Arc::new(Mutex::new(std::io::stdout())),
        worst: Exit::Ok,
    };
    let exit = rt.block_on(driver.run());
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    exit
}

/// Opens the fleet journal: new (refusing an existing file), or to resume (with what it
/// holds).
fn open_journal(path: &Path, resume: bool) -> Result<(FleetJournal, Vec<FleetRecord>), String> {
    let before = if resume {
        read_journal(path).map_err(|e| {
            format!(
                "cutover: cannot read the fleet journal {}: {e}",
                path.display()
            )
        })?
    } else {
        Vec::new()
    };
    if resume
        && !before
            .iter()
            .any(|r| matches!(r, FleetRecord::FleetStarted { .. }))
    {
        return Err(format!(
            "cutover: {} is not a fleet journal (no fleet_started record)",
            path.display()
        ));
    }
    let j = FleetJournal::open(path, resume).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "cutover: {} exists: resume it with --resume, or choose another --journal",
                path.display()
            )
        } else {
            format!(
                "cutover: cannot open the fleet journal {}: {e}",
                path.display()
            )
        }
    })?;
    Ok((j, before))
}

/// The fleet run in progress.
struct Driver<'a> {
    fleet: &'a Fleet,
    books: BTreeMap<String, Runbook>,
    journal: FleetJournal,
    progress: Progress,
    opts: HeadlessOptions,
    /// `--accept-changed-runbook`, `--accept-changed-vars`.
    accept: (bool, bool),
    out: Arc<Mutex<std::io::Stdout>>,
    worst: Exit,
}

impl Driver<'_> {
    /// Canaries first, then the go, then the rest at `concurrency`; returns the worst exit.
    async fn run(&mut self) -> Exit {
        let ended: Vec<Exit> = self.progress.ended.values().copied().collect();
        for e in ended {
            self.note_exit(e);
        }
        let stop = match headless::stop_signals() {
            Ok(s) => s,
            Err(e) => {
                return exit::fail(Exit::Failed, &format!("cutover: cannot watch signals: {e}"));
            }
        };
        let (stops, _fan) = fan_out(stop);
        let canaries: Vec<String> = self.fleet.canary.clone();
        let rest: Vec<String> = self
            .fleet
            .members
            .iter()
            .map(|m| m.name.clone())
            .filter(|n| !canaries.contains(n))
            .collect();
        let canary_ok = self.batch(&canaries, 1, &stops).await;
        if !canary_ok && !self.progress.halted {
            self.halt("a canary did not complete", &rest);
        } else if !self.fleet.canary.is_empty() && !self.progress.go && !self.progress.halted {
            if !self.opts.assume_yes {
                self.halt(
                    "the canaries completed; the rest wait for the operator's go (headless: --assume-yes)",
                    &rest,
                );
            } else {
                self.record(&FleetRecord::CanaryGo {
                    ts: Utc::now(),
                    by: "--assume-yes".into(),
                });
                self.progress.go = true;
            }
        }
        if !self.progress.halted {
            self.batch(&rest, self.fleet.concurrency, &stops).await;
        }
        let worst = self.worst;
        self.record(&FleetRecord::FleetFinished {
            ts: Utc::now(),
            exit: worst.code(),
        });
        worst
    }

    /// Runs `names` (those not done yet), at most `concurrency` at once; with
    /// `halt = "first_failure"`, none starts after one did not complete. Returns whether every
    /// one completed.
    async fn batch(&mut self, names: &[String], concurrency: usize, stops: &Stops) -> bool {
        let mut all_ok = names.iter().all(|n| !self.progress.ended.contains_key(n));
        let todo: Vec<String> = names
            .iter()
            .filter(|n| {
                !self.progress.completed.contains(n) && !self.progress.ended.contains_key(*n)
            })
            .cloned()
            .collect();
        let mut queue = todo.into_iter();
        let mut running = tokio::task::JoinSet::new();
        // Which member each task runs, for a task that panics.
        let mut names_of = BTreeMap::new();
        loop {
            while running.len() < concurrency && !self.progress.halted {
                let Some(name) = queue.next() else { break };
                match self.start(&name, stops) {
                    Some(task) => {
                        let id = running.spawn(task).id();
                        names_of.insert(id, name);
                    }
                    None => {
                        all_ok = false;
                        self.failed(&name, &queue);
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
                self.failed(&name, &queue);
            }
        }
        all_ok
    }

    /// Starts member `name`'s run (resuming its journal when it started before); `None` when
    /// its engine cannot be prepared (said, and counted as a failure).
    fn start(
        &mut self,
        name: &str,
        stops: &Stops,
    ) -> Option<
        impl std::future::Future<Output = (String, Option<RunOutcome>, Exit)> + Send + 'static,
    > {
        let rb = self.books.get(name)?.clone();
        let journal = self.journal.member_journal(name);
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
                accept_changed_runbook: self.accept.0,
                accept_changed_vars: self.accept.1,
                operator: Operator::from_env(),
                metrics_file: None,
            },
        );
        let engine = match engine {
            Ok(e) => e,
            Err(e) => {
                self.say(name, &format!("cannot start: {e}"));
                self.record(&FleetRecord::MemberFinished {
                    ts: Utc::now(),
                    member: name.to_string(),
                    outcome: None,
                    exit: Exit::Failed.code(),
                });
                self.note_exit(Exit::Failed);
                return None;
            }
        };
        self.record(&FleetRecord::MemberStarted {
            ts: Utc::now(),
            member: name.to_string(),
            journal: journal.display().to_string(),
            resumed,
        });
        let (tx, rx) = mpsc::channel(4);
        if let Ok(mut s) = stops.lock() {
            s.push(tx);
        }
        let opts = self.opts.clone();
        let mut out = Prefixed::new(name, opts.json, self.out.clone());
        let name = name.to_string();
        Some(async move {
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

    /// Member `name` did not complete: with `halt = "first_failure"`, the members still
    /// queued never start.
    fn failed(&mut self, name: &str, queue: &std::vec::IntoIter<String>) {
        if self.fleet.halt == Halt::FirstFailure && !self.progress.halted {
            let left: Vec<String> = queue.clone().collect();
            self.halt(&format!("member {name} did not complete"), &left);
        }
    }

    /// Records a halt: `left` never start.
    fn halt(&mut self, reason: &str, left: &[String]) {
        self.progress.halted = true;
        let not_started: Vec<String> = left
            .iter()
            .filter(|n| {
                !self.progress.completed.contains(n) && !self.progress.ended.contains_key(*n)
            })
            .cloned()
            .collect();
        crate::say::err(&format!(
            "cutover: fleet halted: {reason}; not started: {}",
            if not_started.is_empty() {
                "none".to_string()
            } else {
                not_started.join(", ")
            }
        ));
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
        if let Err(e) = self.journal.append(rec) {
            crate::say::err(&format!(
                "cutover: cannot write the fleet journal {}: {e}",
                self.journal.path.display()
            ));
        }
    }

    /// One line about member `name`, prefixed like its output.
    fn say(&self, name: &str, text: &str) {
        let mut p = Prefixed::new(name, self.opts.json, self.out.clone());
        let _ = p.line(text);
    }
}

/// The stop channels of the members' drivers, each signal sent to all.
type Stops = Arc<Mutex<Vec<mpsc::Sender<&'static str>>>>;

/// Sends each signal that arrives on `stop` to every member's driver.
fn fan_out(mut stop: mpsc::Receiver<&'static str>) -> (Stops, tokio::task::JoinHandle<()>) {
    let senders: Stops = Arc::default();
    let all = senders.clone();
    let task = tokio::spawn(async move {
        while let Some(name) = stop.recv().await {
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

    /// `text` marked as this member's: `[name] text`, or a JSON record with `"member"` first.
    fn mark(&self, text: &str) -> String {
        if !self.json {
            return format!("[{}] {text}", self.name);
        }
        match text.strip_prefix('{') {
            Some(rest) => format!(
                "{{\"member\":{},{rest}",
                serde_json::Value::String(self.name.clone())
            ),
            None => text.to_string(),
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

    fn finished(member: &str, outcome: Option<RunOutcome>, exit: u8) -> FleetRecord {
        FleetRecord::MemberFinished {
            ts: Utc::now(),
            member: member.into(),
            outcome,
            exit,
        }
    }

    /// On resume: completed and rolled-back members stay as they ended; an aborted one, one
    /// that could not start and one never finished go on; an earlier halt is not kept.
    #[test]
    fn a_resumed_fleet_keeps_what_ended_for_good_and_goes_on_with_the_rest() {
        let recs = vec![
            finished("done", Some(RunOutcome::Completed), 0),
            finished("back", Some(RunOutcome::RolledBack), 3),
            finished("partly", Some(RunOutcome::RolledBackPartly), 5),
            finished("aborted", Some(RunOutcome::Aborted), 4),
            finished("no-start", None, 4),
            FleetRecord::CanaryGo {
                ts: Utc::now(),
                by: "--assume-yes".into(),
            },
            FleetRecord::Halted {
                ts: Utc::now(),
                reason: "x".into(),
                not_started: vec!["later".into()],
            },
        ];
        let p = progress_of(&recs);
        assert_eq!(p.completed, ["done"]);
        assert_eq!(
            p.ended.keys().map(String::as_str).collect::<Vec<_>>(),
            ["back", "partly"]
        );
        assert_eq!(p.ended["partly"], Exit::RolledBackPartly);
        assert!(p.go && !p.halted);
    }

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
        p.write_all(b"{\"type\":").expect("write");
        assert_eq!(p.buf, b"{\"type\":");
        p.json = false;
        assert_eq!(p.mark("hello"), "[s\"1] hello");
    }
}
