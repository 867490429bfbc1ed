//! An attack pass on the detached fleet's command line and files: journals and logs that are
//! FIFOs, links, directories or in places that cannot be written; a run directory holding a
//! SIGKILLed fleet's leftovers or a link where the members' directory goes; signals to the
//! fleet's engine; a terminal that vanishes under the lanes; two live fleets for `attach` and
//! a `watch --json` nobody reads; and titles made of terminal escapes. Each attack ends with
//! a clear word, the terminal restored and no engine left behind.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::CommandBuilder;

use crate::fleet_lanes::{confirm, shards_runbook};
use crate::support::{alive, journal, mkfifo, runbook, signal, wait_for};
use crate::term::{BIN, DEADLINE, Pty, RawTerm, Runs, open_pty, still_running};

/// Two shell steps.
const RUNBOOK: &str = shards_runbook!("", "");

/// A fleet file of `n` members `shard-01`…, all started at once.
fn fleet_file(n: usize) -> String {
    crate::fleet_lanes::fleet_file(n, &format!("concurrency = {n}\nhalt = \"never\"\n"))
}

/// A fleet of `n` members over `runbook_text` in a temp dir: (dir, runbook, fleet file).
fn fleet_in(n: usize, runbook_text: &str) -> (tempfile::TempDir, String, String) {
    let d = tempfile::tempdir().unwrap();
    let rb = runbook(d.path(), "rb.toml", runbook_text);
    let fleet = runbook(d.path(), "fleet.toml", &fleet_file(n));
    let s = |p: PathBuf| p.display().to_string();
    (d, s(rb), s(fleet))
}

/// `run RUNBOOK --fleet FLEET <flag> <journal>` in a wide terminal (long temp paths stay on
/// one line).
fn start(runs: &Runs, rb: &str, fleet: &str, flag: &str, journal: &Path) -> Pty {
    let j = journal.display().to_string();
    Pty::spawn(
        &["run", rb, "--fleet", fleet, flag, &j],
        &[runs.env()],
        200,
        30,
    )
}

/// A fleet of `n` members of [`RUNBOOK`] run in the lanes with the journal `fj.jsonl` (as
/// [`start`]), every member waiting: the directory, the runbook and the fleet file, the
/// journal, the run directory and the terminal.
fn waiting_fleet(n: usize) -> (tempfile::TempDir, [String; 2], PathBuf, Runs, Pty) {
    let (d, rb, fleet) = fleet_in(n, RUNBOOK);
    let fj = d.path().join("fj.jsonl");
    let runs = Runs::new();
    let term = start(&runs, &rb, &fleet, "--journal", &fj);
    term.wait_for(&format!("{n} waiting"));
    (d, [rb, fleet], fj, runs, term)
}

/// `run RUNBOOK --fleet FLEET --journal JOURNAL` (as [`start`]) shows `shown`; `q` leaves
/// the lanes, the terminal restored.
fn starts_and_quits(runs: &Runs, [rb, fleet]: [&str; 2], journal: &Path, shown: &str) {
    let mut term = start(runs, rb, fleet, "--journal", journal);
    term.wait_for(shown);
    term.quit(0);
}

/// No engine of `runs` is alive (none listed, or every listed one gone).
fn no_engine_left(runs: &Runs) {
    for engine in runs.live_engines() {
        wait_for(
            &format!("engine {} to end", engine.0),
            Duration::from_secs(15),
            || !still_running(engine),
        );
    }
}

/// The fleet is refused: the terminal comes back with `code`, the screen says every one of
/// `says`, and no engine is left.
fn refused(mut term: Pty, runs: &Runs, code: i32, says: &[&str]) {
    term.assert_restored(code);
    for s in says {
        term.assert_shows(s);
    }
    no_engine_left(runs);
    assert!(runs.engines().is_empty(), "{:?}", runs.engines());
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// `--journal` that is a FIFO, a link to a file, a directory, an existing file, or in a
/// directory that cannot be written: refused naming the path, before any engine listens,
/// without hanging, following the link or touching what is there.
#[test]
fn journals_that_are_not_new_plain_files_are_refused() {
    let (d, rb, fleet) = fleet_in(1, RUNBOOK);
    let dir = d.path();
    let fifo = dir.join("fifo.jsonl");
    mkfifo(&fifo);
    let target = dir.join("target.txt");
    std::fs::write(&target, "keep me\n").unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let sub = dir.join("adir.jsonl");
    std::fs::create_dir(&sub).unwrap();
    let existing = dir.join("old.jsonl");
    std::fs::write(&existing, "{\"type\":\"something\"}\n").unwrap();
    let runs = Runs::new();
    for (j, says) in [
        (&fifo, "is not a regular file"),
        (&link, "is not a regular file"),
        (&sub, "is not a regular file"),
        (&existing, "exists: resume it with --resume"),
    ] {
        let term = start(&runs, &rb, &fleet, "--journal", j);
        refused(term, &runs, 2, &[&j.display().to_string(), says]);
    }
    assert!(is_fifo(&fifo), "the FIFO is left as it was");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(std::fs::read_dir(&sub).unwrap().next().is_none());
    assert_eq!(
        std::fs::read_to_string(&existing).unwrap(),
        "{\"type\":\"something\"}\n"
    );
    read_only_places_are_refused(&runs, &rb, &fleet, dir);
}

/// A journal in a directory nobody may write (root writes anywhere with loose modes: it gets
/// `/proc`, which no mode lets anyone write) is refused with the path named, exit 4.
fn read_only_places_are_refused(runs: &Runs, rb: &str, fleet: &str, dir: &Path) {
    // SAFETY: geteuid has no failure mode.
    let root = unsafe { libc::geteuid() } == 0;
    let ro = if root {
        PathBuf::from("/proc")
    } else {
        let ro = dir.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        ro
    };
    let j = ro.join(format!("cutover-attack-{}.jsonl", std::process::id()));
    let term = start(runs, rb, fleet, "--journal", &j);
    let log = ro.join(format!("cutover-attack-{}.log", std::process::id()));
    let says = format!("cannot write the fleet's log {}", log.display());
    refused(term, runs, 4, &[&says]);
    assert!(!j.exists() && !log.exists());
}

/// `--resume` of a journal that is not a fleet's (a run's own journal), of a FIFO, of a link
/// to a real fleet journal: refused naming the path (exit 2), nothing appended anywhere.
#[test]
fn resuming_what_is_not_a_fleet_journal_is_refused() {
    let (d, rb, fleet) = fleet_in(1, RUNBOOK);
    let dir = d.path();
    let single = dir.join("single.jsonl");
    let run_journal = "{\"type\":\"run_started\",\"ts\":\"2026-12-05T02:00:00Z\"}\n";
    std::fs::write(&single, run_journal).unwrap();
    let fifo = dir.join("fifo.jsonl");
    mkfifo(&fifo);
    // A real fleet journal (headless, to its end), then a link to it.
    let real = dir.join("real.jsonl");
    let out = Command::new(BIN)
        .args(["run", &rb, "--fleet", &fleet, "--journal"])
        .arg(&real)
        .args(["--headless", "--assume-yes"])
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let real_before = std::fs::read(&real).unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let runs = Runs::new();
    for (j, says) in [
        (&single, "is not a fleet journal"),
        (&fifo, "not a regular file"),
        (&link, "is a symbolic link (not followed)"),
    ] {
        let term = start(&runs, &rb, &fleet, "--resume", j);
        refused(term, &runs, 2, &[&j.display().to_string(), says]);
    }
    assert_eq!(std::fs::read_to_string(&single).unwrap(), run_journal);
    assert!(is_fifo(&fifo));
    assert_eq!(std::fs::read(&real).unwrap(), real_before);
}

/// The log beside the journal (`<stem>.log`) is a link to a file standing for /etc/passwd,
/// or a FIFO: the fleet is refused naming the log, without following the link (the file is
/// untouched) or hanging on the FIFO; no journal is started, so the next run goes.
#[test]
fn a_log_that_is_a_link_or_a_fifo_is_refused_without_following_or_hanging() {
    let (d, rb, fleet) = fleet_in(1, RUNBOOK);
    let dir = d.path();
    let passwd = dir.join("passwd");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::os::unix::fs::symlink(&passwd, dir.join("linked.log")).unwrap();
    mkfifo(&dir.join("piped.log"));
    let runs = Runs::new();
    for stem in ["linked", "piped"] {
        let j = dir.join(format!("{stem}.jsonl"));
        let log = dir.join(format!("{stem}.log"));
        let term = start(&runs, &rb, &fleet, "--journal", &j);
        let says = format!("the fleet's log {} is not a regular file", log.display());
        refused(term, &runs, 4, &[&says]);
        assert!(!j.exists(), "{stem}: no journal was started");
    }
    assert_eq!(
        std::fs::read_to_string(&passwd).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    assert!(is_fifo(&dir.join("piped.log")));
    // Once the FIFO is gone, the same journal starts.
    std::fs::remove_file(dir.join("piped.log")).unwrap();
    starts_and_quits(&runs, [&rb, &fleet], &dir.join("piped.jsonl"), "1 waiting");
}

/// A fleet journal named `fj.log` is not its own log: the fleet starts (the log goes to
/// `fj.log.log`), and the journal holds only the fleet's records.
#[test]
fn a_journal_named_like_its_log_keeps_the_two_apart() {
    let (d, rb, fleet) = fleet_in(1, RUNBOOK);
    let fj = d.path().join("fj.log");
    let runs = Runs::new();
    starts_and_quits(&runs, [&rb, &fleet], &fj, "1 waiting");
    assert!(d.path().join("fj.log.log").is_file());
    let text = std::fs::read_to_string(&fj).unwrap();
    for line in text.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(rec["type"].is_string(), "{line}");
    }
    assert!(text.starts_with("{\"type\":\"fleet_started\""), "{text}");
}

/// A SIGKILLed fleet leaves `<id>.members/` behind (a plain file stands in its `m0.sock`):
/// resuming it (same journal, same stem) serves the member again on a fresh socket, and `ls`
/// lists the fleet.
#[test]
fn a_sigkilled_fleets_members_directory_does_not_stop_the_next_fleet() {
    let (_d, [rb, fleet], fj, runs, mut term) = waiting_fleet(1);
    let pid = runs.engine_pid();
    signal(pid, libc::SIGKILL);
    term.assert_restored(4);
    let members = runs.run_dir().join("fj.members");
    let stale = members.join("m0.sock");
    assert!(stale.exists(), "the SIGKILLed fleet left {stale:?}");
    // `ls` says how to resume it: a fleet takes its runbook and fleet file again.
    let ls = runs.ls();
    let resume = format!(
        "resume with: cutover run '{rb}' --fleet '{fleet}' --resume '{}'",
        fj.display()
    );
    assert!(ls.contains(&resume), "{ls}");
    // What stands there may be anything: a plain file in the socket's place.
    std::fs::remove_file(&stale).unwrap();
    std::fs::write(&stale, "stale\n").unwrap();
    let mut term = start(&runs, &rb, &fleet, "--resume", &fj);
    term.wait_for("1 waiting");
    let ls = runs.ls();
    assert!(ls.contains("fleet of 1"), "{ls}");
    wait_for("the member's fresh socket", Duration::from_secs(15), || {
        std::fs::symlink_metadata(&stale).is_ok_and(|m| m.file_type().is_socket())
    });
    term.quit(0);
}

/// `<id>.members` in the run directory is a link to another directory, or a regular file:
/// the fleet is refused naming it (exit 4), nothing is put through the link, no journal is
/// started; once it is gone, the same `--journal` starts.
#[test]
fn a_members_directory_that_is_a_link_or_a_file_is_refused() {
    let (d, rb, fleet) = fleet_in(1, RUNBOOK);
    let runs = Runs::new();
    let rd = runs.run_dir();
    std::fs::create_dir(&rd).unwrap();
    std::fs::set_permissions(&rd, std::fs::Permissions::from_mode(0o700)).unwrap();
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, rd.join("fa.members")).unwrap();
    std::fs::write(rd.join("fb.members"), "not a directory\n").unwrap();
    for stem in ["fa", "fb"] {
        let j = d.path().join(format!("{stem}.jsonl"));
        let term = start(&runs, &rb, &fleet, "--journal", &j);
        let members = rd.join(format!("{stem}.members"));
        refused(term, &runs, 4, &[&members.display().to_string()]);
        assert!(!j.exists(), "{stem}: no journal was started");
        assert!(!rd.join(format!("{stem}.sock")).exists());
    }
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
    assert!(
        std::fs::symlink_metadata(rd.join("fa.members"))
            .unwrap()
            .is_symlink()
    );
    std::fs::remove_file(rd.join("fa.members")).unwrap();
    starts_and_quits(
        &runs,
        [&rb, &fleet],
        &d.path().join("fa.jsonl"),
        "1 waiting",
    );
}

/// SIGHUP to the fleet's engine is ignored (the fleet goes on and `ls` lists it); SIGTERM
/// ends it: each started member's journal ends with its run aborted, the fleet journal with
/// `fleet_finished`, and the run directory's entries of the fleet are gone.
#[test]
fn sighup_is_ignored_and_sigterm_ends_every_member_as_an_abort() {
    let (d, _, fj, runs, mut term) = waiting_fleet(2);
    confirm(&mut term, "n", 2);
    term.wait_until("both at step 2", |s| {
        s.contents().matches("step 2/2").count() == 2
    });
    term.quit(0);
    let pid = runs.engine_pid();
    signal(pid, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(500)); // the signal's chance to do harm
    assert!(alive(pid), "SIGHUP ended the fleet's engine");
    let ls = runs.ls();
    assert!(ls.contains("fleet of 2"), "{ls}");
    signal(pid, libc::SIGTERM);
    wait_for("the engine to end", Duration::from_secs(20), || !alive(pid));
    for m in ["shard-01", "shard-02"] {
        let mj = journal(&d.path().join(format!("fj.members/{m}.jsonl")));
        let last = mj.last().unwrap();
        assert!(
            last["type"] == "run_finished" && last["outcome"] == "aborted",
            "{m}: {mj:?}"
        );
    }
    let recs = journal(&fj);
    assert_eq!(recs.last().unwrap()["type"], "fleet_finished", "{recs:?}");
    let rd = runs.run_dir();
    for gone in ["fj.sock", "fj.json", "fj.members"] {
        assert!(!rd.join(gone).exists(), "{gone} left in the run directory");
    }
}

/// SIGTERM to the fleet's engine while the lanes look on: the fleet ends (journaled) and the
/// lanes say how it ended, with its exit, not that the engine "went away before the fleet
/// ended" (the engine ends the fleet and goes at once, before the lanes are told).
#[test]
fn sigterm_to_the_engine_under_the_lanes_is_an_end_not_a_loss() {
    let (_d, _, fj, runs, mut term) = waiting_fleet(1);
    signal(runs.engine_pid(), libc::SIGTERM);
    term.assert_restored(4);
    let screen = term.screen();
    assert!(
        !screen.contains("went away before the fleet ended"),
        "{screen}"
    );
    term.assert_shows("cutover: the fleet's report: cutover report");
    assert_eq!(journal(&fj).last().unwrap()["type"], "fleet_finished");
    no_engine_left(&runs);
}

/// The lanes' terminal vanishes while the members wait: the fleet's engine goes on, `ls`
/// lists it, and `attach` picks it up.
#[test]
fn a_vanished_terminal_leaves_the_fleet_running_for_attach() {
    let (d, rb, fleet) = fleet_in(1, RUNBOOK);
    let fj = d.path().join("fj.jsonl");
    let runs = Runs::new();
    let fj_s = fj.display().to_string();
    let mut raw = RawTerm::spawn(
        &["run", &rb, "--fleet", &fleet, "--journal", &fj_s],
        &[runs.env()],
    );
    raw.read_until("1 waiting");
    let pid = runs.engine_pid();
    let _ = raw.vanish();
    std::thread::sleep(Duration::from_millis(500)); // the loss's chance to do harm
    assert!(alive(pid), "the fleet's engine went with the terminal");
    let ls = runs.ls();
    assert!(
        ls.contains("fleet of 1") && ls.contains("1 waiting"),
        "{ls}"
    );
    let mut term = Pty::spawn(&["attach"], &[runs.env()], 100, 30);
    term.wait_for("1 waiting");
    term.assert_shows("shard-01");
    term.quit(0);
    assert!(alive(pid));
}

/// Starts a fleet of `n` with journal `<stem>.jsonl` and detaches from it.
fn detached(runs: &Runs, rb: &str, fleet: &str, dir: &Path, stem: &str, n: usize) {
    let mut term = start(
        runs,
        rb,
        fleet,
        "--journal",
        &dir.join(format!("{stem}.jsonl")),
    );
    term.wait_for(&format!("{n} waiting"));
    term.quit(0);
}

/// Two live fleets: `attach` without an id lists both and exits 2; an id prefix picks one;
/// `watch --json` of it into `head -1` ends promptly once nobody reads.
#[test]
fn attach_with_two_fleets_and_a_watch_nobody_reads() {
    let (d, rb, fleet1) = fleet_in(1, RUNBOOK);
    let fleet2 = runbook(d.path(), "fleet2.toml", &fleet_file(2))
        .display()
        .to_string();
    let runs = Runs::new();
    detached(&runs, &rb, &fleet1, d.path(), "alpha", 1);
    detached(&runs, &rb, &fleet2, d.path(), "beta", 2);
    let (code, _, err) = runs.cutover(&["attach"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("several live runs") && err.contains("alpha") && err.contains("beta"),
        "{err}"
    );
    let mut term = Pty::spawn(&["attach", "be"], &[runs.env()], 100, 30);
    term.wait_for("2 waiting");
    term.assert_shows("shard-02");
    term.quit(0);
    let started = Instant::now();
    let out = Command::new("sh")
        .args(["-c", "\"$0\" watch --json be | head -1", BIN])
        .env("XDG_RUNTIME_DIR", runs.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "watch --json went on for {:?} with nobody reading",
        started.elapsed()
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let first: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert!(first["member"].as_str().is_some(), "{line}");
    // Nothing stayed behind: no watcher of this test's run directory is left streaming (one
    // of another test binary running at the same time is not this one's).
    let ours = format!("XDG_RUNTIME_DIR={}", runs.path().display());
    let watchers = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains("watch\0--json\0be"))
                && cutover_shell::environ_holds(pid, &ours) == Some(true)
        })
        .count();
    assert_eq!(watchers, 0, "a watch --json is still running");
}

/// What a terminal did besides drawing: clipboard writes, and the titles it was given.
#[derive(Default)]
struct Effects {
    clipboard: usize,
    titles: Vec<String>,
}

impl vt100::Callbacks for Effects {
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _: &[u8], _: &[u8]) {
        self.clipboard += 1;
    }

    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles
            .push(String::from_utf8_lossy(title).into_owned());
    }
}

/// `cutover ARGS` in a pseudo-terminal whose every byte is kept, and read by a vt100 screen
/// that counts clipboard writes and title changes.
struct Tap {
    bytes: Arc<Mutex<Vec<u8>>>,
    parser: Arc<Mutex<vt100::Parser<Effects>>>,
    writer: Box<dyn std::io::Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Tap {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Tap {
        let pair = open_pty(120, 30);
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let nz = crate::term::nz;
        let parser = Arc::new(Mutex::new(vt100::Parser::new_with_callbacks(
            nz(30),
            nz(120),
            0,
            Effects::default(),
        )));
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let (p, b) = (parser.clone(), bytes.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                b.lock().unwrap().extend_from_slice(&buf[..n]);
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Tap {
            bytes,
            parser,
            writer: pair.master.take_writer().unwrap(),
            child,
            _master: pair.master,
        }
    }

    fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while !self.screen().contains(text) {
            assert!(
                start.elapsed() < DEADLINE,
                "no {text:?}:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(10)); // poll interval
        }
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Presses q and waits for cutover to end.
    fn quit(&mut self) {
        self.writer.write_all(b"q").unwrap();
        self.writer.flush().unwrap();
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < DEADLINE, "watch did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A runbook whose name and step title carry a clipboard write (OSC 52), a retitle and a
/// clear-screen: the lanes show them as plain text (no residue such as `]52;`); no byte of
/// the escapes reaches either terminal (the controlling one and a watcher's), which neither
/// retitled nor wrote the clipboard; `ls` prints none either.
#[test]
fn hostile_titles_reach_the_lanes_as_plain_text() {
    // The two-step runbook, named and its first step titled with terminal escapes.
    let hostile = RUNBOOK
        .replace(
            "name = \"shards\"",
            r#"name = "ev\u001b]52;c;ZXZpbA==\u0007il\u001b[2Jbook""#,
        )
        .replace(
            "title = \"say hello\"",
            r#"title = "ti\u001b]0;owned\u0007tle\u001b[2Jboom\u001b]52;c;ZXZpbA==\u0007""#,
        );
    let (d, rb, fleet) = fleet_in(1, &hostile);
    let fj = d.path().join("fj.jsonl");
    let runs = Runs::new();
    let mut term = start(&runs, &rb, &fleet, "--journal", &fj);
    term.wait_for("1 waiting");
    term.wait_for("titleboom");
    term.assert_shows("evilbook");
    let mut watcher = Tap::spawn(&["watch", "fj"], &[runs.env()]);
    watcher.wait_for("titleboom");
    for residue in ["]52", "]0;", "[2J"] {
        assert!(!term.screen().contains(residue), "{}", term.screen());
        assert!(!watcher.screen().contains(residue), "{}", watcher.screen());
    }
    let ls = runs.ls();
    assert!(!ls.contains('\u{1b}') && !ls.contains('\u{7}'), "{ls:?}");
    watcher.quit();
    {
        let bytes = watcher.bytes.lock().unwrap();
        let raw = String::from_utf8_lossy(&bytes);
        for bad in [
            "\u{1b}]52",
            "\u{1b}]0;owned",
            "\u{1b}[2Jboom",
            "\u{1b}[2Jbook",
        ] {
            assert!(!raw.contains(bad), "{bad:?} reached the terminal");
        }
        let p = watcher.parser.lock().unwrap();
        assert_eq!(p.callbacks().clipboard, 0, "the clipboard was written");
        let titles = &p.callbacks().titles;
        assert!(
            !titles.iter().any(|t| t.contains("owned")),
            "the terminal was retitled: {titles:?}"
        );
    }
    term.assert_shows("shard-01");
    term.quit(0);
}
