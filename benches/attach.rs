//! Detached-engine benchmarks (figures, not pass/fail): `cargo bench --bench attach`.
//!
//! Drives the release binary in pseudo-terminals (portable-pty + vt100) and prints:
//! - `cutover attach` → first frame, on a run whose engine holds 10,000 lines of step output
//!   and 30 minutes of lag samples (a `command` probe; the engine publishes one a second, so
//!   this part waits 30 minutes), and the snapshot it was sent (events, bytes). Target
//!   (issue 12): < 200 ms.
//! - A stalled watcher: `cutover watch` stopped with SIGSTOP while a step floods
//!   `seq 10000000` (79 MB); the flood's wall time against `seq 10000000 > /dev/null`, per round
//!   side by side, with the stopped watcher attached and with no watcher at all (median ratios).
//!   Then a watcher stopped through a 50,000,000-line flood is continued: how long it takes to
//!   draw the run as it stands, and whether it was told it fell behind.
// `unsafe` here: signals (SIGSTOP, SIGCONT, SIGKILL) to the processes the bench started.
#![allow(unsafe_code)]

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Pty, durations, has_row, ms, private_runs, stats, stop_engines};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
/// The engine publishes a lag sample a second: 30 minutes of them, plus a margin
/// (`CUTOVER_BENCH_LAG_SECS` for a quicker look).
const LAG_SECS: u64 = 1_810;
const ATTACHES: usize = 10;
const ROUNDS: usize = 7;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = private_runs();
    let dir = tempfile::tempdir().expect("tempdir");
    println!("cutover detached-engine benchmarks ({BIN})");
    stalled_watcher(dir.path());
    stop_engines(runs.path());
    attach_first_frame(dir.path());
    stop_engines(runs.path());
}

/// What `cutover watch --json` prints within `window`: (events, bytes, of which output and lag
/// samples).
fn snapshot_counts(window: Duration) -> (usize, usize, usize, usize) {
    let mut child = Command::new(BIN)
        .args(["watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("watch --json");
    let out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut counts = (0, 0, 0, 0);
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            counts.0 += 1;
            counts.1 += line.len() + 1;
            if line.contains(r#""type":"output""#) {
                counts.2 += 1;
            }
            if line.contains(r#""type":"lag_sample""#) {
                counts.3 += 1;
            }
        }
        counts
    });
    std::thread::sleep(window);
    let _ = child.kill();
    let _ = child.wait();
    reader.join().expect("reader")
}

fn attach_first_frame(dir: &Path) {
    let rb = dir.join("attach.toml");
    std::fs::write(
        &rb,
        r#"[runbook]
name = "attach bench"

[lag]
method = "command"
command = "echo 3"
warn = 10
critical = 100
interval = "100ms"

[[step]]
id = "flood"
title = "Ten thousand lines"
run = "seq 1 10000"

[[step]]
id = "after"
title = "After"
run = "true"
"#,
    )
    .expect("write");
    let j = dir.join("attach.jsonl");
    let (mut t, _) = Pty::run(BIN, &rb, &j);
    t.contains("ready: enter runs step 1 flood");
    t.send("\r");
    t.row("✔", 1, "flood");
    t.send("q");
    t.contains("LEAVE?");
    t.send("d");
    let _ = t.child.wait();
    let secs = std::env::var("CUTOVER_BENCH_LAG_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LAG_SECS);
    println!("attach: collecting {secs} s of lag samples…");
    std::thread::sleep(Duration::from_secs(secs)); // the history being built
    let (events, bytes, outputs, lags) = snapshot_counts(Duration::from_secs(2));
    println!(
        "attach snapshot:            {events} events, {:.2} MB ({outputs} output chunks of 10,000 lines, {lags} lag samples)",
        bytes as f64 / 1e6
    );
    let mut frame = Vec::new();
    for _ in 0..ATTACHES {
        let (mut t, t0) = Pty::spawn(BIN, &["attach"]);
        // The whole state: the step passed, its output's tail, the lag pane, what comes next.
        let drawn = t.until(|s| {
            let c = s.contents();
            has_row(&c, "✔", 1, "flood")
                && c.contains("10000")
                && c.contains("ready: enter runs step 2 after")
                && !c.contains("no lag source")
        });
        frame.push(ms(drawn - t0));
        t.send("q");
        t.contains("LEAVE?");
        t.send("d");
        let _ = t.child.wait();
    }
    println!("attach → first frame:       {}", stats(frame));
}

fn stalled_watcher(dir: &Path) {
    let mut rb = String::from("[runbook]\nname = \"stalled watcher bench\"\n");
    for i in 1..=ROUNDS {
        for (id, run) in [
            (format!("base-{i}"), "seq 10000000 > /dev/null"),
            (format!("stalled-{i}"), "seq 10000000"),
            (format!("alone-{i}"), "seq 10000000"),
        ] {
            rb.push_str(&format!("\n[[step]]\nid = \"{id}\"\nrun = \"{run}\"\n"));
        }
    }
    rb.push_str("\n[[step]]\nid = \"big\"\nrun = \"seq 50000000\"\n");
    let path = dir.join("stalled.toml");
    std::fs::write(&path, rb).expect("write");
    let j = dir.join("stalled.jsonl");
    let (mut t, _) = Pty::run(BIN, &path, &j);
    let run = |t: &mut Pty, n: usize, id: &str| {
        t.contains(&format!("ready: enter runs step {n} {id}"));
        t.send("\r");
        t.row("✔", n, id);
    };
    let watcher = || {
        let (w, _) = Pty::spawn(BIN, &["watch"]);
        w.contains("WATCHING");
        let pid = w.pid();
        // SAFETY: stopping the watcher this benchmark started.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        (w, pid)
    };
    for i in 1..=ROUNDS {
        let n = 3 * i - 2;
        run(&mut t, n, &format!("base-{i}"));
        let (w, pid) = watcher();
        run(&mut t, n + 1, &format!("stalled-{i}"));
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        drop(w);
        run(&mut t, n + 2, &format!("alone-{i}"));
    }
    // A watcher stopped through a long flood, then continued.
    let (w, pid) = watcher();
    let big = 3 * ROUNDS + 1;
    run(&mut t, big, "big");
    let resumed = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let caught_up = w.until(|s| has_row(&s.contents(), "✔", big, "big"));
    let told = w.contents().contains("fell behind");
    let get = durations(&j);
    for kind in ["stalled", "alone"] {
        let mut ratios: Vec<f64> = (1..=ROUNDS)
            .map(|i| get(&format!("{kind}-{i}")) / get(&format!("base-{i}")).max(0.001))
            .collect();
        let each = (1..=ROUNDS)
            .map(|i| {
                format!(
                    "{:.1}/{:.1}",
                    get(&format!("{kind}-{i}")),
                    get(&format!("base-{i}"))
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        ratios.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let label = if kind == "stalled" {
            "flood ÷ baseline, stopped watcher:"
        } else {
            "flood ÷ baseline, no watcher:     "
        };
        println!(
            "{label} median {:.2}x over {ROUNDS} rounds (flood/baseline ms: {each})",
            ratios[ratios.len() / 2]
        );
    }
    println!(
        "watcher stopped through seq 50000000 ({:.0} ms), continued: caught up in {:.0} ms{}",
        get("big"),
        ms(caught_up - resumed),
        if told { " (told it fell behind)" } else { "" }
    );
    drop(w);
    common::end_run(&mut t);
}
