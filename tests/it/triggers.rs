//! Rollback triggers: step failures and the closing window, alert and automatic rollback.

use std::time::Duration;

use cutover_model::protocol::{Command, Event, RunOutcome, TriggerAction};

use crate::support::session::start;
use crate::support::*;

/// A trigger `name` that rolls back automatically one second after step `step` failed.
fn rollback_when_failed(name: &str, step: &str) -> String {
    format!(
        "[[rollback_trigger]]\nname = \"{name}\"\nwhen = {{ step_failed = \"{step}\" }}\n\
         action = \"rollback\"\ncountdown = \"1s\"\n"
    )
}

#[test]
fn headless_automatic_rollback_after_a_step_failed_trigger_exits_3() {
    let trigger = rollback_when_failed("migration failed", "migrate");
    let (d, out) = headless_in_temp(&format!(
        r#"[runbook]
name = "auto"
[[step]]
id = "stop-app"
run = "echo stopped >> log"
rollback = "echo started-again >> log"
[[step]]
id = "migrate"
run = "echo migrating >> log; exit 1"
[[step]]
id = "never"
run = "echo never >> log"
{trigger}"#
    ));
    let (stdout, _) = exited(&out, 3);
    has(
        &stdout,
        "TRIGGER migration failed: step migrate failed — automatic rollback in 1s",
    );
    assert!(stdout.contains("rollback completed"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("log")).unwrap(),
        "stopped\nmigrating\nstarted-again\n"
    );
    let recs = journal(&d.path().join("j.jsonl"));
    assert_eq!(
        of_type(&recs, "trigger_fired")[0]["name"],
        "migration failed"
    );
    assert_eq!(
        of_type(&recs, "rollback_started")[0]["by"],
        "trigger migration failed"
    );
    assert_eq!(recs.last().unwrap()["outcome"], "rolled_back");
}

#[test]
fn headless_alert_trigger_stops_the_run_with_exit_4() {
    let d = tempfile::tempdir().unwrap();
    // The window closed long ago: preflight stops such a run unless it is overridden.
    let out = headless_at(
        d.path(),
        r#"[runbook]
name = "late"
window = { start = "2020-01-01T00:00:00Z", minutes = 60 }
[[step]]
id = "slow"
run = "sleep 30"
[[rollback_trigger]]
name = "window closing"
when = { window_left_below = "15m" }
"#,
        "j.jsonl",
        &["--skip-preflight", "rehearsing the window trigger"],
        &[],
    );
    let (stdout, _) = exited(&out, 4);
    has(
        &stdout,
        "TRIGGER window closing: the maintenance window has closed",
    );
    let recs = journal(&d.path().join("j.jsonl"));
    assert_eq!(of_type(&recs, "trigger_fired").len(), 1);
    let fin = of_type(&recs, "step_finished");
    assert_eq!(
        fin[0]["outcome"], "cancelled",
        "the running step was stopped"
    );
}

#[tokio::test]
async fn a_countdown_can_be_cancelled_and_nothing_is_rolled_back() {
    let trigger = rollback_when_failed("b failed", "b");
    let mut s = start(&format!(
        r#"
[[step]]
id = "a"
run = "true"
rollback = "echo undo >> ${{vars.dir}}/log"
[[step]]
id = "b"
run = "exit 1"
{trigger}"#
    ));
    for next in 0..2 {
        s.run_next(next).await;
    }
    let (action, countdown) = s
        .until(|e| match e {
            Event::TriggerFired {
                action,
                countdown_ms,
                ..
            } => Some((*action, *countdown_ms)),
            _ => None,
        })
        .await;
    assert_eq!((action, countdown), (TriggerAction::Rollback, Some(1000)));
    s.send(Command::CancelCountdown).await;
    s.seen(|e| matches!(e, Event::CountdownCancelled { .. }))
        .await;
    // Past the countdown, the step still waits for the operator.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    s.skip("fixed by hand").await;
    let outcome = s
        .until(|e| match e {
            Event::RunFinished { outcome, .. } => Some(*outcome),
            Event::RollbackStarted { .. } => panic!("cancelled countdown rolled back"),
            _ => None,
        })
        .await;
    assert_eq!(outcome, RunOutcome::Completed);
    assert!(!s.dir.path().join("log").exists());
    let recs = s.journal();
    assert!(
        of_type(&recs, "operator")
            .iter()
            .any(|r| r["action"] == "cancel_countdown")
    );
}

/// A `step_failed` trigger whose rollback would have nothing in it (no completed step has a
/// rollback action) is told as an alert: a headless run stops (exit 4) instead of waiting
/// forever for a rollback that cannot start.
#[test]
fn a_rollback_trigger_with_nothing_to_roll_back_never_leaves_a_headless_run_waiting() {
    let (d, out) = headless_in_temp(&format!(
        "[runbook]\nname = \"empty plan\"\n[[step]]\nid = \"first\"\nrun = \"true\"\n[[step]]\nid = \"boom\"\nrun = \"exit 3\"\n{}",
        rollback_when_failed("boom failed", "boom")
    ));
    let (o, _) = exited(&out, 4);
    assert!(o.contains("nothing to roll back"), "{o}");
    let recs = journal(&d.path().join("j.jsonl"));
    let fired = of_type(&recs, "trigger_fired");
    assert_eq!(fired.len(), 1, "{recs:?}");
    assert!(fired[0]["countdown_ms"].is_null(), "{}", fired[0]);
    assert!(of_type(&recs, "rollback_started").is_empty());
}
