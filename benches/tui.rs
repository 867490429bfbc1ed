//! Cockpit benchmarks (figures, not pass/fail): `cargo bench --bench tui`.
//!
//! Drives the release binary in a pseudo-terminal (portable-pty + vt100) and prints:
//! - start to first frame (process spawn → first frame on the alternate screen, and → plan shown);
//! - key-to-frame latency while a step floods `seq 1000000` (press `?`, wait for the help
//!   overlay; press esc, wait for it to go; a key 5 ms after the last frame) and while
//!   `seq 10000000` floods (keys back to back); peak RSS (VmHWM) of the cockpit after both;
//! - the flood step's wall time against `seq 1000000 > /dev/null` in the same run (from the
//!   journal): rounds of baseline, flood with keys pressed, flood without keys; the median of
//!   the per-round ratios; the same flood under `--headless --json > /dev/null` and under the
//!   engine with a null front end for comparison;
//! - CPU of the idle cockpit while a `sleep` step runs.
//!
//! `CUTOVER_BENCH_BEFORE=/path/to/an/older/cutover` also runs the pty and headless parts against
//! that binary first, so before/after figures come from the same run on the same machine.
//!
//! Targets (issue 4): latency < 100 ms, RSS < 100 MB, flood ≤ 1.5x baseline, idle CPU < 1 %,
//! first frame < 50 ms.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const IDLE_SECS: u64 = 10;

/// The screen as parsed so far, and a signal for each piece of output parsed.
type Shared = Arc<(Mutex<vt100::Parser>, Condvar)>;

struct Pty {
    parser: Shared,
    writer: Box<dyn Write + Send>,
    _master: Box<dyn MasterPty + Send>,
    child: Box<dyn Child + Send + Sync>,
}

impl Pty {
    /// `BIN run RUNBOOK --journal JOURNAL`.
    fn run(bin: &str, runbook: &Path, journal: &Path) -> (Pty, Instant) {
        let (rb, j) = (
            runbook.to_str().expect("utf8"),
            journal.to_str().expect("utf8"),
        );
        Pty::spawn(bin, &["run", rb, "--journal", j])
    }

    fn spawn(bin: &str, args: &[&str]) -> (Pty, Instant) {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 24,
                cols: 80,
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
                NonZeroU16::new(24).expect("24"),
                NonZeroU16::new(80).expect("80"),
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
    fn until(&self, pred: impl Fn(&vt100::Screen) -> bool) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(120);
        let (lock, parsed) = &*self.parser;
        let mut p = lock.lock().expect("lock");
        loop {
            if pred(p.screen()) {
                return Instant::now();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out:\n{}", p.screen().contents());
            p = parsed
                .wait_timeout(p, left.min(Duration::from_millis(100)))
                .expect("lock")
                .0;
        }
    }

    fn contains(&self, text: &str) -> Instant {
        self.until(|s| s.contents().contains(text))
    }

    /// Waits for the steps list to show step `n` `id` with `glyph`.
    fn row(&self, glyph: &str, n: usize, id: &str) -> Instant {
        self.until(|s| has_row(&s.contents(), glyph, n, id))
    }

    fn contents(&self) -> String {
        self.parser.0.lock().expect("lock").screen().contents()
    }

    fn send(&mut self, s: &str) -> Instant {
        self.writer.write_all(s.as_bytes()).expect("write");
        self.writer.flush().expect("flush");
        Instant::now()
    }

    /// Presses `?` and waits for the help overlay, then esc and waits for it to go, `pause`
    /// after each frame; returns both key-to-frame latencies in ms.
    fn help_round_trip(&mut self, pause: Duration) -> [f64; 2] {
        let sent = self.send("?");
        let shown = self.contains("KEYS");
        std::thread::sleep(pause);
        let sent_esc = self.send("\x1b");
        let gone = self.until(|s| !s.contents().contains("KEYS"));
        std::thread::sleep(pause);
        [ms(shown - sent), ms(gone - sent_esc)]
    }

    fn pid(&self) -> i32 {
        self.child.process_id().expect("pid") as i32
    }
}

/// Whether the steps list (the left pane: a row up to its second `│`) shows step `n` `id`
/// with `glyph` (numbers are padded to line up).
fn has_row(screen: &str, glyph: &str, n: usize, id: &str) -> bool {
    let want = format!(" {n} {id} ");
    screen.lines().any(|l| {
        let end = l.match_indices('│').nth(1).map_or(l.len(), |(i, _)| i);
        let list = &l[..end];
        list.contains(glyph) && list.contains(&want)
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<f64>) -> String {
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

fn proc_status_kb(pid: i32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process and its reaped children, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let f: Vec<&str> = stat[close + 2..].split(' ').collect();
    // After "pid (comm) ": state=0 ... utime=11 stime=12.
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// The journal's step durations: how long step `id` took, in ms (0 if it did not finish).
fn durations(journal: &Path) -> impl Fn(&str) -> u64 {
    let d: Vec<(String, u64)> = std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "step_finished")
        .map(|v| {
            (
                v["id"].as_str().unwrap_or("").to_string(),
                v["duration_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    move |id| d.iter().find(|(i, _)| i == id).map_or(0, |(_, v)| *v)
}

/// Flood rounds: `seq > /dev/null`, then the flood with keys pressed, then the flood with no
/// keys; ratios are taken within a round (side by side) and the median over rounds is reported.
const ROUNDS: usize = 11;
/// Pause after each frame during a keyed flood: about 150 keys/s, far faster than anyone types
/// or a key repeats.
const KEY_PAUSE: Duration = Duration::from_millis(5);
/// A longer flood (69 MB) with keys pressed back to back: many latency samples, and peak RSS
/// after far more output than the cockpit keeps.
const BIG: u64 = 10_000_000;

fn write_runbook(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("bench.toml");
    let mut rb = String::from("[runbook]\nname = \"bench\"\n");
    for i in 1..=ROUNDS {
        rb.push_str(&format!(
            r#"
[[step]]
id = "base-{i}"
title = "seq to /dev/null"
run = "seq 1000000 > /dev/null"

[[step]]
id = "keys-{i}"
title = "seq to the cockpit, keys pressed"
run = "seq 1000000"

[[step]]
id = "quiet-{i}"
title = "seq to the cockpit, no keys pressed"
run = "seq 1000000"
"#
        ));
    }
    rb.push_str(&format!(
        r#"
[[step]]
id = "big-base"
title = "ten times the flood to /dev/null"
run = "seq {BIG} > /dev/null"

[[step]]
id = "big"
title = "ten times the flood to the cockpit, keys pressed back to back"
run = "seq {BIG}"

[[step]]
id = "nap"
title = "idle"
run = "sleep {}"
"#,
        IDLE_SECS + 5
    ));
    std::fs::write(&p, rb).expect("write runbook");
    p
}

fn first_frame(bin: &str, dir: &Path, rb: &Path) {
    let mut to_frame = Vec::new();
    let mut to_plan = Vec::new();
    for i in 0..10 {
        let j = dir.join(format!("start{i}.jsonl"));
        let _ = std::fs::remove_file(&j);
        let (mut t, t0) = Pty::run(bin, rb, &j);
        let frame = t.until(|s| {
            let c = s.contents();
            s.alternate_screen() && (c.contains("cutover") || c.contains("STEPS"))
        });
        let plan = t.contains("ready: enter runs step 1");
        to_frame.push(ms(frame - t0));
        to_plan.push(ms(plan - t0));
        t.send("q");
        let _ = t.child.wait();
    }
    println!("start → first frame:        {}", stats(to_frame));
    println!("start → plan on screen:     {}", stats(to_plan));
}

fn flood_and_idle(bin: &str, dir: &Path, rb: &Path) {
    let j = dir.join("flood.jsonl");
    let _ = std::fs::remove_file(&j);
    let (mut t, _) = Pty::run(bin, rb, &j);
    let pid = t.pid();
    let mut lat = Vec::new();
    for i in 1..=ROUNDS {
        let n = 3 * i - 2;
        for (n, id) in [(n, format!("base-{i}")), (n + 2, format!("quiet-{i}"))] {
            if id.starts_with("quiet") {
                let keys = format!("keys-{i}");
                t.contains(&format!("ready: enter runs step {} {keys}", n - 1));
                t.send("\r");
                t.row("▶", n - 1, &keys);
                while !has_row(&t.contents(), "✔", n - 1, &keys) {
                    lat.extend(t.help_round_trip(KEY_PAUSE));
                }
            }
            t.contains(&format!("ready: enter runs step {n} {id}"));
            t.send("\r");
            t.row("✔", n, &id);
        }
    }
    let big = 3 * ROUNDS + 2;
    t.contains(&format!("ready: enter runs step {} big-base", big - 1));
    t.send("\r");
    t.contains(&format!("ready: enter runs step {big} big"));
    t.send("\r");
    t.row("▶", big, "big");
    let mut big_lat = Vec::new();
    while !has_row(&t.contents(), "✔", big, "big") {
        big_lat.extend(t.help_round_trip(Duration::ZERO));
    }
    let nap = big + 1;
    t.contains(&format!("ready: enter runs step {nap} nap"));
    let hwm_kb = proc_status_kb(pid, "VmHWM:");
    println!("key → frame, seq 1000000:   {}", stats(lat));
    println!(
        "key → frame, seq {BIG}:  {} (keys back to back)",
        stats(big_lat)
    );
    println!(
        "peak RSS (VmHWM):           {:.1} MB",
        hwm_kb as f64 / 1024.0
    );
    // Idle: the nap step runs; only the 1 Hz clock redraws.
    t.send("\r");
    t.row("▶", nap, "nap");
    let c0 = cpu_ticks(pid);
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(IDLE_SECS)); // the measurement window itself
    let c1 = cpu_ticks(pid);
    let secs = w0.elapsed().as_secs_f64();
    let hz = 100.0; // USER_HZ on Linux
    println!(
        "idle CPU (sleep step):      {:.2} % of one core over {secs:.1}s",
        (c1 - c0) as f64 / hz / secs * 100.0
    );
    t.send("q");
    t.contains("Quitting cancels it");
    t.send("y");
    let _ = t.child.wait();
    let get = durations(&j);
    for kind in ["keys", "quiet"] {
        let rounds: Vec<(u64, u64)> = (1..=ROUNDS)
            .map(|i| (get(&format!("base-{i}")), get(&format!("{kind}-{i}"))))
            .collect();
        let mut ratios: Vec<f64> = rounds
            .iter()
            .map(|&(b, f)| f as f64 / b.max(1) as f64)
            .collect();
        let each = rounds
            .iter()
            .zip(&ratios)
            .map(|((b, f), r)| format!("{f}/{b} {r:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        ratios.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let label = if kind == "keys" {
            "flood ÷ baseline, keys:   "
        } else {
            "flood ÷ baseline, no keys:"
        };
        println!(
            "{label} median {:.2}x over {ROUNDS} rounds (flood/baseline ms: {each})",
            ratios[ratios.len() / 2]
        );
    }
    let (bb, b) = (get("big-base"), get("big"));
    println!(
        "seq {BIG}, keys back to back: {b} ms vs {bb} ms to /dev/null ({:.2}x)",
        b as f64 / bb.max(1) as f64
    );
}

fn headless_flood(bin: &str, dir: &Path) {
    let rb = dir.join("headless.toml");
    std::fs::write(
        &rb,
        "[runbook]\nname = \"h\"\n\n[[step]]\nid = \"baseline\"\ntitle = \"b\"\nrun = \"seq 1000000 > /dev/null\"\n\n[[step]]\nid = \"flood\"\ntitle = \"f\"\nrun = \"seq 1000000\"\n",
    )
    .expect("write");
    let j = dir.join("headless.jsonl");
    let _ = std::fs::remove_file(&j);
    let status = std::process::Command::new(bin)
        .args([
            "run",
            rb.to_str().expect("utf8"),
            "--headless",
            "--json",
            "--journal",
            j.to_str().expect("utf8"),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("headless");
    assert!(status.success());
    let get = durations(&j);
    println!(
        "same flood, --headless --json > /dev/null: {} ms vs {} ms baseline",
        get("flood"),
        get("baseline")
    );
}

/// The engine alone, its events dropped as fast as they come: the floor for any front end.
fn null_front_end(dir: &Path) {
    use cutover_engine::{Engine, EngineOptions, JournalChoice};
    use cutover_model::protocol::Operator;
    use cutover_model::runbook::Runbook;
    let rb_path = dir.join("headless.toml");
    let rb = Runbook::load(&rb_path, &Default::default()).expect("runbook");
    let j = dir.join("null.jsonl");
    let engine = Engine::prepare(
        rb,
        EngineOptions {
            journal: JournalChoice::New(j.clone()),
            accept_changed_runbook: false,
            operator: Operator::from_env(),
        },
    )
    .expect("prepare");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let events = rt.block_on(async {
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(16);
        let (ev_tx, mut ev_rx) = tokio::sync::mpsc::channel(1024);
        let task = tokio::spawn(engine.run(cmd_rx, ev_tx));
        let mut events = 0usize;
        while let Some(ev) = ev_rx.recv().await {
            match ev {
                cutover_model::protocol::Event::Ready { .. } => {
                    let _ = cmd_tx.send(cutover_model::protocol::Command::RunNext).await;
                }
                cutover_model::protocol::Event::Output { .. } => events += 1,
                _ => {}
            }
        }
        let _ = task.await;
        events
    });
    let get = durations(&j);
    println!(
        "same flood, engine with a null front end: {} ms vs {} ms baseline ({events} output events)",
        get("flood"),
        get("baseline")
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: only measure on bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_runbook(dir.path());
    if let Ok(before) = std::env::var("CUTOVER_BENCH_BEFORE") {
        println!("--- before: {before}");
        first_frame(&before, dir.path(), &rb);
        flood_and_idle(&before, dir.path(), &rb);
        headless_flood(&before, dir.path());
        println!("--- this build:");
    }
    println!("cutover cockpit benchmarks ({BIN})");
    first_frame(BIN, dir.path(), &rb);
    flood_and_idle(BIN, dir.path(), &rb);
    headless_flood(BIN, dir.path());
    null_front_end(dir.path());
}
