use chrono::{TimeZone, Utc};

use super::*;
use crate::protocol::{RollbackPlan, StepInfo};
use crate::protocol::{StepKind, StepOutcome, StepState};

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

fn step(id: &str, expected_ms: Option<u64>, rollback: Option<&str>) -> StepInfo {
    StepInfo {
        id: id.into(),
        title: format!("{id} title"),
        kind: StepKind::Run,
        command: "true".into(),
        notes: None,
        expected_ms,
        timeout_ms: None,
        point_of_no_return: None,
        rollback: rollback.map(str::to_string),
        changes: true,
    }
}

fn run() -> RunInfo {
    RunInfo {
        name: "orders".into(),
        owner: None,
        runbook: "rb.toml".into(),
        started_in: None,
        sha256: "ab".repeat(32),
        journal: "/j/run.jsonl".into(),
        window_start: None,
        window_minutes: None,
        steps: vec![
            step("preflight", Some(2_000), None),
            step("copy", Some(4_000), Some("./undo-copy")),
            step("tune", None, Some("./undo-tune")),
            step("switch", Some(3_000), Some("./undo-switch")),
        ],
        lag_configured: false,
        lag: None,
        reconcile: vec![],
        operator: Operator {
            user: "dba".into(),
            ssh_client: None,
            host: "h".into(),
            peer: None,
        },
        connections: Default::default(),
        vars: Default::default(),
        started_at: Some(t(0)),
        run_started_at: None,
        first_step_at: None,
        version: "0".into(),
    }
}

fn started(index: usize, id: &str, attempt: u32, at: i64) -> Event {
    Event::StepStarted {
        index,
        id: id.into(),
        attempt,
        at: t(at),
        command: "true".into(),
    }
}

fn finished(index: usize, id: &str, outcome: StepOutcome, ms: u64) -> Event {
    Event::StepFinished {
        index,
        id: id.into(),
        attempt: 1,
        outcome,
        duration_ms: ms,
        expected_ms: None,
        exit_code: Some(0),
        checks: vec![],
        message: (!outcome.is_ok()).then(|| "exit 1 (expected 0)".into()),
        output_file: Some(format!("/j/run.output/0{}-{id}.1.log", index + 1)),
    }
}

fn operator(step: &str, action: OperatorAction, at: i64) -> Event {
    Event::Operator {
        step: Some(step.into()),
        action,
        by: "dba".into(),
        at: t(at),
    }
}

/// preflight passes; copy fails, is retried and passes; tune fails and is skipped; a trigger
/// rolls back: copy's action passes, preflight has none.
fn rolled_back_run() -> Vec<Event> {
    vec![
        Event::RunStarted {
            run: Box::new(run()),
        },
        started(0, "preflight", 1, 1),
        finished(0, "preflight", StepOutcome::Passed, 1_500),
        started(1, "copy", 1, 3),
        finished(1, "copy", StepOutcome::Failed, 900),
        operator("copy", OperatorAction::Retry, 5),
        started(1, "copy", 2, 5),
        finished(1, "copy", StepOutcome::Passed, 3_100),
        started(2, "tune", 1, 9),
        finished(2, "tune", StepOutcome::Failed, 200),
        operator(
            "tune",
            OperatorAction::Skip {
                reason: "tuned by hand, ticket OPS-7".into(),
            },
            10,
        ),
        Event::TriggerFired {
            name: "lag runaway".into(),
            message: "300 MB for 61s".into(),
            action: TriggerAction::Rollback,
            countdown_ms: Some(30_000),
            at: t(20),
        },
        Event::TriggerUpdated {
            name: "lag runaway".into(),
            message: "410 MB for 70s".into(),
        },
        Event::RollbackStarted {
            plan: RollbackPlan {
                entries: vec![],
                point_of_no_return: None,
            },
            by: "trigger lag runaway".into(),
        },
        Event::RollbackActionStarted {
            index: 1,
            id: "copy".into(),
            attempt: 1,
            at: t(51),
            command: "./undo-copy".into(),
        },
        Event::RollbackActionFinished {
            index: 1,
            id: "copy".into(),
            attempt: 1,
            outcome: StepOutcome::Passed,
            duration_ms: 40,
            exit_code: Some(0),
            checks: vec![],
            message: None,
            output_file: None,
        },
        Event::RollbackFinished {
            completed: true,
            at: t(52),
        },
        Event::RunFinished {
            outcome: RunOutcome::RolledBack,
            at: t(52),
        },
    ]
}

#[test]
fn a_rolled_back_run_folds_into_steps_decisions_triggers_and_what_to_undo_by_hand() {
    let evs = rolled_back_run();
    let s = RunSummary::fold(evs.iter().map(|e| (None, e)));
    assert_eq!(s.outcome, Some(RunOutcome::RolledBack));
    assert_eq!(s.elapsed_ms(), Some(52_000));
    assert_eq!(s.planned_ms(), 9_000);
    let copy = &s.steps[1];
    assert_eq!(
        (copy.ended, copy.attempts, copy.actual_ms, copy.total_ms),
        (Ended::Passed, 2, Some(3_100), 4_000)
    );
    assert_eq!(copy.undo, Some(Undo::Passed));
    let tune = &s.steps[2];
    assert_eq!(tune.ended, Ended::Skipped);
    assert_eq!(tune.message.as_deref(), Some("tuned by hand, ticket OPS-7"));
    assert_eq!(s.steps[3].ended, Ended::NotRun);
    // Retry and skip are decisions; running a step is not.
    assert_eq!(s.decisions.len(), 2);
    assert_eq!(s.triggers.len(), 1);
    assert_eq!(
        s.triggers[0].message, "410 MB for 70s",
        "the firing, updated"
    );
    // preflight did its work and has no rollback action; copy was undone; switch never ran.
    let by_hand: Vec<(&str, String)> = s
        .undo_by_hand()
        .into_iter()
        .map(|(st, why)| (st.id.as_str(), why))
        .collect();
    assert_eq!(by_hand, [("preflight", "no rollback action".to_string())]);
    let text = text::lines(&s).join("\n");
    for want in [
        "RUN ROLLED BACK · orders · started 02:00:00 UTC · took 52s (plan 9s, 42s behind)",
        "  ✔ 1 preflight   1.5s / 2s  passed\n",
        "  ✔ 2 copy        3.1s / 4s  passed · 2 attempts\n",
        "  ↷ 3 tune       200ms / —   skipped: “tuned by hand, ticket OPS-7”\n",
        "    4 switch         — / 3s  not run\n",
        "02:00:10 tune skipped: tuned by hand, ticket OPS-7 (by dba)",
        "02:00:20 lag runaway: 410 MB for 70s → automatic rollback",
        "ROLLBACK started by trigger lag runaway · completed",
        "2 copy  rolled back",
        "UNDO BY HAND",
        "1 preflight  no rollback action",
        "journal /j/run.jsonl",
        "output  /j/run.output/",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert_eq!(
        text::resume_hint(&s),
        None,
        "a rolled-back run cannot be resumed"
    );
}

#[test]
fn a_skipped_rollback_action_is_left_to_undo_by_hand_with_its_reason() {
    let mut evs = rolled_back_run();
    let at = evs.len() - 3;
    evs[at] = Event::RollbackActionFinished {
        index: 1,
        id: "copy".into(),
        attempt: 1,
        outcome: StepOutcome::Failed,
        duration_ms: 40,
        exit_code: Some(1),
        checks: vec![],
        message: Some("exit 1".into()),
        output_file: None,
    };
    evs.insert(
        at + 1,
        operator(
            "copy",
            OperatorAction::SkipRollback {
                reason: "table dropped by hand".into(),
            },
            53,
        ),
    );
    let s = RunSummary::fold(evs.iter().map(|e| (None, e)));
    let text = text::lines(&s).join("\n");
    crate::has(&text, "2 copy  skipped: “table dropped by hand”");
    crate::has(&text, "2 copy  rollback skipped: table dropped by hand");
}

#[test]
fn a_resumed_run_keeps_the_first_session_and_an_unfinished_one_says_how_to_resume() {
    let evs = rolled_back_run();
    // The first session ends after copy's first attempt started (a crash).
    let first: Vec<&Event> = evs.iter().take(4).collect();
    let mut second_run = run();
    second_run.started_at = Some(t(100));
    let resumed = Event::RunStarted {
        run: Box::new(second_run),
    };
    let restored = Event::StepRestored {
        index: 0,
        state: StepState::Passed,
        duration_ms: Some(1_500),
        outcome: None,
        message: None,
        output_file: None,
        rolled_back: false,
    };
    let s = RunSummary::fold(
        first
            .into_iter()
            .chain([&resumed, &restored])
            .map(|e| (None, e)),
    );
    assert_eq!(s.sessions.len(), 2);
    assert_eq!(s.started_at, Some(t(0)));
    assert_eq!(s.steps[0].ended, Ended::Passed);
    assert_eq!(s.steps[1].ended, Ended::Interrupted);
    assert_eq!(s.outcome, None);
    let text = text::lines(&s).join("\n");
    assert!(text.contains("? 2 copy"), "{text}");
    assert_eq!(
        text::resume_hint(&s).as_deref(),
        Some("resume with cutover run --resume /j/run.jsonl")
    );
}

/// A resumed session's fold of its own events (the cockpit's) says the run started when its
/// first session did, as the report does: it said this session's start, and a `took` shorter
/// than the run's elapsed time in the header.
#[test]
fn a_resumed_sessions_own_fold_starts_the_run_when_its_first_session_did() {
    let resumed = RunInfo {
        started_at: Some(t(100)),
        run_started_at: Some(t(0)),
        ..run()
    };
    let s = RunSummary::fold([(
        None,
        &Event::RunStarted {
            run: Box::new(resumed),
        },
    )]);
    assert_eq!(s.started_at, Some(t(0)));
}

/// A resumed session's fold (as the metrics file and notify hooks make from its events
/// alone) counts the plan from the run's first step, which its `RunStarted` says; a record
/// that ends before the run did counts the plan of what did not run as still to do.
#[test]
fn behind_plan_counts_from_the_run_s_first_step_across_a_resume() {
    let resumed = RunInfo {
        started_at: Some(t(100)),
        first_step_at: Some(t(0)),
        ..run()
    };
    let restored = |index: usize| Event::StepRestored {
        index,
        state: StepState::Passed,
        duration_ms: Some(1_000),
        outcome: Some(StepOutcome::Passed),
        message: None,
        output_file: None,
        rolled_back: false,
    };
    let mut s = RunSummary::default();
    for (at, ev) in [
        (
            100,
            Event::RunStarted {
                run: Box::new(resumed),
            },
        ),
        (100, restored(0)),
        (100, restored(1)),
        (100, started(2, "tune", 1, 100)),
        (105, finished(2, "tune", StepOutcome::Passed, 5_000)),
    ] {
        s.apply(Some(t(at)), &ev);
    }
    assert_eq!(s.first_step_at(), Some(t(0)));
    // 105 s since step 1, switch's 3 s still to do, against a 9 s plan.
    assert_eq!(s.behind_plan_ms(), Some(105_000 + 3_000 - 9_000));
}

/// The fold keeps what a resume reads besides the report: the process group of whatever runs
/// (a step's attempt or its rollback action), how the last attempt ended (not the operator's
/// reason that replaced its message), when it last passed, the rollback action's attempts.
#[test]
fn the_fold_keeps_what_a_resume_reads() {
    let mut evs = rolled_back_run();
    // Before the rollback action's end: its process group, then a second process group for
    // the step itself must not land on the action.
    let action_at = evs
        .iter()
        .position(|e| matches!(e, Event::RollbackActionStarted { .. }))
        .expect("action");
    evs.insert(
        action_at + 1,
        Event::Process {
            index: 1,
            pid: 4242,
        },
    );
    evs.insert(2, Event::Process { index: 0, pid: 77 });
    let s = RunSummary::fold(evs.iter().map(|e| (Some(t(60)), e)));
    let pre = &s.steps[0];
    assert_eq!(pre.facts.pid, Some(77));
    assert_eq!(pre.facts.passed_at, Some(t(60)));
    let copy = &s.steps[1];
    assert_eq!(copy.facts.undo_pid, Some(4242));
    assert_eq!(copy.facts.pid, None, "the action's group is not the step's");
    assert_eq!(copy.facts.undo_attempts, 1);
    assert_eq!(copy.facts.undo_started_at, Some(t(51)));
    let tune = &s.steps[2];
    assert_eq!(tune.ended, Ended::Skipped);
    assert_eq!(tune.message.as_deref(), Some("tuned by hand, ticket OPS-7"));
    let last = tune.facts.last_end.as_ref().expect("last end");
    assert_eq!(last.outcome, StepOutcome::Failed);
    assert_eq!(last.message.as_deref(), Some("exit 1 (expected 0)"));
    assert_eq!(tune.facts.passed_at, None);
}

/// A state restored from an earlier session keeps how the step failed, as the cockpit showed
/// it; `to_restore` gives back the state a resumed session sends.
#[test]
fn a_restored_failure_keeps_how_it_failed_and_round_trips() {
    let mut evs = vec![Event::RunStarted {
        run: Box::new(run()),
    }];
    evs.push(Event::StepRestored {
        index: 1,
        state: StepState::Failed,
        duration_ms: Some(9),
        outcome: Some(StepOutcome::TimedOut),
        message: None,
        output_file: None,
        rolled_back: false,
    });
    let s = RunSummary::fold(evs.iter().map(|e| (None, e)));
    assert_eq!(s.steps[1].ended, Ended::TimedOut);
    assert_eq!(s.steps[1].actual_ms, Some(9));
    for e in [
        Ended::NotRun,
        Ended::Interrupted,
        Ended::Passed,
        Ended::Failed,
        Ended::TimedOut,
        Ended::Cancelled,
        Ended::Skipped,
        Ended::MarkedDone,
    ] {
        match e.to_restore() {
            None => assert_eq!(e, Ended::NotRun),
            Some(state) => {
                let back = Ended::restored(state, None);
                assert_eq!(back.to_restore(), Some(state), "{e:?}");
                assert_eq!(back.is_done(), e.is_done(), "{e:?}");
                assert_eq!(back.is_failed(), e.is_failed(), "{e:?}");
            }
        }
    }
}
