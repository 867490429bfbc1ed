//! `App::update` for the rollback plan, the point of no return, and trigger banners.

use tui_input::InputRequest;

use super::keymap::Key;
use super::modal::Modal;
use super::step::StepStatus;
use super::tests::*;
use super::*;
use cutover_model::protocol::*;

fn plan(entries: &[(usize, &str, Option<&str>)], ponr: Option<PonrCrossed>) -> RollbackPlan {
    RollbackPlan {
        entries: entries
            .iter()
            .map(|(i, id, action)| RollbackEntry {
                index: *i,
                id: (*id).into(),
                title: format!("{id} title"),
                state: StepState::Passed,
                action: action.map(str::to_string),
            })
            .collect(),
        point_of_no_return: ponr,
    }
}

fn open_plan(app: &mut App, p: RollbackPlan) {
    let fx = press(app, ch('R'));
    assert_eq!(sent(&fx), [Command::RollbackPlan]);
    assert!(matches!(
        app.modal,
        Some(Modal::Rollback { plan: None, .. })
    ));
    ev(app, Event::RollbackPlan { plan: p });
}

#[test]
fn r_opens_the_plan_and_nothing_runs_without_the_typed_word() {
    let mut app = deciding(DecisionKind::Failed);
    open_plan(
        &mut app,
        plan(
            &[(1, "copy", Some("./undo-copy.sh")), (0, "preflight", None)],
            None,
        ),
    );
    assert!(
        matches!(&app.modal, Some(Modal::Rollback { plan: Some(p), .. }) if p.entries.len() == 2)
    );
    // Enter with nothing typed, or the wrong word: nothing is sent.
    assert!(sent(&press(&mut app, Key::Enter)).is_empty());
    assert!(matches!(
        app.modal,
        Some(Modal::Rollback { rejected: true, .. })
    ));
    assert!(sent(&typed(&mut app, "rollback")).is_empty());
    assert!(sent(&press(&mut app, Key::Enter)).is_empty());
    // Letters are text inside the box: R, q, n do not act as keys.
    assert!(sent(&typed(&mut app, "qRn")).is_empty());
    assert!(app.modal.is_some());
    for _ in 0..3 {
        edit(&mut app, InputRequest::DeletePrevChar);
    }
    assert_eq!(
        submit(&mut app, "ROLLBACK"),
        [Command::Rollback {
            confirmation: ROLLBACK_WORD.into()
        }]
    );
}

#[test]
fn esc_cancels_the_plan_and_leaves_everything_as_it_was() {
    let mut app = deciding(DecisionKind::Failed);
    let phase = app.phase.clone();
    open_plan(&mut app, plan(&[(1, "copy", Some("./undo.sh"))], None));
    typed(&mut app, "ROLL");
    let fx = press(&mut app, Key::Esc);
    assert!(sent(&fx).is_empty());
    assert!(app.modal.is_none());
    assert_eq!(app.phase, phase);
    // The decision keys still work afterwards.
    assert_eq!(sent(&press(&mut app, ch('r'))), [Command::Retry]);
}

#[test]
fn past_the_point_of_no_return_the_plan_shows_the_text_and_enter_only_closes() {
    let mut app = ready_app(3);
    let ponr = PonrCrossed {
        index: 3,
        id: "switch".into(),
        text: "clients moved; roll forward".into(),
        at: t0(),
    };
    open_plan(&mut app, plan(&[], Some(ponr)));
    assert!(sent(&typed(&mut app, "ROLLBACK")).is_empty());
    let fx = press(&mut app, Key::Enter);
    assert!(
        sent(&fx).is_empty(),
        "nothing to execute: enter just closes"
    );
    assert!(app.modal.is_none());
}

#[test]
fn rollback_progress_marks_steps_and_a_failed_action_offers_retry_skip_abort() {
    let mut app = deciding(DecisionKind::Failed);
    let p = plan(
        &[
            (1, "copy", Some("./undo.sh")),
            (0, "preflight", Some("true")),
        ],
        None,
    );
    ev(
        &mut app,
        Event::RollbackStarted {
            plan: p,
            by: "dba".into(),
        },
    );
    assert!(app.rolling_back);
    ev(&mut app, undo_started(1, "copy", "./undo.sh"));
    assert_eq!(app.steps[1].status, StepStatus::RollingBack);
    assert_eq!(app.selected, 1);
    assert!(matches!(app.phase, Phase::Running { index: 1 }));
    ev(&mut app, undo_failed(1, "copy", 10));
    assert_eq!(app.steps[1].status, StepStatus::RollbackFailed);
    ev(
        &mut app,
        copy_needs_decision(
            DecisionKind::RollbackFailed,
            "rollback of step copy did not pass",
            None,
        ),
    );
    // R is refused while rolling back.
    assert!(sent(&press(&mut app, ch('R'))).is_empty());
    // s asks for a reason; an empty one is refused.
    press(&mut app, ch('s'));
    assert!(matches!(
        app.modal,
        Some(Modal::Reason {
            purpose: modal::ReasonFor::SkipRollback,
            ..
        })
    ));
    assert_eq!(
        give_reason(&mut app, "undo by hand"),
        [Command::Skip {
            reason: "undo by hand".into()
        }]
    );
}

#[test]
fn a_trigger_banner_rings_and_n_cancels_the_countdown() {
    let mut app = ready_app(1);
    let fx = ev(&mut app, lag_runaway(t0()));
    assert!(fx.contains(&Effect::Bell));
    assert!(app.countdown_active());
    let fx = press(&mut app, ch('n'));
    assert_eq!(sent(&fx), [Command::CancelCountdown]);
    ev(
        &mut app,
        Event::CountdownCancelled {
            name: "lag runaway".into(),
            by: "dba".into(),
        },
    );
    assert!(!app.countdown_active());
    assert!(
        app.trigger.is_some(),
        "the banner stays after the countdown is cancelled"
    );
    // Without a countdown, n is not a command.
    assert!(sent(&press(&mut app, ch('n'))).is_empty());
}

#[test]
fn a_grown_finding_rewords_the_banner_without_a_new_bell_or_countdown() {
    let mut app = ready_app(1);
    ev(&mut app, lag_runaway(t0()));
    let deadline = app.trigger.as_ref().and_then(|t| t.rollback_at);
    let fx = ev(
        &mut app,
        Event::TriggerUpdated {
            name: "lag runaway".into(),
            message: "3 mismatching rows (above 0): accounts 2, orders 1".into(),
        },
    );
    assert!(!fx.contains(&Effect::Bell), "{fx:?}");
    let t = app.trigger.as_ref().expect("the banner");
    assert_eq!(
        t.message,
        "3 mismatching rows (above 0): accounts 2, orders 1"
    );
    assert_eq!(t.rollback_at, deadline, "the countdown is unchanged");
    // Another trigger's update does not reword this banner.
    ev(
        &mut app,
        Event::TriggerUpdated {
            name: "other".into(),
            message: "nope".into(),
        },
    );
    assert_eq!(
        app.trigger.as_ref().map(|t| t.message.as_str()),
        Some("3 mismatching rows (above 0): accounts 2, orders 1")
    );
}

/// The banner promises "n stops it": it does whatever is open. In the rollback plan it stops the
/// countdown and leaves the plan open; in a question it answers no; in a text box it is not
/// typed.
#[test]
fn n_stops_the_countdown_whatever_is_open() {
    // The rollback plan, half typed.
    let mut app = deciding(DecisionKind::Failed);
    ev(&mut app, lag_runaway(t0()));
    open_plan(&mut app, plan(&[(0, "preflight", Some("undo"))], None));
    typed(&mut app, "ROLL");
    let fx = press(&mut app, ch('n'));
    assert_eq!(sent(&fx), [Command::CancelCountdown]);
    assert!(
        matches!(app.modal, Some(Modal::Rollback { .. })),
        "the plan stays open"
    );
    // A question (abort?): n answers no, and stops the countdown.
    let mut app = deciding(DecisionKind::Failed);
    ev(&mut app, lag_runaway(t0()));
    press(&mut app, ch('a'));
    assert!(matches!(app.modal, Some(Modal::Ask(_))));
    let fx = press(&mut app, ch('n'));
    assert_eq!(sent(&fx), [Command::CancelCountdown]);
    assert!(app.modal.is_none());
    // A reason box: n is not typed; the countdown stops; the box stays.
    let mut app = deciding(DecisionKind::Failed);
    ev(&mut app, lag_runaway(t0()));
    press(&mut app, ch('s'));
    let fx = typed(&mut app, "done");
    assert_eq!(sent(&fx), [Command::CancelCountdown]);
    match &app.modal {
        Some(Modal::Reason { input, .. }) => assert_eq!(input.value(), "doe"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_done_count_never_goes_backwards_when_a_rollback_undoes_steps() {
    let mut app = deciding(DecisionKind::Failed);
    // preflight passed (as it would have before copy).
    finished(&mut app, 0, StepOutcome::Passed, 100);
    assert_eq!(app.progress(), (1, 4, 0));
    ev(
        &mut app,
        Event::RollbackStarted {
            plan: plan(&[(0, "preflight", Some("true"))], None),
            by: "dba".into(),
        },
    );
    ev(&mut app, undo_started(0, "preflight", "true"));
    assert_eq!(app.progress(), (1, 4, 0));
    ev(
        &mut app,
        Event::RollbackActionFinished {
            index: 0,
            id: "preflight".into(),
            attempt: 1,
            outcome: StepOutcome::Passed,
            duration_ms: 10,
            exit_code: Some(0),
            checks: vec![],
            message: None,
            output_file: None,
        },
    );
    assert_eq!(app.steps[0].status, StepStatus::RolledBack);
    assert_eq!(app.progress(), (1, 4, 1), "done stays; undone counts up");
}

#[test]
fn after_a_rollback_the_status_names_the_steps_to_undo_by_hand() {
    let mut app = deciding(DecisionKind::Failed);
    ev(
        &mut app,
        Event::RollbackStarted {
            plan: plan(&[(1, "copy", Some("./undo.sh"))], None),
            by: "dba".into(),
        },
    );
    ev(
        &mut app,
        Event::Operator {
            step: Some("copy".into()),
            action: OperatorAction::SkipRollback {
                reason: "undo script missing".into(),
            },
            by: "dba".into(),
            at: t0(),
        },
    );
    ev(
        &mut app,
        Event::RollbackFinished {
            completed: true,
            at: t0(),
        },
    );
    let status = &app.status.as_ref().unwrap().text;
    assert!(status.contains("undo by hand: copy"), "{status}");
}

#[test]
fn a_rolling_back_step_shows_the_rollback_action_s_clock_and_then_its_time() {
    let mut app = deciding(DecisionKind::Failed);
    let p = plan(&[(1, "copy", Some("./undo.sh"))], None);
    ev(
        &mut app,
        Event::RollbackStarted {
            plan: p,
            by: "dba".into(),
        },
    );
    ev(&mut app, undo_started(1, "copy", "./undo.sh"));
    let later = t0() + chrono::Duration::seconds(103);
    let s = &app.steps[1];
    assert_eq!(s.status, StepStatus::RollingBack);
    assert_eq!(s.actual_ms(later), Some(103_000), "the action's own clock");
    assert!(!s.over_plan(later), "the step's plan is not the action's");
    ev(&mut app, undo_failed(1, "copy", 103_212));
    assert_eq!(app.steps[1].actual_ms(later), Some(103_212));
}

/// Attack: a rollback resumed after a crash. The cockpit of the new session folds only that
/// session's events, and showed a step whose rollback the first session had done as it ended
/// forward (`✘ cancelled`), its undone count short. The engine's replay says so now.
#[test]
fn a_step_undone_by_an_earlier_session_shows_rolled_back_after_a_resume() {
    let mut app = ready_app(0);
    ev(
        &mut app,
        Event::StepRestored {
            index: 0,
            state: StepState::Failed,
            duration_ms: Some(100),
            outcome: Some(StepOutcome::Cancelled),
            message: None,
            output_file: None,
            rolled_back: true,
        },
    );
    assert_eq!(app.steps[0].status, StepStatus::RolledBack);
    assert_eq!(app.progress().2, 1, "counted undone");
}
