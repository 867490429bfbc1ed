//! `App::update`: every key path, and the rule that nothing is sent without what the operator
//! had to type.

use chrono::{DateTime, TimeZone, Utc};
use tui_input::InputRequest;

use super::keymap::Key;
use super::modal::{Ask, Modal, ReasonFor};
use super::step::StepStatus;
use super::*;
use cutover_model::protocol::*;

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap()
}

pub(crate) fn step(id: &str, kind: StepKind, command: &str, expected_ms: Option<u64>) -> StepInfo {
    StepInfo {
        id: id.into(),
        title: format!("{id} title"),
        kind,
        command: command.into(),
        notes: None,
        expected_ms,
        timeout_ms: None,
        point_of_no_return: None,
        rollback: None,
        changes: !matches!(kind, StepKind::Wait | StepKind::Confirm | StepKind::Approve),
    }
}

pub(crate) fn run_info() -> RunInfo {
    let mut go = step("go-no-go", StepKind::Confirm, "type GO to confirm", None);
    go.notes = Some("Ask the app owner first.".into());
    let mut switch = step("switch", StepKind::Run, "./switch.sh", Some(3_000));
    switch.point_of_no_return = Some("clients moved; roll forward".into());
    RunInfo {
        name: "orders: pg13 -> pg16".into(),
        owner: Some("dba".into()),
        runbook: "rb.toml".into(),
        started_in: None,
        sha256: "ab".repeat(32),
        journal: "/j/run.jsonl".into(),
        window_start: Some(t0()),
        window_minutes: Some(90),
        steps: vec![
            step("preflight", StepKind::Run, "df -P /", Some(2_000)),
            step("copy", StepKind::Run, "seq 100", Some(4_000)),
            go,
            switch,
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
        started_at: None,
        run_started_at: None,
        first_step_at: None,
        version: "0.1.0".into(),
    }
}

/// Presses `key`: the key table says what it means where the keyboard is now.
pub(crate) fn press(app: &mut App, key: Key) -> Vec<Effect> {
    match app.key_action(key) {
        Some(a) => app.update(Msg::Action(a)),
        None => vec![],
    }
}

pub(crate) fn ch(c: char) -> Key {
    Key::Char(c)
}

/// Types `s` key by key: what the key table binds where the keyboard is, else (in a text box)
/// the letter itself, as the terminal layer does.
pub(crate) fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    s.chars()
        .flat_map(|c| {
            let ctx = app.key_context();
            match app
                .key_action(ch(c))
                .or_else(|| (ctx == KeyContext::Text).then_some(Action::Type(c)))
            {
                Some(a) => app.update(Msg::Action(a)),
                None => vec![],
            }
        })
        .collect()
}

/// Edits the open text box the way a key tui-input knows would.
pub(crate) fn edit(app: &mut App, req: InputRequest) -> Vec<Effect> {
    app.update(Msg::Action(Action::Edit(req)))
}

pub(crate) fn sent(effects: &[Effect]) -> Vec<Command> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn ev(app: &mut App, e: Event) -> Vec<Effect> {
    app.update(Msg::Engine(e))
}

/// A new app (at `t0`, 80x24) told that `run` started.
pub(crate) fn app_with(run: RunInfo) -> App {
    let mut app = App::new(t0(), (80, 24));
    ev(&mut app, Event::RunStarted { run: Box::new(run) });
    app
}

/// The app of `run`, ready to run step `next`.
pub(crate) fn ready_with(run: RunInfo, next: usize) -> App {
    let mut app = app_with(run);
    ev(&mut app, Event::Ready { next });
    app
}

pub(crate) fn ready_app(next: usize) -> App {
    ready_with(run_info(), next)
}

/// Step `index` running, its first attempt started by enter.
pub(crate) fn running_app(index: usize) -> App {
    let mut app = ready_app(index);
    press(&mut app, Key::Enter);
    started(&mut app, index, 1);
    app
}

pub(crate) fn started(app: &mut App, index: usize, attempt: u32) {
    ev(
        app,
        Event::StepStarted {
            index,
            id: app.steps[index].info.id.clone(),
            attempt,
            at: app.now,
            command: app.steps[index].info.command.clone(),
        },
    );
}

pub(crate) fn finished(app: &mut App, index: usize, outcome: StepOutcome, duration_ms: u64) {
    ev(
        app,
        Event::StepFinished {
            index,
            id: app.steps[index].info.id.clone(),
            attempt: 1,
            outcome,
            duration_ms,
            expected_ms: app.steps[index].info.expected_ms,
            exit_code: Some(if outcome.is_ok() { 0 } else { 1 }),
            checks: vec![CheckResult {
                name: "exit".into(),
                passed: outcome.is_ok(),
                detail: if outcome.is_ok() {
                    "exit 0".into()
                } else {
                    "exit 1 (expected 0)".into()
                },
            }],
            message: (!outcome.is_ok()).then(|| "exit 1 (expected 0)".into()),
            output_file: Some("/j/out/02-copy.1.log".into()),
        },
    );
}

pub(crate) fn deciding(kind: DecisionKind) -> App {
    let mut app = running_app(1);
    finished(&mut app, 1, StepOutcome::Failed, 1_200);
    ev(
        &mut app,
        copy_needs_decision(kind, "step copy did not pass", None),
    );
    app
}

pub(crate) fn confirming() -> App {
    let mut app = running_app(2);
    ev(
        &mut app,
        Event::ConfirmRequested {
            index: 2,
            word: "GO".into(),
        },
    );
    app
}

/// Step 1 (copy) failed its first attempt after 7.4 s of an expected 4 s.
pub(crate) fn copy_failed(
    exit_code: Option<i32>,
    checks: Vec<CheckResult>,
    message: &str,
    output_file: &str,
) -> Event {
    Event::StepFinished {
        index: 1,
        id: "copy".into(),
        attempt: 1,
        outcome: StepOutcome::Failed,
        duration_ms: 7_400,
        expected_ms: Some(4_000),
        exit_code,
        checks,
        message: Some(message.into()),
        output_file: Some(output_file.into()),
    }
}

/// The rollback action `command` of step `index` (`id`) starts its first attempt, at `t0`.
pub(crate) fn undo_started(index: usize, id: &str, command: &str) -> Event {
    Event::RollbackActionStarted {
        index,
        id: id.into(),
        attempt: 1,
        at: t0(),
        command: command.into(),
    }
}

/// Step `index` (`id`)'s rollback action, attempt 1, failed with exit 1 after `duration_ms`.
pub(crate) fn undo_failed(index: usize, id: &str, duration_ms: u64) -> Event {
    Event::RollbackActionFinished {
        index,
        id: id.into(),
        attempt: 1,
        outcome: StepOutcome::Failed,
        duration_ms,
        exit_code: Some(1),
        checks: vec![],
        message: Some("exit 1 (expected 0)".into()),
        output_file: None,
    }
}

/// `run_info` with step `index` replaced by `step`.
pub(crate) fn run_with_step(index: usize, step: StepInfo) -> RunInfo {
    let mut run = run_info();
    run.steps[index] = step;
    run
}

/// The lag of the logical slot orders_sub on source, in bytes, warning at 16 MiB.
pub(crate) fn slot_lag(critical: Option<f64>) -> LagInfo {
    LagInfo {
        description: "logical slot orders_sub on source".into(),
        unit: cutover_model::lag::LagUnit::Bytes,
        warn: Some(16.0 * 1024.0 * 1024.0),
        critical,
        interval_ms: 1000,
        on: Some("source".into()),
    }
}

/// A fresh lag reading number `seq`, taken at `at`: `bytes` behind, with `detail`.
pub(crate) fn lag_reading(seq: u64, at: DateTime<Utc>, bytes: u64, detail: &str) -> Event {
    let sample = cutover_model::lag::LagSample {
        seq,
        at: Some(at),
        checked_at: Some(at),
        bytes: Some(bytes),
        detail: Some(detail.into()),
        ..Default::default()
    };
    Event::LagSample {
        sample,
        keep: false,
    }
}

/// The engine needs a decision about step 1 (copy).
pub(crate) fn copy_needs_decision(
    kind: DecisionKind,
    message: &str,
    still_running: Option<u32>,
) -> Event {
    Event::DecisionNeeded {
        index: 1,
        kind,
        message: message.into(),
        still_running,
    }
}

/// A resumed run: preflight passed earlier (in `preflight_ms`), copy was interrupted.
pub(crate) fn resume_with_copy_interrupted(app: &mut App, preflight_ms: u64) {
    ev(
        app,
        Event::Resumed {
            done: vec!["preflight".into()],
            interrupted: Some("copy".into()),
            failed_before: vec![],
        },
    );
    ev(
        app,
        Event::StepRestored {
            index: 0,
            state: StepState::Passed,
            duration_ms: Some(preflight_ms),
            outcome: None,
            message: None,
            output_file: None,
            rolled_back: false,
        },
    );
    ev(
        app,
        Event::StepRestored {
            index: 1,
            state: StepState::Interrupted,
            duration_ms: None,
            outcome: None,
            message: None,
            output_file: None,
            rolled_back: false,
        },
    );
}

/// The lag trigger fires at `at` with a 30 s countdown to an automatic rollback.
pub(crate) fn lag_runaway(at: DateTime<Utc>) -> Event {
    Event::TriggerFired {
        name: "lag runaway".into(),
        message: "300 MB for 61s".into(),
        action: TriggerAction::Rollback,
        countdown_ms: Some(30_000),
        at,
    }
}

/// The run ends with `outcome`.
pub(crate) fn run_finished(app: &mut App, outcome: RunOutcome) -> Vec<Effect> {
    ev(app, Event::RunFinished { outcome, at: t0() })
}

/// Types `text` into the open box and presses enter: what that sent.
pub(crate) fn submit(app: &mut App, text: &str) -> Vec<Command> {
    typed(app, text);
    sent(&press(app, Key::Enter))
}

/// In an open reason box: enter with nothing typed sends nothing; then `reason` and enter.
/// What that sent.
pub(crate) fn give_reason(app: &mut App, reason: &str) -> Vec<Command> {
    assert!(
        sent(&press(app, Key::Enter)).is_empty(),
        "an empty reason is refused"
    );
    submit(app, reason)
}

/// Presses `key`, which only opens a pop-up (a question, a reason box): nothing is sent.
/// The pop-up.
fn opens(app: &mut App, key: Key) -> Option<Modal> {
    assert!(sent(&press(app, key)).is_empty(), "{key:?} sent a command");
    app.modal.clone()
}

/// What the open confirmation box holds.
fn confirm_input(app: &App) -> String {
    match &app.modal {
        Some(Modal::Confirm { input, .. }) => input.value().to_string(),
        other => panic!("{other:?}"),
    }
}

pub(crate) fn output(index: usize, range: std::ops::RangeInclusive<usize>) -> Event {
    Event::Output {
        index,
        stream: Stream::Stdout,
        text: range.map(|i| format!("{i}\n")).collect(),
        at: None,
        skipped: 0,
    }
}

#[test]
fn run_started_loads_the_plan_and_empty_panes() {
    let app = ready_app(0);
    assert_eq!(app.steps.len(), 4);
    assert!(app.steps.iter().all(|s| s.status == StepStatus::Pending));
    assert!(!app.lag.configured);
    assert!(app.reconcile.checks.is_empty());
    assert_eq!(app.phase, Phase::Ready { next: 0 });
    assert_eq!(app.selected, 0);
}

#[test]
fn enter_runs_the_next_step_once() {
    let mut app = ready_app(0);
    assert_eq!(sent(&press(&mut app, Key::Enter)), [Command::RunNext]);
    assert_eq!(app.phase, Phase::Busy);
    assert!(sent(&press(&mut app, Key::Enter)).is_empty());
}

#[test]
fn enter_runs_next_even_when_another_step_is_selected() {
    let mut app = ready_app(1);
    press(&mut app, Key::Up);
    assert_eq!(app.selected, 0);
    assert_eq!(sent(&press(&mut app, Key::Enter)), [Command::RunNext]);
    assert_eq!(app.selected, 1, "selection jumps to the step that runs");
}

#[test]
fn enter_while_running_sends_nothing() {
    let mut app = running_app(0);
    let fx = press(&mut app, Key::Enter);
    assert!(sent(&fx).is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("is running"));
}

#[test]
fn step_started_selects_it_and_a_retry_marks_the_output() {
    let mut app = ready_app(0);
    press(&mut app, Key::Down);
    press(&mut app, Key::Down);
    assert_eq!(app.selected, 2);
    started(&mut app, 0, 1);
    assert_eq!(app.selected, 0);
    assert_eq!(app.steps[0].status, StepStatus::Running);
    ev(&mut app, output(0, 1..=3));
    started(&mut app, 0, 2);
    let last: Vec<_> = app.steps[0]
        .output
        .window(10, 0)
        .map(|(_, l)| l.to_string())
        .collect();
    assert_eq!(last, ["1", "2", "3", "── attempt 2 ──"]);
}

#[test]
fn confirm_needs_the_exact_word() {
    let mut app = confirming();
    assert!(matches!(app.modal, Some(Modal::Confirm { .. })));
    assert_eq!(
        app.phase,
        Phase::Confirming(Confirmation {
            index: 2,
            word: "GO".into()
        })
    );
    // Enter on nothing, a wrong word, the word in lower case: nothing is sent.
    let mut fx = press(&mut app, Key::Enter);
    fx.extend(typed(&mut app, "NO"));
    fx.extend(press(&mut app, Key::Enter));
    fx.extend(typed(&mut app, "go"));
    fx.extend(press(&mut app, Key::Enter));
    fx.extend(typed(&mut app, "GOO"));
    fx.extend(press(&mut app, Key::Enter));
    assert!(sent(&fx).is_empty(), "{fx:?}");
    assert!(fx.contains(&Effect::Bell));
    assert!(matches!(
        app.modal,
        Some(Modal::Confirm { rejected: true, .. })
    ));
    // Backspace edits through tui-input.
    typed(&mut app, "GX");
    edit(&mut app, InputRequest::DeletePrevChar);
    assert_eq!(
        submit(&mut app, "O"),
        [Command::Confirm { text: "GO".into() }]
    );
    assert!(app.modal.is_none());
}

#[test]
fn confirm_keys_are_text_not_commands() {
    let mut app = confirming();
    // q, r, s, x typed into the confirmation box are letters, not quit/retry/skip/cancel.
    let fx = typed(&mut app, "qrsx?");
    assert!(sent(&fx).is_empty());
    assert!(!fx.contains(&Effect::Quit));
    assert_eq!(confirm_input(&app), "qrsx?");
}

#[test]
fn confirm_esc_hides_and_enter_reopens_without_sending() {
    let mut app = confirming();
    typed(&mut app, "GO");
    let fx = press(&mut app, Key::Esc);
    assert!(sent(&fx).is_empty());
    assert!(app.modal.is_none());
    let fx = press(&mut app, Key::Enter);
    assert!(sent(&fx).is_empty(), "reopening sends nothing");
    assert_eq!(confirm_input(&app), "");
}

#[test]
fn engine_rejection_is_shown() {
    let mut app = confirming();
    ev(&mut app, Event::ConfirmRejected { index: 2 });
    assert!(matches!(
        app.modal,
        Some(Modal::Confirm { rejected: true, .. })
    ));
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("not the confirmation word")
    );
}

#[test]
fn retry_only_at_a_decision() {
    let mut app = ready_app(0);
    assert!(sent(&press(&mut app, ch('r'))).is_empty());
    let mut app = deciding(DecisionKind::Failed);
    assert_eq!(app.steps[1].status, StepStatus::Failed(StepOutcome::Failed));
    assert_eq!(sent(&press(&mut app, ch('r'))), [Command::Retry]);
    assert!(
        sent(&press(&mut app, ch('r'))).is_empty(),
        "no double retry"
    );
}

#[test]
fn skip_needs_a_typed_reason() {
    let mut app = deciding(DecisionKind::Failed);
    assert!(matches!(
        opens(&mut app, ch('s')),
        Some(Modal::Reason {
            purpose: ReasonFor::Skip,
            ..
        })
    ));
    let mut fx = press(&mut app, Key::Enter);
    fx.extend(typed(&mut app, "   "));
    fx.extend(press(&mut app, Key::Enter));
    assert!(sent(&fx).is_empty(), "empty reasons are refused: {fx:?}");
    assert!(matches!(app.modal, Some(Modal::Reason { empty: true, .. })));
    assert_eq!(
        submit(&mut app, "copied by hand, verified counts"),
        [Command::Skip {
            reason: "copied by hand, verified counts".into()
        }]
    );
    assert!(app.modal.is_none());
    ev(
        &mut app,
        Event::Operator {
            step: Some("copy".into()),
            action: OperatorAction::Skip {
                reason: "copied by hand".into(),
            },
            by: "dba".into(),
            at: t0(),
        },
    );
    assert_eq!(app.steps[1].status, StepStatus::Skipped);
}

#[test]
fn skip_esc_sends_nothing() {
    let mut app = deciding(DecisionKind::Failed);
    press(&mut app, ch('s'));
    typed(&mut app, "because");
    let fx = press(&mut app, Key::Esc);
    assert!(sent(&fx).is_empty());
    assert!(app.modal.is_none());
    assert!(matches!(app.phase, Phase::Deciding(_)));
}

#[test]
fn skip_and_mark_done_only_where_they_apply() {
    let mut app = ready_app(0);
    assert!(sent(&press(&mut app, ch('s'))).is_empty());
    assert!(app.modal.is_none());
    let mut app = deciding(DecisionKind::Failed);
    press(&mut app, ch('d'));
    assert!(app.modal.is_none(), "d is for interrupted steps");
    let mut app = deciding(DecisionKind::Interrupted);
    press(&mut app, ch('s'));
    assert!(app.modal.is_none(), "s is for failed steps");
}

#[test]
fn interrupted_step_rerun_or_mark_done_with_reason() {
    let mut app = deciding(DecisionKind::Interrupted);
    assert_eq!(sent(&press(&mut app, ch('r'))), [Command::Retry]);

    let mut app = deciding(DecisionKind::Interrupted);
    press(&mut app, ch('d'));
    assert_eq!(
        give_reason(&mut app, "ran it by hand"),
        [Command::MarkDone {
            reason: "ran it by hand".into()
        }]
    );
}

#[test]
fn abort_at_a_decision_asks_first() {
    let mut app = deciding(DecisionKind::Interrupted);
    assert!(matches!(
        opens(&mut app, ch('a')),
        Some(Modal::Ask(Ask::Abort { index: 1 }))
    ));
    assert!(sent(&press(&mut app, ch('n'))).is_empty());
    assert!(app.modal.is_none());
    press(&mut app, ch('a'));
    let fx = press(&mut app, ch('y'));
    assert!(matches!(
        sent(&fx).as_slice(),
        [Command::Abort { reason: Some(_) }]
    ));
    // a outside a decision does nothing.
    let mut app = ready_app(0);
    assert!(sent(&press(&mut app, ch('a'))).is_empty());
    assert!(app.modal.is_none());
}

#[test]
fn cancel_running_step_asks_first() {
    let mut app = ready_app(0);
    assert!(sent(&press(&mut app, ch('x'))).is_empty());
    press(&mut app, Key::Enter);
    started(&mut app, 0, 1);
    assert!(matches!(
        opens(&mut app, ch('x')),
        Some(Modal::Ask(Ask::Cancel { index: 0 }))
    ));
    assert!(sent(&press(&mut app, Key::Esc)).is_empty());
    press(&mut app, ch('x'));
    assert_eq!(sent(&press(&mut app, ch('y'))), [Command::Cancel]);
}

#[test]
fn cancel_question_is_void_once_the_step_finished() {
    let mut app = running_app(0);
    press(&mut app, ch('x'));
    finished(&mut app, 0, StepOutcome::Passed, 10);
    assert!(app.modal.is_none(), "the question closes with the step");
    assert!(sent(&press(&mut app, ch('y'))).is_empty());
}

#[test]
fn quit_when_idle_ends_the_run_then_leaves() {
    let mut app = ready_app(0);
    let fx = press(&mut app, ch('q'));
    assert_eq!(
        sent(&fx),
        [Command::Abort {
            reason: Some(keys::QUIT_REASON.into())
        }]
    );
    assert!(!fx.contains(&Effect::Quit), "waits for the engine");
    assert!(sent(&press(&mut app, ch('q'))).is_empty(), "only once");
    let fx = run_finished(&mut app, RunOutcome::Aborted);
    assert!(fx.contains(&Effect::Quit));
}

#[test]
fn quit_while_running_asks_and_says_what_happens() {
    let mut app = running_app(1);
    let fx = press(&mut app, ch('q'));
    assert!(sent(&fx).is_empty());
    assert!(!fx.contains(&Effect::Quit));
    assert!(matches!(
        app.modal,
        Some(Modal::Ask(Ask::QuitRunning { index: 1 }))
    ));
    // n keeps running.
    assert!(sent(&press(&mut app, ch('n'))).is_empty());
    assert!(app.modal.is_none());
    assert!(!app.quitting);
    // q, y: abort (the engine cancels the step), then leave when the run has finished.
    press(&mut app, ch('q'));
    let fx = press(&mut app, ch('y'));
    match sent(&fx).as_slice() {
        [Command::Abort { reason: Some(r) }] => assert!(r.contains("copy"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(app.quitting);
    finished(&mut app, 1, StepOutcome::Cancelled, 500);
    let fx = run_finished(&mut app, RunOutcome::Aborted);
    assert!(fx.contains(&Effect::Quit));
}

#[test]
fn ctrl_c_is_q_and_twice_confirms() {
    let mut app = running_app(0);
    assert!(matches!(
        opens(&mut app, Key::CtrlC),
        Some(Modal::Ask(Ask::QuitRunning { .. }))
    ));
    assert!(matches!(
        sent(&press(&mut app, Key::CtrlC)).as_slice(),
        [Command::Abort { .. }]
    ));
    // Ctrl-C inside a text box quits too (it is not typed).
    let mut app = confirming();
    let fx = press(&mut app, Key::CtrlC);
    assert!(matches!(sent(&fx).as_slice(), [Command::Abort { .. }]));
}

#[test]
fn quit_after_the_run_leaves_at_once() {
    let mut app = ready_app(0);
    run_finished(&mut app, RunOutcome::Completed);
    let fx = press(&mut app, ch('q'));
    assert_eq!(fx, [Effect::Quit]);
    let mut app = ready_app(0);
    app.update(Msg::EngineGone);
    assert_eq!(press(&mut app, Key::CtrlC), [Effect::Quit]);
}

#[test]
fn reconcile_keys_need_checks_in_the_runbook() {
    let mut app = deciding(DecisionKind::Failed);
    for c in ['c', 'v'] {
        let fx = press(&mut app, ch(c));
        assert!(sent(&fx).is_empty());
        let s = app.status.as_ref().unwrap();
        assert!(s.text.contains("no [[reconcile]] checks"), "{}", s.text);
    }
    let mut run = run_info();
    run.reconcile = vec!["orders".into()];
    let mut app = ready_with(run, 0);
    assert_eq!(
        sent(&press(&mut app, ch('c'))),
        [Command::Reconcile { name: None }]
    );
    press(&mut app, ch('v'));
    assert!(app.show_reconcile);
    press(&mut app, ch('v'));
    assert!(!app.show_reconcile);
}

#[test]
fn transient_status_expires_on_tick() {
    let mut app = ready_app(0);
    press(&mut app, ch('R'));
    press(&mut app, Key::Esc);
    assert!(app.status.is_some());
    app.update(Msg::Tick(t0() + chrono::Duration::seconds(2)));
    assert!(app.status.is_some());
    app.update(Msg::Tick(t0() + chrono::Duration::seconds(6)));
    assert!(app.status.is_none());
    // Engine notices stay.
    ev(
        &mut app,
        Event::Notice {
            level: Level::Warn,
            message: "careful".into(),
        },
    );
    app.update(Msg::Tick(t0() + chrono::Duration::seconds(60)));
    assert_eq!(app.status.as_ref().unwrap().text, "careful");
}

#[test]
fn selection_moves_within_bounds() {
    let mut app = ready_app(0);
    press(&mut app, Key::Up);
    assert_eq!(app.selected, 0);
    for _ in 0..10 {
        press(&mut app, ch('j'));
    }
    assert_eq!(app.selected, 3);
    press(&mut app, ch('k'));
    assert_eq!(app.selected, 2);
    press(&mut app, Key::Down);
    assert_eq!(app.selected, 3);
}

#[test]
fn output_is_bounded_and_scrolls() {
    let mut app = running_app(1);
    ev(&mut app, output(1, 1..=12_000));
    let s = &app.steps[1];
    assert_eq!(s.output.len(), output::OUTPUT_CAP);
    assert_eq!(s.output.dropped(), 2_000);
    assert!(app.view.follow);
    let page = app.page();
    press(&mut app, Key::PageUp);
    assert!(!app.view.follow);
    assert_eq!(app.view.scroll, page);
    // New lines do not move a scrolled view.
    ev(&mut app, output(1, 12_001..=12_010));
    assert_eq!(app.view.scroll, page + 10);
    press(&mut app, Key::PageDown);
    assert_eq!(app.view.scroll, 10);
    press(&mut app, ch('g'));
    assert_eq!(app.view.scroll, app.steps[1].output.max_scroll(page));
    press(&mut app, ch('G'));
    assert_eq!((app.view.scroll, app.view.follow), (0, true));
    press(&mut app, ch('f'));
    assert!(!app.view.follow);
    press(&mut app, ch('f'));
    assert!(app.view.follow);
}

/// Lines the engine left out of a flood (the newer ones push them out of the tail anyway)
/// count as dropped: the lines sent after them keep their true numbers, and a view scrolled
/// up moves with them as if they had come.
#[test]
fn lines_left_out_of_a_flood_keep_the_numbers_true() {
    let mut app = running_app(1);
    ev(&mut app, output(1, 1..=5));
    press(&mut app, Key::PageUp);
    let scroll = app.view.scroll;
    let mut rest = output(1, 20_001..=30_000);
    if let Event::Output { skipped, .. } = &mut rest {
        *skipped = 19_995;
    }
    ev(&mut app, rest);
    let s = &app.steps[1];
    assert_eq!((s.output.len(), s.output.dropped()), (10_000, 20_000));
    let first = s.output.shown(1, s.output.len() - 1).next().unwrap();
    assert_eq!((first.number, first.text), (20_000, "20001"));
    assert_eq!(app.view.scroll, scroll + 19_995 + 10_000);
}

#[test]
fn output_of_another_step_does_not_redraw() {
    let mut app = running_app(1);
    press(&mut app, Key::Up);
    let fx = ev(&mut app, output(1, 1..=5));
    assert!(fx.is_empty());
    assert_eq!(app.steps[1].output.len(), 5);
    press(&mut app, Key::Down);
    assert!(!ev(&mut app, output(1, 6..=6)).is_empty());
}

#[test]
fn help_takes_keys_until_closed() {
    let mut app = deciding(DecisionKind::Failed);
    press(&mut app, ch('?'));
    assert!(matches!(app.modal, Some(Modal::Help)));
    assert!(
        sent(&press(&mut app, ch('r'))).is_empty(),
        "keys do not leak through help"
    );
    assert!(matches!(app.modal, Some(Modal::Help)));
    press(&mut app, Key::Esc);
    assert!(app.modal.is_none());
    press(&mut app, ch('?'));
    press(&mut app, ch('?'));
    assert!(app.modal.is_none());
    press(&mut app, ch('?'));
    press(&mut app, ch('q'));
    assert!(app.modal.is_none(), "q closes help, it does not quit");
}

#[test]
fn shutdown_aborts_once_and_leaves_when_the_run_ends() {
    let mut app = running_app(0);
    let fx = app.update(Msg::Shutdown("SIGTERM".into()));
    match sent(&fx).as_slice() {
        [Command::Abort { reason: Some(r) }] => assert!(r.contains("SIGTERM")),
        other => panic!("{other:?}"),
    }
    assert!(sent(&app.update(Msg::Shutdown("SIGHUP".into()))).is_empty());
    let fx = run_finished(&mut app, RunOutcome::Aborted);
    assert!(fx.contains(&Effect::Quit));
}

#[test]
fn resume_restores_states_and_says_so() {
    let mut app = app_with(run_info());
    resume_with_copy_interrupted(&mut app, 900);
    assert_eq!(app.steps[0].status, StepStatus::Passed);
    assert_eq!(app.steps[0].duration_ms, Some(900));
    assert_eq!(app.steps[1].status, StepStatus::Interrupted);
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("copy was interrupted")
    );
    let fx = ev(
        &mut app,
        copy_needs_decision(DecisionKind::Interrupted, "outcome unknown", None),
    );
    assert!(fx.contains(&Effect::Bell));
    assert_eq!(app.status.as_ref().unwrap().text, "outcome unknown");
    assert!(matches!(
        app.phase,
        Phase::Deciding(DecisionNeeded {
            index: 1,
            kind: DecisionKind::Interrupted,
            ..
        })
    ));
}

#[test]
fn running_time_counts_with_the_clock() {
    let mut app = ready_app(0);
    started(&mut app, 0, 1);
    app.update(Msg::Tick(t0() + chrono::Duration::seconds(3)));
    assert_eq!(app.steps[0].actual_ms(app.now), Some(3_000));
    assert!(app.steps[0].over_plan(app.now));
    finished(&mut app, 0, StepOutcome::Passed, 1_500);
    assert_eq!(app.steps[0].actual_ms(app.now), Some(1_500));
}

#[test]
fn plan_figures_track_window_and_overrun() {
    let mut app = ready_app(0);
    app.update(Msg::Tick(t0() + chrono::Duration::minutes(10)));
    assert_eq!(
        app.plan().behind_ms,
        0,
        "ten minutes before step 1 are not behind plan"
    );
    started(&mut app, 0, 1);
    app.update(Msg::Tick(
        t0() + chrono::Duration::minutes(10) + chrono::Duration::seconds(5),
    ));
    finished(&mut app, 0, StepOutcome::Passed, 5_000);
    let p = app.plan();
    assert_eq!(p.elapsed_ms, 10 * 60 * 1000 + 5_000);
    assert_eq!(p.remaining_ms, Some(80 * 60 * 1000 - 5_000));
    assert_eq!(p.behind_ms, 3_000, "5s against a 2s plan");
    // Left: copy 4s + switch 3s (the confirm step has no planned time).
    assert_eq!(p.eta, app.now + chrono::Duration::seconds(7));
    assert_eq!(p.urgency, plan::Urgency::Calm);
    // Time between steps counts: the plan ends later.
    app.update(Msg::Tick(
        t0() + chrono::Duration::minutes(10) + chrono::Duration::seconds(65),
    ));
    assert_eq!(app.plan().behind_ms, 63_000);
    app.update(Msg::Tick(t0() + chrono::Duration::minutes(80)));
    assert_eq!(app.plan().urgency, plan::Urgency::Warn);
    app.update(Msg::Tick(t0() + chrono::Duration::minutes(91)));
    assert_eq!(app.plan().urgency, plan::Urgency::Critical);
}

/// A resumed run counts from its first session's start and its first step's, and a step
/// that failed before the resume keeps how and why.
#[test]
fn a_resumed_run_keeps_its_clock_and_why_a_step_stopped() {
    let mut app = App::new(t0(), (120, 40));
    let mut run = run_info();
    run.window_start = None;
    run.window_minutes = None;
    run.started_at = Some(t0());
    run.run_started_at = Some(t0() - chrono::Duration::minutes(20));
    run.first_step_at = Some(t0() - chrono::Duration::minutes(19));
    ev(&mut app, Event::RunStarted { run: Box::new(run) });
    ev(
        &mut app,
        Event::StepRestored {
            index: 0,
            state: StepState::Passed,
            duration_ms: Some(1_000),
            outcome: Some(StepOutcome::Passed),
            message: None,
            output_file: None,
            rolled_back: false,
        },
    );
    ev(
        &mut app,
        Event::StepRestored {
            index: 1,
            state: StepState::Failed,
            duration_ms: Some(4_100),
            outcome: Some(StepOutcome::TimedOut),
            message: Some("timed out after 4s".into()),
            output_file: Some("/j/run.output/copy-1.log".into()),
            rolled_back: false,
        },
    );
    let p = app.plan();
    assert_eq!(
        p.elapsed_ms,
        20 * 60 * 1000,
        "from the run's start, not this session's"
    );
    // 19 minutes since step 1 and the 4s + 3s still ahead, against a 9s plan.
    assert_eq!(p.behind_ms, 19 * 60 * 1000 + 7_000 - 9_000);
    let copy = &app.steps[1];
    assert_eq!(copy.status, StepStatus::Failed(StepOutcome::TimedOut));
    assert_eq!(copy.message.as_deref(), Some("timed out after 4s"));
    assert_eq!(
        copy.output_file.as_deref(),
        Some("/j/run.output/copy-1.log")
    );
}

/// The header's behind/ahead figure and the summary's are one figure: from step 1's start to
/// the end, against the plan of every step.
#[test]
fn the_header_and_the_summary_agree_on_how_far_behind_plan() {
    let mut app = ready_app(0);
    started(&mut app, 0, 1);
    let start = app.now;
    app.update(Msg::Tick(start + chrono::Duration::seconds(5)));
    finished(&mut app, 0, StepOutcome::Passed, 5_000);
    app.update(Msg::Tick(start + chrono::Duration::seconds(25)));
    let at = app.now;
    ev(
        &mut app,
        Event::RunFinished {
            outcome: RunOutcome::Aborted,
            at,
        },
    );
    assert_eq!(app.plan().behind_ms, 16_000, "25s against a 9s plan");
    assert_eq!(app.summary.behind_plan_ms(), Some(16_000));
}

#[test]
fn a_failed_attempt_counts_as_lost_time() {
    let mut app = running_app(1);
    let now = app.now + chrono::Duration::milliseconds(1_200);
    app.update(Msg::Tick(now));
    finished(&mut app, 1, StepOutcome::Failed, 1_200);
    let p = app.plan();
    assert_eq!(p.behind_ms, 1_200, "the failed 1.2s attempt is lost");
    // Still ahead: preflight (2s, not run in this fixture), copy again (4s), switch (3s).
    assert_eq!(p.eta, app.now + chrono::Duration::seconds(9));
}

#[test]
fn an_interrupted_attempt_still_running_is_stopped_before_a_rerun() {
    let mut app = ready_app(0);
    ev(
        &mut app,
        copy_needs_decision(
            DecisionKind::Interrupted,
            "outcome unknown; its process group 4242 is STILL RUNNING",
            Some(4242),
        ),
    );
    // A re-run would do the work twice: refused on the spot, nothing sent.
    let fx = press(&mut app, ch('r'));
    assert!(sent(&fx).is_empty());
    assert!(fx.contains(&Effect::Bell));
    assert!(app.status.as_ref().unwrap().text.contains("K to stop it"));
    // K asks first; n sends nothing; y stops the old group.
    press(&mut app, ch('K'));
    assert!(matches!(
        app.modal,
        Some(Modal::Ask(Ask::StopInterrupted {
            index: 1,
            pid: 4242
        }))
    ));
    assert!(sent(&press(&mut app, ch('n'))).is_empty());
    press(&mut app, ch('K'));
    assert_eq!(sent(&press(&mut app, ch('y'))), [Command::StopInterrupted]);
    // Once the engine says the group is gone, r re-runs.
    ev(
        &mut app,
        copy_needs_decision(DecisionKind::Interrupted, "outcome unknown", None),
    );
    assert_eq!(sent(&press(&mut app, ch('r'))), [Command::Retry]);
    // Without a group running, K refuses.
    let mut app = deciding(DecisionKind::Interrupted);
    let fx = press(&mut app, ch('K'));
    assert!(sent(&fx).is_empty() && app.modal.is_none());
}

#[test]
fn all_steps_together_keep_at_most_the_memory_cap_of_output() {
    use super::output::OUTPUT_MEMORY_CAP;
    let mut info = run_info();
    info.steps = (0..6)
        .map(|i| step(&format!("noisy-{i}"), StepKind::Run, "yes", None))
        .collect();
    let mut app = app_with(info);
    // Six steps of long-line output, 24 MiB each: 144 MiB without a global cap.
    let line = "x".repeat(16 * 1024 - 1) + "\n";
    let block = line.repeat(64);
    for i in 0..6 {
        for _ in 0..24 {
            ev(
                &mut app,
                Event::Output {
                    index: i,
                    stream: Stream::Stdout,
                    text: block.clone(),
                    at: None,
                    skipped: 0,
                },
            );
        }
    }
    let total: usize = app.steps.iter().map(|s| s.output.bytes()).sum();
    assert!(total <= OUTPUT_MEMORY_CAP, "{total} bytes kept");
    // The newest step keeps its newest output; older steps gave theirs up first.
    assert!(app.steps[5].output.bytes() >= 20 * block.len());
    assert!(app.steps[0].output.bytes() <= block.len());
    assert!(app.steps[0].output.dropped() > 0);
}
