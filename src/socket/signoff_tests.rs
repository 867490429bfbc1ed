//! A sign-off from a `watch` terminal: the one command a read-only terminal may send reaches
//! the engine, stamped with who the server knows is at that terminal (not who it claims).

use std::time::Duration;

use crate::client;
use crate::wire::Want;
use cutover_model::protocol::{Command, Operator, RunOutcome};

fn operator(user: &str, ssh: Option<&str>) -> Operator {
    Operator {
        user: user.into(),
        ssh_client: ssh.map(str::to_string),
        host: "h".into(),
        peer: None,
    }
}

/// A served run of one approve step needing `roles`, in a new temporary directory (journal
/// `j.jsonl`), whose controlling terminal (`dba`) has run it: the engine waits for the
/// sign-offs (the journal says so). Returns the directory, the socket, what serves it, and the
/// controlling terminal's command sender and event receiver (kept: the terminal stays while
/// they live).
async fn waiting_for_sign_offs(
    name: &str,
    roles: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    tokio::task::JoinHandle<Result<RunOutcome, crate::server::ServeError>>,
    tokio::sync::mpsc::Sender<Command>,
    tokio::sync::mpsc::Receiver<cutover_model::protocol::Incoming>,
) {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let (socket, serving) = crate::server_tests::served_runbook(
        dir.path(),
        &format!("[runbook]\nname = \"{name}\"\n\n[[step]]\nid = \"go-live\"\napprove = {roles}\n"),
        Duration::from_secs(1),
    );
    let control = client::join(
        &socket,
        Want::Control { take_over: false },
        operator("dba", None),
        None,
    )
    .await
    .unwrap();
    let (to_engine, from_engine) = control.bridge();
    to_engine.send(Command::RunNext).await.unwrap();
    let waiting =
        || std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("approval_requested"));
    while !waiting() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (dir, socket, serving, to_engine, from_engine)
}

#[tokio::test]
async fn a_watcher_signs_off_as_who_it_is() {
    let (dir, socket, serving, to_engine, _from_engine) =
        waiting_for_sign_offs("signed", "[\"orders-owner\"]").await;
    let journal = dir.path().join("j.jsonl");
    let watcher = client::join(
        &socket,
        Want::Watch,
        operator("owner", Some("10.9.9.9 5000 22")),
        None,
    )
    .await
    .unwrap();
    let (watch_sends, _watch_sees) = watcher.bridge();
    // Anything else from a watcher is refused; the sign-off goes through, as the server's
    // idea of who is at the terminal, whatever `by` it claims.
    watch_sends
        .send(Command::Abort { reason: None })
        .await
        .unwrap();
    watch_sends
        .send(Command::Approve {
            role: "orders-owner".into(),
            name: "Olga Owner".into(),
            by: Some(operator("mallory", Some("6.6.6.6 1 22"))),
        })
        .await
        .unwrap();
    let ended = || std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("run_finished"));
    for _ in 0..500 {
        if ended() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Everyone leaves; the engine goes after its linger.
    drop((to_engine, _from_engine, watch_sends, _watch_sees));
    let outcome = tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        outcome,
        RunOutcome::Completed,
        "the abort was refused, the sign-off taken"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    let approve = text
        .lines()
        .find(|l| l.contains(r#""action":"approve""#))
        .expect("the sign-off is journaled");
    assert!(approve.contains(r#""name":"Olga Owner""#), "{approve}");
    // Where from: what the kernel vouches for is the fact; what the terminal said of itself
    // is kept, labelled as claimed.
    let uid = crate::rundir::euid();
    crate::has(approve, &format!(r#""from":"uid {uid}, pid "#));
    crate::has(approve, r#""claimed":"ssh from 10.9.9.9, host h""#);
    assert!(
        !approve.contains("mallory") && !approve.contains("6.6.6.6"),
        "{approve}"
    );
}

/// Issue 23: a read-only watcher looping a sign-off command flooded the owner's journal
/// (50,717 fsynced refusal notices in 20 s). Refusals are answered to that watcher alone, at
/// a pace, and never journaled; the journal keeps what the run decided.
#[tokio::test]
async fn a_watcher_looping_sign_offs_cannot_flood_the_journal() {
    let (dir, socket, _serving, _to_engine, _from_engine) =
        waiting_for_sign_offs("flood", "[\"dba\", \"owner\"]").await;
    let journal = dir.path().join("j.jsonl");
    let before = std::fs::read_to_string(&journal).unwrap().lines().count();
    let watcher = client::join(&socket, Want::Watch, operator("mallory", None), None)
        .await
        .unwrap();
    let (sends, mut sees) = watcher.bridge();
    // Blank names, roles that do not exist, and a real role the same person signs again and
    // again: 3,000 sign-offs as fast as the socket takes them.
    for i in 0..1000 {
        for (role, name) in [
            ("dba", "  "),
            ("nobody", "Mal"),
            ("owner", &*format!("Mal {}", i % 2)),
        ] {
            sends
                .send(Command::Approve {
                    role: role.into(),
                    name: name.into(),
                    by: None,
                })
                .await
                .unwrap();
        }
    }
    // The watcher is told why (a few times, not 3,000).
    let mut notes = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, sees.recv()).await {
        if let cutover_model::protocol::Incoming::Note(what) = msg {
            assert!(what.contains("sign-off"), "{what}");
            notes += 1;
        }
    }
    assert!((1..100).contains(&notes), "{notes} refusals told");
    let text = std::fs::read_to_string(&journal).unwrap();
    let after = text.lines().count();
    // The one sign-off that was due went through (owner, by the watcher); the rest left at
    // most a handful of records.
    assert!(
        after - before < 20,
        "{} records for 3,000 sign-offs",
        after - before
    );
    assert_eq!(text.matches(r#""action":"approve""#).count(), 1, "{text}");
}
