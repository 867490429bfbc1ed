//! Issue 29, the fleet cockpit: `cutover run RUNBOOK --fleet FLEET.toml` in a real terminal —
//! the lanes of 50 members at 80x24 (scrolling, failures kept on screen) and 120x40, a
//! member's own cockpit opened and left with esc, a multi-member rollback and run-next with
//! the typed count, the fleet detached and listed by `ls`, picked up by `attach`, streamed by
//! `watch --json` tagged per member, and a SIGKILLed fleet engine resumed.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{journal, runbook, signal};
use crate::term::{BIN, Pty, Runs};

/// A fleet's runbook `shards`: step `hello` (`echo hello ${vars.n}`, then the lines `$hello`),
/// the steps `$middle` (each followed by a blank line) and step `bye`, as one `&'static str`.
macro_rules! shards_runbook {
    ($hello:literal, $middle:literal) => {
        concat!(
            r#"[runbook]
name = "shards"

[[step]]
id = "hello"
title = "say hello"
run = "echo hello ${vars.n}"
"#,
            $hello,
            "\n",
            $middle,
            r#"[[step]]
id = "bye"
title = "goodbye"
run = "echo bye"
"#
        )
    };
}
pub(crate) use shards_runbook;

/// Three shell steps; step 2 fails for the members whose `n` is 7, 21 or 40, and step 1 has
/// a rollback action (so a failed member has something to undo).
const RUNBOOK: &str = shards_runbook!(
    r#"rollback = "echo undo ${vars.n}"
expected = "1m"
"#,
    r#"[[step]]
id = "work"
title = "the work"
run = "echo work ${vars.n}; test ${vars.n} != 7 && test ${vars.n} != 21 && test ${vars.n} != 40"
expected = "2m"

"#
);

/// A fleet file of `n` members `shard-01`… with `vars.n` their number, after `head`.
pub fn fleet_file(n: usize, head: &str) -> String {
    let mut s = format!("{head}\n");
    for i in 1..=n {
        s.push_str(&format!(
            "[[member]]\nname = \"shard-{i:02}\"\nvars = {{ n = \"{i}\" }}\n\n"
        ));
    }
    s
}

/// The screen with its clocks masked (`0m05` → `#m##`, `0:12` → `#:##`), for a snapshot.
fn masked(screen: &str) -> String {
    let mut out = String::with_capacity(screen.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let clock = run.chars().any(|c| c.is_ascii_digit()) && run.contains(['m', ':']);
        if clock {
            out.extend(
                run.chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c }),
            );
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in screen.chars() {
        if c.is_ascii_digit() || matches!(c, 'm' | 'h' | ':') {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fleet's files in a temp dir: `rb.toml`, `fleet.toml`; and the journal's path.
fn fleet_dir(n: usize, head: &str) -> (tempfile::TempDir, [String; 3]) {
    let d = tempfile::tempdir().expect("tempdir");
    let rb = runbook(d.path(), "rb.toml", RUNBOOK);
    let fleet = runbook(d.path(), "fleet.toml", &fleet_file(n, head));
    let fj = d.path().join("fj.jsonl");
    let s = |p: &Path| p.display().to_string();
    (d, [s(&rb), s(&fleet), s(&fj)])
}

/// The lanes of `run RUNBOOK --fleet FLEET --journal JOURNAL` with `env`, in a terminal of
/// `size`, once they show `shown`.
fn lanes(
    env: &[(&str, &str)],
    [rb, fleet, fj]: [&str; 3],
    (cols, rows): (u16, u16),
    shown: &str,
) -> Pty {
    let term = Pty::spawn(
        &["run", rb, "--fleet", fleet, "--journal", fj],
        env,
        cols,
        rows,
    );
    term.wait_for(shown);
    term
}

/// Presses `key` and types the count its confirm asks for.
pub fn confirm(term: &mut Pty, key: &str, n: usize) {
    term.send(key);
    term.wait_for("enter confirms");
    term.send(&format!("{n}\r"));
}

/// Waits until the lanes are drawn whole at 120x40: 40 rows, the footer on the last (its
/// `? help`), the list's lines wider than 80 columns.
fn wait_wide_frame(term: &Pty) {
    term.wait_until("a whole 120x40 frame", |s| {
        let c = s.contents();
        let rows: Vec<&str> = c.lines().collect();
        rows.len() == 40
            && rows[39].contains("? help")
            && rows[2].chars().count() > 80
            && rows[38].trim_start().starts_with(['↑', '↓', '›', '○', '✖'])
    });
}

/// The screen once it has stopped changing (two looks 200 ms apart agree, clocks masked): a
/// frame read half-written would make a snapshot flaky.
fn settled(term: &Pty) -> String {
    let mut last = masked(&term.screen());
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = masked(&term.screen());
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the screen never settled:\n{last}");
}

/// Waits until the screen shows `all` and none of `none`.
fn wait_shows(term: &Pty, all: &[&str], none: &[&str]) {
    term.wait_until(&format!("{all:?} without {none:?}"), |s| {
        let c = s.contents();
        all.iter().all(|t| c.contains(t)) && !none.iter().any(|t| c.contains(t))
    });
}

#[test]
fn fifty_lanes_scroll_keep_failures_on_screen_detach_attach_and_finish() {
    let (_d, [rb, fleet, fj]) = fleet_dir(50, "concurrency = 50\nhalt = \"never\"");
    let runs = Runs::new();
    let env = [runs.env()];
    let mut term = lanes(&env, [&rb, &fleet, &fj], (80, 24), "50 waiting");
    // The cursor starts on the first lane of the first view, which depends on which member's
    // engine answered first: Home puts it on shard-01, the first of 50 waiting lanes.
    term.send("\x1b[H");
    // `ls` names who has the fleet's controls (this terminal's user, since when).
    let (_, ls, _) = runs.cutover(&["ls"]);
    let user = ls
        .lines()
        .nth(1)
        .and_then(|l| l.split("  ").find(|c| c.contains(" since ")));
    assert!(user.is_some_and(|c| c.trim().ends_with("UTC")), "{ls}");
    confirm(&mut term, "n", 50);
    wait_shows(&term, &["50 waiting", "step 2/3"], &["step 1/3"]);
    confirm(&mut term, "n", 50);
    term.wait_until("3 failed, 47 waiting", |s| {
        let c = s.contents();
        c.contains("3 failed") && c.contains("47 waiting")
    });
    insta::assert_snapshot!("fleet_lanes_80x24", settled(&term));
    // To the last lane: the list scrolls, the failures stay.
    term.send("\x1b[F");
    term.wait_for("shard-50");
    for failed in ["shard-07", "shard-21", "shard-40"] {
        term.assert_shows(failed);
    }
    term.resize(120, 40);
    wait_wide_frame(&term);
    insta::assert_snapshot!("fleet_lanes_120x40", settled(&term));
    term.quit(0);
    term.assert_shows("come back with: cutover attach fj");
    let ls = runs.ls();
    crate::support::has(&ls, "fleet of 50 (running): 3 failed · 47 waiting");
    assert!(
        !ls.contains(" since "),
        "nobody has the controls once left: {ls}"
    );
    // `watch`: the same lanes, read-only.
    let mut watch = Pty::spawn(&["watch"], &env, 80, 24);
    wait_shows(&watch, &["3 failed", "47 waiting", "shard-40"], &[]);
    insta::assert_snapshot!("fleet_watch_80x24", settled(&watch));
    watch.resize(120, 40);
    wait_wide_frame(&watch);
    insta::assert_snapshot!("fleet_watch_120x40", settled(&watch));
    watch.send("n");
    watch.wait_for("read-only: this terminal watches");
    watch.quit(0);
    watch.assert_shows("come back with: cutover watch fj");
    let watcher = Command::new(BIN)
        .args(["watch", "--json", "fj"])
        .env("XDG_RUNTIME_DIR", runs.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch --json");
    attach_roll_back_and_finish(&env);
    let out = watcher.wait_with_output().expect("watch --json ends");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.expect("utf-8")).expect("JSON"))
        .collect();
    assert!(lines.iter().all(|l| l["member"].as_str().is_some()));
    let ends: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["type"] == "run_finished")
        .collect();
    assert_eq!(ends.len(), 50, "one end per member");
    let rolled: Vec<&str> = ends
        .iter()
        .filter(|l| l["outcome"] == "rolled_back")
        .filter_map(|l| l["member"].as_str())
        .collect();
    assert_eq!(rolled.len(), 3, "{rolled:?}");
    let recs = journal(Path::new(&fj));
    let finished = recs
        .iter()
        .filter(|r| r["type"] == "member_finished")
        .count();
    assert_eq!(finished, 50, "{recs:?}");
}

/// A second terminal attaches to the lanes: opens a failed member's cockpit and comes back
/// with esc, rolls the three failed members back with one typed count, runs the rest to the
/// end, and leaves the finished fleet with its worst exit (3: rolled back).
fn attach_roll_back_and_finish(env: &[(&str, &str)]) {
    let mut term = Pty::spawn(&["attach"], env, 100, 30);
    term.wait_for("3 failed");
    term.send("\r");
    term.wait_for("STEPS");
    term.send("\x1b");
    term.wait_for("3 failed");
    // The three failed lanes are first: select them, roll them back.
    term.send(" j j ");
    confirm(&mut term, "R", 3);
    wait_shows(&term, &["3 rolled back", "47 waiting"], &[]);
    confirm(&mut term, "n", 47);
    term.wait_for("47 completed");
    term.wait_for("finished");
    term.quit(3);
    term.assert_shows("fleet finished: 3 rolled back · 47 completed");
}

/// The detached fleet engine is SIGKILLed with two members between steps: the lanes say how
/// to resume and restore the terminal; `--resume` (headless) keeps the completed canary,
/// continues the two from their own journals without re-running their first step, and
/// starts the last.
#[test]
fn a_sigkilled_fleet_engine_is_resumed_member_by_member() {
    let (_d, [rb, fleet, fj]) = fleet_dir(
        4,
        "concurrency = 2\ncanary = [\"shard-01\"]\nhalt = \"first_failure\"",
    );
    let runs = Runs::new();
    let mut term = lanes(&[runs.env()], [&rb, &fleet, &fj], (100, 30), "1 waiting");
    for next in ["step 2/3", "step 3/3"] {
        confirm(&mut term, "n", 1);
        wait_shows(&term, &["1 waiting", next], &[]);
    }
    confirm(&mut term, "n", 1);
    term.wait_for("waiting for your go");
    confirm(&mut term, "g", 3);
    term.wait_for("2 waiting");
    confirm(&mut term, "n", 2);
    term.wait_until("both at step 2", |s| {
        s.contents().matches("step 2/3").count() == 2
    });
    let pid = runs.engine_pid();
    signal(pid, libc::SIGKILL);
    term.assert_restored(4);
    term.assert_shows("the fleet's engine went away before the fleet ended");
    let out = Command::new(BIN)
        .args([
            "run",
            &rb,
            "--fleet",
            &fleet,
            "--resume",
            &fj,
            "--headless",
            "--assume-yes",
        ])
        .env("XDG_RUNTIME_DIR", runs.path())
        .output()
        .expect("resume");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let recs = journal(Path::new(&fj));
    let resumed: Vec<&str> = recs
        .iter()
        .filter(|r| r["type"] == "member_started" && r["resumed"] == true)
        .filter_map(|r| r["member"].as_str())
        .collect();
    assert_eq!(resumed, ["shard-02", "shard-03"], "{recs:?}");
    let canary_starts = recs
        .iter()
        .filter(|r| r["type"] == "member_started" && r["member"] == "shard-01")
        .count();
    assert_eq!(canary_starts, 1, "the completed canary stays completed");
    for m in ["shard-02", "shard-03"] {
        let mj = journal(&Path::new(&fj).with_file_name(format!("fj.members/{m}.jsonl")));
        let hellos = mj
            .iter()
            .filter(|r| r["type"] == "step_finished" && r["id"] == "hello")
            .count();
        assert_eq!(hellos, 1, "{m}: step 1 ran once: {mj:?}");
        assert!(
            mj.iter()
                .any(|r| r["type"] == "run_finished" && r["outcome"] == "completed"),
            "{m}: {mj:?}"
        );
    }
}

/// SIGTSTP on the lanes gives the terminal back (normal screen, cursor shown); SIGCONT takes
/// it again and redraws, and keys work; SIGTERM to the lanes only leaves them (the fleet goes
/// on, `ls` lists it).
#[test]
fn the_lanes_suspend_and_come_back_and_a_signal_only_leaves_them() {
    let (_d, [rb, fleet, fj]) = fleet_dir(2, "concurrency = 2");
    let runs = Runs::new();
    let mut term = lanes(&[runs.env()], [&rb, &fleet, &fj], (80, 24), "2 waiting");
    let pid = term.suspend_and_resume("the lanes redrawn after fg", "2 waiting");
    confirm(&mut term, "n", 2);
    wait_shows(&term, &["2 waiting", "step 2/3"], &["step 1/3"]);
    signal(pid, libc::SIGTERM);
    term.assert_restored(0);
    let (_, ls, _) = runs.cutover(&["ls"]);
    assert!(ls.contains("fleet of 2 (running): 2 waiting"), "{ls}");
}

/// Attack: a shutdown signal (SIGHUP, SIGTERM, SIGINT) while a member's cockpit was open from
/// the lanes closed only that cockpit: the lanes took the terminal again and the process ran
/// on, in a terminal the signal was meant to free. It leaves the lanes too, as a signal on
/// the lanes themselves does; the fleet goes on.
#[test]
fn a_signal_in_a_members_cockpit_leaves_the_lanes_too() {
    let (_d, [rb, fleet, fj]) = fleet_dir(2, "concurrency = 2");
    let runs = Runs::new();
    let mut term = lanes(&[runs.env()], [&rb, &fleet, &fj], (100, 30), "2 waiting");
    confirm(&mut term, "n", 2);
    wait_shows(&term, &["2 waiting", "step 2/3"], &["step 1/3"]);
    term.send("\r");
    term.wait_for("STEPS");
    let pid = term.cutover_pid();
    signal(pid, libc::SIGHUP);
    term.assert_restored(0);
    let screen = term.screen();
    assert!(
        screen.contains("left the lanes; the fleet goes on"),
        "{screen}"
    );
    let (_, ls, _) = runs.cutover(&["ls"]);
    assert!(ls.contains("fleet of 2 (running)"), "{ls}");
}
