//! The detached fleet engine: `cutover run RUNBOOK --fleet FLEET.toml` in the cockpit. One
//! process of its own (as a detached run's: its own session, stdio to the fleet's log) runs
//! every member; each member's run is served on a socket of its own in
//! `<run dir>/<fleet id>.members/` and waits for the operator; the fleet's socket serves the
//! lanes (`cutover_socket::fleet`). Losing the terminal only detaches: `cutover attach` comes
//! back to the lanes, `cutover ls` lists the fleet with its counts.
// `unsafe` here: kill through libc (stopping a drill's fleet engine); the block says why it is sound.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use cutover_engine::Engine;
use cutover_model::fleet::lane::{FleetPhase, FleetView, Lane, LaneState};
use cutover_socket::fleet::FleetHub;
use cutover_socket::rundir;
use cutover_socket::server::{self, ServeOptions};

use crate::exit::{Exit, Failure, Outcome};
use crate::fleet_run::{Driver, FleetArgs, Host, MemberTask, Prepared};
use crate::serve::{Leaving, Status, StatusPipe, served_here};

/// What the detached fleet engine runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetSpec {
    /// The fleet run, its journal path resolved.
    pub args: FleetArgs,
    /// The fleet's diagnostics log.
    pub log: PathBuf,
}

/// Starts the fleet's engine for `args` and opens the lanes on it; returns the fleet's exit
/// (or 0 when the operator detaches; a `drill`'s fleet ends with its terminal).
pub fn start_and_attach(
    mut args: FleetArgs,
    theme: cutover_cockpit::tui::theme::Theme,
    drill: bool,
) -> Outcome {
    // What can be refused is refused here, plainly, before anything detaches.
    let fleet = match cutover_model::fleet::Fleet::load(&args.fleet) {
        Ok(f) => f,
        Err(e) => return Err(Failure::new(Exit::Invalid, e.to_string())),
    };
    let books = match fleet.runbooks(&args.runbook, &args.overrides) {
        Ok(b) => b,
        Err(e) => return Err(Failure::new(Exit::Invalid, e.to_string())),
    };
    let journal = crate::fleet_run::journal_path(&args, &books);
    let journal = std::path::absolute(&journal).unwrap_or(journal);
    args.journal = Some(journal.clone());
    for p in [&mut args.runbook, &mut args.fleet] {
        if let Ok(abs) = std::path::absolute(&*p) {
            *p = abs;
        }
    }
    let log = log_beside(&journal);
    if let Err(why) = check_log(&log) {
        return Err(Failure::new(Exit::Failed, why));
    }
    let spec = crate::serve::EngineSpec::Fleet(FleetSpec {
        args,
        log: log.clone(),
    });
    match crate::serve::start(&spec, &log, crate::say::err) {
        Ok(ready) => {
            let seat = crate::fleet_attach::Seat {
                control: true,
                take_over: false,
                drill,
            };
            crate::fleet_attach::lanes(&ready.socket, &ready.id, seat, &theme)
        }
        Err((message, exit)) => Err(Failure::new(exit, message)),
    }
}

/// The fleet's log: `<stem>.log` beside the journal (`<journal>.log` when the journal is
/// itself named `….log`: the log is never the journal).
fn log_beside(journal: &Path) -> PathBuf {
    let log = crate::fleet_journal::beside(journal, "log");
    if log == journal {
        crate::log::default_path(journal)
    } else {
        log
    }
}

/// Refuses a log path that is there but not a regular file (a link is not followed: it could
/// point at any file of this user's; a FIFO is not opened: that would hang), or that cannot
/// be written (its directory is read-only), saying so before anything starts.
fn check_log(log: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(log).is_ok_and(|m| !m.is_file()) {
        return Err(format!(
            "cutover: the fleet's log {} is not a regular file (a link, a FIFO or a directory): refusing to write to it",
            log.display()
        ));
    }
    let parent = log.parent().filter(|d| !d.as_os_str().is_empty());
    parent
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| crate::log::open(log))
        .map(drop)
        .map_err(|e| {
            format!(
                "cutover: cannot write the fleet's log {} (beside the fleet journal): {e}",
                log.display()
            )
        })
}

/// The fleet's engine process (after the detach): prepares the fleet (saying why not),
/// listens, says ready, runs every member, and stays until a controlling terminal saw the
/// end (or [`server::LINGER`] passes with none, or a signal).
pub fn serve(spec: FleetSpec) -> Exit {
    let pipe = StatusPipe;
    let place = match reserve(spec.args.journal.as_deref()) {
        Ok(p) => p,
        Err(why) => return pipe.fail(why, Exit::Failed),
    };
    let prepared = match crate::fleet_run::prepare(&spec.args) {
        Ok(p) => p,
        Err((why, code)) => {
            let _ = std::fs::remove_dir(&place.members);
            return pipe.fail(why, code);
        }
    };
    if let Some(why) = crate::log::init(&spec.log, Default::default()) {
        tracing::warn!("{why}");
    }
    let rt = match crate::serve::engine_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let exit = rt.block_on(serve_prepared(prepared, place, pipe));
    rt.shutdown_timeout(Duration::from_secs(2));
    exit
}

/// Listens on the fleet's socket and runs the fleet.
async fn serve_prepared(prepared: Prepared, place: Place, pipe: StatusPipe) -> Exit {
    let (stop, stopped) = match stop_signals() {
        Ok(s) => s,
        Err(e) => return pipe.fail(format!("cannot take over signals: {e}"), Exit::Failed),
    };
    let bound = match bind(&prepared, place) {
        Ok(b) => b,
        Err(why) => return pipe.fail(why, Exit::Failed),
    };
    let hub = FleetHub::new(first_view(&prepared, &bound.id));
    let accept = tokio::spawn(cutover_socket::fleet_session::accept_loop(
        bound.listener,
        hub.clone(),
    ));
    pipe.say(&Status::Ready {
        socket: bound.socket.clone(),
        id: bound.id.clone(),
        farewell: Leaving::default().farewell,
        resumable: true,
    });
    pipe.close();
    let mut driver = Driver::new(
        prepared,
        Host::Served {
            hub: hub.clone(),
            dir: bound.members.clone(),
        },
    );
    let exit = driver.run(stop).await;
    let signalled = linger(&hub, stopped.clone()).await;
    accept.abort();
    let _ = accept.await;
    if !signalled {
        let mut stopped = stopped;
        let counted = || hub.streaming() || hub.controlled();
        server::last_arrivals(counted, stopped.changed()).await;
    }
    rundir::remove(&bound.dir, &bound.id);
    let _ = std::fs::remove_dir(&bound.members);
    exit
}

/// The fleet's socket, bound.
struct Bound {
    dir: PathBuf,
    id: String,
    /// The hold on the id, let go (its lock file removed) when the fleet's engine ends.
    _claim: Option<cutover_socket::claim::IdClaim>,
    socket: PathBuf,
    members: PathBuf,
    listener: tokio::net::UnixListener,
}

/// The fleet's place in the run directory, taken before its journal is created (so a run
/// directory that cannot be used leaves no journal behind).
struct Place {
    dir: PathBuf,
    id: String,
    claim: Option<cutover_socket::claim::IdClaim>,
    members: PathBuf,
}

/// Takes the fleet's id (its journal's stem, or the next free one) in this user's run
/// directory and makes its members' directory there (a link or a file in its place is
/// refused, never followed).
fn reserve(journal: Option<&Path>) -> Result<Place, String> {
    let dir = rundir::prepare().map_err(|e| e.to_string())?;
    let stem = journal
        .and_then(Path::file_stem)
        .map_or_else(|| "fleet".into(), |s| s.to_string_lossy().into_owned());
    let (id, claim) = cutover_socket::claim::claim_id(&dir, &stem);
    let members = rundir::prepare_sub(&format!("{id}.members"))
        .map_err(|e| format!("cutover: the fleet's members' directory: {e}"))?;
    Ok(Place {
        dir,
        id,
        claim,
        members,
    })
}

/// Binds the fleet's socket (0600) in this user's run directory, in the place taken, and
/// writes the fleet's description (marked as a fleet).
fn bind(prepared: &Prepared, place: Place) -> Result<Bound, String> {
    use std::os::unix::fs::PermissionsExt;
    let Place {
        dir,
        id,
        claim,
        members,
    } = place;
    let journal = &prepared.journal.path;
    let socket = rundir::socket_path(&dir, &id);
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket)
        .map_err(|e| format!("socket {}: {e}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("socket {}: {e}", socket.display()))?;
    let meta = served_here(id.clone(), journal, prepared.runbook_name(), true, true);
    rundir::write_meta(&dir, &meta).map_err(|e| e.to_string())?;
    Ok(Bound {
        dir,
        id,
        _claim: claim,
        socket,
        members,
        listener,
    })
}

/// The lanes before any member started: every member queued.
fn first_view(prepared: &Prepared, id: &str) -> FleetView {
    FleetView {
        id: id.to_string(),
        runbook: prepared.runbook_name(),
        journal: prepared.journal.path.display().to_string(),
        phase: if prepared.fleet.canary.is_empty() {
            FleetPhase::Running
        } else {
            FleetPhase::Canary
        },
        halted: None,
        concurrency: prepared.fleet.concurrency,
        controller: None,
        started_at: Utc::now(),
        lanes: prepared
            .fleet
            .members
            .iter()
            .map(|m| Lane::queued(&m.name))
            .collect(),
    }
}

/// The fleet engine's signals: SIGTERM and SIGINT stop it (each member's own server ends its
/// run as an abort); SIGHUP is ignored (there is no terminal to lose). The second receiver
/// says whether one came (for the linger).
fn stop_signals() -> std::io::Result<(
    mpsc::Receiver<&'static str>,
    tokio::sync::watch::Receiver<bool>,
)> {
    use cutover_shell::signals::{HUP_IGNORED, INT, TERM, forward};
    let mut signals = forward(&[TERM, INT, HUP_IGNORED])?;
    let (tx, rx) = mpsc::channel(4);
    let (seen_tx, seen_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Some(name) = signals.recv().await {
            seen_tx.send_replace(true);
            if tx.send(name).await.is_err() {
                return;
            }
        }
    });
    Ok((rx, seen_rx))
}

/// The fleet is over: waits until a controlling terminal has seen that (and left) and every
/// `watch --json` terminal has been sent it, or nobody came for [`server::LINGER`], or a
/// signal says to stop (then true).
async fn linger(hub: &FleetHub, mut stopped: tokio::sync::watch::Receiver<bool>) -> bool {
    if *stopped.borrow() {
        return true;
    }
    let controlled = || hub.controlled();
    // A `watch --json` terminal still behind is sent the rest, and the end, first.
    let seen = || hub.end_seen() && !hub.streaming();
    server::linger_while(controlled, seen, server::LINGER, stopped.changed()).await
}

/// Member `name` (the `index`th of the fleet file) served on `<dir>/m<index>.sock`: its run
/// waits for the operator (the lanes' keys, or its own cockpit); its lane follows its events.
pub fn serve_member(
    name: &str,
    (index, output_cap): (usize, usize),
    engine: Engine,
    hub: std::sync::Arc<FleetHub>,
    dir: PathBuf,
) -> MemberTask {
    let name = name.to_string();
    Box::pin(async move {
        let listening = match listen_member(&engine, index, dir, output_cap) {
            Ok(l) => l,
            Err(why) => {
                tracing::error!("[{name}] {why}");
                hub.set_state(&name, LaneState::Ended, &why);
                return (name, None, Exit::Failed);
            }
        };
        let socket = listening.socket.clone();
        let (h, n) = (hub.clone(), name.clone());
        match listening
            .serve_with(engine, move |handle| h.serving(&n, socket, handle))
            .await
        {
            Ok(o) => (name, Some(o), Exit::of_run(o)),
            Err(e) => {
                tracing::error!("[{name}] the engine failed: {e}");
                hub.set_state(&name, LaneState::Ended, &format!("the engine failed: {e}"));
                (name, None, Exit::Failed)
            }
        }
    })
}

/// Bytes of step output the fleet's engine keeps for its members' terminals, all together:
/// each member in flight gets its share ([`member_output_cap`]).
const FLEET_OUTPUT_BYTES: usize = 256 * 1024 * 1024;
/// The least share a member gets, however many run at once.
const MEMBER_OUTPUT_MIN: usize = 256 * 1024;

/// The output a member's terminal may be sent when it attaches: a share of
/// [`FLEET_OUTPUT_BYTES`] among `concurrency` members in flight, at least
/// [`MEMBER_OUTPUT_MIN`] and at most what a single run keeps. Six members each printing 96 MB
/// held 463 MB at 64 MiB each.
pub fn member_output_cap(concurrency: usize) -> usize {
    (FLEET_OUTPUT_BYTES / concurrency.max(1))
        .clamp(MEMBER_OUTPUT_MIN, cutover_socket::history::OUTPUT_BYTES)
}

/// Binds member `index`'s socket in `dir` (no linger: the fleet keeps its lane), keeping at
/// most `output_cap` bytes of its output for a terminal that attaches.
fn listen_member(
    engine: &Engine,
    index: usize,
    dir: PathBuf,
    output_cap: usize,
) -> Result<server::Listening, String> {
    let meta = served_here(
        format!("m{index}"),
        engine.journal_path(),
        engine.run_info().name,
        true,
        false,
    );
    server::listen(ServeOptions {
        dir,
        meta,
        shared: None,
        linger: Duration::ZERO,
        claim: None,
        output_cap: Some(output_cap),
    })
    .map_err(|e| format!("cannot serve: {e}"))
}

/// Stops the live fleet engine whose journal is `journal` (SIGTERM, then SIGKILL after 10 s)
/// and waits for it; whether there was one.
pub fn stop_engine_of(journal: &Path) -> bool {
    let dir = rundir::runs_dir();
    let want = journal.display().to_string();
    let Some(meta) = rundir::read_metas(&dir)
        .into_iter()
        .find(|m| m.fleet && m.journal == want && rundir::engine_alive(m))
    else {
        return false;
    };
    let Ok(pid) = i32::try_from(meta.pid) else {
        return false;
    };
    let signal = |sig| {
        // SAFETY: kill only sends a signal, to the fleet engine this user started.
        unsafe { libc::kill(pid, sig) };
    };
    signal(libc::SIGTERM);
    let start = std::time::Instant::now();
    while rundir::engine_alive(&meta) {
        if start.elapsed() > Duration::from_secs(10) {
            signal(libc::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}
