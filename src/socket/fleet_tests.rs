//! An attack pass on the fleet's socket: real unix sockets in a temporary directory, a
//! [`FleetHub`] of a few lanes behind [`fleet_session::accept_loop`], and (where a member must
//! really run) a real engine on a runbook of shell steps, served as the fleet serves members.
//! Each test says what a hostile or broken terminal does and what the fleet's engine must do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::fleet::{FLEET_VERSION, FleetClientMsg, FleetHub, FleetServerMsg, FleetWant};
use crate::fleet_session;
use crate::server::{HELLO_WITHIN, Handle};
use crate::server_tests::operator;
use crate::wire;
use cutover_model::fleet::lane::{FleetCommand, FleetPhase, FleetView, Lane, LaneState};
use cutover_model::protocol::{ClientRole, Command, Event};

/// How long a test waits for something that should come at once.
const SOON: Duration = Duration::from_secs(5);

/// A fleet view of `lanes` (name, state) in `phase`.
fn view(phase: FleetPhase, lanes: &[(&str, LaneState)]) -> FleetView {
    FleetView {
        id: "fleet".into(),
        runbook: "rb".into(),
        journal: "fleet.jsonl".into(),
        phase,
        halted: None,
        concurrency: 2,
        controller: None,
        started_at: Utc::now(),
        lanes: lanes
            .iter()
            .map(|(name, state)| Lane {
                state: *state,
                ..Lane::queued(name)
            })
            .collect(),
    }
}

/// A hub of `lanes` in `phase`, served on a socket in a new temporary directory.
fn fleet(
    phase: FleetPhase,
    lanes: &[(&str, LaneState)],
) -> (tempfile::TempDir, PathBuf, Arc<FleetHub>) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fleet.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let hub = FleetHub::new(view(phase, lanes));
    tokio::spawn(fleet_session::accept_loop(listener, hub.clone()));
    (dir, socket, hub)
}

/// The usual fleet: four lanes, waiting for the canary go.
fn usual() -> (tempfile::TempDir, PathBuf, Arc<FleetHub>) {
    fleet(
        FleetPhase::AwaitingGo,
        &[
            ("canary", LaneState::Completed),
            ("a", LaneState::Queued),
            ("b", LaneState::Waiting),
            ("c", LaneState::Running),
        ],
    )
}

/// One terminal's end of the fleet's socket.
struct Term {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Term {
    async fn connect(socket: &Path) -> Term {
        let (read, write) = UnixStream::connect(socket).await.unwrap().into_split();
        Term {
            read: BufReader::new(read),
            write,
        }
    }

    /// Connects and says hello asking for `want`.
    async fn hello(socket: &Path, want: FleetWant) -> Term {
        let mut t = Term::connect(socket).await;
        t.send(&FleetClientMsg::Hello {
            version: FLEET_VERSION,
            want,
            who: operator(),
        })
        .await;
        t
    }

    async fn send<M: serde::Serialize>(&mut self, msg: &M) {
        wire::write(&mut self.write, msg).await.unwrap();
    }

    /// A run-next of `members`, confirmed for `confirm`, each seen waiting at `seen`'s step.
    async fn run_next(
        &mut self,
        members: Vec<String>,
        confirm: usize,
        seen: std::collections::BTreeMap<String, usize>,
    ) {
        self.command(FleetCommand::RunNext {
            members,
            confirm,
            seen,
        })
        .await;
    }

    async fn command(&mut self, command: FleetCommand) {
        self.send(&FleetClientMsg::Command { command }).await;
    }

    /// The next message; `None` when the connection closed (or broke).
    async fn recv(&mut self) -> Option<FleetServerMsg> {
        tokio::time::timeout(SOON, wire::read(&mut self.read, wire::MAX_SERVER_LINE))
            .await
            .expect("a message (or the end) in time")
            .ok()
            .flatten()
    }

    /// Reads until a message `pick` keeps something of, skipping the rest (views, mostly).
    async fn until<T>(&mut self, mut pick: impl FnMut(FleetServerMsg) -> Option<T>) -> T {
        let deadline = Instant::now() + SOON;
        loop {
            assert!(Instant::now() < deadline, "nothing wanted came in time");
            match self.recv().await {
                Some(m) => {
                    if let Some(t) = pick(m) {
                        return t;
                    }
                }
                None => panic!("the connection closed first"),
            }
        }
    }

    /// The next notice, skipping views.
    async fn notice(&mut self) -> String {
        self.until(|m| match m {
            FleetServerMsg::Notice { text } => Some(text),
            _ => None,
        })
        .await
    }

    /// Whether the server closes the connection within `within` (whatever it sends first).
    async fn closes_within(&mut self, within: Duration) -> bool {
        let mut sink = vec![0u8; 64 * 1024];
        tokio::time::timeout(within, async {
            loop {
                match self.read.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

/// A `Status` terminal's one view: the server is serving.
async fn serves(socket: &Path) -> FleetView {
    let mut t = Term::hello(socket, FleetWant::Status).await;
    match t.recv().await {
        Some(FleetServerMsg::View { view }) => view,
        other => panic!("{other:?}"),
    }
}

/// Whether the canary go was given (waiting a little for it).
async fn go_given(hub: &FleetHub) -> bool {
    tokio::time::timeout(Duration::from_millis(200), hub.go_given())
        .await
        .is_ok()
}

#[tokio::test]
async fn a_terminal_that_never_says_hello_is_dropped_and_blocks_nobody() {
    let (_dir, socket, _hub) = usual();
    let started = Instant::now();
    let mut silent = Term::connect(&socket).await;
    // Others are served meanwhile, at once.
    let v = tokio::time::timeout(Duration::from_secs(1), serves(&socket))
        .await
        .unwrap();
    assert_eq!(v.lanes.len(), 4);
    assert!(silent.closes_within(HELLO_WITHIN + SOON).await);
    assert!(started.elapsed() >= HELLO_WITHIN - Duration::from_millis(100));
}

#[tokio::test]
async fn a_hello_of_another_version_is_refused_by_name() {
    let (_dir, socket, _hub) = usual();
    let mut t = Term::connect(&socket).await;
    t.send(&FleetClientMsg::Hello {
        version: FLEET_VERSION + 98,
        want: FleetWant::Watch,
        who: operator(),
    })
    .await;
    match t.recv().await {
        Some(FleetServerMsg::Refused { reason }) => {
            assert!(reason.contains("protocol"), "{reason}");
            crate::has(&reason, &(FLEET_VERSION + 98).to_string());
        }
        other => panic!("{other:?}"),
    }
    assert!(t.closes_within(SOON).await);
}

#[tokio::test]
async fn a_hello_of_the_run_protocol_is_refused_and_closed() {
    let (_dir, socket, _hub) = usual();
    for want in [
        wire::Want::Control { take_over: true },
        wire::Want::Watch,
        wire::Want::Status,
    ] {
        let mut t = Term::connect(&socket).await;
        t.send(&wire::ClientMsg::Hello {
            version: wire::VERSION,
            want,
            who: operator(),
            tail: None,
        })
        .await;
        match t.recv().await {
            Some(FleetServerMsg::Refused { reason }) => {
                assert!(reason.contains("protocol"), "{reason}")
            }
            other => panic!("{want:?}: {other:?}"),
        }
        assert!(t.closes_within(SOON).await);
    }
    serves(&socket).await;
}

#[tokio::test]
async fn garbage_and_overlong_hellos_are_closed_and_others_are_served() {
    let (_dir, socket, _hub) = usual();
    // Not JSON; JSON that is no hello; a command before the hello.
    let junk: [&[u8]; 4] = [
        b"hello there\n",
        b"{\"type\":\"hello\",\"version\":\"one\"}\n",
        b"[1,2,3]\n",
        b"{\"type\":\"command\",\"command\":{\"type\":\"go\"}}\n",
    ];
    for line in junk {
        let mut t = Term::connect(&socket).await;
        t.write.write_all(line).await.unwrap();
        assert!(
            t.closes_within(SOON).await,
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    // A line over the limit, never ending: closed once the limit is passed, not when (or if)
    // the line ends; and nothing the line claims is believed.
    let mut t = Term::connect(&socket).await;
    let flood = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while t.write.write_all(&chunk).await.is_ok() {
            sent += chunk.len();
            if sent > 64 * wire::MAX_CLIENT_LINE {
                break;
            }
        }
        (sent, t)
    });
    let (sent, mut t) = tokio::time::timeout(SOON, flood).await.unwrap().unwrap();
    assert!(
        sent < 4 * wire::MAX_CLIENT_LINE,
        "the server read {sent} bytes"
    );
    assert!(t.closes_within(SOON).await);
    // A hello claiming a huge user name, cut short: closed at the end of the stream.
    let mut t = Term::connect(&socket).await;
    t.write
        .write_all(b"{\"type\":\"hello\",\"version\":1,\"want\":\"watch\",\"who\":{\"user\":\"")
        .await
        .unwrap();
    t.write.shutdown().await.unwrap();
    assert!(t.closes_within(SOON).await);
    serves(&socket).await;
}

#[tokio::test]
async fn a_second_controller_is_refused_unless_it_takes_over() {
    let (_dir, socket, hub) = usual();
    let control = |take_over| FleetWant::Control { take_over };
    let mut first = Term::hello(&socket, control(false)).await;
    assert_eq!(
        first.recv().await,
        Some(FleetServerMsg::Welcome {
            role: ClientRole::Control
        })
    );
    let mut second = Term::hello(&socket, control(false)).await;
    match second.recv().await {
        Some(FleetServerMsg::Refused { reason }) => assert!(reason.contains("--take-over")),
        other => panic!("{other:?}"),
    }
    assert!(second.closes_within(SOON).await);
    // The refused one took nothing: the first still has the controls.
    first.command(FleetCommand::Go).await;
    assert!(first.notice().await.starts_with("go given by"));
    assert!(go_given(&hub).await);
}

/// A controller that has had its first view (its session then pauses: at most ten views a
/// second), and a second terminal that takes the controls from it (its welcome not read yet).
async fn controller_and_taker(socket: &Path) -> (Term, Term) {
    let mut first = Term::hello(socket, FleetWant::Control { take_over: false }).await;
    first
        .until(|m| matches!(m, FleetServerMsg::View { .. }).then_some(()))
        .await;
    let second = Term::hello(socket, FleetWant::Control { take_over: true }).await;
    (first, second)
}

#[tokio::test]
async fn a_takeover_demotes_the_first_whose_commands_are_then_read_only() {
    let (_dir, socket, hub) = usual();
    let (mut first, mut second) = controller_and_taker(&socket).await;
    assert_eq!(
        second.recv().await,
        Some(FleetServerMsg::Welcome {
            role: ClientRole::Control
        })
    );
    let role = first
        .until(|m| match m {
            FleetServerMsg::Role { role } => Some(role),
            _ => None,
        })
        .await;
    assert_eq!(role, ClientRole::Watch);
    first.command(FleetCommand::Go).await;
    assert!(first.notice().await.starts_with("read-only"));
    assert!(!go_given(&hub).await);
    // The first leaving does not take the controls from the second.
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(hub.controlled());
    second.command(FleetCommand::Go).await;
    assert!(second.notice().await.starts_with("go given by"));
    drop(second);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!hub.controlled(), "the controls are free once it left");
}

/// The old controller's command sent while its session is busy (the pause after a view),
/// just as it is demoted: whichever the session picks up first, the command is not carried
/// out — the controls are the new terminal's from the moment it took them.
#[tokio::test]
async fn a_command_racing_its_terminals_demotion_is_not_carried_out() {
    for _ in 0..8 {
        let (_dir, socket, hub) = usual();
        let (mut first, mut second) = controller_and_taker(&socket).await;
        assert!(matches!(
            second.recv().await,
            Some(FleetServerMsg::Welcome { .. })
        ));
        first.command(FleetCommand::Go).await;
        let said = first.notice().await;
        assert!(said.starts_with("read-only"), "{said}");
        assert!(!go_given(&hub).await);
    }
}

#[tokio::test]
async fn a_watcher_is_read_only_and_changes_nothing() {
    let (_dir, socket, hub) = usual();
    let mut w = Term::hello(&socket, FleetWant::Watch).await;
    assert_eq!(
        w.recv().await,
        Some(FleetServerMsg::Welcome {
            role: ClientRole::Watch
        })
    );
    let before = hub.view();
    for command in [
        FleetCommand::Go,
        FleetCommand::RunNext {
            members: vec!["b".into()],
            confirm: 1,
            seen: Default::default(),
        },
        FleetCommand::Rollback {
            members: vec!["c".into()],
            confirm: 1,
        },
    ] {
        w.command(command).await;
        assert_eq!(
            w.notice().await,
            "read-only: this terminal watches the fleet"
        );
    }
    // A second hello mid-session is no way in either.
    w.send(&FleetClientMsg::Hello {
        version: FLEET_VERSION,
        want: FleetWant::Control { take_over: true },
        who: operator(),
    })
    .await;
    w.command(FleetCommand::Go).await;
    assert!(w.notice().await.starts_with("read-only"));
    assert!(!hub.controlled());
    assert!(!go_given(&hub).await);
    assert_eq!(hub.view(), before);
}

#[tokio::test]
async fn a_status_terminal_gets_one_view_and_the_connection_closes() {
    let (_dir, socket, hub) = usual();
    let mut t = Term::hello(&socket, FleetWant::Status).await;
    match t.recv().await {
        Some(FleetServerMsg::View { view }) => assert_eq!(view, hub.view()),
        other => panic!("{other:?}"),
    }
    hub.update(|v| v.phase = FleetPhase::Running);
    assert_eq!(t.recv().await, None, "nothing after the one view");
    assert!(!hub.controlled());
}

/// A controlling terminal on the usual fleet, past its welcome.
async fn controller(socket: &Path) -> Term {
    let mut t = Term::hello(socket, FleetWant::Control { take_over: false }).await;
    assert!(matches!(
        t.recv().await,
        Some(FleetServerMsg::Welcome { .. })
    ));
    t
}

#[tokio::test]
async fn a_count_that_does_not_match_is_refused_whole() {
    let (_dir, socket, _hub) = usual();
    let mut t = controller(&socket).await;
    let two = vec!["a".to_string(), "b".to_string()];
    t.run_next(two.clone(), 1, Default::default()).await;
    assert_eq!(t.notice().await, "not run: 1 typed for 2 members");
    t.command(FleetCommand::Rollback {
        members: two,
        confirm: usize::MAX,
    })
    .await;
    assert_eq!(
        t.notice().await,
        format!("not rolled back: {} typed for 2 members", usize::MAX)
    );
    t.run_next(Vec::new(), 0, Default::default()).await;
    assert_eq!(t.notice().await, "ran the next step of 0 members");
}

#[tokio::test]
async fn go_is_refused_unless_the_fleet_waits_for_it() {
    for phase in [
        FleetPhase::Canary,
        FleetPhase::Running,
        FleetPhase::Halted,
        FleetPhase::Finished,
    ] {
        let (_dir, socket, hub) = fleet(phase, &[("a", LaneState::Queued)]);
        let mut t = controller(&socket).await;
        t.command(FleetCommand::Go).await;
        assert_eq!(
            t.notice().await,
            "no go: the fleet is not waiting for one",
            "{phase:?}"
        );
        assert!(!go_given(&hub).await);
    }
}

/// Whether `text` could do anything to a terminal or a one-line status: no control
/// character at all (escapes, newlines, carriage returns, C1).
fn tame(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

#[tokio::test]
async fn unknown_and_hostile_member_names_are_reported_bounded_and_tame() {
    let (_dir, socket, hub) = usual();
    let mut t = controller(&socket).await;
    let hostile: Vec<String> = [
        "x\"; rm -rf /",
        "new\nline",
        "\u{1b}[2J\u{1b}[H cleared",
        "\u{1b}]52;c;cGF5bG9hZA==\u{7}clip",
        "bell\u{7}\r overwritten",
        "c1 \u{9b}31m",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let n = hostile.len();
    t.run_next(hostile, n, Default::default()).await;
    let said = t.notice().await;
    assert!(
        said.starts_with("ran the next step of 0 members; left as they are: "),
        "{said}"
    );
    assert!(said.ends_with(&format!("+{} more", n - 5)), "{said}");
    assert!(tame(&said), "{said:?}");
    // Ten thousand names: five of them, then how many more.
    let many: Vec<String> = (0..10_000).map(|i| format!("ghost-{i}")).collect();
    t.command(FleetCommand::Rollback {
        members: many,
        confirm: 10_000,
    })
    .await;
    let said = t.notice().await;
    assert!(
        said.starts_with("rolling back 0 members; left as they are: ghost-0, "),
        "{said}"
    );
    assert!(said.ends_with("+9995 more"), "{said}");
    assert!(said.len() < 200, "{said}");
    // A name of almost a megabyte (the line stays under the limit): the notice stays short.
    let huge = "\u{1b}[31m".to_string() + &"n".repeat(wire::MAX_CLIENT_LINE - 1024);
    t.run_next(vec![huge], 1, Default::default()).await;
    let said = t.notice().await;
    assert!(said.len() < 1024, "a notice of {} bytes", said.len());
    assert!(tame(&said), "{said:?}");
    // A known name typed in another case, or padded, is not that member.
    t.run_next(vec!["B".into(), " b".into()], 2, Default::default())
        .await;
    assert_eq!(
        t.notice().await,
        "ran the next step of 0 members; left as they are: B,  b"
    );
    // And through it all, the server serves.
    assert_eq!(serves(&socket).await, hub.view());
}

#[tokio::test]
async fn a_command_over_the_line_limit_closes_that_terminal_alone() {
    let (_dir, socket, hub) = usual();
    let mut t = controller(&socket).await;
    let huge = "n".repeat(wire::MAX_CLIENT_LINE + 1);
    let line = serde_json::to_vec(&FleetClientMsg::Command {
        command: FleetCommand::RunNext {
            members: vec![huge],
            confirm: 1,
            seen: Default::default(),
        },
    })
    .unwrap();
    // The server may close before it has read it all.
    let _ = t.write.write_all(&line).await;
    assert!(t.closes_within(SOON).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!hub.controlled(), "its controls are free again");
    serves(&socket).await;
}

#[tokio::test]
async fn a_terminal_that_stops_reading_does_not_hold_up_the_others() {
    // Fifty lanes with long titles: a view is big, the stalled terminal's socket fills fast.
    let names: Vec<String> = (0..50).map(|i| format!("member-{i}")).collect();
    let lanes: Vec<(&str, LaneState)> = names
        .iter()
        .map(|n| (n.as_str(), LaneState::Running))
        .collect();
    let (_dir, socket, hub) = fleet(FleetPhase::Running, &lanes);
    let stalled = Term::hello(&socket, FleetWant::Control { take_over: false }).await;
    let mut reader = Term::hello(&socket, FleetWant::Watch).await;
    let title = "t".repeat(1000);
    for i in 0..10_000 {
        hub.update(|v| v.lanes[i % 50].title = format!("{title} {i}"));
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // Two seconds more of views (a megabyte): the stalled terminal's socket is surely full,
    // its session blocked in a write.
    for i in 0..20 {
        hub.update(|v| v.lanes[1].title = format!("{title} again {i}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub.update(|v| v.lanes[0].title = "the last word".into());
    let started = Instant::now();
    reader
        .until(|m| match m {
            FleetServerMsg::View { view } => (view.lanes[0].title == "the last word").then_some(()),
            _ => None,
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Other terminals come and go as usual.
    assert_eq!(serves(&socket).await.lanes[0].title, "the last word");
    // The stalled terminal keeps its session (and its controls) until it reads or goes, as a
    // run's does: one view in flight, the hub keeping only the latest.
    assert!(hub.controlled());
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!hub.controlled(), "gone, its controls are free");
}

/// A one-step runbook whose step runs `run`.
fn runbook(run: &str) -> String {
    format!(
        "[runbook]\nname = \"member\"\n\n[[step]]\nid = \"one\"\nrun = \"{run}\"\n\n[[step]]\nid = \"two\"\nrun = \"true\"\n"
    )
}

/// Serves runbook `text` as fleet member `name` (its run directory and journal in `dir`), the
/// way the fleet serves its members: its lane follows it through the hub. Returns its handle.
async fn member(hub: &Arc<FleetHub>, dir: &Path, name: &str, text: &str) -> Handle {
    let home = dir.join(name);
    std::fs::create_dir(&home).unwrap();
    let (listening, engine) = crate::server_tests::listening_runbook(&home, text, Duration::ZERO);
    let socket = listening.socket.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (h, n) = (hub.clone(), name.to_string());
    tokio::spawn(listening.serve_with(engine, move |handle| {
        h.serving(&n, socket, handle.clone());
        let _ = tx.send(handle);
    }));
    rx.await.unwrap()
}

/// Waits until member `name`'s lane is `state` (at step `step`) in the hub's view.
async fn lane_is(hub: &FleetHub, name: &str, state: LaneState, step: Option<usize>) {
    let deadline = Instant::now() + SOON;
    loop {
        let v = hub.view();
        let lane = v.lanes.iter().find(|l| l.member == name).unwrap();
        if lane.state == state && lane.step == step {
            return;
        }
        assert!(Instant::now() < deadline, "{lane:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A run-next of the one member `m`, confirmed, seen waiting at step `seen` (`None`: not
/// said): the notice that answers it.
async fn run_next_of_m(t: &mut Term, seen: Option<usize>) -> String {
    let seen = seen
        .map(|step| ("m".to_string(), step))
        .into_iter()
        .collect();
    t.run_next(vec!["m".into()], 1, seen).await;
    t.notice().await
}

#[tokio::test]
async fn run_next_reaches_each_waiting_member_once_and_no_other() {
    let (dir, socket, hub) = fleet(
        FleetPhase::Running,
        &[("m", LaneState::Queued), ("idle", LaneState::Queued)],
    );
    member(&hub, dir.path(), "m", &runbook("sleep 0.5")).await;
    lane_is(&hub, "m", LaneState::Waiting, Some(0)).await;
    let mut t = controller(&socket).await;
    // The same member named twice: its next step, once.
    t.run_next(
        vec!["m".into(), "m".into(), "idle".into()],
        3,
        Default::default(),
    )
    .await;
    assert_eq!(
        t.notice().await,
        "ran the next step of 1 member; left as they are: idle"
    );
    lane_is(&hub, "m", LaneState::Running, Some(0)).await;
    // Running: not waiting, so nothing is sent.
    assert_eq!(
        run_next_of_m(&mut t, None).await,
        "ran the next step of 0 members; left as they are: m"
    );
    // The step ends and the member waits before its second: no run-next was left over.
    lane_is(&hub, "m", LaneState::Waiting, Some(1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    lane_is(&hub, "m", LaneState::Waiting, Some(1)).await;
    // A run-next confirmed on lanes that showed it at its first step (it has moved on since):
    // left as it is, its second step not run.
    assert_eq!(
        run_next_of_m(&mut t, Some(0)).await,
        "ran the next step of 0 members; left as they are: m"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    lane_is(&hub, "m", LaneState::Waiting, Some(1)).await;
    // Seen where it waits: it runs.
    assert_eq!(
        run_next_of_m(&mut t, Some(1)).await,
        "ran the next step of 1 member"
    );
    lane_is(&hub, "m", LaneState::Running, Some(1)).await;
}

/// Reads a `want = "json"` stream until `Ended`: each member's events, in order.
async fn json_until_ended(t: &mut Term) -> Vec<(String, Event)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + SOON;
    loop {
        assert!(Instant::now() < deadline, "no end in time; so far {got:?}");
        match t.recv().await {
            Some(FleetServerMsg::Member { member, event }) => got.push((member, event)),
            Some(FleetServerMsg::Ended) => return got,
            Some(FleetServerMsg::Welcome { role }) => assert_eq!(role, ClientRole::Watch),
            other => panic!("{other:?} after {got:?}"),
        }
    }
}

/// A running fleet whose one member `m` runs `run`, watched by a `watch --json` terminal, `m`
/// ready to run its first step: the fleet's directory, its hub, `m`'s handle and the terminal.
async fn watched_member(run: &str) -> (tempfile::TempDir, Arc<FleetHub>, Handle, Term) {
    let (dir, socket, hub) = fleet(FleetPhase::Running, &[("m", LaneState::Queued)]);
    let handle = member(&hub, dir.path(), "m", &runbook(run)).await;
    let json = Term::hello(&socket, FleetWant::Json).await;
    lane_is(&hub, "m", LaneState::Waiting, Some(0)).await;
    (dir, hub, handle, json)
}

#[tokio::test]
async fn json_tags_each_members_events_and_ends_once_the_fleet_has() {
    let (_dir, hub, handle, mut json) = watched_member("true").await;
    assert!(handle.send(Command::RunNext).await);
    lane_is(&hub, "m", LaneState::Waiting, Some(1)).await;
    assert!(handle.send(Command::RunNext).await);
    lane_is(&hub, "m", LaneState::Completed, None).await;
    drop(handle);
    hub.set_phase(FleetPhase::Finished, None);
    let got = json_until_ended(&mut json).await;
    assert!(got.iter().all(|(m, _)| m == "m"));
    assert!(
        matches!(got.first(), Some((_, Event::RunStarted { .. }))),
        "{got:?}"
    );
    assert!(
        matches!(got.last(), Some((_, Event::RunFinished { .. }))),
        "{got:?}"
    );
    assert!(json.closes_within(SOON).await);
    // Its engine is gone: its lane keeps how the run ended, with no socket to open.
    let deadline = Instant::now() + SOON;
    while hub.view().lanes[0].socket.is_some() {
        assert!(Instant::now() < deadline, "{:?}", hub.view().lanes[0]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.view().lanes[0].state, LaneState::Completed);
}

#[tokio::test]
async fn json_on_a_finished_fleet_ends_at_once() {
    let (_dir, socket, _hub) = fleet(FleetPhase::Finished, &[("a", LaneState::Completed)]);
    let mut json = Term::hello(&socket, FleetWant::Json).await;
    assert_eq!(json_until_ended(&mut json).await, Vec::new());
    assert!(json.closes_within(SOON).await);
}

/// A `watch --json` terminal counts as streaming until it has been sent the fleet's end, so a
/// finished fleet's engine (whose controlling terminal has seen the end) does not close it
/// early while it reads behind.
#[tokio::test]
async fn a_json_watcher_counts_as_streaming_until_it_has_the_end() {
    let (_dir, socket, hub) = fleet(FleetPhase::Running, &[("a", LaneState::Queued)]);
    assert!(!hub.streaming());
    let mut json = Term::hello(&socket, FleetWant::Json).await;
    streaming_becomes(&hub, true, "the watcher was never counted").await;
    hub.set_phase(FleetPhase::Finished, None);
    assert_eq!(json_until_ended(&mut json).await, Vec::new());
    streaming_becomes(&hub, false, "still counted after its end").await;
}

/// Waits until `hub.streaming()` is `want`.
async fn streaming_becomes(hub: &FleetHub, want: bool, why: &str) {
    let deadline = Instant::now() + SOON;
    while hub.streaming() != want {
        assert!(Instant::now() < deadline, "{why}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A connection counts as streaming from its accept until it says what it is: a finished
/// fleet does not leave between a `watch --json`'s arrival and its hello. One that turns out
/// to be anything else is let go at once; one that never says hello, when it is dropped.
#[tokio::test]
async fn a_terminal_counts_as_streaming_until_it_says_what_it_is() {
    let (_dir, socket, hub) = fleet(FleetPhase::Finished, &[("a", LaneState::Completed)]);
    let mut t = Term::connect(&socket).await;
    streaming_becomes(&hub, true, "an arriving terminal was not counted").await;
    t.send(&FleetClientMsg::Hello {
        version: FLEET_VERSION,
        want: FleetWant::Status,
        who: operator(),
    })
    .await;
    assert!(matches!(t.recv().await, Some(FleetServerMsg::View { .. })));
    streaming_becomes(&hub, false, "a status request stayed counted").await;
    let mut silent = Term::connect(&socket).await;
    streaming_becomes(&hub, true, "a silent terminal was not counted").await;
    assert!(silent.closes_within(HELLO_WITHIN + SOON).await);
    streaming_becomes(&hub, false, "a silent terminal stayed counted").await;
}

/// A terminal that falls behind on notices (more than the queue of 64 came before it read)
/// is told how many it missed, then gets the newest in order.
#[tokio::test]
async fn a_terminal_behind_on_notices_is_told_how_many_it_missed() {
    let (_dir, socket, hub) = usual();
    let mut t = controller(&socket).await;
    // Its session does not run until this test awaits: all 200 come before it reads.
    for i in 0..200 {
        hub.notice(&format!("n{i}"));
    }
    assert_eq!(
        t.notice().await,
        "136 notices of the fleet were not shown here: this terminal fell behind"
    );
    for i in 136..200 {
        assert_eq!(t.notice().await, format!("n{i}"));
    }
}

/// A fleet's `watch --json` that reads nothing while a member floods far more than a
/// terminal's queue holds: the member's events wait in its forwarder, bounded in bytes, not in its
/// broadcast; when the terminal reads again it is told where and how much output was left out,
/// and goes on to the member's end.
#[tokio::test]
async fn a_json_watcher_that_stops_reading_through_a_flood_is_told_what_it_missed() {
    let (_dir, hub, handle, mut json) = watched_member("seq 3000000").await;
    assert!(handle.send(Command::RunNext).await);
    let deadline = Instant::now() + Duration::from_secs(60);
    while hub.view().lanes[0].step != Some(1) {
        assert!(Instant::now() < deadline, "{:?}", hub.view().lanes[0]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(handle.send(Command::RunNext).await);
    lane_is(&hub, "m", LaneState::Completed, None).await;
    drop(handle);
    hub.set_phase(FleetPhase::Finished, None);
    let got = json_until_ended(&mut json).await;
    let missed = got.iter().find_map(|(_, e)| match e {
        Event::Notice { message, .. } if message.contains("fell behind") => Some(message),
        _ => None,
    });
    crate::has(
        missed.expect("told it fell behind"),
        "output events of m left out here",
    );
    // The lines it was sent and the lines the notices say were left out are seq's, each once.
    let sent: u64 = got
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Output { text, .. } => Some(crate::tail::lines_of(text)),
            _ => None,
        })
        .sum();
    let left_out: u64 = got
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Notice { message, .. } if message.contains("left out here (") => {
                let n = message.rsplit_once('(')?.1.strip_suffix(" lines)")?;
                n.parse::<u64>().ok()
            }
            _ => None,
        })
        .sum();
    assert!(left_out > 0);
    assert_eq!(sent + left_out, 3_000_000);
    assert!(
        matches!(got.last(), Some((_, Event::RunFinished { .. }))),
        "{:?}",
        got.last()
    );
}
