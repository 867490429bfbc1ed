//! Render snapshots (ratatui `TestBackend` + insta) at 80x24 and 120x40, and what a frame
//! reports back to the app (the output rows `PgUp`/`PgDn` page by).
//! Snapshots live in `snapshots/` beside this file; CI fails on a missing or changed one.

use chrono::Duration;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::layout::Drawn;
use crate::app::keymap::Key;
use crate::app::tests::{
    ch, copy_failed, copy_needs_decision, finished, lag_reading, lag_runaway, press,
    resume_with_copy_interrupted, run_info, slot_lag, started, step, t0, typed,
};
use crate::app::{App, Msg};
use crate::tui::theme::Theme;
use cutover_model::protocol::*;
use cutover_model::reconcile::{
    ColumnDiff, Mismatch, MismatchClass, Phase, Progress, ReconcileResult, Status, Verdict,
};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn draw(app: &App, w: u16, h: u16) -> String {
    draw_reporting(app, w, h).0
}

/// The screen, and what the frame reported back.
fn draw_reporting(app: &App, w: u16, h: u16) -> (String, Drawn) {
    let mut app = app.clone();
    app.size = (w, h);
    let theme = Theme::builtin("default").unwrap();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut drawn = Drawn::default();
    t.draw(|f| drawn = super::render(f, &app, &theme)).unwrap();
    (t.backend().to_string(), drawn)
}

fn snap(name: &str, app: &App) {
    for (w, h) in SIZES {
        let screen = draw(app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
    }
}

fn ev(app: &mut App, e: Event) {
    app.update(Msg::Engine(e));
}

fn with_run(run: RunInfo, at_minutes: i64) -> App {
    let mut app = App::new(t0() + Duration::minutes(at_minutes), (80, 24));
    ev(&mut app, Event::RunStarted { run: Box::new(run) });
    app
}

/// Step `index` started, its process group 4242.
fn start(app: &mut App, index: usize, attempt: u32) {
    started(app, index, attempt);
    ev(app, Event::Process { index, pid: 4242 });
}

/// Step `index` is next: enter starts its first attempt.
fn ready_and_start(app: &mut App, index: usize) {
    ev(app, Event::Ready { next: index });
    press(app, Key::Enter);
    start(app, index, 1);
}

/// Step `index` passed in `ms`.
fn pass(app: &mut App, index: usize, ms: u64) {
    finished(app, index, StepOutcome::Passed, ms);
}

fn lines(index: usize, n: usize, stream: Stream, prefix: &str) -> Event {
    output(
        index,
        stream,
        (1..=n).map(|i| format!("{prefix} {i}\n")).collect(),
    )
}

/// Step `index` wrote `text` on `stream`.
fn output(index: usize, stream: Stream, text: String) -> Event {
    Event::Output {
        index,
        stream,
        text,
        at: None,
        skipped: 0,
    }
}

/// Step `index` waits for the operator to type `word`.
fn confirm_requested(app: &mut App, index: usize, word: &str) {
    ev(
        app,
        Event::ConfirmRequested {
            index,
            word: word.into(),
        },
    );
}

fn tick(app: &mut App, secs: i64) {
    let now = app.now + Duration::seconds(secs);
    app.update(Msg::Tick(now));
}

/// `run` started `at_minutes` in, step 0 next.
fn ready(run: RunInfo, at_minutes: i64) -> App {
    let mut app = with_run(run, at_minutes);
    ev(&mut app, Event::Ready { next: 0 });
    app
}

fn idle() -> App {
    ready(run_info(), 5)
}

/// `run` started 5 minutes in: step 0 passed in 1.8s, step 1 started.
fn second_step_started(run: RunInfo) -> App {
    let mut app = ready(run, 5);
    press(&mut app, Key::Enter);
    start(&mut app, 0, 1);
    pass(&mut app, 0, 1_800);
    ready_and_start(&mut app, 1);
    app
}

fn running() -> App {
    let mut app = second_step_started(run_info());
    ev(&mut app, lines(1, 40, Stream::Stdout, "copied batch"));
    ev(&mut app, lines(1, 2, Stream::Stderr, "warning: slow batch"));
    tick(&mut app, 7);
    app
}

fn failed() -> App {
    let mut app = running();
    let exit = CheckResult {
        name: "exit".into(),
        passed: false,
        detail: "exit 3 (expected 0)".into(),
    };
    ev(
        &mut app,
        copy_failed(
            Some(3),
            vec![exit],
            "exit 3 (expected 0)",
            "/j/run.out/02-copy.1.log",
        ),
    );
    ev(
        &mut app,
        copy_needs_decision(
            DecisionKind::Failed,
            "step copy did not pass: retry it, skip it with a reason, or abort",
            None,
        ),
    );
    app
}

fn confirm() -> App {
    let mut app = running();
    pass(&mut app, 1, 3_900);
    ready_and_start(&mut app, 2);
    confirm_requested(&mut app, 2, "GO");
    typed(&mut app, "G");
    app
}

/// `app` after the keys `keys`.
fn pressed(mut app: App, keys: &[Key]) -> App {
    for &key in keys {
        press(&mut app, key);
    }
    app
}

/// Tests that each draw one scenario at every size and compare the screens with the snapshots
/// `NAME_WxH`.
macro_rules! snapshot_tests {
    ($($(#[$doc:meta])* $test:ident: $name:literal => $app:expr;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $test() {
            snap($name, &$app);
        }
    )*};
}

snapshot_tests! {
    idle_screen: "idle" => idle();
    running_with_output: "running" => running();
    failed_step_with_retry_skip_keys: "failed" => failed();
    confirm_step: "confirm" => confirm();
    help_overlay: "help" => pressed(running(), &[ch('?')]);
    quit_question_while_running: "quit_running" => pressed(running(), &[ch('q')]);
    rollback_plan_modal: "rollback_plan" => rollback_plan_open();
    lag_pane_with_readings: "lag_readings" => with_lag_readings(false);
    lag_pane_stale_says_so_first: "lag_stale" => with_lag_readings(true);
    reconcile_pane_with_results: "reconcile_results" => with_reconcile_results();
    reconcile_detail_shows_the_differing_keys: "reconcile_detail" =>
        pressed(with_reconcile_results(), &[ch('v')]);
    repair_step_review_before_its_word: "repair_review" => repair_review();
    /// esc hides the word's box; z gives the patch the whole screen.
    repair_step_review_full_screen: "repair_review_zoomed" =>
        pressed(repair_review(), &[Key::Esc, ch('z')]);
}

#[test]
fn failed_step_skip_reason_prompt() {
    let mut app = failed();
    press(&mut app, ch('s'));
    typed(&mut app, "batch re-copied by hand");
    snap("skip_reason", &app);
}

#[test]
fn confirm_step_after_a_wrong_word() {
    let mut app = confirm();
    typed(&mut app, "X");
    press(&mut app, Key::Enter);
    snap("confirm_rejected", &app);
}

#[test]
fn resumed_interrupted_step() {
    let mut app = with_run(run_info(), 20);
    resume_with_copy_interrupted(&mut app, 1_200);
    ev(
        &mut app,
        copy_needs_decision(
            DecisionKind::Interrupted,
            "step copy started at 02:14:03 UTC and never finished — outcome unknown; its process group 4242 is no longer running. Re-run it, mark it done with a reason, or abort.",
            None,
        ),
    );
    snap("resumed_interrupted", &app);
}

#[test]
fn narrow_truncation() {
    let mut run = run_info();
    run.name = "orders-and-invoices: pg13 on db-old-primary.example.internal -> pg16 on db-new-primary.example.internal logical cutover".into();
    run.steps[1] = step(
        "copy-the-final-delta-of-the-orders-and-invoices-tables",
        StepKind::Run,
        "pg_dump --data-only --table=orders --table=invoices postgres://migrator:••••@db-old-primary.example.internal/orders | psql postgres://migrator:••••@db-new-primary.example.internal/orders",
        Some(5_400_000),
    );
    let mut app = with_run(run, 85);
    ready_and_start(&mut app, 0);
    tick(&mut app, 900);
    pass(&mut app, 0, 900_000);
    ready_and_start(&mut app, 1);
    ev(
        &mut app,
        output(
            1,
            Stream::Stdout,
            "COPY 1048576 rows into public.orders_and_invoices_archive_partition_2026_12 \u{1b}[32mdone\u{1b}[0m\ttook 61.2s\n".into(),
        ),
    );
    ev(
        &mut app,
        Event::Notice {
            level: Level::Warn,
            message: "lag probe on source: connection refused by db-old-primary.example.internal:5432; the lag pane shows the last reading as stale until it answers".into(),
        },
    );
    tick(&mut app, 65);
    snap("narrow", &app);
    let screen = draw(&app, 50, 16);
    insta::assert_snapshot!("narrow_50x16", screen);
}

#[test]
fn lag_and_reconcile_configured_without_readings() {
    let mut run = run_info();
    run.lag_configured = true;
    run.reconcile = vec!["orders".into(), "revenue by day".into(), "sequences".into()];
    snap("panes_configured", &ready(run, 1));
}

#[test]
fn every_frame_fits_and_nothing_overlaps_at_80x24() {
    // Every line of every scenario is exactly 80 columns: no pane spills into another.
    for app in [idle(), running(), failed(), confirm()] {
        let screen = draw(&app, 80, 24);
        let rows: Vec<&str> = screen.lines().collect();
        assert_eq!(rows.len(), 24);
        for r in rows {
            // TestBackend quotes each row.
            let inner = r.trim_start_matches('"').trim_end_matches('"');
            assert_eq!(unicode_width::UnicodeWidthStr::width(inner), 80, "{inner}");
        }
    }
}

fn rollback_plan_open() -> App {
    let mut app = failed();
    let mut info = app.steps[0].info.clone();
    info.rollback = Some("rm -rf /tmp/cutover-demo".into());
    app.steps[0].info = info;
    press(&mut app, ch('R'));
    ev(
        &mut app,
        Event::RollbackPlan {
            plan: RollbackPlan {
                entries: vec![
                    RollbackEntry {
                        index: 1,
                        id: "copy".into(),
                        title: "copy title".into(),
                        state: StepState::Failed,
                        action: Some("./undo-copy.sh --from-batch 1".into()),
                    },
                    RollbackEntry {
                        index: 0,
                        id: "preflight".into(),
                        title: "preflight title".into(),
                        state: StepState::Passed,
                        action: None,
                    },
                ],
                point_of_no_return: None,
            },
        },
    );
    typed(&mut app, "ROLL");
    app
}

#[test]
fn rollback_plan_past_the_point_of_no_return() {
    let mut app = failed();
    press(&mut app, ch('R'));
    ev(
        &mut app,
        Event::RollbackPlan {
            plan: RollbackPlan {
                entries: vec![],
                point_of_no_return: Some(PonrCrossed {
                    index: 3,
                    id: "switch".into(),
                    text: "clients moved; roll forward (playbook §7)".into(),
                    at: t0() + Duration::minutes(3),
                }),
            },
        },
    );
    snap("rollback_ponr", &app);
}

#[test]
fn trigger_banner_with_countdown() {
    let mut app = running();
    let now = app.now;
    ev(&mut app, lag_runaway(now));
    tick(&mut app, 3);
    snap("trigger_countdown", &app);
    // At 80x24 the seconds and how to stop them come first, and the key bar keeps R.
    let screen = draw(&app, 80, 24);
    let rows: Vec<&str> = screen.lines().collect();
    assert!(
        rows[rows.len() - 2].contains("ROLLBACK in 27s — n stops it"),
        "{screen}"
    );
    assert!(rows[rows.len() - 1].contains("R rollback"), "{screen}");
}

fn with_lag_readings(stale: bool) -> App {
    let mut run = run_info();
    run.lag_configured = true;
    run.lag = Some(slot_lag(Some(256.0 * 1024.0 * 1024.0)));
    run.connections = [
        ("source".to_string(), "db-old:5432/orders".to_string()),
        ("target".to_string(), "db-new:5432/orders".to_string()),
    ]
    .into_iter()
    .collect();
    let mut app = ready(run, 1);
    // 30 MB draining at 2 MB/s over 10 s: above warn, catching up.
    for i in 0..=10u64 {
        let at = app.now + Duration::seconds(i as i64);
        let bytes = (30 - 2 * i) * 1024 * 1024;
        ev(&mut app, lag_reading(i + 1, at, bytes, "slot active"));
    }
    if stale {
        let sample = cutover_model::lag::LagSample {
            seq: 12,
            at: Some(app.now + Duration::seconds(10)),
            checked_at: Some(app.now + Duration::seconds(12)),
            bytes: Some(10 * 1024 * 1024),
            stale_since: Some(app.now + Duration::seconds(11)),
            error: Some("connection refused".into()),
            ..Default::default()
        };
        ev(&mut app, Event::LagSample { sample, keep: true });
    }
    tick(&mut app, 12);
    app
}

/// A difference of `class` at `key`, in the column `total`.
fn total_differs(
    key: &str,
    class: MismatchClass,
    source: Option<&str>,
    target: Option<&str>,
    detail: &str,
) -> Mismatch {
    Mismatch {
        key: vec![key.into()],
        class,
        columns: vec![ColumnDiff {
            column: "total".into(),
            source: source.map(str::to_string),
            target: target.map(str::to_string),
        }],
        detail: detail.into(),
        transient: false,
        by_content: false,
        full: Vec::new(),
    }
}

/// The engine's result of a check, not restored from a journal.
fn reconciled(app: &mut App, r: ReconcileResult) {
    ev(
        app,
        Event::ReconcileResult {
            result: Box::new(r),
            restored: false,
        },
    );
}

/// How far the check "revenue by day" (16 ranges) is.
fn revenue_by_day(
    phase: Phase,
    partitions_done: u32,
    rows_compared: u64,
    mismatches: u64,
    elapsed_ms: u64,
    recheck_in_ms: Option<u64>,
) -> Event {
    Event::ReconcileProgress {
        progress: Progress {
            name: "revenue by day".into(),
            phase,
            partitions_done,
            partitions_total: 16,
            rows_compared,
            mismatches,
            elapsed_ms,
            throttled: None,
            recheck_in_ms,
        },
    }
}

fn with_reconcile_results() -> App {
    let mut run = run_info();
    run.reconcile = vec!["orders".into(), "revenue by day".into(), "sequences".into()];
    let mut app = ready(run, 1);
    let mut r = ReconcileResult::new("orders", cutover_model::runbook::ReconcileKind::Checksum);
    r.status = Status::Fail;
    r.rows_compared = 200_000;
    r.partitions_done = 20;
    r.partitions_total = 20;
    r.elapsed_ms = 1_250;
    r.key_columns = vec!["id".into()];
    r.mismatches = vec![
        total_differs(
            "42",
            MismatchClass::Different,
            Some("10.00"),
            Some("12.00"),
            "total: 10.00 → 12.00",
        ),
        // A side without the row shows "(no row)", never NULL.
        total_differs(
            "77",
            MismatchClass::MissingOnTarget,
            Some("5.00"),
            None,
            "missing on target",
        ),
        total_differs(
            "0",
            MismatchClass::ExtraOnTarget,
            None,
            Some("0"),
            "extra on target",
        ),
    ];
    r.mismatch_total = 3;
    r.verdict = Some(Verdict::compute(3, 200_000, 0, None));
    reconciled(&mut app, r);
    ev(
        &mut app,
        revenue_by_day(Phase::Comparing, 12, 120_000, 0, 3_000, None),
    );
    app
}

#[test]
fn a_check_waiting_to_recheck_says_when_it_checks_again() {
    let mut app = with_reconcile_results();
    ev(
        &mut app,
        revenue_by_day(Phase::WaitingToRecheck, 16, 160_000, 2, 4_000, Some(4_600)),
    );
    let screen = draw(&app, 120, 40);
    let line = screen
        .lines()
        .find(|l| l.contains("revenue by day"))
        .expect("the check's line");
    crate::has(line, "2 rows differ · checking again in 5s");
    assert!(!line.contains('░'), "no bar while it waits: {line}");
}

/// Every difference of a check can be reached: PgDn pages through all of them (no line hidden
/// under the "more" and "above" lines), G shows the last, g the first.
#[test]
fn every_difference_in_the_reconcile_detail_can_be_scrolled_to() {
    let mut run = run_info();
    run.reconcile = vec!["orders".into()];
    let mut app = ready(run, 1);
    let mut r = ReconcileResult::new("orders", cutover_model::runbook::ReconcileKind::Checksum);
    r.status = Status::Fail;
    r.key_columns = vec!["id".into()];
    r.mismatches = (1..=34)
        .map(|i| {
            total_differs(
                &format!("{}", 1000 + i),
                MismatchClass::Different,
                Some("1"),
                Some("2"),
                "total: 1 → 2",
            )
        })
        .collect();
    r.mismatch_total = 34;
    reconciled(&mut app, r);
    press(&mut app, ch('v'));
    let keys_on = |screen: &str| -> Vec<u32> {
        screen
            .lines()
            .filter_map(|l| {
                let at = l.find("id=")? + 3;
                l[at..at + 4].parse().ok()
            })
            .collect()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut last_screen = String::new();
    for _ in 0..40 {
        let (screen, drawn) = draw_reporting(&app, 80, 24);
        let (rows, lines) = drawn.detail.expect("the detail was drawn");
        app.update(Msg::DetailLayout { rows, lines });
        seen.extend(keys_on(&screen));
        if screen == last_screen {
            break;
        }
        last_screen = screen;
        press(&mut app, Key::PageDown);
    }
    assert_eq!(seen.len(), 34, "every key reached by PgDn: {seen:?}");
    assert!(
        !last_screen.contains("more lines"),
        "the last page says nothing more: {last_screen}"
    );
    press(&mut app, ch('g'));
    let top = draw(&app, 80, 24);
    assert!(keys_on(&top).contains(&1001), "{top}");
    assert!(top.contains("more lines · PgUp/PgDn g/G scroll"), "{top}");
    press(&mut app, ch('G'));
    let bottom = draw(&app, 80, 24);
    assert!(keys_on(&bottom).contains(&1034), "{bottom}");
    crate::has(&bottom, "lines above · PgUp/PgDn g/G scroll");
}

/// Step 1's `progress` query read `done` of 1,000,000 rows `secs` after `at` (or failed with
/// `error`).
fn copy_progress(
    at: chrono::DateTime<chrono::Utc>,
    done: u64,
    secs: i64,
    error: Option<&str>,
) -> Event {
    Event::StepProgress {
        index: 1,
        done,
        total: Some(1_000_000),
        unit: "rows".into(),
        error: error.map(str::to_string),
        at: at + Duration::seconds(secs),
    }
}

/// How far step `index` is, in words.
fn progress_words(app: &App, index: usize) -> Option<String> {
    app.steps[index].progress.as_ref().map(|p| p.words())
}

/// A long step with a `progress` query shows how far it is, its rate and its ETA; a failed
/// poll keeps the figures and says so; figures that come after the step ended are not shown.
#[test]
fn a_running_step_shows_its_progress_rate_and_eta() {
    let mut app = running();
    let at = app.now;
    let reading = |done, secs, error| copy_progress(at, done, secs, error);
    ev(&mut app, reading(100_000, 0, None));
    ev(&mut app, reading(400_000, 10, None));
    let screen = draw(&app, 120, 40);
    crate::has(
        &screen,
        "400000 / 1000000 rows · 40% · 30k rows/s · ETA 20s",
    );
    ev(&mut app, reading(0, 12, Some("connection refused")));
    let p = app.steps[1].progress.as_ref().expect("figures");
    assert_eq!(p.done, 400_000, "the last good figures stay");
    assert!(
        p.words()
            .ends_with("· progress query failed: connection refused")
    );
    finished(&mut app, 1, StepOutcome::Passed, 20_000);
    ev(&mut app, reading(999_999, 21, None));
    // A first poll that fails says so, and the rate counts from the first good one.
    let mut fresh = running();
    let at = fresh.now;
    let reading = |done, secs, error| copy_progress(at, done, secs, error);
    ev(&mut fresh, reading(0, 0, Some("timeout")));
    assert_eq!(
        progress_words(&fresh, 1).as_deref(),
        Some("progress query failed: timeout")
    );
    ev(&mut fresh, reading(100_000, 10, None));
    ev(&mut fresh, reading(200_000, 20, None));
    assert_eq!(
        progress_words(&fresh, 1).as_deref(),
        Some("200000 / 1000000 rows · 20% · 10k rows/s · ETA 1m20")
    );
    assert!(
        app.steps[1]
            .progress
            .as_ref()
            .is_none_or(|p| p.done == 400_000),
        "late figures are not taken"
    );
}

/// The numbers of the `line N` output lines on `screen`, top to bottom.
fn shown_lines(screen: &str) -> Vec<usize> {
    screen
        .lines()
        .filter_map(|row| {
            let at = row.find("line ")? + "line ".len();
            let digits: String = row[at..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn paging_moves_by_the_visible_output_rows() {
    for (w, h) in SIZES {
        let mut app = running();
        app.size = (w, h);
        ev(&mut app, lines(1, 500, Stream::Stdout, "line"));
        // What the event loop does after each frame.
        let (screen, drawn) = draw_reporting(&app, w, h);
        let rows = drawn.output_rows.expect("the output pane shows a step");
        app.update(Msg::Layout { output_rows: rows });
        let newest = shown_lines(&screen);
        assert_eq!(
            newest.len(),
            rows,
            "{w}x{h}: the pane shows what it reports"
        );
        assert_eq!(newest.last(), Some(&500));

        press(&mut app, Key::PageUp);
        assert_eq!(app.view.scroll, rows, "{w}x{h}");
        let (screen, drawn) = draw_reporting(&app, w, h);
        assert_eq!(drawn.output_rows, Some(rows));
        let older = shown_lines(&screen);
        assert_eq!(older.len(), rows, "{w}x{h}");
        assert_eq!(
            older.last().map(|l| l + 1),
            newest.first().copied(),
            "{w}x{h}: one page up shows the lines just above, none skipped or repeated"
        );

        press(&mut app, Key::PageDown);
        assert_eq!(app.view.scroll, 0, "{w}x{h}");
        assert_eq!(shown_lines(&draw(&app, w, h)), newest, "{w}x{h}");
    }
}

#[test]
fn the_reconcile_view_reports_no_output_rows() {
    let mut app = with_reconcile_results();
    assert!(draw_reporting(&app, 80, 24).1.output_rows.is_some());
    press(&mut app, ch('v'));
    assert_eq!(draw_reporting(&app, 80, 24).1.output_rows, None);
}

/// The run is over: the summary takes the output's place, with the skip reason in it; `S` and
/// `j`/`k` go back to a step's output.
#[test]
fn a_finished_run_shows_its_summary() {
    let mut app = failed();
    let at = app.now;
    ev(
        &mut app,
        Event::Operator {
            step: Some("copy".into()),
            action: OperatorAction::Skip {
                reason: "batch re-copied by hand".into(),
            },
            by: "dba".into(),
            at,
        },
    );
    ev(
        &mut app,
        Event::RunFinished {
            outcome: RunOutcome::Aborted,
            at,
        },
    );
    assert!(app.show_summary);
    snap("summary", &app);
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("SUMMARY"), "{screen}");
    // The typed reason wraps rather than being cut off.
    assert!(
        screen.contains("skipped: “batch") && screen.contains("re-copied by hand”"),
        "{screen}"
    );
    // The rest is a page away.
    press(&mut app, Key::PageDown);
    let screen = draw(&app, 80, 24);
    crate::has(&screen, "resume with cutover run --resume");
    press(&mut app, ch('S'));
    assert!(!app.show_summary);
    press(&mut app, ch('S'));
    press(&mut app, ch('k'));
    assert!(!app.show_summary, "selecting a step shows its output");
}

#[test]
fn the_header_names_where_the_run_is_connected_when_it_fits() {
    let app = with_lag_readings(false);
    let wide = draw(&app, 200, 40);
    let header = wide.lines().next().unwrap_or_default();
    crate::has(
        header,
        "source db-old:5432/orders · target db-new:5432/orders",
    );
    // At 80 columns the header keeps the clocks; the lag pane names the probed server.
    let narrow = draw(&app, 80, 24);
    let first_two: Vec<&str> = narrow.lines().take(2).collect();
    assert!(!first_two[0].contains("db-old"), "{}", first_two[0]);
    assert!(
        first_two[1].contains("LAG  source db-old:5432/orders"),
        "{}",
        first_two[1]
    );
}

/// A `repair` step waiting for its word: the patch it built is the step's output (the review:
/// scrolled with PgUp/PgDn, full screen with `z`), the counts by kind in the notice.
fn repair_review() -> App {
    let mut run = run_info();
    run.steps[2] = step(
        "repair",
        StepKind::Repair,
        "repair what check orders finds (at most 100 rows; triggers fire)",
        None,
    );
    let mut app = second_step_started(run);
    pass(&mut app, 1, 3_900);
    ready_and_start(&mut app, 2);
    let patch = "running check orders…
-- cutover repair patch
-- check orders · written 2026-12-05 02:09:41 UTC
-- source db-old:5432/orders · target db-new:5432/orders
-- 1 insert, 2 updates, 1 delete (forward)
--
-- Review every block, then apply it on the TARGET in one transaction:
--   psql -X -v ON_ERROR_STOP=1 -d 'target connection' -f this-file.sql

BEGIN;
SET LOCAL TimeZone = 'UTC';
SET LOCAL standard_conforming_strings = 'on';

-- public.orders (id = 5): insert
--   amount: source 12.500 · target (no row)
INSERT INTO \"public\".\"orders\" (\"id\", \"amount\") OVERRIDING SYSTEM VALUE SELECT '5'::\"pg_catalog\".\"int4\", '12.500'::\"pg_catalog\".\"numeric\" WHERE NOT EXISTS (SELECT 1 FROM \"public\".\"orders\" AS t WHERE (t.\"id\") = ('5'::\"pg_catalog\".\"int4\"));

-- public.orders (id = 7): update
--   amount: source 7.875 · target 7.001
UPDATE \"public\".\"orders\" AS t SET \"amount\" = '7.875'::\"pg_catalog\".\"numeric\" WHERE (t.\"id\") = ('7'::\"pg_catalog\".\"int4\") AND pg_catalog.md5(t::pg_catalog.text) = '0cc175b9c0f1b6a831c399e269772661';

COMMIT;
";
    ev(&mut app, output(2, Stream::Stdout, patch.into()));
    ev(
        &mut app,
        Event::Notice {
            level: Level::Info,
            message: "repair patch /j/run.output/03-repair.repair.sql (sha256 5e88…): 1 insert, 2 updates, 1 delete; its inverse, the step's rollback: /j/run.output/03-repair.repair.inverse.sql. Review it, then type REPAIR to apply it".into(),
        },
    );
    confirm_requested(&mut app, 2, "REPAIR");
    app
}

/// A running step with a `timeout` counts it down in the step pane (and when zoomed).
#[test]
fn a_running_step_counts_its_timeout_down() {
    let mut run = run_info();
    run.steps[1].timeout_ms = Some(90_000);
    let mut app = second_step_started(run);
    tick(&mut app, 13);
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("times out in 1:17"), "{screen}");
    press(&mut app, ch('z'));
    tick(&mut app, 60);
    let zoomed = draw(&app, 80, 24);
    assert!(zoomed.contains("times out in 0:17"), "{zoomed}");
}

/// At the top of a step's output that dropped lines, the marker says how many, and the oldest
/// kept line shows right under it (it used to give way to the marker and never show).
#[test]
fn the_oldest_kept_line_shows_under_the_dropped_lines_marker() {
    let mut app = second_step_started(run_info());
    ev(&mut app, lines(1, 12_000, Stream::Stdout, "line"));
    press(&mut app, ch('g'));
    let screen = draw(&app, 120, 30);
    let marker = screen
        .lines()
        .position(|l| l.contains("(2000 earlier lines not kept here"))
        .expect(&screen);
    let next = screen.lines().nth(marker + 1).unwrap();
    assert!(next.contains("line 2001 "), "{screen}");
    assert!(!screen.contains("line 2000 "), "{screen}");
}
