//! `cutover report` speed: the journal of a 17-step run with 30 minutes of lag samples (one a
//! second, ten times what a journal keeps) read and rendered as Markdown and as HTML, 20 times
//! each with the release binary. Target: < 200 ms.
//!
//! `cargo bench --bench report`

mod common;

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use common::{ms, stats};

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const RUNS: usize = 20;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rb = String::from("[runbook]\nname = \"report bench\"\n");
    for i in 1..=17 {
        let _ = write!(
            rb,
            "\n[[step]]\nid = \"step-{i}\"\nrun = \"echo step {i}\"\nexpected = \"{i}s\"\n"
        );
    }
    std::fs::write(dir.path().join("rb.toml"), rb).expect("runbook");
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "rb.toml", "--headless", "--journal", "run.jsonl"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    // 30 minutes of lag samples before the run's end, as a probe's records look.
    let text = std::fs::read_to_string(dir.path().join("run.jsonl")).expect("journal");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let end = lines.pop().expect("run_finished");
    let t0 = chrono::Utc::now() - chrono::Duration::minutes(30);
    for i in 0..1800i64 {
        let at =
            (t0 + chrono::Duration::seconds(i)).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let bytes = (8_000_000.0 * (1.0 + (i as f64 / 120.0).sin())) as u64;
        lines.push(format!(
            r#"{{"ts":"{at}","type":"lag_sample","sample":{{"seq":{},"at":"{at}","checked_at":"{at}","bytes":{bytes},"seconds":null,"number":null,"detail":"slot cutover_sub active","stale_since":null,"error":null}},"keep":true}}"#,
            i + 1
        ));
    }
    lines.push(end);
    let journal = dir.path().join("bench.jsonl");
    std::fs::write(&journal, lines.join("\n") + "\n").expect("journal");
    let size = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
    println!(
        "cutover report benchmark ({BIN}): 17 steps, 1,800 lag samples, journal {:.2} MB",
        size as f64 / 1e6
    );
    for (label, extra) in [("markdown", vec![]), ("html", vec!["-o", "r.html"])] {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let out = Command::new(BIN)
                .current_dir(dir.path())
                .arg("report")
                .arg(&journal)
                .args(&extra)
                .output()
                .expect("report");
            times.push(ms(t.elapsed()));
            assert!(out.status.success(), "{out:?}");
        }
        println!("report → {label:<8}  {}", stats(times));
    }
}
