//! `cutover preflight` on the real pair: what it finds when the world is as the runbook says,
//! and each thing it catches when it is not (issue 25).

use std::time::Duration;

use crate::reconcile::{clusters, pair, pair_connections};
use crate::support::*;

fn body(db: &str, extra: &str) -> String {
    format!(
        "[runbook]\nname = \"pre\"\n\n{}\n{extra}\n[[step]]\nid = \"x\"\nrun = \"true\"\n",
        pair_connections(db)
    )
}

async fn preflight(dir: &std::path::Path, text: &str, extra: &[&str]) -> (Option<i32>, String) {
    let rb = runbook(dir, "rb.toml", text);
    let mut args = vec!["preflight", rb.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let out = cutover_off_thread(dir, &args, &[]).await;
    code_and_output(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_passes_a_ready_world_and_names_each_thing_that_is_not() {
    let _ = pair(
        "pre",
        "CREATE TABLE orders (id int PRIMARY KEY, v text); CREATE TABLE loose (id int, v text); \
         CREATE SEQUENCE lonely_seq;",
        "",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ready = body(
        "pre",
        "[[reconcile]]\nname = \"orders\"\nkind = \"checksum\"\ntable = \"public.orders\"\nkey = \"id\"\n",
    );
    let (code, out) = preflight(dir.path(), &ready, &[]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("✔ connection source: "), "{out}");
    assert!(out.contains("PostgreSQL 1"), "{out}");
    has(
        &out,
        "✔ check orders: public.orders on target, key (id) unique by an index",
    );
    assert!(out.contains("✔ journal directory"), "{out}");
    assert!(out.trim_end().ends_with("ready"), "{out}");
    // Coverage: what no check compares is named (a warning by default)...
    has(
        &out,
        "⚠ coverage tables: 1 on source compared by no check and named by no exclude_tables: public.loose",
    );
    assert!(out.contains("⚠ coverage sequences: 1 on source compared by no check and named by no exclude_tables: public.lonely_seq"), "{out}");
    // ... and refuses the run with coverage = "strict"; exclude_tables and a sequences check
    // cover them.
    let strict = ready.replace("name = \"pre\"", "name = \"pre\"\ncoverage = \"strict\"");
    let (code, out) = preflight(dir.path(), &strict, &[]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("✘ coverage tables: 1 on source"), "{out}");
    let covered = format!(
        "{strict}\n[[reconcile]]\nname = \"seqs\"\nkind = \"sequences\"\nschemas = [\"public\"]\n\n\
         [[reconcile]]\nname = \"rest\"\nkind = \"count\"\ntables = [\"public.*\"]\nexclude_tables = [\"public.loose\"]\n"
    );
    let (code, out) = preflight(dir.path(), &covered, &[]).await;
    assert_eq!(code, Some(0), "{out}");
    has(
        &out,
        "✔ coverage tables: every one on source is compared or excluded",
    );
    assert!(out.contains("✔ coverage sequences: every one"), "{out}");

    // `check --connect` is check, then preflight.
    let rb = dir.path().join("rb.toml");
    let out = cutover_off_thread(
        dir.path(),
        &["check", "--connect", rb.to_str().unwrap()],
        &[],
    )
    .await;
    let (stdout, _) = exited(&out, 0);
    assert!(
        stdout.contains(": ok (1 step)") && stdout.contains("✔ coverage tables"),
        "{stdout}"
    );
    // Each failure named: a table missing on the target, a key column that does not exist, a
    // key without a unique index (a warning), a slot that does not exist, a window in the past,
    // an --approve role the runbook does not have.
    let broken = body(
        "pre",
        "[lag]\nmethod = \"logical\"\nslot = \"no_such_slot\"\nwarn = \"1MB\"\ncritical = \"2MB\"\n\n\
         [[reconcile]]\nname = \"gone\"\nkind = \"count\"\ntable = \"public.orders\"\ntarget_table = \"public.orders_v2\"\n\n\
         [[reconcile]]\nname = \"badkey\"\nkind = \"checksum\"\ntable = \"public.orders\"\nkey = \"order_no\"\n\n\
         [[reconcile]]\nname = \"loose\"\nkind = \"checksum\"\ntable = \"public.loose\"\nkey = \"id\"\n",
    )
    .replace(
        "name = \"pre\"",
        "name = \"pre\"\nwindow = { start = \"2026-01-01T02:00:00Z\", minutes = 90 }",
    );
    let (code, out) = preflight(dir.path(), &broken, &["--approve", "dba=Ann"]).await;
    assert_eq!(code, Some(2), "{out}");
    for says in [
        "✘ check gone: no table public.orders_v2 on target",
        "✘ check badkey: public.orders on source has no key column order_no",
        "⚠ check loose: public.loose on source: no unique index on (id)",
        "✘ lag slot no_such_slot: no replication slot no_such_slot on source",
        "✘ window: closed",
        "✘ sign-offs: --approve dba=Ann: the runbook has no sign-off step",
        "NOT READY",
    ] {
        assert!(out.contains(says), "{says}: {out}");
    }
    // --json: one object per finding.
    let (code, out) = preflight(dir.path(), &broken, &["--json"]).await;
    assert_eq!(code, Some(2), "{out}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(
        first["verdict"].is_string() && first["what"].is_string(),
        "{first}"
    );
}

/// A server that accepts the connection and never answers: preflight says so within its 5 s
/// and goes on; it never hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_named_and_preflight_does_not_hang() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[runbook]\nname = \"pre\"\n\n{}\n[[step]]\nid = \"x\"\nrun = \"true\"\n",
        connections(
            &format!("host=127.0.0.1 port={port} dbname=x user=x connect_timeout=30"),
            &format!("host=127.0.0.1 port={port} dbname=y user=x connect_timeout=30")
        )
    );
    let done =
        tokio::time::timeout(Duration::from_secs(60), preflight(dir.path(), &text, &[])).await;
    let (code, out) = done.expect("preflight ended by itself");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("✘ connection source: "), "{out}");
    assert!(out.contains("no answer within 5s"), "{out}");
    drop(silent);
}

/// A runbook whose source is a port nobody listens on: preflight fails on it.
fn unreachable_runbook(marker: &std::path::Path) -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    format!(
        "[runbook]\nname = \"pre\"\n\n{}\n[[step]]\nid = \"x\"\nrun = \"touch {}\"\n",
        connections(
            &format!("host=127.0.0.1 port={port} dbname=x user=x"),
            &format!("host=127.0.0.1 port={port} dbname=y user=x")
        ),
        marker.display()
    )
}

/// `run` runs preflight before step 1: a failure stops a headless run with exit 2 before any
/// step ran, journaled (the findings, and the run's end as `not_started`).
#[test]
fn a_failing_preflight_stops_the_run_before_step_one() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("step-ran");
    let out = headless(dir.path(), &unreachable_runbook(&marker), &[]);
    let (stdout, _) = exited(&out, 2);
    assert!(!marker.exists(), "step 1 must not run: {stdout}");
    assert!(stdout.contains("● preflight: 2 of "), "{stdout}");
    assert!(stdout.contains("✘ connection source: "), "{stdout}");
    assert!(stdout.contains("--skip-preflight"), "{stdout}");
    let recs = journal(&dir.path().join("j.jsonl"));
    let pre = of_type(&recs, "preflight");
    assert_eq!(pre.len(), 1, "{recs:?}");
    assert_eq!(pre[0]["blocks"], true);
    assert!(of_type(&recs, "step_started").is_empty(), "{recs:?}");
    let end = of_type(&recs, "run_finished");
    assert_eq!(end[0]["outcome"], "not_started", "{recs:?}");
    // `report` and the summary say it too.
    let report = cutover(dir.path(), &["report", "j.jsonl"], &[]);
    let (md, _) = text(&report);
    assert!(md.contains("preflight"), "{md}");
    // `cutover preflight` with that journal: a new run would refuse it, so it says so (the
    // run's own preflight above, after the journal was made, did not).
    let (said, _) = cutover_exits(
        dir.path(),
        &["preflight", "rb.toml", "--journal", "j.jsonl"],
        2,
    );
    assert!(
        said.lines()
            .any(|l| l.starts_with("✘ journal: j.jsonl already exists")),
        "{said}"
    );
}

/// `--skip-preflight "reason"` starts the run anyway; the reason is journaled as the
/// operator's, with who gave it. A blank reason is refused before anything starts.
#[test]
fn skip_preflight_starts_the_run_and_journals_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("step-ran");
    let text_rb = unreachable_runbook(&marker);
    let out = headless_at(
        dir.path(),
        &text_rb,
        "blank.jsonl",
        &["--skip-preflight", "  "],
        &[],
    );
    let (_, stderr) = exited(&out, 2);
    assert!(stderr.contains("a reason is required"), "{stderr}");
    assert!(!dir.path().join("blank.jsonl").exists());
    let out = headless_at(
        dir.path(),
        &text_rb,
        "j.jsonl",
        &["--skip-preflight", "source is down for the rehearsal"],
        &[],
    );
    let (stdout, _) = exited(&out, 0);
    assert!(marker.exists(), "{stdout}");
    has(
        &stdout,
        "started although preflight failed: source is down for the rehearsal",
    );
    let recs = journal(&dir.path().join("j.jsonl"));
    let ops = of_type(&recs, "operator");
    let over = ops
        .iter()
        .find(|r| r["action"] == "override_preflight")
        .unwrap_or_else(|| panic!("{ops:?}"));
    assert_eq!(over["reason"], "source is down for the rehearsal", "{over}");
    assert!(over["by"].is_string(), "{over}");
}

/// A window that closed before the run starts stops it (the first-time user's trial: a
/// window in the past started without a word); `--json` carries the findings as one record.
#[test]
fn a_window_in_the_past_stops_the_run_and_json_carries_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    let text_rb = "[runbook]\nname = \"late\"\nwindow = { start = \"2020-01-01T00:00:00Z\", minutes = 60 }\n\n[[step]]\nid = \"x\"\nrun = \"true\"\n";
    let out = headless_at(dir.path(), text_rb, "j.jsonl", &["--json"], &[]);
    let (stdout, _) = exited(&out, 2);
    let pre: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "preflight")
        .collect();
    assert_eq!(pre.len(), 1, "{stdout}");
    let window = entry(&pre[0]["findings"], "what", "window")
        .cloned()
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(window["verdict"], "fail", "{window}");
    assert!(
        window["detail"].as_str().unwrap().starts_with("closed "),
        "{window}"
    );
}

/// Credentials the server refuses (a role that does not exist) and a journal directory that
/// takes no file are each named, with where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_names_refused_credentials_and_an_unwritable_journal_directory() {
    let _ = pair("precred", "CREATE TABLE t (id int PRIMARY KEY);", "").await;
    let dir = tempfile::tempdir().unwrap();
    let (sc, _) = clusters();
    let text = body("precred", "").replace(
        &format!("dsn = \"{}\"", sc.dsn_db("precred")),
        &format!(
            "dsn = \"{}\"",
            sc.dsn_db("precred")
                .replace("user=postgres", "user=nobody_here")
        ),
    );
    assert!(text.contains("user=nobody_here"), "{text}");
    let (code, out) = preflight(
        dir.path(),
        &text,
        &["--journal", "/proc/cutover-nowhere/j.jsonl"],
    )
    .await;
    assert_eq!(code, Some(2), "{out}");
    let port = sc.port();
    assert!(
        out.lines().any(|l| l.starts_with("✘ connection source:")
            && l.contains(&format!("127.0.0.1:{port}/precred"))
            && l.contains("nobody_here")),
        "{out}"
    );
    assert!(out.contains("✔ connection target:"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("✘ journal directory: /proc") && l.contains("cannot write")),
        "{out}"
    );
}

/// `coverage = "strict"` with no connection named `source` (and no reconcile check to name
/// one) says it cannot tell what is covered, and is not ready. Before, coverage was skipped
/// without a word and preflight said ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_coverage_without_a_source_connection_is_not_ready() {
    let _ = pair("prenosrc", "CREATE TABLE t (id int PRIMARY KEY);", "").await;
    let dir = tempfile::tempdir().unwrap();
    let text = body("prenosrc", "")
        .replace("connections.source", "connections.old")
        .replace("connections.target", "connections.new")
        .replace("name = \"pre\"", "name = \"pre\"\ncoverage = \"strict\"");
    let (code, out) = preflight(dir.path(), &text, &[]).await;
    assert_eq!(code, Some(2), "{out}");
    has(
        &out,
        "✘ coverage: no connection source to read the tables from",
    );
}

/// A unique index's INCLUDE columns are not part of its key, and an index over an
/// expression proves nothing about the column beside it: `UNIQUE (id) INCLUDE (note)` makes
/// `id` unique, `UNIQUE (tenant_id, lower(email))` does not make `tenant_id` unique. Before,
/// the first read as no unique index, and the second as one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_columns_and_expression_indexes_are_read_for_what_they_prove() {
    let _ = pair(
        "preidx",
        "CREATE TABLE inc (id int NOT NULL, note text, UNIQUE (id) INCLUDE (note));
         CREATE TABLE acc (tenant_id int NOT NULL, email text NOT NULL);
         CREATE UNIQUE INDEX ON acc (tenant_id, lower(email));",
        "",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = body(
        "preidx",
        "[[reconcile]]\nname = \"inc\"\nkind = \"checksum\"\ntable = \"public.inc\"\nkey = \"id\"\n\
         [[reconcile]]\nname = \"acc\"\nkind = \"checksum\"\ntable = \"public.acc\"\nkey = \"tenant_id\"\n",
    );
    let (_, out) = preflight(dir.path(), &text, &[]).await;
    has(
        &out,
        "✔ check inc: public.inc on target, key (id) unique by an index",
    );
    assert!(!out.contains("key (tenant_id) unique by an index"), "{out}");
}

/// A connection that fails leaves the tables and keys the checks expect on it unchecked: each
/// is said so, rather than left out of the findings as if there were none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_on_a_connection_that_failed_is_said_not_checked() {
    let (s, _) = clusters();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[runbook]\nname = \"pre\"\n\n{}\n\
         [[reconcile]]\nname = \"orders\"\nkind = \"checksum\"\ntable = \"public.orders\"\nkey = \"id\"\n\
         [[step]]\nid = \"x\"\nrun = \"true\"\n",
        connections(
            &s.dsn(),
            "host=127.0.0.1 port=1 user=postgres dbname=app connect_timeout=2"
        )
    );
    let (code, out) = preflight(dir.path(), &text, &[]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.lines()
            .any(|l| l
                .starts_with("✘ check orders: target: public.orders not checked: no connection")),
        "{out}"
    );
}
