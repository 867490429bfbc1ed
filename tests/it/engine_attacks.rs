//! Attacks on the surfaces added after the first attack wave (issue 23), each performed for
//! real: a sequence sync that could move a target backwards, sign-offs that could be blank,
//! unknown, repeated, looped or forged, files that could be clobbered, a deadline that was a
//! count.

use crate::reconcile::{pair, pair_connections, sync_runbook};

use crate::support::*;

async fn last_value(c: &tokio_postgres::Client, seq: &str) -> i64 {
    c.query_one(&format!("SELECT last_value FROM {seq}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Issue 23's data damage: target `s` at 5000 (rows up to id 5000), source at 10, margin
/// 1000. The old sync printed `10 on source → 1010 on target`, passed, and the application's
/// next insert failed on a duplicate key. A sync never lowers a sequence; a descending one is
/// synced in its own direction; the check and the sync agree afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_sequences_never_moves_a_target_sequence_backwards() {
    let (s, t) = pair(
        "seqback",
        "CREATE SEQUENCE s; CREATE TABLE orders (id int8 PRIMARY KEY DEFAULT nextval('s')); \
         CREATE SEQUENCE down INCREMENT -1 MAXVALUE -1 START -1; \
         CREATE SEQUENCE down_far INCREMENT -1 MAXVALUE -1 START -1; \
         CREATE SEQUENCE up_behind;",
        "",
    )
    .await;
    s.batch_execute(
        "SELECT setval('s', 10); SELECT setval('down', -500); SELECT setval('down_far', -20); \
         SELECT setval('up_behind', 300)",
    )
    .await
    .unwrap();
    t.batch_execute(
        "INSERT INTO orders SELECT g FROM generate_series(1, 5000) g; SELECT setval('s', 5000); \
         SELECT setval('down', -100); SELECT setval('down_far', -9000); SELECT setval('up_behind', 7)",
    )
    .await
    .unwrap();
    let (_dir, out) = headless_in_temp(&sync_runbook("seqback", 1000));
    let (stdout, _) = exited(&out, 0);
    assert_eq!(last_value(&t, "s").await, 5000, "kept: {stdout}");
    assert!(
        stdout.contains(
            "public.s: 10 on source; target is already at or past it (hands out 5001 next): kept"
        ),
        "{stdout}"
    );
    // Descending: source at -500 → the target goes down to -1500, never up.
    assert_eq!(last_value(&t, "down").await, -1500, "{stdout}");
    assert_eq!(last_value(&t, "down_far").await, -9000, "{stdout}");
    // Ascending and behind: raised to 300 + 1000.
    assert_eq!(last_value(&t, "up_behind").await, 1300, "{stdout}");
    // The application's next insert works.
    t.execute("INSERT INTO orders DEFAULT VALUES", &[])
        .await
        .unwrap();
    // And a sync run again changes nothing (idempotent) and still passes.
    let (_dir, out) = headless_in_temp(&sync_runbook("seqback", 1000));
    let (stdout, _) = exited(&out, 0);
    assert_eq!(last_value(&t, "up_behind").await, 1300, "{stdout}");
    assert_eq!(last_value(&t, "down").await, -1500, "{stdout}");
    assert_eq!(stdout.matches(": kept").count(), 4, "{stdout}");
    assert!(
        !stdout.contains('→'),
        "nothing set the second time: {stdout}"
    );
}

const SIGN_OFF_RUNBOOK: &str = "[runbook]\nname = \"sign\"\n\n\
     [[step]]\nid = \"freeze\"\nrun = \"touch froze\"\n\n\
     [[step]]\nid = \"go\"\napprove = [\"dba\", \"owner\"]\n";

/// Issue 23: an empty or blank `--approve` name made a headless run spin forever appending
/// ~4,400 fsynced records a second; an unknown or repeated role was noticed only at the
/// sign-off, after freeze-writes had run. All are refused before step 1: exit 2, nothing
/// run, no journal.
#[test]
fn blank_unknown_and_repeated_sign_offs_are_refused_before_step_1() {
    for (args, says) in [
        (vec!["--approve", "dba="], "needs the name of the person"),
        (
            vec!["--approve", "owner=   "],
            "needs the name of the person",
        ),
        (
            vec!["--approve", "dbx=Ann"],
            "no sign-off role `dbx` (its roles: dba, owner)",
        ),
        (
            vec!["--approve", "dba=Ann", "--approve", "dba=Bo"],
            "role dba is given twice",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = headless_at(dir.path(), SIGN_OFF_RUNBOOK, "j.jsonl", &args, &[]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!dir.path().join("froze").exists(), "{args:?}: step 1 ran");
        assert!(!dir.path().join("j.jsonl").exists(), "{args:?}: a journal");
    }
    // One person for two roles: allowed unless the runbook wants distinct people.
    let two = ["--approve", "dba=Ann", "--approve", "owner=ann"];
    let dir = tempfile::tempdir().unwrap();
    let out = headless_at(dir.path(), SIGN_OFF_RUNBOOK, "j.jsonl", &two, &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let distinct =
        SIGN_OFF_RUNBOOK.replace("name = \"sign\"", "name = \"sign\"\ndistinct_people = true");
    let dir = tempfile::tempdir().unwrap();
    let out = headless_at(dir.path(), &distinct, "j.jsonl", &two, &[]);
    let (_, stderr) = exited(&out, 2);
    assert!(stderr.contains("distinct people"), "{stderr}");
    assert!(!dir.path().join("froze").exists());
}

/// Issue 23: `cutover reconcile --for 5s --every 1s` ran 35.9 s (`--for` acted as a round
/// count), and `--metrics-file` replaced whatever was at the path (as root it turned
/// `/dev/full` into a regular file; a FIFO too) or warned about a missing directory every
/// round. `--for` is a deadline; the metrics file is a regular file or nothing, checked at
/// start (exit 2, nothing written, not even the journal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_for_is_a_deadline_and_the_metrics_file_is_never_clobbered() {
    let _ = pair("fordeadline", "", "").await;
    let (dir, rb) = temp_runbook(
        "rb.toml",
        &format!(
            "[runbook]\nname = \"slow\"\n\n{}\n[[reconcile]]\nname = \"slow\"\nkind = \"query\"\n\
             sql = \"select pg_sleep(3)::text\"\n\n[[step]]\nid = \"x\"\nrun = \"true\"\n",
            pair_connections("fordeadline")
        ),
    );
    let rb = rb.to_str().unwrap().to_string();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let link = dir.path().join("link.prom");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let missing = dir.path().join("no-such-dir/m.prom");
    for (path, says) in [
        ("/dev/full".to_string(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (link.display().to_string(), "symbolic link"),
        (missing.display().to_string(), "does not exist"),
        (dir.path().display().to_string(), "not a regular file"),
    ] {
        let args = [
            "reconcile",
            &rb,
            "--metrics-file",
            &path,
            "--journal",
            "m.jsonl",
        ];
        let out = cutover_off_thread(dir.path(), &args, &[]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{path}: {stdout}{stderr}");
        assert!(
            stderr.contains(says) && stderr.contains(&path),
            "{path}: {stderr}"
        );
        assert!(
            !dir.path().join("m.jsonl").exists(),
            "{path}: a journal was made"
        );
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        std::fs::symlink_metadata(dir.path().join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(dir.path().join("link.prom"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // Rounds of 3 s every 1 s for 5 s: round 1 ends at ~3 s, round 2 starts at once and is cut
    // at the deadline; no third round starts (the old count-like --for ran five).
    let rb = dir.path().join("rb.toml");
    cutover_exits_off_thread(
        dir.path(),
        &[
            "reconcile",
            rb.to_str().unwrap(),
            "--every",
            "1s",
            "--for",
            "5s",
            "--journal",
            "w.jsonl",
        ],
        0,
    )
    .await;
    let j = std::fs::read_to_string(dir.path().join("w.jsonl")).unwrap();
    assert_eq!(j.matches("round 1: 1 passed").count(), 1, "{j}");
    assert!(!j.contains("round 2: ") && !j.contains("round 3"), "{j}");
    has(&j, "cut at the --for deadline (5s) during round 2");
}
