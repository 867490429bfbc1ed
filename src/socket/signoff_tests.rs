//! A sign-off from a `watch` terminal: the one command a read-only terminal may send reaches
//! the engine, stamped with who the server knows is at that terminal (not who it claims).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client;
use crate::rundir::{self, RunMeta};
use crate::server::{self, ServeOptions};
use crate::wire::Want;
use cutover_engine::{Engine, EngineOptions, JournalChoice};
use cutover_model::protocol::{Command, Operator, RunOutcome};
use cutover_model::runbook::Runbook;

fn operator(user: &str, ssh: Option<&str>) -> Operator {
    Operator {
        user: user.into(),
        ssh_client: ssh.map(str::to_string),
        host: "h".into(),
    }
}

#[tokio::test]
async fn a_watcher_signs_off_as_who_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let rb_path = dir.path().join("rb.toml");
    std::fs::write(
        &rb_path,
        "[runbook]\nname = \"signed\"\n\n[[step]]\nid = \"go-live\"\napprove = [\"orders-owner\"]\n",
    )
    .unwrap();
    let rb = Runbook::load(&rb_path, &BTreeMap::new()).unwrap();
    let journal = dir.path().join("j.jsonl");
    let engine = Engine::prepare(
        rb,
        EngineOptions {
            journal: JournalChoice::New(journal.clone()),
            accept_changed_runbook: false,
            accept_changed_vars: false,
            operator: operator("dba", None),
        },
    )
    .unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    std::fs::set_permissions(&runs, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let listening = server::listen(ServeOptions {
        dir: runs,
        meta: RunMeta {
            id: "j".into(),
            pid: std::process::id(),
            pid_start: rundir::start_time(std::process::id()),
            journal: journal.display().to_string(),
            runbook: "signed".into(),
            started_at: chrono::Utc::now(),
            resumable: true,
        },
        shared: None,
        linger: Duration::from_secs(1),
    })
    .unwrap();
    let socket = listening.socket.clone();
    let serving = tokio::spawn(listening.serve(engine));

    let control = client::join(
        &socket,
        Want::Control { take_over: false },
        operator("dba", None),
    )
    .await
    .unwrap();
    let (to_engine, _from_engine) = control.bridge();
    to_engine.send(Command::RunNext).await.unwrap();
    let waiting =
        || std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("approval_requested"));
    while !waiting() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let watcher = client::join(
        &socket,
        Want::Watch,
        operator("owner", Some("10.9.9.9 5000 22")),
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
    assert!(
        approve.contains(r#""from":"10.9.9.9 5000 22""#),
        "{approve}"
    );
    assert!(
        !approve.contains("mallory") && !approve.contains("6.6.6.6"),
        "{approve}"
    );
}
