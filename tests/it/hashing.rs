//! Type-native hashing of a checksum's range pass (issue 27): swapped values, duplicates of a
//! keyless table and the smallest change of each native type are found; a column whose type
//! differs between the sides, or a check that says `hash = "text"`, is hashed by its text and
//! the result says so; across PostgreSQL 15 → 18 every native type hashes alike.

use cutover_drill::harness::Cluster;
use cutover_model::reconcile::{HashMode, ReconcileResult, Status};
use cutover_model::runbook::ReconcileKind;
use tokio_postgres::Client;

use crate::reconcile::{check, pair, run, small_parts};

/// One column of each native type, 3,000 rows.
const NATIVE: &str = "
CREATE TABLE public.h (
  id int PRIMARY KEY, a int, b int, n numeric, flag bool, d date, ts timestamp,
  tz timestamptz, u uuid, bin bytea, t text, v varchar(20), c char(8), j jsonb, arr int[],
  big bigint, small smallint, tags text[]);
INSERT INTO public.h
SELECT g, g, -g, g * 1.000001, g % 2 = 0, date '2024-01-01' + g,
       timestamp '2024-01-01' + g * interval '1.000001 second',
       timestamptz '2024-01-01 00:00+00' + g * interval '1.000001 second',
       md5(g::text)::uuid, decode(lpad(to_hex(g), 8, '0'), 'hex'), 'text ' || g,
       'v' || g, 'c' || (g % 100), jsonb_build_object('g', g, 'v', jsonb_build_array(g, g + 1)),
       ARRAY[g, g + 1, g + 2], g::bigint * 1000000007, (g % 30000)::smallint,
       ARRAY['t' || g, NULL]
FROM generate_series(1, 3000) g;
ANALYZE public.h;";

/// The smallest change of each native type, one row each (and a swap of two columns' values).
const SMALLEST: &str = "
UPDATE h SET a = b, b = a WHERE id = 11;
UPDATE h SET n = n + 0.000001 WHERE id = 22;
UPDATE h SET flag = NOT flag WHERE id = 33;
UPDATE h SET d = d + 1 WHERE id = 44;
UPDATE h SET ts = ts + interval '1 microsecond' WHERE id = 55;
UPDATE h SET tz = tz + interval '1 microsecond' WHERE id = 66;
UPDATE h SET u = (left(u::text, 35) || CASE WHEN right(u::text, 1) = '0' THEN '1' ELSE '0' END)::uuid WHERE id = 77;
UPDATE h SET bin = set_byte(bin, 3, (get_byte(bin, 3) + 1) % 256) WHERE id = 88;
UPDATE h SET t = 'text 98' WHERE id = 99;
UPDATE h SET j = jsonb_set(j, '{v,1}', '0') WHERE id = 111;
UPDATE h SET arr[2] = 0 WHERE id = 122;
UPDATE h SET big = big + 1 WHERE id = 133;
UPDATE h SET small = small - 1 WHERE id = 144;
UPDATE h SET tags[2] = '' WHERE id = 155;
UPDATE h SET v = 'V155' WHERE id = 166;
UPDATE h SET c = 'c66x' WHERE id = 177;
-- Equal values, another scale: not a difference (numeric equality).
UPDATE h SET n = (n::text || '00')::numeric WHERE id = 188;";

const CHANGED: [u32; 16] = [
    11, 22, 33, 44, 55, 66, 77, 88, 99, 111, 122, 133, 144, 155, 166, 177,
];

fn keys(r: &ReconcileResult) -> Vec<u32> {
    let mut k: Vec<u32> = r
        .mismatches
        .iter()
        .map(|m| m.key[0].parse().unwrap())
        .collect();
    k.sort();
    k
}

fn modes(r: &ReconcileResult) -> Vec<(String, HashMode)> {
    r.hashing
        .iter()
        .map(|h| (h.column.clone(), h.mode))
        .collect()
}

/// Checks `h` on `s`/`t`: equal first (every column native), then with [`SMALLEST`] applied
/// on the target, exactly [`CHANGED`] found.
async fn smallest_changes_are_found(s: &Client, t: &Client) {
    let c = check(ReconcileKind::Checksum, "public.h", &["id"]);
    let r = run(&c, s, t, &small_parts()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    // jsonb's own hash is not exact ('{}' and '[]' hash alike): it is hashed by its text.
    let text: Vec<(String, HashMode)> = modes(&r)
        .into_iter()
        .filter(|(_, m)| *m != HashMode::Native)
        .collect();
    assert_eq!(
        text,
        [("j".to_string(), HashMode::Text)],
        "every other column native: {:#?}",
        r.hashing
    );
    assert_eq!(r.hashing.len(), 18, "{:#?}", r.hashing);
    t.batch_execute(SMALLEST).await.unwrap();
    let r = run(&c, s, t, &small_parts()).await;
    assert_eq!(keys(&r), CHANGED, "{:#?}", r.mismatches);
    assert_eq!(r.mismatch_total, CHANGED.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smallest_change_of_each_native_type_and_a_swap_are_found() {
    let (s, t) = pair("native1", NATIVE, "").await;
    smallest_changes_are_found(&s, &t).await;
}

/// PostgreSQL 15 on one side, 18 on the other (the cross-version pair of the reconcile tests,
/// with its different TimeZone and DateStyle): the probe finds every native type hashing
/// alike, and the smallest changes are found.
pub(crate) async fn across_versions(s: &Cluster, t: &Cluster) {
    let (sc, tc) = crate::reconcile::database_on(s, t, "native", NATIVE).await;
    smallest_changes_are_found(&sc, &tc).await;
}

/// What a type's own hash leaves out is still found: an array's shape (`{1,2,3,4}` against
/// `{{1,2},{3,4}}`, an empty array against NULL), jsonb's nesting (`{}` against `[]`), and
/// two rows that swap their values when the key is not among the compared columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_type_s_hash_leaves_out_is_still_found() {
    let (s, t) = pair(
        "native4",
        "CREATE TABLE sh (id int PRIMARY KEY, a int[], j jsonb, amount int);
         INSERT INTO sh SELECT g, ARRAY[g, g + 1, g + 2, g + 3], '{}', g * 10
         FROM generate_series(1, 1000) g;",
        "UPDATE sh SET a = ARRAY[[a[1], a[2]], [a[3], a[4]]] WHERE id = 10;
         UPDATE sh SET a = '{}' WHERE id = 20;
         UPDATE sh SET j = '[]' WHERE id = 30;",
    )
    .await;
    s.batch_execute("UPDATE sh SET a = NULL WHERE id = 20")
        .await
        .unwrap();
    let c = check(ReconcileKind::Checksum, "public.sh", &["id"]);
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(keys(&r), [10, 20, 30], "{:#?}", r.mismatches);
    let a = r.hashing.iter().find(|h| h.column == "a").unwrap();
    assert_eq!(a.mode, HashMode::Native);
    // Only amount compared: rows 100 and 200 swap their amounts on the target.
    t.batch_execute(
        "UPDATE sh SET a = ARRAY[id, id + 1, id + 2, id + 3], j = '{}' WHERE id IN (10, 20, 30);
         UPDATE sh SET amount = CASE id WHEN 100 THEN 2000 ELSE 1000 END WHERE id IN (100, 200);",
    )
    .await
    .unwrap();
    s.batch_execute("UPDATE sh SET a = ARRAY[id, id + 1, id + 2, id + 3] WHERE id = 20")
        .await
        .unwrap();
    let mut c = check(ReconcileKind::Checksum, "public.sh", &["id"]);
    c.columns = Some(vec!["amount".into()]);
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(keys(&r), [100, 200], "{:#?}", r.mismatches);
}

/// Duplicates in a keyless table count: (x, x, y) against (x, y, y) has the same count on both
/// sides and the same set of rows, and is still found, by the native multiset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_in_a_keyless_table_are_counted() {
    let (s, t) = pair(
        "native2",
        "CREATE TABLE k (a int, t text);
         INSERT INTO k VALUES (1, 'x'), (1, 'x'), (2, 'y');",
        "DELETE FROM k WHERE ctid = (SELECT min(ctid) FROM k WHERE a = 1);
         INSERT INTO k VALUES (2, 'y');",
    )
    .await;
    let c = check(ReconcileKind::Checksum, "public.k", &[]);
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert_eq!(r.mismatch_rows(), 2, "{:#?}", r.mismatches);
    assert!(
        r.hashing.iter().all(|h| h.mode == HashMode::Native),
        "{:#?}",
        r.hashing
    );
}

/// A column whose type differs between the sides is hashed by its text and the result says
/// why; `hash = "text"` hashes every column by its text; both still find a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_that_differs_falls_back_to_text_and_says_so() {
    let (s, t) = pair(
        "native3",
        "CREATE TABLE m (id int PRIMARY KEY, q int, name text);",
        "ALTER TABLE m ALTER COLUMN q TYPE bigint;",
    )
    .await;
    for c in [&s, &t] {
        c.batch_execute("INSERT INTO m SELECT g, g * 3, 'n' || g FROM generate_series(1, 2000) g")
            .await
            .unwrap();
    }
    let mut c = check(ReconcileKind::Checksum, "public.m", &["id"]);
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    let q = r.hashing.iter().find(|h| h.column == "q").unwrap();
    assert_eq!(q.mode, HashMode::Text);
    assert_eq!(
        q.why.as_deref(),
        Some("types differ (integer on the source, bigint on the target)")
    );
    let name = r.hashing.iter().find(|h| h.column == "name").unwrap();
    assert_eq!(name.mode, HashMode::Native);
    t.batch_execute("UPDATE m SET q = q + 1 WHERE id = 1234")
        .await
        .unwrap();
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(keys(&r), [1234]);
    c.hash_text = true;
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(keys(&r), [1234]);
    assert!(
        r.hashing
            .iter()
            .all(|h| h.mode == HashMode::Text && h.why.as_deref() == Some("hash = \"text\"")),
        "{:#?}",
        r.hashing
    );
}

/// What a type's own hash function folds away is still found, and an equal pair still
/// passes. Each change below hashed alike by the type's own function (a false pass found by
/// an attack pass): an `int8` and the 64-bit times `v` against `v ± 2³²` (µs) with the same
/// folded half, a `numeric`'s sign and its `NaN` against an infinity, an unconstrained
/// `bpchar`'s trailing blanks, an `int8[]` element; and a `bigint` key that only the fold
/// tells apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_type_s_own_hash_folds_away_is_still_found() {
    let (s, t) = pair(
        "native5",
        "CREATE TABLE f (id bigint PRIMARY KEY, big bigint, n numeric, ts timestamp,
           tz timestamptz, tm time, bc bpchar, bigs bigint[]);
         INSERT INTO f SELECT g, g * 7, g * 1.5, timestamp '2000-01-01' + g * interval '1 hour',
           timestamptz '2000-01-01 00:00+00' + g * interval '1 hour', time '00:00',
           'b' || g, ARRAY[g::bigint] FROM generate_series(1, 1000) g;
         UPDATE f SET big = 4294967295 WHERE id = 10;
         UPDATE f SET big = 1 WHERE id = 20;
         UPDATE f SET n = 5 WHERE id = 30;
         UPDATE f SET n = 'NaN' WHERE id = 40;
         UPDATE f SET n = '-Infinity' WHERE id = 50;
         UPDATE f SET ts = timestamp '2000-01-01' WHERE id = 60;
         UPDATE f SET tz = timestamptz '2000-01-01 00:00+00' WHERE id = 70;
         UPDATE f SET bc = 'a' WHERE id = 90;
         UPDATE f SET bigs = '{1}' WHERE id = 100;",
        "UPDATE f SET big = -1 WHERE id = 10;
         UPDATE f SET big = 4294967296 WHERE id = 20;
         UPDATE f SET n = -5 WHERE id = 30;
         UPDATE f SET n = 'Infinity' WHERE id = 40;
         UPDATE f SET n = 'NaN' WHERE id = 50;
         UPDATE f SET ts = timestamp '2000-01-01' + interval '4294.967297 seconds' WHERE id = 60;
         UPDATE f SET tz = timestamptz '2000-01-01 00:00+00' + interval '4294.967297 seconds'
           WHERE id = 70;
         UPDATE f SET tm = time '00:00' + interval '4294.967297 seconds' WHERE id = 80;
         UPDATE f SET bc = 'a  ' WHERE id = 90;
         UPDATE f SET bigs = '{4294967296}' WHERE id = 100;
         UPDATE f SET id = 4294968297 WHERE id = 1000;",
    )
    .await;
    let c = check(ReconcileKind::Checksum, "public.f", &["id"]);
    let r = run(&c, &s, &t, &small_parts()).await;
    let mut found: Vec<String> = r.mismatches.iter().map(|m| m.key[0].clone()).collect();
    found.sort_by_key(|k| k.parse::<u64>().unwrap());
    assert_eq!(
        found,
        [
            "10",
            "20",
            "30",
            "40",
            "50",
            "60",
            "70",
            "80",
            "90",
            "100",
            "1000",
            "4294968297"
        ],
        "{:#?}",
        r.mismatches
    );
    let native: Vec<String> = modes(&r)
        .into_iter()
        .filter(|(_, m)| *m == HashMode::Native)
        .map(|(c, _)| c)
        .collect();
    assert_eq!(native, ["id", "big", "n", "ts", "tz", "tm", "bc"], "{r:#?}");
    // Undone on the target (5.0 for 5: another scale is equal): equal again.
    t.batch_execute(
        "UPDATE f SET big = 4294967295 WHERE id = 10;
         UPDATE f SET big = 1 WHERE id = 20;
         UPDATE f SET n = 5.0 WHERE id = 30;
         UPDATE f SET n = 'NaN' WHERE id = 40;
         UPDATE f SET n = '-Infinity' WHERE id = 50;
         UPDATE f SET ts = timestamp '2000-01-01' WHERE id = 60;
         UPDATE f SET tz = timestamptz '2000-01-01 00:00+00' WHERE id = 70;
         UPDATE f SET tm = time '00:00' WHERE id = 80;
         UPDATE f SET bc = 'a' WHERE id = 90;
         UPDATE f SET bigs = '{1}' WHERE id = 100;
         UPDATE f SET id = 1000 WHERE id = 4294968297;",
    )
    .await
    .unwrap();
    let r = run(&c, &s, &t, &small_parts()).await;
    assert_eq!(r.status, Status::Pass, "5.0 against 5 is equal: {r:#?}");
}

/// `hash = "text"` with the key left out of the compared columns: rows 1, 2, 4 against 1, 3,
/// 4 with the same values are found (the key is hashed with each row's text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_left_out_of_the_columns_is_compared_by_text_too() {
    let (s, t) = pair(
        "native6",
        "CREATE TABLE kt (id int PRIMARY KEY, v text);",
        "INSERT INTO kt VALUES (1, 'a'), (3, 'b'), (4, 'd');",
    )
    .await;
    s.batch_execute("INSERT INTO kt VALUES (1, 'a'), (2, 'b'), (4, 'd');")
        .await
        .unwrap();
    let mut c = check(ReconcileKind::Checksum, "public.kt", &["id"]);
    c.columns = Some(vec!["v".into()]);
    for text in [false, true] {
        c.hash_text = text;
        let r = run(&c, &s, &t, &small_parts()).await;
        assert_eq!(keys(&r), [2, 3], "hash_text {text}: {:#?}", r.mismatches);
    }
}

/// A keyless table on a LATIN1 source and a UTF8 target holding the same text, too large to
/// list (over 64 MB of row text): equal. Before, the text hashed as each server's bytes
/// (the native probe used ASCII only, and the multiset's md5 read the server's encoding), so
/// the digests differed and the check failed with "too many to list" on identical data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_text_in_two_encodings_is_equal() {
    let (s, t) = crate::reconcile::clusters();
    s.execute(
        "CREATE DATABASE enc TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'",
    )
    .await
    .unwrap();
    t.execute("CREATE DATABASE enc TEMPLATE template0 ENCODING 'UTF8'")
        .await
        .unwrap();
    let (sc, tc) = crate::reconcile::connect_both(s, t, "enc").await;
    let setup = "CREATE TABLE big (v text);
        INSERT INTO big SELECT 'é' || repeat('x', 1000000) || g FROM generate_series(1, 70) g;";
    sc.batch_execute(setup).await.unwrap();
    tc.batch_execute(setup).await.unwrap();
    let c = check(ReconcileKind::Checksum, "public.big", &[]);
    let r = run(&c, &sc, &tc, &small_parts()).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    tc.batch_execute("UPDATE big SET v = 'è' || substr(v, 2) WHERE v LIKE '%x70'")
        .await
        .unwrap();
    let r = run(&c, &sc, &tc, &small_parts()).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
}

/// A key under a nondeterministic (case-insensitive) collation that changed case on the
/// target: missing `ABC` and extra `abc`, confirmed on re-check. Before, the re-check's
/// `k = $1` found the other row under the collation, and both read as transient: a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_only_changed_case_is_no_transient() {
    let (s, t) = pair(
        "native7",
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
         CREATE TABLE cik (k text COLLATE ci PRIMARY KEY, v int);
         INSERT INTO cik VALUES ('ABC', 1), ('def', 2);",
        "UPDATE cik SET k = 'abc' WHERE k = 'ABC';",
    )
    .await;
    let mut c = check(ReconcileKind::Checksum, "public.cik", &["k"]);
    c.columns = Some(vec!["v".into()]);
    let opts = small_parts();
    let first = run(&c, &s, &t, &opts).await;
    assert_eq!(first.mismatch_rows(), 2, "{first:#?}");
    let no = &cutover_reconcile::no_progress;
    let r = cutover_reconcile::recheck(&c, &s, &t, &opts, &first, no).await;
    assert_eq!(r.status, Status::Fail, "{r:#?}");
    assert_eq!(r.mismatch_rows(), 2, "{r:#?}");
    assert!(r.mismatches.iter().all(|m| !m.transient), "{r:#?}");
}
