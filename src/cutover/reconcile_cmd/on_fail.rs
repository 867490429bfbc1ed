//! `--on-fail CMD`: run after a round in which a check failed or could not run, with the
//! round's result in its environment (`sh -c`, its own process group, killed after
//! [`TIMEOUT`]; its output masked and shown on stderr).

use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use cutover_model::reconcile::{ReconcileResult, Status, summary};
use cutover_model::secrets::Masker;
use cutover_shell::ShellSpec;

/// The longest an `--on-fail` command may run before its process group is killed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What the command is told about the round.
pub struct Round<'a> {
    /// The runbook's path.
    pub runbook: &'a Path,
    /// The journal's path.
    pub journal: &'a Path,
    /// The round's number (from 1).
    pub number: u32,
    /// The round's results (every check of the round).
    pub results: &'a [ReconcileResult],
    /// A JSON file holding the failing results (masked).
    pub results_file: &'a Path,
}

/// The environment the command gets.
pub fn env(round: &Round<'_>) -> Vec<(String, String)> {
    let failing: Vec<&ReconcileResult> = round.results.iter().filter(|r| !r.passed()).collect();
    let status = if failing.iter().any(|r| r.status == Status::Error) {
        "error"
    } else {
        "fail"
    };
    let rows: u64 = failing.iter().map(|r| r.mismatch_rows()).sum();
    let shown = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let names: Vec<&str> = failing.iter().map(|r| r.name.as_str()).collect();
    let lines: Vec<String> = failing.iter().map(|r| summary(r)).collect();
    vec![
        ("CUTOVER_RECONCILE_STATUS".into(), status.into()),
        ("CUTOVER_RECONCILE_FAILED".into(), names.join("\n")),
        ("CUTOVER_RECONCILE_SUMMARY".into(), lines.join("\n")),
        ("CUTOVER_RECONCILE_MISMATCH_ROWS".into(), rows.to_string()),
        ("CUTOVER_RECONCILE_ROUND".into(), round.number.to_string()),
        ("CUTOVER_RECONCILE_RUNBOOK".into(), shown(round.runbook)),
        ("CUTOVER_RECONCILE_JOURNAL".into(), shown(round.journal)),
        (
            "CUTOVER_RECONCILE_RESULTS".into(),
            shown(round.results_file),
        ),
    ]
}

/// Runs `command` for `round`; returns a line saying how it ended.
pub async fn run(command: &str, round: &Round<'_>, masker: &Masker) -> String {
    let spec = ShellSpec {
        command: command.to_string(),
        env: env(round),
        timeout: Some(TIMEOUT),
        keep_whole: Vec::new(),
    };
    let (tx, mut rx) = mpsc::channel(64);
    let (_cancel_tx, cancel) = watch::channel(false);
    let printer = tokio::spawn({
        let masker = masker.clone();
        async move {
            while let Some((_, line)) = rx.recv().await {
                let line: String = line;
                crate::say::err(&format!("  on-fail │ {}", masker.mask(&line)));
            }
        }
    });
    let r = cutover_shell::run(&spec, tx, None, cancel).await;
    let _ = printer.await;
    match r {
        Err(e) => format!("--on-fail could not start: {e}"),
        Ok(x) if x.timed_out => format!(
            "--on-fail ran past {}s; its process group was killed",
            TIMEOUT.as_secs()
        ),
        Ok(x) => match (x.code, x.signal) {
            (Some(0), _) => "--on-fail ran (exit 0)".into(),
            (Some(c), _) => format!("--on-fail exited {c}"),
            (None, Some(s)) => format!("--on-fail was killed by signal {s}"),
            _ => "--on-fail ended".into(),
        },
    }
}
