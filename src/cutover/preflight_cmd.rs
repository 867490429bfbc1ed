//! `cutover preflight RUNBOOK`: what a run checks before step 1, on its own: every connection,
//! the replication the `[lag]` method reads, the tables and keys of the reconcile checks, the
//! `--approve` roles, the window, room for the journal. Read-only. Exit 0 ready, 2 not (or the
//! runbook is invalid).

use std::path::PathBuf;

use cutover_engine::journal;
use cutover_engine::preflight::{self, Input};
use cutover_model::preflight::{Verdict, blocks};
use cutover_model::runbook::Runbook;
use cutover_model::secrets::{self, Masker};
use cutover_model::text::plain;

use crate::exit::{Exit, Failure, Outcome};
use crate::say;

/// The command line of `cutover preflight`.
#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    /// The runbook.
    pub runbook: PathBuf,
    /// Override or add a `[vars]` entry (as for `run`).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = crate::cli::parse_var)]
    pub vars: Vec<(String, String)>,
    /// Sign-offs the run will be given (`--approve ROLE=NAME`, as for `run --headless`).
    #[arg(long = "approve", value_name = "ROLE=NAME", value_parser = crate::cli::parse_var)]
    pub approvals: Vec<(String, String)>,
    /// The journal the run will write (default: where `run` puts it).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// The `--metrics-file` the run will keep (checked: a regular file it can rewrite).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// One JSON object per finding.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command; returns the exit code.
pub fn main(args: PreflightArgs) -> Outcome {
    let rb = match crate::cli::load_runbook(&args.runbook, &args.vars) {
        Ok(rb) => rb,
        Err(e) => {
            return Err(Failure::new(Exit::Invalid, e.to_string()));
        }
    };
    of_runbook(&rb, &args, "")
}

/// Preflight of a loaded runbook (a fleet member's, with its vars and secrets), each line of
/// the findings printed after `prefix`.
pub fn of_runbook(rb: &Runbook, args: &PreflightArgs, prefix: &str) -> Outcome {
    let prepared = secrets::read_secrets(&rb.secrets)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            cutover_pg::conn::resolve_all(&rb.connections, &s)
                .map(|c| (s, c))
                .map_err(|e| e.to_string())
        });
    let (secrets, conns) = match prepared {
        Ok(p) => p,
        Err(e) => {
            return Err(Failure::new(
                Exit::Invalid,
                format!("cutover preflight: {e}"),
            ));
        }
    };
    let passwords = conns
        .values()
        .filter_map(|c| c.config().get_password())
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let masker = Masker::new(secrets.values().cloned().chain(passwords));
    let journal = args
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(&rb.name, chrono::Utc::now()));
    let rt = crate::serve::client_runtime("cutover preflight", Exit::Invalid)?;
    let input = Input {
        rb,
        conns: &conns,
        approvals: Some(&args.approvals),
        journal: &journal,
        journal_new: true,
        metrics_file: args.metrics_file.as_deref(),
        now: chrono::Utc::now(),
    };
    let findings = rt.block_on(preflight::run(&input));
    for f in &findings {
        let mut f = f.clone();
        f.detail = masker.mask(&f.detail).into_owned();
        let line = if args.json {
            serde_json::to_string(&f).unwrap_or_default()
        } else {
            plain(&f.line()).into_owned()
        };
        if !say::out(&format!("{prefix}{line}")) {
            return Err(Failure::new(
                Exit::Invalid,
                "cutover preflight: cannot write to stdout",
            ));
        }
    }
    let failed = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .count();
    if !args.json {
        let verdict = if blocks(&findings) {
            format!("NOT READY: {failed} finding(s) would stop the run before step 1")
        } else {
            "ready".to_string()
        };
        if !say::out(&format!("{prefix}{verdict}")) {
            return Ok(Exit::Invalid);
        }
    }
    Ok(Exit::unless(!blocks(&findings), Exit::Invalid))
}
