//! The server in one process with a real engine on a real runbook behind a real socket: a
//! finished run waits for its operator to come back and see the end, and leaves on its own
//! once nobody came for its linger time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::client;
use crate::rundir::{self, RunMeta};
use crate::server::{self, ServeError, ServeOptions};
use crate::wire::Want;
use cutover_engine::{Engine, EngineOptions, JournalChoice};
use cutover_model::protocol::{Command, Event, Incoming, Operator, RunOutcome};
use cutover_model::runbook::Runbook;

/// Long enough to say "never" in these tests (which otherwise wait for a run to end).
const NEVER: Duration = Duration::from_secs(60);

pub(crate) fn operator() -> Operator {
    Operator {
        user: "test".into(),
        ssh_client: None,
        host: "h".into(),
        peer: None,
    }
}

/// One half-second step.
const SERVED: &str =
    "[runbook]\nname = \"served\"\n\n[[step]]\nid = \"nap\"\nrun = \"sleep 0.5\"\n";

/// One half-second step behind a socket in `dir`; the server runs on its own task.
fn served(
    dir: &Path,
    linger: Duration,
) -> (
    std::path::PathBuf,
    JoinHandle<Result<RunOutcome, ServeError>>,
) {
    served_runbook(dir, SERVED, linger)
}

/// Runbook `text` behind a socket in `dir` (journal `dir/j.jsonl`, run id `j`), run by the
/// operator `test`; the server runs on its own task.
pub(crate) fn served_runbook(
    dir: &Path,
    text: &str,
    linger: Duration,
) -> (
    std::path::PathBuf,
    JoinHandle<Result<RunOutcome, ServeError>>,
) {
    let (listening, engine) = listening_runbook(dir, text, linger);
    let socket = listening.socket.clone();
    (socket, tokio::spawn(listening.serve(engine)))
}

/// A runbook `flood` whose step `flood` runs `run`, followed by the steps `rest`, behind a
/// socket in a new temporary directory: the directory, the socket and the server's task.
fn flood_served(
    run: &str,
    rest: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    JoinHandle<Result<RunOutcome, ServeError>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let flood =
        format!("[runbook]\nname = \"flood\"\n\n[[step]]\nid = \"flood\"\nrun = \"{run}\"\n{rest}");
    let (socket, serving) = served_runbook(dir.path(), &flood, NEVER);
    (dir, socket, serving)
}

/// Waits (at most [`NEVER`]) for the server's task to end, and asserts that the run completed.
async fn completed(serving: JoinHandle<Result<RunOutcome, ServeError>>) {
    let outcome = tokio::time::timeout(NEVER, serving).await.unwrap().unwrap();
    assert_eq!(outcome.unwrap(), RunOutcome::Completed);
}

/// Runbook `text` prepared (journal `dir/j.jsonl`, operator `test`) and its socket bound in
/// `dir/runs` (run id `j`), not served yet.
pub(crate) fn listening_runbook(
    dir: &Path,
    text: &str,
    linger: Duration,
) -> (server::Listening, Engine) {
    let rb_path = dir.join("rb.toml");
    std::fs::write(&rb_path, text).unwrap();
    let rb = Runbook::load(&rb_path, &BTreeMap::new()).unwrap();
    let engine = Engine::prepare(
        rb,
        EngineOptions {
            journal: JournalChoice::New(dir.join("j.jsonl")),
            accept_changed_runbook: false,
            accept_changed_vars: false,
            operator: operator(),
            metrics_file: None,
            also_masked: Vec::new(),
        },
    )
    .unwrap();
    let runs = dir.join("runs");
    std::fs::create_dir(&runs).unwrap();
    std::fs::set_permissions(&runs, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let listening = server::listen(ServeOptions {
        dir: runs,
        meta: RunMeta {
            id: "j".into(),
            pid: std::process::id(),
            pid_start: rundir::start_time(std::process::id()),
            journal: dir.join("j.jsonl").display().to_string(),
            runbook: "served".into(),
            started_at: chrono::Utc::now(),
            resumable: true,
            fleet: false,
        },
        shared: None,
        linger,
        claim: None,
        output_cap: None,
    })
    .unwrap();
    (listening, engine)
}

/// Takes the controls, runs the step and leaves at once, before the run ends.
async fn run_and_leave(socket: &Path) {
    let joined = client::join(socket, Want::Control { take_over: false }, operator(), None)
        .await
        .unwrap();
    let (commands, _events) = joined.bridge();
    commands.send(Command::RunNext).await.unwrap();
    // Dropping the channels closes the connection.
}

fn finished(journal: &Path) -> bool {
    std::fs::read_to_string(journal).is_ok_and(|j| j.contains(r#""type":"run_finished""#))
}

/// Waits until the journal of the run served in `dir` holds its end.
async fn journal_ended(dir: &Path) {
    let journal = dir.join("j.jsonl");
    while !finished(&journal) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The run served in `dir` (lingering `linger`), started by a controller that left at once:
/// returned once it ended, with nobody in control to see the end.
async fn ended_unattended(
    dir: &Path,
    linger: Duration,
) -> (
    std::path::PathBuf,
    JoinHandle<Result<RunOutcome, ServeError>>,
) {
    let (socket, serving) = served(dir, linger);
    run_and_leave(&socket).await;
    journal_ended(dir).await;
    (socket, serving)
}

#[tokio::test]
async fn an_operator_who_comes_back_finds_the_outcome_and_then_the_engine_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, serving) = ended_unattended(dir.path(), NEVER).await;
    // Nobody in control saw the end: the engine is still there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!serving.is_finished());
    let want = Want::Control { take_over: false };
    let joined = client::join(&socket, want, operator(), None).await.unwrap();
    let (_commands, mut events) = joined.bridge();
    match events.recv().await {
        Some(Incoming::Snapshot(evs)) => assert!(
            evs.iter().any(|e| matches!(
                e,
                Event::RunFinished {
                    outcome: RunOutcome::Completed,
                    ..
                }
            )),
            "{evs:?}"
        ),
        other => panic!("{other:?}"),
    }
    drop(events);
    drop(_commands);
    completed(serving).await;
    assert!(!socket.exists(), "the socket is removed");
}

#[tokio::test]
async fn a_finished_run_nobody_comes_back_to_leaves_after_its_linger() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, serving) = served(dir.path(), Duration::from_secs(1));
    run_and_leave(&socket).await;
    completed(serving).await;
    assert!(finished(&dir.path().join("j.jsonl")));
    assert!(!socket.exists(), "the socket is removed");
    assert!(
        rundir::read_metas(&dir.path().join("runs")).is_empty(),
        "so is its description"
    );
}

/// Step 0's output lines a terminal was sent, checked in order against `seq`'s numbering with
/// the lines left out counted in. A resynchronisation (which replaces what was shown) fails.
#[derive(Default)]
struct SeqCount {
    next: u64,
    sent: u64,
    left_out: u64,
    snapshots: u32,
}

impl SeqCount {
    /// Takes one message; true at the run's end.
    fn take(&mut self, inc: Incoming) -> bool {
        match inc {
            Incoming::Snapshot(_) => {
                self.snapshots += 1;
                assert_eq!(self.snapshots, 1, "only the snapshot on joining");
            }
            Incoming::Event(Event::Output {
                index: 0,
                text,
                skipped,
                ..
            }) => {
                self.next += skipped;
                self.left_out += skipped;
                for line in text.lines() {
                    assert_eq!(line.parse::<u64>().unwrap(), self.next + 1, "in order");
                    self.next += 1;
                    self.sent += 1;
                }
            }
            Incoming::Event(Event::RunFinished { .. }) => return true,
            _ => {}
        }
        false
    }
}

/// The lines of step 0 a bridged terminal was sent until the run's end, and those left out.
async fn seq_lines(events: &mut tokio::sync::mpsc::Receiver<Incoming>) -> (u64, u64) {
    let mut count = SeqCount::default();
    while let Some(inc) = events.recv().await {
        if count.take(inc) {
            return (count.sent, count.left_out);
        }
    }
    panic!("the stream ended before the run's end");
}

/// Two terminals that read nothing while a step floods 200,000 lines: the one that keeps only
/// 100 lines (as the cockpit keeps 10,000) is sent far fewer, every line it is not sent is
/// counted where it was left out, and the newest lines all arrive; the one that keeps every
/// line (`watch --json`) is sent every line.
#[tokio::test]
async fn a_flood_reaches_a_tail_keeping_terminal_as_its_tail_and_a_count() {
    let (dir, socket, serving) = flood_served("seq 200000", "");
    let want = Want::Control { take_over: false };
    let tail = client::join(&socket, want, operator(), Some(100));
    let tail = tail.await.unwrap();
    let every = client::join(&socket, Want::Watch, operator(), None);
    let every = every.await.unwrap();
    let (commands, mut tail_events) = tail.bridge();
    let (_watching, mut every_events) = every.bridge();
    commands.send(Command::RunNext).await.unwrap();
    // Nobody reads until the run is over: both terminals fall behind the flood.
    journal_ended(dir.path()).await;
    let (sent, left_out) = seq_lines(&mut tail_events).await;
    assert_eq!(sent + left_out, 200_000);
    assert!((100..100_000).contains(&sent), "sent {sent} lines");
    assert_eq!(seq_lines(&mut every_events).await, (200_000, 0));
    drop((commands, tail_events));
    completed(serving).await;
}

/// A terminal on `socket` that said hello (wanting `want`, every line) and reads nothing yet:
/// no bridge buffers for it either.
async fn said_hello(
    socket: &Path,
    want: Want,
) -> (
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf,
) {
    use crate::wire::{self, ClientMsg};
    let (read, mut write) = tokio::net::UnixStream::connect(socket)
        .await
        .unwrap()
        .into_split();
    let hello = ClientMsg::Hello {
        version: wire::VERSION,
        want,
        who: operator(),
        tail: None,
    };
    wire::write(&mut write, &hello).await.unwrap();
    (read, write)
}

/// A cockpit takes the controls, runs the next step, reads until the run's end and leaves.
async fn run_to_the_end(socket: &Path) {
    let want = Want::Control { take_over: false };
    let controller = client::join(socket, want, operator(), Some(100));
    let (commands, mut control) = controller.await.unwrap().bridge();
    commands.send(Command::RunNext).await.unwrap();
    seq_lines(&mut control).await;
}

/// A finished run whose controller saw the end and left still serves a watcher that reads far
/// behind (`watch --json` into a slow pipe) until it was sent the end: its stream is never cut
/// off by the engine leaving.
#[tokio::test]
async fn a_finished_run_waits_until_a_watcher_far_behind_was_sent_the_end() {
    use crate::wire::{self, ServerMsg};
    let (_dir, socket, serving) = flood_served("seq 200000", "");
    // A watcher that reads nothing for now (no bridge buffering for it either).
    let (read, _write) = said_hello(&socket, Want::Watch).await;
    run_to_the_end(&socket).await;
    // The controller saw the end and left; the watcher has read nothing yet.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!serving.is_finished(), "the engine left a watcher behind");
    let mut read = tokio::io::BufReader::new(read);
    let mut count = SeqCount::default();
    loop {
        let msg = wire::read_server(&mut read, wire::MAX_SERVER_LINE).await;
        let inc = match msg.unwrap().expect("cut off before the end") {
            ServerMsg::Event { event } => Incoming::Event(event),
            ServerMsg::Snapshot { events } => Incoming::Snapshot(events),
            _ => continue,
        };
        if count.take(inc) {
            break;
        }
    }
    assert_eq!((count.sent, count.left_out), (200_000, 0));
    completed(serving).await;
}

/// A run that ended while nobody had the controls, a connection that has not said hello yet,
/// and the controller coming back to see the end and leave: the engine is still there for
/// the connection. Returns it and the server's task.
async fn arrival_as_the_controller_leaves(
    dir: &Path,
) -> (
    tokio::net::UnixStream,
    JoinHandle<Result<RunOutcome, ServeError>>,
) {
    let (socket, serving) = ended_unattended(dir, NEVER).await;
    // Connected (and accepted), not a word said yet.
    let arriving = tokio::net::UnixStream::connect(&socket).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let want = Want::Control { take_over: false };
    let joined = client::join(&socket, want, operator(), None);
    let (commands, mut events) = joined.await.unwrap().bridge();
    assert!(matches!(events.recv().await, Some(Incoming::Snapshot(_))));
    drop((commands, events));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !serving.is_finished(),
        "the engine left a terminal that was saying hello"
    );
    (arriving, serving)
}

/// Says hello on `arriving` as a `watch --json` terminal and reads until the run's end:
/// panics when the stream is cut off before it.
async fn watch_to_the_end(arriving: tokio::net::UnixStream) {
    use crate::wire::{self, ClientMsg, ServerMsg};
    let (read, mut write) = arriving.into_split();
    let hello = ClientMsg::Hello {
        version: wire::VERSION,
        want: Want::Watch,
        who: operator(),
        tail: None,
    };
    wire::write(&mut write, &hello).await.unwrap();
    let mut read = tokio::io::BufReader::new(read);
    let ended = |evs: &[Event]| evs.iter().any(|e| matches!(e, Event::RunFinished { .. }));
    loop {
        let msg = wire::read_server(&mut read, wire::MAX_SERVER_LINE).await;
        match msg.unwrap().expect("cut off before the end") {
            ServerMsg::Snapshot { events } if ended(&events) => break,
            ServerMsg::Event { event } if ended(std::slice::from_ref(&event)) => break,
            _ => {}
        }
    }
}

/// A `watch --json` that connects as the controller sees the end and leaves (a script started
/// at that moment) is waited for while it says hello, and is sent the run to its end: the
/// engine does not leave between its arrival and its hello.
#[tokio::test]
async fn a_watcher_arriving_as_the_controller_leaves_is_sent_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (arriving, serving) = arrival_as_the_controller_leaves(dir.path()).await;
    watch_to_the_end(arriving).await;
    completed(serving).await;
}

/// A terminal accepted while a finished run lingers, which says hello only after the linger
/// ran out (nobody came to see the end), is still sent the end: the engine stops accepting
/// first, then waits for the terminals it accepted ([`server::LAST_ARRIVALS`] at most).
/// The same wait covers one accepted between the linger's last look and the accept loop's
/// stop.
#[tokio::test]
async fn a_terminal_accepted_before_the_linger_ran_out_is_sent_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let linger = Duration::from_secs(2);
    let (socket, serving) = ended_unattended(dir.path(), linger).await;
    // Accepted during the linger; not a word said until it has run out (and well inside the
    // hello's own limit, 5 s from the accept).
    let arriving = tokio::net::UnixStream::connect(&socket).await.unwrap();
    tokio::time::sleep(linger + Duration::from_millis(1500)).await;
    assert!(
        !serving.is_finished(),
        "the engine left a terminal it had accepted"
    );
    // It stopped accepting when the linger ran out: the socket is still there, but refuses.
    assert!(socket.exists());
    assert!(tokio::net::UnixStream::connect(&socket).await.is_err());
    watch_to_the_end(arriving).await;
    completed(serving).await;
}

/// A connection that never says hello (`nc -U` on the socket) holds a finished run's engine
/// no longer than the hello is waited for: counted as arriving, it is let go when dropped.
#[tokio::test]
async fn a_silent_connection_holds_a_finished_run_only_until_its_hello_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let (_silent, serving) = arrival_as_the_controller_leaves(dir.path()).await;
    let outcome = tokio::time::timeout(NEVER, serving).await;
    assert!(outcome.is_ok(), "a silent connection held the engine");
}

/// The CPU time so far (user and system) of this process's threads named `name`: those of
/// one test's own runtime, whatever the tests beside it in this process spend.
fn cpu_time(name: &str) -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    let ticks: u64 = tasks
        .flatten()
        .filter_map(|t| {
            // This thread's own line (`/proc/TID/stat` would be the whole process's).
            let line = std::fs::read_to_string(t.path().join("stat")).ok()?;
            cutover_model::proc_stat::ProcStat::parse(&line)
        })
        .filter(|stat| stat.comm == name)
        .map(|stat| stat.cpu_ticks())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A terminal whose controls were taken over only watches, and its session rests: the closed
/// demote channel is not polled again (it made the session spin a core for ever). The run is
/// served on a runtime of its own, whose threads' CPU time is measured.
#[test]
fn a_terminal_whose_controls_were_taken_rests() {
    const NAME: &str = "rests-test";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(NAME)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (socket, _serving) = served(dir.path(), NEVER);
        let want = Want::Control { take_over: false };
        let first = client::join(&socket, want, operator(), None);
        let (_first_commands, mut first_events) = first.await.unwrap().bridge();
        let second = client::join(&socket, Want::Control { take_over: true }, operator(), None);
        let (_second_commands, _second_events) = second.await.unwrap().bridge();
        while let Some(inc) = first_events.recv().await {
            if matches!(inc, Incoming::Role { .. }) {
                break;
            }
        }
        // Nothing happens for a second: the run waits for enter.
        let before = cpu_time(NAME);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let spent = cpu_time(NAME) - before;
        assert!(
            spent < Duration::from_millis(400),
            "{spent:?} of CPU in 1 s"
        );
    });
}

/// A flood of one-line writes (one event each, far more than a terminal's queue holds): a
/// cockpit keeps up and is never resynchronised for gathering, and every line is sent or
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_small_writes_never_puts_a_gathering_cockpit_behind() {
    let lines = 300_000;
    let (_dir, socket, serving) = flood_served(
        &format!("awk 'BEGIN {{ for (i = 1; i <= {lines}; i++) {{ print i; fflush() }} }}'"),
        "",
    );
    let want = Want::Control { take_over: false };
    let (commands, mut events) = client::join(&socket, want, operator(), Some(100))
        .await
        .unwrap()
        .bridge();
    commands.send(Command::RunNext).await.unwrap();
    let (sent, left_out) = seq_lines(&mut events).await;
    assert_eq!(sent + left_out, lines);
    drop((commands, events));
    completed(serving).await;
}

/// A watcher that reads nothing while a step floods far more than a terminal's queue holds
/// (a stalled SSH session, `watch --json | less` left open) does not make the engine keep the
/// flood for it: when it reads again it is told it fell behind and sent the run as it stands,
/// which holds the newest lines and the run's end.
#[tokio::test]
async fn a_watcher_that_stops_reading_through_a_flood_is_sent_the_run_as_it_stands() {
    use crate::wire::{self, ServerMsg};
    // About 21 MB of output: more than twice what a terminal's queue holds.
    let (_dir, socket, serving) = flood_served("seq 3000000", "");
    let (read, _write) = said_hello(&socket, Want::Watch).await;
    run_to_the_end(&socket).await;
    let mut read = tokio::io::BufReader::new(read);
    let mut resync = None;
    let snapshot = loop {
        let msg = wire::read_server(&mut read, wire::MAX_SERVER_LINE).await;
        match msg.unwrap().expect("cut off before the end") {
            ServerMsg::Resync { reason } => resync = Some(reason),
            ServerMsg::Snapshot { events } if resync.is_some() => break events,
            ServerMsg::Event { event } => {
                assert!(!matches!(event, Event::RunFinished { .. }), "never behind");
            }
            _ => {}
        }
    };
    crate::has(&resync.unwrap(), "this terminal fell behind");
    assert!(
        snapshot
            .iter()
            .any(|e| matches!(e, Event::RunFinished { .. }))
    );
    let last = snapshot.iter().rev().find_map(|e| match e {
        Event::Output { index: 0, text, .. } => Some(text.clone()),
        _ => None,
    });
    assert!(last.unwrap().ends_with("\n3000000\n"));
    completed(serving).await;
}

/// A terminal that says it leaves and closes while an event is on its way to it (its session
/// is writing, here blocked on a flood it does not read): the write fails first, and its
/// `Leave` is still read, so the journal says it left on purpose, not that it was lost.
#[tokio::test]
async fn a_leave_sent_while_the_session_writes_is_still_heard() {
    use crate::wire::{self, ClientMsg};
    let (dir, socket, serving) = flood_served(
        "seq 3000000",
        "\n[[step]]\nid = \"nap\"\nrun = \"sleep 1\"\n",
    );
    let (_read, mut write) = said_hello(&socket, Want::Control { take_over: false }).await;
    let run = ClientMsg::Command {
        command: Command::RunNext,
    };
    wire::write(&mut write, &run).await.unwrap();
    let journal = dir.path().join("j.jsonl");
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains(r#""type":"step_finished""#))
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The session has been blocked writing the flood to this terminal all along.
    let leave = ClientMsg::Command {
        command: Command::Leave,
    };
    wire::write(&mut write, &leave).await.unwrap();
    drop((_read, write));
    let detached = || {
        let j = std::fs::read_to_string(&journal).unwrap_or_default();
        j.lines()
            .find(|l| l.contains(r#""change":"detached""#))
            .map(str::to_string)
    };
    let mut waited = Duration::ZERO;
    while detached().is_none() && waited < NEVER {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    crate::has(&detached().unwrap(), r#""on_purpose":true"#);
    serving.abort();
}
