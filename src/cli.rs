//! Command-line interface (DESIGN §1).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A terminal cockpit for database-migration cutover day.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a runbook (the cockpit, or --headless).
    Run(RunArgs),
    /// Validate runbooks; errors as file:line:col with the line quoted. Exit 0 valid, 2 invalid.
    Check {
        /// Runbook files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
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
    /// Journal file (default ./cutover-journal/<time>-<runbook>.jsonl).
    #[arg(long, value_name = "PATH", conflicts_with = "resume")]
    pub journal: Option<PathBuf>,
    /// Continue the run recorded in this journal.
    #[arg(long, value_name = "JOURNAL")]
    pub resume: Option<PathBuf>,
    /// On --resume: accept a runbook that changed since the journal started.
    #[arg(long, requires = "resume")]
    pub accept_changed_runbook: bool,
    /// On --resume --headless: re-run a step that was interrupted.
    #[arg(long, requires = "resume")]
    pub rerun_interrupted: bool,
    /// Answer confirm steps with their word (headless rehearsals only; never the default).
    #[arg(long)]
    pub assume_yes: bool,
    /// Override or add a [vars] entry.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Theme name or file.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// Diagnostics log file (default: next to the journal, `<journal>.log`).
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}
