//! Render snapshots of the lanes screen (ratatui `TestBackend` + insta, as the cockpit's
//! view tests) at 80x24 and 120x40; snapshots live in `snapshots/` beside this file
//! (`INSTA_UPDATE=always` writes new ones).

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::lanes::app::LanesApp;
use crate::lanes::tests::{app_with, fleet, fleet_in, press};
use crate::tui::theme::Theme;
use cutover_model::fleet::lane::{FleetPhase, LaneState};
use cutover_model::protocol::ClientRole;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn draw(app: &LanesApp, w: u16, h: u16) -> String {
    let mut app = app.clone();
    app.on_resize(w, h);
    let theme = Theme::builtin("default").unwrap();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| super::render(f, &app, &theme)).unwrap();
    t.backend().to_string()
}

fn snap(name: &str, app: &LanesApp) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(app, w, h));
    }
}

fn control() -> LanesApp {
    app_with(ClientRole::Control, fleet())
}

#[test]
fn fifty_members_of_mixed_states() {
    let app = control();
    snap("fleet", &app);
    for (w, h) in SIZES {
        let s = draw(&app, w, h);
        for counts in [
            "✖ 2 failed",
            "↺ 1 rolling back",
            "▶ 5 running",
            "○ 10 waiting",
            "2 queued",
            "✔ 30 completed",
        ] {
            assert!(s.contains(counts), "{w}x{h}: no {counts:?}\n{s}");
        }
        assert!(s.contains("running, 8 at a time"), "{s}");
        assert!(
            s.contains("↺ in 0:42 lag-too-high"),
            "{w}x{h}: no countdown\n{s}"
        );
        assert!(s.contains("step 2/5"), "{s}");
    }
}

#[test]
fn at_80_columns_lag_reconcile_and_plan_make_room_for_the_title() {
    let app = control();
    let narrow = draw(&app, 80, 24);
    assert!(!narrow.contains("lag "), "{narrow}");
    assert!(!narrow.contains("/ 15m00"), "{narrow}");
    assert!(narrow.contains("Catch up replication"), "{narrow}");
    let wide = draw(&app, 120, 40);
    for col in ["lag ", "/ 15m00", "2 differ", "match"] {
        assert!(wide.contains(col), "no {col:?} at 120\n{wide}");
    }
}

#[test]
fn failures_stay_on_screen_when_the_cursor_goes_to_the_last_lane() {
    let mut app = control();
    press(&mut app, KeyCode::End);
    snap("scrolled_to_the_end", &app);
    for (w, h) in SIZES {
        let s = draw(&app, w, h);
        for trouble in ["shard-07", "shard-33", "shard-21"] {
            assert!(s.contains(trouble), "{w}x{h}: {trouble} scrolled away\n{s}");
        }
        assert!(
            s.contains("shard-48"),
            "{w}x{h}: the cursor's lane is not shown\n{s}"
        );
        assert!(s.contains("✖ 2 failed"), "{s}");
    }
    let s = draw(&app, 80, 24);
    assert!(s.contains("↑ ") && s.contains(" more"), "no marker\n{s}");
}

#[test]
fn the_list_says_what_is_hidden_below() {
    let s = draw(&control(), 80, 24);
    assert!(s.contains("↓ "), "{s}");
}

#[test]
fn a_rollback_prompt_names_the_members() {
    let mut app = control();
    for _ in 0..3 {
        press(&mut app, KeyCode::Char(' '));
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Char('R'));
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Enter);
    snap("rollback_prompt_rejected", &app);
    let s = draw(&app, 80, 24);
    crate::has(&s, "ROLL BACK 3 members (shard-07, shard-21, shard-33)");
    assert!(s.contains("wrong number"), "{s}");
}

#[test]
fn help_and_the_awaiting_go_header() {
    let mut app = app_with(ClientRole::Watch, fleet_in(FleetPhase::AwaitingGo));
    press(&mut app, KeyCode::Char('?'));
    snap("help_watching", &app);
    let s = draw(&app, 80, 24);
    assert!(s.contains("waiting for your go (g)"), "{s}");
    assert!(s.contains("read-only"), "{s}");
}

#[test]
fn a_halted_fleet_says_why() {
    let mut v = fleet_in(FleetPhase::Halted);
    v.halted = Some("shard-07 failed".into());
    let s = draw(&app_with(ClientRole::Control, v), 80, 24);
    assert!(s.contains("HALTED: shard-07 failed"), "{s}");
}

#[test]
fn a_status_replaces_the_key_hints() {
    let mut app = app_with(ClientRole::Watch, fleet());
    let s = draw(&app, 120, 40);
    assert!(s.contains("enter open") && !s.contains("next step"), "{s}");
    press(&mut app, KeyCode::Char('n'));
    let s = draw(&app, 120, 40);
    assert!(s.contains("read-only: this terminal watches"), "{s}");
}

#[test]
fn tiny_sizes_do_not_panic() {
    let mut apps = vec![
        control(),
        app_with(ClientRole::Control, fleet()),
        LanesApp::new(ClientRole::Control, crate::lanes::tests::now(), (1, 1)),
    ];
    press(&mut apps[1], KeyCode::Char('n'));
    let mut help = control();
    press(&mut help, KeyCode::End);
    press(&mut help, KeyCode::Char('?'));
    apps.push(help);
    let mut empty = fleet();
    empty.lanes.clear();
    apps.push(app_with(ClientRole::Control, empty));
    let mut all_failed = fleet();
    for l in &mut all_failed.lanes {
        l.state = LaneState::Failed;
    }
    apps.push(app_with(ClientRole::Control, all_failed));
    for app in &apps {
        for (w, h) in [(1, 1), (20, 5), (80, 3), (2, 2), (5, 1), (1, 30), (30, 8)] {
            let _ = draw(app, w, h);
        }
    }
}
