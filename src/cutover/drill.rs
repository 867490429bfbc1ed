//! `cutover drill` from start to end: binaries, the drill's world, the run, faults, signals,
//! and cleanup. Headless, all of it happens in this process; in the cockpit, the drill's
//! world and engine live in the detached engine process (see `serve.rs`), so a dropped SSH
//! session keeps the clusters, and this terminal attaches to it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use tokio::signal::unix::{SignalKind, signal};

use cutover_cockpit::tui::theme::Theme;
use cutover_drill::{Drill, DrillOptions, install};
use cutover_model::protocol::{Operator, RunOutcome};

use crate::cli::DrillArgs;
use crate::drill_plan::{DrillPlan, NotArmed};
use crate::exit::{Exit, Failure, Outcome};
use crate::headless::{self, HeadlessOptions};
use cutover_pg::conn::with_causes;

/// The signals the drill stops on (the cockpit handles SIGTERM and SIGHUP itself).
pub(crate) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The description and exit code of a signal named by the headless driver.
    fn code(name: &str) -> Option<(&'static str, Exit)> {
        match name {
            "SIGINT" => Some(("interrupted (SIGINT)", Exit::Interrupted)),
            "SIGTERM" => Some(("terminated (SIGTERM)", Exit::Terminated)),
            "SIGHUP" => Some(("hung up (SIGHUP)", Exit::HungUp)),
            _ => None,
        }
    }

    /// The next of SIGINT, SIGTERM, SIGHUP, by name.
    async fn any_name(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }

    /// The next of SIGINT, SIGTERM, SIGHUP: its description and exit code.
    pub(crate) async fn any(&mut self) -> (&'static str, Exit) {
        tokio::select! {
            _ = self.int.recv() => ("interrupted (SIGINT)", Exit::Interrupted),
            _ = self.term.recv() => ("terminated (SIGTERM)", Exit::Terminated),
            _ = self.hup.recv() => ("hung up (SIGHUP)", Exit::HungUp),
        }
    }
}

/// Prints a drill message on stderr (never inside the cockpit: only before and after it).
/// Never panics: after a SIGHUP the terminal may be gone, and cleanup must still happen.
pub(crate) fn say(start: Instant, msg: &str) {
    err(&format!(
        "cutover drill [{:>5.1}s] {msg}\n",
        start.elapsed().as_secs_f64()
    ));
}

/// Writes to stderr, ignoring failure (unlike `eprintln!`, which panics).
fn err(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Runs `cutover drill`; returns the exit code.
pub fn main(args: DrillArgs) -> Outcome {
    let start = Instant::now();
    // Everything that can be refused is refused before anything is created.
    let theme = if args.headless {
        None
    } else {
        let theme = crate::attach::theme(args.theme.as_deref())?;
        if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
            return Err(Failure::new(
                Exit::Invalid,
                "cutover drill: the cockpit needs a terminal; for CI or scripts run with --headless --assume-yes",
            ));
        }
        Some(theme)
    };
    let bin = install::find_or_install(
        args.pg_bindir.as_deref(),
        args.assume_yes,
        &mut std::io::stderr(),
    )
    .map_err(|e| Failure::new(Exit::Invalid, format!("cutover drill: {e}")))?;
    // Nothing exists yet: a refusal is said by `main`, once. Later failures are said on the
    // spot, because the lines saying the clusters are stopped and removed follow them.
    let (dir, runbook_path) = work_dir(&args)
        .map_err(|why| Failure::new(Exit::Invalid, format!("cutover drill: {why}")))?;
    let journal = args
        .journal
        .clone()
        .unwrap_or_else(|| dir.join("journal.jsonl"));
    let plan = DrillPlan {
        rows: args.rows,
        tps: args.tps,
        dir: dir.clone(),
        runbook: runbook_path,
        journal,
        fault: args.fault,
        vars: args.vars.clone(),
        keep: args.keep,
        bindir: bin.dir().to_path_buf(),
        share_group: args.share_group.clone(),
        operator: Operator::from_env(),
    };
    say(
        start,
        &format!(
            "PostgreSQL {} from {} · work dir {}",
            bin.major_version().map_or("?".into(), |v| v.to_string()),
            bin.dir().display(),
            dir.display()
        ),
    );
    if let Some(n) = args.fleet {
        return crate::drill_fleet::run(start, &args, n, bin, &plan, theme);
    }
    match theme {
        Some(theme) => cockpit(start, &plan, theme),
        None => headless_drill(start, &args, &plan, bin),
    }
}

/// The drill's work directory (created; `--dir`, else `cutover-drill/<now>`) and its runbook
/// (`--runbook`, else the built-in one written there).
fn work_dir(args: &DrillArgs) -> Result<(PathBuf, PathBuf), String> {
    let dir = args.dir.clone().unwrap_or_else(|| {
        PathBuf::from("cutover-drill")
            .join(chrono::Local::now().format("%Y%m%d-%H%M%S").to_string())
    });
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let runbook = match &args.runbook {
        Some(p) => p.clone(),
        None => {
            let p = dir.join("drill.toml");
            std::fs::write(&p, cutover_drill::RUNBOOK)
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            p
        }
    };
    Ok((dir, runbook))
}

/// The drill in the cockpit: the detached engine process builds the drill's world and runs
/// it; this terminal attaches.
fn cockpit(start: Instant, plan: &DrillPlan, theme: Theme) -> Outcome {
    let spec = crate::serve::EngineSpec::Drill(plan.clone());
    let ready = match crate::serve::start(&spec, &plan.log(), |m| say(start, m)) {
        Ok(r) => r,
        Err((message, code)) => {
            say(start, &message);
            return Ok(code);
        }
    };
    say(start, "opening the cockpit");
    crate::attach::cockpit(&ready.socket, &ready.id, false, theme, &ready.leaving)
}

/// The headless drill, all in this process.
fn headless_drill(
    start: Instant,
    args: &DrillArgs,
    plan: &DrillPlan,
    bin: cutover_drill::harness::PgBin,
) -> Outcome {
    let rt = crate::serve::client_runtime("cutover drill", Exit::Failed)?;
    let ctx = Ctx {
        args,
        plan,
        start,
        bin,
    };
    // A panic unwinds through here: the drill (clusters, load, runtime dir) is dropped on the
    // way.
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(drill(&ctx))));
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(match code {
        Ok(code) => code,
        Err(_) => {
            say(
                start,
                "the drill crashed; its clusters and load were cleaned up",
            );
            Exit::Crashed
        }
    })
}

struct Ctx<'a> {
    args: &'a DrillArgs,
    plan: &'a DrillPlan,
    start: Instant,
    bin: cutover_drill::harness::PgBin,
}

/// How the drill's run phase ended.
enum Ended {
    Outcome(Option<RunOutcome>),
    Signal(&'static str, Exit),
    Failed(String),
    Invalid(String),
}

async fn drill(ctx: &Ctx<'_>) -> Exit {
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            err(&format!(
                "cutover drill: cannot install signal handlers: {e}\n"
            ));
            return Exit::Failed;
        }
    };
    let args = ctx.args;
    let opts = DrillOptions {
        rows: args.rows,
        tps: args.tps,
        log_dir: ctx.plan.dir.clone(),
    };
    let start = ctx.start;
    let mut progress = move |m: &str| say(start, m);
    let setup = Drill::setup(&ctx.bin, &opts, &mut progress);
    let drill = tokio::select! {
        r = setup => r,
        (what, code) = signals.any() => {
            say(start, &format!("{what} during set-up; everything was removed"));
            return code;
        }
    };
    let drill = match drill {
        Ok(d) => d,
        Err(e) => {
            say(start, &format!("set-up failed: {}", with_causes(&e)));
            return Exit::Failed;
        }
    };
    let ended = run_phase(ctx, &drill, &mut signals).await;
    let starts = drill.load_starts();
    let code = match ended {
        Ended::Outcome(Some(o)) => {
            let what = cutover_model::summary::text::outcome(Some(o));
            say(
                start,
                &format!(
                    "run {what} (the app's load was started {})",
                    cutover_model::narrate::count(starts, "time")
                ),
            );
            Exit::of_run(o)
        }
        Ended::Outcome(None) => {
            say(start, "the engine did not finish in time");
            Exit::Failed
        }
        Ended::Signal(name, code) => {
            say(start, &format!("{name}: stopping the drill"));
            code
        }
        Ended::Failed(msg) => {
            say(start, &msg);
            Exit::Failed
        }
        Ended::Invalid(msg) => {
            err(&format!("{msg}\n"));
            Exit::Invalid
        }
    };
    if ctx.plan.journal.exists() {
        say(start, &format!("journal {}", ctx.plan.journal.display()));
    }
    if args.keep {
        let kept = drill.keep();
        err(&kept.instructions());
    } else {
        drop(drill);
        say(start, "clusters stopped and removed, load stopped");
    }
    let _ = std::io::stderr().flush();
    code
}

async fn run_phase(ctx: &Ctx<'_>, drill: &Drill, signals: &mut Signals) -> Ended {
    let args = ctx.args;
    let start = ctx.start;
    let armed = match ctx.plan.arm(drill, &mut |m| say(start, m)).await {
        Ok(a) => a,
        Err(NotArmed::Invalid(m)) => return Ended::Invalid(m),
        Err(NotArmed::Failed(m)) => return Ended::Failed(m),
    };
    say(ctx.start, "running the drill runbook headless");
    let opts = HeadlessOptions {
        json: args.json,
        assume_yes: args.assume_yes,
        rerun_interrupted: false,
        kill_interrupted: false,
        approvals: Vec::new(),
        skip_preflight: None,
    };
    // The run ends on a signal as an abort (the step cancelled and journaled), then the drill
    // cleans up and exits with the signal's code.
    let (tx, stop) = tokio::sync::mpsc::channel(4);
    let forward = async {
        loop {
            let name = signals.any_name().await;
            if tx.send(name).await.is_err() {
                return;
            }
        }
    };
    let mut stdout = std::io::stdout();
    let drive = headless::drive(armed.engine, opts, &mut stdout, stop);
    tokio::pin!(drive);
    let r = tokio::select! {
        r = &mut drive => r,
        () = forward => return Ended::Failed("the signal handlers stopped".into()),
    };
    if let Some(i) = armed.injector {
        i.abort();
    }
    match r {
        Ok(e) => match e.signal.and_then(Signals::code) {
            Some((what, code)) => Ended::Signal(what, code),
            None => Ended::Outcome(Some(e.outcome)),
        },
        Err(e) => Ended::Failed(format!("the run failed: {e}")),
    }
}
