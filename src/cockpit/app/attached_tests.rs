//! A cockpit attached to a detached run: leaving asks detach or end, a watcher sends nothing,
//! a snapshot rebuilds the screen the run shows, a takeover is said and kept, and this
//! terminal's own attach is not news.

use super::keymap::Key;
use super::modal::{Ask, Modal};
use super::output::OutputView;
use super::tests::{ch, ev, press, run_info, sent, t0, typed};
use super::*;
use cutover_model::protocol::*;

/// The status line's text (none while no status is shown).
fn status_text(app: &App) -> Option<&str> {
    app.status.as_ref().map(|s| s.text.as_str())
}

fn operator(user: &str, ssh: Option<&str>) -> Operator {
    Operator {
        user: user.into(),
        ssh_client: ssh.map(str::to_string),
        host: "db-admin".into(),
        peer: None,
    }
}

fn attached(role: ClientRole) -> App {
    App::attached(
        t0(),
        (80, 24),
        Seat {
            role,
            terminal: 7,
            in_fleet: false,
        },
    )
}

/// The run so far, as the engine sends it: started, step 0 passed with output, ready for 1.
fn history() -> Vec<Event> {
    let at = t0() - chrono::Duration::minutes(20);
    vec![
        Event::RunStarted {
            run: Box::new(RunInfo {
                started_at: Some(at),
                ..run_info()
            }),
        },
        Event::StepStarted {
            index: 0,
            id: "preflight".into(),
            attempt: 1,
            at,
            command: "df -P /".into(),
        },
        Event::Output {
            index: 0,
            stream: Stream::Stdout,
            text: "line one\nline two\n".into(),
            at: None,
            skipped: 0,
        },
        Event::StepFinished {
            index: 0,
            id: "preflight".into(),
            attempt: 1,
            outcome: StepOutcome::Passed,
            duration_ms: 1_500,
            expected_ms: Some(2_000),
            exit_code: Some(0),
            checks: vec![],
            message: None,
            output_file: None,
        },
        Event::Ready { next: 1 },
    ]
}

#[test]
fn a_snapshot_draws_the_run_as_it_stands() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    assert_eq!(app.phase, Phase::Ready { next: 1 });
    assert_eq!(app.steps[0].status, super::step::StepStatus::Passed);
    assert_eq!(
        app.session_start,
        Some(t0() - chrono::Duration::minutes(20))
    );
    let lines = app.steps[0].output.len();
    assert!(lines >= 2, "the output is kept");
    // A resynchronisation replaces what was shown; nothing is doubled.
    app.update(Msg::Snapshot(history()));
    assert_eq!(app.steps.len(), run_info().steps.len());
    assert_eq!(app.steps[0].output.len(), lines);
}

#[test]
fn q_asks_detach_or_end_and_d_detaches_sending_nothing() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    assert!(sent(&press(&mut app, ch('q'))).is_empty());
    assert!(matches!(app.modal, Some(Modal::Ask(Ask::Leave))));
    let fx = press(&mut app, ch('d'));
    assert!(fx.contains(&Effect::Detach), "{fx:?}");
    assert!(sent(&fx).is_empty());
}

#[test]
fn a_second_ctrl_c_detaches_and_esc_stays() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    press(&mut app, Key::CtrlC);
    press(&mut app, Key::Esc);
    assert!(app.modal.is_none());
    press(&mut app, Key::CtrlC);
    let fx = press(&mut app, Key::CtrlC);
    assert!(fx.contains(&Effect::Detach), "{fx:?}");
}

#[test]
fn e_while_a_step_runs_cancels_it_without_a_second_question() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    press(&mut app, Key::Enter);
    super::tests::started(&mut app, 1, 1);
    press(&mut app, ch('q'));
    let fx = press(&mut app, ch('e'));
    match sent(&fx).as_slice() {
        [Command::Abort { reason: Some(r) }] => assert!(r.contains("copy"), "{r}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_watcher_sends_nothing_and_is_told_so() {
    let mut app = attached(ClientRole::Watch);
    app.update(Msg::Snapshot(history()));
    for key in [
        Key::Enter,
        ch('R'),
        ch('s'),
        ch('r'),
        ch('a'),
        ch('c'),
        ch('x'),
    ] {
        let fx = press(&mut app, key);
        assert!(sent(&fx).is_empty(), "{key:?} sent {fx:?}");
    }
    assert_eq!(status_text(&app), Some(super::attached::READ_ONLY));
    // Leaving does not ask: the run is not the watcher's to end.
    let fx = press(&mut app, ch('q'));
    assert!(fx.contains(&Effect::Detach), "{fx:?}");
}

/// The journaled takeover: `who` took the controls from alice.
fn took_over_from_alice(who: Operator) -> Event {
    Event::Client {
        change: ClientChange::TookOver,
        role: ClientRole::Control,
        who,
        from: Some(operator("alice", None)),
        terminal: Some(8),
        on_purpose: None,
    }
}

/// A controlling terminal whose controls bob (over SSH) has just taken.
fn demoted_by_bob() -> (App, Operator) {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    let bob = operator("bob", Some("192.0.2.7 50000 22"));
    app.update(Msg::Role {
        role: ClientRole::Watch,
        by: Some(bob.clone()),
    });
    (app, bob)
}

#[test]
fn losing_the_controls_is_said_and_stays_said() {
    let (mut app, bob) = demoted_by_bob();
    assert_eq!(app.role, ClientRole::Watch);
    let said =
        "bob@db-admin (ssh from 192.0.2.7) took control: this terminal now watches (read-only)";
    assert_eq!(status_text(&app), Some(said));
    // The journaled takeover that follows does not cover it.
    ev(&mut app, took_over_from_alice(bob));
    assert_eq!(status_text(&app), Some(said));
    assert!(sent(&press(&mut app, Key::Enter)).is_empty());
}

#[test]
fn a_refusal_is_not_covered_by_the_takeover_journaled_after_it() {
    let (mut app, bob) = demoted_by_bob();
    // The operator presses enter before the journaled takeover reaches this terminal.
    assert!(sent(&press(&mut app, Key::Enter)).is_empty());
    ev(&mut app, took_over_from_alice(bob));
    assert_eq!(status_text(&app), Some(super::attached::READ_ONLY));
    // When the refusal expires, the terminal says again that it only watches.
    let later = app.now + chrono::Duration::seconds(super::TRANSIENT_SECS + 1);
    app.update(Msg::Tick(later));
    assert_eq!(
        status_text(&app),
        Some(
            "bob@db-admin (ssh from 192.0.2.7) took control: this terminal now watches (read-only)"
        )
    );
}

/// A resynchronisation's note ("this terminal fell behind … here is the run as it stands") is
/// said for a while, then the run's own prompt comes back: it stood in its place until a key
/// was pressed, and the operator at a stalled SSH session saw no `ready: enter runs …`.
#[test]
fn a_resync_note_gives_the_prompt_back_when_it_expires() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    let before = status_text(&app).map(String::from);
    let note = "this terminal fell behind (286 events): here is the run as it stands";
    app.update(Msg::Snapshot(history()));
    app.update(Msg::Note(note.into()));
    assert_eq!(status_text(&app), Some(note));
    let later = app.now + chrono::Duration::seconds(super::TRANSIENT_SECS + 1);
    app.update(Msg::Tick(later));
    assert_eq!(status_text(&app).map(String::from), before);
}

#[test]
fn this_terminals_own_attach_is_not_news_but_others_are() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    let before = app.status.clone();
    let attach = |terminal| Event::Client {
        change: ClientChange::Attached,
        role: ClientRole::Watch,
        who: operator("carol", None),
        from: None,
        terminal: Some(terminal),
        on_purpose: None,
    };
    ev(&mut app, attach(7));
    assert_eq!(app.status, before);
    ev(&mut app, attach(9));
    assert_eq!(status_text(&app), Some("carol@db-admin attached, watching"));
}

#[test]
fn a_countdown_seen_late_counts_from_when_the_trigger_fired() {
    let mut app = attached(ClientRole::Control);
    let mut evs = history();
    evs.push(Event::TriggerFired {
        name: "lag runaway".into(),
        message: "lag above 256 MB for 1m".into(),
        action: TriggerAction::Rollback,
        countdown_ms: Some(30_000),
        at: t0() - chrono::Duration::seconds(20),
    });
    app.update(Msg::Snapshot(evs));
    let banner = app.trigger.as_ref().expect("the banner");
    assert_eq!(
        banner.rollback_at,
        Some(t0() + chrono::Duration::seconds(10))
    );
}

/// A fleet member's cockpit opened from the lanes: esc with nothing to close goes back to
/// them (a detach: the member's run goes on), also once the run has ended; with a search
/// open, esc closes the search first. A run's own cockpit keeps esc for clearing.
#[test]
fn esc_in_a_fleet_members_cockpit_goes_back_to_the_lanes() {
    let seat = |in_fleet| Seat {
        role: ClientRole::Control,
        terminal: 7,
        in_fleet,
    };
    let mut app = App::attached(t0(), (80, 24), seat(true));
    app.update(Msg::Snapshot(history()));
    let fx = press(&mut app, Key::Esc);
    assert!(fx.contains(&Effect::Detach), "{fx:?}");
    press(&mut app, ch('/'));
    let fx = press(&mut app, Key::Esc);
    assert!(!fx.contains(&Effect::Detach), "{fx:?}");
    ev(
        &mut app,
        Event::RunFinished {
            outcome: RunOutcome::Completed,
            at: t0(),
        },
    );
    let fx = press(&mut app, Key::Esc);
    assert!(fx.contains(&Effect::Detach), "{fx:?}");
    let mut own = App::attached(t0(), (80, 24), seat(false));
    own.update(Msg::Snapshot(history()));
    let fx = press(&mut own, Key::Esc);
    assert!(!fx.contains(&Effect::Detach), "{fx:?}");
}

/// Step 1 (copy) starts.
fn copy_started() -> Event {
    Event::StepStarted {
        index: 1,
        id: "copy".into(),
        attempt: 1,
        at: t0(),
        command: "pg_dump".into(),
    }
}

/// [`history`], then step 1 asks for its confirmation word.
fn asking_to_confirm() -> Vec<Event> {
    let mut evs = history();
    evs.push(Event::ConfirmRequested {
        index: 1,
        word: "copy".into(),
    });
    evs
}

#[test]
fn a_resync_keeps_the_key_map_the_zoom_the_times_and_the_place_in_the_output() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    press(&mut app, ch('k'));
    assert_eq!(app.selected, 0);
    press(&mut app, ch('z'));
    press(&mut app, ch('t'));
    app.view = OutputView {
        scroll: 1,
        follow: false,
    };
    app.search = Some(reading::Search {
        needle: "two".into(),
        current: Some(2),
    });
    press(&mut app, ch('?'));
    assert!(matches!(app.modal, Some(Modal::Help)));
    // The terminal fell behind: the engine sends the run as it stands, which is where it was.
    app.update(Msg::Snapshot(history()));
    assert!(
        matches!(app.modal, Some(Modal::Help)),
        "the key map stays open"
    );
    assert!(app.zoom && app.times);
    assert_eq!(app.selected, 0, "the step the operator was reading");
    assert_eq!(
        app.view,
        OutputView {
            scroll: 1,
            follow: false
        }
    );
    assert_eq!(
        app.search,
        Some(reading::Search {
            needle: "two".into(),
            current: Some(2),
        })
    );
}

#[test]
fn a_resync_after_the_run_moved_on_follows_it_but_keeps_the_key_map_and_the_search() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    press(&mut app, ch('k'));
    app.search = Some(reading::Search {
        needle: "two".into(),
        current: Some(2),
    });
    press(&mut app, ch('?'));
    let mut moved = history();
    moved.push(copy_started());
    app.update(Msg::Snapshot(moved));
    assert_eq!(app.phase, Phase::Running { index: 1 });
    assert_eq!(
        app.selected, 1,
        "the running step, as the live event would have"
    );
    assert!(matches!(app.modal, Some(Modal::Help)));
    let search = app.search.as_ref().expect("the search stays");
    assert_eq!((search.needle.as_str(), search.current), ("two", None));
}

#[test]
fn a_resync_keeps_a_half_typed_word_while_the_run_still_asks_for_it_and_drops_it_after() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(asking_to_confirm()));
    assert!(matches!(app.modal, Some(Modal::Confirm { index: 1, .. })));
    typed(&mut app, "co");
    app.update(Msg::Snapshot(asking_to_confirm()));
    match &app.modal {
        Some(Modal::Confirm { input, .. }) => assert_eq!(input.value(), "co"),
        other => panic!("{other:?}"),
    }
    // Another terminal typed the word meanwhile: the step runs, the question is gone.
    let mut moved = asking_to_confirm();
    moved.push(copy_started());
    app.update(Msg::Snapshot(moved));
    assert!(app.modal.is_none(), "{:?}", app.modal);
}

#[test]
fn a_resync_does_not_forget_that_the_operator_asked_to_leave_once_the_run_ends() {
    let mut app = attached(ClientRole::Control);
    app.update(Msg::Snapshot(history()));
    app.quitting = true;
    app.update(Msg::Snapshot(history()));
    assert!(app.quitting);
}
