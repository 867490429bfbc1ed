//! The rollback plan and its execution, through the engine's command protocol.

use cutover_model::protocol::{
    Command, DecisionKind, Event, ROLLBACK_WORD, RollbackPlan, RunOutcome, StepOutcome,
};

use crate::support::of_type;
use crate::support::session::{Session, finished, start};

async fn plan(s: &mut Session) -> RollbackPlan {
    s.send(Command::RollbackPlan).await;
    s.until(|e| match e {
        Event::RollbackPlan { plan } => Some(plan.clone()),
        _ => None,
    })
    .await
}

/// Asks for the rollback, with the typed word.
async fn roll_back(s: &mut Session) {
    s.send(Command::Rollback {
        confirmation: ROLLBACK_WORD.into(),
    })
    .await;
}

async fn warning(s: &mut Session) -> String {
    s.until(|e| match e {
        Event::Notice { message, .. } => Some(message.clone()),
        _ => None,
    })
    .await
}

/// Starts the confirm step `next` and types its word, GO: the step passes.
async fn confirm_go(s: &mut Session, next: usize) {
    s.start_next(next).await;
    s.seen(|e| matches!(e, Event::ConfirmRequested { .. }))
        .await;
    s.send(Command::Confirm { text: "GO".into() }).await;
    assert_eq!(s.until(finished).await.1, StepOutcome::Passed);
}

const STEPS: &str = r#"
[[step]]
id = "a"
run = "echo a >> ${vars.dir}/log"
rollback = "echo undo-a >> ${vars.dir}/log"
[[step]]
id = "b"
run = "echo b >> ${vars.dir}/log"
[[step]]
id = "gate"
confirm = "GO"
[[step]]
id = "c"
run = "echo c >> ${vars.dir}/log"
rollback = "echo undo-c >> ${vars.dir}/log"
[[step]]
id = "d"
run = "echo d >> ${vars.dir}/log; exit 1"
rollback = "echo undo-d >> ${vars.dir}/log"
[[step]]
id = "never"
run = "echo never >> ${vars.dir}/log"
rollback = "echo undo-never >> ${vars.dir}/log"
"#;

#[tokio::test]
async fn plan_is_reverse_order_of_attempted_steps_and_needs_the_typed_word() {
    let mut s = start(STEPS);
    s.passes(0..2).await;
    confirm_go(&mut s, 2).await;
    assert_eq!(s.run_next(3).await, StepOutcome::Passed);
    assert_eq!(s.run_next(4).await, StepOutcome::Failed);
    s.seen(|e| {
        matches!(
            e,
            Event::DecisionNeeded {
                kind: DecisionKind::Failed,
                ..
            }
        )
    })
    .await;

    let p = plan(&mut s).await;
    let ids: Vec<(&str, &str, bool)> = p
        .entries
        .iter()
        .map(|e| (e.id.as_str(), e.state.as_str(), e.action.is_some()))
        .collect();
    assert_eq!(
        ids,
        [
            ("d", "failed", true),
            ("c", "passed", true),
            ("b", "passed", false),
            ("a", "passed", true)
        ],
        "confirm steps and never-run steps are not in the plan"
    );
    assert!(p.point_of_no_return.is_none());

    // Without the typed word nothing runs.
    s.send(Command::Rollback {
        confirmation: "rollback".into(),
    })
    .await;
    assert!(warning(&mut s).await.contains("type ROLLBACK"));
    roll_back(&mut s).await;
    let started = s
        .until(|e| match e {
            Event::RollbackStarted { plan, .. } => Some(plan.clone()),
            _ => None,
        })
        .await;
    assert_eq!(started, p);
    let outcome = s.outcome().await;
    assert_eq!(outcome, RunOutcome::RolledBack);
    assert_eq!(outcome.exit_code(), 3);
    let log = s.log();
    assert_eq!(log, "a\nb\nc\nd\nundo-d\nundo-c\nundo-a\n");
    let recs = s.journal();
    let done: Vec<&str> = of_type(&recs, "rollback_action_finished")
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["d", "c", "a"]);
    assert!(
        of_type(&recs, "operator")
            .iter()
            .any(|r| r["action"] == "rollback")
    );
    assert_eq!(of_type(&recs, "rollback_finished")[0]["completed"], true);
}

#[tokio::test]
async fn a_failing_rollback_action_asks_and_can_be_skipped_with_a_reason() {
    let mut s = start(
        r#"
[[step]]
id = "a"
run = "true"
rollback = "echo undo-a >> ${vars.dir}/log"
[[step]]
id = "b"
run = "true"
rollback = "echo cannot >&2; exit 7"
[[step]]
id = "pending"
run = "true"
"#,
    );
    s.passes(0..2).await;
    s.seen(|e| matches!(e, Event::Ready { .. })).await;
    roll_back(&mut s).await;
    let (id, kind) = s
        .until(|e| match e {
            Event::DecisionNeeded { index, kind, .. } => Some((*index, *kind)),
            _ => None,
        })
        .await;
    assert_eq!((id, kind), (1, DecisionKind::RollbackFailed));
    // Nothing else was rolled back yet: the plan stops at the failure.
    assert!(!s.dir.path().join("log").exists());
    s.send(Command::Retry).await;
    s.seen(|e| matches!(e, Event::DecisionNeeded { .. })).await;
    s.skip("undo by hand, see ticket 9").await;
    // A skipped action undid nothing: not "rolled back", its own outcome and exit code.
    let outcome = s.outcome().await;
    assert_eq!(outcome, RunOutcome::RolledBackPartly);
    assert_eq!(outcome.exit_code(), 5);
    assert_eq!(s.log(), "undo-a\n");
    let recs = s.journal();
    let attempts: Vec<u64> = of_type(&recs, "rollback_action_finished")
        .iter()
        .map(|r| r["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 1]);
    assert!(
        of_type(&recs, "operator")
            .iter()
            .any(|r| r["action"] == "skip_rollback" && r["reason"] == "undo by hand, see ticket 9")
    );
}

#[tokio::test]
async fn point_of_no_return_needs_its_id_and_then_limits_the_plan() {
    let mut s = start(
        r#"
[[step]]
id = "before"
run = "true"
rollback = "echo undo-before >> ${vars.dir}/log"
[[step]]
id = "switch-dns"
run = "echo switched >> ${vars.dir}/log"
rollback = "echo undo-switch >> ${vars.dir}/log"
point_of_no_return = "DNS TTL has expired; roll forward instead"
[[step]]
id = "after"
run = "true"
rollback = "echo undo-after >> ${vars.dir}/log"
"#,
    );
    assert_eq!(s.run_next(0).await, StepOutcome::Passed);
    s.start_next(1).await;
    let word = s
        .until(|e| match e {
            Event::ConfirmRequested { word, .. } => Some(word.clone()),
            _ => None,
        })
        .await;
    assert_eq!(word, "switch-dns");
    s.send(Command::Confirm { text: "yes".into() }).await;
    s.seen(|e| matches!(e, Event::ConfirmRejected { .. })).await;
    assert!(
        !s.dir.path().join("log").exists(),
        "nothing runs before the id is typed"
    );
    s.send(Command::Confirm {
        text: "switch-dns".into(),
    })
    .await;
    assert_eq!(s.until(finished).await.1, StepOutcome::Passed);

    s.ready(2).await;
    let p = plan(&mut s).await;
    assert!(p.entries.is_empty());
    let ponr = p.point_of_no_return.expect("crossed");
    assert_eq!(ponr.id, "switch-dns");
    assert!(ponr.text.contains("roll forward"));
    roll_back(&mut s).await;
    let w = warning(&mut s).await;
    assert!(
        w.contains("nothing to roll back") && w.contains("switch-dns"),
        "{w}"
    );

    s.send(Command::RunNext).await;
    assert_eq!(s.until(finished).await.1, StepOutcome::Passed);
    // The run completes; a plan now holds only the step after the point of no return.
    let outcome = s.outcome().await;
    assert_eq!(outcome, RunOutcome::Completed);
    assert_eq!(s.log(), "switched\n");
}

/// Undo by hand lists only steps that changed something: a step that says `changes = false`
/// (a read-only check) is in neither the `R` plan nor the summary's list, and the two agree.
#[tokio::test]
async fn a_step_that_changes_nothing_is_never_undo_by_hand() {
    let mut s = start(
        r#"
[[step]]
id = "schema"
run = "true"
rollback = "true"
[[step]]
id = "copy"
run = "echo copy >> ${vars.dir}/log"
[[step]]
id = "verify"
run = "true"
changes = false
[[step]]
id = "go"
confirm = "GO"
[[step]]
id = "pending"
run = "true"
"#,
    );
    s.passes(0..3).await;
    confirm_go(&mut s, 3).await;
    let p = plan(&mut s).await;
    let ids: Vec<&str> = p.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["copy", "schema"], "verify and go changed nothing");
    let by_hand_in_plan: Vec<&str> = p
        .entries
        .iter()
        .filter(|e| e.action.is_none())
        .map(|e| e.id.as_str())
        .collect();
    roll_back(&mut s).await;
    assert_eq!(s.outcome().await, RunOutcome::RolledBack);
    let recs = s.journal();
    let mut summary = cutover_model::summary::RunSummary::default();
    for r in &recs {
        let ev: Event = serde_json::from_value(r.clone()).unwrap();
        summary.apply(None, &ev);
    }
    let by_hand: Vec<&str> = summary
        .undo_by_hand()
        .into_iter()
        .map(|(st, _)| st.id.as_str())
        .collect();
    assert_eq!(by_hand, by_hand_in_plan, "the summary and the plan agree");
    assert_eq!(by_hand, ["copy"]);
}
