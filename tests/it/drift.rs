//! `cutover reconcile` outside a run (the drift watch), through the real binary on a real
//! pair: exit codes, rounds, the journal, `--json`, `--metrics-file`, `--on-fail`.

use std::process::{Command, Stdio};
use std::time::Duration;

use cutover_drill::harness::Cluster;

use crate::support::*;

fn runbook_text(src: &str, tgt: &str) -> String {
    format!(
        r#"[runbook]
name = "drift"
{}{ITEMS_CHECK}[[reconcile]]
name = "item count"
kind = "count"
table = "public.items"
recheck = "never"
[[step]]
id = "x"
run = "true"
"#,
        connections(src, tgt)
    )
}

/// [`runbook_text`] with `lines` added to the `items` checksum check.
fn runbook_with_items(source: &Cluster, target: &Cluster, lines: &str) -> String {
    runbook_text(&source.dsn(), &target.dsn()).replace(
        "key = \"id\"\nrecheck = \"never\"",
        &format!("key = \"id\"\nrecheck = \"never\"\n{lines}"),
    )
}

/// A new pair `name` (as [`pair`]) and a directory holding its runbook `rb.toml`: the
/// [`runbook_text`], with `items_lines` added to the `items` check unless empty.
async fn pair_and_runbook(name: &str, items_lines: &str) -> (Cluster, Cluster, tempfile::TempDir) {
    let (source, target) = items_pair(name).await;
    let d = tempfile::tempdir().unwrap();
    let text = if items_lines.is_empty() {
        runbook_text(&source.dsn(), &target.dsn())
    } else {
        runbook_with_items(&source, &target, items_lines)
    };
    runbook(d.path(), "rb.toml", &text);
    (source, target, d)
}

/// Starts the watch `cutover reconcile rb.toml items SCHEDULE... --journal JOURNAL` in `dir`
/// and waits until its journal holds `needle` (`what`): the watch, and its journal's path.
async fn watch_until(
    dir: &std::path::Path,
    schedule: &[&str],
    journal: &str,
    (what, needle): (&'static str, &'static str),
) -> (std::process::Child, std::path::PathBuf) {
    let mut args = vec!["reconcile", "rb.toml", "items"];
    args.extend_from_slice(schedule);
    args.extend_from_slice(&["--journal", journal]);
    let child = spawn_watch(dir, &args);
    let j = dir.join(journal);
    journal_says(&j, what, needle).await;
    (child, j)
}

/// Waits (off the async runtime) for the watch `child` to end: its output.
async fn ended(child: std::process::Child) -> std::process::Output {
    off_thread(move || child.wait_with_output().unwrap()).await
}

/// Starts `cutover ARGS` in `dir` (a watch that runs on), its output piped.
fn spawn_watch(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (off the async runtime, 30 s at most) until the journal `j` holds `needle`.
async fn journal_says(j: &std::path::Path, what: &'static str, needle: &'static str) {
    let j = j.to_path_buf();
    off_thread(move || {
        wait_for(what, Duration::from_secs(30), || {
            std::fs::read_to_string(&j).is_ok_and(|t| t.contains(needle))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_outside_a_run_exits_by_result_and_feeds_monitoring() {
    let (source, target, d) = pair_and_runbook("drift1", "").await;

    // Everything equal: exit 0, both checks said.
    let (stdout, _) = cutover_exits_off_thread(
        d.path(),
        &["reconcile", "rb.toml", "--journal", "a.jsonl"],
        0,
    )
    .await;
    assert!(stdout.contains("items: ✔ 500 rows equal"), "{stdout}");
    assert!(stdout.contains("item count: ✔"), "{stdout}");
    has(&stdout, "finished after 1 round: every check passed");
    let recs = journal(&d.path().join("a.jsonl"));
    assert_eq!(of_type(&recs, "reconcile_result").len(), 2);

    // Invalid: an unknown check, a schedule below a second, --for without --every.
    for args in [
        &["reconcile", "rb.toml", "nope"][..],
        &["reconcile", "rb.toml", "--every", "0s"],
        &["reconcile", "rb.toml", "--for", "1h"],
    ] {
        let (_, stderr) = cutover_exits_off_thread(d.path(), args, 2).await;
        assert!(!stderr.is_empty(), "{args:?}: nothing said");
    }
    let out = cutover_off_thread(d.path(), &["reconcile", "rb.toml", "nope"], &[]).await;
    let (_, stderr) = text(&out);
    has(
        &stderr,
        "no reconcile check named \"nope\"; the runbook has: items, item count",
    );

    // A difference: exit 1, the metrics say so, --on-fail gets the result in its environment.
    target
        .execute("update items set v = 'drifted' where id = 42")
        .await
        .unwrap();
    let before = chrono::Utc::now().timestamp();
    let (stdout, stderr) = cutover_exits_off_thread(
        d.path(),
        &[
            "reconcile",
            "rb.toml",
            "items",
            "--journal",
            "b.jsonl",
            "--metrics-file",
            "m.prom",
            "--on-fail",
            "env | grep ^CUTOVER_RECONCILE_ | sort > env.txt; echo paged",
        ],
        1,
    )
    .await;
    assert!(stdout.contains("items: ✘ 1 row differs"), "{stdout}");
    assert!(stdout.contains("--on-fail ran (exit 0)"), "{stdout}");
    assert!(stderr.contains("on-fail │ paged"), "{stderr}");
    let prom = std::fs::read_to_string(d.path().join("m.prom")).unwrap();
    for line in [
        "cutover_reconcile_mismatch_rows{runbook=\"drift\",check=\"items\"} 1\n",
        "cutover_reconcile_passed{runbook=\"drift\",check=\"items\"} 0\n",
        "cutover_reconcile_error{runbook=\"drift\",check=\"items\"} 0\n",
        "cutover_reconcile_rows_compared{runbook=\"drift\",check=\"items\"} 500\n",
        "# TYPE cutover_reconcile_duration_seconds gauge\n",
    ] {
        assert!(prom.contains(line), "{line} not in:\n{prom}");
    }
    assert!(!prom.contains("item count"), "only the named check: {prom}");
    let stamp: f64 = prom
        .lines()
        .find(|l| l.starts_with("cutover_reconcile_last_run_timestamp_seconds{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a timestamp");
    assert!(
        stamp >= before as f64 && stamp <= before as f64 + 120.0,
        "{stamp}"
    );
    let env = std::fs::read_to_string(d.path().join("env.txt")).unwrap();
    for want in [
        "CUTOVER_RECONCILE_STATUS=fail",
        "CUTOVER_RECONCILE_FAILED=items",
        "CUTOVER_RECONCILE_MISMATCH_ROWS=1",
        "CUTOVER_RECONCILE_ROUND=1",
        "CUTOVER_RECONCILE_SUMMARY=items: ✘ 1 row differs (max 0) of 500",
        "CUTOVER_RECONCILE_JOURNAL=/",
    ] {
        assert!(env.contains(want), "{want} not in:\n{env}");
    }
    let results = env
        .lines()
        .find_map(|l| l.strip_prefix("CUTOVER_RECONCILE_RESULTS="))
        .expect("a results file");
    let failed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).unwrap()).unwrap();
    assert_eq!(failed[0]["mismatches"][0]["key"][0], "42");
    assert_eq!(
        failed[0]["mismatches"][0]["columns"][0]["target"],
        "drifted"
    );

    // The default re-check, and no `[lag]`: nothing is in flight outside a run, so the
    // re-check follows at once (no 5 s wait per failing check) and the result says so.
    runbook(
        d.path(),
        "rb2.toml",
        &runbook_text(&source.dsn(), &target.dsn()).replace("recheck = \"never\"\n", ""),
    );
    let (stdout, _) = cutover_exits_off_thread(
        d.path(),
        &["reconcile", "rb2.toml", "items", "--journal", "c.jsonl"],
        1,
    )
    .await;
    assert!(!stdout.contains("waiting to re-check"), "{stdout}");
    let recs = journal(&d.path().join("c.jsonl"));
    let results = of_type(&recs, "reconcile_result");
    let r = &results[0]["result"];
    assert_eq!(r["rechecked"], true, "{r}");
    assert!(r.get("recheck_wait_ms").is_none(), "no wait: {r}");

    // A secret is never printed: a value equal to one holding a quote (shown quoted, the
    // quote doubled), and --on-fail's last line of output in its notice, on stdout (human
    // and --json) and in the journal.
    target
        .execute("update items set v = 'k3y''Secret' where id = 42")
        .await
        .unwrap();
    runbook(
        d.path(),
        "rb3.toml",
        &runbook_text(&source.dsn(), &target.dsn()).replacen(
            "name = \"drift\"\n",
            "name = \"drift\"\n[secrets]\nPW = { env = \"ATK_PW\" }\nAPIKEY = { env = \"ATK_APIKEY\" }\n",
            1,
        ),
    );
    let secrets = [("ATK_PW", "S3cretPW!x"), ("ATK_APIKEY", "k3y'Secret")];
    for (json, j) in [(false, "s.jsonl"), (true, "t.jsonl")] {
        let mut args = vec!["reconcile", "rb3.toml", "items", "--journal", j];
        args.extend(["--on-fail", "echo \"last line: $ATK_PW\"; exit 7"]);
        if json {
            args.push("--json");
        }
        let out = cutover_off_thread(d.path(), &args, &secrets).await;
        let (stdout, stderr) = exited(&out, 1);
        let journaled = std::fs::read_to_string(d.path().join(j)).unwrap();
        for text in [&stdout, &stderr, &journaled] {
            assert!(
                !text.contains("S3cretPW") && !text.contains("k3y") && !text.contains("Secret"),
                "{json}: {text}"
            );
        }
        for text in [&stdout, &journaled] {
            has(text, "--on-fail exited 7: last line: ••••");
            has(text, "'••••'");
        }
        assert!(stderr.contains("on-fail │ last line: ••••"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_round_is_journaled_and_drift_between_rounds_is_caught() {
    let (_source, target, d) = pair_and_runbook("drift2", "").await;
    let schedule = ["--every", "2s", "--for", "5s", "--json"];
    let first = ("the first round", "round 1:");
    let (child, j) = watch_until(d.path(), &schedule, "w.jsonl", first).await;
    target
        .execute("delete from items where id = 7")
        .await
        .unwrap();
    let out = ended(child).await;
    let (stdout, _) = exited(&out, 1);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let results: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v["type"] == "reconcile_result")
        .collect();
    assert_eq!(results.len(), 3, "{stdout}");
    assert_eq!(results[0]["round"], 1);
    assert_eq!(results[0]["result"]["status"], "pass");
    assert_eq!(results[2]["round"], 3);
    assert_eq!(results[2]["result"]["status"], "fail");
    assert_eq!(
        results[2]["result"]["mismatches"][0]["class"],
        "missing_on_target"
    );
    let rounds = lines
        .iter()
        .filter(|v| v["type"] == "round_finished")
        .count();
    assert_eq!(rounds, 3);
    // The journal holds the same results, fsynced as they came.
    let recs = journal(&j);
    assert_eq!(of_type(&recs, "reconcile_result").len(), 3);
    assert!(
        of_type(&recs, "notice")
            .iter()
            .any(|n| n["message"] == "finished after 3 rounds: a check failed")
    );
    // The morning after: `cutover report` on the watch's journal says when the drift began.
    let (md, _) = cutover_exits_off_thread(d.path(), &["report", "w.jsonl"], 0).await;
    // The delete lands before round 2 or during it: the drift is seen from round 2 or 3.
    let failing = results
        .iter()
        .filter(|r| r["result"]["status"] == "fail")
        .count();
    let fails = if failing == 1 {
        "- round 3: failed (from ".to_string()
    } else {
        format!("- rounds {}–3: failed (from ", 4 - failing)
    };
    assert!(
        md.contains(&format!(
            "a check did not pass in {failing} of 3 rounds; still failing at the end: items"
        )),
        "{md}"
    );
    assert!(md.contains("passed (from "), "{md}");
    assert!(md.contains(&fails), "{md}");
    // The change names the row that went missing.
    assert!(md.contains("— first: `missing on target id=7"), "{md}");
    has(&md, "| Ended | finished after 3 rounds: a check failed |");
    assert!(!md.contains("Incomplete record"), "{md}");
    let (json, _) = cutover_exits_off_thread(d.path(), &["report", "--json", "w.jsonl"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["rounds"], 3);
    assert_eq!(v["failing_rounds"], failing);
    assert_eq!(v["checks"][0]["name"], "items");
    assert_eq!(v["checks"][0]["results"][2]["status"], "fail");
    assert_eq!(v["checks"][0]["results"][2]["mismatch_rows"], 1);
    cutover_exits_off_thread(d.path(), &["report", "-o", "w.html", "w.jsonl"], 0).await;
    let html = std::fs::read_to_string(d.path().join("w.html")).unwrap();
    assert!(html.contains("<h2>Changes</h2>"), "{html}");
    // A watch's journal is not lined up with runs.
    let (_, err) = cutover_exits_off_thread(d.path(), &["report", "w.jsonl", "w.jsonl"], 2).await;
    assert!(err.contains("reported on its own"), "{err}");
}

/// `changed_since`: the first round compares the whole table, the next ones only the rows
/// changed since the round before (with the overlap, on each server's clock): a change
/// between rounds is caught reading one row, not five hundred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_rounds_compare_only_the_changed_rows_and_catch_a_change() {
    let incremental = "changed_since = \"updated_at\"\nfull_every = \"1h\"";
    let (source, target, d) = pair_and_runbook("drift3", incremental).await;
    let ddl = "alter table items add column updated_at timestamptz not null default '2026-01-01 00:00:00+00';";
    source.execute(ddl).await.unwrap();
    target.execute(ddl).await.unwrap();
    let schedule = ["--every", "2s", "--for", "5s"];
    let first = ("the first round", "round 1:");
    let (child, j) = watch_until(d.path(), &schedule, "i.jsonl", first).await;
    // Stamped 90 s in the past (a late commit, a writer's clock behind): inside the overlap.
    target
        .execute(
            "update items set v = 'drifted', updated_at = now() - interval '90 seconds' where id = 9",
        )
        .await
        .unwrap();
    let out = ended(child).await;
    let (stdout, _) = exited(&out, 1);
    let recs = journal(&j);
    let res: Vec<&serde_json::Value> = of_type(&recs, "reconcile_result")
        .into_iter()
        .map(|r| &r["result"])
        .collect();
    assert_eq!(res.len(), 3, "{stdout}");
    // Round 1: the whole table.
    assert_eq!(res[0]["status"], "pass");
    assert_eq!(res[0]["rows_compared"], 500);
    // The next rounds: only what changed (the one row), and it differs.
    let last = res[2];
    assert_eq!(last["status"], "fail", "{last:#}");
    assert_eq!(last["rows_compared"], 1, "{last:#}");
    assert_eq!(last["mismatches"][0]["key"][0], "9");
    assert_eq!(last["mismatches"][0]["class"], "different");
    let notes = last["notes"].to_string();
    has(&notes, "incremental: the 1 row changed in the last");
    assert!(stdout.contains("items: ✘ 1 row differs"), "{stdout}");
}

/// SIGTERM during the first round (held by `pause_when`): the watch stops at once, journals
/// why, and does not exit 0 (nothing was checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stopped_before_its_first_round_ends_is_not_a_pass() {
    let (_source, _target, d) = pair_and_runbook("drift4", "pause_when = \"select true\"").await;
    let started = ("the watch to start", "every 1h");
    let (child, j) = watch_until(d.path(), &["--every", "1h"], "s.jsonl", started).await;
    // Held by pause_when: no result comes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(of_type(&journal(&j), "reconcile_result").is_empty());
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = ended(child).await;
    exited(&out, 1);
    let recs = journal(&j);
    assert!(
        of_type(&recs, "notice")
            .iter()
            .any(|n| n["message"] == "stopped by SIGTERM during round 1"),
        "{recs:#?}"
    );
}

/// A runbook of checks alone (no `[[step]]`) is valid for `check`, `preflight` and
/// `reconcile`; `run` refuses it, saying why (issue 28: no dummy step).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runbook_of_checks_alone_needs_no_dummy_step() {
    let _ = crate::reconcile::pair(
        "checksonly",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);",
        "",
    )
    .await;
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "[runbook]\nname = \"checks only\"\n{}\n[[reconcile]]\nname = \"t\"\nkind = \"checksum\"\ntable = \"public.t\"\nkey = \"id\"\n",
        crate::reconcile::pair_connections("checksonly")
    );
    let rb = crate::support::runbook(d.path(), "rb.toml", &text);
    let dir = d.path().to_path_buf();
    let rb = rb.to_str().unwrap().to_string();
    let (check, reconcile, run) = off_thread(move || {
        (
            crate::support::cutover(&dir, &["check", &rb], &[]),
            crate::support::cutover(&dir, &["reconcile", &rb], &[]),
            crate::support::cutover(
                &dir,
                &["run", &rb, "--headless", "--journal", "j.jsonl"],
                &[],
            ),
        )
    })
    .await;
    let (o, e) = crate::support::text(&check);
    assert_eq!(check.status.code(), Some(0), "{o}{e}");
    let (o, e) = crate::support::text(&reconcile);
    assert_eq!(reconcile.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("reconcile t: ✔"), "{o}");
    let (o, e) = crate::support::text(&run);
    assert_eq!(run.status.code(), Some(2), "{o}{e}");
    assert!(
        e.contains("has no [[step]]") && e.contains("cutover reconcile"),
        "{e}"
    );
    assert!(!d.path().join("j.jsonl").exists());
}

/// A column the target gained is never compared: the check's line says so (before, only the
/// journal and `--json` did, under a green tick).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_only_on_the_target_is_said_to_be_left_out() {
    let _ = crate::reconcile::pair(
        "driftcol",
        "CREATE TABLE acct (id int PRIMARY KEY); INSERT INTO acct VALUES (1);",
        "ALTER TABLE acct ADD COLUMN balance numeric DEFAULT 999;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let rb = format!(
        "[runbook]\nname = \"d\"\n{}\n[[reconcile]]\nname = \"acct\"\nkind = \"checksum\"\n\
         table = \"public.acct\"\nkey = \"id\"\n[[step]]\nid = \"x\"\nrun = \"true\"\n",
        crate::reconcile::pair_connections("driftcol")
    );
    runbook(dir.path(), "rb.toml", &rb);
    let out = cutover(dir.path(), &["reconcile", "rb.toml"], &[]);
    let (said, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}{err}");
    has(&said, "columns only on the target, not compared: balance");
}

/// Attack: a check that gets no result (here a query that sleeps; a stopped backend looks the
/// same from cutover) is an error at `--check-timeout`, and the round goes on to the next
/// check, instead of holding the watch for ever; a blank, short, odd or huge `--check-timeout`
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_with_no_result_is_an_error_at_the_check_timeout() {
    let (source, target, d) = pair_and_runbook("drifthang", "").await;
    let rb = runbook_text(&source.dsn(), &target.dsn()).replace(
        "[[step]]",
        "[[reconcile]]\nname = \"stuck\"\nkind = \"query\"\nsql = \"select count(*) from items, pg_sleep(60)\"\n\n[[step]]",
    );
    std::fs::write(d.path().join("rb.toml"), rb).unwrap();
    let (stdout, _) = cutover_exits_off_thread(
        d.path(),
        &[
            "reconcile",
            "rb.toml",
            "stuck",
            "items",
            "--check-timeout",
            "2s",
        ],
        1,
    )
    .await;
    has(&stdout, "no result within 2s (--check-timeout)");
    assert!(stdout.contains("items: ✔ 500 rows equal"), "{stdout}");
    // Blank, too short, not a duration, longer than any cutover: refused, each said, nothing
    // compared.
    let huge = "9".repeat(40) + "h";
    for (value, said) in [
        ("", "--check-timeout : empty duration"),
        ("0s", "--check-timeout 0s: at least 1s"),
        ("soon", "--check-timeout soon: invalid duration"),
        (huge.as_str(), "longer than any cutover could last"),
    ] {
        let (stdout, stderr) = cutover_exits_off_thread(
            d.path(),
            &["reconcile", "rb.toml", "--check-timeout", value],
            2,
        )
        .await;
        has(&stderr, said);
        assert!(!stdout.contains("reconcile"), "{value:?}: {stdout}");
    }
}
