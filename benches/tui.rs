//! Cockpit benchmarks (figures, not pass/fail): `cargo bench --bench tui`.
//!
//! Drives the release binary in a pseudo-terminal (portable-pty + vt100) and prints:
//! - start to first frame (process spawn → first frame on the alternate screen, and → plan shown);
//! - key-to-frame latency while a step floods `seq 1000000` (press `?`, wait for the help
//!   overlay; press esc, wait for it to go; a key 5 ms after the last frame) and while
//!   `seq 10000000` floods (keys back to back); peak RSS (VmHWM) of the cockpit after both;
//! - the flood step's wall time against `seq 1000000 > /dev/null` in the same run (from the
//!   journal): rounds of baseline, flood with keys pressed, flood without keys; the median of
//!   the per-round ratios, the first rounds (warm-up) left out; in rounds too, the same flood
//!   under `--headless --json > /dev/null`, under the engine with a null front end, and behind
//!   its socket with a terminal that drops what it is sent (every line, and the cockpit's
//!   tail), so the cost of each hop shows;
//! - CPU of the idle cockpit while a `sleep` step runs;
//! - the engine's peak RSS while a `watch --json` that reads nothing watches a `seq 10000000`
//!   flood (what a stalled terminal makes the engine hold).
//!
//! `CUTOVER_BENCH_BEFORE=/path/to/an/older/cutover` also runs the pty and headless parts against
//! that binary first, so before/after figures come from the same run on the same machine. Each
//! flood part starts after a `sync`, so none pays for the output files of the part before, and
//! the cockpit's floods run a second time in the other order (this build, then the older one):
//! the last lines give each binary's median over both passes.
//!
//! Targets (issue 4): latency < 100 ms, RSS < 100 MB, flood ≤ 1.5x baseline, idle CPU < 1 %,
//! first frame < 50 ms.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Pty, cpu_ticks, durations, end_run, engine_pids, has_row, ms, private_runs, proc_status_kb,
    settle_disk, stats, stop_engines,
};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const IDLE_SECS: u64 = 10;

/// Flood rounds: `seq > /dev/null`, then the flood with keys pressed, then the flood with no
/// keys; ratios are taken within a round (side by side) and the median over rounds is reported.
/// The first [`WARMUP`] of them run but are not counted.
const ROUNDS: usize = 17;
/// Rounds that only warm up: the first floods of a freshly started binary pay for page faults
/// in its code and for its allocator's growth (they ran 0.3–0.7x slower than the rest), which
/// says nothing about a flood in a run that has been going a while.
const WARMUP: usize = 2;
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
        for (id, title, run) in [
            ("base", "seq to /dev/null", "seq 1000000 > /dev/null"),
            ("keys", "seq to the cockpit, keys pressed", "seq 1000000"),
            (
                "quiet",
                "seq to the cockpit, no keys pressed",
                "seq 1000000",
            ),
        ] {
            rb.push_str(&step(&format!("{id}-{i}"), title, run));
        }
    }
    for (id, title, run) in [
        (
            "big-base",
            "ten times the flood to /dev/null",
            format!("seq {BIG} > /dev/null"),
        ),
        (
            "big",
            "ten times the flood to the cockpit, keys pressed back to back",
            format!("seq {BIG}"),
        ),
        ("nap", "idle", format!("sleep {}", IDLE_SECS + 5)),
    ] {
        rb.push_str(&step(id, title, &run));
    }
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
        // Leave, ending the run (the engine exits once this terminal has seen the end).
        end_run(&mut t);
    }
    println!("start → first frame:        {}", stats(to_frame));
    println!("start → plan on screen:     {}", stats(to_plan));
}

/// The cockpit part: key latency, RSS, idle CPU and the flood rounds; returns the counted
/// rounds' flood ÷ baseline ratios, with keys and without.
fn flood_and_idle(bin: &str, dir: &Path, rb: &Path, runs: &Path) -> [Vec<f64>; 2] {
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
        "cockpit peak RSS (VmHWM):   {:.1} MB",
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
    let engine_hwm_kb = engine_pids(runs)
        .first()
        .map_or(0, |&p| proc_status_kb(p, "VmHWM:"));
    println!(
        "engine peak RSS (VmHWM):    {:.1} MB",
        engine_hwm_kb as f64 / 1024.0
    );
    end_run(&mut t);
    let get = durations(&j);
    let mut both: [Vec<f64>; 2] = Default::default();
    for (k, kind) in ["keys", "quiet"].into_iter().enumerate() {
        let rounds: Vec<(f64, f64)> = (WARMUP + 1..=ROUNDS)
            .map(|i| (get(&format!("base-{i}")), get(&format!("{kind}-{i}"))))
            .collect();
        let ratios: Vec<f64> = rounds.iter().map(|&(b, f)| f / b.max(0.001)).collect();
        let each = rounds
            .iter()
            .zip(&ratios)
            .map(|((b, f), r)| format!("{f:.1}/{b:.1} {r:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        let label = if kind == "keys" {
            "flood ÷ baseline, keys:   "
        } else {
            "flood ÷ baseline, no keys:"
        };
        println!(
            "{label} median {:.2}x over {} rounds after {WARMUP} to warm up (flood/baseline ms: {each})",
            median(ratios.clone()),
            ratios.len()
        );
        both[k] = ratios;
    }
    let (bb, b) = (get("big-base"), get("big"));
    println!(
        "seq {BIG}, keys back to back: {b:.1} ms vs {bb:.1} ms to /dev/null ({:.2}x)",
        b / bb.max(0.001)
    );
    both
}

/// A runbook's step `id`, titled `title`, that runs `run`; a blank line before it.
fn step(id: &str, title: &str, run: &str) -> String {
    format!("\n[[step]]\nid = \"{id}\"\ntitle = \"{title}\"\nrun = \"{run}\"\n")
}

/// The median of `v`.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn headless_flood(bin: &str, dir: &Path) {
    let rb = dir.join("headless.toml");
    std::fs::write(&rb, hop_runbook()).expect("write");
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
    println!(
        "same flood, --headless --json > /dev/null: {}",
        hop_rounds(&j)
    );
}

/// Rounds of the flood for each hop's figure (a baseline step, then the flood step); the first
/// [`WARMUP`] are not counted.
const HOP_ROUNDS: usize = 11;

/// The runbook of the hop figures: [`HOP_ROUNDS`] rounds of `baseline-N` (`seq 1000000 >
/// /dev/null`) and `flood-N` (`seq 1000000`).
fn hop_runbook() -> String {
    let mut rb = String::from("[runbook]\nname = \"h\"\n");
    for i in 1..=HOP_ROUNDS {
        rb.push_str(&format!(
            "\n[[step]]\nid = \"baseline-{i}\"\nrun = \"seq 1000000 > /dev/null\"\n\n[[step]]\nid = \"flood-{i}\"\nrun = \"seq 1000000\"\n"
        ));
    }
    rb
}

/// The hop's rounds from its journal: the median ratio, and the median flood and baseline.
fn hop_rounds(journal: &Path) -> String {
    let get = durations(journal);
    let (mut floods, mut bases, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in WARMUP + 1..=HOP_ROUNDS {
        let (b, f) = (get(&format!("baseline-{i}")), get(&format!("flood-{i}")));
        floods.push(f);
        bases.push(b);
        ratios.push(f / b.max(0.001));
    }
    format!(
        "median {:.2}x over {} rounds ({:.1} ms vs {:.1} ms baseline)",
        median(ratios.clone()),
        ratios.len(),
        median(floods),
        median(bases)
    )
}

/// The engine alone, its events dropped as fast as they come: the floor for any front end.
fn null_front_end(dir: &Path) {
    let j = dir.join("null.jsonl");
    let engine = prepared(dir, &j);
    let rt = runtime();
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
    println!(
        "same flood, engine with a null front end: {} ({events} output events)",
        hop_rounds(&j)
    );
}

/// The engine behind its socket, with one terminal that reads every event and drops it: the
/// cost of the socket hop, for a terminal that is sent every line (`watch --json`) and for one
/// that keeps the cockpit's tail.
fn socket_flood(dir: &Path) {
    use cutover_model::protocol::{Command, Event, Incoming, Operator};
    use cutover_socket::{client, rundir, server, wire::Want};
    let tails = [
        ("every line", None),
        (
            "the cockpit's tail",
            Some(cutover_cockpit::app::output::OUTPUT_CAP),
        ),
    ];
    for (i, (label, tail)) in tails.into_iter().enumerate() {
        let runs = dir.join(format!("runs-{i}"));
        std::fs::create_dir(&runs).expect("run dir");
        std::fs::set_permissions(&runs, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("0700");
        let j = dir.join(format!("socket-{i}.jsonl"));
        let engine = prepared(dir, &j);
        let rt = runtime();
        rt.block_on(async {
            let pid = std::process::id();
            let listening = server::listen(server::ServeOptions {
                dir: runs,
                meta: rundir::RunMeta {
                    id: format!("bench-{i}"),
                    pid,
                    pid_start: rundir::start_time(pid),
                    journal: j.display().to_string(),
                    runbook: "h".into(),
                    started_at: chrono::Utc::now(),
                    resumable: true,
                    fleet: false,
                },
                shared: None,
                linger: Duration::from_secs(5),
                claim: None,
                output_cap: None,
            })
            .expect("listen");
            let socket = listening.socket.clone();
            let serving = tokio::spawn(listening.serve(engine));
            let want = Want::Control { take_over: false };
            let joined = client::join(&socket, want, Operator::from_env(), tail)
                .await
                .expect("join");
            let (commands, mut events) = joined.bridge();
            while let Some(inc) = events.recv().await {
                let ready = match &inc {
                    Incoming::Snapshot(evs) => evs.iter().any(|e| matches!(e, Event::Ready { .. })),
                    Incoming::Event(Event::Ready { .. }) => true,
                    Incoming::Event(Event::RunFinished { .. }) => break,
                    _ => false,
                };
                if ready {
                    let _ = commands.send(Command::RunNext).await;
                }
            }
            drop((commands, events));
            let _ = serving.await;
        });
        println!("same flood, engine + socket, {label}: {}", hop_rounds(&j));
    }
}

/// Engine peak RSS while a `watch --json` that reads nothing (a stalled SSH session, a pipe
/// into a pager left open) watches the cockpit run a `seq 10000000` flood: what a terminal that
/// stops reading makes the engine hold.
fn stalled_watcher(bin: &str, dir: &Path, runs: &Path) {
    let rb = dir.join("stalled.toml");
    let text = format!(
        "[runbook]\nname = \"stalled\"\n\n[[step]]\nid = \"big\"\nrun = \"seq {BIG}\"\n\n\
         [[step]]\nid = \"nap\"\nrun = \"sleep 30\"\n"
    );
    std::fs::write(&rb, text).expect("write runbook");
    let j = dir.join("stalled.jsonl");
    let (mut t, _) = Pty::run(bin, &rb, &j);
    t.contains("ready: enter runs step 1 big");
    // Its stdout is a pipe nobody reads: once the pipe is full, it reads no more of the socket.
    let mut watcher = std::process::Command::new(bin)
        .args(["watch", "--json"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("watch --json");
    let attached =
        |j: &Path| std::fs::read_to_string(j).is_ok_and(|s| s.contains(r#""role":"watch""#));
    while !attached(&j) {
        std::thread::sleep(Duration::from_millis(20));
    }
    t.send("\r");
    t.row("✔", 1, "big");
    let hwm_kb = engine_pids(runs)
        .first()
        .map_or(0, |&p| proc_status_kb(p, "VmHWM:"));
    let _ = watcher.kill();
    let _ = watcher.wait();
    end_run(&mut t);
    println!(
        "engine peak RSS, a stalled `watch --json` through seq {BIG}: {:.1} MB",
        hwm_kb as f64 / 1024.0
    );
}

/// The headless runbook in `dir`, prepared with journal `journal`.
fn prepared(dir: &Path, journal: &Path) -> cutover_engine::Engine {
    use cutover_engine::{Engine, EngineOptions, JournalChoice};
    use cutover_model::protocol::Operator;
    use cutover_model::runbook::Runbook;
    let rb = Runbook::load(&dir.join("headless.toml"), &Default::default()).expect("runbook");
    Engine::prepare(
        rb,
        EngineOptions {
            journal: JournalChoice::New(journal.to_path_buf()),
            accept_changed_runbook: false,
            accept_changed_vars: false,
            operator: Operator::from_env(),
            metrics_file: None,
            also_masked: Vec::new(),
        },
    )
    .expect("prepare")
}

/// The runtime the engine runs on in a detached run: two workers.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: only measure on bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = private_runs();
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_runbook(dir.path());
    // Each binary's journals and output files go to a directory of their own: a step whose
    // output file is already there (the same journal name, run before) first removes it, and
    // freeing 7 MB of page cache inside the step's time made the second part 0.1–0.3x slower.
    let part = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).expect("part dir");
        d
    };
    let before = std::env::var("CUTOVER_BENCH_BEFORE").ok();
    let mut floods_before = None;
    if let Some(before) = &before {
        println!("--- before: {before}");
        let d = part("before");
        first_frame(before, &d, &rb);
        settle_disk();
        floods_before = Some(flood_and_idle(before, &d, &rb, runs.path()));
        settle_disk();
        headless_flood(before, &d);
        stalled_watcher(before, &d, runs.path());
        println!("--- this build:");
    }
    println!("cutover cockpit benchmarks ({BIN})");
    let d = part("this");
    first_frame(BIN, &d, &rb);
    settle_disk();
    let floods = flood_and_idle(BIN, &d, &rb, runs.path());
    settle_disk();
    headless_flood(BIN, &d);
    stalled_watcher(BIN, &d, runs.path());
    settle_disk();
    null_front_end(&d);
    settle_disk();
    socket_flood(&d);
    if let (Some(before), Some(first)) = (&before, floods_before) {
        both_orders(before, first, floods, &part, &rb, runs.path());
    }
    stop_engines(runs.path());
}

/// The cockpit's floods once more in the other order (this build, then the older one): the
/// part that goes second ran about 0.1x slower even for the same binary, so each binary's
/// figure is its median over both passes (ABBA).
fn both_orders(
    before: &str,
    first_before: [Vec<f64>; 2],
    first_this: [Vec<f64>; 2],
    part: &dyn Fn(&str) -> std::path::PathBuf,
    rb: &Path,
    runs: &Path,
) {
    println!("--- the floods again, this build first:");
    settle_disk();
    let again_this = flood_and_idle(BIN, &part("this-2"), rb, runs);
    println!("--- and then before ({before}):");
    settle_disk();
    let again_before = flood_and_idle(before, &part("before-2"), rb, runs);
    println!("--- flood ÷ baseline over both passes (before · this build):");
    for (k, label) in ["keys:   ", "no keys:"].into_iter().enumerate() {
        let joined = |a: &[Vec<f64>; 2], b: &[Vec<f64>; 2]| {
            median([a[k].as_slice(), b[k].as_slice()].concat())
        };
        println!(
            "flood ÷ baseline, {label} median {:.2}x · {:.2}x over {} rounds each",
            joined(&first_before, &again_before),
            joined(&first_this, &again_this),
            first_this[k].len() + again_this[k].len()
        );
    }
}
