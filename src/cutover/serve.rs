//! The detached engine: `cutover run` and `cutover drill` (in the cockpit) start the run in a
//! process of its own — its own session, no controlling terminal, stdio to the run's log —
//! that listens on a unix socket; the cockpit in this terminal then attaches to it. Losing
//! the terminal only detaches.
//!
//! The foreground passes the run's description on the engine's stdin and reads its status
//! lines (progress, then ready or failed) from its stdout, which the engine closes once it
//! listens.
// `unsafe` here: fork, setsid and the detached engine's file descriptors through libc; each block says why it is sound.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::exit::Exit;
use serde::{Deserialize, Serialize};

use cutover_engine::{Engine, EngineOptions, JournalChoice};
use cutover_model::protocol::Operator;
use cutover_model::runbook::{LoadError, Runbook};
use cutover_socket::rundir::{self, RunMeta};
use cutover_socket::server::{self, ServeOptions, SharedGroup};

/// What a detached engine is to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineSpec {
    /// `cutover run RUNBOOK`.
    Run(RunSpec),
    /// `cutover drill` in the cockpit.
    Drill(crate::drill_plan::DrillPlan),
    /// `cutover run RUNBOOK --fleet FLEET.toml` in the cockpit (the lanes).
    Fleet(crate::fleet_serve::FleetSpec),
}

/// `cutover serve-engine`: forks off the detached engine and serves the run its foreground
/// described on stdin.
pub fn main() -> Exit {
    let Some(spec) = detach_and_read_spec() else {
        return Exit::Failed;
    };
    match serde_json::from_slice::<EngineSpec>(&spec) {
        Ok(EngineSpec::Run(run)) => serve_run(run),
        Ok(EngineSpec::Drill(plan)) => crate::serve_drill::serve_drill(plan),
        Ok(EngineSpec::Fleet(spec)) => crate::fleet_serve::serve(spec),
        Err(e) => StatusPipe.fail(
            format!("the engine process could not read its run: {e}"),
            Exit::Failed,
        ),
    }
}

/// What the detached engine of `cutover run` runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// The runbook.
    pub runbook: PathBuf,
    /// `--var` overrides.
    pub overrides: BTreeMap<String, String>,
    /// The journal: a new one at this path, or this one resumed.
    pub journal: PathBuf,
    /// Whether `journal` is resumed.
    pub resume: bool,
    /// `--accept-changed-runbook`.
    pub accept_changed: bool,
    /// `--accept-changed-vars`.
    #[serde(default)]
    pub accept_changed_vars: bool,
    /// The diagnostics log.
    pub log: PathBuf,
    /// `--share-group`.
    pub share_group: Option<String>,
    /// Who started it.
    pub operator: Operator,
    /// `--metrics-file`, absolute.
    #[serde(default)]
    pub metrics_file: Option<PathBuf>,
}

/// A status line from the engine to the foreground.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Something worth saying while it starts (the drill's set-up).
    Progress {
        /// The text.
        message: String,
    },
    /// The engine listens.
    Ready {
        /// The run's socket.
        socket: PathBuf,
        /// The run's id.
        id: String,
        /// Lines to print when the foreground leaves (the drill's `--keep` instructions).
        #[serde(default)]
        farewell: Vec<String>,
        /// Whether the run can be resumed should it end early.
        #[serde(default = "yes")]
        resumable: bool,
    },
    /// The run could not start.
    Failed {
        /// Why, for the operator.
        message: String,
        /// The exit code ([`Exit::code`]: 2 usage/invalid, 4 failure).
        code: u8,
    },
}

fn yes() -> bool {
    true
}

/// The engine is ready to attach to.
#[derive(Debug, Clone)]
pub struct Ready {
    /// Its socket.
    pub socket: PathBuf,
    /// The run's id.
    pub id: String,
    /// What the foreground says when it leaves an ended run.
    pub leaving: Leaving,
}

/// What a terminal says when it leaves an ended run, beyond the run's summary.
#[derive(Debug, Clone, Default)]
pub struct Leaving {
    /// Extra lines (the drill's `--keep` instructions).
    pub farewell: Vec<String>,
    /// Whether "resume with" is worth saying (not for a drill whose clusters are gone).
    pub resumable: bool,
}

/// Starts a detached engine for `spec` (a serialisable description of the run), printing its
/// progress with `progress`; returns when it listens, or how it failed (message, exit code).
pub fn start<S: Serialize>(
    spec: &S,
    log: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Ready, (String, Exit)> {
    let fail = |m: String| (format!("cutover: {m}"), Exit::Failed);
    let exe =
        std::env::current_exe().map_err(|e| fail(format!("cannot find this program: {e}")))?;
    let log_file =
        open_log(log).map_err(|e| fail(format!("cannot write the log {}: {e}", log.display())))?;
    let mut child = Command::new(exe)
        .arg("serve-engine")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| fail(format!("cannot start the engine process: {e}")))?;
    let body = serde_json::to_vec(spec).map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&body);
    }
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| fail("the engine process has no status pipe".into()))?;
    // The process started is the one that forks the engine off and exits at once.
    let _ = child.wait();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Status>(&line) {
            Ok(Status::Progress { message }) => progress(&message),
            Ok(Status::Ready {
                socket,
                id,
                farewell,
                resumable,
            }) => {
                return Ok(Ready {
                    socket,
                    id,
                    leaving: Leaving {
                        farewell,
                        resumable,
                    },
                });
            }
            Ok(Status::Failed { message, code }) => return Err((message, Exit::from_code(code))),
            Err(_) => progress(&line),
        }
    }
    Err(fail(format!(
        "the engine process ended before it was ready; see {}",
        log.display()
    )))
}

/// Opens the log for the engine's stderr as the diagnostics log is opened: appended, 0600,
/// not through a link, and only a regular file (a FIFO there would hang the start).
fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::log::open(path)
}

/// The status pipe to the foreground: closed (made /dev/null) once the engine is ready.
pub struct StatusPipe;

impl StatusPipe {
    /// Says the run could not start, and why; returns `exit`.
    pub fn fail(&self, message: String, exit: Exit) -> Exit {
        self.say(&Status::Failed {
            message,
            code: exit.code(),
        });
        exit
    }

    /// Says one status line.
    pub fn say(&self, status: &Status) {
        if let Ok(line) = serde_json::to_string(status) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
    }

    /// Says the engine listens on `listening`, then closes the pipe.
    pub fn ready(self, listening: &server::Listening, leaving: Leaving) {
        self.say(&Status::Ready {
            socket: listening.socket.clone(),
            id: listening.id().to_string(),
            farewell: leaving.farewell,
            resumable: leaving.resumable,
        });
        self.close();
    }

    /// The foreground has what it needs: stdout now goes nowhere (the foreground sees the
    /// pipe close).
    pub fn close(self) {
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            use std::os::fd::AsRawFd;
            // SAFETY: dup2 onto our own stdout; both descriptors are valid.
            unsafe {
                libc::dup2(null.as_raw_fd(), 1);
            }
        }
    }
}

/// `cutover serve-engine`: detaches (a fork whose parent exits at once, then a session of its
/// own), reads what to run from stdin, and serves it. Must run before any thread starts.
pub fn detach_and_read_spec() -> Option<Vec<u8>> {
    // SAFETY: called first thing in main, while the process has a single thread; the child
    // continues with a copy of it, the parent only exits.
    match unsafe { libc::fork() } {
        -1 => return None,
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: setsid in the child of a fork, which is not a process group leader.
    unsafe {
        libc::setsid();
    }
    let mut spec = Vec::new();
    std::io::stdin().read_to_end(&mut spec).ok()?;
    if let Ok(null) = std::fs::File::open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto our own stdin.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
        }
    }
    Some(spec)
}

/// The engine process of `cutover run`: loads and prepares the run (saying why not, if it
/// cannot), listens, says ready, and serves until the run is over and seen.
pub fn serve_run(spec: RunSpec) -> Exit {
    let pipe = StatusPipe;
    let engine = match prepare_engine(&spec) {
        Ok(e) => e,
        Err(exit) => return exit,
    };
    if let Some(why) = crate::log::init(&spec.log, engine.masker()) {
        tracing::warn!("{why}");
    }
    let rt = match engine_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let journal = engine.journal_path().to_path_buf();
    let name = engine.run_info().name;
    rt.block_on(async move {
        let listening = match listen(&journal, &name, spec.share_group.as_deref(), true) {
            Ok(l) => l,
            Err(message) => {
                // Refused before the run started: a new journal it made is taken back, so the
                // same `--journal` works next time (a resumed one is left as it was).
                if !spec.resume {
                    drop(engine);
                    remove_if_empty(&journal);
                }
                return pipe.fail(message, Exit::Failed);
            }
        };
        pipe.ready(
            &listening,
            Leaving {
                farewell: Vec::new(),
                resumable: true,
            },
        );
        match listening.serve(engine).await {
            Ok(o) => Exit::of_run(o),
            Err(e) => {
                tracing::error!("the run's engine failed: {e}");
                Exit::Failed
            }
        }
    })
}

/// The engine for `spec`: its runbook loaded, its journal opened or resumed. What stops it is
/// said on the status pipe.
fn prepare_engine(spec: &RunSpec) -> Result<Engine, Exit> {
    let rb = match Runbook::load(&spec.runbook, &spec.overrides) {
        Ok(rb) => rb,
        Err(e @ (LoadError::Invalid(_) | LoadError::Io { .. })) => {
            return Err(StatusPipe.fail(e.to_string(), Exit::Invalid));
        }
    };
    let journal = if spec.resume {
        JournalChoice::Resume(spec.journal.clone())
    } else {
        JournalChoice::New(spec.journal.clone())
    };
    Engine::prepare(
        rb,
        EngineOptions {
            journal,
            accept_changed_runbook: spec.accept_changed,
            accept_changed_vars: spec.accept_changed_vars,
            operator: spec.operator.clone(),
            metrics_file: spec.metrics_file.clone(),
            also_masked: Vec::new(),
        },
    )
    .map_err(|e| {
        let exit = if e.is_refusal() {
            Exit::Invalid
        } else {
            Exit::Failed
        };
        StatusPipe.fail(format!("cutover: {e}"), exit)
    })
}

/// Removes a journal that holds nothing yet (a run refused before its first record), and its
/// output directory if that is empty too.
pub fn remove_if_empty(journal: &Path) {
    if std::fs::symlink_metadata(journal).is_ok_and(|m| m.is_file() && m.len() == 0) {
        let _ = std::fs::remove_file(journal);
        let _ = std::fs::remove_dir(cutover_engine::journal::output_dir_for(journal));
    }
}

/// A runtime for the engine process.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// The engine process's runtime; when there is none, the failure is said on the status pipe
/// and [`Exit::Failed`] returned.
pub fn engine_runtime() -> Result<tokio::runtime::Runtime, Exit> {
    runtime().map_err(|e| StatusPipe.fail(format!("cannot start the runtime: {e}"), Exit::Failed))
}

/// The runtime of a command run from a terminal (`what`, as `cutover preflight`); when there
/// is none, a failure ending with `exit`.
pub fn client_runtime(
    what: &str,
    exit: Exit,
) -> Result<tokio::runtime::Runtime, crate::exit::Failure> {
    runtime().map_err(|e| {
        crate::exit::Failure::new(exit, format!("{what}: cannot start the runtime: {e}"))
    })
}

/// Binds the run's socket in this user's run directory, under an id from the journal's name.
pub fn listen(
    journal: &Path,
    runbook: &str,
    share_group: Option<&str>,
    resumable: bool,
) -> Result<server::Listening, String> {
    let dir = rundir::prepare().map_err(|e| e.to_string())?;
    let stem = journal
        .file_stem()
        .map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned());
    let shared = match share_group {
        Some(name) => Some(SharedGroup {
            name: name.to_string(),
            gid: group_id(name).ok_or_else(|| format!("--share-group: no group {name}"))?,
        }),
        None => None,
    };
    let (id, claim) = cutover_socket::claim::claim_id(&dir, &stem);
    let meta = served_here(id, journal, runbook.to_string(), resumable, false);
    server::listen(ServeOptions {
        dir,
        meta,
        shared,
        linger: server::LINGER,
        claim,
        output_cap: None,
    })
    .map_err(|e| e.to_string())
}

/// The description of a run (a fleet's, when `fleet`) that this process serves as `id`,
/// starting now: this process's id and start time, and the journal's absolute path (as
/// given, when it has none).
pub(crate) fn served_here(
    id: String,
    journal: &Path,
    runbook: String,
    resumable: bool,
    fleet: bool,
) -> RunMeta {
    let pid = std::process::id();
    RunMeta {
        id,
        pid,
        pid_start: rundir::start_time(pid),
        journal: std::path::absolute(journal)
            .unwrap_or_else(|_| journal.to_path_buf())
            .display()
            .to_string(),
        runbook,
        started_at: chrono::Utc::now(),
        resumable,
        fleet,
    }
}

/// The id of group `name`.
pub fn group_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getgrnam returns a pointer into static storage, read at once; single use here.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    if g.is_null() {
        return None;
    }
    // SAFETY: g is non-null and points to a valid group entry.
    Some(unsafe { (*g).gr_gid })
}

/// The id of user `name`.
pub fn user_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage, read at once.
    let p = unsafe { libc::getpwnam(c.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: p is non-null and points to a valid passwd entry.
    Some(unsafe { (*p).pw_uid })
}
