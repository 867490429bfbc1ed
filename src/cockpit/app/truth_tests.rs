//! Every line on the screen is true: an engine that went away mid-step leaves the step
//! interrupted (outcome unknown), the clocks stop when the run ends, a skipped rollback action
//! is not "rolled back", a lag that has not moved has no rate, and "reconciling now" goes when
//! the checks are done.

use chrono::Duration;

use super::panels::{CheckState, LagPanel, LagReading};
use super::step::StepStatus;
use super::tests::*;
use super::*;
use cutover_model::protocol::*;

fn tick(app: &mut App, secs: i64) {
    let now = app.now + Duration::seconds(secs);
    app.update(Msg::Tick(now));
}

#[test]
fn an_engine_gone_mid_step_leaves_it_interrupted_and_the_clocks_stopped() {
    let mut app = running_app(1);
    tick(&mut app, 3);
    app.update(Msg::EngineGone);
    let s = &app.steps[1];
    assert_eq!(s.status, StepStatus::Interrupted);
    assert_eq!(s.status.glyph(), "?");
    assert!(
        s.message
            .as_deref()
            .unwrap_or("")
            .contains("outcome unknown"),
        "{:?}",
        s.message
    );
    let elapsed = app.plan().elapsed_ms;
    let took = s.actual_ms(app.clock());
    tick(&mut app, 60);
    assert_eq!(app.plan().elapsed_ms, elapsed, "the header clock stopped");
    assert_eq!(app.steps[1].actual_ms(app.clock()), took);
}

#[test]
fn the_clocks_stop_when_the_run_ends() {
    let mut app = running_app(1);
    finished(&mut app, 1, StepOutcome::Passed, 1_000);
    tick(&mut app, 5);
    run_finished(&mut app, RunOutcome::Aborted);
    let elapsed = app.plan().elapsed_ms;
    tick(&mut app, 600);
    assert_eq!(app.plan().elapsed_ms, elapsed);
    assert_eq!(app.clock(), t0());
}

#[test]
fn a_skipped_rollback_action_is_not_rolled_back_and_keeps_its_reason() {
    let mut app = deciding(DecisionKind::RollbackFailed);
    app.steps[1].status = StepStatus::RollbackFailed;
    ev(
        &mut app,
        Event::Operator {
            step: Some("copy".into()),
            action: OperatorAction::SkipRollback {
                reason: "dropped the copy by hand".into(),
            },
            by: "dba".into(),
            at: t0(),
        },
    );
    let s = &app.steps[1];
    assert_eq!(s.status, StepStatus::RollbackSkipped);
    assert_eq!(s.status.glyph(), "⊘");
    assert_ne!(s.status.glyph(), StepStatus::RolledBack.glyph());
    assert!(
        s.message
            .as_deref()
            .unwrap_or("")
            .contains("dropped the copy by hand")
    );
}

#[test]
fn a_lag_that_has_not_moved_has_no_rate() {
    let mut lag = LagPanel {
        configured: true,
        ..LagPanel::default()
    };
    for i in 0..20 {
        lag.push(LagReading {
            at: t0() + Duration::seconds(i),
            bytes: Some(4096),
            seconds: None,
            number: None,
            detail: None,
        });
    }
    assert_eq!(lag.rate(15), None);
    assert_eq!(lag.eta_to_zero(), None);
    lag.push(LagReading {
        at: t0() + Duration::seconds(21),
        bytes: Some(2048),
        seconds: None,
        number: None,
        detail: None,
    });
    assert!(lag.rate(15).is_some_and(|r| r < 0.0));
}

#[test]
fn reconciling_now_goes_when_the_checks_are_done() {
    let mut run = run_info();
    run.reconcile = vec!["accounts".into()];
    let mut app = ready_with(run, 0);
    ev(
        &mut app,
        Event::Notice {
            level: Level::Info,
            message: "reconciling now: accounts".into(),
        },
    );
    app.reconcile.set(
        "accounts",
        CheckState::Running(Box::new(cutover_model::reconcile::Progress {
            name: "accounts".into(),
            phase: cutover_model::reconcile::Phase::Comparing,
            partitions_done: 1,
            partitions_total: 4,
            rows_compared: 10,
            mismatches: 0,
            elapsed_ms: 100,
            throttled: None,
            recheck_in_ms: None,
        })),
    );
    let result = cutover_model::reconcile::ReconcileResult::new(
        "accounts",
        cutover_model::runbook::ReconcileKind::Count,
    );
    ev(
        &mut app,
        Event::ReconcileResult {
            result: Box::new(result),
            restored: false,
        },
    );
    assert!(app.status.is_none(), "{:?}", app.status);
}

#[test]
fn a_step_cancelled_by_quitting_says_the_run_was_ended_under_it() {
    let mut app = running_app(1);
    press(&mut app, ch('q'));
    let fx = press(&mut app, ch('y'));
    let reason = sent(&fx)
        .iter()
        .find_map(|c| match c {
            Command::Abort { reason: Some(r) } => Some(r.clone()),
            _ => None,
        })
        .expect("an abort with the reason");
    assert!(reason.starts_with(keys::QUIT_REASON), "{reason}");
    // What the engine answers: the step cancelled, then the abort that caused it.
    finished(&mut app, 1, StepOutcome::Cancelled, 3_000);
    ev(
        &mut app,
        Event::Operator {
            step: Some("copy".into()),
            action: OperatorAction::Abort {
                reason: Some(reason.clone()),
            },
            by: "dba".into(),
            at: t0(),
        },
    );
    let s = &app.steps[1];
    assert_eq!(s.status, StepStatus::Failed(StepOutcome::Cancelled));
    let m = s.message.as_deref().unwrap_or("");
    assert!(
        m.contains("the operator ended the run") && m.contains(&reason),
        "{m}"
    );
    // The summary says the same.
    let sum = &app.summary.steps[1];
    assert_eq!(sum.message.as_deref(), Some(m));
}

#[test]
fn a_step_the_operator_cancelled_keeps_its_reason_when_the_run_is_ended_later() {
    let mut app = running_app(1);
    // `x`: the operator cancels the step; the engine journals the cancel, the step ends.
    ev(
        &mut app,
        Event::Operator {
            step: Some("copy".into()),
            action: OperatorAction::Cancel,
            by: "dba".into(),
            at: t0(),
        },
    );
    finished(&mut app, 1, StepOutcome::Cancelled, 3_000);
    let before = app.steps[1].message.clone();
    // Later the run is ended at the decision: the step was not stopped by that.
    ev(
        &mut app,
        Event::Operator {
            step: Some("copy".into()),
            action: OperatorAction::Abort {
                reason: Some("operator quit the cockpit".into()),
            },
            by: "dba".into(),
            at: t0(),
        },
    );
    let m = app.steps[1].message.clone();
    assert_eq!(m, before);
    assert!(
        !m.as_deref().unwrap_or("").contains("ended the run"),
        "{m:?}"
    );
    assert_eq!(app.summary.steps[1].message, app.steps[1].message);
}
