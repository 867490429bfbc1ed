//! A fleet's engine behind one socket: every member's run is served on a socket of its own
//! (in `<run dir>/<fleet id>.members/`, out of `cutover ls`'s sight), and the fleet's socket
//! serves the lanes — one [`Lane`] per member, folded here from the member's events — to the
//! lanes screen, and the fleet's commands from it (run the next step of the waiting members,
//! roll some back, the canary go).
//!
//! The protocol is JSON Lines like a run's: [`FleetClientMsg::Hello`] first, then
//! [`FleetServerMsg::View`]s (sent when something changed, at most ten a second) and
//! [`FleetServerMsg::Notice`]s; `want = "json"` gets each member's events tagged with the
//! member instead, and `want = "status"` one view for `cutover ls`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::server::Handle;
use crate::status::StatusFold;
use cutover_model::fleet::lane::{FleetCommand, FleetPhase, FleetView, Lane, LaneState};
use cutover_model::protocol::{ClientRole, Command, Event, Level, Operator, ROLLBACK_WORD};

/// The fleet protocol's version; both ends are the same binary.
pub const FLEET_VERSION: u32 = 1;

/// What a terminal asks of a fleet's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "want", rename_all = "snake_case")]
pub enum FleetWant {
    /// The lanes with the controls (refused while another terminal has them, unless
    /// `take_over`).
    Control {
        /// Take the controls from the terminal that has them (it then only watches).
        take_over: bool,
    },
    /// The lanes, read-only.
    Watch,
    /// Every member's events, tagged with the member, until the fleet ends.
    Json,
    /// One view, then the connection closes (`cutover ls`).
    Status,
}

/// From a terminal to the fleet's engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetClientMsg {
    /// The first line of every connection.
    Hello {
        /// [`FLEET_VERSION`] of the terminal's binary.
        version: u32,
        /// What it asks for.
        #[serde(flatten)]
        want: FleetWant,
        /// Who is at the terminal.
        who: Operator,
    },
    /// A fleet command (only the controlling terminal's are carried out).
    Command {
        /// The command.
        command: FleetCommand,
    },
}

/// From the fleet's engine to a terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetServerMsg {
    /// The connection is accepted, with this role.
    Welcome {
        /// What this terminal may do.
        role: ClientRole,
    },
    /// The connection is refused (and closes).
    Refused {
        /// Why, for the operator.
        reason: String,
    },
    /// The whole picture, as of now.
    View {
        /// The fleet.
        view: FleetView,
    },
    /// Something to tell the operator (what a command did, a takeover).
    Notice {
        /// The text.
        text: String,
    },
    /// This terminal's role changed (another took the controls).
    Role {
        /// The new role.
        role: ClientRole,
    },
    /// One member's event (`want = "json"`).
    Member {
        /// The member.
        member: String,
        /// Its event.
        event: Event,
    },
    /// The fleet has ended (`want = "json"`: nothing follows).
    Ended,
}

/// A member whose run is served: its name and its handle.
pub(crate) type Serving = (String, Handle);

/// What every session of the fleet's socket shares, and what the fleet's driver updates.
pub struct FleetHub {
    view: Mutex<FleetView>,
    changed: watch::Sender<u64>,
    go: watch::Sender<Option<String>>,
    members: Mutex<BTreeMap<String, Handle>>,
    joined: broadcast::Sender<Serving>,
    notices: broadcast::Sender<String>,
    /// The session with the controls, and how to tell it it lost them.
    pub(crate) controller: Mutex<Option<(u64, tokio::sync::mpsc::Sender<()>)>>,
    /// Who has the controls, by session, and since when (what `ls` says).
    holder: Mutex<Option<(u64, String)>>,
    pub(crate) next_session: AtomicU64,
    end_seen: AtomicBool,
    /// `watch --json` terminals still being sent the fleet (not yet its end), and connections
    /// that have not said yet what they are.
    streaming: AtomicUsize,
    pub(crate) owner: u32,
}

/// A connection counted as streaming from its accept: until it says what it is (within
/// `HELLO_WITHIN`), and, when it is a `watch --json`, until that was sent the fleet's end. A
/// finished fleet does not leave between a watcher's arrival and its hello, nor before its end.
pub(crate) struct Arrival(Arc<FleetHub>);

impl Drop for Arrival {
    fn drop(&mut self) {
        self.0.streaming.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FleetHub {
    /// A hub for `view` (every lane queued).
    pub fn new(view: FleetView) -> Arc<Self> {
        Arc::new(FleetHub {
            view: Mutex::new(view),
            changed: watch::Sender::new(0),
            go: watch::Sender::new(None),
            members: Mutex::default(),
            joined: broadcast::Sender::new(256),
            notices: broadcast::Sender::new(64),
            controller: Mutex::default(),
            holder: Mutex::default(),
            next_session: AtomicU64::new(1),
            end_seen: AtomicBool::new(false),
            streaming: AtomicUsize::new(0),
            owner: crate::rundir::euid(),
        })
    }

    /// The picture now, with who has the controls.
    pub fn view(&self) -> FleetView {
        let mut v = self
            .view
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        v.controller = self
            .holder
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|(_, who)| who.clone()));
        v
    }

    /// Session `id` of `who` has the controls from now on.
    pub(crate) fn held_by(&self, id: u64, who: &Operator) {
        let words = format!(
            "{} since {} UTC",
            cutover_model::narrate::operator_at(who),
            Utc::now().format("%H:%M:%S")
        );
        if let Ok(mut h) = self.holder.lock() {
            *h = Some((id, words));
        }
    }

    /// Session `id` left: if it had the controls, nobody has them now.
    pub(crate) fn let_go(&self, id: u64) {
        if let Ok(mut h) = self.holder.lock()
            && h.as_ref().is_some_and(|(s, _)| *s == id)
        {
            *h = None;
        }
    }

    /// Changes the picture and tells the sessions.
    pub fn update(&self, f: impl FnOnce(&mut FleetView)) {
        if let Ok(mut v) = self.view.lock() {
            f(&mut v);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Sets one member's lane; the terminals are told only when it changed (a member's
    /// once-a-second refold mostly finds its lane as it was).
    fn set_lane(&self, lane: Lane) {
        let changed = match self.view.lock() {
            Ok(mut v) => match v.lanes.iter_mut().find(|l| l.member == lane.member) {
                Some(l) if *l != lane => {
                    *l = lane;
                    true
                }
                _ => false,
            },
            Err(_) => false,
        };
        if changed {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Where the fleet stands, without copying its lanes.
    pub fn phase(&self) -> FleetPhase {
        self.view
            .lock()
            .map(|v| v.phase)
            .unwrap_or_else(|p| p.into_inner().phase)
    }

    /// Sets member `name`'s lane state alone (queued, halted, ended before it served).
    pub fn set_state(&self, name: &str, state: LaneState, title: &str) {
        self.update(|v| {
            if let Some(l) = v.lanes.iter_mut().find(|l| l.member == name) {
                l.state = state;
                l.title = title.to_string();
                l.socket = None;
            }
        });
    }

    /// Sets the fleet's phase (and why it halted).
    pub fn set_phase(&self, phase: FleetPhase, halted: Option<String>) {
        self.update(|v| {
            v.phase = phase;
            if halted.is_some() {
                v.halted = halted;
            }
        });
    }

    /// Member `name` serves on `socket`: its lane follows its events from now on, until its
    /// engine is gone.
    pub fn serving(self: &Arc<Self>, name: &str, socket: PathBuf, handle: Handle) {
        if let Ok(mut m) = self.members.lock() {
            m.insert(name.to_string(), handle.clone());
        }
        let _ = self.joined.send((name.to_string(), handle.clone()));
        let hub = self.clone();
        let name = name.to_string();
        tokio::spawn(async move { hub.follow(&name, socket, handle).await });
    }

    /// Folds member `name`'s events into its lane (and once a second, for its clock), until
    /// its engine is gone.
    async fn follow(&self, name: &str, socket: PathBuf, handle: Handle) {
        let socket = Some(socket.display().to_string());
        let (mut fold, mut live) = refold(&handle);
        let lane = |fold: &StatusFold, socket: &Option<String>| Lane {
            socket: socket.clone(),
            ..fold.lane(name, Utc::now())
        };
        self.set_lane(lane(&fold, &socket));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = live.recv() => match ev {
                    Ok(ev) => {
                        self.pass_on(name, &ev);
                        fold.apply(&ev);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => (fold, live) = refold(&handle),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                // The broadcast never closes while `handle` holds it: the engine says it left.
                () = handle.gone() => {
                    loop {
                        match live.try_recv() {
                            Ok(ev) => fold.apply(&ev),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                                (fold, live) = refold(&handle);
                            }
                            Err(_) => break,
                        }
                    }
                    break;
                }
                _ = tick.tick() => {}
            }
            self.set_lane(lane(&fold, &socket));
        }
        // The engine is gone: the lane keeps how the run ended, without a socket.
        if let Ok(mut m) = self.members.lock() {
            m.remove(name);
        }
        let mut last = fold.lane(name, Utc::now());
        if !fold.finished() {
            last.state = LaneState::Ended;
            last.title = "its engine ended before the run did".into();
        }
        self.set_lane(last);
    }

    /// Tells the fleet's terminals what member `name`'s engine warns about (a command the
    /// fleet sent that did nothing, a trigger): the lanes would not show it otherwise.
    fn pass_on(&self, name: &str, ev: &Event) {
        if let Event::Notice {
            level: Level::Warn,
            message,
        } = ev
        {
            self.notice(&format!("[{name}] {message}"));
        }
    }

    /// Waits for the operator's canary go; returns who gave it.
    pub async fn go_given(&self) -> String {
        let mut rx = self.go.subscribe();
        loop {
            if let Some(by) = rx.borrow_and_update().clone() {
                return by;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether a controlling terminal has been sent the fleet's end.
    pub fn end_seen(&self) -> bool {
        self.end_seen.load(Ordering::Relaxed)
    }

    /// Whether a `watch --json` terminal is still being sent the fleet's events: a finished
    /// fleet's engine waits for it (within its linger) so that its stream ends with the end,
    /// however far behind it reads.
    pub fn streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed) > 0
    }

    /// Counts a connection just accepted until the guard is dropped.
    pub(crate) fn arrival(self: &Arc<Self>) -> Arrival {
        self.streaming.fetch_add(1, Ordering::Relaxed);
        Arrival(Arc::clone(self))
    }

    /// Whether a terminal has the fleet's controls.
    pub fn controlled(&self) -> bool {
        self.controller.lock().is_ok_and(|c| c.is_some())
    }

    /// The session with the controls now.
    pub(crate) fn controller_id(&self) -> Option<u64> {
        self.controller
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(id, _)| *id))
    }

    pub(crate) fn saw_end(&self) {
        self.end_seen.store(true, Ordering::Relaxed);
    }

    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(crate) fn notices(&self) -> broadcast::Receiver<String> {
        self.notices.subscribe()
    }

    /// Says `text` to every terminal of the fleet.
    pub fn notice(&self, text: &str) {
        let _ = self.notices.send(text.to_string());
    }

    /// The members serving now, and a queue of those that start serving later.
    pub(crate) fn members(&self) -> (Vec<Serving>, broadcast::Receiver<Serving>) {
        let rx = self.joined.subscribe();
        let now = self
            .members
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        (now, rx)
    }

    /// Carries out `cmd` from the controlling terminal of `who`; returns what it did, in
    /// words. A count that does not match is refused whole.
    pub async fn command(&self, cmd: FleetCommand, who: &Operator) -> String {
        match cmd {
            FleetCommand::RunNext {
                members,
                confirm,
                seen,
            } => {
                if confirm != members.len() {
                    return format!("not run: {confirm} typed for {} members", members.len());
                }
                // The step each lane waits at goes with the command: a member that moved on
                // meanwhile (a second press on a view a moment old) refuses it.
                // The step is the one the operator saw (else the one the lane shows now): a
                // member that has moved on since is left as it is.
                let run = |l: &Lane| match (l.state, l.step) {
                    (LaneState::Waiting, Some(now)) => {
                        let saw = seen.get(&l.member).copied().unwrap_or(now);
                        (saw == now).then_some(Command::RunStep { index: saw })
                    }
                    _ => None,
                };
                self.each(&members, run, "ran the next step of").await
            }
            FleetCommand::Rollback { members, confirm } => {
                if confirm != members.len() {
                    return format!(
                        "not rolled back: {confirm} typed for {} members",
                        members.len()
                    );
                }
                let back = |l: &Lane| {
                    (!l.state.is_over()).then(|| Command::Rollback {
                        confirmation: ROLLBACK_WORD.into(),
                    })
                };
                self.each(&members, back, "rolling back").await
            }
            FleetCommand::Go => {
                if self.phase() != FleetPhase::AwaitingGo {
                    return "no go: the fleet is not waiting for one".into();
                }
                let by = cutover_model::narrate::operator_at(who);
                self.go.send_replace(Some(by.clone()));
                format!("go given by {by}: the rest of the fleet starts")
            }
        }
    }

    /// Sends each of `members` the command `what` makes of its lane (a run-next: a waiting
    /// member's step; a rollback: any member whose run is not over); the others are left as
    /// they are, and named.
    async fn each(
        &self,
        members: &[String],
        what: impl Fn(&Lane) -> Option<Command>,
        did: &str,
    ) -> String {
        let view = self.view();
        let handles: BTreeMap<String, Handle> =
            self.members.lock().map(|m| m.clone()).unwrap_or_default();
        let (mut sent, mut left) = (Vec::new(), Vec::new());
        let mut seen = std::collections::BTreeSet::new();
        for name in members {
            // A member named twice is sent the command once.
            if !seen.insert(name.as_str()) {
                continue;
            }
            let cmd = view
                .lanes
                .iter()
                .find(|l| &l.member == name)
                .and_then(&what);
            match (handles.get(name), cmd) {
                (Some(h), Some(cmd)) if h.send(cmd.clone()).await => sent.push(name.clone()),
                _ => left.push(name.clone()),
            }
        }
        let mut s = format!(
            "{did} {}",
            cutover_model::narrate::count(sent.len() as u64, "member")
        );
        if !left.is_empty() {
            s.push_str(&format!("; left as they are: {}", names(&left)));
        }
        s
    }
}

/// Member `handle`'s run folded from its history, and its live events from there on.
fn refold(handle: &Handle) -> (StatusFold, broadcast::Receiver<Arc<Event>>) {
    let (history, live) = handle.subscribe();
    let mut fold = StatusFold::default();
    history.iter().for_each(|e| fold.apply(e));
    (fold, live)
}

/// The longest member name a notice repeats (in characters); a longer one is cut.
const NAME_SHOWN: usize = 40;

/// At most five names, then how many more. A name is the terminal's to choose: each is shown
/// without its control characters (escapes, newlines) and cut to [`NAME_SHOWN`] characters.
fn names(v: &[String]) -> String {
    let shown = |n: &String| {
        let plain = cutover_model::text::plain(n).replace(['\n', '\t'], " ");
        match plain.char_indices().nth(NAME_SHOWN) {
            Some((at, _)) => format!("{}…", &plain[..at]),
            None => plain,
        }
    };
    let mut s = v.iter().take(5).map(shown).collect::<Vec<_>>().join(", ");
    if v.len() > 5 {
        s.push_str(&format!(" +{} more", v.len() - 5));
    }
    s
}
