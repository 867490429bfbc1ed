//! The run belongs to its engine, not to a terminal (DESIGN §8): a dropped terminal only
//! detaches, `cutover ls` lists the run, `cutover attach` picks it up where it is, `cutover
//! watch` shows it read-only, a second attach takes the controls over, a killed engine is
//! listed as dead with its resume command, and another user is refused by the socket.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::pty::small_run;
use crate::support::{journal, mkfifo, signal, wait_for};
use crate::term::{BIN, DEADLINE, Pty, RawTerm, Runs};

/// A runbook whose first step prints a tick a second for 8 s.
fn nap_runbook(dir: &Path) -> PathBuf {
    crate::support::runbook(
        dir,
        "nap.toml",
        r#"[runbook]
name = "detach test"

[[step]]
id = "nap"
title = "Eight ticks"
run = "for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 1; done"
expected = "8s"

[[step]]
id = "after"
title = "After the nap"
run = "echo after-the-nap"
"#,
    )
}

fn client_records(recs: &[serde_json::Value], change: &str) -> Vec<serde_json::Value> {
    recs.iter()
        .filter(|r| r["type"] == "client" && r["change"] == change)
        .cloned()
        .collect()
}

#[test]
fn a_closed_terminal_leaves_the_step_running_and_attach_picks_the_run_up() {
    let dir = tempfile::tempdir().unwrap();
    let rb = nap_runbook(dir.path());
    let j = dir.path().join("j.jsonl");
    let runs = Runs::new();
    let mut term = RawTerm::run(&rb, &j, &[runs.env()]);
    term.enter_at("ready: enter runs step 1 nap");
    term.read_until("tick-1");
    // The pty closes under the cockpit (SIGHUP, as when the SSH session drops).
    let status = term.vanish();
    assert!(status.code().is_some(), "{status:?}");
    let ls = runs.ls();
    assert!(ls.contains("running 1 nap"), "{ls}");
    assert!(ls.contains(j.to_str().unwrap()), "{ls}");
    // The step runs to its end in the engine.
    wait_for("the step to pass", Duration::from_secs(30), || {
        journal(&j)
            .iter()
            .any(|r| r["type"] == "step_finished" && r["outcome"] == "passed")
    });
    // `ls` reads the engine, which folds the journaled end a channel hop later: it says so
    // at once, give or take that hop.
    let mut ls = String::new();
    wait_for(
        "ls to say what the journal says",
        Duration::from_secs(5),
        || {
            ls = runs.cutover(&["ls"]).1;
            ls.contains("waiting to run 2 after")
        },
    );
    // The operator comes back: the cockpit draws the run as it stands, and goes on.
    let mut t = Pty::spawn(&["attach"], &[runs.env()], 80, 24);
    t.wait_for("✔ 1 nap");
    t.wait_for("tick-8");
    // `ls` tells the controlling terminal (who, from where, since when) from the watchers.
    let (_, ls, _) = runs.cutover(&["ls"]);
    let mut lines = ls.lines();
    let head = lines.next().unwrap_or_default();
    let row = lines.next().unwrap_or_default();
    assert!(
        head.contains("CONTROL") && head.contains("WATCHERS"),
        "{ls}"
    );
    assert!(row.contains(" since ") && row.contains(" UTC"), "{ls}");
    let col = |l: &str, at: usize| l.chars().skip(at).take(7).collect::<String>();
    let at = head.chars().collect::<Vec<_>>();
    let control_at = head
        .find("CONTROL")
        .map(|b| head[..b].chars().count())
        .unwrap();
    assert!(at.len() > control_at);
    assert!(
        !col(row, control_at).starts_with(' ')
            && col(row, control_at.saturating_sub(1)).starts_with(' '),
        "CONTROL lines up:\n{ls}"
    );
    t.enter_step(2, "after", "✔");
    t.wait_for("run completed");
    t.quit(0);
    t.assert_shows("cutover: run completed");
    let recs = journal(&j);
    let detached = client_records(&recs, "detached");
    assert!(
        detached
            .iter()
            .any(|r| r["role"] == "control" && r["who"]["user"].is_string()),
        "{detached:?}"
    );
    // The vanished terminal was lost, not left: the journal and the report say so.
    assert_eq!(detached[0]["on_purpose"], false, "{detached:?}");
    let (code, report, err) = runs.cutover(&["report", j.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    crate::support::has(
        &report,
        "lost the terminal (in control before): the run goes on without it",
    );
    assert_eq!(client_records(&recs, "attached").len(), 2, "{recs:?}");
    assert_eq!(recs.last().unwrap()["type"], "run_finished");
    // The engine left once the end was seen; the run directory is clean.
    wait_for("the engine to exit", DEADLINE, || runs.engines().is_empty());
}

#[test]
fn watch_draws_the_same_screen_and_sends_nothing() {
    let (_dir, j, mut a) = small_run(&[]);
    a.wait_for("ready: enter runs step 1 hello");
    let runs_env = a.runs_env();
    let env = [(runs_env.0, runs_env.1.as_str())];
    let mut w = Pty::spawn(&["watch"], &env, 80, 24);
    w.wait_for("ready: the terminal in control runs step 1 hello");
    w.wait_for("WATCHING (read-only)");
    // The same panes, row for row (the header's clock and the status rows aside).
    let middle = |s: &str| s.lines().skip(1).take(20).collect::<Vec<_>>().join("\n");
    assert_eq!(middle(&a.screen()), middle(&w.screen()));
    wait_for("the watcher's attach journaled", DEADLINE, || {
        journal(&j)
            .iter()
            .any(|r| r["type"] == "client" && r["role"] == "watch")
    });
    let before = std::fs::read(&j).unwrap();
    for key in ["\r", "R", "s"] {
        w.send(key);
        w.wait_for("watch is read-only: nothing was sent");
        w.send("\x1b");
        w.wait_until("the message cleared", |s| {
            !s.contents().contains("watch is read-only")
        });
    }
    // Whatever the watcher might have sent would be journaled before the controller's run.
    a.enter_step(1, "hello", "✔");
    let after = std::fs::read(&j).unwrap();
    assert!(after.starts_with(&before), "the journal only grew");
    let added: Vec<serde_json::Value> = String::from_utf8_lossy(&after[before.len()..])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(added[0]["type"], "operator", "{added:?}");
    assert_eq!(added[0]["action"], "run", "{added:?}");
    assert_eq!(added[0]["step"], "hello", "{added:?}");
    w.wait_for("✔ 1 hello");
    w.quit(0);
}

/// The runbook `text` run in a terminal, ready to run its step 1 `one`, and `cutover watch
/// --json` on it, its output piped: the directory, the journal, the terminal, the watcher.
fn watched_as_json(text: &str) -> (tempfile::TempDir, PathBuf, Pty, std::process::Child) {
    let (dir, rb, j) = crate::support::temp_run(text);
    let a = Pty::run(&rb, &j, &[]);
    a.wait_for("ready: enter runs step 1 one");
    let watch = Command::new(BIN)
        .args(["watch", "--json"])
        .env("XDG_RUNTIME_DIR", a.runs().path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    (dir, j, a, watch)
}

#[test]
fn watch_json_streams_the_run_as_json_lines_and_ends_with_it() {
    let (_dir, j, mut a, mut watch) = watched_as_json(
        "[runbook]\nname = \"json watch\"\n\n[[step]]\nid = \"one\"\nrun = \"echo one\"\n\n[[step]]\nid = \"two\"\nrun = \"echo two\"\n",
    );
    let stdout = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    wait_for("the watcher's attach journaled", DEADLINE, || {
        journal(&j)
            .iter()
            .any(|r| r["type"] == "client" && r["role"] == "watch")
    });
    a.enter_step(1, "one", "✔");
    a.enter_step(2, "two", "✔");
    a.wait_for("run completed");
    let status = watch.wait().unwrap();
    let events = reader.join().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(events[0]["type"], "run_started", "{events:?}");
    let finished: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "step_finished")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(finished, ["one", "two"]);
    assert_eq!(events.last().unwrap()["type"], "run_finished");
    a.quit(0);
}

/// The attack: `cutover watch --json | head -1` while the run waits for the operator (no
/// event may come for hours): the watcher ends when its reader goes, not at the next event,
/// and the run is untouched.
#[test]
fn watch_json_ends_when_its_reader_goes_while_the_run_is_quiet() {
    let (_dir, _, mut a, mut watch) = watched_as_json(
        "[runbook]\nname = \"quiet watch\"\n\n[[step]]\nid = \"one\"\nrun = \"echo one\"\n",
    );
    let mut first = String::new();
    // Like `head -1`: one line, then the reader is gone.
    std::io::BufReader::new(watch.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"run_started\""), "{first}");
    wait_for("the watcher to end with its reader", DEADLINE, || {
        matches!(watch.try_wait(), Ok(Some(_)))
    });
    assert_eq!(watch.wait().unwrap().code(), Some(0));
    a.enter_step(1, "one", "✔");
    a.wait_for("run completed");
    a.quit(0);
}

#[test]
fn a_second_attach_takes_the_controls_and_the_first_is_told() {
    let (_dir, j, mut a) = small_run(&[]);
    a.wait_for("ready: enter runs step 1 hello");
    let runs_env = a.runs_env();
    let env = [
        (runs_env.0, runs_env.1.as_str()),
        ("SSH_CLIENT", "192.0.2.7 50000 22"),
    ];
    let mut b = Pty::spawn(&["attach"], &env, 80, 24);
    b.wait_for("Take them over");
    b.send("y\r");
    b.wait_for("ready: enter runs step 1 hello");
    a.wait_for("took control: this terminal now watches");
    a.wait_for("ssh from 192.0.2.7");
    // The old controller only watches now.
    a.send("\r");
    a.wait_for("watch is read-only: nothing was sent");
    b.enter_step(1, "hello", "✔");
    a.wait_for("✔ 1 hello");
    let recs = journal(&j);
    let took = client_records(&recs, "took_over");
    assert_eq!(took.len(), 1, "{recs:?}");
    assert_eq!(took[0]["who"]["ssh_client"], "192.0.2.7 50000 22");
    assert!(took[0]["from"]["user"].is_string(), "{took:?}");
    assert_eq!(
        client_records(&recs, "attached")
            .iter()
            .filter(|r| r["role"] == "control")
            .count(),
        1,
        "the first attach"
    );
    // The run's operator is now the one who took over.
    let run = recs
        .iter()
        .find(|r| r["type"] == "operator" && r["action"] == "run")
        .unwrap();
    assert_eq!(run["by"], took[0]["who"]["user"]);
    b.leave("d", 0);
    a.quit(0);
    // Both left on purpose (`q d`, and a watcher's `q`): the journal says so, apart from a
    // lost terminal.
    wait_for("both detaches journaled", DEADLINE, || {
        client_records(&journal(&j), "detached").len() >= 2
    });
    let detached = client_records(&journal(&j), "detached");
    assert!(
        detached.iter().all(|r| r["on_purpose"] == true),
        "{detached:?}"
    );
}

#[test]
fn a_killed_engine_is_listed_dead_with_its_resume_command_and_resume_works() {
    let (dir, j, mut t) = small_run(&[]);
    t.enter_step(1, "hello", "✔");
    t.enter_step(2, "nap", "▶");
    t.wait_for("pid ");
    let engine = t.runs().engine_pid();
    signal(engine, libc::SIGKILL);
    t.wait_for("the engine stopped");
    t.quit(4);
    t.assert_shows("resume with: cutover run --resume");
    let ls = t.runs().ls();
    assert!(ls.contains("dead"), "{ls}");
    assert!(
        ls.contains(&format!(
            "resume with: cutover run --resume {}",
            j.display()
        )),
        "{ls}"
    );
    assert!(
        !t.runs().run_dir().join("j.sock").exists(),
        "the stale socket was removed"
    );
    // The step the engine ran was orphaned with it; resume finds it interrupted.
    let group = journal(&j)
        .iter()
        .rev()
        .find(|r| r["type"] == "process")
        .and_then(|r| r["pid"].as_i64())
        .unwrap() as i32;
    let out = crate::support::cutover(
        dir.path(),
        &["run", "--headless", "--resume", j.to_str().unwrap()],
        &[],
    );
    let (stdout, stderr) = crate::support::text(&out);
    // SAFETY: stopping the orphaned step's process group.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stdout.contains("never finished — outcome unknown"),
        "{stdout}{stderr}"
    );
}

/// Another uid is refused: by the directory's and socket's modes, and — should those be
/// loosened — by the engine's peer check.
#[test]
fn another_user_is_refused_by_the_socket() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, _j, mut t) = small_run(&[]);
    t.wait_for("ready: enter runs step 1 hello");
    let runs = t.runs();
    let dir = runs.run_dir();
    let socket = dir.join("j.sock");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&socket), 0o600);
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the other-user half of this test needs runuser");
        return;
    }
    // A copy of the binary that user `nobody` may run.
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin_dir.path().join("cutover");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = || {
        let out = Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&bin)
            .args(["watch", "--json", socket.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = as_nobody();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("ermission denied"), "{err}");
    // Loosen every mode on the way: the engine itself still refuses.
    for p in [runs.path(), dir.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, err) = as_nobody();
    assert_eq!(code, Some(2), "{err}");
    crate::support::has(&err, "only the run's owner (and root) may attach to it");
    t.leave("e", 4);
}

/// `--share-group`: members of the group may watch through a second socket (directory 0710,
/// socket 0660, both of the group); others cannot reach it.
#[test]
fn a_run_shared_with_a_group_can_be_watched_by_its_members_only() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: sharing with another user's group needs runuser");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rb = crate::pty::small_runbook(dir.path());
    let id = format!("shared-{}", std::process::id());
    let j = dir.path().join(format!("{id}.jsonl"));
    let mut t = Pty::spawn(
        &[
            "run",
            rb.to_str().unwrap(),
            "--journal",
            j.to_str().unwrap(),
            "--share-group",
            "nogroup",
        ],
        &[],
        80,
        24,
    );
    t.wait_for("ready: enter runs step 1 hello");
    let shared = PathBuf::from("/tmp/cutover-0-shared");
    let socket = shared.join(format!("{id}.sock"));
    let nogroup = std::fs::metadata(&shared).unwrap().gid();
    let meta = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.permissions().mode() & 0o777, m.gid())
    };
    assert_eq!(meta(&shared), (0o710, nogroup));
    assert_eq!(meta(&socket), (0o660, nogroup));
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin_dir.path().join("cutover");
    std::fs::copy(BIN, &bin).unwrap();
    let watch_as = |user: &str| {
        use std::os::unix::process::CommandExt;
        // Its own process group: killing runuser alone would leave the watcher (its child)
        // holding the pipes until the run's next event.
        let mut child = Command::new("runuser")
            .args(["-u", user, "--"])
            .arg(&bin)
            .args(["watch", "--json", "--owner", "root", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let first = std::io::BufReader::new(child.stdout.take().unwrap())
            .lines()
            .next()
            .and_then(Result::ok);
        // SAFETY: kill only signals the process group this test started.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let out = child.wait_with_output().unwrap();
        (first, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // A member of the group (nobody's group is nogroup) watches.
    let (first, err) = watch_as("nobody");
    let first: serde_json::Value =
        serde_json::from_str(&first.unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(first["type"], "run_started");
    // Someone else cannot even reach the socket.
    let (first, err) = watch_as("daemon");
    assert!(first.is_none());
    assert!(err.contains("ermission denied"), "{err}");
    t.leave("e", 4);
    wait_for("the shared socket removed", DEADLINE, || !socket.exists());
}

/// `attach` with no ID picks the only live run; with several it lists them and exits 2.
/// The small runbook in a new directory, and a run directory for its engines.
fn small_runs() -> (tempfile::TempDir, PathBuf, Runs) {
    let dir = tempfile::tempdir().unwrap();
    let rb = crate::pty::small_runbook(dir.path());
    (dir, rb, Runs::new())
}

/// Once the small runbook's cockpit is ready, detaches (exit 0); returns the id it says to
/// come back with.
fn detach_when_ready(t: &mut Pty) -> String {
    t.wait_for("ready: enter runs step 1 hello");
    t.leave("d", 0);
    let screen = t.screen();
    screen
        .split("come back with: cutover attach ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no id said:\n{screen}"))
        .to_string()
}

#[test]
fn attach_without_an_id_lists_the_runs_when_there_are_several() {
    let (dir, rb, runs) = small_runs();
    let env = [runs.env()];
    for name in ["first", "second"] {
        let j = dir.path().join(format!("{name}.jsonl"));
        assert_eq!(detach_when_ready(&mut Pty::run(&rb, &j, &env)), name);
    }
    let (code, _, err) = runs.cutover(&["attach"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("several live runs; name one"), "{err}");
    assert!(err.contains("first") && err.contains("second"), "{err}");
    let ls = runs.ls();
    assert_eq!(ls.matches("waiting to run 1 hello").count(), 2, "{ls}");
    // A unique prefix names one.
    let mut t = Pty::spawn(&["attach", "sec"], &env, 80, 24);
    t.wait_for("ready: enter runs step 1 hello");
    t.leave("e", 4);
    assert!(t.screen().contains("second.jsonl"), "{}", t.screen());
}

/// The detached engine's log (its stderr) that is a FIFO: the start is refused at once,
/// naming it, instead of hanging on the open; the terminal is given back as it was.
#[test]
fn a_log_that_is_a_fifo_is_refused_without_hanging_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let rb = nap_runbook(dir.path());
    let j = dir.path().join("j.jsonl");
    let fifo = dir.path().join("run.log");
    mkfifo(&fifo);
    let (rb, j, log) = (
        rb.display().to_string(),
        j.display().to_string(),
        fifo.display().to_string(),
    );
    let mut term = Pty::spawn(&["run", &rb, "--journal", &j, "--log", &log], &[], 80, 24);
    term.assert_restored(4);
    term.assert_shows("not a regular file");
}

/// A journal in a directory nobody may write (root writes anywhere a mode allows: it gets
/// `/proc`, which no mode lets anyone write): the cockpit's start names the log it could not
/// write beside it, the headless run names the journal, each says the system's reason once,
/// exit 4, and the terminal is given back as it was.
#[test]
fn a_journal_in_a_directory_nobody_may_write_is_said_once_with_its_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let rb = nap_runbook(dir.path()).display().to_string();
    // SAFETY: geteuid has no failure mode.
    let ro = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/proc")
    } else {
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        ro
    };
    let j = ro.join(format!("cutover-ro-{}.jsonl", std::process::id()));
    let log = ro.join(format!("cutover-ro-{}.log", std::process::id()));
    let reason = std::fs::File::create(&j)
        .expect_err("the directory takes no file")
        .to_string();
    let j = j.display().to_string();

    let mut term = Pty::spawn(&["run", &rb, "--journal", &j], &[], 120, 24);
    term.assert_restored(4);
    let says = format!("cutover: cannot write the log {}", log.display());
    let screen = term.screen().replace('\n', "");
    assert!(screen.contains(&says), "{screen}");
    assert_eq!(screen.matches(&reason).count(), 1, "{screen}");

    let out = Command::new(BIN)
        .args(["run", &rb, "--headless", "--journal", &j])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!("cannot start the run: journal {j}: {reason}")),
        "{err}"
    );
    assert_eq!(err.matches(&reason).count(), 1, "said once: {err}");
    assert!(!Path::new(&j).exists() && !log.exists());
}

/// Four runs started at once with journals of the same name in four directories: each takes
/// an id of its own (`j`, `j-2`...), its terminal names the id whose description holds its
/// journal, and the locks that held the ids are gone once the engines have ended.
#[test]
fn runs_started_at_once_with_the_same_journal_stem_never_share_an_id() {
    let (dir, rb, runs) = small_runs();
    let env = [runs.env()];
    let journals: Vec<PathBuf> = (0..4)
        .map(|i| {
            let d = dir.path().join(format!("host{i}"));
            std::fs::create_dir(&d).unwrap();
            d.join("j.jsonl")
        })
        .collect();
    let mut terms: Vec<Pty> = journals.iter().map(|j| Pty::run(&rb, j, &env)).collect();
    let named: Vec<String> = terms.iter_mut().map(detach_when_ready).collect();
    let mut ids = named.clone();
    ids.sort();
    assert_eq!(ids, ["j", "j-2", "j-3", "j-4"], "{named:?}");
    for (id, j) in named.iter().zip(&journals) {
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(runs.run_dir().join(format!("{id}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["journal"], j.display().to_string(), "{id}");
        assert!(runs.run_dir().join(format!("{id}.lock")).exists(), "{id}");
    }
    runs.stop_engines();
    let locks = || {
        std::fs::read_dir(runs.run_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "lock"))
            .count()
    };
    wait_for("the ids' locks to go", DEADLINE, || locks() == 0);
}
