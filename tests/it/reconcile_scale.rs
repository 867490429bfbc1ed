//! Reconciliation on real schemas: `tables` globs over keyed, keyless, partitioned and
//! ICU-keyed tables, a table on one side only, `exclude_tables`, and throttling observably
//! pacing a check (`max_rows_per_second`, `throttle = "adaptive"`, `pause_when`). Uses the clusters of `reconcile.rs` (a database per test).

use std::sync::Mutex;

use cutover_model::reconcile::{MismatchClass, Progress, ReconcileResult, Status};
use cutover_model::runbook::{ReconcileCheck, ReconcileKind};
use cutover_reconcile::{self as reconcile, Options};
use tokio_postgres::Client;

use crate::reconcile::{check, has_note, pair, run, small_parts};

const SCHEMA: &str = r#"
CREATE SCHEMA app;
CREATE SCHEMA other;
CREATE TABLE app.keyed (id int PRIMARY KEY, v text);
INSERT INTO app.keyed SELECT g, 'v' || g FROM generate_series(1, 300) g;
CREATE TABLE app.by_unique (a int NOT NULL, b text NOT NULL, v int, UNIQUE (a, b));
INSERT INTO app.by_unique SELECT g % 10, 'b' || g, g FROM generate_series(1, 100) g;
CREATE TABLE app.keyless (v text, n int);
INSERT INTO app.keyless VALUES ('x', 1), ('x', 1), ('y', 2);
CREATE TABLE app.events (id int, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO app.events SELECT g, DATE '2025-06-01' + (g % 400), 'e' || g FROM generate_series(1, 500) g;
CREATE TABLE app.icu (code text COLLATE "und-x-icu" PRIMARY KEY, v int);
INSERT INTO app.icu VALUES ('a', 1), ('B', 2), ('b', 3), ('é', 4), ('e', 5);
CREATE TABLE app.skip_me (id int PRIMARY KEY, v int);
INSERT INTO app.skip_me VALUES (1, 1);
CREATE TABLE other.t (id int PRIMARY KEY);
INSERT INTO other.t VALUES (1);
"#;

const TARGET_DRIFT: &str = r#"
UPDATE app.keyed SET v = 'drifted' WHERE id = 5;
DELETE FROM app.by_unique WHERE a = 3 AND b = 'b13';
INSERT INTO app.keyless VALUES ('x', 1);
UPDATE app.events SET v = 'moved' WHERE id = 450;
UPDATE app.icu SET v = 30 WHERE code = 'b';
UPDATE app.skip_me SET v = 99;
DELETE FROM other.t;
"#;

/// Small ranges, and the connection settings of database `db` on both clusters, for the
/// sessions a check opens of its own (`pause_when`, `concurrency`, a second lane).
fn with_sessions(db: &str) -> Options {
    let (source, target) = crate::reconcile::clusters();
    let settings = |c: &cutover_drill::harness::Cluster, side: &str| {
        cutover_pg::ConnSettings::parse(side, &c.dsn_db(db)).unwrap()
    };
    Options {
        sessions: Some((settings(source, "source"), settings(target, "target"))),
        ..small_parts()
    }
}

fn tables_check(kind: ReconcileKind) -> ReconcileCheck {
    let mut c = check(kind, "unused", &[]);
    c.name = "app tables".into();
    c.table = None;
    c.tables = vec!["app.*".into()];
    c.exclude_tables = vec!["app.skip_*".into()];
    c
}

/// The table `big`: `rows` rows of an `id` and a 32-character text.
fn big(rows: u32) -> String {
    format!(
        "CREATE TABLE big (id int PRIMARY KEY, v text);
         INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {rows}) g;"
    )
}

/// Runs check `c`: its result, and every progress update it gave.
async fn run_seeing(
    c: &ReconcileCheck,
    s: &Client,
    t: &Client,
    opts: &Options,
) -> (ReconcileResult, Vec<Progress>) {
    let seen: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let progress = |p: &Progress| seen.lock().unwrap().push(p.clone());
    let r = reconcile::run_check(c, s, t, opts, &progress).await;
    (r, seen.into_inner().unwrap())
}

fn table<'a>(r: &'a ReconcileResult, name: &str) -> &'a ReconcileResult {
    r.tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name} in {:?}", names(r)))
}

fn names(r: &ReconcileResult) -> Vec<&str> {
    r.tables.iter().map(|t| t.name.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_globs_compare_every_table_with_its_own_key() {
    let (s, t) = pair("globs", SCHEMA, TARGET_DRIFT).await;
    s.batch_execute("CREATE TABLE app.only_source (id int PRIMARY KEY); INSERT INTO app.only_source VALUES (1), (2), (3);")
        .await
        .unwrap();
    let r = run(
        &tables_check(ReconcileKind::Checksum),
        &s,
        &t,
        &small_parts(),
    )
    .await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    // Partitions through their parent, the excluded and the other schema's tables left out.
    assert_eq!(
        names(&r),
        [
            "app.by_unique",
            "app.events",
            "app.icu",
            "app.keyed",
            "app.keyless"
        ]
    );
    let keyed = table(&r, "app.keyed");
    assert_eq!(keyed.key_columns, ["id"]);
    assert_eq!(keyed.mismatches[0].key, ["5"]);
    assert_eq!(keyed.mismatches[0].class, MismatchClass::Different);
    let unique = table(&r, "app.by_unique");
    assert_eq!(unique.key_columns, ["a", "b"]);
    assert_eq!(unique.mismatches[0].key, ["3", "b13"]);
    assert_eq!(unique.mismatches[0].class, MismatchClass::MissingOnTarget);
    let keyless = table(&r, "app.keyless");
    assert_eq!(keyless.key_columns, ["row"], "compared by content");
    assert_eq!(keyless.mismatch_rows(), 1, "{keyless:#?}");
    assert_eq!(keyless.mismatches[0].class, MismatchClass::ExtraOnTarget);
    let events = table(&r, "app.events");
    assert_eq!(events.key_columns, ["id", "at"]);
    assert_eq!(events.source_rows, 500);
    assert_eq!(events.mismatches[0].key[0], "450");
    // Compared through the parent, reported per partition.
    let parts: Vec<String> = events.partitions.iter().map(|p| p.describe()).collect();
    assert_eq!(
        parts,
        [
            "app.events_2025: 314 rows on both sides, 1 differs",
            "app.events_2026: 186 rows on both sides",
        ],
        "{:#?}",
        events.partitions
    );
    let icu = table(&r, "app.icu");
    assert_eq!(icu.key_columns, ["code"]);
    assert_eq!(icu.mismatches.len(), 1, "{icu:#?}");
    assert_eq!(icu.mismatches[0].key, ["b"]);
    // The same ICU collation at the same version on both sides: ranges in its own order.
    assert!(
        icu.notes
            .iter()
            .any(|n| n.starts_with("key code ordered in its own collation (und-x-icu/i/")),
        "{:?}",
        icu.notes
    );
    // The table the target lacks: a mismatch of all its rows, not an error.
    assert_eq!(r.mismatches.len(), 1, "{:#?}", r.mismatches);
    assert_eq!(r.mismatches[0].key, ["app.only_source"]);
    assert_eq!(r.mismatches[0].class, MismatchClass::MissingOnTarget);
    assert_eq!(r.mismatch_rows(), 5 + 3);
    assert_eq!(r.partitions_total, 6);
    let line = cutover_model::reconcile::summary(&r);
    assert!(line.contains("8 rows differ in 6 of 6 tables"), "{line}");
    has_note(&r, "1 of the tables have no primary key");

    // With sessions of its own the tables are compared on two lanes: the same results.
    let two = run(
        &tables_check(ReconcileKind::Checksum),
        &s,
        &t,
        &with_sessions("globs"),
    )
    .await;
    assert_eq!(names(&two), names(&r));
    assert_eq!(two.mismatch_rows(), r.mismatch_rows());
    for (a, b) in two.tables.iter().zip(&r.tables) {
        assert_eq!(a.mismatches, b.mismatches, "{}", a.name);
    }

    // count over the same globs: per table too; only the tables whose counts moved fail.
    let c = run(&tables_check(ReconcileKind::Count), &s, &t, &small_parts()).await;
    assert_eq!(names(&c).len(), 5);
    assert!(table(&c, "app.keyed").passed());
    assert!(!table(&c, "app.by_unique").passed());
    assert!(!table(&c, "app.keyless").passed());

    // Globs that match nothing: an error, never a pass over nothing.
    let mut none = tables_check(ReconcileKind::Checksum);
    none.tables = vec!["nosuch.*".into()];
    let e = run(&none, &s, &t, &small_parts()).await;
    assert_eq!(e.status, Status::Error);
    assert!(
        e.error.as_deref().unwrap().contains("match no table"),
        "{e:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_per_second_paces_a_check_and_says_so() {
    let (s, t) = pair("throttle", &big(3000), "").await;
    let mut c = check(ReconcileKind::Checksum, "big", &["id"]);
    c.max_rows_per_second = Some(2000);
    let opts = small_parts();
    let started = std::time::Instant::now();
    let (r, seen) = run_seeing(&c, &s, &t, &opts).await;
    let took = started.elapsed();
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.rows_compared, 3000);
    // 3,000 rows at 2,000 a second cannot take less than 1.5 s (the pacing sleeps for it).
    assert!(took.as_millis() >= 1400, "{took:?}");
    assert!(
        seen.iter()
            .any(|p| p.throttled.as_deref() == Some("max_rows_per_second 2000")),
        "the progress says why it is slow"
    );
    // Without the limit the same check is not paced.
    c.max_rows_per_second = None;
    let r = reconcile::run_check(&c, &s, &t, &opts, &reconcile::no_progress).await;
    assert_eq!(r.status, Status::Pass);
    assert!(
        r.elapsed_ms < took.as_millis() as u64,
        "{} ms",
        r.elapsed_ms
    );
}

/// `max_rows_per_second` on a `tables` check is the whole check's pace: the tables are
/// compared one at a time (not two at once, each at the full rate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_tables_check_keeps_its_rate_over_all_its_tables() {
    pair(
        "pacedtables",
        "CREATE SCHEMA app;
         CREATE TABLE app.a (id int PRIMARY KEY, v text);
         CREATE TABLE app.b (id int PRIMARY KEY, v text);
         INSERT INTO app.a SELECT g, md5(g::text) FROM generate_series(1, 1500) g;
         INSERT INTO app.b SELECT g, md5(g::text) FROM generate_series(1, 1500) g;",
        "",
    )
    .await;
    let (s, t) = crate::reconcile::reconnect("pacedtables").await;
    let mut c = tables_check(ReconcileKind::Checksum);
    c.max_rows_per_second = Some(2000);
    let opts = with_sessions("pacedtables");
    let started = std::time::Instant::now();
    let r = reconcile::run_check(&c, &s, &t, &opts, &reconcile::no_progress).await;
    let took = started.elapsed();
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.tables.len(), 2);
    // 3,000 rows at 2,000 a second: at least 1.5 s (two lanes at 2,000 each took half that).
    assert!(took.as_millis() >= 1400, "{took:?}");
}

/// `throttle = "adaptive"` on a real server: a range that takes far longer than the first
/// ranges did (150 rows of 100 KB among rows of 40 bytes) slows the check down, and its progress
/// says why; the same check without it is never said to be throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_throttle_slows_down_after_a_slow_range_and_says_so() {
    let data = "CREATE TABLE big (id int PRIMARY KEY, v text);
         ALTER TABLE big ALTER v SET STORAGE EXTERNAL;
         INSERT INTO big SELECT g, CASE WHEN g BETWEEN 3001 AND 3150
             THEN repeat(md5(g::text), 3200) ELSE md5(g::text) END
           FROM generate_series(1, 6000) g;";
    let (s, t) = pair("adaptive", data, "").await;
    let mut c = check(ReconcileKind::Checksum, "big", &["id"]);
    c.adaptive_throttle = true;
    let opts = small_parts();
    let (r, seen) = run_seeing(&c, &s, &t, &opts).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.rows_compared, 6000);
    let slowed: Vec<_> = seen
        .iter()
        .filter(|p| {
            p.throttled
                .as_deref()
                .is_some_and(|w| w.starts_with("adaptive: range latency"))
        })
        .collect();
    assert!(
        slowed.iter().any(|p| p.rows_compared >= 3150),
        "the wide range (rows 3001..3150) slowed the check and the progress says so: {slowed:?}"
    );
    // The same check without `adaptive` is never throttled.
    c.adaptive_throttle = false;
    let (r, seen) = run_seeing(&c, &s, &t, &opts).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert!(seen.len() > 5, "{seen:?}");
    assert!(seen.iter().all(|p| p.throttled.is_none()), "{seen:?}");
}

/// `changed_since` on a `timestamp` (no time zone) column written in the servers' local time
/// (America/New_York, hours behind UTC): a row changed a minute ago is within a ten-minute
/// look-back. Compared in the session's own TimeZone, not the check's pinned UTC, which made
/// it hours old and skipped it (a silent pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_since_on_a_local_timestamp_column_catches_a_fresh_change() {
    pair(
        "localts",
        "ALTER DATABASE localts SET timezone TO 'America/New_York';
         CREATE TABLE items (id int PRIMARY KEY, v text,
           updated_at timestamp NOT NULL DEFAULT '2026-01-01', day date NOT NULL DEFAULT '2026-01-01');
         INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 300) g;",
        "",
    )
    .await;
    let (s, t) = crate::reconcile::reconnect("localts").await;
    t.execute(
        "UPDATE items SET v = 'drifted', updated_at = now() - interval '1 minute', day = now() WHERE id = 42",
        &[],
    )
    .await
    .unwrap();
    // The rows changed in the last ten minutes, by `column`.
    let changed = async |column: &str| {
        let mut c = check(ReconcileKind::Checksum, "items", &["id"]);
        c.changed_since = Some(column.into());
        reconcile::run_changed_since(
            &c,
            &s,
            &t,
            &small_parts(),
            std::time::Duration::from_secs(600),
            &reconcile::no_progress,
        )
        .await
    };
    for column in ["updated_at", "day"] {
        let r = changed(column).await;
        assert_eq!(r.status, Status::Fail, "{column}: {r:#?}");
        assert_eq!(r.rows_compared, 1, "{column}: {r:#?}");
        assert_eq!(r.mismatches[0].key, ["42"], "{column}");
    }
    // A column that is not there is an error that names it, not an empty pass.
    let r = changed("touched_at").await;
    assert_eq!(r.status, Status::Error, "{r:#?}");
    assert!(
        r.error.as_deref().unwrap_or("").contains("touched_at"),
        "{r:#?}"
    );
}

/// `pause_when`: the check waits while the query (on the source, in its own session) returns
/// true, says so in its progress, and goes on when it turns false; while it waits the source
/// is not read ahead (its server log shows the range statements executed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_when_holds_a_check_until_it_turns_false() {
    let setup = format!(
        "{}
         CREATE TABLE hold (busy bool);
         INSERT INTO hold VALUES (true);",
        big(3000)
    );
    let (s, t) = pair("pausing", &setup, "").await;
    let mut c = check(ReconcileKind::Checksum, "big", &["id"]);
    c.pause_when = Some(
        cutover_model::runbook::Template::parse(
            "select bool_or(busy) from hold",
            &Default::default(),
            &[],
        )
        .unwrap(),
    );
    let source = &crate::reconcile::clusters().0;
    let opts = with_sessions("pausing");
    let other = source.connect_db("pausing").await.unwrap();
    s.batch_execute("SET log_min_duration_statement = 0")
        .await
        .unwrap();
    let log_from = std::fs::metadata(source.log_path()).unwrap().len();
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        // While paused the source reads nothing: the first range was compared, then the pause
        // was asked, and no statement is sent while it holds.
        let log = source.log_since(log_from);
        let ranges_read = log
            .lines()
            // A range statement (a row-text digest or a sum of native row hashes).
            .filter(|l| l.contains("execute") && l.contains("/* cutover: range */"))
            .count();
        assert_eq!(ranges_read, 1, "ranges read while paused:\n{log}");
        other
            .execute("UPDATE hold SET busy = false", &[])
            .await
            .unwrap();
    };
    let ((r, seen), ()) = tokio::join!(run_seeing(&c, &s, &t, &opts), release);
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.rows_compared, 3000);
    assert!(
        r.elapsed_ms >= 2000,
        "it waited for the flag: {} ms",
        r.elapsed_ms
    );
    assert!(
        seen.iter()
            .any(|p| p.throttled.as_deref() == Some("paused: pause_when is true")),
        "the progress says it is paused"
    );
    // Without a session for it, pause_when is an error, not silently ignored.
    let e = reconcile::run_check(&c, &s, &t, &Options::default(), &reconcile::no_progress).await;
    assert_eq!(e.status, Status::Error);
}

/// `concurrency = 3`: the ranges spread over three sessions per side sharing one snapshot;
/// the differences found are exactly those one session finds. Without connection settings
/// to open them, the check says so and runs on one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_spreads_ranges_over_sessions_and_finds_the_same() {
    let (s, t) = pair(
        "lanes",
        &big(6000),
        "UPDATE big SET v = 'x' WHERE id IN (7, 2500, 5999); DELETE FROM big WHERE id = 4000;",
    )
    .await;
    let mut c = check(ReconcileKind::Checksum, "big", &["id"]);
    let one = run(&c, &s, &t, &small_parts()).await;
    c.concurrency = Some(3);
    let opts = with_sessions("lanes");
    let three = run(&c, &s, &t, &opts).await;
    assert_eq!(three.status, Status::Fail);
    assert!(
        !three.notes.iter().any(|n| n.contains("concurrency")),
        "{:?}",
        three.notes
    );
    let keys = |r: &ReconcileResult| {
        r.mismatches
            .iter()
            .map(|m| (m.key.clone(), m.class))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&three), keys(&one));
    assert_eq!(three.mismatch_rows(), 4);
    assert_eq!(three.partitions_total, one.partitions_total);
    let fallback = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(keys(&fallback), keys(&one));
    has_note(&fallback, "concurrency 3: no connection settings");
}
