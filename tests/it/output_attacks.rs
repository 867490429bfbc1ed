//! Attacks on what commands print and the files they write (issue 23): terminal escapes from
//! a journal or a run directory, a full stdout, a hostile run directory, `calibrate --write`
//! on links, read-only files, other runbooks' journals and a file edited meanwhile.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// A runbook named `name` with steps `ids`, each `run = "true"`.
fn steps_runbook(name: &str, ids: &[String]) -> String {
    let mut s = format!("[runbook]\nname = \"{name}\"\n");
    for id in ids {
        s.push_str(&format!("\n[[step]]\nid = \"{id}\"\nrun = \"true\"\n"));
    }
    s
}

/// A new directory for `XDG_RUNTIME_DIR` holding a private run directory `cutover`: the
/// former, and the run directory's path.
fn private_run_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let runs = tempfile::tempdir().unwrap();
    let dir = runs.path().join("cutover");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    (runs, dir)
}

/// A finished headless run of `text` in `dir`, journal `j.jsonl`.
fn rehearsal(dir: &std::path::Path, text: &str) {
    let out = headless(dir, text, &[]);
    exited(&out, 0);
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

#[test]
fn calibrate_write_never_clobbers_what_it_should_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids: Vec<String> = vec!["one".into()];
    rehearsal(d, &steps_runbook("cal", &ids));
    let rb = runbook(d, "real.toml", &steps_runbook("cal", &ids));
    // Another runbook's journal: refused, unless --force.
    let other = runbook(d, "other.toml", &steps_runbook("other", &ids));
    let (_, stderr) = cutover_exits(d, &["calibrate", other.to_str().unwrap(), "j.jsonl"], 2);
    assert!(
        stderr.contains("is a run of runbook \"cal\"") && stderr.contains("--force"),
        "{stderr}"
    );
    let out = cutover(
        d,
        &["calibrate", other.to_str().unwrap(), "j.jsonl", "--force"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // Through a symbolic link: the file it names is written, the link stays a link.
    std::fs::set_permissions(&rb, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = d.join("link.toml");
    std::os::unix::fs::symlink("real.toml", &link).unwrap();
    let (stdout, _) = cutover_exits(d, &["calibrate", "link.toml", "j.jsonl", "--write"], 0);
    assert!(
        stdout.contains("written to ") && stdout.contains("real.toml"),
        "{stdout}"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&rb)
            .unwrap()
            .contains("expected = ")
    );
    let mode = std::fs::metadata(&rb).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640, "the mode is kept");

    // A read-only runbook is left alone (root could write it: the mode says not to).
    let ro = runbook(d, "ro.toml", &steps_runbook("cal", &ids));
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read_to_string(&ro).unwrap();
    let (_, stderr) = cutover_exits(d, &["calibrate", "ro.toml", "j.jsonl", "--write"], 2);
    assert!(stderr.contains("read-only"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), before);
}

/// The runbook is edited while calibrate runs (here: while it is blocked printing its table
/// into a pipe nobody reads): the edit is kept, calibrate refuses and says so.
#[test]
fn calibrate_write_never_loses_an_edit_made_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rehearsal(d, &steps_runbook("cal", &["s1".to_string()]));
    // 2,000 steps: a table of ~130 KB, more than a pipe holds.
    let ids: Vec<String> = (1..=2000).map(|i| format!("s{i}")).collect();
    let rb = runbook(d, "big.toml", &steps_runbook("cal", &ids));
    let mut child = Command::new(bin())
        .current_dir(d)
        .args(["calibrate", "big.toml", "j.jsonl", "--write"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("STEP"), "{first}");
    // calibrate has read the runbook and is printing (blocked on the pipe): edit it now.
    let edited = format!(
        "# edited by a colleague meanwhile\n{}",
        std::fs::read_to_string(&rb).unwrap()
    );
    std::fs::write(&rb, &edited).unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("changed while calibrate ran"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&rb).unwrap(),
        edited,
        "the edit is kept"
    );
}

/// `ls`, `calibrate`, `report` and `run --headless` writing to a full stdout: an error, not a
/// silent exit 0.
#[test]
fn a_full_stdout_is_an_error_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = steps_runbook("full", &["one".to_string(), "two".to_string()]);
    rehearsal(d, &text);
    let runs = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(bin())
            .current_dir(d)
            .args(args)
            .env("XDG_RUNTIME_DIR", runs.path())
            .stdout(dev_full())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    for (args, code) in [
        (vec!["ls"], 2),
        (vec!["calibrate", "rb.toml", "j.jsonl"], 4),
        (vec!["report", "j.jsonl"], 4),
        (
            vec!["run", "rb.toml", "--headless", "--journal", "full.jsonl"],
            4,
        ),
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains("stdout"), "{args:?}: {stderr}");
    }
    // The headless run ended as an abort, journaled: nothing ran blind.
    let recs = journal(&d.join("full.jsonl"));
    assert!(
        recs.iter()
            .any(|r| r["type"] == "run_finished" && r["outcome"] == "aborted"),
        "{recs:?}"
    );
}

const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;owned\u{7}\u{1b}]52;c;ZXZpbA==\u{7}[click](javascript:alert(1))<script>x</script>";

/// A run directory holding a FIFO, a link to /dev/zero, a huge file and a description whose
/// runbook name is made of escape sequences: `ls` neither hangs nor eats memory, names what
/// was wrong, and no escape reaches the terminal. The report of a journal holding the same
/// name (and sign-off name) prints no escape and no Markdown link or HTML.
#[test]
fn hostile_run_directories_and_journals_print_nothing_raw() {
    let (runs, dir) = private_run_dir();
    mkfifo(&dir.join("fifo.json"));
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.json")).unwrap();
    std::fs::write(dir.join("huge.json"), vec![b'x'; 10 << 20]).unwrap();
    let desc = serde_json::json!({
        "id": "evil", "pid": 999_999_999u32, "journal": "/nonexistent.jsonl",
        "runbook": HOSTILE, "started_at": "2026-12-05T02:00:00Z",
    });
    std::fs::write(dir.join("evil.json"), desc.to_string()).unwrap();
    let mut child = Command::new(bin())
        .arg("ls")
        .env("XDG_RUNTIME_DIR", runs.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("ls to end", Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = exited(&out, 0);
    assert!(stdout.contains("evil"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout:?}"
    );
    for says in [
        "fifo.json: not a regular file",
        "zero.json: a symbolic link",
        "huge.json: 10485760 bytes",
    ] {
        assert!(stderr.contains(says), "{says}: {stderr}");
    }

    // A journal whose runbook name and sign-off name are hostile.
    let d = tempfile::tempdir().unwrap();
    let rb_text = "[runbook]\nname = \"plain\"\n\n[[step]]\nid = \"go\"\napprove = [\"dba\"]\n";
    let out = headless_at(d.path(), rb_text, "j.jsonl", &["--approve", "dba=Ann"], &[]);
    exited(&out, 0);
    let j = d.path().join("j.jsonl");
    let hostile_json = serde_json::to_string(HOSTILE).unwrap();
    let hostile_json = &hostile_json[1..hostile_json.len() - 1];
    let body = std::fs::read_to_string(&j)
        .unwrap()
        .replace(
            "\"name\":\"plain\"",
            &format!("\"name\":\"{hostile_json}\""),
        )
        .replace("\"name\":\"Ann\"", &format!("\"name\":\"{hostile_json}\""));
    std::fs::write(&j, body).unwrap();
    let (md, _) = cutover_exits(d.path(), &["report", "j.jsonl"], 0);
    assert!(!md.contains('\u{1b}') && !md.contains('\u{7}'), "{md:?}");
    assert!(!md.contains("[click](") && !md.contains("<script>"), "{md}");
    assert!(
        md.contains("\\[click\\]") && md.contains("\\<script\\>"),
        "{md}"
    );
}

/// A fake engine in the run directory that answers `watch --json` with a snapshot larger than
/// any real one (300 MB on one line): the watch stops reading at the cap, says what was wrong
/// and exits 4 — it used to hold 533 MB and exit 0 in silence.
#[test]
fn a_forged_giant_snapshot_is_refused_with_a_reason() {
    use cutover_socket::rundir::{self, RunMeta};
    use cutover_socket::wire::ServerMsg;
    use std::io::Write;
    let (runs, dir) = private_run_dir();
    let me = std::process::id();
    let meta = RunMeta {
        id: "fake".into(),
        pid: me,
        pid_start: rundir::start_time(me),
        journal: "/nonexistent.jsonl".into(),
        runbook: "fake".into(),
        started_at: chrono::Utc::now(),
        resumable: true,
        fleet: false,
    };
    rundir::write_meta(&dir, &meta).unwrap();
    let listener =
        std::os::unix::net::UnixListener::bind(rundir::socket_path(&dir, "fake")).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hello = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut hello);
        let welcome = ServerMsg::Welcome {
            version: cutover_socket::wire::VERSION,
            run: "fake".into(),
            role: cutover_model::protocol::ClientRole::Watch,
            terminal: 1,
        };
        let mut line = serde_json::to_vec(&welcome).unwrap();
        line.push(b'\n');
        let _ = s.write_all(&line);
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..300 {
            if s.write_all(&chunk).is_err() {
                return; // the watch hung up: what it should do
            }
        }
    });
    let out = Command::new(bin())
        .args(["watch", "fake", "--json"])
        .env("XDG_RUNTIME_DIR", runs.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let (_, stderr) = exited(&out, 4);
    assert!(stderr.contains("a message longer than"), "{stderr}");
    server.join().unwrap();
}

/// A cockpit start refused after its engine made the journal (here: a run directory anyone
/// may read, which the engine refuses) used to leave a 0-byte journal that blocked that
/// `--journal` for good and could not be resumed. Nothing is left; the same path works next.
#[test]
fn a_refused_cockpit_start_leaves_no_journal_behind() {
    let (dir, rb) = temp_runbook("rb.toml", &steps_runbook("refused", &["one".to_string()]));
    let j = dir.path().join("j.jsonl");
    let runs = crate::term::Runs::new();
    std::fs::create_dir(runs.run_dir()).unwrap();
    std::fs::set_permissions(runs.run_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = crate::term::Pty::run(&rb, &j, &[runs.env()]);
    t.wait_for("EXIT=");
    t.assert_shows("mode 755");
    assert!(!j.exists(), "a refused start left {}", j.display());
    // The same --journal works once the run directory is private again.
    std::fs::set_permissions(runs.run_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut t = crate::term::Pty::run(&rb, &j, &[runs.env()]);
    t.wait_for("ready: enter runs step 1 one");
    t.enter_step(1, "one", "✔");
    t.wait_for("run completed");
    t.quit(0);
    assert!(journal(&j).iter().any(|r| r["type"] == "run_finished"));
}

/// `--share-group` naming no group is refused before anything starts.
#[test]
fn an_unknown_share_group_is_refused_before_anything_starts() {
    let (dir, rb) = temp_runbook("rb.toml", &steps_runbook("g", &["one".to_string()]));
    let (_, stderr) = cutover_exits(
        dir.path(),
        &[
            "run",
            rb.to_str().unwrap(),
            "--journal",
            "j.jsonl",
            "--share-group",
            "no-such-group-zz",
        ],
        2,
    );
    assert!(stderr.contains("no such group"), "{stderr}");
    assert!(!dir.path().join("j.jsonl").exists());
}
