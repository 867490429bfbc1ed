//! One terminal's connection to a fleet's socket: the peer and the version checked, the role
//! claimed, then the lanes out (a view when something changed, at most ten a second) and the
//! fleet's commands in — or, for `watch --json`, every member's events tagged with it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncWrite, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};

use crate::fleet::{Arrival, FLEET_VERSION, FleetClientMsg, FleetHub, FleetServerMsg, FleetWant};
use crate::live::{Live, Next, Overflow, QUEUE_BYTES};
use crate::server::HELLO_WITHIN;
use crate::wire;
use cutover_model::fleet::lane::FleetPhase;
use cutover_model::protocol::{ClientRole, Event, Operator};

/// The shortest time between two views sent to one terminal.
const VIEW_EVERY: Duration = Duration::from_millis(100);

/// Accepts terminals on the fleet's socket: its owner and root only.
pub async fn accept_loop(listener: UnixListener, hub: Arc<FleetHub>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Counted from here, before its task runs, until it says what it is.
        let arrival = hub.arrival();
        let hub = hub.clone();
        tokio::spawn(async move {
            let allowed = stream
                .peer_cred()
                .is_ok_and(|c| c.uid() == hub.owner || c.uid() == 0);
            session(stream, hub, allowed, arrival).await;
        });
    }
}

async fn say<W: AsyncWrite + Unpin>(w: &mut W, msg: &FleetServerMsg) -> bool {
    wire::write(w, msg).await.is_ok()
}

/// One connection, from hello to goodbye; `arrival` counts it until it says what it is.
async fn session(stream: UnixStream, hub: Arc<FleetHub>, allowed: bool, arrival: Arrival) {
    let peer = stream.peer_cred().ok().map(|c| (c.uid(), c.pid()));
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let hello = tokio::time::timeout(
        HELLO_WITHIN,
        wire::read::<_, FleetClientMsg>(&mut read, wire::MAX_CLIENT_LINE),
    )
    .await;
    let refuse = |reason: &str| FleetServerMsg::Refused {
        reason: reason.to_string(),
    };
    if !allowed {
        say(
            &mut write,
            &refuse("only the fleet's owner (and root) may attach to it"),
        )
        .await;
        return;
    }
    let Ok(Ok(Some(FleetClientMsg::Hello { version, want, who }))) = hello else {
        return;
    };
    // The fleet journal (the canary go) and `ls` name the user the kernel vouches for, as a
    // run's socket does.
    let who = crate::session::vouched(who, peer);
    if version != FLEET_VERSION {
        let reason = format!(
            "this fleet's engine speaks fleet protocol {FLEET_VERSION} and this cutover {version}: use the cutover binary that started it"
        );
        say(&mut write, &refuse(&reason)).await;
        return;
    }
    // Any terminal but a `watch --json` is let go here; `json` keeps that one counted.
    let arrival = matches!(want, FleetWant::Json).then_some(arrival);
    match want {
        FleetWant::Status => {
            say(&mut write, &FleetServerMsg::View { view: hub.view() }).await;
        }
        FleetWant::Json => json(&mut write, &hub, arrival).await,
        FleetWant::Watch => lanes(read, write, hub, None, who).await,
        FleetWant::Control { take_over } => {
            let id = hub.next_session.fetch_add(1, Ordering::Relaxed);
            let Some(demote_rx) = take_controls(&hub, id, take_over, &who) else {
                say(
                    &mut write,
                    &refuse("another terminal has the fleet's controls: watch it, or attach with --take-over"),
                )
                .await;
                return;
            };
            lanes(read, write, hub.clone(), Some((id, demote_rx)), who).await;
            hub.let_go(id);
            if let Ok(mut c) = hub.controller.lock()
                && c.as_ref().is_some_and(|(s, _)| *s == id)
            {
                *c = None;
            }
        }
    }
}

/// Gives session `id` of `who` the fleet's controls: when another has them, only with
/// `take_over` (that one is told it now watches). Returns what tells this session it lost
/// them in turn; `None`: refused.
fn take_controls(
    hub: &FleetHub,
    id: u64,
    take_over: bool,
    who: &Operator,
) -> Option<mpsc::Receiver<()>> {
    let (demote_tx, demote_rx) = mpsc::channel(1);
    let mut c = hub.controller.lock().ok()?;
    match c.as_ref() {
        Some(_) if !take_over => return None,
        Some((_, old)) => {
            let _ = old.try_send(());
        }
        None => {}
    }
    *c = Some((id, demote_tx));
    // Who holds them is set under the same lock: two takeovers back to back leave `ls`
    // naming the one that has them.
    hub.held_by(id, who);
    Some(demote_rx)
}

/// The lanes: views out, commands in (carried out only while `control` holds).
async fn lanes(
    read: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut write: tokio::net::unix::OwnedWriteHalf,
    hub: Arc<FleetHub>,
    mut control: Option<(u64, mpsc::Receiver<()>)>,
    who: Operator,
) {
    let role = |c: &Option<_>| {
        if c.is_some() {
            ClientRole::Control
        } else {
            ClientRole::Watch
        }
    };
    if !say(
        &mut write,
        &FleetServerMsg::Welcome {
            role: role(&control),
        },
    )
    .await
    {
        return;
    }
    let mut changes = hub.changes();
    let mut notices = hub.notices();
    let (mut incoming, _reader) = reader(read);
    // A view is due (sent at most every VIEW_EVERY); commands and a closed connection are
    // read meanwhile, so leaving gives the controls back at once.
    let mut due = true;
    let mut next_view = tokio::time::Instant::now();
    loop {
        tokio::select! {
            r = changes.changed(), if !due => {
                if r.is_err() { return; }
                due = true;
            }
            () = tokio::time::sleep_until(next_view), if due => {
                due = false;
                next_view = tokio::time::Instant::now() + VIEW_EVERY;
                let view = hub.view();
                let over = view.phase == FleetPhase::Finished;
                if !say(&mut write, &FleetServerMsg::View { view }).await { return; }
                if over && control.is_some() { hub.saw_end(); }
            }
            n = notices.recv() => {
                let text = match n {
                    Ok(text) => text,
                    // The queue holds the newest 64: a terminal that fell behind (a flood of
                    // member warnings while it was not reading) is told, never silently short.
                    Err(broadcast::error::RecvError::Lagged(missed)) => format!(
                        "{missed} notices of the fleet were not shown here: this terminal fell behind"
                    ),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if !say(&mut write, &FleetServerMsg::Notice { text }).await { return; }
            }
            () = demoted(&mut control) => {
                control = None;
                if !say(&mut write, &FleetServerMsg::Role { role: ClientRole::Watch }).await { return; }
            }
            msg = incoming.recv() => {
                let Some(msg) = msg else { return };
                let FleetClientMsg::Command { command } = msg else { continue };
                // The hub says who has the controls: a takeover counts from the moment it was
                // made, even before this session has been told (a command racing its demotion).
                let text = match &control {
                    Some((id, _)) if hub.controller_id() == Some(*id) => hub.command(command, &who).await,
                    _ => "read-only: this terminal watches the fleet".into(),
                };
                if !say(&mut write, &FleetServerMsg::Notice { text }).await { return; }
            }
        }
    }
}

/// Reads the terminal's lines in a task of its own (a line half read is never dropped by a
/// `select!`), until it closes or sends something that is not a message; the task ends with
/// the returned guard.
fn reader(
    mut read: BufReader<tokio::net::unix::OwnedReadHalf>,
) -> (mpsc::Receiver<FleetClientMsg>, AbortOnDrop) {
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(async move {
        while let Ok(Some(msg)) =
            wire::read::<_, FleetClientMsg>(&mut read, wire::MAX_CLIENT_LINE).await
        {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    });
    (rx, AbortOnDrop(task))
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves when this session loses the controls (never, while it watches).
async fn demoted(control: &mut Option<(u64, mpsc::Receiver<()>)>) {
    match control {
        Some((_, rx)) => {
            if rx.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// `watch --json`: each member's events (its run so far, then live) tagged with the member,
/// until every member's engine is gone and the fleet has finished. `_counted` (its arrival)
/// counts it as streaming until then.
async fn json<W: AsyncWrite + Unpin>(
    write: &mut W,
    hub: &Arc<FleetHub>,
    _counted: Option<Arrival>,
) {
    if !say(
        write,
        &FleetServerMsg::Welcome {
            role: ClientRole::Watch,
        },
    )
    .await
    {
        return;
    }
    // Small: a slow terminal's backlog waits in each member's `Live`, bounded in bytes.
    let (tx, mut rx) = mpsc::channel::<(String, Event)>(64);
    let (now, mut joined) = hub.members();
    let mut forwarders = tokio::task::JoinSet::new();
    // A member that starts serving while this terminal subscribes is in both lists: it is
    // forwarded once.
    let mut forwarded = std::collections::BTreeSet::new();
    for (name, handle) in now {
        forwarded.insert(name.clone());
        forwarders.spawn(forward(name, handle, tx.clone()));
    }
    let mut changes = hub.changes();
    loop {
        // Checked first: a fleet that had ended before this terminal came ends it at once.
        if forwarders.is_empty() && rx.is_empty() && hub.phase() == FleetPhase::Finished {
            say(write, &FleetServerMsg::Ended).await;
            return;
        }
        tokio::select! {
            m = joined.recv() => match m {
                Ok((name, handle)) => {
                    if forwarded.insert(name.clone()) {
                        forwarders.spawn(forward(name, handle, tx.clone()));
                    }
                }
                // Fell behind the members that started: those still serving are read again
                // from the hub; one that already ended meanwhile is said to be missing.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let (serving, again) = hub.members();
                    joined = again;
                    for (name, handle) in serving {
                        if forwarded.insert(name.clone()) {
                            forwarders.spawn(forward(name, handle, tx.clone()));
                        }
                    }
                    missed(write, hub, &mut forwarded).await;
                }
                Err(_) => {}
            },
            Some((member, event)) = rx.recv() => {
                if !say(write, &FleetServerMsg::Member { member, event }).await { return; }
            }
            Some(_) = forwarders.join_next() => {}
            r = changes.changed() => {
                if r.is_err() { return; }
            }
        }
    }
}

/// Says, once each, the members this `watch --json` terminal missed entirely (they started and
/// ended while it was behind): their events are in their own journals.
async fn missed<W: AsyncWrite + Unpin>(
    write: &mut W,
    hub: &FleetHub,
    forwarded: &mut std::collections::BTreeSet<String>,
) {
    for lane in hub.view().lanes {
        if lane.state.is_over() && lane.steps > 0 && forwarded.insert(lane.member.clone()) {
            let event = Event::Notice {
                level: cutover_model::protocol::Level::Warn,
                message:
                    "this watcher fell behind and missed this member's events: see its journal"
                        .into(),
            };
            let msg = FleetServerMsg::Member {
                member: lane.member,
                event,
            };
            if !say(write, &msg).await {
                return;
            }
        }
    }
}

/// Sends member `name`'s events, history first, into `tx` until its engine is gone (the last
/// of them included). While `tx` is full (the terminal reads slowly), the member's live events
/// are taken off its broadcast and held here, up to [`QUEUE_BYTES`] (the broadcast kept up to
/// 1,024 events of 64 KiB for it); past that its output is left out, and the terminal is told
/// where and how much.
async fn forward(name: String, handle: crate::server::Handle, tx: mpsc::Sender<(String, Event)>) {
    let (history, live) = handle.subscribe();
    let mut live = Live::with_overflow(live, QUEUE_BYTES, Overflow::SkipOutput);
    for ev in history {
        if live
            .while_writing(tx.send((name.clone(), ev)))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut gone = false;
    loop {
        let next = if gone {
            live.try_recv()
        } else {
            tokio::select! {
                next = live.recv() => next,
                // The broadcast never closes while `handle` holds it: the engine says it left.
                () = handle.gone() => {
                    gone = true;
                    continue;
                }
            }
        };
        let ev = match next {
            Next::Event(ev) => (*ev).clone(),
            Next::Skipped(left) => Event::Notice {
                level: cutover_model::protocol::Level::Warn,
                message: format!(
                    "this watcher fell behind: {} output events of {name} left out here ({} lines)",
                    left.events, left.lines
                ),
            },
            Next::Behind(n) => {
                let (_, again) = handle.subscribe();
                live = Live::with_overflow(again, QUEUE_BYTES, Overflow::SkipOutput);
                Event::Notice {
                    level: cutover_model::protocol::Level::Warn,
                    message: format!("this watcher fell behind: {n} events of {name} skipped"),
                }
            }
            Next::Closed | Next::Empty => return,
        };
        if live
            .while_writing(tx.send((name.clone(), ev)))
            .await
            .is_err()
        {
            return;
        }
    }
}
