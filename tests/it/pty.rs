//! The real binary in a pseudo-terminal (portable-pty + vt100): keys run steps, the screen shows
//! ✔ and timings, and the terminal comes back usable — alternate screen left, cursor shown,
//! canonical mode and echo restored — after quit, after a forced panic, after signals and
//! when the terminal vanishes. (The run's own life after its terminal is in `detach.rs`.)
//! Every wait polls the screen against a deadline; nothing sleeps to wait.

use std::path::{Path, PathBuf};

use crate::support::signal;
use crate::term::{BIN, Pty, RawTerm, Runs};

/// Two steps: hello (about 1 s), then nap (30 s).
const SMALL: &str = r#"[runbook]
name = "pty test"

[[step]]
id = "hello"
title = "Say hello"
run = "echo hello-from-step"
expected = "1s"

[[step]]
id = "nap"
title = "Sleep a while"
run = "sleep 30"
expected = "30s"
"#;

pub fn small_runbook(dir: &Path) -> PathBuf {
    crate::support::runbook(dir, "small.toml", SMALL)
}

/// The small runbook in a new temporary directory: the directory, the runbook's path and the
/// path of a journal `j.jsonl` beside it.
fn small_files() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let rb = small_runbook(dir.path());
    let journal = dir.path().join("j.jsonl");
    (dir, rb, journal)
}

/// The small runbook in the cockpit, in a new directory: the directory, the journal, the
/// terminal (with a run directory of its own).
pub fn small_run(env: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, Pty) {
    let (dir, rb, journal) = small_files();
    let t = Pty::run(&rb, &journal, env);
    (dir, journal, t)
}

#[test]
fn demo_runbook_runs_by_keys_and_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("demo.jsonl");
    let mut t = Pty::run(Path::new("runbooks/demo.toml"), &journal, &[]);
    t.wait_for("ready: enter runs step 1 preflight");
    assert!(t.parser.lock().unwrap().screen().alternate_screen());
    for (n, id, plan) in [
        (1, "preflight", "/ 2s"),
        (2, "prepare", "/ 1s"),
        (3, "freeze-writes", "/ 5s"),
        (4, "drain", "/ 2s"),
        (5, "copy-data", "/ 4s"),
    ] {
        // An enter between a step's end and the engine's "ready" is dropped on purpose (it
        // must never queue up a step): wait for the ready line, as an operator does.
        t.wait_for(&format!("ready: enter runs step {n} {id}"));
        t.send("\r");
        let done = format!("✔ {n} {id}");
        t.wait_until(&done, |s| {
            s.contents()
                .lines()
                .any(|l| l.contains(&done) && l.contains(plan))
        });
    }
    // A timing is shown against the plan, e.g. "5s / 4s".
    let screen = t.screen();
    let row = screen
        .lines()
        .find(|l| l.contains("✔ 5 copy-data"))
        .unwrap();
    assert!(row.contains("s / 4s"), "copy-data timing missing: {row:?}");
    // The confirm step: a wrong word is refused on screen, the right one passes.
    t.send("\r");
    t.wait_for("Type GO and press enter");
    t.send("NO\r");
    t.wait_for("That is not GO: nothing was sent.");
    t.send("GO\r");
    t.wait_for("✔ 6 go-no-go");
    t.wait_for("ready: enter runs step 7 switch");
    t.send("\r");
    t.wait_for("POINT OF NO RETURN 7 switch");
    t.send("switch\r");
    t.wait_for("✔ 7 switch");
    t.wait_for("ready: enter runs step 8 verify");
    t.send("\r");
    t.wait_for("run completed");
    t.quit(0);
    assert!(t.screen().contains("cutover: run completed"));
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(
        j.contains(r#""action":"confirm""#),
        "confirmation journaled"
    );
}

#[test]
fn leaving_while_a_step_runs_asks_detach_or_end_and_end_cancels_it() {
    let (_dir, journal, mut t) = small_run(&[]);
    t.enter_step(1, "hello", "✔");
    t.wait_for("hello-from-step");
    t.enter_step(2, "nap", "▶");
    t.send("q");
    t.wait_for("LEAVE?");
    t.wait_for("Come back with: cutover attach j");
    t.send("\x1b");
    t.wait_until("question closed", |s| !s.contents().contains("LEAVE?"));
    t.leave("e", 4);
    assert!(t.screen().contains("resume with: cutover run --resume"));
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains(r#""outcome":"cancelled""#), "{j}");
    crate::support::has(&j, "operator quit the cockpit while nap was running");
}

#[test]
fn forced_panic_restores_the_terminal() {
    let (_dir, _, mut t) = small_run(&[
        ("CUTOVER_DEBUG_PANIC", "after-first-frame"),
        ("RUST_BACKTRACE", "0"),
        ("RUST_LIB_BACKTRACE", "0"),
    ]);
    t.assert_restored(101);
    assert!(
        t.screen().contains("forced panic"),
        "the panic report is on the normal screen:\n{}",
        t.screen()
    );
}

#[test]
fn resize_redraws_at_the_new_size() {
    let (_dir, _, mut t) = small_run(&[]);
    t.wait_for("ready: enter runs step 1 hello");
    assert!(t.screen().contains("R rollback"), "R is kept at 80 columns");
    assert!(
        !t.screen().contains("f follow"),
        "no room for it at 80 columns"
    );
    t.resize(120, 30);
    t.wait_for("f follow");
    t.resize(60, 18);
    t.wait_until("narrow frame", |s| {
        let c = s.contents();
        c.contains("STEPS") && !c.contains("f follow")
    });
    t.leave("e", 4);
}

#[test]
fn bad_theme_is_reported_plainly_before_the_screen_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let rb = small_runbook(dir.path());
    let theme = dir.path().join("mine.toml");
    std::fs::write(&theme, "# mine\nstep_failed = { fg = \"rouge\" }\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "run",
            rb.to_str().unwrap(),
            "--theme",
            theme.to_str().unwrap(),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:2:22: unknown colour \"rouge\"", theme.display());
    assert!(err.starts_with(&want), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("journal")),
        "no journal is started for a bad theme"
    );
}

#[test]
fn cockpit_without_a_terminal_points_to_headless() {
    let dir = tempfile::tempdir().unwrap();
    let rb = small_runbook(dir.path());
    let out = std::process::Command::new(BIN)
        .args(["run", rb.to_str().unwrap()])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--headless"));
}

#[test]
fn rollback_by_keys_runs_the_plan_in_reverse_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let rb = dir.path().join("rb.toml");
    std::fs::write(
        &rb,
        format!(
            r#"[runbook]
name = "pty rollback"

[[step]]
id = "one"
run = "echo one >> {log}"
rollback = "echo undo-one >> {log}"

[[step]]
id = "two"
run = "echo two >> {log}"
rollback = "echo undo-two >> {log}"

[[step]]
id = "three"
run = "sleep 30"
"#,
            log = log.display()
        ),
    )
    .unwrap();
    let journal = dir.path().join("j.jsonl");
    let mut t = Pty::run(&rb, &journal, &[]);
    t.enter_step(1, "one", "✔");
    t.enter_step(2, "two", "✔");
    t.send("R");
    t.wait_for("ROLLBACK PLAN");
    t.wait_for("2 two (passed): echo undo-two");
    // The wrong word sends nothing.
    t.send("rollback\r");
    t.wait_for("That is not ROLLBACK: nothing was sent.");
    t.send("ROLLBACK\r");
    t.wait_for("run rolled back");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "one\ntwo\nundo-two\nundo-one\n"
    );
    t.quit(3);
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains(r#""type":"rollback_finished""#));
}

/// SIGTERM, SIGHUP, SIGINT and SIGQUIT from outside the cockpit only detach it: the terminal
/// is restored, the detach is journaled, and the running step runs on in the engine. Signals
/// that would kill it by default and mean nothing here are ignored.
#[test]
fn outside_signals_only_detach_the_cockpit_and_the_step_runs_on() {
    for (sig, name) in [
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
    ] {
        let (_dir, journal, mut t) = small_run(&[]);
        t.enter_step(1, "hello", "✔");
        t.enter_step(2, "nap", "▶");
        t.wait_for("pid ");
        let pid = t.cutover_pid();
        if sig == libc::SIGTERM {
            for ignored in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM] {
                signal(pid, ignored);
            }
            t.send("?");
            t.wait_for("KEYS");
            t.send("\x1b");
            // The key is read before the signal comes (or it would be left for the shell).
            t.wait_until("the help closed", |s| !s.contents().contains("KEYS"));
        }
        signal(pid, sig);
        t.assert_restored(0);
        assert!(
            t.screen().contains("cutover: detached; the run goes on"),
            "{name}: {}",
            t.screen()
        );
        let recs = crate::support::journal(&journal);
        assert!(
            recs.iter()
                .any(|r| r["type"] == "client" && r["change"] == "detached"),
            "{name}: the detach is journaled"
        );
        assert!(
            !recs.iter().any(|r| r["outcome"] == "cancelled"),
            "{name}: the step was not cancelled"
        );
        let (_, ls, _) = t.runs().cutover(&["ls"]);
        assert!(ls.contains("running 2 nap"), "{name}: {ls}");
    }
}

#[test]
fn sigtstp_gives_the_terminal_back_and_fg_takes_it_again() {
    let (_dir, _, mut t) = small_run(&[]);
    t.wait_for("ready: enter runs step 1 hello");
    t.suspend_and_resume("the cockpit redrawn after fg", "STEPS");
    // Keys work again after fg.
    t.enter_step(1, "hello", "✔");
    t.leave("e", 4);
}

/// The terminal vanishes under the running cockpit (an SSH session dropping): the cockpit
/// never panics on the dead terminal, it only detaches, and the step runs on.
#[test]
fn a_vanished_terminal_never_panics_and_only_detaches() {
    let (_dir, rb, journal) = small_files();
    let runs = Runs::new();
    let mut term = RawTerm::run(&rb, &journal, &[runs.env()]);
    term.enter_at("ready: enter runs step 1 hello");
    term.enter_at("ready: enter runs step 2 nap");
    term.read_until("pid ");
    let status = term.vanish();
    // Before, the cockpit panicked on the dead terminal ("Failed to show the cursor: EIO",
    // exit 134).
    assert!(
        !matches!(status.code(), Some(101 | 134)) && status.code().is_some(),
        "{status:?}"
    );
    crate::support::wait_for("the detach journaled", crate::term::DEADLINE, || {
        crate::support::journal(&journal)
            .iter()
            .any(|r| r["type"] == "client" && r["change"] == "detached")
    });
    let recs = crate::support::journal(&journal);
    assert!(
        !recs.iter().any(|r| r["outcome"] == "cancelled"),
        "the running step was not cancelled"
    );
    let (_, ls, _) = runs.cutover(&["ls"]);
    assert!(ls.contains("running 2 nap"), "{ls}");
}

/// A run in the cockpit (100x30) whose step `flaky` fails and is skipped with the reason
/// "copied by hand", then `after` passes; the operator leaves at the summary (exit 0).
/// Returns the run's directory, its journal and the terminal.
pub(crate) fn skipped_flaky_run() -> (tempfile::TempDir, std::path::PathBuf, Pty) {
    let (dir, rb, journal) = crate::support::temp_run(
        "[runbook]\nname = \"summary\"\n\n[[step]]\nid = \"flaky\"\nrun = \"exit 1\"\n\n[[step]]\nid = \"after\"\nrun = \"echo after\"\n",
    );
    let mut t = Pty::spawn(
        &[
            "run",
            rb.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        &[],
        100,
        30,
    );
    t.enter_step(1, "flaky", "✘");
    // The decision comes a moment after the step's end: `s` means skip only then.
    t.wait_for("retry it, skip it with a reason");
    t.send("s");
    t.wait_for("SKIP");
    t.send("copied by hand\r");
    t.enter_step(2, "after", "✔");
    t.wait_for("SUMMARY");
    t.quit(0);
    (dir, journal, t)
}

/// Leaving a finished run prints its summary on the normal terminal, the skip reason in it.
#[test]
fn leaving_a_finished_run_prints_its_summary_with_the_skip_reason() {
    let (_dir, _journal, t) = skipped_flaky_run();
    let screen = t.screen();
    for want in [
        "RUN COMPLETED · summary",
        "↷ 1 flaky",
        "skipped: “copied by hand”",
        "✔ 2 after",
        "cutover: run completed",
    ] {
        assert!(screen.contains(want), "{want:?} missing:\n{screen}");
    }
}

/// A preflight that stops the run (a window that closed) holds the cockpit before step 1: the
/// panel names the finding, enter runs nothing, `s` asks for a reason, and the run starts
/// once one is typed; the override is journaled with the reason.
#[test]
fn a_failing_preflight_holds_the_cockpit_until_a_reason_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    let rb = crate::support::runbook(
        dir.path(),
        "rb.toml",
        "[runbook]\nname = \"late\"\nwindow = { start = \"2020-01-01T00:00:00Z\", minutes = 60 }\n\n[[step]]\nid = \"one\"\nrun = \"echo ran\"\n",
    );
    let journal_path = dir.path().join("j.jsonl");
    let mut t = Pty::run(&rb, &journal_path, &[]);
    t.wait_for("PREFLIGHT");
    t.wait_for("✘ window: closed");
    t.wait_for("preflight failed: s starts anyway");
    t.send("\r");
    t.wait_for("preflight failed: s starts anyway");
    t.send("s");
    t.wait_for("START ANYWAY");
    t.send("\r");
    t.wait_for("A reason is required.");
    t.send("rehearsal on an old window\r");
    t.wait_for("ready: enter runs step 1 one");
    t.enter_step(1, "one", "✔");
    t.wait_for("run completed");
    t.quit(0);
    let recs = crate::support::journal(&journal_path);
    let over: Vec<_> = recs
        .iter()
        .filter(|r| r["action"] == "override_preflight")
        .collect();
    assert_eq!(over.len(), 1, "{recs:?}");
    assert_eq!(over[0]["reason"], "rehearsal on an old window");
}

/// Attack: a resumed run's cockpit refused `r` for an interrupted step for as long as the
/// decision had once said its old process group was running: after the group ended, after
/// `K` found nothing to stop, and in a cockpit attached later. The engine says the decision
/// again once the group has ended (and after `K`), and `r` re-runs the step.
#[test]
fn an_interrupted_step_can_be_rerun_once_its_old_group_has_ended() {
    let dir = tempfile::tempdir().unwrap();
    let rb = crate::support::runbook(
        dir.path(),
        "rb.toml",
        "[runbook]\nname = \"t\"\n\n[[step]]\nid = \"slow\"\n\
         run = \"if [ -f once ]; then echo again > again; else touch once; sleep 4; fi\"\n\n\
         [[step]]\nid = \"next\"\nrun = \"true\"\n",
    );
    let orphan = crate::support::kill_headless_when(dir.path(), &rb, "the slow step", |t| {
        t.contains("\"type\":\"process\"")
    });
    let journal = dir.path().join("j.jsonl");
    let mut t = Pty::spawn(
        &["run", "--resume", journal.to_str().unwrap()],
        &[],
        220,
        30,
    );
    t.wait_for("STILL RUNNING");
    // While the group runs, a re-run is refused (it would do the work twice).
    t.send("r");
    t.wait_for("K to stop it");
    crate::support::wait_for("the old group to end", crate::term::DEADLINE, || {
        !cutover_shell::group_alive(orphan)
    });
    t.wait_for("is no longer running");
    t.send("r");
    t.wait_for("✔ 1 slow");
    assert!(dir.path().join("again").exists(), "the step ran again");
    let recs = crate::support::journal(&journal);
    let said: Vec<_> = recs
        .iter()
        .filter(|r| r["type"] == "decision_needed")
        .map(|r| r["still_running"].clone())
        .collect();
    assert_eq!(
        said,
        [serde_json::json!(orphan), serde_json::Value::Null],
        "said running, then said again once it ended"
    );
}
