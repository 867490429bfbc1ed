//! Sign-offs (`approve = [...]`) through the real binary: a headless run never signs off on
//! its own (`--assume-yes` neither), `--approve ROLE=NAME` does, and each sign-off is journaled
//! with who and from where and shows in the report.

use crate::support::*;

const RUNBOOK: &str = "[runbook]\nname = \"sign-off\"\n\n\
    [[step]]\nid = \"prepare\"\nrun = \"true\"\n\n\
    [[step]]\nid = \"go-live\"\napprove = [\"dba-lead\", \"orders-owner\"]\n\n\
    [[step]]\nid = \"switch\"\nrun = \"echo switched\"\n";

#[test]
fn an_approve_step_passes_only_when_every_role_signed_off() {
    for extra in [
        &[][..],
        &["--assume-yes"][..],
        &["--approve", "dba-lead=Ann"][..],
    ] {
        let d = tempfile::tempdir().unwrap();
        let out = headless_at(d.path(), RUNBOOK, "j.jsonl", extra, &[]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(4), "{extra:?}: {stdout}{stderr}");
        assert!(stdout.contains("signs off only with --approve"), "{stdout}");
        let recs = journal(&d.path().join("j.jsonl"));
        assert!(
            !of_type(&recs, "step_started")
                .iter()
                .any(|r| r["id"] == "switch"),
            "{extra:?}: the step after the sign-off must not run"
        );
    }
    let d = tempfile::tempdir().unwrap();
    let out = headless_at(
        d.path(),
        RUNBOOK,
        "j.jsonl",
        &[
            "--approve",
            "dba-lead=Ann Lee",
            "--approve",
            "orders-owner=Bob",
        ],
        &[("USER", "alice"), ("SSH_CLIENT", "10.1.2.3 50000 22")],
    );
    exited(&out, 0);
    let recs = journal(&d.path().join("j.jsonl"));
    let signed: Vec<(String, String, String, String)> = of_type(&recs, "operator")
        .iter()
        .filter(|r| r["action"] == "approve")
        .map(|r| {
            (
                r["role"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
                r["from"].as_str().unwrap().to_string(),
                r["by"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        signed,
        [
            (
                "dba-lead".into(),
                "Ann Lee".into(),
                "10.1.2.3 50000 22".into(),
                "alice".into()
            ),
            (
                "orders-owner".into(),
                "Bob".into(),
                "10.1.2.3 50000 22".into(),
                "alice".into()
            ),
        ]
    );
    assert!(
        of_type(&recs, "step_started")
            .iter()
            .any(|r| r["id"] == "switch")
    );
    let out = cutover(d.path(), &["report", "j.jsonl"], &[]);
    let (md, _) = text(&out);
    has(
        &md,
        "signed off as dba-lead: Ann Lee (from 10.1.2.3 50000 22)",
    );
}

#[test]
fn approve_is_checked_like_any_action() {
    let (d, rb) = temp_runbook(
        "rb.toml",
        "[runbook]\nname = \"x\"\n\n[[step]]\nid = \"a\"\napprove = [\"dba-lead\", \"dba-lead\"]\n",
    );
    let (_, stderr) = cutover_exits(d.path(), &["check", rb.to_str().unwrap()], 2);
    assert!(
        stderr.contains("rb.toml:6:") && stderr.contains("names role `dba-lead` twice"),
        "{stderr}"
    );
}
