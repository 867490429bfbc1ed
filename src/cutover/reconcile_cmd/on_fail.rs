//! `--on-fail CMD`: run after a round in which a check failed or could not run, with the
//! round's result in its environment (`sh -c`, its own process group, killed after
//! [`TIMEOUT`]; its output masked and shown on stderr).

use std::path::Path;
use std::time::Duration;

use cutover_model::reconcile::{ReconcileResult, Status, summary};
use cutover_model::secrets::Masker;

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

/// Runs `command` for `round` (through the notify hooks' runner: its own process group,
/// killed after [`TIMEOUT`]; each output line masked on stderr); returns a line saying how it
/// ended, masked (a failure quotes the command's last line of output, which may print a
/// secret: it is journaled and printed as it is returned).
pub async fn run(command: &str, round: &Round<'_>, masker: &Masker) -> String {
    let shown = |line: &str| crate::say::err(&format!("  on-fail │ {}", masker.mask(line)));
    match cutover_engine::notify::deliver::once(command, env(round), None, TIMEOUT, shown).await {
        Ok(()) => "--on-fail ran (exit 0)".into(),
        Err(why) => masker.mask(&format!("--on-fail {why}")).into_owned(),
    }
}
