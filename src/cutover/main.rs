//! The `cutover` binary: the command line, the headless printer, and the wiring of the
//! engine to a front end. (Every folder beside this one under `src/` is a library crate; see
//! ARCHITECTURE.md.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr, eyre};

mod attach;
mod calibrate;
mod cli;
mod drill;
mod drill_fleet;
mod drill_plan;
mod exit;
mod fleet_attach;
mod fleet_cmd;
mod fleet_journal;
mod fleet_run;
mod fleet_serve;
mod headless;
mod init_cmd;
mod limits;
mod log;
mod new_file;
mod notify_cmd;
mod preflight_cmd;
mod reconcile_cmd;
mod report;
mod say;
mod serve;
mod serve_drill;

use cli::{Cli, Cmd, RunArgs};
use cutover_cockpit::tui::theme::Theme;
use cutover_engine::journal;
use cutover_engine::{Engine, EngineOptions, JournalChoice};
use cutover_model::protocol::{Event, Operator};
use cutover_model::runbook::{LoadError, Runbook};
use exit::{Exit, Failure, Outcome};
use headless::HeadlessOptions;

fn main() -> ExitCode {
    // The detached engine forks off first, while this process has one thread.
    if std::env::args().nth(1).as_deref() == Some("serve-engine") {
        return serve::main().into();
    }
    if let Err(e) = color_eyre::install() {
        say::err(&format!("cutover: {e}"));
    }
    let cli = Cli::parse();
    let outcome: Outcome = match cli.command {
        Cmd::Check {
            files,
            connect,
            vars,
            fleet,
        } => {
            let vars = vars.into_iter().collect();
            match fleet {
                Some(fleet) => fleet_cmd::check(&files, &fleet, connect, &vars),
                None => check(&files, connect, &vars),
            }
        }
        Cmd::Run(args) => run(args),
        Cmd::Drill(args) => drill::main(args),
        Cmd::Attach {
            id,
            take_over,
            theme,
        } => attach::attach(id, take_over, theme),
        Cmd::Watch {
            id,
            json,
            owner,
            theme,
        } => attach::watch(id, json, owner, theme),
        Cmd::Ls => attach::ls(),
        Cmd::Calibrate {
            runbook,
            journals,
            p,
            write,
            force,
        } => calibrate::main(&runbook, &journals, p, write, force),
        Cmd::Report {
            journals,
            out,
            json,
        } => report::main(&journals, out.as_deref(), json),
        Cmd::Reconcile(args) => reconcile_cmd::main(args),
        Cmd::Preflight(args) => preflight_cmd::main(args),
        Cmd::Notify(args) => notify_cmd::main(args),
        Cmd::Init(args) => init_cmd::main(args),
        Cmd::ServeEngine => Ok(serve::main()),
    };
    // The one place a failure is said: after everything the command printed.
    exit::said(outcome).into()
}

/// `cutover check RUNBOOK...`: each runbook loaded (and with `connect`, preflighted); every
/// error is said as it is found, and the next runbook checked.
fn check(files: &[PathBuf], connect: bool, overrides: &BTreeMap<String, String>) -> Outcome {
    let mut ok = true;
    for f in files {
        match Runbook::load(f, overrides) {
            Ok(rb) => {
                let n = rb.steps.len();
                let line = format!(
                    "{}: ok ({n} step{})",
                    f.display(),
                    if n == 1 { "" } else { "s" }
                );
                if !say::out(&line) {
                    return Err(Failure::new(
                        Exit::Invalid,
                        "cutover: cannot write the result to stdout",
                    ));
                }
                for note in &rb.notes {
                    say::err(&format!("warning: {note}"));
                }
                if connect {
                    let args = preflight_cmd::PreflightArgs {
                        runbook: f.clone(),
                        vars: overrides
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        approvals: Vec::new(),
                        journal: None,
                        metrics_file: None,
                        json: false,
                    };
                    // Said here: the next runbook's lines follow it.
                    ok &= exit::said(preflight_cmd::main(args)) == Exit::Ok;
                }
            }
            Err(e) => {
                ok = false;
                say::err(&e.to_string());
            }
        }
    }
    Ok(Exit::unless(ok, Exit::Invalid))
}

/// The journal `run --resume` continues, read once for what the run takes from it before the
/// engine reads it (the directory, the runbook, the vars).
type Resuming = Option<Result<journal::Contents, journal::JournalError>>;

/// The first session's start in `read`.
fn first_start(read: &journal::Contents) -> Option<&cutover_model::protocol::RunInfo> {
    read.records.iter().find_map(|r| match &r.event {
        Event::RunStarted { run } => Some(run.as_ref()),
        _ => None,
    })
}

/// The runbook path recorded in the journal at `path` (read as `read`).
fn runbook_of_journal(
    path: &Path,
    read: &Result<journal::Contents, journal::JournalError>,
) -> Result<PathBuf, Failure> {
    let read = read
        .as_ref()
        .map_err(|e| Failure::new(Exit::Failed, format!("cutover: {e}")))?;
    first_start(read)
        .map(|run| PathBuf::from(&run.runbook))
        .ok_or_else(|| {
            Failure::from(eyre!(
                "journal {} has no run_started record",
                path.display()
            ))
        })
}

/// A resume runs where its run started (the journal keeps the directory): its steps'
/// relative paths (`sh ./step.sh`, `psql -f sql/03.sql`) and its runbook's, if relative, are
/// read from there, and from anywhere else they would find other files, or none. So a resume
/// from another directory moves there first, its own path arguments made absolute, and says
/// so; a directory that is gone is only said.
fn resume_where_it_ran(args: &mut RunArgs, resuming: &Resuming) -> Result<(), Failure> {
    let Some(started) = resuming
        .as_ref()
        .and_then(|read| read.as_ref().ok())
        .and_then(first_start)
        .and_then(|run| run.started_in.clone())
    else {
        return Ok(());
    };
    // Shown on a terminal: a directory's name may hold anything.
    let shown = cutover_model::text::plain(&started).into_owned();
    let (Ok(there), Ok(here)) = (
        std::fs::canonicalize(&started),
        std::env::current_dir().and_then(std::fs::canonicalize),
    ) else {
        say::err(&format!(
            "cutover: the run started in {shown}, which is gone: its steps read relative paths from here"
        ));
        return Ok(());
    };
    if there == here {
        return Ok(());
    }
    let absolute = |p: &mut Option<PathBuf>| {
        if let Some(path) = p.as_mut()
            && let Ok(abs) = std::path::absolute(&*path)
        {
            *path = abs;
        }
    };
    for p in [
        &mut args.runbook,
        &mut args.journal,
        &mut args.resume,
        &mut args.log,
        &mut args.metrics_file,
    ] {
        absolute(p);
    }
    // A theme named by a file here stays that file.
    if let Some(theme) = args.theme.as_mut()
        && Path::new(theme.as_str()).is_file()
        && let Ok(abs) = std::path::absolute(theme.as_str())
    {
        *theme = abs.display().to_string();
    }
    std::env::set_current_dir(&there).map_err(|e| {
        Failure::new(
            Exit::Invalid,
            format!("cutover: the run started in {shown}, where it resumes: cannot go there: {e}"),
        )
    })?;
    say::err(&format!(
        "cutover: resuming in {shown}, where the run started (its steps' relative paths are read there)"
    ));
    Ok(())
}

/// The vars a resumed run starts from: the ones its journal's latest session ran with, then
/// `given` (`--var`) on top. A value the journal keeps masked (it held a password) must be
/// given again.
fn resume_vars(
    read: &Result<journal::Contents, journal::JournalError>,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let read = read.as_ref().map_err(ToString::to_string)?;
    let mut vars = read
        .records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::RunStarted { run } if !run.vars.is_empty() => Some(run.vars.clone()),
            _ => None,
        })
        .unwrap_or_default();
    for (k, v) in given {
        vars.insert(k.clone(), v.clone());
    }
    let masked: Vec<&String> = vars
        .iter()
        .filter(|(_, v)| v.contains(cutover_model::secrets::MASK))
        .map(|(k, _)| k)
        .collect();
    if !masked.is_empty() {
        let list = masked
            .iter()
            .map(|k| format!("--var {k}=…"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(format!(
            "cutover: the journal keeps these vars masked (they held a password): give them again: {list}"
        ));
    }
    Ok(vars)
}

/// `cutover run`: one runbook (headless, or in the cockpit on a detached engine), or a fleet.
fn run(mut args: RunArgs) -> Outcome {
    if let Some(fleet) = &args.fleet {
        return run_fleet(&args, fleet);
    }
    let resuming: Resuming = args.resume.as_deref().map(journal::read);
    resume_where_it_ran(&mut args, &resuming)?;
    let (runbook_path, overrides, rb) = load_for_run(&args, &resuming)?;
    refuse_early(&rb, &runbook_path, &args)
        .map_err(|why| Failure::new(Exit::Invalid, format!("cutover: {why}")))?;
    // Everything that can go wrong before the terminal is taken over is reported plainly.
    let theme = cockpit_theme(&args)?;
    let files = run_files(&args, &rb)?;
    match theme {
        Some(theme) => run_in_cockpit(&args, runbook_path, overrides, files, theme),
        None => run_headless(&args, rb, files),
    }
}

/// A runbook to run: its path, the vars it runs with, and the runbook loaded with them.
type ToRun = (PathBuf, BTreeMap<String, String>, Runbook);

/// `run --fleet`: headless, or the lanes cockpit on a detached fleet engine.
fn run_fleet(args: &RunArgs, fleet: &Path) -> Outcome {
    let Some(runbook) = &args.runbook else {
        return Err(Failure::new(
            Exit::Invalid,
            "cutover: run --fleet needs the RUNBOOK (and --resume FLEET-JOURNAL to continue)",
        ));
    };
    // Flags a fleet does not take are refused, not silently dropped.
    for (given, flag) in [
        (args.metrics_file.is_some(), "--metrics-file"),
        (args.share_group.is_some(), "--share-group"),
        (args.log.is_some(), "--log"),
    ] {
        if given {
            return Err(Failure::new(
                Exit::Invalid,
                format!(
                    "cutover: run --fleet does not take {flag} (a fleet's log is beside its journal, <stem>.log)"
                ),
            ));
        }
    }
    let fleet_args = fleet_run::FleetArgs {
        runbook: runbook.clone(),
        fleet: fleet.to_path_buf(),
        overrides: args.vars.iter().cloned().collect(),
        accept_changed_runbook: args.accept_changed_runbook,
        accept_changed_vars: args.accept_changed_vars,
        journal: args.resume.clone().or_else(|| args.journal.clone()),
        resume: args.resume.is_some(),
    };
    match cockpit_theme(args)? {
        Some(theme) => fleet_serve::start_and_attach(fleet_args, theme, false),
        None => fleet_run::run(fleet_args, headless_options(args)),
    }
}

/// How the headless driver answers, from `run`'s flags.
fn headless_options(args: &RunArgs) -> HeadlessOptions {
    HeadlessOptions {
        json: args.json,
        assume_yes: args.assume_yes,
        approvals: args.approvals.clone(),
        rerun_interrupted: args.rerun_interrupted,
        kill_interrupted: args.kill_interrupted,
        skip_preflight: args.skip_preflight.clone(),
    }
}

/// The runbook `run` runs (or the one its `--resume` journal ran), with the vars it runs
/// with: the journal's, then `--var` on top; refused, and why.
fn load_for_run(args: &RunArgs, resuming: &Resuming) -> Result<ToRun, Failure> {
    let runbook_path = match (&args.runbook, &args.resume, resuming) {
        (Some(p), _, _) => p.clone(),
        (None, Some(j), Some(read)) => runbook_of_journal(j, read)?,
        (None, _, _) => {
            return Err(Failure::new(
                Exit::Invalid,
                "cutover: run needs a RUNBOOK (or --resume JOURNAL)",
            ));
        }
    };
    let given: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    // A resumed run keeps the vars it ran with (its hosts and DSNs); a --var changes one only
    // when accepted (the engine compares).
    let overrides = match resuming {
        Some(read) => {
            resume_vars(read, &given).map_err(|message| Failure::new(Exit::Invalid, message))?
        }
        None => given,
    };
    match Runbook::load(&runbook_path, &overrides) {
        Ok(rb) => Ok((runbook_path, overrides, rb)),
        Err(e @ LoadError::Invalid(_)) | Err(e @ LoadError::Io { .. }) => {
            Err(Failure::new(Exit::Invalid, e.to_string()))
        }
    }
}

/// The cockpit's theme, or `None` headless; the cockpit needs a terminal on stdin and stdout.
fn cockpit_theme(args: &RunArgs) -> Result<Option<Theme>, Failure> {
    use std::io::IsTerminal;
    if args.headless {
        return Ok(None);
    }
    let theme = attach::theme(args.theme.as_deref())?;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Failure::new(
            Exit::Invalid,
            "cutover: the cockpit needs a terminal; for CI or scripts run with --headless (add --assume-yes to answer confirmations in a rehearsal)",
        ));
    }
    Ok(Some(theme))
}

/// The files a run writes: its journal (new or resumed), its log and its metrics file.
struct RunFiles {
    journal: JournalChoice,
    journal_path: PathBuf,
    log_path: PathBuf,
    metrics_file: Option<PathBuf>,
}

/// Where the run's journal, log and metrics file go; refused (and said why) when they are the
/// same file.
fn run_files(args: &RunArgs, rb: &Runbook) -> Result<RunFiles, Failure> {
    let journal = match &args.resume {
        Some(j) => JournalChoice::Resume(j.clone()),
        None => JournalChoice::New(
            args.journal
                .clone()
                .unwrap_or_else(|| journal::default_path(&rb.name, chrono::Utc::now())),
        ),
    };
    let journal_path = match &journal {
        JournalChoice::New(p) | JournalChoice::Resume(p) => p.clone(),
    };
    let log_path = args
        .log
        .clone()
        .unwrap_or_else(|| log::default_path(&journal_path));
    if let Err(e) = log::check_apart(&log_path, &journal_path) {
        return Err(Failure::new(Exit::Invalid, format!("cutover: {e}")));
    }
    let metrics_file = args
        .metrics_file
        .as_deref()
        .map(|m| metrics_apart(m, &[&journal_path, &log_path]))
        .transpose()
        .map_err(|e| Failure::new(Exit::Invalid, format!("cutover: {e}")))?;
    Ok(RunFiles {
        journal,
        journal_path,
        log_path,
        metrics_file,
    })
}

/// The cockpit: the run belongs to a detached engine; this terminal attaches to it.
fn run_in_cockpit(
    args: &RunArgs,
    runbook: PathBuf,
    overrides: BTreeMap<String, String>,
    files: RunFiles,
    theme: Theme,
) -> Outcome {
    let spec = serve::EngineSpec::Run(serve::RunSpec {
        runbook,
        overrides,
        journal: files.journal_path,
        resume: args.resume.is_some(),
        accept_changed: args.accept_changed_runbook,
        accept_changed_vars: args.accept_changed_vars,
        log: files.log_path.clone(),
        share_group: args.share_group.clone(),
        operator: Operator::from_env(),
        metrics_file: files.metrics_file,
    });
    match serve::start(&spec, &files.log_path, say::err) {
        Ok(ready) => attach::cockpit(&ready.socket, &ready.id, false, theme, &ready.leaving),
        Err((message, exit)) => Err(Failure::new(exit, message)),
    }
}

/// The run with no operator, in this process, printing its events.
fn run_headless(args: &RunArgs, rb: Runbook, files: RunFiles) -> Outcome {
    let engine = match Engine::prepare(
        rb,
        EngineOptions {
            journal: files.journal,
            accept_changed_runbook: args.accept_changed_runbook,
            accept_changed_vars: args.accept_changed_vars,
            operator: Operator::from_env(),
            metrics_file: files.metrics_file,
            also_masked: Vec::new(),
        },
    ) {
        Ok(e) => e,
        Err(e) if e.is_refusal() => {
            return Err(Failure::new(Exit::Invalid, format!("cutover: {e}")));
        }
        Err(e) => Err(e).wrap_err("cannot start the run")?,
    };
    if let Some(why) = log::init(&files.log_path, engine.masker()) {
        say::err(&format!("cutover: {why}"));
    }
    let rt = serve::runtime().map_err(color_eyre::eyre::Report::from)?;
    let opts = headless_options(args);
    let ended = rt.block_on(async {
        let stop = headless::stop_signals()?;
        let mut stdout = std::io::stdout();
        headless::drive(engine, opts, &mut stdout, stop)
            .await
            .map_err(color_eyre::eyre::Report::from)
    })?;
    Ok(Exit::of_run(ended.outcome))
}

/// `--metrics-file` made absolute (the detached engine does not share this directory), and
/// refused when it is one of the run's own files: each rewrite renames over it.
fn metrics_apart(metrics: &Path, own: &[&Path]) -> Result<PathBuf, String> {
    let full = |p: &Path| -> PathBuf {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match (abs.parent(), abs.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or(abs.clone()),
            _ => abs,
        }
    };
    let m = full(metrics);
    if own.iter().any(|o| full(o) == m) {
        return Err(format!(
            "--metrics-file {}: is the run's journal or log; give a file of its own",
            metrics.display()
        ));
    }
    Ok(m)
}

/// What `run` refuses before anything else is set up: a runbook without steps, a sign-off
/// given up front that the run would refuse at its step (after the steps before it ran), a
/// `--share-group` that does not exist.
fn refuse_early(rb: &Runbook, path: &Path, args: &RunArgs) -> Result<(), String> {
    if rb.steps.is_empty() {
        return Err(format!(
            "{} has no [[step]]: a run needs at least one (run, sql, wait, confirm, approve, sync_sequences or repair); its checks run with cutover reconcile",
            path.display()
        ));
    }
    rb.check_sign_offs(&args.approvals)?;
    match &args.share_group {
        Some(g) if serve::group_id(g).is_none() => Err(format!("--share-group {g}: no such group")),
        _ => Ok(()),
    }
}
