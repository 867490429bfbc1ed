//! The reconcile gate and the mismatch trigger, through the real binary on a real pair.

use std::process::Stdio;
use std::time::Duration;

use cutover_drill::harness::Cluster;

use crate::support::*;

fn runbook_text(src: &str, tgt: &str, extra: &str) -> String {
    let connections = connections(src, tgt);
    let gate = gate_step("90s");
    format!(
        r#"[runbook]
name = "gate"
{connections}{ITEMS_CHECK}{gate}[[step]]
id = "after"
run = "echo past the gate"
{extra}"#
    )
}

async fn pair() -> (Cluster, Cluster) {
    let (s, t) = items_pair("gate").await;
    t.execute("update items set v = 'corrupt' where id = 42")
        .await
        .unwrap();
    (s, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_gate_blocks_on_a_mismatch_and_proceeds_when_it_is_fixed() {
    let (source, target) = pair().await;
    let (d, rb) = temp_runbook("rb.toml", &runbook_text(&source.dsn(), &target.dsn(), ""));
    let child = spawn_headless(d.path(), &rb, Stdio::null());
    let j = d.path().join("j.jsonl");
    off_thread({
        let j = j.clone();
        move || {
            wait_for(
                "the gate to report the mismatch",
                Duration::from_secs(60),
                || std::fs::read_to_string(&j).is_ok_and(|t| t.contains("\"status\":\"fail\"")),
            )
        }
    })
    .await;
    let recs = journal(&j);
    assert!(
        !of_type(&recs, "step_started")
            .iter()
            .any(|r| r["id"] == "after"),
        "the step after the gate must not start"
    );
    let res = of_type(&recs, "reconcile_result");
    let m = &res[0]["result"]["mismatches"][0];
    assert_eq!(m["key"][0], "42");
    assert_eq!(m["class"], "different");
    assert_eq!(m["columns"][0]["source"], "v42");
    assert_eq!(m["columns"][0]["target"], "corrupt");
    // Still blocked: the step has not finished.
    assert!(of_type(&recs, "step_finished").is_empty());

    target
        .execute("update items set v = 'v42' where id = 42")
        .await
        .unwrap();
    let out = off_thread(move || child.wait_with_output().unwrap()).await;
    let (stdout, _) = exited(&out, 0);
    assert!(stdout.contains("items: ✘ 1 row differs"), "{stdout}");
    assert!(stdout.contains("items: ✔ 500 rows equal"), "{stdout}");
    assert!(stdout.contains("│ past the gate"), "{stdout}");
    let recs = journal(&j);
    let fin = of_type(&recs, "step_finished");
    assert_eq!(fin[0]["outcome"], "passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatch_trigger_fires_and_results_survive_a_resume() {
    let (source, target) = pair().await;
    let d = tempfile::tempdir().unwrap();
    let extra = "[[rollback_trigger]]\nname = \"data drift\"\nwhen = { mismatch_rows_above = 0 }\n";
    let text_rb = runbook_text(&source.dsn(), &target.dsn(), extra);
    let out = headless_off_thread(d.path(), &text_rb, &[]).await;
    let (stdout, _) = exited(&out, 4);
    has(&stdout, "TRIGGER data drift: 1 mismatching row (above 0)");

    // The result is restored from the journal on resume (and not journaled again).
    let out = cutover_off_thread(
        d.path(),
        &["run", "--resume", "j.jsonl", "--headless", "--json"],
        &[],
    )
    .await;
    let (stdout, _) = text(&out);
    let restored: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "reconcile_result" && v["restored"] == true)
        .collect();
    assert_eq!(restored.len(), 1, "{stdout}");
    assert_eq!(restored[0]["result"]["name"], "items");
}

/// A gate on a list of checks waits for those only: a sequences check that is expected to
/// fail until the sequences are synced does not block it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_on_a_list_of_checks_waits_for_those_only() {
    let (source, target) = pair().await;
    target
        .execute("update items set v = 'v42' where id = 42")
        .await
        .unwrap();
    source
        .execute("create sequence s; select setval('s', 100);")
        .await
        .unwrap();
    target.execute("create sequence s;").await.unwrap();
    let d = tempfile::tempdir().unwrap();
    let text = runbook_text(&source.dsn(), &target.dsn(), "").replace(
        r#"wait = { reconcile = "all" }"#,
        r#"wait = { reconcile = ["items"] }"#,
    ) + "[[reconcile]]\nname = \"seqs\"\nkind = \"sequences\"\nschemas = [\"public\"]\n";
    let rb = runbook(d.path(), "rb.toml", &text);
    let out = off_thread({
        let dir = d.path().to_path_buf();
        move || headless_command(&dir, &rb).output().unwrap()
    })
    .await;
    let (stdout, _) = exited(&out, 0);
    assert!(stdout.contains("items: ✔ 500 rows equal"), "{stdout}");
    assert!(stdout.contains("│ past the gate"), "{stdout}");
    assert!(!stdout.contains("seqs: ✔"), "{stdout}");
}

/// A difference inside a long value: the result and the output show an excerpt around it, the
/// whole values go to one file next to the journal (secrets masked), written once although
/// the gate finds the same difference round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_difference_is_excerpted_and_its_whole_values_filed_once() {
    let (source, target) = pair().await;
    let secret = "s3cr3t-Value-77";
    let long = format!("{}{secret}{}", "a".repeat(20_000), "b".repeat(5_000));
    source
        .execute(&format!("update items set v = '{long}' where id = 7"))
        .await
        .unwrap();
    let changed = long.replacen("bbbbb", "bbXbb", 1);
    target
        .execute(&format!(
            "update items set v = '{changed}' where id = 7; update items set v = 'v42' where id = 42"
        ))
        .await
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "[secrets]\nPW = {{ env = \"CUTOVER_TEST_SECRET\" }}\n{}",
        runbook_text(&source.dsn(), &target.dsn(), "")
            .replace("timeout = \"90s\"", "timeout = \"14s\"")
            .replace(
                r#"reconcile = "all" }"#,
                r#"reconcile = "all", every = "1s" }"#
            )
    );
    let env = [("CUTOVER_TEST_SECRET", secret)];
    let out = headless_off_thread(d.path(), &text, &env).await;
    let (stdout, _) = exited(&out, 4);
    assert!(!stdout.contains(secret), "{stdout}");
    has(&stdout, "first difference at character 20018, of 25015");
    let recs = journal(&d.path().join("j.jsonl"));
    let res = of_type(&recs, "reconcile_result");
    assert!(res.len() >= 2, "the gate ran more than one round");
    let files: Vec<String> = res
        .iter()
        .map(|r| r["result"]["values_file"].as_str().unwrap().to_string())
        .collect();
    assert!(files.iter().all(|f| f == &files[0]), "{files:?}");
    let raw = std::fs::read_to_string(d.path().join("j.jsonl")).unwrap();
    assert!(
        !raw.contains(secret) && raw.len() < 200_000,
        "journal: {} bytes",
        raw.len()
    );
    assert!(stdout.contains(&format!(
        "whole values of the long differences: {}",
        files[0]
    )));
    let written: Vec<_> = std::fs::read_dir(d.path().join("j.output"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("reconcile-items-"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let body = std::fs::read_to_string(&written[0]).unwrap();
    assert!(!body.contains(secret), "secret in the values file");
    assert!(body.contains("--- source: 25015 characters"), "{body}");
    let masked = long.replace(secret, "");
    let head = &masked[..20_000];
    assert!(body.contains(head), "the whole source value is in the file");
    assert!(
        body.contains("bbXbb"),
        "the whole target value is in the file"
    );
}

/// A `mismatch_rows_above` trigger fires on the first check's result; as the other checks'
/// results come in, its message counts every differing row (the banner said 1 while the pane
/// showed 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fired_drift_trigger_counts_every_check_s_rows() {
    use cutover_model::protocol::Event;
    let (source, target) = pair().await;
    for ddl in ["create table more (id int primary key, v text);
         insert into more select g, 'v' || g from generate_series(1, 50) g;"]
    {
        source.execute(ddl).await.unwrap();
        target.execute(ddl).await.unwrap();
    }
    target
        .execute("update more set v = 'x' where id in (1, 2)")
        .await
        .unwrap();
    let text = runbook_text(
        &source.dsn(),
        &target.dsn(),
        "[[rollback_trigger]]\nname = \"data drift\"\naction = \"alert\"\nwhen = { mismatch_rows_above = 0 }\n",
    )
    .replace("[runbook]\nname = \"gate\"\n", "")
        + "[[reconcile]]\nname = \"more\"\nkind = \"checksum\"\ntable = \"public.more\"\nkey = \"id\"\nrecheck = \"never\"\n";
    let mut s = session::start(&text);
    s.send(cutover_model::protocol::Command::RunNext).await;
    let first = s
        .until(|e| match e {
            Event::TriggerFired { message, .. } => Some(message.clone()),
            _ => None,
        })
        .await;
    let now = s
        .until(|e| match e {
            Event::TriggerUpdated { message, .. } => Some(message.clone()),
            Event::TriggerFired { message, .. } => panic!("fired twice: {message}"),
            _ => None,
        })
        .await;
    assert!(
        first.starts_with("1 mismatching row") || first.starts_with("2 mismatching rows"),
        "{first}"
    );
    assert!(now.starts_with("3 mismatching rows (above 0): "), "{now}");
    assert!(now.contains("items 1") && now.contains("more 2"), "{now}");
    s.send(cutover_model::protocol::Command::Abort { reason: None })
        .await;
}
