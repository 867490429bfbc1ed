//! `run --metrics-file` (issue 28; checked by preflight, issue 25): the run keeps a Prometheus
//! textfile of its steps, lag, reconcile results and plan up to date while it runs, on a real
//! pair; a path it cannot keep (a FIFO, a device, a symbolic link, the journal itself) is
//! refused before anything is written; a file that becomes unwritable mid-run is said once
//! and the run goes on.

use crate::reconcile::{pair, pair_connections};
use crate::support::*;

fn runbook(db: &str, show: &str) -> String {
    let conns = pair_connections(db);
    let gate = gate_step("60s");
    format!(
        r#"[runbook]
name = "metered \"run\""
{conns}
[lag]
method = "sql"
on = "source"
sql = "select 1234"
warn = "10MB"
critical = "20MB"
interval = "200ms"

[[reconcile]]
name = "items"
kind = "checksum"
table = "public.items"
key = "id"

[[step]]
id = "prepare"
run = "true"
expected = "1s"

[[step]]
id = "show"
run = "sleep 1.5; {show}"
expected = "10s"

{gate}"#
    )
}

const SETUP: &str = "CREATE TABLE items (id int PRIMARY KEY, v text);
INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 300) g;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_keeps_its_metrics_file_while_it_runs() {
    pair("metered", SETUP, "").await;
    let d = tempfile::tempdir().unwrap();
    let text = runbook("metered", "cat m.prom");
    let dir = d.path().to_path_buf();
    let out =
        off_thread(move || headless_at(&dir, &text, "j.jsonl", &["--metrics-file", "m.prom"], &[]))
            .await;
    let (stdout, _) = exited(&out, 0);
    // While `show` ran, the file said so (the step printed it).
    assert!(
        stdout.contains(
            "cutover_step_state{runbook=\"metered \\\"run\\\"\",step=\"show\",state=\"running\"} 1"
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("cutover_run_current_step{runbook=\"metered \\\"run\\\"\",step=\"show\"} 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "cutover_step_state{runbook=\"metered \\\"run\\\"\",step=\"prepare\",state=\"passed\"} 1"
        ),
        "{stdout}"
    );
    // At the end: the outcome, every step passed, the gate's check, the lag and its thresholds.
    let m = std::fs::read_to_string(d.path().join("m.prom")).unwrap();
    let rb = "runbook=\"metered \\\"run\\\"\"";
    for want in [
        format!("cutover_run_ended{{{rb}}} 1"),
        format!("cutover_run_outcome{{{rb},outcome=\"completed\"}} 1"),
        format!("cutover_run_steps{{{rb},state=\"passed\"}} 3"),
        format!("cutover_reconcile_passed{{{rb},check=\"items\"}} 1"),
        format!("cutover_reconcile_rows_compared{{{rb},check=\"items\"}} 300"),
        format!("cutover_lag{{{rb},unit=\"bytes\"}} 1234"),
        format!("cutover_lag_warn{{{rb},unit=\"bytes\"}} 10485760"),
        format!("cutover_lag_stale{{{rb}}} 0"),
        format!("cutover_rollback_started{{{rb}}} 0"),
    ] {
        assert!(m.contains(&want), "{want} not in:\n{m}");
    }
    assert!(!m.contains("cutover_run_current_step"), "{m}");
    // `show` took over 1.5 s of its 10 s plan and `prepare` well under its 1 s: ahead of plan.
    let behind: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cutover_run_behind_plan_seconds{{{rb}}} ")))
        .unwrap()
        .parse()
        .unwrap();
    assert!(behind < -5.0, "{behind}");
    // Every sample line is `name{labels} number`, and every metric has its HELP and TYPE.
    for l in m.lines().filter(|l| !l.starts_with('#')) {
        let v = l.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok(), "{l}");
        let name = l.split('{').next().unwrap();
        assert!(m.contains(&format!("# TYPE {name} gauge\n")), "{l}");
    }
    assert!(!d.path().join("m.prom.tmp").exists());
}

#[test]
fn a_metrics_file_the_run_cannot_keep_is_refused_before_anything_is_written() {
    let d = tempfile::tempdir().unwrap();
    let rb = "[runbook]\nname = \"m\"\n[[step]]\nid = \"a\"\nrun = \"true\"\n";
    let fifo = d.path().join("fifo");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(d.path().join("elsewhere"), d.path().join("link")).unwrap();
    for (path, why) in [
        ("fifo", "not a regular file"),
        ("/dev/full", "not a regular file"),
        ("link", "symbolic link"),
        ("j.jsonl", "journal or log"),
        ("j.log", "journal or log"),
        ("no/such/dir/m.prom", "does not exist"),
    ] {
        let out = headless_at(d.path(), rb, "j.jsonl", &["--metrics-file", path], &[]);
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{path}: {o}{e}");
        assert!(
            e.contains("--metrics-file") && e.contains(why),
            "{path}: {e}"
        );
        assert!(
            !d.path().join("j.jsonl").exists(),
            "{path}: a journal was made"
        );
    }
    // A temporary file a killed writer left behind is reused, not a reason to refuse.
    std::fs::write(d.path().join("m.prom.tmp"), "half a file").unwrap();
    let out = headless_at(d.path(), rb, "j.jsonl", &["--metrics-file", "m.prom"], &[]);
    exited(&out, 0);
    let m = std::fs::read_to_string(d.path().join("m.prom")).unwrap();
    has(
        &m,
        "cutover_run_outcome{runbook=\"m\",outcome=\"completed\"} 1",
    );
}

#[test]
fn a_metrics_file_that_becomes_unwritable_is_said_once_and_the_run_goes_on() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("metrics")).unwrap();
    let steps: String = (0..6)
        .map(|i| format!("[[step]]\nid = \"s{i}\"\nrun = \"sleep 0.4\"\n"))
        .collect();
    let text = format!(
        "[runbook]\nname = \"m\"\n[[step]]\nid = \"gone\"\nrun = \"sleep 1.2; rm -r metrics\"\n{steps}"
    );
    let out = headless_at(
        d.path(),
        &text,
        "j.jsonl",
        &["--metrics-file", "metrics/m.prom"],
        &[],
    );
    let (stdout, _) = exited(&out, 0);
    let recs = journal(&d.path().join("j.jsonl"));
    let said: Vec<_> = of_type(&recs, "notice")
        .into_iter()
        .filter(|n| {
            n["message"]
                .as_str()
                .is_some_and(|m| m.contains("cannot write the metrics file"))
        })
        .collect();
    assert_eq!(said.len(), 1, "{said:?}\n{stdout}");
    assert_eq!(of_type(&recs, "step_finished").len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_names_a_metrics_file_it_cannot_keep() {
    pair("meteredpre", SETUP, "").await;
    let d = tempfile::tempdir().unwrap();
    let rb = crate::support::runbook(d.path(), "rb.toml", &runbook("meteredpre", "true"));
    let rb = rb.to_str().unwrap();
    let bad = ["preflight", rb, "--metrics-file", "/dev/full"];
    let bad = cutover_off_thread(d.path(), &bad, &[]).await;
    let good = ["preflight", rb, "--metrics-file", "m.prom"];
    let good = cutover_off_thread(d.path(), &good, &[]).await;
    let (o, _) = exited(&bad, 2);
    assert!(
        o.lines()
            .any(|l| l.contains("metrics file") && l.contains("not a regular file")),
        "{o}"
    );
    let (o, _) = exited(&good, 0);
    assert!(
        o.lines()
            .any(|l| l.contains("metrics file") && l.contains("m.prom")),
        "{o}"
    );
    assert!(
        !d.path().join("m.prom").exists(),
        "preflight writes nothing"
    );
}
