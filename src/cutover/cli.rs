//! The command line: subcommands and flags, as README.md documents them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use cutover_model::runbook::{LoadError, Runbook};

/// A terminal cockpit for database-migration cutover day.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a runbook (the cockpit, or --headless).
    Run(RunArgs),
    /// Validate runbooks; errors as file:line:col with the line quoted. Exit 0 valid, 2 invalid.
    Check {
        /// The runbook files to validate.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also run preflight against the live servers (`cutover preflight`): connections,
        /// replication, tables and keys, coverage.
        #[arg(long)]
        connect: bool,
        /// Override or add a `[vars]` entry, as `run --var` would (the values are checked
        /// where they are used: in DSNs, commands, SQL).
        #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Check a fleet file too, and each runbook once per member with that member's vars
        /// and secrets (the members' errors located and named).
        #[arg(long, value_name = "FLEET.toml")]
        fleet: Option<PathBuf>,
    },
    /// The built-in rehearsal: a disposable source/target PostgreSQL pair with logical
    /// replication and a write load, cut over by `runbooks/drill.toml`. Exit code as `run`.
    Drill(DrillArgs),
    /// The cockpit on a run that goes on without a terminal (after a detach or a dropped SSH
    /// session). No ID: the only live run.
    Attach {
        /// The run's id (as `cutover ls` lists it; a unique prefix will do).
        id: Option<String>,
        /// Take the controls from the terminal that has them without asking.
        #[arg(long)]
        take_over: bool,
        /// Theme name or file.
        #[arg(long, value_name = "NAME|PATH")]
        theme: Option<String>,
    },
    /// The same screen as `attach`, read-only; `--json`: the events as JSON Lines.
    Watch {
        /// The run's id (as `cutover ls` lists it; a unique prefix will do).
        id: Option<String>,
        /// Stream the events as JSON Lines (the run so far, then live) until the run ends.
        #[arg(long)]
        json: bool,
        /// Watch a run of another user who shared it with a group (`--share-group`).
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
        /// Theme name or file.
        #[arg(long, value_name = "NAME|PATH")]
        theme: Option<String>,
    },
    /// The live runs of this user, and the dead ones with their resume command.
    Ls,
    /// Proposes each step's `expected` from rehearsal journals (the median of the passed
    /// attempts, or `--p 90`); `--write` sets them in the runbook, keeping its comments.
    Calibrate {
        /// The runbook to calibrate.
        runbook: PathBuf,
        /// The rehearsals' journals.
        #[arg(required = true)]
        journals: Vec<PathBuf>,
        /// The percentile to propose (50: the median).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(1..=100))]
        p: u8,
        /// Write the proposed durations into the runbook (validated before it is written).
        #[arg(long)]
        write: bool,
        /// Use journals of a runbook with another name.
        #[arg(long)]
        force: bool,
    },
    /// The report of a run from its journal: Markdown on stdout, or `-o FILE.html` (one
    /// self-contained file), or `--json`. Exit 0 written, 2 a journal that cannot be read.
    Report {
        /// The run's journal.
        #[arg(required = true)]
        journals: Vec<PathBuf>,
        /// Write to this file instead of stdout (`.html`: the HTML report).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: Option<PathBuf>,
        /// The same facts as JSON, for machines.
        #[arg(long)]
        json: bool,
    },
    /// The runbook's reconcile checks outside a run: once, or `--every 15m --for 72h` (the
    /// drift watch after the cutover). Exit 0 all passed, 1 a check failed, 2 invalid.
    Reconcile(crate::reconcile_cmd::ReconcileArgs),
    /// What a run checks before step 1, on its own: connections, replication, tables and
    /// keys, sign-off roles, the window, room for the journal. Exit 0 ready, 2 not.
    Preflight(crate::preflight_cmd::PreflightArgs),
    /// Send a test event to every `[[notify]]` hook of a runbook (`--test`). Exit 0 every
    /// hook took it, 1 one did not, 2 invalid.
    Notify(crate::notify_cmd::NotifyArgs),
    /// Inventory two servers (read-only) and write a runbook that covers every table:
    /// connections, lag, reconcile checks, the steps of the cutover and triggers. Exit 0
    /// written, 2 not.
    Init(crate::init_cmd::InitArgs),
    /// Internal: the detached engine process that `run` and `drill` start.
    #[command(name = "serve-engine", hide = true)]
    ServeEngine,
}

/// `cutover run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runbook (optional with --resume: the journal's runbook is used).
    pub runbook: Option<PathBuf>,
    /// No TUI: one line per event on stdout.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: one JSON object per event.
    #[arg(long, requires = "headless")]
    pub json: bool,
    /// Journal file (default `./cutover-journal/<time>-<runbook>.jsonl`).
    #[arg(long, value_name = "PATH", conflicts_with = "resume")]
    pub journal: Option<PathBuf>,
    /// Continue the run recorded in this journal.
    #[arg(long, value_name = "JOURNAL")]
    pub resume: Option<PathBuf>,
    /// Run the runbook over every member of this fleet file: the lanes cockpit on a detached
    /// fleet engine, or --headless (`--journal` and `--resume` then name the fleet journal).
    #[arg(long, value_name = "FLEET.toml")]
    pub fleet: Option<PathBuf>,
    /// On --resume: accept a runbook that changed since the journal started.
    #[arg(long, requires = "resume")]
    pub accept_changed_runbook: bool,
    /// On --resume: accept a --var that changes a var the run had (the run keeps its own vars
    /// otherwise).
    #[arg(long, requires = "resume")]
    pub accept_changed_vars: bool,
    /// On --resume --headless: re-run a step that was interrupted.
    #[arg(long, requires = "resume")]
    pub rerun_interrupted: bool,
    /// With --rerun-interrupted: when the interrupted attempt's process group is still running,
    /// stop it first (SIGTERM, then SIGKILL) instead of refusing.
    #[arg(long, requires = "rerun_interrupted")]
    pub kill_interrupted: bool,
    /// Answer confirm steps with their word (headless rehearsals only; never the default).
    #[arg(long)]
    pub assume_yes: bool,
    /// With --headless: sign off an approve step's ROLE as NAME (`--assume-yes` never does).
    #[arg(long = "approve", value_name = "ROLE=NAME", value_parser = parse_var)]
    pub approvals: Vec<(String, String)>,
    /// Override or add a `[vars]` entry.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// With --headless: start even when preflight finds something that stops the run; the
    /// reason is journaled (the cockpit asks for it with `s`).
    #[arg(long, value_name = "REASON", requires = "headless", value_parser = parse_reason)]
    pub skip_preflight: Option<String>,
    /// Theme name or file.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// Diagnostics log file (default: next to the journal, `<journal>.log`).
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
    /// Let members of this unix group watch the run (`cutover watch --owner YOU ID`).
    #[arg(long, value_name = "GROUP")]
    pub share_group: Option<String>,
    /// Keep a Prometheus textfile up to date with the run (steps, lag, reconcile, plan), for
    /// node_exporter's textfile collector.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// A fault `cutover drill --fault` injects mid-drill, to rehearse the rollback.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum FaultArg {
    /// Disable the subscription (and flood the WAL) after the first lag gate: the lag trigger fires.
    Lag,
    /// Corrupt rows on the target once writes are frozen: the reconcile gate blocks.
    Mismatch,
    /// Make the sequence-sync step fail.
    StepFail,
}

/// `cutover drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Rows in pgbench_accounts on the source.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub rows: u64,
    /// Write load against the source, in transactions per second (pgbench -R).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tps: u32,
    /// No TUI: one line per event on stdout (as `run --headless`).
    #[arg(long)]
    pub headless: bool,
    /// With --headless: one JSON object per event.
    #[arg(long, requires = "headless")]
    pub json: bool,
    /// Answer confirmations in a headless drill, and yes to installing PostgreSQL when it is missing.
    #[arg(long)]
    pub assume_yes: bool,
    /// Inject a fault mid-drill to rehearse the rollback.
    #[arg(long, value_enum)]
    pub fault: Option<FaultArg>,
    /// Leave the clusters running afterwards and print how to connect and how to stop them.
    #[arg(long)]
    pub keep: bool,
    /// Directory of the PostgreSQL server binaries (else PG_BINDIR, PATH, /usr/lib/postgresql/*/bin, /usr/local/pgsql/bin).
    #[arg(long, value_name = "DIR")]
    pub pg_bindir: Option<PathBuf>,
    /// Where the drill keeps its journal, diagnostics log, load log and runbook copy
    /// (default `./cutover-drill/<time>`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Journal file (default `<dir>/journal.jsonl`).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Run this runbook instead of the built-in runbooks/drill.toml (it gets the same vars).
    #[arg(long, value_name = "PATH")]
    pub runbook: Option<PathBuf>,
    /// Override or add a `[vars]` entry (after the drill's own).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Theme name or file.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// Let members of this unix group watch the drill (`cutover watch --owner YOU ID`).
    #[arg(long, value_name = "GROUP", conflicts_with = "headless")]
    pub share_group: Option<String>,
    /// Rehearse a fleet: N disposable pairs, each a member running the drill's runbook
    /// (member m1 the canary), in the lanes cockpit or as `run --fleet --headless` would.
    #[arg(long, value_name = "N", conflicts_with_all = ["fault", "keep", "journal", "share_group"],
          value_parser = clap::value_parser!(u32).range(1..=8))]
    pub fleet: Option<u32>,
}

/// A reason the operator gives: one line of text, not blank.
pub fn parse_reason(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("a reason is required (it is journaled)".into());
    }
    if s.chars().any(char::is_control) {
        return Err("the reason must be one line of text, without control characters".into());
    }
    Ok(s.to_string())
}

/// `KEY=VALUE` of `--var` and `--approve`.
pub fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// The runbook at `path`, loaded with the `--var` overrides `vars` (of a key given twice, the
/// last).
pub fn load_runbook(path: &Path, vars: &[(String, String)]) -> Result<Runbook, LoadError> {
    let vars: BTreeMap<String, String> = vars.iter().cloned().collect();
    Runbook::load(path, &vars)
}

impl From<FaultArg> for cutover_drill::fault::Fault {
    fn from(f: FaultArg) -> Self {
        match f {
            FaultArg::Lag => Self::Lag,
            FaultArg::Mismatch => Self::Mismatch,
            FaultArg::StepFail => Self::StepFail,
        }
    }
}
