//! Terminals for the end-to-end tests: [`Pty`], the real binary in a pseudo-terminal
//! (portable-pty + vt100) under a wrapper shell that checks the terminal comes back usable;
//! [`RawTerm`], a bare pseudo-terminal this test alone holds, so closing it is the terminal
//! vanishing (as when an SSH session drops); and [`Runs`], a private run directory
//! (`XDG_RUNTIME_DIR`) whose detached engines are stopped when the test ends, pass or fail.
//! Every wait polls the screen against a deadline; nothing sleeps to wait.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use crate::support::signal;

pub const BIN: &str = env!("CARGO_BIN_EXE_cutover");
pub const DEADLINE: Duration = Duration::from_secs(30);

/// After cutover exits, the wrapper shell reports the exit code and reads one line: the line
/// comes back only if the terminal is in canonical mode again, and is visible only with echo.
const WRAPPER: &str = r#""$@"; echo "EXIT=$?"; printf 'type> '; read line; echo "GOT[$line]""#;

pub fn nz(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap()
}

/// The size of a `cols` x `rows` terminal.
pub fn pty_size(cols: u16, rows: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// A new pseudo-terminal of `cols` x `rows`.
pub fn open_pty(cols: u16, rows: u16) -> portable_pty::PtyPair {
    native_pty_system().openpty(pty_size(cols, rows)).unwrap()
}

/// A private `XDG_RUNTIME_DIR`: the detached engines started under it are listed there, and
/// stopped (SIGTERM, then SIGKILL) when this is dropped.
pub struct Runs {
    dir: tempfile::TempDir,
}

impl Runs {
    pub fn new() -> Runs {
        Runs {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The value for `XDG_RUNTIME_DIR`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `("XDG_RUNTIME_DIR", path)` for a command's environment.
    pub fn env(&self) -> (&'static str, &str) {
        ("XDG_RUNTIME_DIR", self.path().to_str().unwrap())
    }

    /// The run directory inside (`$XDG_RUNTIME_DIR/cutover`).
    pub fn run_dir(&self) -> PathBuf {
        self.path().join("cutover")
    }

    /// Every run description in the run directory, as written.
    fn descriptions(&self) -> Vec<serde_json::Value> {
        let Ok(rd) = std::fs::read_dir(self.run_dir()) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .collect()
    }

    /// Every run description: `(id, engine pid)`.
    pub fn engines(&self) -> Vec<(String, i32)> {
        self.descriptions()
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap_or_default().to_string(),
                    m["pid"].as_i64().unwrap_or(0) as i32,
                )
            })
            .collect()
    }

    /// The listed engines still running, as `(pid, start time)`: alive, and started when
    /// their description says (a SIGKILLed engine leaves its description behind, and the
    /// system may since have given its pid to another test's process, which must never be
    /// signalled).
    pub fn live_engines(&self) -> Vec<(i32, u64)> {
        self.descriptions()
            .iter()
            .filter_map(|m| {
                let pid = i32::try_from(m["pid"].as_i64()?).ok()?;
                let started = m["pid_start"].as_u64()?;
                still_running((pid, started)).then_some((pid, started))
            })
            .collect()
    }

    /// The one engine's pid, once it has written its description.
    pub fn engine_pid(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let [(_, pid)] = self.engines().as_slice() {
                return *pid;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no single engine in {:?}",
                self.run_dir()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `cutover ARGS` with this run directory: (exit code, stdout, stderr).
    pub fn cutover(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env("XDG_RUNTIME_DIR", self.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `cutover ls` with this run directory, which must succeed: what it lists.
    pub fn ls(&self) -> String {
        let (code, ls, err) = self.cutover(&["ls"]);
        assert_eq!(code, Some(0), "{err}");
        ls
    }

    /// Stops every engine still listed; returns once they are gone.
    pub fn stop_engines(&self) {
        let engines = self.live_engines();
        let signal_live = |sig| {
            for &(pid, started) in &engines {
                if still_running((pid, started)) {
                    // SAFETY: signalling an engine this test started, checked just above.
                    unsafe { libc::kill(pid, sig) };
                }
            }
        };
        signal_live(libc::SIGTERM);
        let start = Instant::now();
        while engines.iter().any(|&e| still_running(e)) {
            if start.elapsed() > Duration::from_secs(10) {
                signal_live(libc::SIGKILL);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The wrapper shell's `/proc` state and the terminal's local modes, for a failure message.
fn wrapper_state(sh: Option<u32>, master: Option<i32>) -> String {
    let stat = sh.map(|p| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_else(|e| format!("gone: {e}"))
    });
    let modes = master.map(|fd| {
        // SAFETY: termios is plain old data, which tcgetattr fills for a descriptor the
        // terminal still holds.
        let (rc, t) = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            (libc::tcgetattr(fd, &mut t), t)
        };
        match rc {
            0 => format!(
                "icanon={} echo={} icrnl={}",
                t.c_lflag & libc::ICANON != 0,
                t.c_lflag & libc::ECHO != 0,
                t.c_iflag & libc::ICRNL != 0
            ),
            _ => format!("tcgetattr: {}", std::io::Error::last_os_error()),
        }
    });
    format!("\nwrapper shell: {stat:?}\nterminal: {modes:?}")
}

/// Whether the process `pid` that started at `started` (clock ticks since boot, field 22 of
/// its `stat`) still runs: alive, and not a later process given the same pid.
pub fn still_running((pid, started): (i32, u64)) -> bool {
    u32::try_from(pid).is_ok_and(|p| cutover_socket::rundir::still_running(p, Some(started)))
}

impl Drop for Runs {
    fn drop(&mut self) {
        self.stop_engines();
    }
}

/// The real binary in a pseudo-terminal, read into a vt100 screen by a thread.
pub struct Pty {
    pub parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    master: Box<dyn MasterPty + Send>,
    child: Box<dyn Child + Send + Sync>,
    /// The run directory, when this terminal made its own.
    _runs: Option<Runs>,
}

impl Pty {
    /// Runs `cutover run RUNBOOK --journal JOURNAL` with `env` in an 80x24 terminal.
    pub fn run(rb: &Path, journal: &Path, env: &[(&str, &str)]) -> Pty {
        let (rb, journal) = (rb.to_str().unwrap(), journal.to_str().unwrap());
        Pty::spawn(&["run", rb, "--journal", journal], env, 80, 24)
    }

    /// Runs `cutover ARGS...` under the wrapper shell in a `cols` x `rows` terminal. Without
    /// `XDG_RUNTIME_DIR` in `env`, the terminal gets a run directory of its own.
    pub fn spawn(args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Pty {
        let pair = open_pty(cols, rows);
        let mut cmd = CommandBuilder::new("sh");
        cmd.args(["-c", WRAPPER, "sh", BIN]);
        cmd.args(args);
        cmd.cwd(env!("CARGO_MANIFEST_DIR"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.env_remove("CUTOVER_DEBUG_PANIC");
        let runs = if env.iter().any(|(k, _)| *k == "XDG_RUNTIME_DIR") {
            None
        } else {
            let runs = Runs::new();
            cmd.env("XDG_RUNTIME_DIR", runs.path());
            Some(runs)
        };
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
            // Until end of file or an error.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().unwrap();
        Pty {
            parser,
            writer,
            master: pair.master,
            child,
            _runs: runs,
        }
    }

    /// `XDG_RUNTIME_DIR` of this terminal's own run directory, owned, for another terminal's
    /// environment.
    pub fn runs_env(&self) -> (&'static str, String) {
        let (k, v) = self.runs().env();
        (k, v.to_string())
    }

    /// The run directory of this terminal's engines (its own, when it made one).
    pub fn runs(&self) -> &Runs {
        self._runs
            .as_ref()
            .expect("this terminal shares another's run directory")
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Polls until `pred` holds for the screen, or fails showing the screen.
    pub fn wait_until(&self, what: &str, pred: impl Fn(&vt100::Screen) -> bool) {
        self.wait_until_or(what, pred, String::new);
    }

    /// As [`Pty::wait_until`]; a timeout also says what `more` tells.
    fn wait_until_or(
        &self,
        what: &str,
        pred: impl Fn(&vt100::Screen) -> bool,
        more: impl Fn() -> String,
    ) {
        let start = Instant::now();
        loop {
            {
                let p = self.parser.lock().unwrap();
                if pred(p.screen()) {
                    return;
                }
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "timed out waiting for {what}; screen:\n{}{}",
                    self.screen(),
                    more()
                );
            }
            std::thread::yield_now();
            std::thread::sleep(Duration::from_millis(10)); // poll interval, not a wait
        }
    }

    pub fn wait_for(&self, text: &str) {
        self.wait_until(&format!("{text:?}"), |s| s.contents().contains(text));
    }

    pub fn send(&mut self, bytes: &str) {
        self.writer.write_all(bytes.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits until the cockpit is ready to run step `n` `id`, presses enter and waits for
    /// the step to show `glyph` (▶ running, ✔ passed).
    pub fn enter_step(&mut self, n: usize, id: &str, glyph: &str) {
        self.wait_for(&format!("ready: enter runs step {n} {id}"));
        self.send("\r");
        self.wait_for(&format!("{glyph} {n} {id}"));
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.parser.lock().unwrap().set_size(nz(rows), nz(cols));
        self.master.resize(pty_size(cols, rows)).unwrap();
    }

    /// Presses q; cutover must exit with `code` and leave the terminal back to normal.
    pub fn quit(&mut self, code: i32) {
        self.send("q");
        self.assert_restored(code);
    }

    /// The screen must show `text`.
    pub fn assert_shows(&self, text: &str) {
        let screen = self.screen();
        assert!(screen.contains(text), "{screen}");
    }

    /// Presses q, waits for the LEAVE? question and answers `answer` (d detaches, e ends the
    /// run); cutover must exit with `code` and leave the terminal back to normal.
    pub fn leave(&mut self, answer: &str, code: i32) {
        self.send("q");
        self.wait_for("LEAVE?");
        self.send(answer);
        self.assert_restored(code);
    }

    /// cutover has exited with `code`; the terminal must be back to normal.
    pub fn assert_restored(&mut self, code: i32) {
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
        // Should the line never come back, say what became of the wrapper shell (stopped or
        // killed by a stray signal, or waiting) and the terminal's modes.
        let sh = self.child.process_id();
        let fd = self.master.as_raw_fd();
        self.wait_until_or(
            "\"GOT[usable]\"",
            |s| s.contents().contains("GOT[usable]"),
            || wrapper_state(sh, fd),
        );
        assert!(
            self.screen().contains("type> usable"),
            "typed text was not echoed:\n{}",
            self.screen()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "wrapper shell: {status:?}");
    }

    /// Stops cutover (SIGTSTP) and sees it give the terminal back (the normal screen, the
    /// cursor shown), then continues it (SIGCONT) and waits until it has the alternate screen
    /// again and shows `shows` (`redrawn` says what that is). Returns cutover's pid.
    pub fn suspend_and_resume(&self, redrawn: &str, shows: &str) -> i32 {
        let pid = self.cutover_pid();
        signal(pid, libc::SIGTSTP);
        self.wait_until("the normal screen while stopped", |s| {
            !s.alternate_screen() && !s.hide_cursor()
        });
        signal(pid, libc::SIGCONT);
        self.wait_until(redrawn, |s| {
            s.alternate_screen() && s.contents().contains(shows)
        });
        pid
    }

    /// The pid of cutover in this terminal (the wrapper shell's child).
    pub fn cutover_pid(&self) -> i32 {
        let sh = self.child.process_id().unwrap() as i32;
        let start = Instant::now();
        loop {
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Some(stat) = cutover_model::proc_stat::ProcStat::read(pid) else {
                    continue;
                };
                if stat.ppid() == Some(sh) && stat.comm == "cutover" {
                    return pid;
                }
            }
            assert!(start.elapsed() < DEADLINE, "no cutover child of {sh}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `cutover ARGS` on a bare pseudo-terminal whose master side only this test holds (its
/// controlling terminal, as after a login), so dropping it is the terminal vanishing.
pub struct RawTerm {
    term: std::fs::File,
    pub parser: vt100::Parser,
    pub child: std::process::Child,
}

impl RawTerm {
    /// Runs `cutover run RUNBOOK --journal JOURNAL` with `env`.
    pub fn run(rb: &Path, journal: &Path, env: &[(&str, &str)]) -> RawTerm {
        let (rb, journal) = (rb.to_str().unwrap(), journal.to_str().unwrap());
        RawTerm::spawn(&["run", rb, "--journal", journal], env)
    }

    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> RawTerm {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
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
        // SAFETY: fcntl on a descriptor we own: the master must not leak into the child, or
        // the terminal would stay open after this test drops it.
        unsafe { libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: both descriptors were just opened for us.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // SAFETY: non-blocking reads, so a wait can give up at its deadline.
        unsafe {
            let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(args)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::from(slave.try_clone().unwrap()))
            .stdout(std::process::Stdio::from(slave.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(slave));
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: setsid and the TIOCSCTTY ioctl are async-signal-safe; they make the pty
        // this child's controlling terminal, as a login does.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        // `cmd` (dropped here) held copies of the slave side.
        drop(cmd);
        RawTerm {
            term: std::fs::File::from(master),
            parser: vt100::Parser::new(nz(24), nz(80), 0),
            child,
        }
    }

    /// Reads the terminal until `text` is on the screen (or fails at the deadline).
    pub fn read_until(&mut self, text: &str) {
        let start = Instant::now();
        let mut buf = [0u8; 65536];
        while !self.parser.screen().contents().contains(text) {
            assert!(
                start.elapsed() < DEADLINE,
                "no {text:?}:\n{}",
                self.parser.screen().contents()
            );
            match self.term.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(10)),
                Ok(n) => self.parser.process(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10)); // poll interval
                }
                Err(e) => panic!("reading the terminal: {e}"),
            }
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.term.write_all(bytes).unwrap();
    }

    /// Reads until `text` is on the screen, then presses enter.
    pub fn enter_at(&mut self, text: &str) {
        self.read_until(text);
        self.send(b"\r");
    }

    /// The terminal vanishes under the running program; returns how it exited.
    pub fn vanish(self) -> std::process::ExitStatus {
        let RawTerm {
            term, mut child, ..
        } = self;
        drop(term);
        child.wait().unwrap()
    }
}
