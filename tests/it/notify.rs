//! `[[notify]]` hooks (issue 28): a hook hears each event kind it asked for, in order, as JSON
//! on stdin and `CUTOVER_NOTIFY_*`, masked; a failing or hanging hook is tried again, killed at
//! its timeout, journaled and shown, and never holds the run; `cutover notify --test`.

use crate::support::*;

const SECRET: &str = "vault-S3cret";

/// A hook that appends each event (stdin) and its kind (env) to files in `dir`.
fn recorder(dir: &std::path::Path, on: &str, extra: &str) -> String {
    let d = dir.display();
    format!(
        "[[notify]]\non = [{on}]\nrun = \"cat >> '{d}/events.jsonl'; echo >> '{d}/events.jsonl'; echo \\\"$CUTOVER_NOTIFY_KIND $CUTOVER_NOTIFY_STEP $CUTOVER_RUN_NAME\\\" >> '{d}/env.txt'\"\n{extra}"
    )
}

fn events(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_hook_hears_each_kind_it_asked_for_in_order_and_masked() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[runbook]
name = "notify {SECRET}"
[secrets]
VAULT = {{ env = "CUTOVER_TEST_VAULT" }}
{}
[[step]]
id = "slow"
run = "sleep 1.5"
expected = "100ms"
rollback = "true"

[[step]]
id = "sign"
approve = ["dba"]

{BOOM_ROLLS_BACK}"#,
        recorder(
            d.path(),
            r#""step_failed", "sign_off", "trigger", "countdown", "rollback", "run_ended", "behind_plan""#,
            "behind_by = \"1s\"\n"
        )
    );
    let out = headless_at(
        d.path(),
        &text,
        "j.jsonl",
        &["--approve", "dba=Ann"],
        &[("CUTOVER_TEST_VAULT", SECRET)],
    );
    exited(&out, 3);
    let got = events(d.path());
    let kinds: Vec<&str> = got.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "behind_plan",
            "sign_off",
            "step_failed",
            "trigger",
            "countdown",
            "rollback",
            "run_ended"
        ],
        "{got:#?}"
    );
    let failed = &got[2];
    assert_eq!(failed["step"]["id"], "boom");
    assert_eq!(failed["step"]["index"], 2);
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("step boom failed"),
        "{failed}"
    );
    assert!(
        got[1]["message"].as_str().unwrap().contains("dba"),
        "{}",
        got[1]
    );
    assert!(
        got[6]["message"].as_str().unwrap().contains("rolled back"),
        "{}",
        got[6]
    );
    // Masked: the secret in the run's name reaches neither stdin nor the environment.
    let raw = std::fs::read_to_string(d.path().join("events.jsonl")).unwrap();
    let env = std::fs::read_to_string(d.path().join("env.txt")).unwrap();
    assert!(
        !raw.contains(SECRET) && !env.contains(SECRET),
        "{raw}\n{env}"
    );
    assert!(
        env.lines()
            .any(|l| l.starts_with("step_failed boom notify ")),
        "{env}"
    );
    // A delivered note is not journaled as a failure.
    let recs = journal(&d.path().join("j.jsonl"));
    assert!(
        !of_type(&recs, "notice")
            .iter()
            .any(|n| n["message"].as_str().unwrap_or("").contains("notify hook")),
        "{recs:?}"
    );
}

#[test]
fn a_failing_or_hanging_hook_is_journaled_and_never_holds_the_run() {
    let d = tempfile::tempdir().unwrap();
    let text = r#"[runbook]
name = "slow hooks"

[[notify]]
on = ["step_failed", "run_ended"]
run = "echo no route to the pager >&2; exit 3"
retries = 1

[[notify]]
on = ["step_failed"]
run = "sleep 31.5"
timeout = "1s"
retries = 0

[[step]]
id = "boom"
run = "exit 3"
"#;
    let out = headless_at(d.path(), text, "j.jsonl", &[], &[]);
    exited(&out, 4);
    let recs = journal(&d.path().join("j.jsonl"));
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| recs.iter().position(pred);
    let finished = at(&|r| r["type"] == "run_finished").expect("run_finished");
    let said = |text: &str| {
        at(&|r| r["type"] == "notice" && r["message"].as_str().unwrap_or("").contains(text))
    };
    let hook1 = said("notify hook 1 (step_failed) failed 2 times: exited 3: no route to the pager")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    let hook2 = said("notify hook 2 (step_failed) failed 1 time: ran past its timeout (1s); its process group was killed")
        .unwrap_or_else(|| panic!("{recs:#?}"));
    let ended =
        said("notify hook 1 (run_ended) failed 2 times").unwrap_or_else(|| panic!("{recs:#?}"));
    // The run did not wait for its hooks: it ended before their failures were known.
    assert!(
        finished < hook1 && finished < hook2 && finished < ended,
        "{recs:#?}"
    );
    // The hanging hook's process group is gone.
    let left = std::process::Command::new("pgrep")
        .args(["-f", "sleep 31.5"])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "a hook outlived its timeout");
}

/// A hook that never answers delays only its own notes: the pager beside it hears
/// `step_failed` and `run_ended` (before, hooks ran one after the other, and a dead chat
/// hook's 33 s per note kept the pager silent past the end-of-run flush). And a
/// `behind_plan` note goes only to the hooks of its margin (before, every hook that asked
/// for `behind_plan` got it, its own `behind_by` ignored).
#[test]
fn a_dead_hook_never_silences_another_and_behind_by_is_each_hook_s_own() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[runbook]
name = "dead chat"

[[notify]]
on = ["step_failed", "run_ended", "behind_plan"]
behind_by = "1s"
run = "sleep 40"
timeout = "10s"
retries = 2

{}
[[step]]
id = "boom"
run = "sleep 2.5; exit 3"
expected = "1s"
"#,
        recorder(
            d.path(),
            r#""step_failed", "run_ended", "behind_plan""#,
            "behind_by = \"1h\"\n"
        )
    );
    let out = headless_at(d.path(), &text, "j.jsonl", &[], &[]);
    exited(&out, 4);
    let got = events(d.path());
    let kinds: Vec<&str> = got.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["step_failed", "run_ended"], "{got:#?}");
    let recs = journal(&d.path().join("j.jsonl"));
    assert!(
        recs.iter().any(|r| r["type"] == "notice"
            && r["message"]
                .as_str()
                .unwrap_or("")
                .contains("notify: hook 1 still running 30s after the run ended")),
        "{recs:#?}"
    );
}

#[test]
fn notify_test_sends_a_test_event_to_every_hook() {
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "[runbook]\nname = \"t\"\n{}\n[[notify]]\non = [\"run_ended\"]\nrun = \"exit 7\"\nretries = 0\n\n[[step]]\nid = \"a\"\nrun = \"true\"\n",
        recorder(d.path(), "\"run_ended\"", "")
    );
    let rb = runbook(d.path(), "rb.toml", &body);
    let rb = rb.to_str().unwrap();
    let (o, _) = cutover_exits(d.path(), &["notify", rb, "--test"], 1);
    assert!(o.contains("✔ notify hook 1: delivered"), "{o}");
    has(&o, "✘ notify hook 2 (test) failed 1 time: exited 7");
    let got = events(d.path());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["kind"], "test");
    // Without --test, or without a hook: refused.
    let out = cutover(d.path(), &["notify", rb], &[]);
    assert_eq!(out.status.code(), Some(2));
    let none = runbook(
        d.path(),
        "none.toml",
        "[runbook]\nname = \"n\"\n[[step]]\nid = \"a\"\nrun = \"true\"\n",
    );
    let (_, e) = cutover_exits(d.path(), &["notify", none.to_str().unwrap(), "--test"], 2);
    assert!(e.contains("no [[notify]] hook"), "{e}");
}

/// A hook's environment holds the runbook's secrets as a step's does (`$CUTOVER_SECRET_*`, the
/// form the README prefers to `${secrets.…}` in a command): a hook that sends its token from
/// there sends the token, not its mask. What the event says stays masked.
#[test]
fn a_hook_sends_its_token_from_the_environment_unmasked() {
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "[runbook]\nname = \"t {SECRET}\"\n[secrets]\nVAULT = {{ env = \"CUTOVER_TEST_VAULT\" }}\n\
         [[notify]]\non = [\"run_ended\"]\n\
         run = \"if [ \\\"$CUTOVER_SECRET_VAULT\\\" = \\\"$CUTOVER_TEST_VAULT\\\" ]; then echo token; else echo mask; fi > sent.txt; \
         printf '%s' \\\"$CUTOVER_RUN_NAME\\\" > name.txt\"\n\n[[step]]\nid = \"a\"\nrun = \"true\"\n"
    );
    let rb = runbook(d.path(), "rb.toml", &body);
    let out = cutover(
        d.path(),
        &["notify", rb.to_str().unwrap(), "--test"],
        &[("CUTOVER_TEST_VAULT", SECRET)],
    );
    let (o, _) = exited(&out, 0);
    assert!(o.contains("✔ notify hook 1: delivered"), "{o}");
    let sent = std::fs::read_to_string(d.path().join("sent.txt")).unwrap();
    assert_eq!(sent.trim(), "token");
    let name = std::fs::read_to_string(d.path().join("name.txt")).unwrap();
    assert!(!name.contains(SECRET) && name.starts_with("t "), "{name}");
}

/// The conditions that last: the lag reaching critical, the lag probe failing, a reconcile
/// gate holding the run; each told once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lasting_conditions_are_told_once_when_they_begin() {
    let _ = crate::reconcile::pair(
        "notifygate",
        "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 20) g;",
        "UPDATE t SET v = -1 WHERE id = 4;",
    )
    .await;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().display().to_string();
    std::fs::write(d.path().join("lag"), "5\n").unwrap();
    let text = format!(
        r#"[runbook]
name = "lasting"
{}
{}
[lag]
method = "command"
command = "cat '{dir}/lag'"
warn = 50
critical = 100
interval = "200ms"

[[reconcile]]
name = "t"
kind = "checksum"
table = "public.t"
key = "id"
recheck = "never"

[[step]]
id = "rising"
run = "echo 500 > '{dir}/lag'; sleep 1.5"

[[step]]
id = "blind"
run = "rm '{dir}/lag'; sleep 1.5"

[[step]]
id = "gate"
wait = {{ reconcile = ["t"], every = "500ms" }}
timeout = "3s"
"#,
        crate::reconcile::pair_connections("notifygate"),
        recorder(
            d.path(),
            r#""lag_critical", "lag_stale", "gate_blocked", "run_ended""#,
            ""
        ),
    );
    let out = headless_off_thread(d.path(), &text, &[]).await;
    exited(&out, 4);
    let got = events(d.path());
    let kinds: Vec<&str> = got.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["lag_critical", "lag_stale", "gate_blocked", "run_ended"],
        "{got:#?}"
    );
    assert!(
        got[0]["message"]
            .as_str()
            .unwrap()
            .contains("critical threshold 100"),
        "{}",
        got[0]
    );
    assert_eq!(got[2]["step"]["id"], "gate");
}

/// Attack: cutover SIGKILLed while a hook runs. Nothing after a crash follows a hook up (a
/// step's process group the journal names; a hook's it does not), so its own `timeout` holds
/// without cutover: its whole group, which holds the run's secrets in its environment, is
/// gone a few seconds after it (before, `sleep 3600` ran on, orphaned, with the secrets).
#[test]
fn a_hook_ends_at_its_timeout_even_when_cutover_was_killed() {
    let d = tempfile::tempdir().unwrap();
    let marker = format!("cutover-orphan-hook-{}", std::process::id());
    let text = format!(
        r#"[runbook]
name = "orphan hook"

[[notify]]
on = ["step_failed"]
run = "sh -c 'sleep 3600; : {marker}' & wait"
timeout = "2s"
retries = 0

[[step]]
id = "boom"
run = "exit 3"

[[step]]
id = "never"
run = "sleep 600"
"#
    );
    let rb = runbook(d.path(), "rb.toml", &text);
    let mut cutover = headless_child(d.path(), &rb, &[]);
    let hook_runs = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    wait_for(
        "the hook to run",
        std::time::Duration::from_secs(30),
        hook_runs,
    );
    cutover.kill().unwrap();
    cutover.wait().unwrap();
    // Its 2 s, the grace its wrapper gives, and the 2 s before SIGKILL: well within 30 s.
    wait_for(
        "the orphaned hook to end",
        std::time::Duration::from_secs(30),
        || !hook_runs(),
    );
}

/// Two hooks with the same `behind_by`: each hears `behind_plan` once when the run falls
/// behind (before, each margin was watched once per hook that asked for it, so each hook was
/// told as many times as hooks shared its margin).
#[test]
fn hooks_that_share_a_margin_each_hear_behind_plan_once() {
    let d = tempfile::tempdir().unwrap();
    let hook = |n: u32| {
        format!(
            "[[notify]]\non = [\"behind_plan\"]\nbehind_by = \"1s\"\n\
             run = \"cat >> '{}/hook-{n}.jsonl'; echo >> '{}/hook-{n}.jsonl'\"\n",
            d.path().display(),
            d.path().display()
        )
    };
    let text = format!(
        "[runbook]\nname = \"late\"\n\n{}\n{}\n[[step]]\nid = \"slow\"\n\
         run = \"sleep 3\"\nexpected = \"1s\"\n",
        hook(1),
        hook(2)
    );
    let out = headless_at(d.path(), &text, "j.jsonl", &[], &[]);
    exited(&out, 0);
    for n in [1, 2] {
        let heard =
            std::fs::read_to_string(d.path().join(format!("hook-{n}.jsonl"))).unwrap_or_default();
        assert_eq!(
            heard.matches("\"behind_plan\"").count(),
            1,
            "hook {n}: {heard}"
        );
    }
}

/// A `timeout` on the PATH that does not take `-k` (an old BusyBox, something else of that
/// name): it is not used, and the hook runs as it would without it.
#[test]
fn a_timeout_that_does_not_take_k_is_not_used() {
    delivered_past_a_fake_timeout("#!/bin/sh\necho 'Usage: timeout -t SECS PROG' >&2\nexit 1\n");
}

/// Attack: a `timeout` on the PATH that never ends. Asked once whether it works, it held
/// that question (and a thread of the engine's) for ever; it is given 2 s, then ended, and
/// the hook runs without it.
#[test]
fn a_timeout_that_never_ends_is_not_waited_for() {
    delivered_past_a_fake_timeout("#!/bin/sh\nexec sleep 3600\n");
}

/// A fake `timeout` (`script`) first on the PATH: `notify --test` still delivers its hook.
fn delivered_past_a_fake_timeout(script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("timeout");
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let body = format!(
        "[runbook]\nname = \"t\"\n{}\n[[step]]\nid = \"a\"\nrun = \"true\"\n",
        recorder(d.path(), "\"run_ended\"", "")
    );
    let rb = runbook(d.path(), "rb.toml", &body);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = cutover(
        d.path(),
        &["notify", rb.to_str().unwrap(), "--test"],
        &[("PATH", path.as_str())],
    );
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("✔ notify hook 1: delivered"), "{o}");
    assert_eq!(events(d.path()).len(), 1);
}
