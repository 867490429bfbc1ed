//! Key handling of the lanes screen, and the fleet the view tests draw.

use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{LanesApp, LanesEffect, READ_ONLY};
use super::confirm::Pending;
use cutover_model::fleet::lane::{FleetCommand, FleetPhase, FleetView, Lane, LaneState};
use cutover_model::protocol::ClientRole;

/// The fixed clock of the tests.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 14, 30, 0).unwrap()
}

fn name(i: usize) -> String {
    format!("shard-{i:02}")
}

/// Lane `i` of the test fleet, in `state`.
fn lane(i: usize, state: LaneState) -> Lane {
    let live = Some(format!("/run/cutover/{}.sock", name(i)));
    let base = Lane {
        state,
        steps: 5,
        lag: Some(format!("{}.{}s", i % 4, i % 10)),
        planned_ms: Some(15 * 60_000),
        ..Lane::queued(&name(i))
    };
    // A lane under way: at `step`, titled `title`, `elapsed_ms` in, its engine serving.
    let under_way = |step, title: &str, elapsed_ms| Lane {
        step: Some(step),
        title: title.into(),
        elapsed_ms: Some(elapsed_ms),
        socket: live.clone(),
        ..base.clone()
    };
    match state {
        LaneState::Failed => Lane {
            reconcile: (i == 33).then(|| "2 differ".into()),
            ..under_way(
                1,
                "Copy the orders table",
                17 * 60_000 + 12_000 + i as u64 * 1000,
            )
        },
        LaneState::RollingBack => Lane {
            countdown: Some(("lag-too-high".into(), now() + Duration::seconds(42))),
            ..under_way(2, "Catch up replication", 9 * 60_000 + 30_000)
        },
        LaneState::Running => under_way(2, "Catch up replication", 6 * 60_000 + i as u64 * 7_000),
        LaneState::Waiting => Lane {
            reconcile: Some("match".into()),
            ..under_way(
                3,
                "Switch writes to the target (point of no return)",
                12 * 60_000 + 3_000,
            )
        },
        LaneState::Completed => Lane {
            title: String::new(),
            elapsed_ms: Some(14 * 60_000 + i as u64 * 1000),
            reconcile: Some("match".into()),
            ..base
        },
        _ => Lane::queued(&name(i)),
    }
}

/// 50 members: 2 failed, 1 rolling back (a countdown), 5 running, 10 waiting, 2 queued and
/// 30 completed, in a mixed file order; the fleet runs 8 at a time.
pub(crate) fn fleet() -> FleetView {
    let state = |i: usize| match i {
        7 | 33 => LaneState::Failed,
        21 => LaneState::RollingBack,
        2 | 12 | 18 | 27 | 41 => LaneState::Running,
        3 | 9 | 14 | 16 | 23 | 29 | 35 | 38 | 44 | 47 => LaneState::Waiting,
        49 | 50 => LaneState::Queued,
        _ => LaneState::Completed,
    };
    FleetView {
        id: "f-20261205-1342".into(),
        runbook: "orders-pg16".into(),
        journal: "cutover-journal/f.jsonl".into(),
        phase: FleetPhase::Running,
        halted: None,
        concurrency: 8,
        controller: None,
        started_at: now() - Duration::seconds(47 * 60 + 12),
        lanes: (1..=50).map(|i| lane(i, state(i))).collect(),
    }
}

/// [`fleet`] in `phase`.
pub(crate) fn fleet_in(phase: FleetPhase) -> FleetView {
    FleetView { phase, ..fleet() }
}

/// A control terminal's lanes screen on [`fleet`] at 80x24.
pub(crate) fn app_with(role: ClientRole, v: FleetView) -> LanesApp {
    let mut app = LanesApp::new(role, now(), (80, 24));
    app.on_view(v);
    app
}

fn app() -> LanesApp {
    app_with(ClientRole::Control, fleet())
}

pub(crate) fn press(app: &mut LanesApp, code: KeyCode) -> Vec<LanesEffect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut LanesApp, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn sent(effects: &[LanesEffect]) -> Vec<FleetCommand> {
    effects
        .iter()
        .filter_map(|e| match e {
            LanesEffect::Send(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn waiting() -> Vec<String> {
    [3, 9, 14, 16, 23, 29, 35, 38, 44, 47].map(name).to_vec()
}

#[test]
fn n_runs_the_next_step_on_every_waiting_member_after_the_exact_count() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('n')), [LanesEffect::Redraw]);
    let p = app.prompt.as_ref().unwrap();
    assert_eq!(p.pending, Pending::RunNext(waiting()));
    assert_eq!(
        p.pending.question(),
        "Run the next step on 10 waiting members (shard-03, shard-09, shard-14, shard-16 +6 more)? Type 10 and enter"
    );
    typed(&mut app, " 10 ");
    let fx = press(&mut app, KeyCode::Enter);
    assert_eq!(
        sent(&fx),
        [FleetCommand::RunNext {
            members: waiting(),
            confirm: 10,
            // Each waits at step 4 (index 3): the command says so.
            seen: waiting().into_iter().map(|m| (m, 3)).collect(),
        }]
    );
    assert!(app.prompt.is_none());
}

#[test]
fn a_wrong_count_rings_the_bell_and_keeps_the_prompt() {
    let mut app = app();
    press(&mut app, KeyCode::Char('n'));
    for wrong in ["9", "010", "+10", "ten", ""] {
        typed(&mut app, wrong);
        let fx = press(&mut app, KeyCode::Enter);
        assert!(fx.contains(&LanesEffect::Bell), "{wrong:?}");
        assert!(sent(&fx).is_empty(), "{wrong:?}");
        let p = app.prompt.as_ref().unwrap();
        assert!(p.rejected);
        assert_eq!(p.input.value(), "", "the wrong entry is cleared");
    }
    typed(&mut app, "1");
    assert!(
        !app.prompt.as_ref().unwrap().rejected,
        "typing again clears the refusal"
    );
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "10");
    assert_eq!(sent(&press(&mut app, KeyCode::Enter)).len(), 1);
}

#[test]
fn esc_cancels_the_prompt_and_sends_nothing() {
    let mut app = app();
    press(&mut app, KeyCode::Char('R'));
    typed(&mut app, "1");
    let fx = press(&mut app, KeyCode::Esc);
    assert!(sent(&fx).is_empty());
    assert!(app.prompt.is_none());
    assert_eq!(app.status.as_deref(), Some("cancelled"));
    // Keys are list keys again.
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.cursor_index(), Some(1));
}

#[test]
fn a_watching_terminal_refuses_commands_but_opens_members() {
    let mut app = app_with(ClientRole::Watch, fleet());
    for k in ['n', 'R', 'g'] {
        press(&mut app, KeyCode::Char(k));
        assert!(app.prompt.is_none(), "{k}");
        assert_eq!(app.status.as_deref(), Some(READ_ONLY), "{k}");
    }
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        [LanesEffect::Open(name(7))]
    );
}

#[test]
fn n_with_a_selection_takes_only_the_selected_waiting_members() {
    let mut app = app();
    for m in [name(9), name(2), name(44)] {
        app.cursor = Some(m);
        press(&mut app, KeyCode::Char(' '));
    }
    assert_eq!(app.selected.len(), 3);
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(
        app.prompt.as_ref().unwrap().pending,
        Pending::RunNext(vec![name(9), name(44)])
    );
    typed(&mut app, "2");
    assert_eq!(
        sent(&press(&mut app, KeyCode::Enter)),
        [FleetCommand::RunNext {
            members: vec![name(9), name(44)],
            confirm: 2,
            seen: [(name(9), 3), (name(44), 3)].into_iter().collect(),
        }]
    );
}

#[test]
fn n_with_no_waiting_member_says_so() {
    let mut app = app();
    app.cursor = Some(name(2));
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('n'));
    assert!(app.prompt.is_none());
    assert!(
        app.status
            .as_deref()
            .unwrap()
            .contains("none of the 1 selected")
    );

    let mut v = fleet();
    for l in &mut v.lanes {
        if l.state == LaneState::Waiting {
            l.state = LaneState::Running;
        }
    }
    let mut app = app_with(ClientRole::Control, v);
    press(&mut app, KeyCode::Char('n'));
    assert!(app.prompt.is_none());
    assert_eq!(
        app.status.as_deref(),
        Some("no member is waiting for its next step")
    );
}

#[test]
fn r_with_nothing_selected_rolls_back_the_member_under_the_cursor() {
    let mut app = app();
    assert_eq!(app.cursor.as_deref(), Some("shard-07"), "failures first");
    press(&mut app, KeyCode::Char('R'));
    let q = app.prompt.as_ref().unwrap().pending.question();
    assert_eq!(q, "ROLL BACK 1 member (shard-07)? Type 1 and enter");
    typed(&mut app, "1");
    assert_eq!(
        sent(&press(&mut app, KeyCode::Enter)),
        [FleetCommand::Rollback {
            members: vec![name(7)],
            confirm: 1
        }]
    );
}

#[test]
fn r_with_a_selection_names_a_few_then_counts_the_rest() {
    let mut app = app();
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(app.selected.len(), 50);
    press(&mut app, KeyCode::Char('R'));
    let q = app.prompt.as_ref().unwrap().pending.question();
    assert!(
        q.starts_with("ROLL BACK 50 members (shard-01, shard-02, shard-03, shard-04 +46 more)")
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('a'));
    assert!(app.selected.is_empty(), "a again selects none");
}

#[test]
fn g_is_the_canary_go_only_while_the_fleet_waits_for_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char('g'));
    assert!(app.prompt.is_none());
    assert_eq!(
        app.status.as_deref(),
        Some("no go to give: the fleet already runs")
    );
    app.on_view(fleet_in(FleetPhase::AwaitingGo));
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.prompt.as_ref().unwrap().pending, Pending::Go(2));
    typed(&mut app, "2");
    assert_eq!(sent(&press(&mut app, KeyCode::Enter)), [FleetCommand::Go]);
}

#[test]
fn a_pending_go_is_dropped_when_the_fleet_stops_waiting_for_it() {
    let mut app = app_with(ClientRole::Control, fleet_in(FleetPhase::AwaitingGo));
    press(&mut app, KeyCode::Char('g'));
    assert!(app.prompt.is_some());
    app.on_view(fleet_in(FleetPhase::Halted));
    assert!(app.prompt.is_none());
}

#[test]
fn enter_opens_a_served_member_and_refuses_one_without_a_socket() {
    let mut app = app();
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        [LanesEffect::Open(name(7))]
    );
    press(&mut app, KeyCode::End);
    assert_eq!(app.cursor.as_deref(), Some("shard-48"));
    assert_eq!(press(&mut app, KeyCode::Enter), [LanesEffect::Redraw]);
    assert_eq!(
        app.status.as_deref(),
        Some("shard-48 has no cockpit to open: it is completed")
    );
    app.cursor = Some(name(50));
    press(&mut app, KeyCode::Enter);
    assert!(app.status.as_deref().unwrap().ends_with("it is queued"));
}

#[test]
fn the_cursor_follows_its_member_when_the_order_changes() {
    let mut app = app();
    app.cursor = Some(name(3));
    let before = app.cursor_index();
    let mut v = fleet();
    if let Some(l) = v.lanes.iter_mut().find(|l| l.member == name(3)) {
        l.state = LaneState::Failed;
    }
    app.on_view(v);
    assert_eq!(app.cursor.as_deref(), Some("shard-03"));
    assert_ne!(app.cursor_index(), before);
    assert_eq!(
        app.cursor_index(),
        Some(0),
        "failed, and before shard-07 in the file"
    );
}

#[test]
fn moving_keys_clamp_to_the_list() {
    let mut app = app();
    press(&mut app, KeyCode::Up);
    assert_eq!(app.cursor_index(), Some(0));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    assert_eq!(app.cursor_index(), Some(2));
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.cursor_index(), Some(1));
    press(&mut app, KeyCode::PageDown);
    let paged = app.cursor_index().unwrap();
    assert!(paged > 10, "a page is the list's rows: {paged}");
    press(&mut app, KeyCode::End);
    assert_eq!(app.cursor_index(), Some(49));
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.cursor_index(), Some(49));
    press(&mut app, KeyCode::Home);
    assert_eq!(app.cursor_index(), Some(0));
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.cursor_index(), Some(0));
}

#[test]
fn q_ctrl_c_and_help() {
    let mut app = app();
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    assert!(
        press(&mut app, KeyCode::Char('n')).is_empty(),
        "help takes the keys"
    );
    press(&mut app, KeyCode::Esc);
    assert!(!app.help);
    assert_eq!(press(&mut app, KeyCode::Char('q')), [LanesEffect::Leave]);
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        [LanesEffect::Leave],
        "ctrl-c leaves even from a prompt"
    );
}

#[test]
fn the_key_table_covers_every_key_the_app_answers() {
    let keys: Vec<&str> = super::KEYS.iter().map(|(k, _)| *k).collect();
    for k in [
        "↑/k ↓/j",
        "PgUp/PgDn",
        "Home/End",
        "space",
        "a",
        "enter",
        "n",
        "R",
        "g",
        "?",
        "q",
    ] {
        assert!(keys.contains(&k), "{k}");
        assert!(!super::keys::hint_word(k).is_empty(), "{k}");
    }
    assert!(super::keys::markdown().contains("| `R` | roll back"));
}

#[test]
fn a_key_clears_the_status_and_modified_keys_do_nothing() {
    let mut app = app_with(ClientRole::Watch, fleet());
    press(&mut app, KeyCode::Char('n'));
    assert!(app.status.is_some());
    assert_eq!(press(&mut app, KeyCode::F(5)), [LanesEffect::Redraw]);
    assert!(app.status.is_none());
    let mut app = super::tests::app();
    let fx = app.on_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
    assert!(fx.is_empty());
    assert!(app.prompt.is_none());
    let fx = app.on_key(KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT));
    assert_eq!(fx, [LanesEffect::Redraw]);
    assert!(app.prompt.is_some(), "R arrives with shift");
}

/// The README's lanes key table is generated from [`KEYS`](crate::lanes::KEYS), like the
/// cockpit's (`CUTOVER_UPDATE_README=1 cargo test -p cutover-cockpit readme` rewrites it).
#[test]
fn readme_lanes_key_section_is_generated_from_the_table() {
    use crate::app::keymap::tests::{readme_path, split_at};
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let (before, table, after) =
        split_at(&readme, "<!-- lanes-keys:begin", "<!-- lanes-keys:end -->");
    let generated = format!("\n{}\n", crate::lanes::keys::markdown());
    if table == generated {
        return;
    }
    if std::env::var_os("CUTOVER_UPDATE_README").is_some_and(|v| v == "1") {
        std::fs::write(&path, format!("{before}{generated}{after}")).expect("write README.md");
        return;
    }
    panic!(
        "README.md's lanes key section differs from src/cockpit/lanes/keys.rs; regenerate it with CUTOVER_UPDATE_README=1 cargo test -p cutover-cockpit readme\n--- README.md\n{table}--- generated\n{generated}"
    );
}
