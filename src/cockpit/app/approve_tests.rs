//! Sign-offs in the cockpit: `A` opens the box, the name (after the role when several are
//! open) is sent as `Command::Approve`; a watcher may sign off although it sends nothing else.

use super::tests::{ch, ev, press, run_info, sent, t0, typed};
use super::*;
use cutover_model::protocol::*;

/// A run waiting at step 2 for two sign-offs, `dba-lead` already given; seen from `role`.
fn waiting(role: ClientRole) -> App {
    let mut app = App::attached(
        t0(),
        (80, 24),
        Seat {
            role,
            terminal: 3,
            in_fleet: false,
        },
    );
    ev(
        &mut app,
        Event::RunStarted {
            run: Box::new(run_info()),
        },
    );
    ev(
        &mut app,
        Event::ApprovalRequested {
            index: 2,
            roles: vec!["dba-lead".into(), "orders-owner".into(), "qa".into()],
            approved: vec![("dba-lead".into(), "Ann".into())],
        },
    );
    app
}

#[test]
fn a_watcher_signs_off_with_its_role_and_name() {
    let mut app = waiting(ClientRole::Watch);
    assert_eq!(app.pending_roles(), ["orders-owner", "qa"]);
    // Enter, R and s still send nothing from a watcher.
    for k in [keymap::Key::Enter, ch('R'), ch('s')] {
        assert!(sent(&press(&mut app, k)).is_empty());
        app.modal = None;
    }
    press(&mut app, ch('A'));
    assert!(matches!(
        app.modal,
        Some(modal::Modal::Approve { index: 2, .. })
    ));
    // Two roles are open: a bare name is refused, with what to type.
    typed(&mut app, "Jane Doe");
    assert!(sent(&press(&mut app, keymap::Key::Enter)).is_empty());
    assert!(
        matches!(&app.modal, Some(modal::Modal::Approve { rejected: Some(why), .. }) if why.contains("orders-owner or qa"))
    );
    typed(&mut app, "orders-owner Jane Doe");
    let fx = press(&mut app, keymap::Key::Enter);
    assert_eq!(
        sent(&fx),
        [Command::Approve {
            role: "orders-owner".into(),
            name: "Jane Doe".into(),
            by: None
        }]
    );
    // The engine asks again with the sign-off taken: the box is closed, one role left.
    ev(
        &mut app,
        Event::ApprovalRequested {
            index: 2,
            roles: vec!["dba-lead".into(), "orders-owner".into(), "qa".into()],
            approved: vec![
                ("dba-lead".into(), "Ann".into()),
                ("orders-owner".into(), "Jane Doe".into()),
            ],
        },
    );
    assert!(app.modal.is_none());
    press(&mut app, ch('A'));
    typed(&mut app, "Kim");
    assert_eq!(
        sent(&press(&mut app, keymap::Key::Enter)),
        [Command::Approve {
            role: "qa".into(),
            name: "Kim".into(),
            by: None
        }]
    );
}

#[test]
fn a_is_refused_when_nothing_waits_for_a_sign_off() {
    let mut app = App::new(t0(), (80, 24));
    ev(
        &mut app,
        Event::RunStarted {
            run: Box::new(run_info()),
        },
    );
    ev(&mut app, Event::Ready { next: 0 });
    assert!(sent(&press(&mut app, ch('A'))).is_empty());
    assert!(app.modal.is_none());
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("no step waits for a sign-off")
    );
}
