//! The engine behind a unix socket: the run goes on whatever its terminals do.
//!
//! One task runs the engine; one (the hub) takes every event it emits, keeps it in the
//! [`History`] and broadcasts it. Each connection is a session of its own: its peer's uid is
//! checked (the run's owner and root; on the shared socket, members of the shared group, to
//! watch only), it gets the history as a snapshot and then the live events through its own
//! queue, bounded in bytes (`live`). A terminal that falls behind (a stalled SSH session, a
//! stopped process) is sent a fresh snapshot when it reads again: it never slows the engine or
//! the journal.
//!
//! One terminal has the controls; its commands reach the engine. A new `attach` may take them
//! over (the old terminal is told, and watches). Every attach, detach and takeover is journaled
//! through the engine. When a terminal leaves, nothing else happens: the engine finishes a
//! running step and waits, as it would with the operator looking away. When the run has ended,
//! the engine stays until a controlling terminal has seen the end (or [`LINGER`] passes with
//! none attached).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc};

use crate::history::History;
use crate::rundir::{self, RunMeta};
use crate::session::session;
use crate::status::StatusFold;
use crate::wire::RunStatus;
use cutover_engine::{Engine, EngineError};
use cutover_model::protocol::{ClientChange, ClientRole, Command, Event, Operator, RunOutcome};

/// How long a finished run waits for a controlling terminal to come and see its end.
pub const LINGER: Duration = Duration::from_secs(600);

/// Live events the broadcast keeps for a terminal's session that has not taken them yet (it
/// takes them while it writes too; what it then holds is bounded in bytes: `live`).
pub const QUEUE: usize = 1024;

/// How long a new connection has to say hello.
pub(crate) const HELLO_WITHIN: Duration = Duration::from_secs(5);

/// How long a finished run (or fleet) that stopped accepting still waits for the terminals it
/// had accepted: one that has not said hello yet has [`HELLO_WITHIN`] to, and then a little
/// longer to be sent the end (a `watch --json`) or to see it (a terminal with the controls).
pub const LAST_ARRIVALS: Duration = Duration::from_secs(10);

/// A group the run is shared with, for watching.
#[derive(Debug, Clone)]
pub struct SharedGroup {
    /// The group's name.
    pub name: String,
    /// The group's id.
    pub gid: u32,
}

/// How to serve a run.
#[derive(Debug)]
pub struct ServeOptions {
    /// The run directory (already prepared).
    pub dir: PathBuf,
    /// The run's description (its id names the socket).
    pub meta: RunMeta,
    /// A group that may watch, through a second socket.
    pub shared: Option<SharedGroup>,
    /// How long a finished run waits for a controlling terminal.
    pub linger: Duration,
    /// The hold on the run's id ([`crate::claim::claim_id`]), let go when serving ends.
    pub claim: Option<crate::claim::IdClaim>,
    /// Bytes of step output kept for a terminal that attaches (`None`:
    /// [`crate::history::OUTPUT_BYTES`]); a fleet's engine gives each member a share.
    pub output_cap: Option<usize>,
}

/// Why the run could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket could not be set up.
    #[error("socket {path}: {source}")]
    Socket {
        /// Its path.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The run directory failed.
    #[error(transparent)]
    RunDir(#[from] rundir::RunDirError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The engine's task died.
    #[error("the engine task failed: {0}")]
    Task(String),
    /// The engine's signals could not be taken over.
    #[error("cannot take over signals: {0}")]
    Signals(std::io::Error),
}

/// The terminal that has the controls.
pub(crate) struct Controller {
    pub(crate) session: u64,
    pub(crate) who: Operator,
    /// When it took the controls.
    pub(crate) since: chrono::DateTime<chrono::Utc>,
    /// Tells its session it lost the controls, and to whom.
    pub(crate) demote: mpsc::Sender<Operator>,
}

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) id: String,
    pub(crate) journal: String,
    pub(crate) history: Mutex<History>,
    pub(crate) status: Mutex<StatusFold>,
    pub(crate) events: broadcast::Sender<Arc<Event>>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) facts: mpsc::Sender<Event>,
    pub(crate) controller: Mutex<Option<Controller>>,
    pub(crate) clients: AtomicUsize,
    pub(crate) next_session: AtomicU64,
    /// A controlling terminal has been sent the end of the run.
    pub(crate) end_seen: AtomicBool,
    /// Terminals sent every line (`watch --json`) that were not yet sent the run's end, and
    /// connections accepted that have not said yet what they are (within [`HELLO_WITHIN`]): a
    /// finished run's engine waits for them (within its linger), so that one reading far
    /// behind (into a slow pipe), or arriving as the controller leaves, is sent the end
    /// instead of a stream cut off when the engine exits.
    pub(crate) behind: AtomicUsize,
    pub(crate) owner: u32,
    /// Set once the engine is gone and every event it emitted is in the history (and was
    /// broadcast): the broadcast itself never closes while a [`Handle`] holds it.
    pub(crate) gone: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn controller_id(&self) -> Option<u64> {
        self.controller
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.session))
    }

    fn controller_who(&self) -> Option<(Operator, chrono::DateTime<chrono::Utc>)> {
        self.controller
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| (c.who.clone(), c.since)))
    }

    /// The run so far, and a queue of what comes after it (no event lost or doubled between).
    pub(crate) fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Arc<Event>>) {
        match self.history.lock() {
            Ok(h) => (h.snapshot(), self.events.subscribe()),
            Err(_) => (Vec::new(), self.events.subscribe()),
        }
    }

    pub(crate) fn status(&self) -> RunStatus {
        let (runbook, state) = match self.status.lock() {
            Ok(s) => (s.runbook_name().to_string(), s.describe(chrono::Utc::now())),
            Err(_) => (String::new(), "unknown".into()),
        };
        let controller = self.controller_who();
        RunStatus {
            id: self.id.clone(),
            runbook,
            state,
            clients: self.clients.load(Ordering::Relaxed),
            controller_since: controller.as_ref().map(|c| c.1),
            controller: controller.map(|c| c.0),
            pid: std::process::id(),
            journal: self.journal.clone(),
        }
    }

    pub(crate) async fn journal(
        &self,
        change: ClientChange,
        role: ClientRole,
        who: &Operator,
        from: Option<Operator>,
        terminal: u64,
    ) {
        self.journal_client(Event::Client {
            change,
            role,
            who: who.clone(),
            from,
            terminal: Some(terminal),
            on_purpose: None,
        })
        .await;
    }

    /// Journals a terminal's coming or going, as given.
    pub(crate) async fn journal_client(&self, ev: Event) {
        let _ = self.facts.send(ev).await;
    }
}

/// A bound socket, before the run starts on it.
pub struct Listening {
    listener: UnixListener,
    shared_listener: Option<(UnixListener, u32)>,
    /// The socket's path.
    pub socket: PathBuf,
    opts: ServeOptions,
    /// The engine's signals, taken before the run is announced (its pid is in the run
    /// directory from here on): a SIGTERM sent as soon as the run is listed is never lost.
    signals: Signals,
}

/// Binds the run's socket (0600; and the shared one, 0660 of the group, when asked) and
/// writes its description. The caller says "ready" once this returns.
pub fn listen(opts: ServeOptions) -> Result<Listening, ServeError> {
    let socket = rundir::socket_path(&opts.dir, &opts.meta.id);
    let _ = std::fs::remove_file(&socket);
    let listener = bind(&socket, 0o600, None)?;
    let shared_listener = match &opts.shared {
        Some(g) => {
            let dir = rundir::prepare_shared(g.gid)?;
            let path = rundir::socket_path(&dir, &opts.meta.id);
            let _ = std::fs::remove_file(&path);
            Some((bind(&path, 0o660, Some(g.gid))?, g.gid))
        }
        None => None,
    };
    // Before the pid is published: from then on, a signal always finds a receiver (tokio keeps
    // its handler once installed, so one that came with no receiver would be dropped unseen).
    let signals = Signals::install()?;
    rundir::write_meta(&opts.dir, &opts.meta)?;
    Ok(Listening {
        listener,
        shared_listener,
        socket,
        opts,
        signals,
    })
}

fn bind(path: &Path, mode: u32, gid: Option<u32>) -> Result<UnixListener, ServeError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| ServeError::Socket {
        path: path.display().to_string(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(err)?;
    if let Some(g) = gid {
        std::os::unix::fs::chown(path, None, Some(g)).map_err(err)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    Ok(listener)
}

impl Listening {
    /// The run's id (its socket's name).
    pub fn id(&self) -> &str {
        &self.opts.meta.id
    }

    /// Runs `engine` and serves it until the run has ended and its end was seen (or nobody
    /// came for [`ServeOptions::linger`]). SIGTERM and SIGINT end the run (the running step is
    /// cancelled and journaled); SIGHUP is ignored (there is no terminal to lose).
    pub async fn serve(self, engine: Engine) -> Result<RunOutcome, ServeError> {
        self.serve_with(engine, |_| ()).await
    }

    /// [`serve`](Self::serve), handing `tap` the run's [`Handle`] once it runs: a fleet's
    /// engine watches each member's events and sends it the fleet's commands through it.
    pub async fn serve_with(
        self,
        engine: Engine,
        tap: impl FnOnce(Handle),
    ) -> Result<RunOutcome, ServeError> {
        let Listening {
            listener,
            shared_listener,
            opts,
            mut signals,
            ..
        } = self;
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (fact_tx, fact_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel::<Event>(256);
        let (events, _) = broadcast::channel(QUEUE);
        let shared = Arc::new(Shared {
            id: opts.meta.id.clone(),
            journal: opts.meta.journal.clone(),
            history: Mutex::new(History::with_output_cap(opts.output_cap)),
            status: Mutex::new(StatusFold::default()),
            events,
            commands: cmd_tx,
            facts: fact_tx,
            controller: Mutex::new(None),
            clients: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
            end_seen: AtomicBool::new(false),
            behind: AtomicUsize::new(0),
            owner: rundir::euid(),
            gone: tokio::sync::watch::Sender::new(false),
        });
        let mut engine_task = tokio::spawn(engine.run_hosted(cmd_rx, Some(fact_rx), ev_tx));
        let hub = tokio::spawn(hub(ev_rx, shared.clone()));
        tap(Handle {
            shared: shared.clone(),
        });
        let accept = {
            let shared = shared.clone();
            tokio::spawn(accept_loop(listener, shared, None))
        };
        let accept_shared = shared_listener.map(|(l, gid)| {
            let shared = shared.clone();
            tokio::spawn(accept_loop(l, shared, Some(gid)))
        });
        let mut stop_soon = false;
        let outcome = loop {
            tokio::select! {
                r = &mut engine_task => break r,
                name = signals.next() => {
                    stop_soon = true;
                    let _ = shared.commands.send(Command::Abort {
                        reason: Some(format!("the engine received {name}")),
                    }).await;
                }
            }
        };
        let _ = hub.await;
        let stopped = stop_soon || linger(&shared, opts.linger, &mut signals).await;
        accept.abort();
        let _ = accept.await;
        if let Some(a) = accept_shared {
            a.abort();
            let _ = a.await;
        }
        if !stopped {
            let counted =
                || shared.behind.load(Ordering::Relaxed) > 0 || shared.controller_id().is_some();
            last_arrivals(counted, signals.next()).await;
        }
        rundir::remove(&opts.dir, &opts.meta.id);
        if let Some(g) = &opts.shared {
            let _ = std::fs::remove_file(rundir::socket_path(
                &rundir::shared_dir(rundir::euid()),
                &opts.meta.id,
            ));
            let _ = g;
        }
        match outcome {
            Ok(r) => Ok(r?),
            Err(e) => Err(ServeError::Task(e.to_string())),
        }
    }
}

/// A served run, seen from the process that serves it: its events (the history, then live)
/// and a way to send it commands, as its controlling terminal would.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// The run so far, and a queue of what comes after it (no event lost or doubled between).
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Arc<Event>>) {
        self.shared.subscribe()
    }

    /// Sends `cmd` to the run's engine; `false` when the engine is gone.
    pub async fn send(&self, cmd: Command) -> bool {
        self.shared.commands.send(cmd).await.is_ok()
    }

    /// Resolves once the run's engine is gone and every event it emitted was broadcast (a
    /// live queue from [`subscribe`](Self::subscribe) then holds the last of them).
    pub async fn gone(&self) {
        let mut rx = self.shared.gone.subscribe();
        let _ = rx.wait_for(|gone| *gone).await;
    }
}

/// Takes every event the engine emits: folds it into the status, keeps it in the history and
/// broadcasts it to the sessions.
async fn hub(mut ev_rx: mpsc::Receiver<Event>, shared: Arc<Shared>) {
    while let Some(ev) = ev_rx.recv().await {
        let ev = Arc::new(ev);
        if let Ok(mut s) = shared.status.lock() {
            s.apply(&ev);
        }
        if let Ok(mut h) = shared.history.lock() {
            h.push(ev.clone());
            // Sent under the history's lock: a session subscribing now gets each event
            // exactly once, in its snapshot or live.
            let _ = shared.events.send(ev);
        }
    }
    shared.gone.send_replace(true);
}

/// The run is over: waits until a controlling terminal has seen that (and left) and every
/// terminal still attached was sent it, or nobody came for `linger`, or a signal says to stop
/// (then true).
async fn linger(shared: &Shared, linger: Duration, signals: &mut Signals) -> bool {
    let controlled = || shared.controller_id().is_some();
    let seen =
        || shared.end_seen.load(Ordering::Relaxed) && shared.behind.load(Ordering::Relaxed) == 0;
    linger_while(controlled, seen, linger, signals.next()).await
}

/// The rule of a finished run's (or fleet's) last minutes: it waits while a terminal has the
/// controls, until one that had them has seen the end (`end_seen`) and left, or nobody had
/// them for `linger`, or `stop` resolves (then true).
pub async fn linger_while<T>(
    controlled: impl Fn() -> bool,
    end_seen: impl Fn() -> bool,
    linger: Duration,
    stop: impl std::future::Future<Output = T>,
) -> bool {
    let mut unattended = Duration::ZERO;
    let step = Duration::from_millis(200);
    let mut stop = std::pin::pin!(stop);
    loop {
        let held = controlled();
        if !held && (end_seen() || unattended >= linger) {
            return false;
        }
        unattended = if held {
            Duration::ZERO
        } else {
            unattended + step
        };
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            _ = &mut stop => return true,
        }
    }
}

/// Once the accept loops have stopped (and so no terminal is accepted any more): waits while
/// `counted()` (a terminal accepted before the stop that has not said what it is, a
/// `watch --json` not yet sent the end, a terminal with the controls), at most
/// [`LAST_ARRIVALS`], or until `stop` resolves. A terminal accepted after the linger's last
/// look is then sent the end too, not cut off. (A connection the kernel had queued but the
/// accept loop had not taken yet is closed with the listener: its join fails with an error,
/// before any of the run was sent.)
pub async fn last_arrivals<T>(
    counted: impl Fn() -> bool,
    stop: impl std::future::Future<Output = T>,
) {
    let deadline = tokio::time::Instant::now() + LAST_ARRIVALS;
    let mut stop = std::pin::pin!(stop);
    while counted() && tokio::time::Instant::now() < deadline {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = &mut stop => return,
        }
    }
}

/// The engine process's own signals: SIGTERM and SIGINT end the run; SIGHUP is taken over
/// and ignored (a stray one must not kill the run).
struct Signals(mpsc::Receiver<&'static str>);

impl Signals {
    fn install() -> Result<Self, ServeError> {
        use cutover_shell::signals::{HUP_IGNORED, INT, TERM, forward};
        forward(&[TERM, INT, HUP_IGNORED])
            .map(Signals)
            .map_err(ServeError::Signals)
    }

    /// The next ending signal, by name.
    async fn next(&mut self) -> &'static str {
        match self.0.recv().await {
            Some(name) => name,
            // Its tasks end only with the runtime: nothing comes any more.
            None => std::future::pending().await,
        }
    }
}

/// Accepts terminals on `listener`: the run's owner and root, and with `group` the members
/// of that group too, who may only watch.
async fn accept_loop(listener: UnixListener, shared: Arc<Shared>, group: Option<u32>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Counted from here, before its task runs: a finished run does not leave between
        // this terminal's arrival and its hello.
        let arriving = Arriving::new(&shared);
        let shared = shared.clone();
        tokio::spawn(async move {
            let allowed = match stream.peer_cred() {
                Ok(c) => {
                    c.uid() == shared.owner
                        || c.uid() == 0
                        || group.is_some_and(|gid| {
                            c.gid() == gid || c.pid().is_some_and(|p| in_group(p, gid))
                        })
                }
                Err(_) => false,
            };
            session(stream, shared, allowed, group.is_some(), arriving).await;
        });
    }
}

/// A connection accepted that has not said yet what it is: counted in [`Shared::behind`]
/// until it turns out to be a terminal sent every line (which the count is handed to) or
/// anything else (or is gone): then it is let go.
pub(crate) struct Arriving {
    shared: Arc<Shared>,
    counted: bool,
}

impl Arriving {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.behind.fetch_add(1, Ordering::Relaxed);
        Arriving {
            shared: Arc::clone(shared),
            counted: true,
        }
    }

    /// The connection is a terminal sent every line: its session keeps the count from here
    /// and lets it go once the terminal was sent the end.
    pub(crate) fn hand_over(mut self) {
        self.counted = false;
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        if self.counted {
            self.shared.behind.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Whether process `pid` has `gid` among its supplementary groups.
fn in_group(pid: i32, gid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Groups:").map(str::to_string))
        })
        .is_some_and(|g| g.split_whitespace().any(|x| x.parse() == Ok(gid)))
}
