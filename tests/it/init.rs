//! `cutover init` on a real pair (issue 25): the inventory flags each table that earns it, the
//! runbook it writes validates, covers every table (`coverage = "strict"`), runs headless to
//! its reconcile gate and passes it on identical data, and fails it on a difference; and each
//! refusal (an existing file, an unreachable server, an empty database, an unreadable table)
//! names what is wrong and writes nothing.

use crate::reconcile::{clusters, pair};
use crate::support::*;

/// A schema with one table of each kind init flags: keyed, keyless, partitioned, wide (mostly
/// TOAST), binary, ICU-collated, referenced by foreign keys; a sequence; and a table on each
/// side only.
const SETUP: &str = "\
CREATE COLLATION de_icu (provider = icu, locale = 'de-DE');
CREATE TABLE customers (id int PRIMARY KEY, name text COLLATE de_icu);
INSERT INTO customers SELECT g, 'name ' || g FROM generate_series(1, 200) g;
CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers, total numeric);
INSERT INTO orders (customer, total) SELECT 1 + g % 200, g * 1.5 FROM generate_series(1, 500) g;
CREATE TABLE refunds (id int PRIMARY KEY, customer int REFERENCES customers);
CREATE TABLE notes (id int PRIMARY KEY, customer int REFERENCES customers);
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE tags (id int PRIMARY KEY, label text COLLATE ci);
INSERT INTO tags VALUES (1, 'Red'), (2, 'blue');
CREATE TABLE audit_log (at timestamptz, what text);
INSERT INTO audit_log SELECT timestamptz '2026-01-01' + g * interval '1 min', 'event ' || (g % 7) FROM generate_series(1, 300) g;
INSERT INTO audit_log SELECT timestamptz '2026-01-01', 'dup' FROM generate_series(1, 3);
CREATE TABLE events (id int NOT NULL, day date NOT NULL, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE events_2026_01 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE events_2026_02 PARTITION OF events FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO events SELECT g, date '2026-01-01' + (g % 50) FROM generate_series(1, 400) g;
CREATE TABLE blobs (id int PRIMARY KEY, body bytea);
ALTER TABLE blobs ALTER COLUMN body SET STORAGE EXTERNAL;
INSERT INTO blobs SELECT g, convert_to(repeat(md5(g::text), 400), 'UTF8') FROM generate_series(1, 40) g;
";

fn init(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["init"];
    all.extend_from_slice(args);
    let out = cutover(dir, &all, &[]);
    let (o, e) = text(&out);
    (out.status.code(), o, e)
}

/// `cutover init --source SOURCE --target TARGET ARGS...` in `dir`.
fn init_between(
    dir: &std::path::Path,
    (source, target): (&str, &str),
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut all = vec!["--source", source, "--target", target];
    all.extend_from_slice(args);
    init(dir, &all)
}

/// `cutover init -o rb.toml EXTRA...` between the pair's databases `db`, which succeeds:
/// the directory and the runbook written.
fn written(db: &str, extra: &[&str]) -> (tempfile::TempDir, String) {
    let (s, t) = clusters();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["-o", "rb.toml"];
    args.extend_from_slice(extra);
    let (code, out, err) = init_between(dir.path(), (&s.dsn_db(db), &t.dsn_db(db)), &args);
    assert_eq!(code, Some(0), "{out}{err}");
    let rb = std::fs::read_to_string(dir.path().join("rb.toml")).unwrap();
    (dir, rb)
}

/// A pair of databases `db` (the pair's clusters), `source_ddl` run on both and `target_ddl`
/// on the target after it, and what [`written`] wrote between them.
async fn written_between(
    db: &str,
    source_ddl: &str,
    target_ddl: &str,
    extra: &[&str],
) -> (tempfile::TempDir, String) {
    let _ = pair(db, source_ddl, target_ddl).await;
    written(db, extra)
}

/// The runbook `rb` (written in `dir` as `rb.toml`) passes `cutover check`, and `cutover
/// reconcile` on it exits `code`: what reconcile said.
fn checks_then_reconciles(dir: &std::path::Path, rb: &str, code: i32) -> String {
    let check = cutover(dir, &["check", "rb.toml"], &[]);
    assert_eq!(check.status.code(), Some(0), "{:?}\n{rb}", text(&check));
    let r = cutover(dir, &["reconcile", "rb.toml"], &[]);
    let (said, err) = text(&r);
    assert_eq!(r.status.code(), Some(code), "{said}{err}\n{rb}");
    said
}

/// `cutover preflight` on the runbook `rb` (written in `dir` as `rb.toml`) exits 0, saying
/// `want`.
#[track_caller]
fn preflight_passes_saying(dir: &std::path::Path, rb: &str, want: &str) {
    let pre = cutover(dir, &["preflight", "rb.toml"], &[]);
    let (said, err) = text(&pre);
    assert_eq!(pre.status.code(), Some(0), "{said}{err}\n{rb}");
    has(&said, want);
}

/// What `init` did was a refusal (exit 2) that says `says`.
fn refused((code, out, err): (Option<i32>, String, String), says: &str) {
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains(says), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_inventories_a_pair_and_its_runbook_gates_the_cutover() {
    let (_sc, tc) = pair(
        "initpair",
        SETUP,
        "CREATE TABLE target_extra (id int PRIMARY KEY);",
    )
    .await;
    let (s, t) = clusters();
    // A table on the source only.
    let sc = s.connect_db("initpair").await.unwrap();
    sc.batch_execute(
        "CREATE TABLE legacy_only (id int PRIMARY KEY); INSERT INTO legacy_only VALUES (1)",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, tgt) = (s.dsn_db("initpair"), t.dsn_db("initpair"));
    let (code, out, err) = init_between(
        dir.path(),
        (&src, &tgt),
        &["-o", "rb.toml", "--inventory", "inv.json"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let rb = std::fs::read_to_string(dir.path().join("rb.toml")).unwrap();
    // Each inventory flag for the table that earns it (printed, and in the runbook's head).
    for (table, flag) in [
        ("public.audit_log", "no key: compared as a multiset"),
        ("public.events", "partitioned: compared through its parent"),
        ("public.blobs", "wide: large TOASTed values"),
        ("public.blobs", "binary data (bytea)"),
        ("public.customers", "ICU-collated columns"),
        ("public.customers", "many foreign keys point at it"),
        ("public.tags", "nondeterministic collation"),
        ("public.legacy_only", "on the source only"),
        ("public.target_extra", "on the target only"),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("⚠ {table}:")))
            .unwrap_or_else(|| panic!("no flag line for {table}: {out}"));
        assert!(line.contains(flag), "{table}: {flag}: {line}");
        assert!(
            rb.lines().any(|l| l.starts_with('#')
                && l.contains(&format!("⚠ {table}:"))
                && l.contains(flag)),
            "{rb}"
        );
    }
    assert!(
        !out.contains("⚠ public.orders:"),
        "orders earns no flag: {out}"
    );
    has(&out, "public.orders_id_seq owned by public.orders.id");
    let inv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("inv.json")).unwrap())
            .unwrap();
    let events = entry(&inv["tables"], "name", "events").unwrap();
    assert_eq!(events["partitions"], 2, "{events}");
    // The runbook: strict coverage, a multiset check for the keyless table, the one-side-only
    // tables excluded with a reason, no password written.
    assert!(rb.contains("coverage = \"strict\""), "{rb}");
    has(&rb, "# public.audit_log has no key: compared as a multiset");
    has(&rb, "public.legacy_only is on the source only");
    has(&rb, "No replication from source to target was found");
    assert!(!rb.contains("password"), "{rb}");
    let check = cutover(dir.path(), &["check", "rb.toml"], &[]);
    assert_eq!(check.status.code(), Some(0), "{:?}", text(&check));
    // Headless to the end: the gate passes on identical data.
    let run = headless_at(dir.path(), &rb, "pass.jsonl", &["--assume-yes"], &[]);
    let (o, _) = exited(&run, 0);
    assert!(o.contains("● preflight: "), "{o}");
    let recs = journal(&dir.path().join("pass.jsonl"));
    let gate = first_finished(&recs, "reconcile");
    assert_eq!(gate["outcome"], "passed", "{gate}");
    // A difference on the target: the gate fails and the run stops there.
    tc.batch_execute("UPDATE orders SET total = total + 1 WHERE id = 7; DELETE FROM audit_log WHERE what = 'dup' AND ctid = (SELECT min(ctid) FROM audit_log WHERE what = 'dup')")
        .await
        .unwrap();
    let run = headless_at(dir.path(), &rb, "fail.jsonl", &["--assume-yes"], &[]);
    exited(&run, 4);
    let recs = journal(&dir.path().join("fail.jsonl"));
    let gate = first_finished(&recs, "reconcile");
    assert_ne!(gate["outcome"], "passed", "{gate}");
    assert!(
        of_type(&recs, "step_started")
            .iter()
            .all(|r| r["id"] != "switch"),
        "{recs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_refuses_clearly_and_writes_nothing() {
    let _ = pair("initempty", "", "").await;
    let _ = pair(
        "initapart",
        "CREATE TABLE a (id int PRIMARY KEY)",
        "DROP TABLE a; CREATE TABLE b (id int PRIMARY KEY)",
    )
    .await;
    let _ = pair(
        "initpriv",
        "CREATE TABLE secret_stuff (id int PRIMARY KEY); \
         DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'init_reader') \
         THEN CREATE ROLE init_reader LOGIN; END IF; END $$;",
        "",
    )
    .await;
    let (s, t) = clusters();
    let (src, tgt) = (s.dsn_db("initpriv"), t.dsn_db("initpriv"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An existing file is never overwritten (nor a symlink followed).
    std::fs::write(dir.path().join("taken.toml"), "keep me").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.toml")).unwrap();
    for name in ["taken.toml", "link.toml"] {
        refused(
            init_between(d, (&src, &tgt), &["-o", name]),
            "never overwrites",
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken.toml")).unwrap(),
        "keep me"
    );
    // An unreachable server is named with its host and port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let gone = format!("host=127.0.0.1 port={port} dbname=nowhere user=x");
    let unreachable = format!("cannot connect to the source 127.0.0.1:{port}");
    refused(
        init_between(d, (&gone, &tgt), &["-o", "a.toml"]),
        &unreachable,
    );
    // An empty database.
    let (se, te) = (s.dsn_db("initempty"), t.dsn_db("initempty"));
    let empty = (se.as_str(), te.as_str());
    let no_tables = "has no tables outside the system schemas";
    refused(init_between(d, empty, &["-o", "b.toml"]), no_tables);
    // No table on both sides (an empty target, the wrong database): a runbook would compare
    // nothing, and its gate would pass on it.
    let (sa, ta) = (s.dsn_db("initapart"), t.dsn_db("initapart"));
    refused(
        init_between(d, (&sa, &ta), &["-o", "b2.toml"]),
        "(1 on the source only, 1 on the target only): a runbook would compare nothing",
    );
    // A table the user cannot read: named, with the privilege.
    let as_reader = |dsn: &str| format!("{dsn} user=init_reader");
    let (sr, tr) = (as_reader(&src), as_reader(&tgt));
    let reader = (sr.as_str(), tr.as_str());
    let (code, _, err) = init_between(d, reader, &["-o", "c.toml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("lacks the SELECT privilege"), "{err}");
    assert!(err.contains("public.secret_stuff on the source"), "{err}");
    // Every table readable, but a sequence not: named too (the sequences check would fail at
    // the gate, on the night).
    let _ = pair(
        "initseqpriv",
        "CREATE TABLE t (id int PRIMARY KEY); CREATE SEQUENCE hidden_seq; \
         GRANT SELECT ON t TO init_reader;",
        "",
    )
    .await;
    let (sr, tr) = (
        as_reader(&s.dsn_db("initseqpriv")),
        as_reader(&t.dsn_db("initseqpriv")),
    );
    let (code, _, err) = init_between(d, (&sr, &tr), &["-o", "c2.toml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot read public.hidden_seq on the source"),
        "{err}"
    );
    // The other arguments, each refused with what is wrong: an existing --inventory file, a
    // runbook path no file can be made at, an inventory that cannot be written (the runbook is
    // taken back: both files or neither), a --sample out of bounds, a --schema with no tables.
    let ok = |extra: &[&str]| init_between(d, (&src, &tgt), extra);
    for (extra, says) in [
        (
            &["-o", "d.toml", "--inventory", "taken.toml"][..],
            "never overwrites",
        ),
        (&["-o", "/proc/cutover-nowhere/e.toml"][..], "e.toml"),
        (&["-o", "/dev/full"][..], "never overwrites"),
        (
            &[
                "-o",
                "i.toml",
                "--inventory",
                "/proc/cutover-nowhere/inv.md",
            ][..],
            "inv.md",
        ),
        (&["-o", "f.toml", "--sample", "0s"][..], "--sample"),
        (&["-o", "g.toml", "--sample", "2h"][..], "--sample"),
        (
            &["-o", "h.toml", "--schema", "no_such_schema"][..],
            "no_such_schema",
        ),
    ] {
        let (code, out, err) = ok(extra);
        assert_eq!(code, Some(2), "{extra:?}: {out}{err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken.toml")).unwrap(),
        "keep me"
    );
    for f in [
        "a.toml", "b.toml", "b2.toml", "c.toml", "d.toml", "f.toml", "g.toml", "h.toml",
    ] {
        assert!(!dir.path().join(f).exists(), "{f} must not be written");
    }
}

/// A password in a DSN becomes a `[secrets]` reference; `-` writes the runbook to stdout and
/// the inventory to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_never_writes_a_password_and_dash_writes_to_stdout() {
    let _ = pair("initpw", "CREATE TABLE t (id int PRIMARY KEY);", "").await;
    let (s, t) = clusters();
    let dir = tempfile::tempdir().unwrap();
    let src = format!("{} password='s3cr3t pw'", s.dsn_db("initpw"));
    let (code, out, err) = init(
        dir.path(),
        &["--source", &src, "--target", &t.dsn_db("initpw"), "-o", "-"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !out.contains("s3cr3t") && !err.contains("s3cr3t"),
        "{out}{err}"
    );
    assert!(out.contains("password=${secrets.SOURCE_PASSWORD}"), "{out}");
    has(
        &out,
        "SOURCE_PASSWORD = { env = \"CUTOVER_SOURCE_PASSWORD\" }",
    );
    assert!(err.contains("INVENTORY taken"), "{err}");
    assert!(out.starts_with("# Written by `cutover init`"), "{out}");
    // `-o -` with stdout closed: the runbook would be lost (Rust's stdout takes a write to a
    // closed descriptor for a success), so init refuses before asking the servers anything.
    let closed = std::process::Command::new("sh")
        .current_dir(dir.path())
        .args(["-c", "\"$@\" >&-", "sh", &bin().to_string_lossy(), "init"])
        .args(["--source", &src, "--target", &t.dsn_db("initpw"), "-o", "-"])
        .output()
        .unwrap();
    let (_, err) = text(&closed);
    assert_eq!(closed.status.code(), Some(2), "{err}");
    has(&err, "-o -: stdout is closed or /dev/null");
}

/// Runs the runbook `rb` headless with `--assume-yes` in `dir`, journal `name`: the exit code
/// and the journal's records.
fn rehearse(
    dir: &std::path::Path,
    rb: &str,
    name: &str,
) -> (Option<i32>, String, Vec<serde_json::Value>) {
    let run = headless_at(dir, rb, name, &["--assume-yes"], &[]);
    let (o, e) = text(&run);
    assert!(dir.join(name).exists(), "no journal {name}: {o}{e}");
    let recs = journal(&dir.join(name));
    (run.status.code(), format!("{o}{e}"), recs)
}

/// The first `step_finished` record of step `id`.
fn first_finished(recs: &[serde_json::Value], id: &str) -> serde_json::Value {
    of_type(recs, "step_finished")
        .into_iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{recs:?}"))
}

/// Step `id` passed (`said`: what the run said).
fn passed(recs: &[serde_json::Value], id: &str, said: &str) {
    assert_eq!(
        step_outcome(recs, id).as_deref(),
        Some("passed"),
        "{id}: {said}"
    );
}

fn step_outcome(recs: &[serde_json::Value], id: &str) -> Option<String> {
    of_type(recs, "step_finished")
        .into_iter()
        .rfind(|r| r["id"] == id)
        .map(|r| r["outcome"].as_str().unwrap_or("").to_string())
}

/// On the drill's own pair (pgbench's tables, one of them keyless, replicated by a logical
/// subscription), init finds the subscription and its slot and writes a logical `[lag]`; the
/// runbook runs headless through lag, freeze, drain, the sequence sync, the reconcile gate and
/// stopping replication, to its end (and, with a row changed on the target, its gate holds
/// the run before replication is stopped). Then preflight names the replication it assumed and no
/// longer finds: the subscription disabled, its slot inactive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_on_the_drill_pair_writes_a_logical_cutover_that_runs_to_its_end() {
    let pg = pg_bin();
    let clusters = tempfile::tempdir().unwrap();
    let pair = cutover_drill::setup::pair(&pg, clusters.path(), 2_000, &mut |_| {})
        .await
        .unwrap();
    pair.wait_synced(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let dsn = |c: &cutover_drill::harness::Cluster| c.dsn_db(cutover_drill::setup::DATABASE);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = init_between(
        dir.path(),
        (&dsn(&pair.source), &dsn(&pair.target)),
        &["-o", "rb.toml", "--sample", "1s"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let rb = std::fs::read_to_string(dir.path().join("rb.toml")).unwrap();
    assert!(rb.contains("method       = \"logical\""), "{rb}");
    has(&rb, &format!("subscription = \"{}\"", pair.subscription));
    has(&rb, &format!("slot         = \"{}\"", pair.slot()));
    assert!(rb.contains("rows/s"), "{rb}");
    // The subscription's walsender is no standby: a streaming [lag] on the source finds none
    // (it counted every walsender, logical ones too, and said ready).
    let streaming = format!(
        "[runbook]\nname = \"s\"\n[connections.source]\ndsn = \"{}\"\n\
         [lag]\nmethod = \"streaming\"\non = \"source\"\n[[step]]\nid = \"x\"\nrun = \"true\"\n",
        dsn(&pair.source)
    );
    crate::support::runbook(dir.path(), "streaming.toml", &streaming);
    let out = cutover(dir.path(), &["preflight", "streaming.toml"], &[]);
    let (said, _) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    has(&said, "✘ lag streaming: no standby streams from source");
    has(
        &rb,
        "public.pgbench_history has no key: compared as a multiset",
    );
    // A row changed on the target only: the gate holds the run (its wait shortened to 15 s),
    // before replication is stopped.
    let target = pair
        .target
        .connect_db(cutover_drill::setup::DATABASE)
        .await
        .unwrap();
    let nudge =
        |by: i32| format!("update pgbench_accounts set abalance = abalance + ({by}) where aid = 7");
    target.batch_execute(&nudge(1)).await.unwrap();
    let short = rb.replacen(
        "expected = \"1m\"\ntimeout  = \"2h\"",
        "expected = \"10s\"\ntimeout  = \"15s\"",
        1,
    );
    assert_ne!(short, rb);
    let (code, said, recs) = rehearse(dir.path(), &short, "held.jsonl");
    assert_eq!(code, Some(4), "{said}");
    assert_ne!(
        step_outcome(&recs, "reconcile").as_deref(),
        Some("passed"),
        "{said}"
    );
    assert!(said.contains("pgbench_accounts"), "{said}");
    assert_eq!(step_outcome(&recs, "stop-replication"), None, "{said}");
    target.batch_execute(&nudge(-1)).await.unwrap();
    let (code, said, recs) = rehearse(dir.path(), &rb, "j.jsonl");
    assert_eq!(code, Some(0), "{said}");
    for id in [
        "wait-lag",
        "drain",
        "reconcile",
        "sync-sequences",
        "stop-replication",
        "switch",
    ] {
        passed(&recs, id, &said);
    }
    let enabled = pair
        .target
        .connect()
        .await
        .unwrap()
        .query_one(
            "select subenabled from pg_subscription where subname = $1",
            &[&pair.subscription],
        )
        .await
        .unwrap()
        .get::<_, bool>(0);
    assert!(!enabled, "stop-replication disabled the subscription");
    let (o, _) = cutover_exits_off_thread(dir.path(), &["preflight", "rb.toml"], 2).await;
    assert!(
        o.lines().any(|l| l.starts_with('✘')
            && l.contains(&pair.subscription)
            && l.contains("disabled")),
        "{o}"
    );
}

/// Hostile names (quotes, dots, a newline, a backslash, non-ASCII) in schemas and tables:
/// the runbook quotes them in TOML and SQL, the inventory comment cannot break out of its
/// comment, and the gate still compares them (and passes on identical data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_survives_hostile_names() {
    let (dir, rb) = written_between(
        "inithostile",
        "CREATE SCHEMA \"Odd \"\"schema\"\".x\";
         CREATE TABLE \"Odd \"\"schema\"\".x\".\"a.b\nnew'line\\\\ é\" (id int PRIMARY KEY, v text);
         INSERT INTO \"Odd \"\"schema\"\".x\".\"a.b\nnew'line\\\\ é\" VALUES (1, 'x'), (2, 'y');
         CREATE TABLE public.\"[[step]]\" (v text);
         INSERT INTO public.\"[[step]]\" VALUES ('a'), ('a');",
        "",
        &[],
    )
    .await;
    // Every line of the inventory block is a comment: a name cannot start a TOML line.
    let head: Vec<&str> = rb
        .lines()
        .take_while(|l| !l.starts_with("[runbook]"))
        .collect();
    assert!(
        head.iter().all(|l| l.is_empty() || l.starts_with('#')),
        "{rb}"
    );
    let check = cutover(dir.path(), &["check", "rb.toml"], &[]);
    assert_eq!(check.status.code(), Some(0), "{:?}\n{rb}", text(&check));
    let (code, said, recs) = rehearse(dir.path(), &rb, "j.jsonl");
    assert_eq!(code, Some(0), "{said}\n{rb}");
    passed(&recs, "reconcile", &said);
}

/// A table named `o*` (keyless: a check of its own, excluded from its schema's glob) does not
/// take `orders` out of the glob with it (the exclusion was read as a wildcard, and the gate
/// passed on different data), and tables named `log${x}` and `${vars.slot}` are those names,
/// not references.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_or_a_reference_in_a_table_name_is_that_name() {
    let (dir, rb) = written_between(
        "initglob",
        "CREATE TABLE orders (id int PRIMARY KEY, total int);
         INSERT INTO orders VALUES (1, 100), (2, 200);
         CREATE TABLE \"o*\" (note text);
         CREATE TABLE \"log${x}\" (id int PRIMARY KEY);
         CREATE TABLE \"${vars.slot}\" (v text);
         INSERT INTO \"${vars.slot}\" VALUES ('a');",
        "UPDATE orders SET total = 999 WHERE id = 2;",
        &[],
    )
    .await;
    has(
        &rb,
        "exclude_tables = [\"public.\\\"$${vars.slot}\\\"\", \"public.\\\"o*\\\"\"]",
    );
    let said = checks_then_reconciles(dir.path(), &rb, 1);
    has(&said, "orders");
    has(&said, "${vars.slot}");
}

/// A sequence in a schema with no table is synced and checked, and partitions in another
/// schema than their parent's are compared through the parent: init writes a runbook that
/// preflight finds ready under `coverage = "strict"`. Before, init refused the partitions'
/// schema ("no table in schema parts"), and left the sequence out (no sync: the target would
/// hand out ids the source already gave).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_sequence_is_synced_and_partitions_elsewhere_count_for_their_parent() {
    let (dir, rb) = written_between(
        "initlone",
        "CREATE SCHEMA ids; CREATE SEQUENCE ids.global_id;
         CREATE TABLE public.t (id bigint PRIMARY KEY DEFAULT nextval('ids.global_id'));
         CREATE SCHEMA parts;
         CREATE TABLE public.events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
         CREATE TABLE parts.events_2026 PARTITION OF public.events
           FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
         CREATE TABLE public.inc (id int, note text, PRIMARY KEY (id) INCLUDE (note));",
        "",
        &[],
    )
    .await;
    has(&rb, "kind    = \"sequences\"\nschemas = [\"ids\"]");
    // An INCLUDE column (nullable) is no part of the key: public.inc has one, (id).
    assert!(!rb.contains("public.inc has no key"), "{rb}");
    has(&rb, "sync_sequences");
    preflight_passes_saying(
        dir.path(),
        &rb,
        "✔ coverage sequences: every one on source is compared or excluded",
    );
}

/// Names that took another check's name or broke the runbook: schemas called `schema`,
/// `sequences` and `all`, one holding a newline, a keyless table with a tab in its name,
/// `--schema` given twice, a database named with `${`. init writes a runbook that checks
/// and whose checks pass on identical data; before, it said "a bug in cutover init".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_collide_with_check_names_are_written_apart() {
    let db = "init${x}names";
    let mut args = Vec::new();
    for schema in ["schema", "sequences", "all", "x\ny", "public", "public"] {
        args.extend(["--schema", schema]);
    }
    let (dir, rb) = written_between(
        db,
        "CREATE SCHEMA \"schema\"; CREATE TABLE \"schema\".a (id int PRIMARY KEY);
         CREATE SCHEMA sequences; CREATE TABLE sequences.b (id int PRIMARY KEY);
         CREATE SCHEMA \"all\"; CREATE TABLE \"all\".c (id int PRIMARY KEY);
         CREATE SCHEMA \"x\ny\"; CREATE TABLE \"x\ny\".d (id int PRIMARY KEY);
         CREATE TABLE public.\"t\tab\" (v text); INSERT INTO public.\"t\tab\" VALUES ('a');
         CREATE SEQUENCE public.s;",
        "",
        &args,
    )
    .await;
    checks_then_reconciles(dir.path(), &rb, 0);
    has(&rb, "name   = \"schema tables\"");
    has(&rb, "name   = \"all tables\"");
}

/// `--schema billing` on a database that has other schemas: those are excluded on purpose in
/// the runbook, and preflight finds it ready under `coverage = "strict"` (before, it named
/// every table of the other schemas as covered by no check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_left_out_by_schema_are_excluded_on_purpose() {
    let (dir, rb) = written_between(
        "initonly",
        "CREATE SCHEMA billing; CREATE TABLE billing.inv (id int PRIMARY KEY);
         CREATE TABLE public.a (id int PRIMARY KEY); CREATE SCHEMA \"Odd.s\";
         CREATE TABLE \"Odd.s\".t (id int PRIMARY KEY);",
        "",
        &["--schema", "billing"],
    )
    .await;
    has(&rb, "exclude_tables = [\"\\\"Odd.s\\\".*\", \"public.*\"]");
    preflight_passes_saying(
        dir.path(),
        &rb,
        "✔ coverage tables: every one on source is compared or excluded",
    );
}

/// A schema whose every table is on one side only (`archive`, not migrated): its tables are
/// excluded on purpose, so preflight under `coverage = "strict"` is ready and the checks pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_on_one_side_only_is_excluded_on_purpose() {
    let _ = pair(
        "initarch",
        "CREATE TABLE public.a (id int PRIMARY KEY); INSERT INTO public.a VALUES (1);
         CREATE SCHEMA archive; CREATE TABLE archive.old (id int PRIMARY KEY);",
        "DROP TABLE archive.old;",
    )
    .await;
    let (dir, rb) = written("initarch", &[]);
    let pre = cutover(dir.path(), &["preflight", "rb.toml"], &[]);
    let (said, err) = text(&pre);
    assert_eq!(pre.status.code(), Some(0), "{said}{err}\n{rb}");
    checks_then_reconciles(dir.path(), &rb, 0);
}

/// When every table on both sides has a check of its own (here the one table is keyless), no
/// schema gets a glob check: the exclusions for a schema on one side only still find a check
/// to stand in, and strict preflight passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusions_find_a_check_when_every_table_has_one_of_its_own() {
    let _ = pair(
        "initallown",
        "CREATE TABLE public.a (id int); INSERT INTO public.a VALUES (1), (1);
         CREATE SCHEMA archive; CREATE TABLE archive.old (id int PRIMARY KEY);",
        "DROP TABLE archive.old;",
    )
    .await;
    let (dir, rb) = written("initallown", &[]);
    assert!(rb.contains("exclude_tables = [\"archive.old\"]"), "{rb}");
    let pre = cutover(dir.path(), &["preflight", "rb.toml"], &[]);
    let (said, err) = text(&pre);
    assert_eq!(pre.status.code(), Some(0), "{said}{err}\n{rb}");
    checks_then_reconciles(dir.path(), &rb, 0);
}

/// When the target is a standby of the source, init writes a streaming `[lag]` and a
/// `promote` step; the runbook runs headless to its end and the standby is promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_on_a_standby_writes_a_streaming_cutover_that_promotes_it() {
    let (primary, standby) = primary_and_standby(
        "init-primary",
        "init-standby",
        "create table items (id bigserial primary key, payload text); \
         insert into items (payload) select 'p' || g from generate_series(1, 300) g",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = init_between(
        dir.path(),
        (&primary.dsn(), &standby.dsn()),
        &["-o", "rb.toml", "--sample", "1s"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let rb = std::fs::read_to_string(dir.path().join("rb.toml")).unwrap();
    assert!(rb.contains("method   = \"streaming\""), "{rb}");
    assert!(rb.contains("= \"promote\"\n"), "{rb}");
    assert!(
        !rb.contains("sync-sequences"),
        "a standby replays its sequences: {rb}"
    );
    let (code, said, recs) = rehearse(dir.path(), &rb, "j.jsonl");
    assert_eq!(code, Some(0), "{said}");
    for id in ["wait-lag", "reconcile", "promote", "switch"] {
        passed(&recs, id, &said);
    }
    let recovering = standby
        .connect()
        .await
        .unwrap()
        .query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get::<_, bool>(0);
    assert!(!recovering, "the standby was promoted");
}

/// A proxy to the server at `upstream` that lets a client log in (the SSL request, the
/// start-up message and passwords go through, and every answer comes back) and then passes
/// nothing more on: the server never hears the first query, so the client waits for an
/// answer that never comes. Its port; what it took stays open until the test process ends.
fn deaf_after_login(upstream: u16) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut to_client, mut from_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut from_server, &mut to_client));
            std::thread::spawn(move || {
                let (mut client, mut server) = (client, server);
                let mut read = |n: usize| {
                    let mut b = vec![0; n];
                    client.read_exact(&mut b).map(|()| b)
                };
                // Untyped start-up messages (length, then a code) until the start-up itself.
                loop {
                    let Ok(len) = read(4) else { return };
                    let n = u32::from_be_bytes(len[..4].try_into().unwrap()) as usize;
                    let Ok(body) = read(n - 4) else { return };
                    server.write_all(&[len, body.clone()].concat()).unwrap();
                    let code = u32::from_be_bytes(body[..4].try_into().unwrap());
                    if code != 80_877_103 && code != 80_877_104 {
                        break;
                    }
                }
                // Typed messages: passwords pass; the first anything else, and all after it,
                // are kept from the server.
                let mut deaf = false;
                loop {
                    let Ok(head) = read(5) else { return };
                    let n = u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
                    let Ok(body) = read(n - 4) else { return };
                    deaf |= head[0] != b'p';
                    if !deaf {
                        server.write_all(&[head, body].concat()).unwrap();
                    }
                }
            });
        }
    });
    port
}

/// Attack: a server that takes the log-in and then never answers a query. `init` gives up at
/// its `--read-timeout`, naming the server that did not answer and what it was asked, not the
/// one that did; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_is_named_at_the_read_timeout() {
    let _ = pair("initdeaf", "CREATE TABLE a (id int PRIMARY KEY)", "").await;
    let (s, t) = clusters();
    let port = deaf_after_login(t.port());
    let deaf = t
        .dsn_db("initdeaf")
        .replace(&format!("port={}", t.port()), &format!("port={port}"));
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = init_between(
        dir.path(),
        (&s.dsn_db("initdeaf"), &deaf),
        &["-o", "rb.toml", "--read-timeout", "3s"],
    );
    assert_eq!(code, Some(2), "{out}{err}");
    let target =
        format!("no answer within 3s from the target 127.0.0.1:{port}/initdeaf (asked to ");
    assert!(err.contains(&target), "{err}");
    assert!(
        !err.contains("the source 127.0.0.1"),
        "the source answered: {err}"
    );
    assert!(!dir.path().join("rb.toml").exists());
    // The bound is the operator's: nothing, or nonsense, is refused before anything is read.
    for bad in ["", "0s", "soon", "2h"] {
        let (code, out, err) = init_between(
            dir.path(),
            (&s.dsn_db("initdeaf"), &deaf),
            &["-o", "rb.toml", "--read-timeout", bad],
        );
        assert_eq!(code, Some(2), "{bad}: {out}{err}");
        assert!(err.contains("--read-timeout"), "{bad}: {err}");
    }
}

/// Attack: a file a command would write, in a directory that takes no file (one that does not
/// exist; one nobody may write: `/proc` for root, a mode 0500 one otherwise). `init -o`,
/// `init --inventory` and `reconcile --repair-sql` each say so before anything is read (the
/// servers here answer nobody, the runbook does not exist: what is said is the file), exit 2.
#[test]
fn a_directory_that_takes_no_file_is_said_before_anything_is_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // SAFETY: geteuid has no failure mode.
    let ro = if unsafe { libc::geteuid() } == 0 {
        std::path::PathBuf::from("/proc")
    } else {
        let ro = d.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        ro
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!(
        "host=127.0.0.1 port={} dbname=nowhere user=x",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    for place in [ro.clone(), d.join("no-such-dir")] {
        let file = place.join("out.toml").display().to_string();
        let inventory = place.join("inv.md").display().to_string();
        for args in [
            vec!["-o", file.as_str()],
            vec!["-o", "fine.toml", "--inventory", inventory.as_str()],
        ] {
            let (code, out, err) = init_between(d, (&gone, &gone), &args);
            assert_eq!(code, Some(2), "{args:?}: {out}{err}");
            let named = if args.len() == 2 { &file } else { &inventory };
            assert!(err.contains(&format!("cannot create {named}: ")), "{err}");
            assert!(
                !err.contains("cannot connect"),
                "asked a server first: {err}"
            );
        }
        let patch = place.join("fix.sql").display().to_string();
        let out = cutover(
            d,
            &["reconcile", "none.toml", "orders", "--repair-sql", &patch],
            &[],
        );
        let (stdout, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}{err}");
        assert!(err.contains(&format!("cannot create {patch}: ")), "{err}");
    }
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), usize::from(ro.starts_with(d)), "{left:?}");
}
