//! The safety net under attack: SIGKILL at the worst moments, torn journals, steps that
//! outlive their cutover. Each test performs the attack on the real binary and checks that
//! nothing is lost or done twice.

use crate::support::*;

const HEAD: &str = "[runbook]\nname = \"crash\"\n\n";

/// Kills whatever is left of a group a killed cutover orphaned.
fn reap_group(pgid: i32) {
    // SAFETY: killpg only sends a signal, to the orphaned group this test created.
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
}

#[test]
fn resume_after_a_crash_during_the_rollback_only_continues_the_rollback() {
    let (d, rb) = temp_runbook(
        "rb.toml",
        &format!(
            "{HEAD}[[step]]\nid = \"s1\"\nrun = \"echo s1 >> did.log\"\nrollback = \"echo undo-s1 >> did.log\"\n\n\
             [[step]]\nid = \"s2\"\nrun = \"echo s2 >> did.log\"\n\
             rollback = \"if [ -f again ]; then echo undo-s2 >> did.log; else touch again; echo started > undoing; sleep 60; fi\"\n\n\
             [[step]]\nid = \"s3\"\nrun = \"if [ -f s3-once ]; then echo s3 >> did.log; else touch s3-once; exit 1; fi\"\n\
             rollback = \"echo undo-s3 >> did.log\"\n\n\
             [[rollback_trigger]]\nname = \"s3 failed\"\nwhen = {{ step_failed = \"s3\" }}\naction = \"rollback\"\ncountdown = \"1s\"\n"
        ),
    );
    let j = d.path().join("j.jsonl");
    // SIGKILL in the middle of s2's rollback.
    let orphan = kill_headless_when(d.path(), &rb, "the rollback of s2 to run", |t| {
        d.path().join("undoing").exists()
            && t.lines()
                .last()
                .is_some_and(|l| l.contains("\"type\":\"process\""))
    });
    let before = journal(&j).len();
    let did = || std::fs::read_to_string(d.path().join("did.log")).unwrap();
    assert_eq!(did(), "s1\ns2\nundo-s3\n");

    // Headless, no operator: the interrupted rollback action needs a decision; nothing runs.
    let (code, out) = resume(d.path(), &[]);
    assert_eq!(code, Some(4), "{out}");
    assert!(
        out.contains("the rollback of step s2 started at")
            && out.contains("never finished — outcome unknown"),
        "{out}"
    );
    assert!(out.contains("cannot go forward"), "{out}");
    // What the first session undid counts, though this session did none of it.
    has(
        &out,
        "rollback was in progress when the last session ended (1 action done)",
    );

    // Re-running it while its old process group still runs would undo twice: refused.
    let (code, out) = resume(d.path(), &["--rerun-interrupted"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("still running"), "{out}");
    // Two sessions on, the first session's undo still counts.
    has(&out, "(1 action done)");

    // Stopping it first, then continuing: undo-s2 again, then undo-s1; s3 never runs again.
    let (code, out) = resume(d.path(), &["--rerun-interrupted", "--kill-interrupted"]);
    let survived = cutover_shell::group_alive(orphan);
    reap_group(orphan);
    assert_eq!(code, Some(3), "{out}");
    assert!(!survived, "the old rollback action was stopped");
    assert_eq!(did(), "s1\ns2\nundo-s3\nundo-s2\nundo-s1\n");
    let recs = journal(&j);
    let after = &recs[before..];
    assert!(
        after.iter().all(|r| r["type"] != "step_started"),
        "no step ran forward after the crash"
    );
    let undone: Vec<&str> = of_type(after, "rollback_action_started")
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(undone, ["s2", "s1"]);
    let stopped = of_type(after, "operator")
        .into_iter()
        .filter(|r| r["action"] == "stop_interrupted")
        .count();
    assert_eq!(stopped, 1);
    // The first session's undo of s3 is said to each later session's front end (a cockpit
    // folds only its own session's events).
    has(&out, "s3: failed, rolled back");
    assert_eq!(recs.last().unwrap()["outcome"], "rolled_back");

    // A rolled-back run is over.
    assert_eq!(resume(d.path(), &[]).0, Some(2));
}

#[test]
fn a_torn_journal_tail_is_set_aside_and_every_later_resume_works() {
    let (d, out) = headless_in_temp(&format!(
        "{HEAD}[[step]]\nid = \"one\"\nrun = \"echo one\"\n\n[[step]]\nid = \"two\"\nrun = \"test -f ok\"\n"
    ));
    let j = d.path().join("j.jsonl");
    assert_eq!(out.status.code(), Some(4));
    // A write cut off inside a multi-byte character (`•`), as a crash or ENOSPC leaves it.
    let torn =
        "{\"ts\":\"2026-11-28T00:00:00Z\",\"type\":\"notice\",\"level\":\"info\",\"message\":\"a •";
    let torn = &torn.as_bytes()[..torn.len() - 2];
    let tear = |j: &std::path::Path| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(j).unwrap();
        f.write_all(torn).unwrap();
    };
    tear(&j);
    for round in 0..2 {
        if round == 1 {
            tear(&j);
            std::fs::write(d.path().join("ok"), "").unwrap();
        }
        let (code, out) = resume(d.path(), &[]);
        let want = if round == 0 { 4 } else { 0 };
        assert_eq!(code, Some(want), "round {round}: {out}");
        assert!(out.contains("was cut off"), "round {round}: {out}");
        // Every line is a whole record again.
        let body = std::fs::read(&j).unwrap();
        assert!(body.ends_with(b"\n"));
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line).expect("a whole JSON record");
        }
    }
    let kept: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("j.jsonl.torn-"))
        .collect();
    assert_eq!(kept.len(), 2, "each torn tail kept in a side file");
    for k in kept {
        assert_eq!(std::fs::read(k.path()).unwrap(), torn);
    }
}

#[test]
fn rerun_interrupted_never_runs_a_step_twice_while_its_old_group_lives() {
    let (d, rb) = temp_runbook(
        "rb.toml",
        &format!(
            "{HEAD}[[step]]\nid = \"work\"\nrun = \"echo started > marker; sleep 5; echo did >> count.log\"\n"
        ),
    );
    let orphan = kill_headless_when(d.path(), &rb, "the step to start", |t| {
        d.path().join("marker").exists() && t.contains("\"type\":\"process\"")
    });

    let (code, out) = resume(d.path(), &["--rerun-interrupted"]);
    assert_eq!(code, Some(4), "{out}");
    has(&out, &format!("process group {orphan} is still running"));
    assert!(!d.path().join("count.log").exists(), "nothing ran twice");

    let (code, out) = resume(d.path(), &["--rerun-interrupted", "--kill-interrupted"]);
    let survived = cutover_shell::group_alive(orphan);
    reap_group(orphan);
    assert_eq!(code, Some(0), "{out}");
    assert!(!survived, "the old attempt's group was stopped");
    // The old attempt was stopped before it wrote; the re-run wrote once.
    assert_eq!(
        std::fs::read_to_string(d.path().join("count.log")).unwrap(),
        "did\n"
    );
}

/// A run started with `--var` and killed keeps its vars on resume (they are journaled): it
/// does not silently fall back to the runbook's defaults. A `--var` that changes one is
/// refused with the difference shown, unless accepted (journaled).
#[test]
fn resume_after_sigkill_keeps_the_vars_the_run_started_with() {
    let rb_text = format!(
        "{HEAD}[vars]\nhost = \"runbook-default\"\n\n\
         [[step]]\nid = \"first\"\nrun = \"echo first ${{vars.host}} >> hosts.log\"\n\n\
         [[step]]\nid = \"hold\"\nrun = \"if [ -f held ]; then :; else touch held; sleep 60; fi\"\n\n\
         [[step]]\nid = \"last\"\nrun = \"echo last ${{vars.host}} >> hosts.log\"\n"
    );
    let start_and_kill = |d: &std::path::Path| {
        let rb = runbook(d, "rb.toml", &rb_text);
        let mut child = headless_command(d, &rb)
            .args(["--var", "host=db-new.internal"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let j = d.join("j.jsonl");
        wait_for(
            "the hold step to run",
            std::time::Duration::from_secs(30),
            || {
                d.join("held").exists()
                    && std::fs::read_to_string(&j).is_ok_and(|t| {
                        t.lines()
                            .last()
                            .is_some_and(|l| l.contains("\"type\":\"process\""))
                    })
            },
        );
        child.kill().unwrap();
        child.wait().unwrap();
        of_type(&journal(&j), "process").last().unwrap()["pid"]
            .as_i64()
            .unwrap() as i32
    };
    let hosts = |d: &std::path::Path| std::fs::read_to_string(d.join("hosts.log")).unwrap();

    // Resumed without --var: the run's own value.
    let d = tempfile::tempdir().unwrap();
    let orphan = start_and_kill(d.path());
    let (code, out) = resume(d.path(), &["--rerun-interrupted", "--kill-interrupted"]);
    reap_group(orphan);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        hosts(d.path()),
        "first db-new.internal\nlast db-new.internal\n"
    );

    // Resumed with a --var that changes it: refused, the difference shown, nothing run.
    let d = tempfile::tempdir().unwrap();
    let orphan = start_and_kill(d.path());
    let (code, out) = resume(
        d.path(),
        &[
            "--var",
            "host=db-old.internal",
            "--rerun-interrupted",
            "--kill-interrupted",
        ],
    );
    assert_eq!(code, Some(2), "{out}");
    has(&out, r#"host: "db-new.internal" → "db-old.internal""#);
    assert!(out.contains("--accept-changed-vars"), "{out}");
    assert_eq!(hosts(d.path()), "first db-new.internal\n");
    // Accepted: it runs with the new value, and the acceptance is journaled.
    let (code, out) = resume(
        d.path(),
        &[
            "--var",
            "host=db-old.internal",
            "--accept-changed-vars",
            "--rerun-interrupted",
            "--kill-interrupted",
        ],
    );
    reap_group(orphan);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        hosts(d.path()),
        "first db-new.internal\nlast db-old.internal\n"
    );
    let recs = journal(&d.path().join("j.jsonl"));
    let accepted = recs
        .iter()
        .find(|r| r["action"] == "accept_changed_vars")
        .expect("the acceptance is journaled");
    assert_eq!(
        accepted["changes"][0],
        r#"host: "db-new.internal" → "db-old.internal""#
    );
}

/// A var that held a password is journaled masked, so a resume cannot restore it: it must be
/// given again (and the journal never holds it).
#[test]
fn a_var_holding_a_password_must_be_given_again_on_resume() {
    let dsn = "postgres://app:hunter2-secret@db.internal/orders";
    let d = tempfile::tempdir().unwrap();
    let out = headless_at(
        d.path(),
        &format!("{HEAD}[vars]\ndsn = \"\"\n\n[[step]]\nid = \"fails\"\nrun = \"exit 1\"\n"),
        "j.jsonl",
        &["--var", &format!("dsn={dsn}")],
        &[],
    );
    assert_eq!(out.status.code(), Some(4));
    let j = std::fs::read_to_string(d.path().join("j.jsonl")).unwrap();
    assert!(!j.contains("hunter2-secret"));
    let (code, out) = resume(d.path(), &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("give them again: --var dsn=…"), "{out}");
    // Given again, the run goes on (the step fails again: a decision, exit 4).
    let (code, out) = resume(d.path(), &["--var", &format!("dsn={dsn}")]);
    assert_eq!(code, Some(4), "{out}");
    assert!(!out.contains("differ"), "{out}");
}

/// A run started in one directory (`cutover run rb.toml`, a step `sh ./step.sh`), killed,
/// and resumed from another with the journal's absolute path, as `cutover ls` prints it: its
/// steps' relative paths would find other files there (another `step.sh` ran and the run
/// "completed"), so the resume runs where the run started, and says so.
#[test]
fn a_resume_from_another_directory_runs_where_the_run_started() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("step.sh"),
        "if [ -f again ]; then echo the run\\'s own step.sh; else touch again; sleep 60; fi\n",
    )
    .unwrap();
    runbook(
        d.path(),
        "rb.toml",
        &format!("{HEAD}[[step]]\nid = \"nap\"\nrun = \"sh ./step.sh\"\n"),
    );
    let orphan = kill_headless_when(d.path(), std::path::Path::new("rb.toml"), "nap", |t| {
        t.lines()
            .last()
            .is_some_and(|l| l.contains("\"type\":\"process\""))
    });
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("step.sh"), "echo the wrong step.sh\n").unwrap();
    let j = d.path().join("j.jsonl").display().to_string();
    let args = [
        "run",
        "--headless",
        "--resume",
        &j,
        "--rerun-interrupted",
        "--kill-interrupted",
    ];
    let (code, out) = code_and_output(&cutover(elsewhere.path(), &args, &[]));
    reap_group(orphan);
    assert_eq!(code, Some(0), "{out}");
    let here = std::fs::canonicalize(d.path())
        .unwrap()
        .display()
        .to_string();
    assert!(
        out.contains(&format!(
            "cutover: resuming in {here}, where the run started"
        )),
        "{out}"
    );
    assert!(
        out.contains("the run's own step.sh") && !out.contains("the wrong step.sh"),
        "{out}"
    );
    assert_eq!(
        journal(&d.path().join("j.jsonl")).last().unwrap()["outcome"],
        "completed"
    );
}
