//! Reading the output closely: search with `/`, `n`, `N`; zoom; arrival times — the app's
//! state after each key, and the frames it draws.

use chrono::Duration;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::tests::{
    app_with, ch, copy_failed, ev, lag_reading, press, ready_with, run_info, run_with_step,
    running_app, sent, slot_lag, step, t0, typed, undo_started,
};
use super::{App, Msg};
use crate::app::keymap::Key;
use crate::tui::theme::Theme;
use cutover_model::protocol::*;

fn draw(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::default();
    term.draw(|f| {
        crate::tui::view::layout::render(f, app, &theme);
    })
    .unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Step 2 (copy) running with 200 lines, every 10th holding "batch"; one line arrived at a
/// known time.
fn with_output() -> App {
    let mut app = running_app(1);
    let text: String = (1..=200)
        .map(|i| {
            if i % 10 == 0 {
                format!("copied batch {i}\n")
            } else {
                format!("row {i}\n")
            }
        })
        .collect();
    ev(
        &mut app,
        Event::Output {
            index: 1,
            stream: Stream::Stdout,
            text,
            at: Some(t0() + Duration::seconds(3723)),
            skipped: 0,
        },
    );
    // The frame tells the app how many output rows it shows.
    let _ = draw(&app, 80, 24);
    app.update(Msg::Layout { output_rows: 10 });
    app
}

fn current_line(app: &App) -> Option<u64> {
    app.search.as_ref().and_then(|s| s.current)
}

#[test]
fn slash_finds_the_newest_match_then_n_older_and_n_capital_newer() {
    let mut app = with_output();
    typed(&mut app, "/");
    assert!(app.search.is_none(), "nothing searched until enter");
    typed(&mut app, "BATCH");
    // A capital makes it exact: nothing holds "BATCH".
    press(&mut app, Key::Enter);
    assert_eq!(current_line(&app), None);
    assert!(app.status.as_ref().unwrap().text.contains("no kept line"));
    typed(&mut app, "/");
    // The box holds the last search; clear it and type again.
    for _ in 0..5 {
        super::tests::edit(&mut app, tui_input::InputRequest::DeletePrevChar);
    }
    typed(&mut app, "batch");
    press(&mut app, Key::Enter);
    // Lines are numbered from 0: "copied batch 200" is line 199.
    assert_eq!(current_line(&app), Some(199));
    let status = &app.status.as_ref().unwrap().text;
    assert!(status.contains("match 1 of 20"), "{status}");
    assert!(!app.view.follow, "a search stops following");
    press(&mut app, ch('n'));
    assert_eq!(current_line(&app), Some(189));
    press(&mut app, ch('n'));
    assert_eq!(current_line(&app), Some(179));
    let status = &app.status.as_ref().unwrap().text;
    assert!(status.contains("match 3 of 20"), "{status}");
    press(&mut app, ch('N'));
    assert_eq!(current_line(&app), Some(189));
    // The match is on screen, marked in the title.
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("copied batch 190"), "{screen}");
    assert!(screen.contains("/batch"), "{screen}");
    // At the oldest match, n says there is no older one and stays.
    for _ in 0..25 {
        press(&mut app, ch('n'));
    }
    assert_eq!(current_line(&app), Some(9));
    assert!(app.status.as_ref().unwrap().text.contains("no older line"));
    // esc ends the search; n is the countdown key again.
    press(&mut app, Key::Esc);
    assert!(app.search.is_none());
    assert_eq!(
        app.key_action(ch('n')),
        Some(super::Action::CancelCountdown)
    );
}

/// The status line of a match names the keys that move through the matches: `n` is not the
/// key table's binding of the search (it is the countdown's key, which goes on with a search
/// only while one is shown), so it is not looked up there.
#[test]
fn a_match_s_status_names_the_keys_that_move_on() {
    let mut app = with_output();
    typed(&mut app, "/batch");
    press(&mut app, Key::Enter);
    let status = &app.status.as_ref().unwrap().text;
    assert!(
        status.ends_with("match 1 of 20 from the newest · n older · N newer · esc ends it"),
        "{status}"
    );
}

#[test]
fn n_stops_a_countdown_before_it_goes_on_with_a_search() {
    let mut app = with_output();
    typed(&mut app, "/batch");
    press(&mut app, Key::Enter);
    let now = app.now;
    ev(&mut app, super::tests::lag_runaway(now));
    assert!(app.countdown_active());
    let fx = press(&mut app, ch('n'));
    assert_eq!(sent(&fx), vec![Command::CancelCountdown]);
    assert_eq!(current_line(&app), Some(199), "the search did not move");
}

#[test]
fn t_shows_each_line_s_arrival_time() {
    let mut app = with_output();
    let plain = draw(&app, 80, 24);
    assert!(!plain.contains("03:02:03 row"), "{plain}");
    press(&mut app, ch('t'));
    let stamped = draw(&app, 80, 24);
    // t0 is 02:00:00 UTC; the block arrived 3723 s later.
    assert!(stamped.contains("03:02:03 row 199"), "{stamped}");
    press(&mut app, ch('t'));
    assert!(!draw(&app, 80, 24).contains("03:02:03 row"));
}

/// A failed SQL step whose statement spans lines and whose check detail is long.
fn failed_sql() -> App {
    let sql = "insert into orders_new\nselect *\n  from orders\n where created_at < now() - interval '1 day'\nreturning id";
    let run = run_with_step(1, step("copy", StepKind::Sql, sql, Some(4_000)));
    let mut app = ready_with(run, 1);
    press(&mut app, Key::Enter);
    super::tests::started(&mut app, 1, 1);
    let detail = "expected 1000 rows, got 998: the rows with ids 4711 and 4712 were not copied because the target's check constraint orders_total_positive refused them";
    let checks = vec![
        CheckResult {
            name: "rows".into(),
            passed: false,
            detail: detail.into(),
        },
        CheckResult {
            name: "value".into(),
            passed: false,
            detail: "expected 'done', got 'partial'".into(),
        },
    ];
    ev(
        &mut app,
        copy_failed(
            None,
            checks,
            "2 checks failed",
            "/var/lib/cutover/journals/orders-2026-11-28.output/02-copy.1.log",
        ),
    );
    app
}

#[test]
fn a_long_statement_and_check_are_abridged_beside_the_panes_and_whole_when_zoomed() {
    let mut app = failed_sql();
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("$ insert into orders_new"), "{screen}");
    crate::has(&screen, "… 4 more lines · z shows them all");
    assert!(!screen.contains("returning id"), "{screen}");
    assert!(screen.contains("… (z)"), "{screen}");
    press(&mut app, ch('z'));
    assert!(app.zoom);
    let zoomed = draw(&app, 80, 24);
    for want in [
        "$ insert into orders_new",
        "  select *",
        "    from orders",
        "returning id",
        "orders_total_positive refused",
        "expected 'done', got 'partial'",
        "02-copy.1.log",
        "zoomed",
    ] {
        assert!(zoomed.contains(want), "{want} missing:\n{zoomed}");
    }
    assert!(
        !zoomed.contains("STEPS"),
        "the other panes give way:\n{zoomed}"
    );
    press(&mut app, ch('z'));
    assert!(draw(&app, 80, 24).contains("STEPS"));
}

#[test]
fn zoom_shows_the_lag_cause_the_narrow_pane_cuts() {
    let mut run = run_info();
    run.lag_configured = true;
    run.lag = Some(slot_lag(None));
    let mut app = ready_with(run, 0);
    let cause = "subscription orders_sub is disabled: worker exited after error duplicate key value violates unique constraint orders_pkey";
    let now = app.now;
    ev(&mut app, lag_reading(1, now, 4096, cause));
    let narrow = draw(&app, 80, 24);
    assert!(!narrow.contains("orders_pkey"), "{narrow}");
    press(&mut app, ch('z'));
    let zoomed = draw(&app, 80, 24).replace('\n', "");
    crate::has(&zoomed, "subscription orders_sub is disabled");
    assert!(zoomed.contains("orders_pkey"), "{zoomed}");
}

#[test]
fn a_step_being_rolled_back_shows_its_undo_action() {
    let mut run = run_info();
    run.steps[1].rollback = Some("./undo-copy.sh --from-batch 1".into());
    let mut app = app_with(run);
    ev(
        &mut app,
        undo_started(1, "copy", "./undo-copy.sh --from-batch 1"),
    );
    let screen = draw(&app, 80, 24);
    crate::has(&screen, "↺ undo: ./undo-copy.sh --from-batch 1");
}
