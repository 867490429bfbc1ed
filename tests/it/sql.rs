//! SQL steps, SQL waits, rollback_sql and lag gates, through the real binary against real
//! clusters from the harness.

use std::time::Duration;

use cutover_drill::harness::{Cluster, ClusterOptions, Pair, PgBin};

use crate::support::*;

fn bin() -> PgBin {
    crate::support::pg_bin()
}

/// Runs the runbook `name` (its connections and steps in `body`) headless in a new
/// directory, off the async runtime's threads; asserts that it exits with `code`. Returns the
/// directory (with the journal) and stdout.
async fn run_runbook(name: &str, body: String, code: i32) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let text = format!("[runbook]\nname = \"{name}\"\n{body}");
    let out = headless_off_thread(d.path(), &text, &[]).await;
    let (stdout, _) = exited(&out, code);
    (d, stdout)
}

/// Runs `query` (on `pg_stat_activity`) on `db` every 50 ms, at most 100 times, until `found`
/// picks something from its rows: what it picked, or `None` if it never did.
async fn poll_activity<T>(
    db: &Cluster,
    query: &str,
    found: impl Fn(&[tokio_postgres::Row]) -> Option<T>,
) -> Option<T> {
    let client = db.connect().await.unwrap();
    for _ in 0..100 {
        let rows = client.query(query, &[]).await.unwrap();
        if let Some(t) = found(&rows) {
            return Some(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A step `id` running `sql` on the connection `on`, then `more` (its expectation, its
/// timeout).
fn sql_step(id: &str, on: &str, sql: &str, more: &str) -> String {
    format!("[[step]]\nid = \"{id}\"\nsql = \"{sql}\"\non = \"{on}\"\n{more}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_steps_check_expectations_and_a_timeout_cancels_the_query_on_the_server() {
    let db = Cluster::create(&bin(), ClusterOptions::named("sqlsteps"))
        .await
        .unwrap();
    db.execute(
        "create table t (id int primary key, name text); insert into t values (1, 'a'), (2, NULL)",
    )
    .await
    .unwrap();
    let conn = format!("[connections.db]\ndsn = \"{}\"\n", db.dsn());
    let ok = format!(
        r#"{conn}
[[step]]
id = "count"
sql = "select id, name from t order by id"
on = "db"
expect = {{ rows = 2 }}
[[step]]
id = "scalar"
sql = "select name from t where id = 1"
on = "db"
expect = {{ value = "a" }}
[[step]]
id = "update"
sql = "update t set name = 'b' where id = 2"
on = "db"
expect = {{ rows = 1 }}
rollback_sql = "update t set name = NULL where id = 2"
[[step]]
id = "ready"
wait = {{ sql = "select count(*) = 2 from t where name is not null", on = "db", every = "200ms" }}
timeout = "10s"
"#
    );
    let (d, stdout) = run_runbook("sql ok", ok, 0).await;
    assert!(stdout.contains("id │ name"), "result table shown: {stdout}");
    assert!(stdout.contains("2  │ NULL"), "NULL shown: {stdout}");
    let recs = journal(&d.path().join("j.jsonl"));
    let fin = of_type(&recs, "step_finished");
    assert_eq!(fin.len(), 4);
    assert_eq!(fin[0]["checks"][0]["detail"], "2 rows (expected 2)");
    assert_eq!(
        fin[1]["checks"][0]["detail"],
        "value \"a\" (expected \"a\")"
    );

    let scalar = sql_step(
        "scalar",
        "db",
        "select name from t where id = 1",
        r#"expect = { value = "zzz" }"#,
    );
    let bad = format!("{conn}\n{scalar}");
    let (_, stdout) = run_runbook("sql bad", bad, 4).await;
    has(&stdout, "value \"a\" (expected \"zzz\")");

    let sleepy = sql_step(
        "sleepy",
        "db",
        "select pg_sleep(60) /* cutover-timeout-test */",
        r#"timeout = "1s""#,
    );
    let slow = format!("{conn}\n{sleepy}");
    let (_, stdout) = run_runbook("sql slow", slow, 4).await;
    assert!(stdout.contains("cancelled on the server"), "{stdout}");
    // The server is no longer running it.
    let gone = poll_activity(
        &db,
        "select count(*) from pg_stat_activity where query like '%cutover-timeout-test%' and state = 'active' and pid <> pg_backend_pid()",
        |rows| (rows[0].get::<_, i64>(0) == 0).then_some(()),
    )
    .await;
    assert!(gone.is_some(), "pg_sleep(60) still active on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_gate_passes_on_fresh_samples_and_samples_are_journaled() {
    let pg = bin();
    let (source, target) = tokio::join!(
        Cluster::create(&pg, ClusterOptions::named("lagsrc")),
        Cluster::create(&pg, ClusterOptions::named("lagtgt")),
    );
    let (source, target) = (source.unwrap(), target.unwrap());
    let ddl = "create table items (id bigserial primary key, payload text)";
    source.execute(ddl).await.unwrap();
    target.execute(ddl).await.unwrap();
    let pair = Pair::logical(source, target, &["items"]).await.unwrap();
    pair.wait_synced(Duration::from_secs(30)).await.unwrap();
    let rb = format!(
        r#"{connections}[lag]
method = "logical"
on = "source"
target = "target"
slot = "{slot}"
warn = "16MB"
critical = "256MB"
interval = "500ms"
{write}[[step]]
id = "drain"
wait = {{ lag_below = "64kB", for = "2s" }}
timeout = "60s"
[[step]]
id = "arrived"
wait = {{ sql = "select count(*) = 1000 from items", on = "target", every = "200ms" }}
timeout = "30s"
"#,
        connections = connections(&pair.source.dsn(), &pair.target.dsn()),
        slot = pair.slot(),
        write = sql_step(
            "write",
            "source",
            "insert into items (payload) select repeat('x', 100) from generate_series(1, 1000)",
            "expect = { rows = 1000 }",
        ),
    );
    let (d, _) = run_runbook("lag gate", rb, 0).await;
    let recs = journal(&d.path().join("j.jsonl"));
    let samples = of_type(&recs, "lag_sample");
    assert!(!samples.is_empty(), "lag samples are journaled");
    assert!(samples[0]["sample"]["bytes"].is_u64(), "{}", samples[0]);
    let waits = of_type(&recs, "step_finished");
    assert_eq!(waits[1]["outcome"], "passed");
    assert!(
        waits[1]["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("below 64.0 kB for 2s"),
        "{}",
        waits[1]
    );
}

/// Server NOTICE and WARNING messages of a SQL step are part of its output, as psql shows
/// them, before its result, masked (issue 28); a failing statement's warnings too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_steps_notices_and_warnings_are_shown_masked() {
    let (s, _) = crate::reconcile::clusters();
    s.execute(
        "CREATE OR REPLACE FUNCTION notice_probe_warn(t text) RETURNS void LANGUAGE plpgsql AS \
         $$ BEGIN RAISE NOTICE 'hello %', 'there'; RAISE WARNING 'careful: %', t; END $$",
    )
    .await
    .unwrap();
    let secret = "n0tice-S3cret";
    let conns = format!(
        "[secrets]\nPW = {{ env = \"CUTOVER_TEST_NOTICE\" }}\n[connections.db]\ndsn = \"{}\"\n",
        s.dsn()
    );
    let steps = [
        sql_step(
            "warns",
            "db",
            "SELECT notice_probe_warn(${secrets.PW})",
            "",
        ),
        sql_step(
            "exists",
            "db",
            "CREATE TABLE IF NOT EXISTS pg_notice_probe (id int); CREATE TABLE IF NOT EXISTS pg_notice_probe (id int)",
            "",
        ),
        sql_step(
            "fails",
            "db",
            "DO $$ BEGIN RAISE WARNING 'about to fail'; RAISE EXCEPTION 'boom'; END $$",
            "",
        ),
    ]
    .concat();
    let d = tempfile::tempdir().unwrap();
    let text = format!("[runbook]\nname = \"notices\"\n{conns}{steps}");
    let env = [("CUTOVER_TEST_NOTICE", secret)];
    let out = headless_off_thread(d.path(), &text, &env).await;
    let (stdout, _) = exited(&out, 4);
    assert!(stdout.contains("NOTICE:  hello there"), "{stdout}");
    assert!(stdout.contains("WARNING:  careful: "), "{stdout}");
    assert!(!stdout.contains(secret), "{stdout}");
    has(
        &stdout,
        "NOTICE:  relation \"pg_notice_probe\" already exists, skipping",
    );
    let warned = stdout
        .find("WARNING:  about to fail")
        .expect("the failing step's warning");
    let failed = stdout.find("✘ 3/3 fails").expect("the step failed");
    assert!(warned < failed, "{stdout}");
    // The output file and the journal have them too, masked.
    let recs = journal(&d.path().join("j.jsonl"));
    let fin = of_type(&recs, "step_finished");
    let file = fin[0]["output_file"]
        .as_str()
        .expect("a sql step's output file");
    let kept = std::fs::read_to_string(d.path().join(file)).unwrap();
    has(&kept, "NOTICE:  hello there\nWARNING:  careful: ");
    assert!(!kept.contains(secret), "{kept}");
    let journaled: Vec<&str> = of_type(&recs, "notice")
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert!(
        journaled
            .iter()
            .any(|m| m.starts_with("warns on db: the server said NOTICE:  hello there")),
        "{journaled:?}"
    );
    assert!(
        journaled
            .iter()
            .any(|m| m.contains("WARNING:  about to fail")),
        "{journaled:?}"
    );
    let text = std::fs::read_to_string(d.path().join("j.jsonl")).unwrap();
    assert!(!text.contains(secret), "the journal is masked");
}

/// A long step's `progress` query is polled on its own session while the step runs: its
/// figures reach the front end; a failing one says so and never fails the step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_s_progress_query_is_polled_while_it_runs() {
    use cutover_model::protocol::{Event, StepOutcome};
    let (s, t) = crate::reconcile::clusters();
    let mut run = session::start(&format!(
        "{}[[step]]\nid = \"copy\"\nrun = \"sleep 2.5\"\n\
         progress = {{ sql = \"select 5, 10\", on = \"target\", every = \"1s\" }}\n\
         [[step]]\nid = \"broken\"\nrun = \"sleep 1.5\"\n\
         progress = {{ sql = \"select 1/0\", on = \"source\", every = \"1s\", unit = \"MB\" }}\n",
        connections(&s.dsn(), &t.dsn())
    ));
    run.ready(0).await;
    run.send(cutover_model::protocol::Command::RunNext).await;
    let (done, total, unit) = run
        .until(|e| match e {
            Event::StepProgress {
                index: 0,
                done,
                total,
                unit,
                error: None,
                ..
            } => Some((*done, *total, unit.clone())),
            _ => None,
        })
        .await;
    assert_eq!((done, total, unit.as_str()), (5, Some(10), "rows"));
    assert_eq!(run.until(session::finished).await.1, StepOutcome::Passed);
    run.ready(1).await;
    run.send(cutover_model::protocol::Command::RunNext).await;
    let error = run
        .until(|e| match e {
            Event::StepProgress {
                index: 1,
                error: Some(e),
                ..
            } => Some(e.clone()),
            _ => None,
        })
        .await;
    assert!(error.contains("division by zero"), "{error}");
    assert_eq!(
        run.until(session::finished).await.1,
        StepOutcome::Passed,
        "a failing progress query never fails the step"
    );
}

/// Attack: a progress query whose error would quote a secret (`invalid input syntax …:
/// "s3cret"`) shows the failure masked, and the step still passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_progress_query_never_shows_a_secret() {
    let (s, _) = crate::reconcile::clusters();
    let secret = "pr0gress-S3cret";
    let text = format!(
        "[runbook]\nname = \"progress attack\"\n\
         [secrets]\nPW = {{ env = \"CUTOVER_TEST_PROGRESS\" }}\n\
         [connections.db]\ndsn = \"{}\"\n\
         [[step]]\nid = \"copy\"\nrun = \"sleep 2.5\"\n\
         progress = {{ sql = \"select ${{secrets.PW}}::int, 1\", on = \"db\", every = \"1s\" }}\n",
        s.dsn()
    );
    let d = tempfile::tempdir().unwrap();
    let env = [("CUTOVER_TEST_PROGRESS", secret)];
    let out = headless_off_thread(d.path(), &text, &env).await;
    let (stdout, stderr) = exited(&out, 0);
    has(
        &stdout,
        "copy: progress query failed: invalid input syntax for type integer",
    );
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stdout}{stderr}"
    );
    let journal = std::fs::read_to_string(d.path().join("j.jsonl")).unwrap();
    assert!(!journal.contains(secret));
}

/// Whether a `select pg_sleep(30)` runs on `db`.
async fn busy(db: &Cluster) -> bool {
    let sleeping = "select count(*) from pg_stat_activity where query like 'select pg_sleep(30)%'";
    let c = db.connect().await.unwrap();
    c.query_one(sleeping, &[]).await.unwrap().get::<_, i64>(0) > 0
}

/// Attack: the server restarts under a running SQL step, and under a SQL wait. The step's
/// statement fails at once with the connection's error (the run does not hang on a dead
/// socket); the wait counts the restart as "not yet", reconnects, and passes once its query
/// holds; the next step runs on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_fails_a_running_statement_and_a_wait_rides_it_out() {
    let mut db = Cluster::create(&bin(), ClusterOptions::named("sqlrestart"))
        .await
        .unwrap();
    let conn = format!("[connections.db]\ndsn = \"{}\"\n", db.dsn());

    // A statement running when the server restarts.
    let rb = format!(
        "[runbook]\nname = \"restart under a step\"\n{conn}{}",
        sql_step("long", "db", "select pg_sleep(30)", "timeout = \"120s\"")
    );
    let d = tempfile::tempdir().unwrap();
    let run = tokio::spawn({
        let (p, rb) = (d.path().to_path_buf(), rb.clone());
        async move { headless_off_thread(&p, &rb, &[]).await }
    });
    for _ in 0..300 {
        if busy(&db).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(busy(&db).await, "the step's statement runs");
    db.restart().await.unwrap();
    let out = run.await.unwrap();
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    let recs = journal(&d.path().join("j.jsonl"));
    let failed = of_type(&recs, "step_finished");
    assert_eq!(failed.len(), 1, "{stdout}");
    assert_eq!(failed[0]["outcome"], "failed", "{stdout}");
    let why = failed[0]["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("terminat") || why.contains("connection") || why.contains("shut"),
        "the failure says the server went: {why}"
    );

    // A wait whose polls span the restart.
    let rb = format!(
        "[runbook]\nname = \"restart under a wait\"\n{conn}\
         [[step]]\nid = \"wait\"\n\
         wait = {{ sql = \"select exists (select 1 from pg_tables where tablename = 'marker')\", on = \"db\", every = \"1s\" }}\n\
         timeout = \"120s\"\n{}",
        sql_step(
            "after",
            "db",
            "select count(*) from marker",
            "expect = { value = \"0\" }"
        )
    );
    let d = tempfile::tempdir().unwrap();
    let run = tokio::spawn({
        let p = d.path().to_path_buf();
        async move { headless_off_thread(&p, &rb, &[]).await }
    });
    let polled = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("j.jsonl")).is_ok_and(|j| j.contains("\"wait_progress\""))
    };
    for _ in 0..300 {
        if polled(d.path()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    db.start().await.unwrap();
    db.execute("create table marker (id int)").await.unwrap();
    let out = run.await.unwrap();
    let (stdout, _) = exited(&out, 0);
    let recs = journal(&d.path().join("j.jsonl"));
    let outcomes: Vec<_> = of_type(&recs, "step_finished")
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["outcome"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("wait".to_string(), serde_json::json!("passed")),
            ("after".to_string(), serde_json::json!("passed"))
        ],
        "{stdout}"
    );
}

/// A server that takes TCP connections and never says a word (a frozen host, a half-open
/// path): its address. The connections it took stay open until the test process ends.
fn silent_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

/// A backend stopped with SIGSTOP, continued (and ended) when dropped, whatever the test did.
struct Stopped<'a>(&'a Cluster, i32);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        signal(self.1, libc::SIGCONT);
        let (c, pid) = (self.0.dsn(), self.1);
        let _ = std::process::Command::new(crate::support::pg_bin().tool("psql"))
            .args([&c, "-XAtc", &format!("select pg_terminate_backend({pid})")])
            .output();
    }
}

/// Attack: a backend that stops answering mid-query (SIGSTOP). The step times out on time and
/// says the cancel was not confirmed; the session is closed, so the next statement on that
/// connection runs on a new one instead of queueing behind the stopped query forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_backend_times_out_and_the_next_statement_gets_a_new_session() {
    use cutover_model::protocol::{Event, StepOutcome};
    let (s, t) = crate::reconcile::clusters();
    let mut run = session::start(&format!(
        "{}{}{}",
        connections(&s.dsn(), &t.dsn()),
        sql_step("hang", "source", "select pg_sleep(31)", "timeout = \"3s\""),
        sql_step(
            "after",
            "source",
            "select 2",
            "expect = { value = \"2\" }\ntimeout = \"30s\""
        )
    ));
    run.start_next(0).await;
    let pid = poll_activity(
        s,
        "select pid from pg_stat_activity where query = 'select pg_sleep(31)'",
        |rows| rows.first().map(|r| r.get::<_, i32>(0)),
    )
    .await;
    let pid = pid.expect("the step's query runs");
    signal(pid, libc::SIGSTOP);
    let _stopped = Stopped(s, pid);
    let (outcome, message) = run
        .until(|e| match e {
            Event::StepFinished {
                index: 0,
                outcome,
                message,
                ..
            } => Some((*outcome, message.clone().unwrap_or_default())),
            _ => None,
        })
        .await;
    assert_eq!(outcome, StepOutcome::TimedOut, "{message}");
    assert!(
        message.contains("did not confirm it") && message.contains("the session was closed"),
        "{message}"
    );
    run.skip("the backend is stopped").await;
    assert_eq!(run.run_next(1).await, StepOutcome::Passed);
}

/// Attack: a target that takes the connection and never answers. A `sync_sequences` step and
/// a `sql` step each end at their `timeout` (the connect is part of it, whatever the DSN's
/// `connect_timeout`), saying nothing was sent; the run goes on to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_answers_costs_a_step_its_timeout_and_no_more() {
    use cutover_model::protocol::{Event, StepOutcome};
    let (s, _) = crate::reconcile::clusters();
    let silent = silent_server();
    let target = format!(
        "host=127.0.0.1 port={} user=postgres dbname=app connect_timeout=120",
        silent.port()
    );
    let mut run = session::start(&format!(
        "{}[[step]]\nid = \"sync\"\nsync_sequences = {{ schemas = [\"public\"] }}\ntimeout = \"2s\"\n{}",
        connections(&s.dsn(), &target),
        sql_step("q", "target", "select 1", "timeout = \"2s\"")
    ));
    // Preflight finds the target silent and holds the run: started anyway.
    run.seen(|e| matches!(e, Event::Preflight { blocks: true, .. }))
        .await;
    run.send(cutover_model::protocol::Command::OverridePreflight {
        reason: "rehearsing a silent target".into(),
    })
    .await;
    for (index, id) in [(0, "sync"), (1, "q")] {
        run.start_next(index).await;
        let (outcome, message) = run
            .until(|e| match e {
                Event::StepFinished {
                    index: i,
                    outcome,
                    message,
                    ..
                } if *i == index => Some((*outcome, message.clone().unwrap_or_default())),
                _ => None,
            })
            .await;
        assert_eq!(outcome, StepOutcome::TimedOut, "{id}: {message}");
        assert!(
            message.contains("while connecting to target; nothing was sent"),
            "{id}: {message}"
        );
        run.skip("the target does not answer").await;
    }
    assert_eq!(
        run.outcome().await,
        cutover_model::protocol::RunOutcome::Completed
    );
}

/// Attack: a `sql` rollback trigger whose query fails cannot fire, and says so once (not at
/// every poll) instead of watching nothing in silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_trigger_whose_query_fails_says_it_cannot_fire() {
    let (s, _) = crate::reconcile::clusters();
    let rb = format!(
        "[runbook]\nname = \"blind trigger\"\n[connections.db]\ndsn = \"{}\"\n\
         [[step]]\nid = \"nap\"\nrun = \"sleep 7\"\n\
         [[rollback_trigger]]\nname = \"drift\"\nwhen = {{ sql = \"select 1/0 = 1\", on = \"db\" }}\n",
        s.dsn()
    );
    let d = tempfile::tempdir().unwrap();
    let out = headless_off_thread(d.path(), &rb, &[]).await;
    let (stdout, _) = exited(&out, 0);
    let said: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("trigger drift: its query fails"))
        .collect();
    assert_eq!(said.len(), 1, "{stdout}");
    assert!(
        said[0].contains("division by zero") && said[0].contains("it cannot fire while it fails"),
        "{stdout}"
    );
    // The server it runs on is named (a failing trigger said only "no answer within 5s").
    assert!(said[0].contains("its query fails on db"), "{stdout}");
}

/// A server that takes the connection and never finishes the start-up is said to give no
/// answer within the `connect_timeout` the DSN set (it said one second more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_said_to_give_no_answer_within_the_connect_timeout() {
    let silent = silent_server();
    let dsn = format!(
        "host=127.0.0.1 port={} user=postgres dbname=app connect_timeout=2",
        silent.port()
    );
    let settings = cutover_pg::ConnSettings::parse("target", &dsn).unwrap();
    let e = settings.connect().await.expect_err("no answer").to_string();
    assert!(e.contains("no answer within 2s"), "{e}");
}
