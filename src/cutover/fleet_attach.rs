//! Terminals of a detached fleet: the lanes (`run --fleet`, `attach`, `watch`), a member's
//! full cockpit opened from them (esc goes back), `watch --json` (every member's events
//! tagged with the member), and the fleet's line in `cutover ls`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use cutover_cockpit::lanes::{self, LanesLeft, LanesLink};
use cutover_cockpit::tui::theme::Theme;
use cutover_model::fleet::lane::{FleetPhase, FleetView};
use cutover_model::protocol::{ClientRole, Operator};
use cutover_socket::client;
use cutover_socket::fleet::{FLEET_VERSION, FleetClientMsg, FleetServerMsg, FleetWant};
use cutover_socket::wire::{self, Want};

use crate::exit::{Exit, Failure, Outcome};
use crate::say;

/// How a terminal comes to the lanes.
#[derive(Debug, Clone, Copy)]
pub struct Seat {
    /// With the controls (else it watches).
    pub control: bool,
    /// Taking them from the terminal that has them, without asking.
    pub take_over: bool,
    /// A drill's fleet: it ends with this terminal (its clusters go with it).
    pub drill: bool,
}

/// The lanes of the fleet at `socket`, seated as `seat` says, until the operator leaves; a
/// member opened from them gets its full cockpit, and esc comes back. Returns the fleet's
/// exit once it has ended, else 0 (a drill's: 4).
pub fn lanes(socket: &Path, id: &str, seat: Seat, theme: &Theme) -> Outcome {
    let Seat {
        control, take_over, ..
    } = seat;
    let rt = crate::serve::client_runtime("cutover", Exit::Failed)?;
    let want = if control {
        FleetWant::Control { take_over }
    } else {
        FleetWant::Watch
    };
    let exit = loop {
        let once = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(lanes_once(socket, want, theme.clone()))
        }));
        let (left, view, role) = match once {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                break Err(Failure::new(
                    Exit::Invalid,
                    format!("cutover: fleet {id}: {}", cutover_model::text::plain(&e)),
                ));
            }
            Err(_) => {
                break Err(Failure::new(
                    Exit::Crashed,
                    format!(
                        "cutover: the lanes crashed; the fleet goes on without them · come back with: cutover attach {id}"
                    ),
                ));
            }
        };
        match left {
            LanesLeft::Open(member) => {
                let sock = view.as_ref().and_then(|v| {
                    v.lanes
                        .iter()
                        .find(|l| l.member == member)
                        .and_then(|l| l.socket.clone())
                });
                if let Some(sock) = sock
                    && member_cockpit(&rt, Path::new(&sock), role, theme.clone())
                {
                    // A shutdown signal or a lost terminal in the member's cockpit leaves
                    // the lanes too, as it does on the lanes themselves.
                    break Ok(left_fleet(id, view.as_ref(), seat));
                }
            }
            LanesLeft::Leave => break Ok(left_fleet(id, view.as_ref(), seat)),
            LanesLeft::Gone => break engine_gone(id, view.as_ref(), seat),
        }
    };
    rt.shutdown_background();
    exit
}

/// What the terminal says when it leaves the lanes: the fleet goes on (detached), or how it
/// ended (with its exit code, from the fleet journal).
fn left_fleet(id: &str, view: Option<&FleetView>, seat: Seat) -> Exit {
    let Some(v) = view.filter(|v| ended(v)) else {
        if seat.drill {
            say::out("cutover: left the lanes before the drill's fleet finished");
            return Exit::Failed;
        }
        let verb = if seat.control { "attach" } else { "watch" };
        say::out(&format!(
            "cutover: left the lanes; the fleet goes on · come back with: cutover {verb} {id}"
        ));
        return Exit::Ok;
    };
    let counts: Vec<String> = v
        .counts()
        .iter()
        .map(|(s, n)| format!("{n} {}", s.word()))
        .collect();
    say::out(&format!(
        "cutover: fleet finished: {} · fleet journal {}",
        counts.join(" · "),
        cutover_model::text::plain(&v.journal)
    ));
    say::out(&format!(
        "cutover: the fleet's report: cutover report {}",
        cutover_model::text::plain(&v.journal)
    ));
    if seat.control {
        last_end(&v.journal).map_or(Exit::Failed, |(code, _)| Exit::from_code(code))
    } else {
        Exit::Ok
    }
}

/// Whether the fleet ended: as the lanes saw, or as its journal says (an engine stopped by a
/// signal ends the fleet and goes at once, before the lanes are told).
fn ended(v: &FleetView) -> bool {
    v.phase == FleetPhase::Finished || last_end(&v.journal).is_some_and(|(_, last)| last)
}

/// The fleet journal's last `fleet_finished`: its exit code, and whether it ended the last
/// session (no `fleet_started` after it). `None`: no end, or no journal to read.
fn last_end(journal: &str) -> Option<(u8, bool)> {
    use cutover_model::fleet::FleetRecord;
    let recs = crate::fleet_journal::read_journal(Path::new(journal)).ok()?;
    let mut started_since = false;
    recs.iter().rev().find_map(|r| match r {
        FleetRecord::FleetFinished { exit, .. } => Some((*exit, !started_since)),
        FleetRecord::FleetStarted { .. } => {
            started_since = true;
            None
        }
        _ => None,
    })
}

/// The fleet's engine went away: how it ended when it did, else how to resume it.
fn engine_gone(id: &str, view: Option<&FleetView>, seat: Seat) -> Outcome {
    if view.is_some_and(ended) {
        return Ok(left_fleet(id, view, seat));
    }
    if seat.drill {
        return Err(Failure::new(
            Exit::Failed,
            "cutover: the drill's fleet engine went away before the fleet ended",
        ));
    }
    let resume = view.map_or_else(
        || "cutover run RUNBOOK --fleet FLEET.toml --resume FLEET-JOURNAL".into(),
        |v| resume_command(&v.journal),
    );
    Err(Failure::new(
        Exit::Failed,
        format!(
            "cutover: the fleet's engine went away before the fleet ended · resume with: {resume}"
        ),
    ))
}

/// The command that resumes the fleet journal `journal`: its runbook and fleet file as its
/// start recorded them, each quoted for the shell and shown without escapes.
pub(crate) fn resume_command(journal: &str) -> String {
    use cutover_model::runbook::shell::quote;
    let started = crate::fleet_journal::read_journal(Path::new(journal))
        .ok()
        .and_then(|recs| {
            recs.into_iter().find_map(|r| match r {
                cutover_model::fleet::FleetRecord::FleetStarted { runbook, fleet, .. } => {
                    Some((runbook, fleet))
                }
                _ => None,
            })
        });
    let (runbook, fleet) = started.unwrap_or_else(|| ("RUNBOOK".into(), "FLEET.toml".into()));
    let shown = |s: &str| cutover_model::text::plain(&quote(s)).into_owned();
    format!(
        "cutover run {} --fleet {} --resume {}",
        shown(&runbook),
        shown(&fleet),
        shown(journal)
    )
}

/// Says hello on a new connection to a fleet's socket, as this user wanting `want`: the
/// connection's read half (buffered) and its write half, to keep while the fleet is read
/// (dropping it shuts the connection for writing).
async fn hello(
    stream: UnixStream,
    want: FleetWant,
) -> Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf), String> {
    let (read, mut write) = stream.into_split();
    let hello = FleetClientMsg::Hello {
        version: FLEET_VERSION,
        want,
        who: Operator::from_env(),
    };
    wire::write(&mut write, &hello)
        .await
        .map_err(|e| e.to_string())?;
    Ok((BufReader::new(read), write))
}

/// What one visit to the lanes came to: how they were left, the last view, the role.
type Visit = (LanesLeft, Option<FleetView>, ClientRole);

/// One visit to the lanes: connects, says hello, and runs the lanes screen on the views.
async fn lanes_once(socket: &Path, want: FleetWant, theme: Theme) -> Result<Visit, String> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("cannot reach its engine ({e}); see cutover ls"))?;
    let (mut read, write) = hello(stream, want).await?;
    let role = match wire::read::<_, FleetServerMsg>(&mut read, wire::MAX_SERVER_LINE).await {
        Ok(Some(FleetServerMsg::Welcome { role })) => role,
        Ok(Some(FleetServerMsg::Refused { reason })) => return Err(reason),
        _ => return Err("its engine did not answer as a fleet's".into()),
    };
    let latest: Arc<Mutex<Option<FleetView>>> = Arc::default();
    let (views_tx, views) = mpsc::channel(16);
    let (notices_tx, notices) = mpsc::channel(16);
    let (commands, commands_rx) = mpsc::channel::<cutover_model::fleet::lane::FleetCommand>(16);
    let keep = latest.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(msg)) =
            wire::read::<_, FleetServerMsg>(&mut read, wire::MAX_SERVER_LINE).await
        {
            match msg {
                FleetServerMsg::View { view } => {
                    let view = shown(view);
                    if let Ok(mut l) = keep.lock() {
                        *l = Some(view.clone());
                    }
                    if views_tx.send(view).await.is_err() {
                        return;
                    }
                }
                FleetServerMsg::Notice { text } => {
                    let _ = notices_tx.send(text).await;
                }
                FleetServerMsg::Role { .. } => {
                    let _ = notices_tx
                        .send(
                            "another terminal took the fleet's controls: this one only watches"
                                .into(),
                        )
                        .await;
                }
                _ => {}
            }
        }
    });
    let writer = tokio::spawn(wire::pump(commands_rx, write, |command| {
        FleetClientMsg::Command { command }
    }));
    let link = LanesLink {
        commands,
        views,
        notices,
    };
    let left = lanes::run(link, &theme, role).await;
    reader.abort();
    writer.abort();
    let left = left.map_err(|e| format!("the terminal failed: {e}"))?;
    let view = latest.lock().ok().and_then(|l| l.clone());
    Ok((left, view, role))
}

/// `view` as a terminal may show it: the runbook's name and each lane's words (they come
/// from runbooks and engines) without escape sequences or control characters, so a title
/// such as `ESC]52;…` neither reaches the terminal nor leaves its residue on the screen.
fn shown(mut view: FleetView) -> FleetView {
    let plain = |s: &mut String| {
        if let std::borrow::Cow::Owned(p) = cutover_model::text::plain(s) {
            *s = p.replace('\n', " ");
        }
    };
    plain(&mut view.runbook);
    plain(&mut view.journal);
    if let Some(h) = view.halted.as_mut() {
        plain(h);
    }
    for lane in &mut view.lanes {
        plain(&mut lane.title);
        for word in [lane.lag.as_mut(), lane.reconcile.as_mut()]
            .into_iter()
            .flatten()
        {
            plain(word);
        }
        if let Some((trigger, _)) = lane.countdown.as_mut() {
            plain(trigger);
        }
    }
    view
}

/// Member's full cockpit at `socket`, in `role` (the fleet's controls take its controls);
/// esc (or a detach) comes back. A crash of it is only a lost screen. Returns whether it
/// ended by a shutdown signal or a lost terminal (the lanes are left then too).
fn member_cockpit(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    role: ClientRole,
    theme: Theme,
) -> bool {
    let want = match role {
        ClientRole::Control => Want::Control { take_over: true },
        ClientRole::Watch => Want::Watch,
    };
    let left = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async move {
            let joined = client::join(
                socket,
                want,
                Operator::from_env(),
                crate::attach::COCKPIT_TAIL,
            )
            .await
            .ok()?;
            crate::attach::joined_cockpit(joined, theme, true)
                .await
                .ok()
        })
    }));
    matches!(left, Ok(Some(l)) if l.terminal_lost)
}

/// `cutover watch --json` on a fleet: each member's events (its run so far, then live), one
/// JSON object per line with `"member"` first, until the fleet ends.
pub fn watch_json(socket: &Path) -> Outcome {
    let rt = crate::serve::client_runtime("cutover", Exit::Failed)?;
    let result = rt.block_on(async {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| e.to_string())?;
        let (mut read, _write) = hello(stream, FleetWant::Json).await?;
        let mut out = std::io::stdout().lock();
        let mut gone = std::pin::pin!(crate::attach::stdout_reader_gone());
        loop {
            let msg = tokio::select! {
                m = wire::read::<_, FleetServerMsg>(&mut read, wire::MAX_SERVER_LINE) => m,
                () = &mut gone => return Ok(true),
            };
            match msg {
                Ok(Some(FleetServerMsg::Member { member, event })) => {
                    let Ok(line) = serde_json::to_string(&event) else {
                        continue;
                    };
                    let tagged = match line.strip_prefix('{') {
                        Some(rest) => {
                            format!("{{\"member\":{},{rest}", serde_json::Value::String(member))
                        }
                        None => line,
                    };
                    use std::io::Write;
                    if writeln!(out, "{tagged}")
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return Ok(true);
                    }
                }
                Ok(Some(FleetServerMsg::Ended)) => return Ok(true),
                Ok(Some(FleetServerMsg::Refused { reason })) => return Err(reason),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Ok(false),
            }
        }
    });
    rt.shutdown_background();
    match result {
        Ok(true) => Ok(Exit::Ok),
        Ok(false) => Err(Failure::new(
            Exit::Failed,
            "cutover watch: the stream ended before the fleet did (its engine went away, or sent something wrong)",
        )),
        Err(e) => Err(Failure::new(
            Exit::Invalid,
            format!("cutover: {}", cutover_model::text::plain(&e)),
        )),
    }
}

/// The fleet at `socket` in `cutover ls`'s words: its state (`fleet of 50 (running): 2
/// failed · 40 completed`) and who has its controls (`-`: nobody); `None` when its engine
/// does not answer.
pub async fn ls_state(socket: &Path) -> Option<(String, String)> {
    let stream = UnixStream::connect(socket).await.ok()?;
    let (mut read, _write) = hello(stream, FleetWant::Status).await.ok()?;
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        wire::read::<_, FleetServerMsg>(&mut read, wire::MAX_SERVER_LINE),
    );
    let Ok(Ok(Some(FleetServerMsg::View { view }))) = read.await else {
        return None;
    };
    let counts: Vec<String> = view
        .counts()
        .iter()
        .map(|(s, n)| format!("{n} {}", s.word()))
        .collect();
    let phase = match view.phase {
        FleetPhase::Canary => "canary",
        FleetPhase::AwaitingGo => "waiting for the go",
        FleetPhase::Running => "running",
        FleetPhase::Halted => "HALTED",
        FleetPhase::Finished => "finished",
    };
    let state = format!(
        "fleet of {} ({phase}): {}",
        view.lanes.len(),
        counts.join(" · ")
    );
    let control = view.controller.unwrap_or_else(|| "-".into());
    Some((state, control))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resume command names the runbook and fleet file the fleet started with, each one
    /// shell word (a quote in a path stays inside it) and without terminal escapes.
    #[test]
    fn the_resume_command_names_what_the_fleet_started_with_quoted_and_plain() {
        let d = tempfile::tempdir().expect("tempdir");
        let journal = d.path().join("fj.jsonl");
        let started = cutover_model::fleet::FleetRecord::FleetStarted {
            ts: chrono::Utc::now(),
            runbook: "/srv/it's rb.toml".into(),
            fleet: "/srv/fleet\u{1b}[2J.toml".into(),
            members: vec!["m1".into()],
            resumed: false,
        };
        let line = serde_json::to_string(&started).expect("json");
        std::fs::write(&journal, format!("{line}\n")).expect("write");
        let j = journal.display().to_string();
        assert_eq!(
            resume_command(&j),
            format!("cutover run '/srv/it'\\''s rb.toml' --fleet '/srv/fleet.toml' --resume '{j}'")
        );
        assert_eq!(
            resume_command("/nowhere/fj.jsonl"),
            "cutover run 'RUNBOOK' --fleet 'FLEET.toml' --resume '/nowhere/fj.jsonl'"
        );
    }
}
