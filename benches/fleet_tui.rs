//! Fleet cockpit benchmarks (figures, not pass/fail): `cargo bench --bench fleet_tui`.
//!
//! Drives the release binary in a pseudo-terminal (portable-pty + vt100) at 120x40:
//! `cutover run rb.toml --fleet fleet.toml --journal fj.jsonl` (a detached fleet engine and the
//! lanes screen) on a fleet of 200 members of a shell-only runbook (3 steps: `echo`, `sleep 1`,
//! `echo`), 50 at a time, no canary, `halt = "never"`. It prints:
//! - start → first lanes frame (the header's ` fleet ` line), and → the first 50 members
//!   waiting at step 1;
//! - key → frame latency while idle (the 50 wait, nothing runs): `?` until the help overlay is
//!   drawn, esc until it is gone, 5 ms after each frame;
//! - key → frame latency under load: whenever the header counts waiting members, `n`, the
//!   number the question asks for, enter (the engine's answer awaited on the status line);
//!   between those, `?`/esc round trips; until the header shows `✔ 200 completed` (or a
//!   5-minute cap). Also `n` → its question drawn, enter → the engine's answer drawn, the
//!   fleet's wall time (on screen and in its journal) and the commands it took;
//! - once the header says `finished`, `q`: how long the lanes client takes to exit, and whether
//!   the fleet's engine goes too (it should: its controlling terminal saw the end);
//! - peak RSS (VmHWM) of the fleet engine (its pid from the run directory) and of the lanes
//!   client (the pty's child), sampled throughout (the engine may exit once its fleet ends).
//! - the same fleet `--headless` (no operator: each step runs as soon as it may), for
//!   comparison: its wall time and peak RSS.
//!
//! Targets (issue 29): key → frame p90 < 20 ms with 200 members at concurrency 50; engine RSS
//! < 200 MB.
//!
//! `CUTOVER_BENCH_KEEP=1` keeps the files (the fleet's journal and its members') and says where.
//!
//! What gets in the way (a frame that never comes, a command refused, the cap) is printed with
//! the screen as it stood, after the figures gathered so far; the engines are stopped either way.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Pty, ms, private_runs, proc_status_kb, stats, stop_engines};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const MEMBERS: usize = 200;
const CONCURRENCY: usize = 50;
const COLS: u16 = 120;
const ROWS: u16 = 40;
/// `?`/esc round trips while the fleet is idle.
const IDLE_ROUNDS: usize = 100;
/// Pause after each frame before the next key (as `benches/tui.rs`).
const KEY_PAUSE: Duration = Duration::from_millis(5);
/// The longest the loaded part runs.
const CAP: Duration = Duration::from_secs(300);
/// The longest any one frame is awaited.
const FRAME_WAIT: Duration = Duration::from_secs(30);
/// After a command, how long the header is given to show it (help round trips meanwhile)
/// before the waiting count is read again.
const SETTLE: Duration = Duration::from_secs(1);

/// The help overlay's title and bottom line (`src/cockpit/lanes/view/help.rs`).
const HELP_TITLE: &str = " KEYS ";
const HELP_BOTTOM: &str = "esc / ? close";
/// The typed confirmation `n` opens (`src/cockpit/lanes/confirm.rs`).
const ASK: &str = "Run the next step on ";
/// The fleet engine's answer to it (`src/socket/fleet.rs`).
const RAN: &str = "ran the next step of ";

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: only measure on bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = private_runs();
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = if std::env::var_os("CUTOVER_BENCH_KEEP").is_some() {
        let kept = dir.keep();
        println!("files kept in {}", kept.display());
        Dir::Kept(kept)
    } else {
        Dir::Temp(dir)
    };
    println!("cutover fleet cockpit benchmarks ({BIN})");
    println!("{MEMBERS} members, concurrency {CONCURRENCY}, {COLS}x{ROWS}");
    println!("load average at the start: {}", loadavg());
    {
        let mut peaks = Peaks::default();
        if let Err(what) = fleet(dir.path(), runs.path(), &mut peaks) {
            peaks.print();
            println!("STOPPED: {what}");
        }
        stop_engines(runs.path());
    }
    headless(dir.path());
    println!("load average at the end: {}", loadavg());
    println!(
        "engines left after the stop: {}",
        common::engine_pids(runs.path()).len()
    );
}

/// The benchmark's files: removed at the end, or kept (`CUTOVER_BENCH_KEEP`: the runbook,
/// the fleet file, the fleet's journal and its members').
enum Dir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(d) => d.path(),
            Dir::Kept(p) => p,
        }
    }
}

/// The runbook and the fleet file; returns their paths.
fn write_fleet(dir: &Path) -> (PathBuf, PathBuf) {
    let rb = dir.join("rb.toml");
    std::fs::write(&rb, include_str!("fleet_runbook.toml")).expect("write runbook");
    let fleet = dir.join("fleet.toml");
    let mut f = format!("concurrency = {CONCURRENCY}\nhalt = \"never\"\n");
    for i in 1..=MEMBERS {
        f.push_str(&format!(
            "\n[[member]]\nname = \"m{i:03}\"\nvars = {{ n = \"{i}\" }}\n"
        ));
    }
    std::fs::write(&fleet, f).expect("write fleet");
    (rb, fleet)
}

/// Peak RSS of the fleet engine and the lanes client, as last read (VmHWM only grows).
#[derive(Default)]
struct Peaks {
    engine_pid: Option<i32>,
    engine_kb: u64,
    client_pid: Option<i32>,
    client_kb: u64,
    printed: bool,
}

impl Peaks {
    fn sample(&mut self, runs: &Path) {
        if self.engine_pid.is_none() {
            self.engine_pid = fleet_pid(runs);
        }
        if let Some(p) = self.engine_pid {
            self.engine_kb = self.engine_kb.max(proc_status_kb(p, "VmHWM:"));
        }
        if let Some(p) = self.client_pid {
            self.client_kb = self.client_kb.max(proc_status_kb(p, "VmHWM:"));
        }
    }

    fn print(&mut self) {
        if std::mem::replace(&mut self.printed, true) {
            return;
        }
        let mb = |kb: u64| kb as f64 / 1024.0;
        println!(
            "fleet engine peak RSS (VmHWM): {:.1} MB (pid {})",
            mb(self.engine_kb),
            self.engine_pid
                .map_or("not found".into(), |p| p.to_string())
        );
        println!(
            "lanes client peak RSS (VmHWM): {:.1} MB",
            mb(self.client_kb)
        );
    }
}

/// The fleet engine's pid: the run directory's description with `"fleet": true`.
fn fleet_pid(runs: &Path) -> Option<i32> {
    std::fs::read_dir(runs.join("cutover"))
        .ok()?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .find(|m| m["fleet"] == true)
        .and_then(|m| m["pid"].as_i64())
        .map(|p| p as i32)
}

/// The header's second row: the count of lanes in each state.
fn counts_line(screen: &str) -> String {
    screen.lines().nth(1).unwrap_or("").to_string()
}

/// The header's count of lanes in the state `word` (`· 50 waiting`, `✔ 200 completed`).
fn count(screen: &str, word: &str) -> usize {
    let line = counts_line(screen);
    let toks: Vec<&str> = line.split_whitespace().collect();
    toks.windows(2)
        .filter(|w| w[1] == word)
        .find_map(|w| w[0].parse().ok())
        .unwrap_or(0)
}

/// The number right after `prefix` on the screen.
fn number_after(screen: &str, prefix: &str) -> Option<usize> {
    let at = screen.find(prefix)? + prefix.len();
    let digits: String = screen[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn help_shown(s: &vt100::Screen) -> bool {
    let c = s.contents();
    c.contains(HELP_TITLE) && c.contains(HELP_BOTTOM)
}

fn help_gone(s: &vt100::Screen) -> bool {
    let c = s.contents();
    !c.contains(HELP_TITLE) && !c.contains(HELP_BOTTOM)
}

/// Waits for `pred`, or says what was awaited with the screen as it stood.
fn wait(t: &Pty, what: &str, pred: impl Fn(&vt100::Screen) -> bool) -> Result<Instant, String> {
    t.until_within(pred, FRAME_WAIT).map_err(|screen| {
        format!(
            "no frame with {what} within {} s; the screen:\n{screen}",
            FRAME_WAIT.as_secs()
        )
    })
}

/// Writes `keys`; returns when the key was pressed. Stamped before the write: stamped after
/// it (as `Pty::send` does), the benchmark's thread losing the CPU to the woken client between
/// the write and the stamp shows as latencies of a few µs that hide part of the real one.
fn send(t: &mut Pty, keys: &str) -> Result<Instant, String> {
    let pressed = Instant::now();
    t.try_send(keys)
        .map(|_| pressed)
        .map_err(|e| format!("the terminal is gone ({e}); the screen:\n{}", t.contents()))
}

/// `?` until the overlay is drawn, esc until it is gone (pausing after each frame); both
/// key → frame latencies in ms.
fn help_round_trip(t: &mut Pty) -> Result<[f64; 2], String> {
    let sent = send(t, "?")?;
    let shown = wait(t, "the help overlay after `?`", help_shown)?;
    std::thread::sleep(KEY_PAUSE);
    let sent_esc = send(t, "\x1b")?;
    let gone = wait(t, "the help overlay gone after esc", help_gone)?;
    std::thread::sleep(KEY_PAUSE);
    Ok([ms(shown - sent), ms(gone - sent_esc)])
}

/// One `n` command as the engine answered it.
struct RunNext {
    /// `n` → its question drawn, ms.
    ask_ms: f64,
    /// enter → the engine's answer drawn, ms.
    answer_ms: f64,
    /// Members the question named.
    asked: usize,
    /// Members the engine ran the next step of.
    ran: usize,
    /// The engine's answer in full.
    answer: String,
}

/// `n`, the number its question asks for, enter; the engine's answer. `None` when the screen
/// had no waiting member any more (its status says so).
fn run_next(t: &mut Pty) -> Result<Option<RunNext>, String> {
    let sent = send(t, "n")?;
    let shown = wait(t, "the question after `n`", |s| {
        let c = s.contents();
        c.contains(ASK) || c.contains("no member is waiting")
    })?;
    let c = t.contents();
    let Some(asked) = number_after(&c, ASK) else {
        return Ok(None);
    };
    let enter = send(t, &format!("{asked}\r"))?;
    let answered = wait(t, "the engine's answer after enter", |s| {
        let c = s.contents();
        !c.contains(ASK)
            && (c.contains(RAN)
                || c.contains("not run:")
                || c.contains("not taking commands")
                || c.contains("wrong number"))
    })?;
    let c = t.contents();
    let Some(ran) = number_after(&c, RAN) else {
        return Err(format!(
            "`n`, {asked}, enter was not carried out; the screen:\n{c}"
        ));
    };
    let answer = c
        .lines()
        .find(|l| l.contains(RAN))
        .unwrap_or("")
        .trim()
        .to_string();
    Ok(Some(RunNext {
        ask_ms: ms(shown - sent),
        answer_ms: ms(answered - enter),
        asked,
        ran,
        answer,
    }))
}

/// Latency figures with the minimum in front.
fn figures(v: &[f64]) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    format!("min {min:.1} ms · {}", stats(v.to_vec()))
}

fn fleet(dir: &Path, runs: &Path, peaks: &mut Peaks) -> Result<(), String> {
    let (rb, fleet) = write_fleet(dir);
    let journal = dir.join("fj.jsonl");
    let path = |p: &Path| p.to_str().expect("utf8").to_string();
    let (rb, fleet, j) = (path(&rb), path(&fleet), path(&journal));
    let (mut t, t0) = Pty::spawn_sized(
        BIN,
        &["run", &rb, "--fleet", &fleet, "--journal", &j],
        COLS,
        ROWS,
    );
    peaks.client_pid = Some(t.pid());

    // Start.
    let first = wait(&t, "the lanes header (` fleet `)", |s| {
        s.alternate_screen() && s.contents().lines().any(|l| l.starts_with(" fleet "))
    })?;
    println!("start → first lanes frame:     {:.1} ms", ms(first - t0));
    let all_waiting = t
        .until_within(
            |s| count(&s.contents(), "waiting") == CONCURRENCY,
            Duration::from_secs(60),
        )
        .map_err(|screen| {
            format!(
                "the first {CONCURRENCY} members never all showed waiting; the screen:\n{screen}"
            )
        })?;
    println!(
        "start → {CONCURRENCY} waiting at step 1:   {:.1} ms",
        ms(all_waiting - t0)
    );
    peaks.sample(runs);

    // Idle: the first wave waits, nothing runs.
    let mut idle = Vec::new();
    for _ in 0..IDLE_ROUNDS {
        idle.extend(help_round_trip(&mut t)?);
    }
    peaks.sample(runs);
    println!("key → frame, idle:             {}", figures(&idle));

    // Under load: run the waiting members' next step whenever the header counts some.
    let mut lat = Vec::new();
    let (mut asks, mut answers) = (Vec::new(), Vec::new());
    let (mut commands, mut ran, mut short, mut settled_late) = (0usize, 0usize, 0usize, 0usize);
    let mut shorts = Vec::new();
    let go = Instant::now();
    let result = loop {
        peaks.sample(runs);
        let c = t.contents();
        if count(&c, "completed") == MEMBERS {
            break Ok(Instant::now());
        }
        if go.elapsed() > CAP {
            break Err(format!(
                "the cap: {} of {MEMBERS} completed after {} s; the screen:\n{c}",
                count(&c, "completed"),
                CAP.as_secs()
            ));
        }
        if count(&c, "waiting") == 0 {
            match help_round_trip(&mut t) {
                Ok(l) => lat.extend(l),
                Err(e) => break Err(e),
            }
            continue;
        }
        let before = counts_line(&c);
        match run_next(&mut t) {
            Ok(Some(r)) => {
                commands += 1;
                ran += r.ran;
                asks.push(r.ask_ms);
                answers.push(r.answer_ms);
                if r.ran != r.asked {
                    short += 1;
                    if shorts.len() < 3 {
                        shorts.push(r.answer);
                    }
                }
            }
            Ok(None) => continue,
            Err(e) => break Err(e),
        }
        // The header still counting the members just run would have them asked for again.
        let settle = Instant::now() + SETTLE;
        let mut failed = None;
        while counts_line(&t.contents()) == before {
            if Instant::now() >= settle {
                settled_late += 1;
                break;
            }
            match help_round_trip(&mut t) {
                Ok(l) => lat.extend(l),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
    };
    peaks.sample(runs);
    println!("key → frame, under load (?/esc): {}", figures(&lat));
    println!("key → frame, n → its question:   {}", figures(&asks));
    println!("enter → the engine's answer:     {}", figures(&answers));
    println!(
        "commands: {commands} `n` (members run: {ran}, of {} steps); answers short of the count asked: {short}{}; header unchanged {} s after a command: {settled_late} times",
        MEMBERS * 3,
        if shorts.is_empty() {
            String::new()
        } else {
            format!(" (e.g. {})", shorts.join(" | "))
        },
        SETTLE.as_secs()
    );
    let done = result?;
    println!(
        "fleet wall time (first n → ✔ {MEMBERS} completed on screen): {:.2} s",
        (done - go).as_secs_f64()
    );
    // The engine goes once a controlling terminal has seen the fleet end (the phase), not the
    // counts: leaving before that leaves it lingering for someone to attach.
    let finished = wait(&t, "the header's phase `finished`", |s| {
        s.contents()
            .lines()
            .next()
            .is_some_and(|l| l.contains(" · finished"))
    })?;
    println!(
        "✔ {MEMBERS} completed → header says finished: {:.1} ms",
        ms(finished - done)
    );
    if let Some(s) = journal_wall(&journal) {
        println!("fleet wall time (its journal, first record → last): {s:.2} s");
    }
    peaks.sample(runs);
    peaks.print();

    // Leave: `q`; the fleet has ended and this terminal saw it, so its engine should go too.
    let alive = matches!(t.child.try_wait(), Ok(None));
    if alive {
        let q = send(&mut t, "q")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut exited = None;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = t.child.try_wait() {
                exited = Some(Instant::now());
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match exited {
            Some(at) => println!("q → lanes client exited:       {:.1} ms", ms(at - q)),
            None => {
                let _ = t.child.kill();
                return Err(format!(
                    "the lanes client did not exit within 10 s of q; the screen:\n{}",
                    t.contents()
                ));
            }
        }
    } else {
        println!("lanes client: had already exited when the fleet completed");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while fleet_pid(runs).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = match fleet_pid(runs) {
        None => "gone".to_string(),
        Some(p) if Path::new(&format!("/proc/{p}")).exists() => format!(
            "still running (pid {p}, state {}; stopped with SIGTERM)",
            std::fs::read_to_string(format!("/proc/{p}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("State:"))
                .unwrap_or("?")
                .trim()
        ),
        Some(p) => format!("exited, but its description is still listed (pid {p})"),
    };
    println!("fleet engine 10 s after q: {left}");
    Ok(())
}

/// The fleet journal's first record to its last, in seconds.
fn journal_wall(journal: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(journal).ok()?;
    let ts: Vec<chrono::DateTime<chrono::FixedOffset>> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| chrono::DateTime::parse_from_rfc3339(v["ts"].as_str()?).ok())
        .collect();
    let (first, last) = (ts.first()?, ts.last()?);
    Some((*last - *first).num_milliseconds() as f64 / 1000.0)
}

/// The same fleet `--headless` (every step run as soon as it may: no operator, no lanes), for
/// comparison: its wall time and its peak RSS (sampled every 20 ms).
fn headless(dir: &Path) {
    let (rb, fleet) = write_fleet(dir);
    let j = dir.join("headless.jsonl");
    let t0 = Instant::now();
    let mut child = std::process::Command::new(BIN)
        .args(["run", "--headless", "--fleet"])
        .arg(&fleet)
        .arg("--journal")
        .arg(&j)
        .arg(&rb)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("headless fleet");
    let pid = child.id() as i32;
    let mut kb = 0;
    let status = loop {
        kb = proc_status_kb(pid, "VmHWM:").max(kb);
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    println!(
        "same fleet --headless: {:.2} s wall, peak RSS {:.1} MB ({status})",
        t0.elapsed().as_secs_f64(),
        kb as f64 / 1024.0
    );
}

/// The machine's load average (1, 5, 15 minutes): the figures of a shared machine need it.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
