//! The real binary in a pseudo-terminal (portable-pty + vt100): keys run steps, the screen shows
//! ✔ and timings, and the terminal comes back usable — alternate screen left, cursor shown,
//! canonical mode and echo restored — after quit, after a forced panic and after SIGTERM.
//! Every wait polls the screen against a deadline; nothing sleeps to wait.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const DEADLINE: Duration = Duration::from_secs(30);

/// After cutover exits, the wrapper shell reports the exit code and reads one line: the line
/// comes back only if the terminal is in canonical mode again, and is visible only with echo.
const WRAPPER: &str = r#""$@"; echo "EXIT=$?"; printf 'type> '; read line; echo "GOT[$line]""#;

struct Pty {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    master: Box<dyn MasterPty + Send>,
    child: Box<dyn Child + Send + Sync>,
}

fn nz(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap()
}

impl Pty {
    /// Runs `cutover run RUNBOOK --journal JOURNAL` with `env` in an 80x24 terminal.
    fn run(rb: &Path, journal: &Path, env: &[(&str, &str)]) -> Pty {
        let (rb, journal) = (rb.to_str().unwrap(), journal.to_str().unwrap());
        Pty::spawn(&["run", rb, "--journal", journal], env, 80, 24)
    }

    /// Runs `cutover ARGS...` under the wrapper shell in a `cols` x `rows` terminal.
    fn spawn(args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new("sh");
        cmd.args(["-c", WRAPPER, "sh", BIN]);
        cmd.args(args);
        cmd.cwd(env!("CARGO_MANIFEST_DIR"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.env_remove("CUTOVER_DEBUG_PANIC");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(nz(rows), nz(cols), 0)));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().unwrap();
        Pty {
            parser,
            writer,
            master: pair.master,
            child,
        }
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Polls until `pred` holds for the screen, or fails showing the screen.
    fn wait_until(&self, what: &str, pred: impl Fn(&vt100::Screen) -> bool) {
        let start = Instant::now();
        loop {
            {
                let p = self.parser.lock().unwrap();
                if pred(p.screen()) {
                    return;
                }
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; screen:\n{}", self.screen());
            }
            std::thread::yield_now();
            std::thread::sleep(Duration::from_millis(10)); // poll interval, not a wait
        }
    }

    fn wait_for(&self, text: &str) {
        self.wait_until(&format!("{text:?}"), |s| s.contents().contains(text));
    }

    fn send(&mut self, bytes: &str) {
        self.writer.write_all(bytes.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits until the cockpit is ready to run step `n` `id`, presses enter and waits for
    /// the step to show `glyph` (▶ running, ✔ passed).
    fn enter_step(&mut self, n: usize, id: &str, glyph: &str) {
        self.wait_for(&format!("ready: enter runs step {n} {id}"));
        self.send("\r");
        self.wait_for(&format!("{glyph} {n} {id}"));
    }

    fn resize(&mut self, cols: u16, rows: u16) {
        self.parser.lock().unwrap().set_size(nz(rows), nz(cols));
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    /// cutover has exited with `code`; the terminal must be back to normal.
    fn assert_restored(&mut self, code: i32) {
        self.wait_for(&format!("EXIT={code}"));
        {
            let p = self.parser.lock().unwrap();
            assert!(
                !p.screen().alternate_screen(),
                "still on the alternate screen"
            );
            assert!(!p.screen().hide_cursor(), "cursor still hidden");
        }
        self.wait_for("type> ");
        self.send("usable\r");
        self.wait_for("GOT[usable]");
        assert!(
            self.screen().contains("type> usable"),
            "typed text was not echoed:\n{}",
            self.screen()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "wrapper shell: {status:?}");
    }

    /// The pid of cutover (the wrapper shell's child).
    fn cutover_pid(&self) -> i32 {
        let sh = self.child.process_id().unwrap() as i32;
        let start = Instant::now();
        loop {
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // pid (comm) state ppid ...
                let after = &stat[stat.rfind(')').unwrap() + 2..];
                let ppid: i32 = after.split(' ').nth(1).unwrap().parse().unwrap();
                if ppid == sh && stat.contains("(cutover)") {
                    return pid;
                }
            }
            assert!(start.elapsed() < DEADLINE, "no cutover child of {sh}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn small_runbook(dir: &Path) -> PathBuf {
    let p = dir.join("small.toml");
    std::fs::write(
        &p,
        r#"[runbook]
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
"#,
    )
    .unwrap();
    p
}

/// The small runbook in the cockpit, in a new directory: the directory, the journal, the
/// terminal.
fn small_run(env: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, Pty) {
    let dir = tempfile::tempdir().unwrap();
    let rb = small_runbook(dir.path());
    let journal = dir.path().join("j.jsonl");
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
    t.send("q");
    t.assert_restored(0);
    assert!(t.screen().contains("cutover: run completed"));
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(
        j.contains(r#""action":"confirm""#),
        "confirmation journaled"
    );
}

#[test]
fn quit_while_running_asks_then_cancels_and_says_how_to_resume() {
    let (_dir, journal, mut t) = small_run(&[]);
    t.enter_step(1, "hello", "✔");
    t.wait_for("hello-from-step");
    t.enter_step(2, "nap", "▶");
    t.send("q");
    t.wait_for("Quitting cancels it");
    t.send("n");
    t.wait_until("question closed", |s| {
        !s.contents().contains("Quitting cancels it")
    });
    t.send("q");
    t.wait_for("Quitting cancels it");
    t.send("y");
    t.assert_restored(4);
    assert!(t.screen().contains("resume with: cutover run --resume"));
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains(r#""outcome":"cancelled""#), "{j}");
    assert!(
        j.contains("operator quit the cockpit while nap was running"),
        "{j}"
    );
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
fn sigterm_cancels_the_step_and_restores_the_terminal() {
    let (_dir, journal, mut t) = small_run(&[]);
    t.enter_step(1, "hello", "✔");
    t.enter_step(2, "nap", "▶");
    t.wait_for("pid ");
    let pid = t.cutover_pid();
    // SAFETY: sending a signal to a process we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    t.assert_restored(4);
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains("cutover received SIGTERM"), "{j}");
    assert!(j.contains(r#""outcome":"cancelled""#), "{j}");
}

#[test]
fn resize_redraws_at_the_new_size() {
    let (_dir, _, mut t) = small_run(&[]);
    t.wait_for("ready: enter runs step 1 hello");
    assert!(
        !t.screen().contains("R rollback"),
        "no room for it at 80 columns"
    );
    t.resize(120, 30);
    t.wait_for("R rollback");
    t.resize(60, 18);
    t.wait_until("narrow frame", |s| {
        let c = s.contents();
        c.contains("STEPS") && !c.contains("R rollback")
    });
    t.send("q");
    t.assert_restored(4);
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
    t.send("q");
    t.assert_restored(3);
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains(r#""type":"rollback_finished""#));
}

#[test]
fn outside_signals_end_the_run_or_are_ignored_never_killing_the_cockpit() {
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGQUIT, "SIGQUIT")] {
        let (_dir, journal, mut t) = small_run(&[]);
        t.enter_step(1, "hello", "✔");
        t.enter_step(2, "nap", "▶");
        t.wait_for("pid ");
        let pid = t.cutover_pid();
        // Signals that would kill it by default are ignored while it runs...
        for ignored in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM] {
            // SAFETY: sending a signal to a process we started.
            assert_eq!(unsafe { libc::kill(pid, ignored) }, 0);
        }
        t.send("?");
        t.wait_for("KEYS");
        t.send("\x1b");
        // ...and an interrupt from outside ends the run the orderly way.
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        t.assert_restored(4);
        let j = std::fs::read_to_string(&journal).unwrap();
        assert!(j.contains(&format!("cutover received {name}")), "{j}");
        assert!(j.contains(r#""outcome":"cancelled""#), "{j}");
    }
}

#[test]
fn sigtstp_gives_the_terminal_back_and_fg_takes_it_again() {
    let (_dir, _, mut t) = small_run(&[]);
    t.wait_for("ready: enter runs step 1 hello");
    let pid = t.cutover_pid();
    // SAFETY: sending a signal to a process we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTSTP) }, 0);
    t.wait_until("the normal screen while stopped", |s| {
        !s.alternate_screen() && !s.hide_cursor()
    });
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    t.wait_until("the cockpit redrawn after fg", |s| {
        s.alternate_screen() && s.contents().contains("STEPS")
    });
    // Keys work again after fg.
    t.enter_step(1, "hello", "✔");
    t.send("q");
    t.assert_restored(4);
}

#[test]
fn a_vanished_terminal_never_panics_and_the_journal_is_finished() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let rb = small_runbook(dir.path());
    let journal = dir.path().join("j.jsonl");
    // A bare pseudo-terminal whose master side only this test holds, so closing it is the
    // terminal vanishing (as when an SSH session drops).
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills in two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: fcntl on a descriptor we own: the master must not leak into the child, or the
    // terminal would stay open after this test drops it.
    unsafe { libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: both descriptors were just opened for us.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "run",
        rb.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ])
    .env("TERM", "xterm-256color")
    .stdin(std::process::Stdio::from(slave.try_clone().unwrap()))
    .stdout(std::process::Stdio::from(slave.try_clone().unwrap()))
    .stderr(std::process::Stdio::from(slave));
    // SAFETY: setsid and the TIOCSCTTY ioctl are async-signal-safe; they make the pty this
    // child's controlling terminal, as a login does.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut term = std::fs::File::from(master);
    let mut parser = vt100::Parser::new(nz(24), nz(80), 0);
    let read_until = |parser: &mut vt100::Parser, term: &mut std::fs::File, text: &str| {
        let start = Instant::now();
        let mut buf = [0u8; 65536];
        while !parser.screen().contents().contains(text) {
            assert!(
                start.elapsed() < DEADLINE,
                "no {text:?}:\n{}",
                parser.screen().contents()
            );
            let n = term.read(&mut buf).unwrap();
            parser.process(&buf[..n]);
        }
    };
    read_until(&mut parser, &mut term, "ready: enter runs step 1 hello");
    term.write_all(b"\r").unwrap();
    read_until(&mut parser, &mut term, "ready: enter runs step 2 nap");
    term.write_all(b"\r").unwrap();
    read_until(&mut parser, &mut term, "pid ");
    drop(term); // the terminal vanishes under the running cockpit
    drop(cmd); // (it holds copies of the slave side)
    let status = child.wait().unwrap();
    // Before, the cockpit panicked on the dead terminal ("Failed to show the cursor: EIO",
    // exit 134) before the engine had journaled the end of the run.
    assert!(
        !matches!(status.code(), Some(101 | 134)) && status.code().is_some(),
        "{status:?}"
    );
    let recs = crate::support::journal(&journal);
    let last = recs.last().unwrap();
    assert_eq!(
        last["type"], "run_finished",
        "the journal was finished: {last}"
    );
    assert!(
        recs.iter().any(|r| r["outcome"] == "cancelled"),
        "the running step's end is journaled"
    );
}
