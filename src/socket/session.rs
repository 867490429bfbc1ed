//! One terminal's connection to the run, from hello to goodbye: the peer checked, the
//! protocol version agreed, the role claimed (the controls, taken over if asked, or watching),
//! the run so far sent, then live events out and commands in until either side goes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::live::{Live, Next, QUEUE_BYTES};
use crate::server::{Arriving, Controller, HELLO_WITHIN, Shared};
use crate::wire::{self, ClientMsg, ServerMsg, Want};
use cutover_model::protocol::{ClientChange, ClientRole, Event, Operator};

/// Refuses the terminal with `reason` (and who has the controls, when that is why).
async fn refuse<W: AsyncWrite + Unpin>(write: &mut W, reason: &str, controller: Option<Operator>) {
    let msg = ServerMsg::Refused {
        reason: reason.to_string(),
        controller,
    };
    let _ = wire::write(write, &msg).await;
}

/// Reads the terminal's hello and checks it (the peer's uid, the protocol version). Returns
/// what it wants and who is at it: the user the kernel vouches for, with what the kernel
/// says about the peer beside what it claims. `None`: refused (and told why) or gone.
async fn handshake<R, W>(
    read: &mut R,
    write: &mut W,
    allowed: bool,
    peer: Option<(u32, Option<i32>)>,
) -> Option<(Want, Operator, Option<usize>)>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let hello = tokio::time::timeout(
        HELLO_WITHIN,
        wire::read::<_, ClientMsg>(read, wire::MAX_CLIENT_LINE),
    )
    .await;
    // Refused after its hello was read, so the refusal is what the client reads (not a
    // broken pipe); nothing it said is acted on.
    if !allowed {
        refuse(
            write,
            "only the run's owner (and root) may attach to it",
            None,
        )
        .await;
        return None;
    }
    let Ok(Ok(Some(ClientMsg::Hello {
        version,
        want,
        who,
        tail,
    }))) = hello
    else {
        return None;
    };
    if version != wire::VERSION {
        let reason = format!(
            "this run's engine speaks protocol {} and this cutover {version}: attach with the cutover binary that started the run",
            wire::VERSION
        );
        refuse(write, &reason, None).await;
        return None;
    }
    Some((want, vouched(who, peer), tail))
}

/// `who` as the journal names it: the user the kernel vouches for (`peer`: its uid and pid),
/// not the one the client claims, with what the kernel says about the peer kept beside what
/// it claims (its ssh origin, host).
pub(crate) fn vouched(who: Operator, peer: Option<(u32, Option<i32>)>) -> Operator {
    match peer {
        Some((uid, pid)) => Operator {
            user: cutover_model::host::user_name(uid).unwrap_or_else(|| format!("uid {uid}")),
            peer: Some(cutover_model::host::peer_facts(uid, pid)),
            ..who
        },
        None => who,
    }
}

/// One terminal's connection. `allowed`: its peer passed the uid check; `watch_only`: it
/// came through the socket shared with a group.
pub(crate) async fn session(
    stream: UnixStream,
    shared: Arc<Shared>,
    allowed: bool,
    watch_only: bool,
    arriving: Arriving,
) {
    let peer = stream.peer_cred().ok().map(|c| (c.uid(), c.pid()));
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let Some((want, who, tail)) = handshake(&mut read, &mut write, allowed, peer).await else {
        return;
    };
    let me = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let (demote_tx, demote_rx) = mpsc::channel::<Operator>(1);
    let role = match want {
        Want::Status => {
            let status = ServerMsg::Status {
                status: shared.status(),
            };
            let _ = wire::write(&mut write, &status).await;
            return;
        }
        Want::Watch => ClientRole::Watch,
        Want::Control { .. } if watch_only => {
            refuse(&mut write, "this socket is shared for watching only", None).await;
            return;
        }
        Want::Control { take_over } => {
            match claim_controls(&shared, me, &who, take_over, demote_tx).await {
                Ok(()) => ClientRole::Control,
                Err(Some(holder)) => {
                    refuse(
                        &mut write,
                        "another terminal has the controls",
                        Some(holder),
                    )
                    .await;
                    return;
                }
                Err(None) => return,
            }
        }
    };
    if role == ClientRole::Watch {
        shared
            .journal(ClientChange::Attached, ClientRole::Watch, &who, None, me)
            .await;
    }
    shared.clients.fetch_add(1, Ordering::Relaxed);
    // A terminal sent every line (`watch --json`) is waited for until it was sent the end;
    // a cockpit, which keeps a tail, is not (stopped with ctrl-z, it would hold the engine).
    let streams_all = tail.is_none();
    if streams_all {
        arriving.hand_over();
    } else {
        drop(arriving);
    }
    // More than the history keeps is never needed: a larger tail is the history's.
    let tail = tail.map(|t| t.clamp(1, crate::history::OUTPUT_LINES));
    let mut link = Link {
        shared: &shared,
        me,
        role,
        who: who.clone(),
        tail,
        pace: SignOffPace::new(),
        left_on_purpose: std::sync::atomic::AtomicBool::new(false),
        sent_end: std::sync::atomic::AtomicBool::new(!streams_all),
    };
    link.pump(&mut read, &mut write, demote_rx).await;
    let on_purpose = link.left_on_purpose.load(Ordering::Relaxed);
    drop(link);
    shared.clients.fetch_sub(1, Ordering::Relaxed);
    left(&shared, me, &who, on_purpose).await;
}

/// Session `me` ended: the controls are free again if it had them, and its detach is
/// journaled with the role it had and whether it said it left on purpose.
async fn left(shared: &Shared, me: u64, who: &Operator, on_purpose: bool) {
    let was_controller = match shared.controller.lock() {
        Ok(mut c) if c.as_ref().is_some_and(|c| c.session == me) => {
            *c = None;
            true
        }
        _ => false,
    };
    let role = if was_controller {
        ClientRole::Control
    } else {
        ClientRole::Watch
    };
    shared
        .journal_client(Event::Client {
            change: ClientChange::Detached,
            role,
            who: who.clone(),
            from: None,
            terminal: Some(me),
            on_purpose: Some(on_purpose),
        })
        .await;
}

/// Takes the controls for session `me`: free ones, or (with `take_over`) another terminal's,
/// which is told and journaled. `Err(Some(holder))`: someone has them and `take_over` was
/// not asked; `Err(None)`: the state is poisoned.
async fn claim_controls(
    shared: &Shared,
    me: u64,
    who: &Operator,
    take_over: bool,
    demote: mpsc::Sender<Operator>,
) -> Result<(), Option<Operator>> {
    // Decided under the lock, acted on after it.
    let previous = {
        let mut c = shared.controller.lock().map_err(|_| None)?;
        if let Some(cur) = c.as_ref()
            && !take_over
        {
            return Err(Some(cur.who.clone()));
        }
        c.replace(Controller {
            session: me,
            who: who.clone(),
            since: chrono::Utc::now(),
            demote,
        })
    };
    match previous {
        Some(p) => {
            let _ = p.demote.try_send(who.clone());
            shared
                .journal(
                    ClientChange::TookOver,
                    ClientRole::Control,
                    who,
                    Some(p.who),
                    me,
                )
                .await;
        }
        None => {
            shared
                .journal(ClientChange::Attached, ClientRole::Control, who, None, me)
                .await;
        }
    }
    Ok(())
}

/// Bytes of gathered events written at most in one go: what a session copies stays small
/// however long the lines of a flood.
const BATCH_WRITE: usize = 1024 * 1024;

/// How long a session that ends reads what its terminal sent before closing (see
/// `Link::last_words`).
const LAST_WORDS: std::time::Duration = std::time::Duration::from_millis(200);

/// The least time between two sign-offs of one terminal that reach the engine, and between
/// two refusals it is told of: a terminal that loops a sign-off command costs the run
/// nothing (refusals are answered to that terminal alone and never journaled).
const SIGN_OFF_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// When a terminal last had a sign-off forwarded, and last had one refused (ms since the
/// session's start; `u64::MAX`: never).
struct SignOffPace {
    start: std::time::Instant,
    forwarded: std::sync::atomic::AtomicU64,
    refused: std::sync::atomic::AtomicU64,
}

impl SignOffPace {
    fn new() -> Self {
        SignOffPace {
            start: std::time::Instant::now(),
            forwarded: u64::MAX.into(),
            refused: u64::MAX.into(),
        }
    }

    /// Whether the last `which` was long enough ago; if so, now is the last.
    fn due(&self, which: &std::sync::atomic::AtomicU64) -> bool {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let last = which.load(Ordering::Relaxed);
        let every = SIGN_OFF_EVERY.as_millis() as u64;
        if last != u64::MAX && now.saturating_sub(last) < every {
            return false;
        }
        which.store(now, Ordering::Relaxed);
        true
    }
}

/// A terminal past its handshake.
struct Link<'a> {
    shared: &'a Shared,
    me: u64,
    role: ClientRole,
    /// Who is at this terminal (the user as the kernel says): a sign-off is theirs.
    who: Operator,
    /// It keeps only this many of a step's newest output lines (see [`crate::tail`]).
    tail: Option<usize>,
    /// The pace of this terminal's sign-offs.
    pace: SignOffPace,
    /// It said it leaves on purpose (`Command::Leave`) before it closed.
    left_on_purpose: std::sync::atomic::AtomicBool,
    /// It was sent the run's end, or left, or never counted (a cockpit): it does not count in
    /// `Shared::behind`.
    sent_end: std::sync::atomic::AtomicBool,
}

impl Drop for Link<'_> {
    /// However the session ends (a panic too), the engine no longer waits for it.
    fn drop(&mut self) {
        self.no_longer_behind();
    }
}

impl Link<'_> {
    /// Welcome and snapshot, then live events out and commands in, until either side goes.
    async fn pump<R, W>(
        &mut self,
        read: &mut R,
        write: &mut W,
        mut demote: mpsc::Receiver<Operator>,
    ) where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let welcome = ServerMsg::Welcome {
            version: wire::VERSION,
            run: self.shared.id.clone(),
            role: self.role,
            terminal: self.me,
        };
        let (snapshot, live) = self.shared.subscribe();
        let mut live = Live::new(live, QUEUE_BYTES);
        let hello = async {
            wire::write(write, &welcome).await.is_ok() && self.snapshot(write, snapshot).await
        };
        if !live.while_writing(hello).await {
            return;
        }
        let mut live_open = true;
        // The demote channel's sender goes with the controls: once they are taken over, it
        // is closed and must not be polled again (it would be ready for ever).
        let mut demote_open = true;
        // Output was sent lately to a tail-keeping terminal: until then, live events gather
        // in `pending` and go out together (see `crate::tail`).
        let mut hold: Option<Instant> = None;
        let mut pending = crate::tail::Pending::default();
        // Kept across the loop: a command half read when another branch wins is not lost.
        let mut commands = wire::LineReader::default();
        loop {
            let go_on = tokio::select! {
                ev = live.recv(), if live_open => match ev {
                    Next::Event(ev) => {
                        let take = self.take(write, ev, &mut pending, &mut hold);
                        live.while_writing(take).await
                    }
                    Next::Behind(n) => {
                        // What was gathered is in the snapshot the terminal is sent instead.
                        pending.clear();
                        hold = None;
                        self.fell_behind(write, n, &mut live).await
                    }
                    Next::Closed => {
                        live_open = false;
                        true
                    }
                    // Neither comes to a run's terminal (`Overflow::Resync`, `recv`).
                    Next::Skipped(_) | Next::Empty => true,
                },
                () = tokio::time::sleep_until(hold.unwrap_or_else(Instant::now)), if hold.is_some() => {
                    let batch = pending.take(self.tail.unwrap_or(usize::MAX));
                    let output = batch.iter().any(|(e, _)| matches!(e.as_ref(), Event::Output { .. }));
                    hold = output.then(|| Instant::now() + crate::tail::PACE);
                    live.while_writing(self.send_batch(write, &batch)).await
                }
                by = demote.recv(), if demote_open => match by {
                    Some(by) => {
                        self.role = ClientRole::Watch;
                        let msg = ServerMsg::Role { role: self.role, by: Some(by) };
                        live.while_writing(wire::write(write, &msg)).await.is_ok()
                    }
                    None => {
                        demote_open = false;
                        true
                    }
                },
                msg = commands.read::<_, ClientMsg>(read, wire::MAX_CLIENT_LINE) => match msg {
                    Ok(Some(ClientMsg::Command { command })) => {
                        live.while_writing(self.command(write, command)).await
                    }
                    Ok(Some(ClientMsg::Hello { .. })) => true,
                    Ok(None) | Err(_) => false,
                },
            };
            if !go_on {
                self.last_words(read, &mut commands).await;
                return;
            }
        }
    }

    /// The session ends. A terminal that leaves on purpose sends `Command::Leave` and closes;
    /// when a write to it failed first (it closed while an event was on its way), the
    /// `Leave` is still unread: the commands it sent before closing are read now (briefly: it
    /// is gone, so they end at once), so its detach is journaled as its choice and not as a
    /// lost terminal.
    async fn last_words<R: AsyncBufRead + Unpin>(
        &self,
        read: &mut R,
        commands: &mut wire::LineReader,
    ) {
        if self.left_on_purpose.load(Ordering::Relaxed) {
            return;
        }
        let rest = async {
            while let Ok(Some(msg)) = commands
                .read::<_, ClientMsg>(read, wire::MAX_CLIENT_LINE)
                .await
            {
                if matches!(
                    msg,
                    ClientMsg::Command {
                        command: cutover_model::protocol::Command::Leave
                    }
                ) {
                    self.left_on_purpose.store(true, Ordering::Relaxed);
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(LAST_WORDS, rest).await;
    }

    /// One live event: sent at once, unless output was sent lately to a tail-keeping terminal
    /// (then gathered; sent at once all the same when too much has gathered). Sending output
    /// to such a terminal starts a [`crate::tail::PACE`] of gathering.
    async fn take<W: AsyncWrite + Unpin>(
        &self,
        write: &mut W,
        ev: Arc<Event>,
        pending: &mut crate::tail::Pending,
        hold: &mut Option<Instant>,
    ) -> bool {
        let Some(tail) = self.tail else {
            return self.event(write, &ev).await;
        };
        if hold.is_some() {
            if !pending.push(ev, tail) {
                return true;
            }
            *hold = Some(Instant::now() + crate::tail::PACE);
            let batch = pending.take(tail);
            return self.send_batch(write, &batch).await;
        }
        if matches!(ev.as_ref(), Event::Output { .. }) {
            *hold = Some(Instant::now() + crate::tail::PACE);
        }
        self.event(write, &ev).await
    }

    /// The terminal fell `n` events behind: a fresh queue, and the run as it stands.
    async fn fell_behind<W: AsyncWrite + Unpin>(
        &self,
        write: &mut W,
        n: u64,
        live: &mut Live,
    ) -> bool {
        let (snapshot, again) = self.shared.subscribe();
        *live = Live::new(again, QUEUE_BYTES);
        live.while_writing(self.resync(write, n, snapshot)).await
    }

    /// Sends gathered events in order, in writes of about [`BATCH_WRITE`] bytes.
    async fn send_batch<W: AsyncWrite + Unpin>(
        &self,
        write: &mut W,
        batch: &[crate::tail::Gathered],
    ) -> bool {
        let mut buf = Vec::new();
        for (n, (ev, left_out)) in batch.iter().enumerate() {
            if wire::encode_event(&mut buf, ev, *left_out).is_err() {
                return false;
            }
            if buf.len() >= BATCH_WRITE || n + 1 == batch.len() {
                if write.write_all(&buf).await.is_err() || write.flush().await.is_err() {
                    return false;
                }
                buf.clear();
            }
        }
        if batch.iter().any(|(e, _)| is_end(e)) {
            self.sent_the_end();
        }
        true
    }

    /// This terminal was sent the run's end: it is no longer behind, and a controlling one
    /// has seen the end.
    fn sent_the_end(&self) {
        self.no_longer_behind();
        if self.role == ClientRole::Control {
            self.shared.end_seen.store(true, Ordering::Relaxed);
        }
    }

    /// This terminal was sent the end, or left: the engine need not wait for it (once).
    fn no_longer_behind(&self) {
        if !self.sent_end.swap(true, Ordering::Relaxed) {
            self.shared.behind.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Sends one live event; a terminal that is sent the end is no longer behind.
    async fn event<W: AsyncWrite + Unpin>(&self, write: &mut W, ev: &Event) -> bool {
        let sent = wire::write_event(write, ev).await.is_ok();
        if sent && is_end(ev) {
            self.sent_the_end();
        }
        sent
    }

    /// The terminal fell `n` events behind: it is told, and sent the run as it stands.
    async fn resync<W: AsyncWrite + Unpin>(
        &self,
        write: &mut W,
        n: u64,
        snapshot: Vec<Event>,
    ) -> bool {
        let msg = ServerMsg::Resync {
            reason: format!("this terminal fell behind ({n} events): here is the run as it stands"),
        };
        wire::write(write, &msg).await.is_ok() && self.snapshot(write, snapshot).await
    }

    /// Sends a snapshot; a terminal that gets the run's end in it was sent the end.
    async fn snapshot<W: AsyncWrite + Unpin>(&self, write: &mut W, events: Vec<Event>) -> bool {
        let end = events.iter().any(is_end);
        let sent = wire::write(write, &ServerMsg::Snapshot { events })
            .await
            .is_ok();
        if sent && end {
            self.sent_the_end();
        }
        sent
    }

    /// A command from the terminal: to the engine when it has the controls, else refused —
    /// except a sign-off, which any terminal may send, stamped with who is at it.
    async fn command<W: AsyncWrite + Unpin>(
        &self,
        write: &mut W,
        mut command: cutover_model::protocol::Command,
    ) -> bool {
        use cutover_model::protocol::Command;
        if command == Command::Leave {
            // Said before the terminal closes: its detach is the operator's choice.
            self.left_on_purpose.store(true, Ordering::Relaxed);
            return false;
        }
        let in_control =
            self.role == ClientRole::Control && self.shared.controller_id() == Some(self.me);
        let sign_off = matches!(command, Command::Approve { .. });
        if let Command::Approve { by, .. } = &mut command {
            *by = Some(self.who.clone());
        }
        if !in_control && !sign_off {
            let msg = ServerMsg::ReadOnly {
                what: "watch is read-only: nothing was sent".into(),
            };
            return wire::write(write, &msg).await.is_ok();
        }
        if let Command::Approve { role, name, .. } = &command {
            let refused = self.sign_off_refusal(role, name).or_else(|| {
                (!self.pace.due(&self.pace.forwarded)).then(|| {
                    "sign-offs from this terminal come too fast: one every 250 ms".to_string()
                })
            });
            if let Some(what) = refused {
                // Told to this terminal alone, at a pace; never journaled.
                if !self.pace.due(&self.pace.refused) {
                    return true;
                }
                let msg = ServerMsg::ReadOnly { what };
                return wire::write(write, &msg).await.is_ok();
            }
        }
        if self.shared.commands.send(command).await.is_err() {
            let msg = ServerMsg::ReadOnly {
                what: "the run is over: nothing more is carried out".into(),
            };
            let _ = wire::write(write, &msg).await;
        }
        true
    }

    /// Why a sign-off as `role` by `name` cannot be taken now (the run waits for no sign-off
    /// of that role, or the name is blank), without asking the engine.
    fn sign_off_refusal(&self, role: &str, name: &str) -> Option<String> {
        if let Err(why) = cutover_model::runbook::usable_name(name) {
            return Some(format!("sign-off refused: {why}"));
        }
        let open = match self.shared.status.lock() {
            Ok(s) => s.open_sign_offs(),
            Err(_) => return Some("sign-off refused: the run's state is unreadable".into()),
        };
        if open.is_empty() {
            return Some("sign-off refused: the run waits for no sign-off now".into());
        }
        if !open.iter().any(|r| r == role) {
            return Some(format!(
                "sign-off refused: no sign-off as {} is waited for (waiting: {})",
                cutover_model::text::plain(role),
                open.join(", ")
            ));
        }
        None
    }
}

/// Whether `ev` is the run's end.
fn is_end(ev: &Event) -> bool {
    matches!(ev, Event::RunFinished { .. })
}
