//! The runbook corpus: every valid fixture loads, every invalid one fails with the
//! exact, snapshotted diagnostic, and `cutover check` agrees on the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cutover_model::runbook::{LoadError, Runbook};

/// The repository root (tests run with the package directory as working directory,
/// but paths are made relative to it explicitly so snapshots never hold absolute paths).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `*.toml` files of a directory relative to the repository root, sorted, as relative paths.
fn tomls(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            p.strip_prefix(root())
                .expect("under the repository")
                .to_path_buf()
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {dir}");
    out
}

fn load(rel: &Path) -> Result<Runbook, LoadError> {
    // Cargo runs integration tests in the package root, so the relative path works and
    // messages name the file as a user would type it.
    assert!(
        rel.exists(),
        "{} not found from {:?}",
        rel.display(),
        std::env::current_dir()
    );
    Runbook::load(rel, &BTreeMap::new())
}

fn valid_files() -> Vec<PathBuf> {
    let mut files = tomls("tests/fixtures/runbooks/valid");
    files.extend(tomls("runbooks"));
    files
}

#[test]
fn every_valid_runbook_loads() {
    for f in valid_files() {
        match load(&f) {
            Ok(rb) => assert!(!rb.steps.is_empty(), "{}: no steps", f.display()),
            Err(e) => panic!("{} should be valid:\n{e}", f.display()),
        }
    }
}

#[test]
fn valid_corpus_covers_the_format() {
    use cutover_model::runbook::{
        Action, LagMethod, ReconcileKind, RollbackAction, TriggerCond, WaitCond,
    };
    let rbs: Vec<Runbook> = tomls("tests/fixtures/runbooks/valid")
        .iter()
        .map(|f| load(f).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let steps = || rbs.iter().flat_map(|r| r.steps.iter());
    let mut seen: Vec<String> = Vec::new();
    for rb in &rbs {
        if let Some(l) = &rb.lag {
            seen.push(format!("lag:{:?}", l.method));
        }
        seen.extend(
            rb.reconcile
                .iter()
                .map(|c| format!("reconcile:{:?}", c.kind)),
        );
        seen.extend(rb.triggers.iter().map(|t| {
            match t.when {
                TriggerCond::LagAbove(_) => "trigger:lag_above",
                TriggerCond::MismatchRowsAbove(_) => "trigger:mismatch_rows_above",
                TriggerCond::StepFailed(_) => "trigger:step_failed",
                TriggerCond::WindowLeftBelow(_) => "trigger:window_left_below",
                TriggerCond::Sql { .. } => "trigger:sql",
            }
            .to_string()
        }));
    }
    for s in steps() {
        seen.push(format!("step:{}", s.action.kind()));
        if let Action::Wait(w) = &s.action {
            seen.push(
                match w.cond {
                    WaitCond::LagBelow(_) => "wait:lag_below",
                    WaitCond::Reconcile(_) => "wait:reconcile",
                    WaitCond::Sql { .. } => "wait:sql",
                    WaitCond::Run(_) => "wait:run",
                }
                .to_string(),
            );
        }
        match &s.rollback {
            Some(RollbackAction::Run(_)) => seen.push("rollback".into()),
            Some(RollbackAction::Sql { .. }) => seen.push("rollback_sql".into()),
            Some(RollbackAction::RepairInverse { .. }) => seen.push("rollback:repair".into()),
            None => {}
        }
        if s.point_of_no_return.is_some() {
            seen.push("point_of_no_return".into());
        }
        if s.progress.is_some() {
            seen.push("progress".into());
        }
        if !s.changes && matches!(s.action, Action::Run(_) | Action::Sql { .. }) {
            seen.push("changes = false".into());
        }
    }
    let mut want: Vec<String> = [
        LagMethod::Streaming,
        LagMethod::Logical,
        LagMethod::Heartbeat,
        LagMethod::Sql,
        LagMethod::Command,
    ]
    .iter()
    .map(|m| format!("lag:{m:?}"))
    .collect();
    want.extend(
        [
            ReconcileKind::Count,
            ReconcileKind::Checksum,
            ReconcileKind::Query,
            ReconcileKind::Sequences,
            ReconcileKind::Schema,
        ]
        .iter()
        .map(|k| format!("reconcile:{k:?}")),
    );
    want.extend(
        [
            "trigger:lag_above",
            "trigger:mismatch_rows_above",
            "trigger:step_failed",
            "trigger:window_left_below",
            "trigger:sql",
            "step:run",
            "step:sql",
            "step:wait",
            "step:confirm",
            "step:repair",
            "rollback:repair",
            "wait:lag_below",
            "wait:reconcile",
            "wait:sql",
            "wait:run",
            "rollback",
            "rollback_sql",
            "point_of_no_return",
            "progress",
            "changes = false",
        ]
        .map(String::from),
    );
    let missing: Vec<&String> = want.iter().filter(|w| !seen.contains(w)).collect();
    assert!(missing.is_empty(), "valid corpus lacks {missing:?}");
    assert!(
        rbs.iter().any(|r| r.window.is_some()),
        "no valid fixture has a window"
    );
    assert!(
        rbs.iter()
            .flat_map(|r| &r.reconcile)
            .any(|c| c.key.len() > 1),
        "no composite key"
    );
}

#[test]
fn every_invalid_runbook_fails_with_a_located_snapshotted_error() {
    let files = tomls("tests/fixtures/runbooks/invalid");
    assert!(files.len() >= 30, "only {} invalid fixtures", files.len());
    for f in files {
        let text = match load(&f) {
            Ok(_) => panic!("{} should be invalid", f.display()),
            Err(LoadError::Invalid(d)) => {
                // One mistake per fixture, so exactly one diagnostic: a second one means
                // the validator reports a consequence as a separate error (noise at 2 a.m.).
                assert_eq!(d.0.len(), 1, "{}: expected one error:\n{d}", f.display());
                d.to_string()
            }
            Err(e) => panic!("{}: {e}", f.display()),
        };
        let name = f
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        insta::with_settings!({
            snapshot_path => "snapshots/corpus",
            prepend_module_to_snapshot => false,
            description => f.display().to_string(),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, text);
        });
    }
}

fn cutover(args: &[&Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .current_dir(root())
        .arg("check")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run cutover")
}

#[test]
fn check_rejects_each_invalid_file_with_exit_2_and_a_quoted_line() {
    for f in tomls("tests/fixtures/runbooks/invalid") {
        let out = cutover(&[&f]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", f.display());
        let shown = f.display().to_string();
        let first = stderr.lines().next().unwrap_or_default();
        let rest = first
            .strip_prefix(&format!("{shown}:"))
            .unwrap_or_else(|| panic!("{shown}: stderr does not start with the path:\n{stderr}"));
        let mut parts = rest.splitn(3, ':');
        let line: usize = parts
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| panic!("{shown}: no line number in {first:?}"));
        let col: usize = parts
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{shown}: no column in {first:?}"));
        assert!(
            parts
                .next()
                .is_some_and(|m| m.starts_with(' ') && m.len() > 1),
            "{shown}: no message in {first:?}"
        );
        assert!(line >= 1 && col >= 1, "{shown}: {first:?}");
        let source = std::fs::read_to_string(root().join(&f)).expect("read fixture");
        let mut quoted = source
            .lines()
            .nth(line - 1)
            .expect("line exists")
            .to_string();
        if shown.ends_with("secret-as-string.toml") {
            // The one line quoted masked: it holds a secret written in the file.
            assert!(!stderr.contains("hunter2"), "{stderr}");
            quoted = quoted.replace("hunter2", "••••");
        }
        assert!(
            stderr.contains(&format!("{line} | {quoted}")),
            "{shown}: line {line} not quoted:\n{stderr}"
        );
        assert!(stderr.contains('^'), "{shown}: no underline:\n{stderr}");
        assert!(out.stdout.is_empty(), "{shown}: stdout not empty");
    }
}

#[test]
fn check_accepts_all_valid_files_with_exit_0() {
    let files = valid_files();
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = cutover(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in &files {
        assert!(
            stdout.contains(&format!("{}: ok (", f.display())),
            "{} not reported ok:\n{stdout}",
            f.display()
        );
    }
}

/// `cutover check` reports every mistake of a file in one pass: an unknown key, a bad duration
/// and an unresolved `${vars.x}` are all located, and the exit code is 2.
#[test]
fn check_reports_every_mistake_in_one_pass() {
    let (dir, rb) = crate::support::temp_runbook(
        "three.toml",
        "[runbook]\nname = \"three mistakes\"\ncolour = \"blue\"\n\n[[step]]\nid = \"one\"\nrun = \"echo ${vars.nope}\"\ntimeout = \"ten minutes\"\n",
    );
    let out = crate::support::cutover(dir.path(), &["check", rb.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let at = |line_col: &str| format!("{}:{line_col}: ", rb.display());
    for want in [
        format!("{}unknown key `colour`", at("3:1")),
        format!("{}`${{vars.nope}}` does not resolve", at("7:13")),
        format!("{}invalid duration \"ten minutes\"", at("8:11")),
    ] {
        assert!(err.contains(&want), "{want:?} missing:\n{err}");
    }
}
