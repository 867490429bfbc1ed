//! Repair (issue 26): `cutover reconcile RUNBOOK CHECK --repair-sql FILE` on real pairs (the
//! shared PostgreSQL pair, and 15 → 18): for every difference kind and the value types that
//! must round-trip exactly, the patch applied with `psql -f` makes the check pass; a row
//! changed on the target after the diff is left alone (stale); the inverse patch puts the
//! target back exactly; too many differences, a check with nothing to patch row by row, an
//! existing file and a secret in a value are each refused or withheld.

use cutover_drill::harness::{Cluster, ClusterOptions, PgBin};
use tokio_postgres::Client;

use crate::support::*;

/// Every type the patch must carry exactly, and a generated column it must never write.
const SETUP: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE items (
  id int PRIMARY KEY,
  amount numeric(12,3),
  ratio float8,
  small real,
  seen timestamptz,
  day date,
  span interval,
  body bytea,
  doc json,
  docb jsonb,
  tags int[],
  words text[],
  feeling mood,
  note text,
  total numeric GENERATED ALWAYS AS (amount * 2) STORED
);
INSERT INTO items (id, amount, ratio, small, seen, day, span, body, doc, docb, tags, words, feeling, note)
SELECT g, g * 1.125, g / 3.0::float8, (g / 7.0)::real,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour 0.123456 sec',
       date '2026-01-01' + g, make_interval(days => g, secs => g + 0.5),
       decode(md5(g::text), 'hex'), json_build_object('g', g, 'k', 'x y'),
       jsonb_build_object('g', g), ARRAY[g, g + 1], ARRAY['a' || g, NULL, 'q"uo,te'],
       'ok', 'note ' || g
FROM generate_series(1, 300) g;
CREATE TABLE pairs (region text, n int, v text, PRIMARY KEY (region, n));
INSERT INTO pairs SELECT r, g, r || g FROM unnest(ARRAY['eu', 'us', 'o''brien']) r, generate_series(1, 20) g;
CREATE TABLE counted (id int PRIMARY KEY);
CREATE TABLE log (at timestamptz, what text, n numeric);
INSERT INTO log SELECT timestamptz '2026-01-01 00:00:00+00' + (g % 5) * interval '1 min', 'event ' || (g % 5), g % 3 FROM generate_series(1, 60) g;
INSERT INTO log VALUES (NULL, 'it''s, "quoted" (x)', NULL), (NULL, 'it''s, "quoted" (x)', NULL);
"#;

/// Hostile and edge values on the source, where the target differs.
const SOURCE_EDGES: &str = r#"
UPDATE items SET note = E'quote '' back \\ nl \n tab \t crab 🦀 "dq" -- not a comment', words = ARRAY[E'a\\b', '{x}', ''] WHERE id = 10;
UPDATE items SET ratio = 'NaN', small = '-0' WHERE id = 11;
UPDATE items SET amount = 'NaN' WHERE id = 12;
UPDATE items SET ratio = 5e-324, seen = '-infinity', span = '-1 day +02:03:04.000001' WHERE id = 13;
UPDATE items SET doc = '{"b" : 1,   "a":[1, 2]}', docb = '{"nested": {"x": null, "y": [true, 1.5e10]}}' WHERE id = 14;
"#;

/// Each difference kind on the target: one row missing, one extra, several differing.
const TARGET_DIFFS: &str = r#"
DELETE FROM items WHERE id = 5;
INSERT INTO items (id, amount, note) VALUES (999, 1, 'extra on target');
UPDATE items SET ratio = 0.1 + 0.2, seen = seen + interval '1 microsecond', body = '\x00ff',
       doc = '{"g":7}', docb = '{"g": 70}', tags = ARRAY[7], feeling = 'sad', amount = 7.001 WHERE id = 7;
UPDATE items SET note = NULL WHERE id = 8;
UPDATE items SET note = 'plain', words = NULL WHERE id = 10;
UPDATE items SET ratio = 1, small = 0 WHERE id = 11;
UPDATE items SET amount = 12 WHERE id = 12;
UPDATE items SET ratio = 0, seen = now(), span = '1 day' WHERE id = 13;
UPDATE items SET doc = '{"a":[1,2],"b":1}', docb = '{}' WHERE id = 14;
UPDATE items SET note = 'will go stale' WHERE id = 15;
DELETE FROM pairs WHERE region = 'o''brien' AND n = 3;
UPDATE pairs SET v = 'changed' WHERE region = 'eu' AND n = 4;
INSERT INTO pairs VALUES ('zz', 1, 'extra');
DELETE FROM log WHERE ctid IN (SELECT ctid FROM log WHERE what = 'it''s, "quoted" (x)' LIMIT 1);
INSERT INTO log VALUES ('2026-02-02 02:02:02.000002+00', 'extra copy', 1.5), ('2026-02-02 02:02:02.000002+00', 'extra copy', 1.5);
UPDATE log SET n = 42 WHERE ctid IN (SELECT ctid FROM log WHERE what = 'event 1' LIMIT 1);
"#;

fn runbook(source: &str, target: &str) -> String {
    format!(
        r#"[runbook]
name = "repair"
[secrets]
VAULT = {{ env = "CUTOVER_TEST_VAULT" }}
APIKEY = {{ env = "CUTOVER_TEST_APIKEY" }}
{}
[[reconcile]]
name = "items"
kind = "checksum"
table = "public.items"
key = "id"

[[reconcile]]
name = "pairs"
kind = "checksum"
table = "public.pairs"
key = ["region", "n"]

[[reconcile]]
name = "counted"
kind = "count"
table = "public.counted"

[[reconcile]]
name = "log"
kind = "checksum"
table = "public.log"

[[step]]
id = "x"
run = "true"
"#,
        connections(source, target)
    )
}

const VAULT: &str = "vault-S3cret-42";

/// A secret holding a quote: a SQL literal doubles it.
const APIKEY: &str = "k3y'Secret";

/// `cutover reconcile rb.toml ARGS...` in `dir`: exit code and stdout + stderr.
async fn reconcile(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["reconcile", "rb.toml"];
    all.extend_from_slice(args);
    let env = [
        ("CUTOVER_TEST_VAULT", VAULT),
        ("CUTOVER_TEST_APIKEY", APIKEY),
    ];
    let out = cutover_off_thread(dir, &all, &env).await;
    code_and_output(&out)
}

/// Applies `file` on `dsn` with psql (a TimeZone far from UTC: the patch pins its own).
fn psql(bin: &PgBin, dsn: &str, file: &std::path::Path) -> String {
    let out = std::process::Command::new(bin.tool("psql"))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f"])
        .arg(file)
        .env("PGTZ", "Pacific/Chatham")
        .env("PGDATESTYLE", "SQL, DMY")
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(out.status.success(), "psql -f {}: {o}{e}", file.display());
    o
}

/// A fingerprint of everything the target's table holds (pinned text settings).
async fn fingerprint(c: &Client, table: &str) -> String {
    c.batch_execute("SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'")
        .await
        .unwrap();
    c.query_one(
        &format!("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"),
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// The whole story on one pair: patch, stale row, check passes, inverse restores.
async fn round_trip(bin: &PgBin, source: &Cluster, target: &Cluster, db: &str) {
    let (sc, tc) = crate::reconcile::database_on(source, target, db, SETUP).await;
    differ(&sc, &tc).await;
    let dir = tempfile::tempdir().unwrap();
    let (sd, td) = (source.dsn_db(db), target.dsn_db(db));
    runbook_file(dir.path(), &runbook(&sd, &td));

    // The patch: written, nothing changed yet.
    let before = fingerprint(&tc, "items").await;
    let out = patch_written(dir.path(), "items", "p.sql").await;
    assert!(out.contains("1 insert, 8 updates, 1 delete"), "{out}");
    assert_eq!(
        fingerprint(&tc, "items").await,
        before,
        "--repair-sql changes nothing"
    );
    let patch = std::fs::read_to_string(dir.path().join("p.sql")).unwrap();
    assert!(
        patch.contains("BEGIN;") && patch.contains("COMMIT;"),
        "{patch}"
    );
    has(&patch, "-- public.items (id = 7): update");
    assert!(
        !patch.contains("\"total\" ="),
        "a generated column is never written: {patch}"
    );
    assert!(dir.path().join("p.inverse.sql").exists());
    // A value with a newline stays on its comment line (escaped there; whole in its literal).
    let shown = patch
        .lines()
        .find(|l| l.starts_with("--   note: source quote"))
        .unwrap_or_else(|| panic!("{patch}"));
    assert!(shown.contains("nl \\n tab \\t crab 🦀"), "{shown}");

    // A row changed after the diff is stale: its statement changes nothing.
    tc.batch_execute("UPDATE items SET note = 'newer write' WHERE id = 15")
        .await
        .unwrap();
    let original = fingerprint(&tc, "items").await;
    let said = psql(bin, &td, &dir.path().join("p.sql"));
    assert_eq!(said.matches("UPDATE 0").count(), 1, "{said}");
    let (code, out) = reconcile(dir.path(), &["items"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("1 row differs") || out.contains("1 differing"),
        "{out}"
    );
    let note: Option<String> = tc
        .query_one("SELECT note FROM items WHERE id = 15", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        note.as_deref(),
        Some("newer write"),
        "the newer write is kept"
    );

    // A second patch repairs the rest; the check then passes; its inverse restores the target
    // exactly.
    let applies = async |check: &str, file: &str, counts: &str| {
        patch_applies(bin, dir.path(), &td, check, file, counts).await;
    };
    // The patch `file` for `check` (of the table of that name), then its inverse: the table
    // as it was.
    let undone = async |check: &str, file: &str, counts: &str, says: &str| {
        let before = fingerprint(&tc, check).await;
        applies(check, file, counts).await;
        let inverse = file.replace(".sql", ".inverse.sql");
        psql(bin, &td, &dir.path().join(inverse));
        assert_eq!(fingerprint(&tc, check).await, before, "{says}");
    };
    let says = "the inverse restores the target";
    undone("items", "p2.sql", "0 inserts, 1 update, 0 deletes", says).await;

    // The first patch's inverse then puts back the target as it was before any repair (the
    // stale row, which the patch left alone, its inverse leaves alone too).
    let said = psql(bin, &td, &dir.path().join("p.inverse.sql"));
    assert_eq!(said.matches("UPDATE 0").count(), 1, "{said}");
    assert_eq!(fingerprint(&tc, "items").await, original);

    // A composite key, with a quote in it.
    applies("pairs", "pairs.sql", "1 insert, 1 update, 1 delete").await;

    // A table without a key (a multiset): the missing copy inserted, the two extra copies
    // deleted by one statement, the changed row both; the inverse restores it exactly.
    let says = "the inverse restores the multiset";
    undone("log", "log.sql", "2 inserts, 0 updates, 2 deletes", says).await;
}

fn runbook_file(dir: &std::path::Path, text: &str) {
    crate::support::runbook(dir, "rb.toml", text);
}

/// The hostile values on the source ([`SOURCE_EDGES`]) and the differences on the target
/// ([`TARGET_DIFFS`]), on databases made with [`SETUP`].
async fn differ(sc: &Client, tc: &Client) {
    sc.batch_execute(SOURCE_EDGES).await.unwrap();
    tc.batch_execute(TARGET_DIFFS).await.unwrap();
}

/// A runbook named `name` with one checksum check `check` of `table` keyed by `key` (TOML
/// strings, quoted), never rechecked, and `steps`.
fn one_check_runbook(
    name: &str,
    connections: &str,
    (check, table, key): (&str, &str, &str),
    steps: &str,
) -> String {
    format!(
        "[runbook]\nname = \"{name}\"\n{connections}\n[[reconcile]]\nname = \"{check}\"\nkind = \"checksum\"\ntable = {table}\nkey = {key}\nrecheck = \"never\"\n\n{steps}"
    )
}

/// `cutover reconcile rb.toml CHECK` in `dir` passes.
async fn passes(dir: &std::path::Path, check: &str) {
    let (code, out) = reconcile(dir, &[check]).await;
    assert_eq!(code, Some(0), "{out}");
}

/// `cutover reconcile rb.toml CHECK --repair-sql FILE` in `dir` writes a patch: what it said.
async fn patch_written(dir: &std::path::Path, check: &str, file: &str) -> String {
    let (code, out) = reconcile(dir, &[check, "--repair-sql", file]).await;
    assert_eq!(code, Some(0), "{out}");
    out
}

/// The patch `file` for `check` says it makes `counts`; applied with psql on the target
/// `target_dsn`, the check passes.
async fn patch_applies(
    bin: &PgBin,
    dir: &std::path::Path,
    target_dsn: &str,
    check: &str,
    file: &str,
    counts: &str,
) {
    let out = patch_written(dir, check, file).await;
    assert!(out.contains(counts), "{out}");
    psql(bin, target_dsn, &dir.join(file));
    passes(dir, check).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_repairs_every_difference_and_its_inverse_restores_the_target() {
    let (s, t) = crate::reconcile::clusters();
    round_trip(&pg_bin(), s, t, "repairrt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_repairs_a_postgresql_18_target_from_15() {
    let pg15 = pg_bin();
    let pg18 = PgBin::find(Some(&crate::reconcile::pg18_bindir())).expect("PostgreSQL 18");
    let (s, t) = tokio::join!(
        Cluster::create(&pg15, ClusterOptions::named("repair-15")),
        Cluster::create(&pg18, ClusterOptions::named("repair-18")),
    );
    let (s, t) = (s.unwrap(), t.unwrap());
    round_trip(&pg18, &s, &t, "repairx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_that_cannot_be_done_row_by_row_is_refused_and_writes_nothing() {
    let (s, t) = crate::reconcile::clusters();
    let db = "repairno";
    let (sc, tc) = crate::reconcile::pair(db, SETUP, TARGET_DIFFS).await;
    sc.batch_execute("INSERT INTO counted VALUES (1), (2)")
        .await
        .unwrap();
    // A value that is a secret of the runbook is never written to a file.
    sc.batch_execute(&format!("UPDATE items SET note = '{VAULT}' WHERE id = 20"))
        .await
        .unwrap();
    // Nor one holding a quote, which its SQL literal doubles.
    sc.batch_execute("UPDATE items SET note = 'k3y''Secret' WHERE id = 21")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    runbook_file(dir.path(), &runbook(&s.dsn_db(db), &t.dsn_db(db)));
    std::fs::write(dir.path().join("taken.sql"), "keep").unwrap();
    // Paths that are not a new regular file: a FIFO, a symbolic link (for the patch or for
    // its inverse), a device; a blank one.
    mkfifo(&dir.path().join("fifo.sql"));
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.sql")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("f.inverse.sql")).unwrap();
    for (args, says) in [
        (
            &["items", "--repair-sql", "fifo.sql"][..],
            "never overwrites",
        ),
        (
            &["items", "--repair-sql", "link.sql"][..],
            "never overwrites",
        ),
        (&["items", "--repair-sql", "f.sql"][..], "never overwrites"),
        (
            &["items", "--repair-sql", "/dev/full"][..],
            "never overwrites",
        ),
        (&["items", "--repair-sql", ""][..], "a value is required"),
        (
            &[
                "items",
                "--repair-sql",
                "g.sql",
                "--max-rows",
                "99999999999",
            ][..],
            "max-rows",
        ),
        (
            &["items", "--repair-sql", "a.sql", "--max-rows", "3"][..],
            "not a repair",
        ),
        (&["counted", "--repair-sql", "b.sql"][..], "count check"),
        (
            &["items", "--repair-sql", "taken.sql"][..],
            "never overwrites",
        ),
        (
            &["items", "pairs", "--repair-sql", "c.sql"][..],
            "one check",
        ),
        (
            &["items", "--repair-sql", "d.sql", "--every", "1m"][..],
            "once",
        ),
        (
            &["items", "--repair-sql", "e.sql", "--max-rows", "0"][..],
            "max-rows",
        ),
    ] {
        let (code, out) = reconcile(dir.path(), args).await;
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(out.contains(says), "{args:?}: {out}");
    }
    for f in [
        "a.sql",
        "a.inverse.sql",
        "b.sql",
        "c.sql",
        "d.sql",
        "e.sql",
        "f.sql",
        "g.sql",
        ".inverse.sql",
    ] {
        assert!(!dir.path().join(f).exists(), "{f}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken.sql")).unwrap(),
        "keep"
    );
    let out = patch_written(dir.path(), "items", "v.sql").await;
    assert!(out.contains("holds a secret of the runbook"), "{out}");
    assert!(!out.contains("k3y") && !out.contains("Secret"), "{out}");
    for f in ["v.sql", "v.inverse.sql"] {
        let body = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!body.contains(VAULT), "{f}");
        assert!(body.contains("id = 20"), "{f}: the note names the row");
        assert!(
            !body.contains("k3y") && !body.contains("Secret"),
            "{f}: {body}"
        );
        assert!(body.contains("id = 21"), "{f}: the note names the row");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(f)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // A passing check: nothing to repair, no file.
    tc.batch_execute("INSERT INTO counted VALUES (1), (2)")
        .await
        .unwrap();
    let out = patch_written(dir.path(), "counted", "n.sql").await;
    assert!(out.contains("nothing to repair"), "{out}");
    assert!(!dir.path().join("n.sql").exists());
}

/// The library's own apply (what a run's repair step uses): one transaction, the stale
/// statement reported by index and left alone, the others applied; triggers skipped when
/// asked; the inverse restores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reports_a_stale_row_and_can_skip_triggers() {
    use cutover_model::runbook::ReconcileKind;
    use cutover_reconcile::repair::{self, Limits};
    let db = "repairapply";
    let ddl = "CREATE TABLE acct (id int PRIMARY KEY, bal numeric);
               INSERT INTO acct SELECT g, g FROM generate_series(1, 50) g;
               CREATE TABLE audit (n int);";
    let (sc, tc) = crate::reconcile::pair(db, ddl, "").await;
    tc.batch_execute(
        "CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES (1); RETURN NEW; END $$;
         CREATE TRIGGER t AFTER UPDATE ON acct FOR EACH ROW EXECUTE FUNCTION note();
         UPDATE acct SET bal = -1 WHERE id IN (3, 4, 5);",
    )
    .await
    .unwrap();
    tc.batch_execute("DELETE FROM audit").await.unwrap();
    let check = crate::reconcile::check(ReconcileKind::Checksum, "public.acct", &["id"]);
    let opts = cutover_reconcile::Options::default();
    let result =
        cutover_reconcile::run_check(&check, &sc, &tc, &opts, &cutover_reconcile::no_progress)
            .await;
    assert_eq!(result.mismatch_total, 3, "{result:#?}");
    let patch = repair::build(
        &sc,
        &tc,
        &check,
        &result,
        Limits { max_rows: 10 },
        ("s", "t"),
    )
    .await
    .unwrap();
    assert_eq!(patch.describe(), "0 inserts, 3 updates, 0 deletes");
    let before = balances(&tc).await;
    tc.batch_execute("UPDATE acct SET bal = -2 WHERE id = 4")
        .await
        .unwrap();
    tc.batch_execute("DELETE FROM audit").await.unwrap();
    let done = repair::apply(&tc, &patch, false, false).await.unwrap();
    let stale_key = &patch.statements[done.stale[0]].key;
    assert_eq!((done.applied, done.stale.len()), (2, 1), "{done:?}");
    assert_eq!(stale_key, &vec![("id".to_string(), "4".to_string())]);
    let fired: i64 = tc
        .query_one("SELECT count(*) FROM audit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        fired, 0,
        "triggers skipped (session_replication_role = replica)"
    );
    let after = balances(&tc).await;
    assert!(after.starts_with("1,2,3,-2,5,6"), "{after}");
    // The inverse puts back the two rows it changed; the stale one it leaves as it is.
    let undone = repair::apply(&tc, &patch, true, true).await.unwrap();
    assert_eq!((undone.applied, undone.stale.len()), (2, 1), "{undone:?}");
    let back = balances(&tc).await;
    assert_eq!(back, before.replacen("-1,-1,-1", "-1,-2,-1", 1));
    // After an error nothing of the patch stays: a statement that cannot run rolls back all.
    let mut broken = patch.clone();
    broken.statements[1].sql = "UPDATE acct SET bal = 'not a number' WHERE id = 4".into();
    let err = repair::apply(&tc, &broken, false, true).await.unwrap_err();
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    let still = balances(&tc).await;
    assert_eq!(still, back);
}

/// The one text column of each row `sql` returns on `c`.
async fn texts(c: &Client, sql: &str) -> Vec<String> {
    let rows = c.query(sql, &[]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// Every balance of `acct`, in key order.
async fn balances(c: &Client) -> String {
    c.query_one(
        "SELECT string_agg(bal::text, ',' ORDER BY id) FROM acct",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

fn step_runbook(source: &str, target: &str, max_rows: u32) -> String {
    format!(
        r#"[runbook]
name = "repair step"
{}
{ITEMS_CHECK}
[[step]]
id = "repair"
repair = {{ check = "items", max_rows = {max_rows} }}

[[step]]
id = "gate"
wait = {{ reconcile = ["items"] }}
timeout = "60s"

{BOOM_ROLLS_BACK}"#,
        connections(source, target)
    )
}

fn outcome_of(recs: &[serde_json::Value], ty: &str, id: &str) -> Option<String> {
    of_type(recs, ty)
        .into_iter()
        .rfind(|r| r["id"] == id)
        .map(|r| r["outcome"].as_str().unwrap_or("").to_string())
}

/// The run's `repair` step: the patch shown and saved (its inverse first), applied only after
/// REPAIR is typed, the check passing after it; its rollback is the inverse patch, which puts
/// the target back exactly. Refused without changing anything when there are more differing
/// rows than max_rows; held at the confirm when nobody may type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_step_applies_its_reviewed_patch_and_rolls_back_with_its_inverse() {
    let (s, t) = crate::reconcile::clusters();
    let db = "repairstep";
    let (sc, tc) = crate::reconcile::pair(db, SETUP, "").await;
    differ(&sc, &tc).await;
    let before = fingerprint(&tc, "items").await;
    let dir = tempfile::tempdir().unwrap();
    let (sd, td) = (s.dsn_db(db), t.dsn_db(db));
    let d = dir.path().to_path_buf();
    let runs = off_thread(move || {
        let too_many = headless_at(
            &d,
            &step_runbook(&sd, &td, 3),
            "many.jsonl",
            &["--assume-yes"],
            &[],
        );
        let nobody = headless_at(&d, &step_runbook(&sd, &td, 50), "nobody.jsonl", &[], &[]);
        (too_many, nobody)
    })
    .await;
    let (o, _) = exited(&runs.0, 4);
    assert!(o.contains("not a repair"), "{o}");
    let (o, _) = exited(&runs.1, 4);
    assert!(
        o.contains("type REPAIR"),
        "the patch waits for its word: {o}"
    );
    assert_eq!(
        fingerprint(&tc, "items").await,
        before,
        "nothing applied yet"
    );

    let (sd, td) = (s.dsn_db(db), t.dsn_db(db));
    let d = dir.path().to_path_buf();
    let out = off_thread(move || {
        headless_at(
            &d,
            &step_runbook(&sd, &td, 50),
            "j.jsonl",
            &["--assume-yes"],
            &[],
        )
    })
    .await;
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(3), "rolled back: {o}{e}");
    // The patch was shown as the step's output, journaled with its sha256, and applied.
    assert!(
        o.contains("-- cutover repair patch") && o.contains("UPDATE \"public\".\"items\""),
        "{o}"
    );
    let recs = journal(&dir.path().join("j.jsonl"));
    assert_eq!(
        outcome_of(&recs, "step_finished", "repair").as_deref(),
        Some("passed"),
        "{o}"
    );
    assert_eq!(
        outcome_of(&recs, "step_finished", "gate").as_deref(),
        Some("passed"),
        "{o}"
    );
    // Journaled twice: saved (its sha256, counts and files), then applied (no row stale).
    let reps = of_type(&recs, "repair");
    assert_eq!(reps.len(), 2, "{reps:?}");
    let (saved, applied) = (&reps[0]["repair"], &reps[1]["repair"]);
    assert_eq!(saved["applied"], false);
    assert_eq!(
        (
            saved["inserts"].as_u64(),
            saved["updates"].as_u64(),
            saved["deletes"].as_u64()
        ),
        (Some(1), Some(8), Some(1)),
        "{saved}"
    );
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["changed"], 10, "{applied}");
    assert!(applied.get("stale").is_none(), "{applied}");
    let out_dir = dir.path().join("j.output");
    let patch = std::fs::read_to_string(out_dir.join("01-repair.repair.sql")).unwrap();
    let sha = String::from_utf8(
        std::process::Command::new("sha256sum")
            .arg(out_dir.join("01-repair.repair.sql"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let sha = sha.split_whitespace().next().unwrap().to_string();
    assert!(patch.contains("BEGIN;"));
    assert_eq!(
        saved["sha256"].as_str(),
        Some(sha.as_str()),
        "the journaled sha256 is the file's"
    );
    assert!(out_dir.join("01-repair.repair.inverse.sql").exists());
    // The rollback applied the inverse: the target is exactly as it was.
    assert_eq!(
        outcome_of(&recs, "rollback_action_finished", "repair").as_deref(),
        Some("passed"),
        "{o}"
    );
    assert_eq!(
        fingerprint(&tc, "items").await,
        before,
        "the inverse restores the target"
    );
}

/// A target that is a standby is read-only: the repair says so and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_target_is_refused() {
    let (primary, standby) = primary_and_standby(
        "repair-primary",
        "repair-standby",
        "CREATE TABLE acct (id int PRIMARY KEY, bal int); \
         INSERT INTO acct SELECT g, g FROM generate_series(1, 20) g",
    )
    .await;
    // Replay paused: a change on the primary is a difference the standby cannot take.
    standby
        .execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    primary
        .execute("UPDATE acct SET bal = -1 WHERE id = 3")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = one_check_runbook(
        "standby",
        &connections(&primary.dsn(), &standby.dsn()),
        ("acct", "\"public.acct\"", "\"id\""),
        "[[step]]\nid = \"x\"\nrun = \"true\"\n",
    );
    runbook_file(dir.path(), &text);
    let (code, out) = reconcile(dir.path(), &["acct", "--repair-sql", "s.sql"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("is a standby (read-only)"), "{out}");
    assert!(!dir.path().join("s.sql").exists());
    assert!(!dir.path().join("s.inverse.sql").exists());
}

/// The repair step in the cockpit, in a real terminal at 80x24 and 120x40: the patch is on
/// screen before the word is typed, `esc` hides the word's box and `z` gives the patch the
/// whole screen, enter brings the box back, and REPAIR applies it; the check then passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repair_step_is_reviewed_in_the_cockpit_and_applied_by_its_word() {
    use crate::term::Pty;
    let db = "repairpty";
    let ddl = "CREATE TABLE acct (id int PRIMARY KEY, bal numeric);
               INSERT INTO acct SELECT g, g FROM generate_series(1, 30) g;";
    let (_, tc) = crate::reconcile::pair(db, ddl, "").await;
    let dir = tempfile::tempdir().unwrap();
    let text = one_check_runbook(
        "repair in the cockpit",
        &crate::reconcile::pair_connections(db),
        ("acct", "\"public.acct\"", "\"id\""),
        "[[step]]\nid = \"repair\"\nrepair = { check = \"acct\", max_rows = 10 }\n",
    );
    let rb = crate::support::runbook(dir.path(), "rb.toml", &text);
    for (n, (cols, rows)) in [(80u16, 24u16), (120, 40)].into_iter().enumerate() {
        tc.batch_execute("UPDATE acct SET bal = -7 WHERE id = 7; DELETE FROM acct WHERE id = 9")
            .await
            .unwrap();
        let journal = dir.path().join(format!("j{n}.jsonl"));
        let (rb, journal) = (rb.clone(), journal.clone());
        off_thread(move || {
            let args = [
                "run",
                rb.to_str().unwrap(),
                "--journal",
                journal.to_str().unwrap(),
            ];
            let mut t = Pty::spawn(&args, &[], cols, rows);
            t.enter_step(1, "repair", "▶");
            t.wait_for("Type REPAIR and press enter");
            // esc alone (a key right after it would read as alt-key): the box goes away.
            t.send("\x1b");
            t.wait_until("the word's box hidden", |s| {
                !s.contents().contains("Type REPAIR and press enter")
            });
            t.send("z");
            t.wait_for("zoomed");
            t.wait_for("-- public.acct (id = 7): update");
            t.wait_for("--   bal: source 7 · target -7");
            t.send("z");
            t.send("\r");
            t.wait_for("Type REPAIR and press enter");
            t.send("REPAIR\r");
            t.wait_for("✔ 1 repair");
            t.wait_for("run completed");
            t.quit(0);
        })
        .await;
        let (code, out) = reconcile(dir.path(), &["acct"]).await;
        assert_eq!(code, Some(0), "{cols}x{rows}: {out}");
    }
}

/// Hostile identifiers (quotes, dots, spaces, a semicolon) in the schema, table, key and columns:
/// quoted in every statement; the patch applies and the check then passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_quoted_in_every_statement() {
    let t = &crate::reconcile::clusters().1;
    let db = "repairnames";
    let ddl = r#"CREATE SCHEMA "Odd ""s"".x";
        CREATE TABLE "Odd ""s"".x"."t""b nl" ("K""ey" int PRIMARY KEY, "a b" text, "x;drop" int);
        INSERT INTO "Odd ""s"".x"."t""b nl" SELECT g, 'v' || g, g FROM generate_series(1, 10) g;"#;
    crate::reconcile::pair(
        db,
        ddl,
        r#"UPDATE "Odd ""s"".x"."t""b nl" SET "a b" = 'changed' WHERE "K""ey" = 2;
        DELETE FROM "Odd ""s"".x"."t""b nl" WHERE "K""ey" = 3;"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = one_check_runbook(
        "names",
        &crate::reconcile::pair_connections(db),
        ("odd", "'\"Odd \"\"s\"\".x\".\"t\"\"b nl\"'", "'K\"ey'"),
        "[[step]]\nid = \"x\"\nrun = \"true\"\n",
    );
    runbook_file(dir.path(), &text);
    patch_written(dir.path(), "odd", "odd.sql").await;
    let patch = std::fs::read_to_string(dir.path().join("odd.sql")).unwrap();
    assert!(patch.contains(r#""Odd ""s"".x"."t""b"#), "{patch}");
    has(&patch, "-- Odd \"s\".x.t\"b nl (K\"ey = 2): update");
    assert!(patch.contains(r#"SET "a b" = 'v2'"#), "{patch}");
    psql(&pg_bin(), &t.dsn_db(db), &dir.path().join("odd.sql"));
    passes(dir.path(), "odd").await;
}

/// A key equal in value but written otherwise on the target (`numeric` `1.50` for the
/// source's `1.5`) is the same row: the patch updates it (to the source's text) and never
/// deletes it. Before, the source's row read as missing on the target (its insert then did
/// nothing) and the target's as extra: the patch deleted a row the source has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_written_otherwise_is_the_same_row_and_never_deleted() {
    let t = &crate::reconcile::clusters().1;
    let db = "repairnumkey";
    let (sc, tc) = crate::reconcile::pair(
        db,
        "CREATE TABLE numkey (k numeric PRIMARY KEY, v text);",
        "INSERT INTO numkey VALUES (1.50, 'one-half'), (2, 'TWO');",
    )
    .await;
    sc.batch_execute("INSERT INTO numkey VALUES (1.5, 'one-half'), (2, 'two');")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut text = one_check_runbook(
        "numkey",
        &crate::reconcile::pair_connections(db),
        ("numkey", "\"public.numkey\"", "\"k\""),
        "[[step]]\nid = \"x\"\nrun = \"true\"\n",
    );
    text = text.replace(
        "kind = \"checksum\"",
        "kind = \"checksum\"\nhash = \"text\"",
    );
    runbook_file(dir.path(), &text);
    let out = patch_written(dir.path(), "numkey", "numkey.sql").await;
    let patch = std::fs::read_to_string(dir.path().join("numkey.sql")).unwrap();
    assert!(!patch.contains("DELETE FROM"), "{out}\n{patch}");
    has(&out, "0 inserts, 2 updates, 0 deletes");
    psql(&pg_bin(), &t.dsn_db(db), &dir.path().join("numkey.sql"));
    let rows = texts(&tc, "SELECT k::text || ' ' || v FROM numkey ORDER BY k").await;
    assert_eq!(rows, ["1.5 one-half", "2 two"], "{patch}");
    passes(dir.path(), "numkey").await;
}

/// A repair step tried twice keeps both attempts' patches, and its rollback applies both
/// inverses, the latest first. Before, the second attempt wrote over the first's files and
/// the rollback undid only the second: it said "passed" and left the first's changes in.
/// Attempt 1 here applies, but a trigger on the target changes another row once (the check
/// still fails); the resumed run's attempt 2 repairs that row; `boom` then rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_repair_rolls_back_every_attempt_s_patch() {
    let (tc, text) = retried_repair("repairretry").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let (first, second) = off_thread(move || {
        let first = headless_at(&d, &text, "j.jsonl", &["--assume-yes"], &[]);
        (first, resume(&d, &["--assume-yes"]))
    })
    .await;
    let (o, _) = exited(&first, 4);
    assert!(o.contains("still finds 1 differing row"), "{o}");
    assert_eq!(second.0, Some(3), "rolled back: {}", second.1);
    let out_dir = dir.path().join("j.output");
    for f in [
        "01-repair.repair.sql",
        "01-repair.repair.inverse.sql",
        "01-repair.repair-2.sql",
        "01-repair.repair-2.inverse.sql",
    ] {
        assert!(out_dir.join(f).exists(), "{f}: {}", second.1);
    }
    let rows = texts(&tc, "SELECT id || ' ' || v FROM rr ORDER BY id").await;
    // Row 1 is back as it was; row 3 as the first attempt's trigger left it.
    assert_eq!(rows, ["1 A", "2 b", "3 drift"], "{}", second.1);
    let recs = journal(&dir.path().join("j.jsonl"));
    assert_eq!(
        outcome_of(&recs, "rollback_action_finished", "repair").as_deref(),
        Some("passed"),
        "{}",
        second.1
    );
}

/// A pair's database `db` where a repair needs two attempts (the first one's apply makes
/// row 3 drift, once), and a runbook whose `repair` step is followed by `boom`: the
/// target's client and the runbook's text.
async fn retried_repair(db: &str) -> (Client, String) {
    let (s, t) = crate::reconcile::clusters();
    let (_, tc) = crate::reconcile::pair(
        db,
        "CREATE TABLE rr (id int PRIMARY KEY, v text);",
        "INSERT INTO rr VALUES (1, 'A'), (2, 'b'), (3, 'c');
         CREATE TABLE once (done bool);
         CREATE FUNCTION drift() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NOT EXISTS (SELECT FROM once) THEN
             INSERT INTO once VALUES (true);
             UPDATE rr SET v = 'drift' WHERE id = 3;
           END IF;
           RETURN NULL;
         END $$;
         CREATE TRIGGER drift AFTER UPDATE ON rr FOR EACH ROW WHEN (NEW.id = 1)
           EXECUTE FUNCTION drift();",
    )
    .await;
    crate::reconcile::clusters()
        .0
        .connect_db(db)
        .await
        .unwrap()
        .batch_execute("INSERT INTO rr VALUES (1, 'a'), (2, 'b'), (3, 'c');")
        .await
        .unwrap();
    let text = format!(
        "[runbook]\nname = \"retried repair\"\n{}\n[[reconcile]]\nname = \"rr\"\nkind = \"checksum\"\n\
         table = \"public.rr\"\nkey = \"id\"\nrecheck = \"never\"\n\n\
         [[step]]\nid = \"repair\"\nrepair = {{ check = \"rr\" }}\n\n{BOOM_ROLLS_BACK}",
        connections(&s.dsn_db(db), &t.dsn_db(db))
    );
    (tc, text)
}

/// A row missing on the target is inserted whole: its `exclude`d columns too (they are left
/// out of the comparison, not out of the row). Before, they took their defaults, and a NOT
/// NULL one without a default would have failed the whole patch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_row_is_inserted_with_its_excluded_columns() {
    let t = &crate::reconcile::clusters().1;
    let db = "repairexcl";
    let (sc, tc) = crate::reconcile::pair(
        db,
        "CREATE TABLE excl (id int PRIMARY KEY, v text,
           updated_at timestamptz NOT NULL DEFAULT '2000-01-01 00:00+00',
           audit text NOT NULL DEFAULT 'DEFAULT', note text NOT NULL);",
        "",
    )
    .await;
    sc.batch_execute(
        "INSERT INTO excl VALUES (1, 'a', '2020-01-01 00:00+00', 'src-audit-1', 'n1');",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = one_check_runbook(
        "excl",
        &crate::reconcile::pair_connections(db),
        ("excl", "\"public.excl\"", "\"id\""),
        "[[step]]\nid = \"x\"\nrun = \"true\"\n",
    )
    .replace(
        "recheck = \"never\"",
        "recheck = \"never\"\nexclude = [\"updated_at\", \"audit\", \"note\"]",
    );
    runbook_file(dir.path(), &text);
    let out = patch_written(dir.path(), "excl", "excl.sql").await;
    has(&out, "1 insert, 0 updates, 0 deletes");
    psql(&pg_bin(), &t.dsn_db(db), &dir.path().join("excl.sql"));
    let row: String = tc
        .query_one(
            "SELECT concat_ws(' ', id, v, updated_at AT TIME ZONE 'UTC', audit, note) FROM excl",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(row, "1 a 2020-01-01 00:00:00 src-audit-1 n1");
    passes(dir.path(), "excl").await;
}

/// A table without a key whose check leaves out a column cannot be repaired row by row: the
/// copies a DELETE picks may differ in that column, and the inverse could not put it back
/// (before, patch then inverse turned one copy's note into NULL). It is said, and nothing
/// is patched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_table_with_a_column_left_out_is_not_patched() {
    let db = "repairkeylessex";
    let (sc, tc) =
        crate::reconcile::pair(db, "CREATE TABLE keyless (a int, b text, note text);", "").await;
    sc.batch_execute(
        "INSERT INTO keyless VALUES (1, 'x', 'src'), (1, 'x', 'src'), (2, 'y', 'keep');",
    )
    .await
    .unwrap();
    tc.batch_execute(
        "INSERT INTO keyless VALUES (1, 'x', 'A'), (1, 'x', 'B'), (1, 'x', 'C'), (2, 'y', 'keep');",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[runbook]\nname = \"k\"\n{}\n[[reconcile]]\nname = \"keyless\"\nkind = \"checksum\"\n\
         table = \"public.keyless\"\nexclude = [\"note\"]\nrecheck = \"never\"\n\
         [[step]]\nid = \"x\"\nrun = \"true\"\n",
        crate::reconcile::pair_connections(db)
    );
    runbook_file(dir.path(), &text);
    let (code, out) = reconcile(dir.path(), &["keyless", "--repair-sql", "k.sql"]).await;
    assert_eq!(code, Some(0), "{out}");
    has(
        &out,
        "public.keyless: a table without a key whose check leaves out note cannot be repaired row by row",
    );
    has(&out, "0 inserts, 0 updates, 0 deletes");
    let patch = std::fs::read_to_string(dir.path().join("k.sql")).unwrap();
    assert!(!patch.contains("DELETE FROM"), "{patch}");
}

/// The pair's database `db` with `SETUP` on both sides and the target made to differ; the
/// target's fingerprint before any repair.
async fn differing(db: &str) -> (Client, Client, String) {
    let (sc, tc) = crate::reconcile::pair(db, SETUP, "").await;
    differ(&sc, &tc).await;
    let before = fingerprint(&tc, "items").await;
    (sc, tc, before)
}

/// A runbook for the pair's database `db`: its `repair` step, then `between` (TOML steps),
/// then `boom`, whose failure rolls the run back.
fn repair_then(s: &Cluster, t: &Cluster, db: &str, between: &str) -> String {
    format!(
        "[runbook]\nname = \"inverse\"\n{}{ITEMS_CHECK}\n[[step]]\nid = \"repair\"\n\
         repair = {{ check = \"items\" }}\n\n{between}{BOOM_ROLLS_BACK}",
        connections(&s.dsn_db(db), &t.dsn_db(db))
    )
}

/// Resumes the run in `dir` past its interrupted action (its old group stopped, words given):
/// it ends rolled back (exit 3). What it said.
async fn resumed_rolled_back(dir: &std::path::Path) -> String {
    let d = dir.to_path_buf();
    let (code, out) = off_thread(move || {
        resume(
            &d,
            &["--rerun-interrupted", "--kill-interrupted", "--assume-yes"],
        )
    })
    .await;
    assert_eq!(code, Some(3), "{out}");
    out
}

/// Runs the runbook `body` headless in `dir` (journal `j.jsonl`, `--assume-yes`): it exits 4,
/// its output says `says`, and the repair step's rollback action failed.
async fn rollback_fails_saying(dir: &std::path::Path, body: String, says: &str) {
    let d = dir.to_path_buf();
    let out = off_thread(move || headless_at(&d, &body, "j.jsonl", &["--assume-yes"], &[])).await;
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{o}{e}");
    assert!(o.contains(says), "{o}{e}");
    let recs = journal(&dir.join("j.jsonl"));
    assert_eq!(
        outcome_of(&recs, "rollback_action_finished", "repair").as_deref(),
        Some("failed"),
        "{o}"
    );
}

/// Attack: a repair step's rollback is its inverse patch, read back from disk when the
/// rollback comes. Edited after it was saved (by a colleague, an editor, a sync tool), it is
/// not applied: the journal holds its sha256. And across a SIGKILL in the middle of the
/// rollback and a resume, the journal still knows it: the resumed rollback applies the
/// untouched inverse and puts the target back exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inverse_patch_is_applied_only_as_it_was_saved_even_after_a_crash() {
    let (s, t) = crate::reconcile::clusters();
    let (sc, tc, _) = differing("inversetamper").await;
    let dir = tempfile::tempdir().unwrap();
    let inverse = dir.path().join("j.output/01-repair.repair.inverse.sql");
    let edit = format!(
        "[[step]]\nid = \"edit\"\nrun = \"printf 'DROP TABLE items;\\\\n' >> {}\"\n\n",
        inverse.display()
    );
    let body = repair_then(s, t, "inversetamper", &edit);
    rollback_fails_saying(dir.path(), body, "changed since it was saved").await;
    assert_eq!(
        fingerprint(&tc, "items").await,
        fingerprint(&sc, "items").await,
        "the target stays as the repair left it; the edited inverse was not run"
    );

    // SIGKILL while `hold`'s rollback runs (before the inverse's turn), then a resume.
    let (_, tc, before) = differing("inversecrash").await;
    let dir = tempfile::tempdir().unwrap();
    let hold = format!(
        "[[step]]\nid = \"hold\"\nrun = \"true\"\nrollback = \"cd {}; \
         if [ -f again ]; then true; else touch again undoing; sleep 60; fi\"\n\n",
        dir.path().display()
    );
    let rb = crate::support::runbook(
        dir.path(),
        "rb.toml",
        &repair_then(s, t, "inversecrash", &hold),
    );
    let mut engine = headless_child(dir.path(), &rb, &["--assume-yes"]);
    let j = dir.path().join("j.jsonl");
    wait_for(
        "hold's rollback to run",
        std::time::Duration::from_secs(60),
        || {
            dir.path().join("undoing").exists()
                && std::fs::read_to_string(&j).is_ok_and(|t| {
                    t.lines()
                        .last()
                        .is_some_and(|l| l.contains("\"type\":\"process\""))
                })
        },
    );
    engine.kill().unwrap();
    engine.wait().unwrap();
    assert_ne!(
        fingerprint(&tc, "items").await,
        before,
        "repaired, not yet undone"
    );
    // Resumed with the journal named by its absolute path (as `cutover ls` says it), not as
    // the run named it: the journal's record of the inverse is found all the same.
    let abs = j.display().to_string();
    let d = dir.path().to_path_buf();
    let (code, out) = off_thread(move || {
        let args = ["run", "--headless", "--resume", &abs, "--rerun-interrupted"];
        code_and_output(&cutover(
            &d,
            &[&args[..], &["--kill-interrupted", "--assume-yes"]].concat(),
            &[],
        ))
    })
    .await;
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("applied on target"), "{out}");
    assert_eq!(
        fingerprint(&tc, "items").await,
        before,
        "the inverse restores the target"
    );
}

/// Attack: SIGKILL while the inverse patch itself runs (a trigger makes each row slow). The
/// inverse is one transaction sent whole; the server, which checks for a gone client, rolls it
/// back instead of applying it unseen after cutover died, and the resumed rollback applies it
/// again, once: the target ends exactly as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inverse_cut_short_by_a_kill_is_rolled_back_on_the_server_and_applied_on_resume() {
    let (s, t) = crate::reconcile::clusters();
    let (sc, tc, before) = differing("inversekill").await;
    tc.batch_execute(
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
         'BEGIN PERFORM pg_sleep(0.5); RETURN COALESCE(NEW, OLD); END'; \
         CREATE TRIGGER slow BEFORE INSERT OR UPDATE OR DELETE ON items \
         FOR EACH ROW EXECUTE FUNCTION slow()",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rb = crate::support::runbook(dir.path(), "rb.toml", &repair_then(s, t, "inversekill", ""));
    let mut engine = headless_child(dir.path(), &rb, &["--assume-yes"]);
    let inverse_runs = "select count(*) from pg_stat_activity \
         where query like '%cutover INVERSE repair patch%' and state = 'active' \
         and pid <> pg_backend_pid()";
    let running = || async {
        tc.query_one(inverse_runs, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let j = dir.path().join("j.jsonl");
    let started = std::time::Instant::now();
    loop {
        let undoing = std::fs::read_to_string(&j).is_ok_and(|t| {
            t.lines()
                .any(|l| l.contains("\"rollback_action_started\"") && l.contains("\"repair\""))
        });
        if undoing && running().await > 0 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "the inverse never ran");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    engine.kill().unwrap();
    engine.wait().unwrap();
    let gone = std::time::Instant::now();
    while running().await > 0 {
        assert!(
            gone.elapsed().as_secs() < 30,
            "the server goes on applying the inverse of a cutover that died"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        fingerprint(&tc, "items").await,
        fingerprint(&sc, "items").await,
        "rolled back on the server: the target is still as the repair left it"
    );
    resumed_rolled_back(dir.path()).await;
    assert_eq!(
        fingerprint(&tc, "items").await,
        before,
        "the inverse, applied once on resume, restores the target"
    );
}

/// An inverse in the output directory that the journal has no record of (a leftover of an
/// earlier run with the same journal name, or a save cut short): its patch was never applied
/// by this run, so the rollback leaves it alone, says so, and applies the run's own inverse
/// (before: every file found there was applied, a `DROP TABLE` included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inverse_the_journal_never_recorded_is_left_alone_and_the_rest_applied() {
    let (s, t) = crate::reconcile::clusters();
    let (_, tc, before) = differing("inverseorphan").await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("j.output");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(
        out_dir.join("01-repair.repair.inverse.sql"),
        "DROP TABLE items;\n",
    )
    .unwrap();
    let body = repair_then(s, t, "inverseorphan", "");
    let d = dir.path().to_path_buf();
    let out = off_thread(move || headless_at(&d, &body, "j.jsonl", &["--assume-yes"], &[])).await;
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{o}{e}");
    assert!(
        o.contains("01-repair.repair.inverse.sql left alone: the journal has no record of it"),
        "{o}"
    );
    assert!(
        out_dir.join("01-repair.repair-2.inverse.sql").exists(),
        "{o}"
    );
    assert_eq!(
        fingerprint(&tc, "items").await,
        before,
        "the run's own inverse restores the target; the stray one was not run"
    );
}

/// Attack: a step after the repair writes to a row the repair changed (the application, a
/// later migration step). The inverse's guard for that row no longer holds, and the rollback
/// undid the other rows, skipped that one, and said `rolled back`: the target was neither as
/// the repair left it nor as it was. Now the inverse undoes nothing unless it finds every row
/// as the patch left it: the rollback action fails, said, and the target is left whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inverse_that_finds_a_row_written_since_undoes_nothing_and_says_so() {
    let (s, t) = crate::reconcile::clusters();
    let (sc, tc, _) = differing("inverselater").await;
    let dir = tempfile::tempdir().unwrap();
    let later = "[[step]]\nid = \"later\"\non = \"target\"\n\
                 sql = \"UPDATE items SET note = 'a later write' WHERE id = 8\"\n\n";
    let body = repair_then(s, t, "inverselater", later);
    rollback_fails_saying(dir.path(), body, "nothing was undone").await;
    sc.batch_execute("UPDATE items SET note = 'a later write' WHERE id = 8")
        .await
        .unwrap();
    assert_eq!(
        fingerprint(&tc, "items").await,
        fingerprint(&sc, "items").await,
        "the target is as the repair and the later write left it: no row was undone"
    );
}

/// Attack (a review's): the target catches up on a row between the repair's read and its
/// apply (here a trigger writes the source's value to row 2 when row 1 is repaired, as
/// replication would), so row 2's statement is stale; a later step then writes row 1. The
/// inverse's row 1 finds nothing and its row 2 finds what the patch would have written: by
/// count, one row found for the one the patch changed, and the rollback wrote back row 2 (a
/// row the repair never changed), left row 1, and said `rolled back`. Each inverse statement
/// is now held to what its own patch statement did: nothing is undone, and it is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inverse_is_held_statement_by_statement_to_what_its_patch_did() {
    let (s, t) = crate::reconcile::clusters();
    let table = "CREATE TABLE rr (id int PRIMARY KEY, v text);";
    let (sc, tc) = crate::reconcile::pair("inversestale", table, "").await;
    sc.batch_execute("INSERT INTO rr VALUES (1, 's1'), (2, 's2')")
        .await
        .unwrap();
    tc.batch_execute(
        "INSERT INTO rr VALUES (1, 't1'), (2, 't2'); \
         CREATE FUNCTION catch_up() RETURNS trigger LANGUAGE plpgsql AS \
         $$BEGIN IF NEW.id = 1 THEN UPDATE rr SET v = 's2' WHERE id = 2; END IF; RETURN NEW; END$$; \
         CREATE TRIGGER catch_up AFTER UPDATE ON rr FOR EACH ROW EXECUTE FUNCTION catch_up();",
    )
    .await
    .unwrap();
    let body = format!(
        "[runbook]\nname = \"stale\"\n{}\n[[reconcile]]\nname = \"rr\"\nkind = \"checksum\"\n\
         table = \"public.rr\"\nkey = \"id\"\nrecheck = \"never\"\n\n\
         [[step]]\nid = \"repair\"\nrepair = {{ check = \"rr\" }}\n\n\
         [[step]]\nid = \"later\"\non = \"target\"\nsql = \"UPDATE rr SET v = 'later' WHERE id = 1\"\n\n\
         {BOOM_ROLLS_BACK}",
        connections(&s.dsn_db("inversestale"), &t.dsn_db("inversestale"))
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let out = off_thread(move || headless_at(&d, &body, "j.jsonl", &["--assume-yes"], &[])).await;
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{o}{e}");
    assert!(o.contains("stale: public.rr (id = 2)"), "{o}");
    assert!(o.contains("found 0 of the 1 rows its patch changed"), "{o}");
    let rows = texts(&tc, "SELECT v FROM rr ORDER BY id").await;
    assert_eq!(
        rows,
        ["later", "s2"],
        "nothing undone, nothing written back"
    );
}

/// Attack (a review's): a rollback killed after one attempt's inverse committed and while an
/// older one waited for a lock. An inverse applied twice finds none of its rows, so the
/// resumed rollback failed on the committed one, for good, and never reached the older. A
/// committed inverse is journaled as undone, and a later try of the rollback skips it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_rollback_skips_the_inverse_it_already_applied() {
    let db = "repairundone";
    let (tc, text) = retried_repair(db).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let first = off_thread(move || headless_at(&d, &text, "j.jsonl", &["--assume-yes"], &[])).await;
    exited(&first, 4);
    // Row 1 (the first attempt's) is held by another session: the older inverse waits.
    let holder = crate::reconcile::clusters().1.connect_db(db).await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT * FROM rr WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    let mut engine = std::process::Command::new(bin())
        .current_dir(dir.path())
        .args(["run", "--headless", "--resume", "j.jsonl", "--assume-yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let j = dir.path().join("j.jsonl");
    wait_for(
        "the newer inverse to be journaled as undone",
        std::time::Duration::from_secs(60),
        || std::fs::read_to_string(&j).is_ok_and(|t| t.contains("\"type\":\"repair_undone\"")),
    );
    engine.kill().unwrap();
    engine.wait().unwrap();
    holder.batch_execute("ROLLBACK").await.unwrap();
    let out = resumed_rolled_back(dir.path()).await;
    assert!(
        out.contains("was applied by an earlier try of this rollback"),
        "{out}"
    );
    let rows = texts(&tc, "SELECT id || ' ' || v FROM rr ORDER BY id").await;
    assert_eq!(rows, ["1 A", "2 b", "3 drift"], "{out}");
}

/// Attack: the target stops answering while the patch applies (here a row the patch changes
/// is held by another session, past the step's timeout). The apply was awaited as it was:
/// past the timeout, a SIGTERM and a cancel. It is raced against the step's timeout now, the
/// statement cancelled on the server, and the attempt says what became of the patch (rolled
/// back whole); the failed apply is no longer called "applied".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_that_cannot_apply_in_its_timeout_is_cancelled_and_said_not_applied() {
    let db = "repairstuck";
    let (s, t) = crate::reconcile::clusters();
    let table = "CREATE TABLE rr (id int PRIMARY KEY, v text);";
    let (sc, tc) = crate::reconcile::pair(db, table, "").await;
    sc.batch_execute("INSERT INTO rr VALUES (1, 'new')")
        .await
        .unwrap();
    tc.batch_execute("INSERT INTO rr VALUES (1, 'old')")
        .await
        .unwrap();
    let holder = t.connect_db(db).await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT * FROM rr WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    let body = format!(
        "[runbook]\nname = \"stuck\"\n{}\n[[reconcile]]\nname = \"rr\"\nkind = \"checksum\"\n\
         table = \"public.rr\"\nkey = \"id\"\nrecheck = \"never\"\n\n\
         [[step]]\nid = \"repair\"\nrepair = {{ check = \"rr\" }}\ntimeout = \"2s\"\n",
        connections(&s.dsn_db(db), &t.dsn_db(db))
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let out = off_thread(move || headless_at(&d, &body, "j.jsonl", &["--assume-yes"], &[])).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{o}{e}");
    assert!(o.contains("the patch was not applied"), "{o}");
    assert!(!o.contains("applied, but check"), "{o}");
    let recs = journal(&dir.path().join("j.jsonl"));
    assert_eq!(
        outcome_of(&recs, "step_finished", "repair").as_deref(),
        Some("timed_out"),
        "{o}"
    );
    assert_eq!(texts(&tc, "SELECT v FROM rr").await, ["old"]);
}
