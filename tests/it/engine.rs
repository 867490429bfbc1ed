//! The engine through the real binary (`run --headless`) and through the library API.

use std::os::unix::fs::PermissionsExt;

use std::time::Duration;

use crate::support::*;

const HEAD: &str = "[runbook]\nname = \"t\"\n";

fn pid_file(dir: &std::path::Path, name: &str) -> i32 {
    std::fs::read_to_string(dir.join(name))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid")
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let (d, out) = headless_in_temp(&format!(
        "{HEAD}[[step]]\nid = \"hang\"\nrun = \"sleep 1000 & echo $! > bg.pid; sleep 1000\"\ntimeout = \"1s\"\n"
    ));
    let (stdout, _) = exited(&out, 4);
    assert!(stdout.contains("timed out after 1s"), "{stdout}");
    let bg = pid_file(d.path(), "bg.pid");
    wait_for(
        "the backgrounded sleep to die",
        Duration::from_secs(10),
        || !alive(bg),
    );
    let recs = journal(&d.path().join("j.jsonl"));
    let fin = of_type(&recs, "step_finished");
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0]["outcome"], "timed_out");
}

#[test]
fn a_passing_step_leaves_no_background_process() {
    let (d, out) = headless_in_temp(&format!(
        "{HEAD}[[step]]\nid = \"bg\"\nrun = \"sleep 1000 >/dev/null 2>&1 & echo $! > bg.pid; echo started\"\n"
    ));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let bg = pid_file(d.path(), "bg.pid");
    wait_for(
        "the background sleep to be terminated",
        Duration::from_secs(10),
        || !alive(bg),
    );
}

#[test]
fn secrets_never_reach_stdout_journal_output_files_or_log() {
    let secret = "s3cr3t-Value-xyz";
    let d = tempfile::tempdir().unwrap();
    let rb_text = r#"[runbook]
name = "secrets"
[secrets]
TOKEN = { env = "CUTOVER_TEST_TOKEN" }
[connections.source]
dsn = "host=db password=${secrets.TOKEN} dbname=x"
[connections.target]
dsn = "postgres://migrator:literal-pw-123@db-new/orders"
[[step]]
id = "use-it"
title = "token ${secrets.TOKEN}"
run = "echo token=${secrets.TOKEN}; echo env=$CUTOVER_SECRET_TOKEN >&2; echo done"
expect = { stdout = "done" }
[[step]]
id = "fail-with-it"
run = "echo failing with ${secrets.TOKEN}; exit 3"
"#;
    for (journal_name, json) in [("human.jsonl", false), ("json.jsonl", true)] {
        // The servers do not exist: preflight says so (masked too) and is overridden.
        let extra: &[&str] = if json {
            &["--json", "--skip-preflight", "no servers in this test"]
        } else {
            &["--skip-preflight", "no servers in this test"]
        };
        let env = [("CUTOVER_TEST_TOKEN", secret)];
        let out = headless_at(d.path(), rb_text, journal_name, extra, &env);
        let (stdout, stderr) = exited(&out, 4);
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stdout}{stderr}"
        );
        assert!(!stdout.contains("literal-pw-123"), "{stdout}");
        // The masked form is there: the lines were printed, not dropped.
        assert!(stdout.contains("token=••••"), "{stdout}");
        assert!(stdout.contains("env=••••"), "{stdout}");
    }
    let mut files = Vec::new();
    let mut stack = vec![d.path().to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.file_name() != "rb.toml" {
                files.push(e.path());
            }
        }
    }
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "log"))
    );
    assert!(
        files.len() >= 6,
        "journals, logs and output files: {files:?}"
    );
    for f in &files {
        let body = std::fs::read_to_string(f).unwrap();
        assert!(!body.contains(secret), "{} holds the secret", f.display());
        assert!(
            !body.contains("literal-pw-123"),
            "{} holds the DSN password",
            f.display()
        );
    }
    let recs = journal(&d.path().join("human.jsonl"));
    let text_rec = of_type(&recs, "runbook_text");
    assert!(
        text_rec[0]["source"]
            .as_str()
            .unwrap()
            .contains("migrator:••••@db-new")
    );
}

#[test]
fn journal_is_private_and_ordered() {
    let d = tempfile::tempdir().unwrap();
    let body = format!("{HEAD}[[step]]\nid = \"a\"\nrun = \"echo hi\"\n");
    let operator = [("USER", "alice"), ("SSH_CLIENT", "10.0.0.9 50000 22")];
    let out = headless_at(d.path(), &body, "sub/j.jsonl", &[], &operator);
    assert_eq!(out.status.code(), Some(0));
    let j = d.path().join("sub/j.jsonl");
    assert_eq!(
        std::fs::metadata(&j).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let recs = journal(&j);
    let types: Vec<&str> = recs.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "run_started",
            "runbook_text",
            "preflight",
            "operator",
            "step_started",
            "process",
            "step_finished",
            "run_finished"
        ]
    );
    let run = &recs[0]["run"];
    assert_eq!(run["operator"]["user"], "alice");
    assert_eq!(run["operator"]["ssh_client"], "10.0.0.9 50000 22");
    assert_eq!(run["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(recs[6]["checks"][0]["name"], "exit");
    assert_eq!(recs[7]["outcome"], "completed");
    // The same journal again is refused as a usage error, and the journal is untouched.
    let before = std::fs::read(&j).unwrap();
    let again = headless_at(d.path(), &body, "sub/j.jsonl", &[], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&j).unwrap(), before);
}

#[test]
fn headless_needs_assume_yes_for_confirmations_and_stops_on_failure() {
    let d = tempfile::tempdir().unwrap();
    let rb_text = &format!(
        "{HEAD}[[step]]\nid = \"go\"\nconfirm = \"GO\"\n[[step]]\nid = \"bad\"\nrun = \"echo nope >&2; exit 1\"\n[[step]]\nid = \"never\"\nrun = \"touch never-ran\"\n"
    );
    let out = headless_at(d.path(), rb_text, "a.jsonl", &[], &[]);
    let (stdout, _) = exited(&out, 4);
    assert!(stdout.contains("needs the operator to type GO"), "{stdout}");
    assert!(stdout.contains("--assume-yes"), "{stdout}");

    let out = headless_at(d.path(), rb_text, "b.jsonl", &["--assume-yes"], &[]);
    let (stdout, _) = exited(&out, 4);
    assert!(stdout.contains("bad failed"), "{stdout}");
    assert!(stdout.contains("exit 1 (expected 0)"), "{stdout}");
    assert!(
        !d.path().join("never-ran").exists(),
        "a failed step must not let the run move on"
    );
    let recs = journal(&d.path().join("b.jsonl"));
    let fin = of_type(&recs, "step_finished");
    assert_eq!(fin.last().unwrap()["outcome"], "failed");
    let last = recs.last().unwrap();
    assert_eq!(last["type"], "run_finished");
    assert_eq!(last["outcome"], "aborted");
}

#[test]
fn sigkill_mid_step_then_resume_reports_the_interrupted_step() {
    let (d, rb) = temp_runbook(
        "rb.toml",
        &format!(
            "{HEAD}[[step]]\nid = \"one\"\nrun = \"echo one >> ran.log\"\n\
             [[step]]\nid = \"two\"\nrun = \"if [ -f second ]; then echo quick; else touch second; echo started > marker; sleep 60; fi\"\n\
             [[step]]\nid = \"three\"\nrun = \"echo three >> ran.log\"\n"
        ),
    );
    let pgid = kill_headless_when(d.path(), &rb, "step two to start", |t| {
        d.path().join("marker").exists() && t.contains("\"type\":\"process\",\"index\":1")
    });

    // The step's process group outlived cutover; resume says so and stops (headless, no operator).
    let (code, out) = resume(d.path(), &[]);
    // SAFETY: cleaning up the orphaned process group of the killed run.
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
    assert_eq!(code, Some(4), "{out}");
    has(&out, "two was interrupted — outcome unknown");
    assert!(out.contains("STILL RUNNING"), "{out}");
    assert!(out.contains("--rerun-interrupted"), "{out}");

    // Re-running it completes the run; step one is not run again.
    let (code, out) = resume(d.path(), &["--rerun-interrupted"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("ran.log")).unwrap(),
        "one\nthree\n"
    );
    let recs = journal(&d.path().join("j.jsonl"));
    let started: Vec<&str> = of_type(&recs, "step_started")
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(started, ["one", "two", "two", "three"]);
    let sessions = of_type(&recs, "run_started");
    assert_eq!(sessions.len(), 3, "one per session");
    // Every session counts from the run's first start and its first step's (the header's
    // elapsed and behind-plan figures continue across a resume).
    let first_start = &sessions[0]["run"]["started_at"];
    let first_step = &of_type(&recs, "step_started")[0]["at"];
    for s in &sessions[1..] {
        assert_eq!(&s["run"]["run_started_at"], first_start, "{s}");
        assert_eq!(&s["run"]["first_step_at"], first_step, "{s}");
    }
}

#[test]
fn a_changed_runbook_is_refused_on_resume_unless_accepted() {
    let body = format!("{HEAD}[[step]]\nid = \"a\"\nrun = \"echo a\"\n");
    let d = tempfile::tempdir().unwrap();
    let out = headless(d.path(), &body, &[]);
    let rb = d.path().join("rb.toml");
    let rbs = rb.to_str().unwrap().to_string();
    assert_eq!(out.status.code(), Some(0));

    std::fs::write(
        &rb,
        format!("{body}[[step]]\nid = \"b\"\nrun = \"echo added-step\"\n"),
    )
    .unwrap();
    let (stdout, stderr) = cutover_exits(
        d.path(),
        &["run", &rbs, "--headless", "--resume", "j.jsonl"],
        2,
    );
    assert!(stderr.contains("changed since journal"), "{stderr}");
    assert!(
        stderr.contains("+id = \"b\""),
        "the difference is shown: {stderr}"
    );
    assert!(stderr.contains("--accept-changed-runbook"), "{stderr}");
    assert!(!stdout.contains("added-step"));

    let (stdout, _) = cutover_exits(
        d.path(),
        &[
            "run",
            &rbs,
            "--headless",
            "--resume",
            "j.jsonl",
            "--accept-changed-runbook",
        ],
        0,
    );
    assert!(stdout.contains("│ added-step"), "{stdout}");
    let recs = journal(&d.path().join("j.jsonl"));
    let acts = of_type(&recs, "operator");
    assert!(acts.iter().any(|a| a["action"] == "accept_changed_runbook"));
    let started: Vec<&str> = of_type(&recs, "step_started")
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(started, ["a", "b"], "step a is not run again");
}

mod library {
    //! Driving the engine directly with commands, as the cockpit does.

    use cutover_model::protocol::{Command, DecisionKind, Event, Level, RunOutcome, StepOutcome};

    use crate::support::session::{finished, start};

    /// The engine asks what to do about a failed step.
    fn failed_decision(e: &Event) -> bool {
        matches!(
            e,
            Event::DecisionNeeded {
                kind: DecisionKind::Failed,
                ..
            }
        )
    }

    /// The engine warns.
    fn warning(e: &Event) -> bool {
        matches!(
            e,
            Event::Notice {
                level: Level::Warn,
                ..
            }
        )
    }

    /// A fleet's run-next names the step it saw waiting: sent again from a view a moment old
    /// (the step has run since), it is refused with a notice and no other step runs; the step
    /// that is next runs.
    #[tokio::test]
    async fn run_step_runs_only_the_step_it_names() {
        let mut s = start(
            "[[step]]\nid = \"one\"\nrun = \"true\"\n[[step]]\nid = \"two\"\nrun = \"true\"\n",
        );
        s.ready(0).await;
        s.send(Command::RunStep { index: 0 }).await;
        assert_eq!(s.until(finished).await.0, "one");
        s.ready(1).await;
        s.send(Command::RunStep { index: 0 }).await;
        let said = s
            .until(|e| match e {
                Event::Notice { message, .. } => Some(message.clone()),
                Event::StepStarted { id, .. } => panic!("{id} ran on a stale run-next"),
                _ => None,
            })
            .await;
        assert_eq!(said, "step 1 was not run: the next step is 2 two");
        s.send(Command::RunStep { index: 1 }).await;
        assert_eq!(s.until(finished).await.0, "two");
        assert_eq!(s.outcome().await, RunOutcome::Completed);
    }

    #[tokio::test]
    async fn failed_step_waits_for_retry_or_skip_with_a_reason() {
        let mut s = start(
            "[[step]]\nid = \"flaky\"\nrun = \"test -f ${vars.dir}/ok || { touch ${vars.dir}/ok; exit 1; }\"\n[[step]]\nid = \"bad\"\nrun = \"exit 2\"\n[[step]]\nid = \"last\"\nrun = \"true\"\n",
        );
        s.start_next(0).await;
        let first = s.until(finished).await;
        assert_eq!(first, ("flaky".to_string(), StepOutcome::Failed, 1));
        s.seen(failed_decision).await;
        // Running the next step is refused while a step is failed.
        s.send(Command::RunNext).await;
        s.seen(warning).await;
        s.send(Command::Retry).await;
        let again = s.until(finished).await;
        assert_eq!((again.1, again.2), (StepOutcome::Passed, 2));
        assert_eq!(s.run_next(1).await, StepOutcome::Failed);
        s.seen(|e| matches!(e, Event::DecisionNeeded { .. })).await;
        s.skip("  ").await;
        let warn = s
            .until(|e| match e {
                Event::Notice { message, .. } => Some(message.clone()),
                _ => None,
            })
            .await;
        assert!(warn.contains("reason is required"), "{warn}");
        s.skip("known issue, ticket 42").await;
        assert_eq!(s.run_next(2).await, StepOutcome::Passed);
        let outcome = s.outcome().await;
        assert_eq!(outcome, RunOutcome::Completed);
        assert_eq!(s.task.await.unwrap().unwrap(), RunOutcome::Completed);
    }

    #[tokio::test]
    async fn cancel_kills_a_running_step_and_confirm_needs_the_exact_word() {
        let mut s = start(
            "[[step]]\nid = \"long\"\nrun = \"sleep 600\"\n[[step]]\nid = \"go\"\nconfirm = \"GO\"\n",
        );
        s.start_next(0).await;
        let pid = s
            .until(|e| match e {
                Event::Process { pid, .. } => Some(*pid as i32),
                _ => None,
            })
            .await;
        s.send(Command::Cancel).await;
        assert_eq!(s.until(finished).await.1, StepOutcome::Cancelled);
        assert!(!crate::support::alive(pid), "cancel kills the step");
        s.seen(|e| matches!(e, Event::DecisionNeeded { .. })).await;
        s.skip("not needed in this drill").await;
        s.start_next(1).await;
        s.seen(|e| matches!(e, Event::ConfirmRequested { .. }))
            .await;
        s.send(Command::Confirm { text: "go".into() }).await;
        s.seen(|e| matches!(e, Event::ConfirmRejected { .. })).await;
        s.send(Command::Confirm { text: "GO".into() }).await;
        assert_eq!(s.until(finished).await.1, StepOutcome::Passed);
        assert_eq!(s.task.await.unwrap().unwrap(), RunOutcome::Completed);
    }
}

#[test]
fn a_step_ignoring_sigterm_is_killed_one_grace_after_its_timeout() {
    let (d, out) = headless_in_temp(&format!(
        "{HEAD}[[step]]\nid = \"stubborn\"\nrun = \"trap '' TERM; sleep 30 & wait; sleep 30\"\ntimeout = \"1s\"\n"
    ));
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    let recs = journal(&d.path().join("j.jsonl"));
    let fin = of_type(&recs, "step_finished");
    assert_eq!(fin[0]["outcome"], "timed_out");
    // Timeout, SIGTERM ignored, SIGKILL after one grace (2 s): not a second grace waiting on
    // zombies. Generous slack for a loaded machine; a second grace would need 5 s.
    let took = fin[0]["duration_ms"].as_u64().unwrap();
    assert!(took < 4_500, "the step ended {took} ms after it started");
}

#[test]
fn the_documented_daemon_idiom_survives_the_end_of_its_step() {
    // README: start a daemon from a step with `setsid sh -c 'cmd &'` in the foreground, so it
    // has left the step's process group before the step ends.
    let d = tempfile::tempdir().unwrap();
    let steps: String = (0..10)
        .map(|i| {
            format!(
                "[[step]]\nid = \"daemon-{i}\"\nrun = \"setsid sh -c 'sleep 300 >/dev/null 2>&1 </dev/null & echo $! > d{i}.pid'\"\n\n"
            )
        })
        .collect();
    let out = headless(d.path(), &format!("{HEAD}{steps}"), &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let pids: Vec<i32> = (0..10)
        .map(|i| pid_file(d.path(), &format!("d{i}.pid")))
        .collect();
    let survivors = pids.iter().filter(|p| alive(**p)).count();
    for p in &pids {
        // SAFETY: killing the daemons this test started.
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
    assert_eq!(survivors, 10, "every daemon outlived its step");
}

/// `setsid cmd &` in a step (the form the README warns against) leaves a process outside the
/// step's group holding its output open: the step still ends, and its output says why reading
/// stopped, instead of the run waiting for the daemon to close it.
#[test]
fn a_daemon_holding_a_step_s_output_open_does_not_hold_the_run() {
    let d = tempfile::tempdir().unwrap();
    let runbook = format!(
        "{HEAD}[[step]]\nid = \"daemon\"\nrun = \"echo started; setsid sh -c 'echo $$ > d.pid; exec sleep 120' & \
         while [ ! -s d.pid ]; do sleep 0.05; done\"\n\
         timeout = \"60s\"\n\n[[step]]\nid = \"next\"\nrun = \"echo next ran\"\n"
    );
    let out = headless(d.path(), &runbook, &[]);
    let daemon = pid_file(d.path(), "d.pid");
    let lived_on = alive(daemon);
    // SAFETY: killing the daemon this test started.
    unsafe { libc::kill(daemon, libc::SIGKILL) };
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(lived_on, "the daemon left the step's group and outlived it");
    let logs: Vec<_> = std::fs::read_dir(d.path().join("j.output"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let log = logs
        .iter()
        .find(|p| p.to_string_lossy().contains("daemon"))
        .unwrap_or_else(|| panic!("no output file for the step in {logs:?}"));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("started"), "{log}");
    assert!(
        log.contains("cutover: stopped reading stdout after the command ended"),
        "{log}"
    );
    let recs = journal(&d.path().join("j.jsonl"));
    let fin = of_type(&recs, "step_finished");
    assert_eq!(fin.len(), 2);
    assert!(fin.iter().all(|f| f["outcome"] == "passed"), "{fin:?}");
}

/// A window in the past (a copied runbook, a wrong date) is said before anything runs (by
/// preflight, which stops the run), and when the run is started anyway the summary says step 1
/// started outside it.
#[test]
fn a_run_outside_its_window_says_so_at_start_and_in_the_summary() {
    let d = tempfile::tempdir().unwrap();
    let text = "[runbook]\nname = \"t\"\nwindow = { start = \"2020-01-01T02:00:00Z\", minutes = 90 }\n\
                [[step]]\nid = \"one\"\nrun = \"true\"\nexpected = \"1s\"\n";
    let out = headless(d.path(), text, &[]);
    let (stdout, _) = exited(&out, 2);
    assert!(stdout.contains("✘ window: closed"), "{stdout}");
    // Started anyway: the journal's summary says step 1 started outside the window.
    let out = headless_at(
        d.path(),
        text,
        "j2.jsonl",
        &["--skip-preflight", "rehearsal on a copy"],
        &[],
    );
    exited(&out, 0);
    let mut summary = cutover_model::summary::RunSummary::default();
    for r in journal(&d.path().join("j2.jsonl")) {
        let ev: cutover_model::protocol::Event = serde_json::from_value(r.clone()).unwrap();
        summary.apply(None, &ev);
    }
    let lines = cutover_model::summary::text::lines(&summary).join("\n");
    assert!(
        lines.contains("OUTSIDE THE WINDOW: step 1 started")
            && lines.contains("; the window 02:00–03:30 UTC (2020-01-01) ended"),
        "{lines}"
    );
}
