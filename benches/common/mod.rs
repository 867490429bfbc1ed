//! What the pty benchmarks share: the release binary in a pseudo-terminal read into a vt100
//! screen (waits wake on each parsed chunk, no polling), statistics, and /proc readings.
#![allow(dead_code)]
// `unsafe` here: libc signals to the processes a benchmark started; set_var before any thread.
#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// The screen as parsed so far, and a signal for each piece of output parsed.
pub type Shared = Arc<(Mutex<vt100::Parser>, Condvar)>;

pub struct Pty {
    pub parser: Shared,
    writer: Box<dyn Write + Send>,
    _master: Box<dyn MasterPty + Send>,
    pub child: Box<dyn Child + Send + Sync>,
}

impl Pty {
    /// `BIN run RUNBOOK --journal JOURNAL`.
    pub fn run(bin: &str, runbook: &Path, journal: &Path) -> (Pty, Instant) {
        let (rb, j) = (
            runbook.to_str().expect("utf8"),
            journal.to_str().expect("utf8"),
        );
        Pty::spawn(bin, &["run", rb, "--journal", j])
    }

    pub fn spawn(bin: &str, args: &[&str]) -> (Pty, Instant) {
        Pty::spawn_sized(bin, args, 80, 24)
    }

    /// `spawn` in a terminal of `cols` x `rows`.
    pub fn spawn_sized(bin: &str, args: &[&str], cols: u16, rows: u16) -> (Pty, Instant) {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(bin);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        let parser: Shared = Arc::new((
            Mutex::new(vt100::Parser::new(
                NonZeroU16::new(rows).expect("rows"),
                NonZeroU16::new(cols).expect("cols"),
                0,
            )),
            Condvar::new(),
        ));
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.0.lock().expect("lock").process(&buf[..n]);
                p.1.notify_all();
            }
        });
        let t0 = Instant::now();
        let child = pair.slave.spawn_command(cmd).expect("spawn");
        drop(pair.slave);
        let writer = pair.master.take_writer().expect("writer");
        (
            Pty {
                parser,
                writer,
                _master: pair.master,
                child,
            },
            t0,
        )
    }

    /// Waits until the screen satisfies `pred`, checking each time output is parsed (no
    /// polling: the benchmark stays off the CPU it measures).
    pub fn until(&self, pred: impl Fn(&vt100::Screen) -> bool) -> Instant {
        self.until_within(pred, Duration::from_secs(120))
            .unwrap_or_else(|screen| panic!("timed out:\n{screen}"))
    }

    /// `until`, giving up after `limit`: then the screen as it stands is returned.
    pub fn until_within(
        &self,
        pred: impl Fn(&vt100::Screen) -> bool,
        limit: Duration,
    ) -> Result<Instant, String> {
        let deadline = Instant::now() + limit;
        let (lock, parsed) = &*self.parser;
        let mut p = lock.lock().expect("lock");
        loop {
            if pred(p.screen()) {
                return Ok(Instant::now());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(p.screen().contents());
            }
            p = parsed
                .wait_timeout(p, left.min(Duration::from_millis(100)))
                .expect("lock")
                .0;
        }
    }

    pub fn contains(&self, text: &str) -> Instant {
        self.until(|s| s.contents().contains(text))
    }

    /// Waits for the steps list to show step `n` `id` with `glyph`.
    pub fn row(&self, glyph: &str, n: usize, id: &str) -> Instant {
        self.until(|s| has_row(&s.contents(), glyph, n, id))
    }

    pub fn contents(&self) -> String {
        self.parser.0.lock().expect("lock").screen().contents()
    }

    pub fn send(&mut self, s: &str) -> Instant {
        self.try_send(s).expect("write")
    }

    /// `send`, saying rather than panicking when the terminal is gone. The time returned is
    /// taken before the write: a key that waits in a full terminal counts in its latency.
    pub fn try_send(&mut self, s: &str) -> std::io::Result<Instant> {
        let at = Instant::now();
        self.writer.write_all(s.as_bytes())?;
        self.writer.flush()?;
        Ok(at)
    }

    /// Presses `?` and waits for the help overlay, then esc and waits for it to go, `pause`
    /// after each frame; returns both key-to-frame latencies in ms.
    pub fn help_round_trip(&mut self, pause: Duration) -> [f64; 2] {
        let sent = self.send("?");
        let shown = self.contains("KEYS");
        std::thread::sleep(pause);
        let sent_esc = self.send("\x1b");
        let gone = self.until(|s| !s.contents().contains("KEYS"));
        std::thread::sleep(pause);
        [ms(shown - sent), ms(gone - sent_esc)]
    }

    pub fn pid(&self) -> i32 {
        self.child.process_id().expect("pid") as i32
    }
}

/// Whether the steps list (the left pane: a row up to its second `│`) shows step `n` `id`
/// with `glyph` (numbers are padded to line up).
pub fn has_row(screen: &str, glyph: &str, n: usize, id: &str) -> bool {
    let want = format!(" {n} {id} ");
    screen.lines().any(|l| {
        let end = l.match_indices('│').nth(1).map_or(l.len(), |(i, _)| i);
        let list = &l[..end];
        list.contains(glyph) && list.contains(&want)
    })
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n == 0 {
        return "no samples".into();
    }
    format!(
        "n={n} median {:.1} ms · p90 {:.1} ms · max {:.1} ms",
        v[n / 2],
        v[(n * 9 / 10).min(n - 1)],
        v[n - 1]
    )
}

pub fn proc_status_kb(pid: i32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process (its own, not its children's), in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    cutover_model::proc_stat::ProcStat::read(pid).map_or(0, |s| s.cpu_ticks())
}

/// The journal's step durations: how long step `id` took, in ms to the microsecond (0 if it
/// did not finish): from the start its `step_started` record gives to the time of its
/// `step_finished` record. The records' own `duration_ms` is whole milliseconds, too coarse
/// for steps of 10 ms (a truncated 9.9 ms baseline alone moves a ratio by a tenth).
pub fn durations(journal: &Path) -> impl Fn(&str) -> f64 {
    let time = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let mut started = std::collections::HashMap::new();
    let mut d: Vec<(String, f64)> = Vec::new();
    for v in std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        let id = v["id"].as_str().unwrap_or("").to_string();
        if v["type"] == "step_started" {
            started.insert(id, time(&v["at"]));
        } else if v["type"] == "step_finished" {
            let precise = started.get(&id).copied().flatten().zip(time(&v["ts"]));
            let ms = precise.map_or(v["duration_ms"].as_f64().unwrap_or(0.0), |(s, f)| {
                (f - s).num_microseconds().unwrap_or(0) as f64 / 1000.0
            });
            d.push((id, ms));
        }
    }
    move |id| d.iter().find(|(i, _)| i == id).map_or(0.0, |(_, v)| *v)
}

/// A benchmark's private run directory (`XDG_RUNTIME_DIR`), which every engine it starts
/// inherits. Dropping it stops those engines (SIGTERM), also when the benchmark panics: a
/// detached engine would otherwise outlive it.
pub struct PrivateRuns(tempfile::TempDir);

impl PrivateRuns {
    /// The directory.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for PrivateRuns {
    fn drop(&mut self) {
        stop_engines(self.path());
    }
}

/// Gives this benchmark a private run directory that every engine it starts inherits; keep it
/// alive while the engines run (dropping it stops them).
pub fn private_runs() -> PrivateRuns {
    let runs = tempfile::tempdir().expect("tempdir");
    // SAFETY: called first thing in main, before any thread is started.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", runs.path()) };
    PrivateRuns(runs)
}

/// The pids of the engines listed in the run directory `runs` (`$XDG_RUNTIME_DIR`).
pub fn engine_pids(runs: &Path) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir(runs.join("cutover")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter_map(|m| m["pid"].as_i64())
        .map(|p| p as i32)
        .collect()
}

/// Stops every engine still listed in `runs` (SIGTERM) and waits for their descriptions to go.
pub fn stop_engines(runs: &Path) {
    for pid in engine_pids(runs) {
        // SAFETY: signalling an engine this benchmark started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !engine_pids(runs).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Leaves the cockpit ending the run: `q`, then `e` at this build's LEAVE? question (or `y` at
/// an older build's QUIT?, which had no detached engine); waits for the program to exit.
pub fn end_run(t: &mut Pty) {
    t.send("q");
    t.until(|s| {
        let c = s.contents();
        c.contains("LEAVE?") || c.contains("QUIT?") || !s.alternate_screen()
    });
    let c = t.contents();
    if c.contains("LEAVE?") {
        t.send("e");
    } else if c.contains("QUIT?") {
        t.send("y");
    }
    let _ = t.child.wait();
}

/// Writes every dirty page on the machine to disk (`sync`) and waits for it, so a part of a
/// benchmark does not pay for the output files an earlier part left to the kernel's writeback
/// (each flood writes 7 MB): the parts compared side by side start from the same state.
pub fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
}
