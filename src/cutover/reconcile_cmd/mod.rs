//! `cutover reconcile RUNBOOK [NAME...]`: the runbook's reconcile checks outside a run, once
//! or every `--every` for `--for` (the post-cutover drift watch). Each round runs the checks
//! one after the other (a production primary gets one check's load at a time), re-checks a
//! failing one after the lag drains when it asks for it, journals every result (fsynced, its
//! own journal), prints it (`--json`: one object per line), rewrites `--metrics-file`, and
//! runs `--on-fail` after a round in which a check failed.
//!
//! Exit: 0 every round passed, 1 a check failed (or could not run) in some round, 2 invalid
//! (runbook, names, flags, secrets, journal).

use cutover_engine::metrics_file as metrics;
mod on_fail;
mod repair_sql;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{Exit, Failure, Outcome};
use cutover_engine::check_run::RecheckWait;
use cutover_engine::journal::{self, Journal};
use cutover_model::protocol::{Event, Level};
use cutover_model::reconcile::ReconcileResult;
use cutover_model::runbook::units::{format_duration, parse_duration};
use cutover_model::runbook::{ReconcileCheck, Runbook};
use cutover_model::secrets::{self, Masker};
use cutover_reconcile::Options;

use crate::say;

/// The command line of `cutover reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// The runbook whose `[[reconcile]]` checks run.
    pub runbook: PathBuf,
    /// Only these checks (default: every check of the runbook).
    pub names: Vec<String>,
    /// Run the checks again every DURATION (e.g. `15m`) instead of once.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// With --every: stop after DURATION (e.g. `72h`); without it, until interrupted.
    #[arg(long = "for", value_name = "DURATION", requires = "every")]
    pub for_: Option<String>,
    /// A check with no result within DURATION (e.g. `30m`) is an error, and the round goes
    /// on: a server that stops answering (a stopped backend, a frozen host) otherwise holds a
    /// check, and a drift watch, for ever.
    #[arg(long, value_name = "DURATION")]
    pub check_timeout: Option<String>,
    /// One JSON object per line (results and rounds) instead of human lines.
    #[arg(long)]
    pub json: bool,
    /// The journal (default `./cutover-journal/<time>-<runbook>-reconcile.jsonl`).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Keep this file in the Prometheus text format (node_exporter's textfile collector).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// A shell command run after a round in which a check failed, with the round's result in
    /// its environment (`CUTOVER_RECONCILE_*`).
    #[arg(long, value_name = "CMD")]
    pub on_fail: Option<String>,
    /// Override or add a `[vars]` entry.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = crate::cli::parse_var)]
    pub vars: Vec<(String, String)>,
    /// Run the one named checksum check once and write the SQL patch that repairs what it
    /// finds to FILE (and the patch that undoes it to FILE.inverse.sql); changes nothing.
    #[arg(long, value_name = "FILE")]
    pub repair_sql: Option<PathBuf>,
    /// With --repair-sql: more differing rows than this is a reload, not a repair (refused).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "repair_sql",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_rows: u64,
}

/// The schedule: rounds every `every` until `until`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    every: Option<Duration>,
    total: Option<Duration>,
    /// `--check-timeout`: the longest one check may take.
    check_within: Option<Duration>,
}

/// Everything a round needs, checked before the first one.
struct Watch {
    rb: Runbook,
    runbook_path: PathBuf,
    checks: Vec<ReconcileCheck>,
    conns: BTreeMap<String, cutover_pg::ConnSettings>,
    opts: Options,
    masker: Masker,
    journal: Journal,
    args: ReconcileArgs,
    schedule: Schedule,
    /// The latest result of each check and when it finished (for the metrics file).
    latest: BTreeMap<String, (ReconcileResult, chrono::DateTime<chrono::Utc>)>,
    /// `changed_since` checks: when their last round and their last full comparison started.
    sweeps: BTreeMap<String, Sweep>,
}

/// A moment on both of this machine's clocks: the monotonic one (immune to the wall clock
/// being stepped) and the wall clock (which keeps counting while the machine is suspended,
/// when the monotonic one stops). Only the time between two moments is ever used.
#[derive(Debug, Clone, Copy)]
struct Moment {
    mono: std::time::Instant,
    wall: std::time::SystemTime,
}

impl Moment {
    fn now() -> Moment {
        Moment {
            mono: std::time::Instant::now(),
            wall: std::time::SystemTime::now(),
        }
    }

    /// The time since `earlier`, by whichever clock says longer: a look-back is never short
    /// (a suspended machine, a wall clock stepped back), at worst a little long.
    fn since(&self, earlier: &Moment) -> Duration {
        let mono = self.mono.saturating_duration_since(earlier.mono);
        let wall = self.wall.duration_since(earlier.wall).unwrap_or_default();
        mono.max(wall)
    }
}

/// When a `changed_since` check last compared without error, and last did so in full.
#[derive(Debug, Clone, Copy)]
struct Sweep {
    last_round: Moment,
    last_full: Moment,
}

impl Sweep {
    /// This round of a check that last swept as `prev` (`None`: never): how far back from
    /// each server's `now()` it compares (`None`: in full — the first round and every
    /// `full_every`), and the sweep to keep if it compares without error.
    fn next(prev: Option<Sweep>, now: Moment, full_every: Duration) -> (Option<Duration>, Sweep) {
        match prev {
            Some(p) if now.since(&p.last_full) < full_every => (
                Some(now.since(&p.last_round) + OVERLAP),
                Sweep {
                    last_round: now,
                    last_full: p.last_full,
                },
            ),
            _ => (
                None,
                Sweep {
                    last_round: now,
                    last_full: now,
                },
            ),
        }
    }
}

/// An incremental round reaches back this far before the previous round started
/// (transactions that committed late, `updated_at` stamped by another machine's clock).
const OVERLAP: Duration = Duration::from_secs(120);

/// Without `full_every`, a `changed_since` check is compared in full at least this often.
const DEFAULT_FULL_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Runs the command; returns the exit code.
pub fn main(args: ReconcileArgs) -> Outcome {
    if let Some(file) = args.repair_sql.clone() {
        return repair_sql::main(&args, &file);
    }
    let watch = match prepare(args) {
        Ok(w) => w,
        Err(message) => {
            return Err(Failure::new(Exit::Invalid, message));
        }
    };
    let rt = crate::serve::client_runtime("cutover reconcile", Exit::CheckFailed)?;
    rt.block_on(watch.run())
}

/// The runbook, and the checks named (every check when none is).
fn load_checks(args: &ReconcileArgs) -> Result<(Runbook, Vec<ReconcileCheck>), String> {
    let rb = crate::cli::load_runbook(&args.runbook, &args.vars).map_err(|e| e.to_string())?;
    if rb.reconcile.is_empty() {
        return Err(format!(
            "{}: the runbook has no [[reconcile]] checks",
            args.runbook.display()
        ));
    }
    let mut checks = Vec::new();
    for n in &args.names {
        match rb.reconcile.iter().find(|c| &c.name == n) {
            Some(c) if !checks.iter().any(|k: &ReconcileCheck| &k.name == n) => {
                checks.push(c.clone())
            }
            Some(_) => {}
            None => {
                let known: Vec<&str> = rb.reconcile.iter().map(|c| c.name.as_str()).collect();
                return Err(format!(
                    "{}: no reconcile check named {n:?}; the runbook has: {}",
                    args.runbook.display(),
                    known.join(", ")
                ));
            }
        }
    }
    if checks.is_empty() {
        checks = rb.reconcile.clone();
    }
    Ok((rb, checks))
}

/// The runbook's secrets, its connections resolved, and the masker of both.
type Connections = (
    BTreeMap<String, String>,
    BTreeMap<String, cutover_pg::ConnSettings>,
    Masker,
);

/// Reads the secrets and resolves the connections of `rb`.
fn connections(rb: &Runbook) -> Result<Connections, String> {
    let secrets = secrets::read_secrets(&rb.secrets).map_err(|e| e.to_string())?;
    let conns =
        cutover_pg::conn::resolve_all(&rb.connections, &secrets).map_err(|e| e.to_string())?;
    let passwords = conns
        .values()
        .filter_map(|c| c.config().get_password())
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let masker = Masker::new(secrets.values().cloned().chain(passwords));
    Ok((secrets, conns, masker))
}

/// Reads and checks everything: the runbook, the names, the durations, secrets and
/// connections, the journal.
fn prepare(args: ReconcileArgs) -> Result<Watch, String> {
    let (rb, checks) = load_checks(&args)?;
    let duration = |flag: &str, v: &Option<String>| -> Result<Option<Duration>, String> {
        match v {
            None => Ok(None),
            Some(s) => match parse_duration(s) {
                Ok(d) if d >= Duration::from_secs(1) => Ok(Some(d)),
                Ok(_) => Err(format!("--{flag} {s}: at least 1s")),
                Err(e) => Err(format!("--{flag} {s}: {e}")),
            },
        }
    };
    let schedule = Schedule {
        every: duration("every", &args.every)?,
        total: duration("for", &args.for_)?,
        check_within: duration("check-timeout", &args.check_timeout)?,
    };
    if let Some(path) = &args.metrics_file {
        metrics::check_path(path)?;
    }
    let (secrets, conns, masker) = connections(&rb)?;
    let path = match &args.journal {
        Some(p) => p.clone(),
        None => {
            let p = journal::default_path(&rb.name, chrono::Utc::now());
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
            let stem = stem.unwrap_or_default();
            // Two one-off checks in the same second each get a journal of their own.
            (1..100)
                .map(|n| match n {
                    1 => p.with_file_name(format!("{stem}-reconcile.jsonl")),
                    n => p.with_file_name(format!("{stem}-reconcile-{n}.jsonl")),
                })
                .find(|p| std::fs::symlink_metadata(p).is_err())
                .unwrap_or_else(|| p.with_file_name(format!("{stem}-reconcile.jsonl")))
        }
    };
    let journal = Journal::create(&path).map_err(|e| e.to_string())?;
    let opts = Options {
        secrets,
        ..Options::default()
    };
    Ok(Watch {
        runbook_path: args.runbook.clone(),
        rb,
        checks,
        conns,
        opts,
        masker,
        journal,
        args,
        schedule,
        latest: BTreeMap::new(),
        sweeps: BTreeMap::new(),
    })
}

impl Watch {
    /// The rounds; returns the exit code.
    async fn run(mut self) -> Outcome {
        let mut signals = match crate::headless::stop_signals() {
            Ok(s) => s,
            Err(e) => {
                return Err(Failure::new(
                    Exit::CheckFailed,
                    format!("cutover reconcile: cannot watch signals: {e}"),
                ));
            }
        };
        let opening = self.opening();
        if self.note(Level::Info, &opening).is_err() {
            return Ok(Exit::CheckFailed);
        }
        let lag = self.lag_probe();
        let started = tokio::time::Instant::now();
        // `--for` is a deadline: no round starts after it, and a round under way when it
        // passes is ended there (journaled as cut).
        let end = self.schedule.total.map(|t| started + t);
        let deadline = cutover_engine::sleep_until(end);
        tokio::pin!(deadline);
        let mut any_failed = false;
        let mut round = 0u32;
        loop {
            round += 1;
            let stop = tokio::select! {
                r = self.round(round, lag.as_ref()) => match r {
                    Ok(passed) => { any_failed |= !passed; None }
                    Err(e) => {
                        let message = format!("cutover reconcile: {e}");
                        return Err(Failure::new(Exit::CheckFailed, message));
                    }
                },
                s = signals.recv() => Some(format!("stopped by {}", s.unwrap_or("a signal"))),
                () = &mut deadline => Some(format!(
                    "cut at the --for deadline ({})",
                    self.args.for_.as_deref().unwrap_or_default()
                )),
            };
            if let Some(why) = stop {
                let _ = self.note(Level::Warn, &format!("{why} during round {round}"));
                // A watch stopped before its first round ended has checked nothing: not a pass.
                return Ok(if any_failed || round == 1 {
                    Exit::CheckFailed
                } else {
                    Exit::Ok
                });
            }
            let Some(next) = self.next_round(started, round, end) else {
                break;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                s = signals.recv() => {
                    let sig = s.unwrap_or("a signal");
                    let _ = self.note(Level::Info, &format!("stopped by {sig} after round {round}"));
                    return Ok(Exit::unless(!any_failed, Exit::CheckFailed));
                }
            }
        }
        let _ = self.note(
            Level::Info,
            &format!(
                "finished after {round} round{}: {}",
                if round == 1 { "" } else { "s" },
                if any_failed {
                    "a check failed"
                } else {
                    "every check passed"
                }
            ),
        );
        Ok(Exit::unless(!any_failed, Exit::CheckFailed))
    }

    /// The watch's first line: the runbook, the checks, how often, the journal.
    fn opening(&self) -> String {
        let names: Vec<&str> = self.checks.iter().map(|c| c.name.as_str()).collect();
        let plan = match (self.schedule.every, self.schedule.total) {
            (None, _) => "once".to_string(),
            (Some(e), None) => format!("every {} until stopped", format_duration(e)),
            (Some(e), Some(t)) => {
                format!("every {} for {}", format_duration(e), format_duration(t))
            }
        };
        format!(
            "reconcile {}: {} ({plan}); journal {}",
            self.runbook_path.display(),
            names.join(", "),
            self.journal.path().display()
        )
    }

    /// The runbook's lag probe, started when a check re-checks after lag; one that does not
    /// start is said, and re-checks wait 5s instead.
    fn lag_probe(&mut self) -> Option<cutover_probe::LagProbe> {
        match &self.rb.lag {
            Some(config) if self.checks.iter().any(|c| c.recheck_after_lag) => {
                match cutover_probe::LagProbe::spawn(cutover_probe::ProbeSpec {
                    config: config.clone(),
                    connections: self.conns.clone(),
                    secrets: self.opts.secrets.clone(),
                    // The lag command gets what it gets in a run (`$CUTOVER_VAR_X`...).
                    env: cutover_model::runbook::shell::process_env(&self.rb, &self.opts.secrets),
                }) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        let _ = self.note(
                            Level::Warn,
                            &format!(
                                "the lag probe did not start ({e}): re-checks wait 5s instead"
                            ),
                        );
                        None
                    }
                }
            }
            _ => None,
        }
    }

    /// When round `round + 1` starts (said to a human reader), or `None` when no round is
    /// left: a watch without `--every`, or the next start at or after the `--for` deadline.
    /// A round that overran its period starts the next one at once, not a pile of missed ones.
    fn next_round(
        &self,
        started: tokio::time::Instant,
        round: u32,
        end: Option<tokio::time::Instant>,
    ) -> Option<tokio::time::Instant> {
        let every = self.schedule.every?;
        let now = tokio::time::Instant::now();
        let next = (started + every * round).max(now);
        if end.is_some_and(|e| next >= e) {
            return None;
        }
        self.say_human(&format!(
            "next round at {}",
            (chrono::Local::now()
                + chrono::Duration::from_std(next.saturating_duration_since(now))
                    .unwrap_or_default())
            .format("%H:%M:%S")
        ));
        Some(next)
    }

    /// What a failing check waits for before its re-check: the lag probe, or 5s when the
    /// runbook has `[lag]` but its probe did not start; without `[lag]` nothing is known to be
    /// in flight, so the re-check follows at once.
    fn recheck_wait(&self, lag: Option<&cutover_probe::LagProbe>) -> RecheckWait {
        match (lag, &self.rb.lag) {
            (Some(probe), _) => RecheckWait::Lag(probe.subscribe()),
            (None, Some(_)) => RecheckWait::Delay(cutover_engine::check_run::RECHECK_DELAY),
            (None, None) => RecheckWait::Immediately,
        }
    }

    /// One round: every check, one after the other. Returns whether all passed.
    async fn round(
        &mut self,
        number: u32,
        lag: Option<&cutover_probe::LagProbe>,
    ) -> Result<bool, String> {
        let mut results = Vec::new();
        for check in self.checks.clone() {
            if let Some(result) = self.check(number, &check, lag).await? {
                results.push(result);
            }
        }
        let failed: Vec<&ReconcileResult> = results.iter().filter(|r| !r.passed()).collect();
        let line = format!(
            "round {number}: {} passed, {} failed",
            results.len() - failed.len(),
            failed.len()
        );
        self.note(
            if failed.is_empty() {
                Level::Info
            } else {
                Level::Warn
            },
            &line,
        )?;
        if self.args.json {
            let v = serde_json::json!({
                "type": "round_finished", "round": number,
                "at": chrono::Utc::now().to_rfc3339(),
                "passed": results.len() - failed.len(), "failed": failed.len(),
            });
            say::out(&v.to_string());
        }
        self.write_metrics();
        if !failed.is_empty()
            && let Some(cmd) = self.args.on_fail.clone()
        {
            let file = self.failed_results_file(number, &failed);
            let round = on_fail::Round {
                runbook: &self.runbook_path,
                journal: self.journal.path(),
                number,
                results: &results,
                results_file: &file,
            };
            let said = on_fail::run(&cmd, &round, &self.masker).await;
            self.note(Level::Info, &said)?;
        }
        Ok(failed.is_empty())
    }

    /// Runs one check of round `number`: journaled (its long values filed), shown, kept as
    /// the latest; `None` when a connection it names is missing.
    async fn check(
        &mut self,
        number: u32,
        check: &ReconcileCheck,
        lag: Option<&cutover_probe::LagProbe>,
    ) -> Result<Option<ReconcileResult>, String> {
        let planned = self.since(check);
        let since = planned.and_then(|(lookback, _)| lookback);
        let (Some(source), Some(target)) =
            (self.conns.get(&check.source), self.conns.get(&check.target))
        else {
            return Ok(None);
        };
        let run = cutover_engine::check_run::run(
            check,
            source,
            target,
            &self.opts,
            since,
            self.recheck_wait(lag),
            &cutover_reconcile::no_progress,
        );
        let mut result = match self.schedule.check_within {
            None => run.await,
            // Dropping the check closes its sessions; the servers end its queries when they
            // notice (client_connection_check_interval).
            Some(within) => tokio::time::timeout(within, run).await.unwrap_or_else(|_| {
                let mut r = ReconcileResult::new(&check.name, check.kind);
                r.error = Some(format!(
                    "no result within {} (--check-timeout): a server that stopped answering, or a lock that is not given up",
                    format_duration(within)
                ));
                r
            }),
        };
        // A round that could not compare moves nothing on: the next one reaches back to
        // the last one that did (and a failed full round is tried again).
        if let Some((_, sweep)) = planned
            && result.error.is_none()
        {
            self.sweeps.insert(check.name.clone(), sweep);
        }
        let dir = journal::output_dir_for(self.journal.path());
        cutover_engine::values_file::write(&dir, &self.masker, &mut result);
        let event = cutover_engine::masking::mask_event(
            &self.masker,
            Event::ReconcileResult {
                result: Box::new(result),
                restored: false,
            },
        );
        self.journal.append(&event).map_err(|e| e.to_string())?;
        let Event::ReconcileResult { result, .. } = event else {
            return Ok(None);
        };
        self.show(number, &result);
        self.latest
            .insert(result.name.clone(), (*result.clone(), chrono::Utc::now()));
        Ok(Some(*result))
    }

    /// Rewrites `--metrics-file` with each check's latest result; a failure is said, and the
    /// watch goes on.
    fn write_metrics(&mut self) {
        let Some(path) = self.args.metrics_file.clone() else {
            return;
        };
        let latest: Vec<(ReconcileResult, chrono::DateTime<chrono::Utc>)> = self
            .checks
            .iter()
            .filter_map(|c| self.latest.get(&c.name).cloned())
            .collect();
        if let Err(e) = metrics::write(&path, &metrics::checks::render(&self.rb.name, &latest)) {
            let _ = self.note(
                Level::Warn,
                &format!("cannot write the metrics file {}: {e}", path.display()),
            );
        }
    }

    /// For a `changed_since` check: how far back from each server's `now()` this round
    /// compares (`None`: in full), and the sweep to record once it compared without error
    /// ([`Sweep::next`]); `None` for a check without `changed_since`.
    fn since(&self, check: &ReconcileCheck) -> Option<(Option<Duration>, Sweep)> {
        check.changed_since.as_ref()?;
        let full_every = check.full_every.unwrap_or(DEFAULT_FULL_EVERY);
        let prev = self.sweeps.get(&check.name).copied();
        Some(Sweep::next(prev, Moment::now(), full_every))
    }

    /// Writes the round's failing results (masked, as journaled) as JSON next to the journal
    /// for `--on-fail`; returns its path.
    fn failed_results_file(&self, number: u32, failed: &[&ReconcileResult]) -> PathBuf {
        let dir = journal::output_dir_for(self.journal.path());
        let path = dir.join(format!("round-{number}-failed.json"));
        let text = serde_json::to_string_pretty(failed).unwrap_or_default();
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| cutover_engine::files::write_replacing(&path, &text, 0o600));
        if let Err(e) = written {
            say::err(&format!(
                "cutover reconcile: cannot write {}: {e}",
                path.display()
            ));
        }
        path
    }

    /// Prints a result: a human line (and its first differences) or one JSON object.
    fn show(&self, round: u32, result: &ReconcileResult) {
        if self.args.json {
            let v = serde_json::json!({
                "type": "reconcile_result", "round": round,
                "at": chrono::Utc::now().to_rfc3339(), "result": result,
            });
            say::out(&v.to_string());
        } else if let Some(text) =
            crate::headless::reconcile_line(result, false, false, &crate::headless::clock())
        {
            say::out(&text);
        }
    }

    /// Journals a notice and says it (human output: on stdout; JSON: as an object), masked
    /// once here for all three: a notice may quote a command's output or an error that holds
    /// a secret.
    fn note(&mut self, level: Level, message: &str) -> Result<(), String> {
        let message = self.masker.mask(message).into_owned();
        let message = message.as_str();
        let event = Event::Notice {
            level,
            message: message.to_string(),
        };
        self.journal.append(&event).map_err(|e| {
            let m = format!("cannot write the journal: {e}");
            say::err(&format!("cutover reconcile: {m}"));
            m
        })?;
        if self.args.json {
            let v = serde_json::json!({
                "type": "notice", "at": chrono::Utc::now().to_rfc3339(),
                "level": level, "message": message,
            });
            say::out(&v.to_string());
        } else {
            self.say_human(message);
        }
        Ok(())
    }

    /// A human line with the clock (nothing in `--json` mode).
    fn say_human(&self, message: &str) {
        if !self.args.json {
            say::out(&format!(
                "{}   {}",
                crate::headless::clock(),
                self.masker.mask(message)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Instant, SystemTime};

    fn at(mono: Instant, wall: SystemTime) -> Moment {
        Moment { mono, wall }
    }

    #[test]
    fn the_look_back_counts_a_suspend_and_survives_a_clock_stepped_back() {
        let (m0, w0) = (Instant::now(), SystemTime::now());
        let before = at(m0, w0);
        // Suspended for an hour: the monotonic clock saw 10 s, the wall clock an hour.
        let after_suspend = at(m0 + Duration::from_secs(10), w0 + Duration::from_secs(3600));
        assert_eq!(after_suspend.since(&before), Duration::from_secs(3600));
        // The wall clock stepped back a minute: the monotonic 10 s still count.
        let stepped_back = at(m0 + Duration::from_secs(10), w0 - Duration::from_secs(60));
        assert_eq!(stepped_back.since(&before), Duration::from_secs(10));
    }

    #[test]
    fn rounds_are_full_first_and_every_full_every_else_look_back_with_the_overlap() {
        let (m0, w0) = (Instant::now(), SystemTime::now());
        let every = Duration::from_secs(3600);
        let t = |s: u64| at(m0 + Duration::from_secs(s), w0 + Duration::from_secs(s));
        let (first, s1) = Sweep::next(None, t(0), every);
        assert_eq!(first, None, "the first round is full");
        let (second, s2) = Sweep::next(Some(s1), t(900), every);
        assert_eq!(second, Some(Duration::from_secs(900) + OVERLAP));
        // A round that errored is not recorded: the next one reaches back to round two.
        let (_errored, _) = Sweep::next(Some(s2), t(1800), every);
        let (fourth, s4) = Sweep::next(Some(s2), t(2700), every);
        assert_eq!(fourth, Some(Duration::from_secs(1800) + OVERLAP));
        let (fifth, _) = Sweep::next(Some(s4), t(3600), every);
        assert_eq!(fifth, None, "full_every has passed since the first round");
    }
}
