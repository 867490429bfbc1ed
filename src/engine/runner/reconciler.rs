//! Reconciliation inside the engine: checks run on their own tasks (so the cockpit stays live),
//! progress reaches the front end on every tick, results are journaled, a failing check is
//! re-checked after the lag drains when the runbook asks for it, and `wait = { reconcile }`
//! gates only on results of runs that started after the gate did (fail closed).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Attempt, AttemptResult, EngineError, Runner};
use cutover_model::narrate;
use cutover_model::protocol::{Event, StepOutcome};
use cutover_model::reconcile::{Progress, ReconcileResult};
use cutover_reconcile::Options;

/// What a check task reports.
enum ReconMsg {
    Progress(Progress),
    Done(String, Box<ReconcileResult>),
}

/// Checks running and results known.
pub(super) struct Reconciler {
    tx: mpsc::UnboundedSender<ReconMsg>,
    rx: mpsc::UnboundedReceiver<ReconMsg>,
    /// Running checks and when each run started.
    running: BTreeMap<String, Instant>,
    /// Latest result per check and when its run started (`None`: restored from the journal).
    results: BTreeMap<String, (Option<Instant>, ReconcileResult)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Rung by a check task after each message, so a gate acts on it at once (not at the
    /// next tick).
    nudge: std::sync::Arc<tokio::sync::Notify>,
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Reconciler {
    /// No checks running, no results yet.
    pub(super) fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Reconciler {
            tx,
            rx,
            running: BTreeMap::new(),
            results: BTreeMap::new(),
            tasks: Vec::new(),
            nudge: std::sync::Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Takes a check's result from the journal of an earlier session (it counts for no gate:
    /// gates only pass on runs that started after they did).
    pub(super) fn restore(&mut self, result: ReconcileResult) {
        self.results.insert(result.name.clone(), (None, result));
    }
}

impl Runner<'_> {
    /// Starts the named checks (all of them for `None`) that are not running already.
    pub(super) fn start_checks(&mut self, names: &[String]) -> Vec<String> {
        let mut started = Vec::new();
        for name in names {
            if self.recon.running.contains_key(name) {
                continue;
            }
            let Some(check) = self.rb.reconcile.iter().find(|c| &c.name == name).cloned() else {
                continue;
            };
            let (Some(source), Some(target)) = (
                self.conns.get(&check.source).cloned(),
                self.conns.get(&check.target).cloned(),
            ) else {
                continue;
            };
            let tx = self.recon.tx.clone();
            let nudge = self.recon.nudge.clone();
            let wait = crate::check_run::RecheckWait::in_run(
                self.lag.as_ref().map(super::lag_watch::LagWatch::receiver),
            );
            let opts = Options {
                secrets: self.secrets.clone(),
                ..Options::default()
            };
            let task_name = name.clone();
            let task = tokio::spawn(async move {
                let progress_tx = tx.clone();
                let progress_nudge = nudge.clone();
                let progress = move |p: &Progress| {
                    let _ = progress_tx.send(ReconMsg::Progress(p.clone()));
                    progress_nudge.notify_one();
                };
                let result =
                    crate::check_run::run(&check, &source, &target, &opts, None, wait, &progress)
                        .await;
                let _ = tx.send(ReconMsg::Done(task_name, Box::new(result)));
                nudge.notify_one();
            });
            self.recon.tasks.retain(|t| !t.is_finished());
            self.recon.tasks.push(task);
            self.recon.running.insert(name.clone(), Instant::now());
            started.push(name.clone());
        }
        started
    }

    /// Names a gate or `c` means: `all` or one check.
    pub(super) fn check_names(&self, which: Option<&str>) -> Vec<String> {
        match which {
            None | Some("all") => self.rb.reconcile.iter().map(|c| c.name.clone()).collect(),
            Some(n) => vec![n.to_string()],
        }
    }

    /// Drains the check tasks' messages: progress to the front end, results journaled.
    pub(super) async fn publish_reconcile(&mut self) -> Result<(), EngineError> {
        while let Ok(msg) = self.recon.rx.try_recv() {
            match msg {
                ReconMsg::Progress(progress) => {
                    self.io.emit(Event::ReconcileProgress { progress }).await?;
                }
                ReconMsg::Done(name, mut result) => {
                    crate::values_file::write(&self.output_dir, self.masker, &mut result);
                    let started = self.recon.running.remove(&name);
                    self.recon
                        .results
                        .insert(name, (started, (*result).clone()));
                    self.io
                        .emit(Event::ReconcileResult {
                            result,
                            restored: false,
                        })
                        .await?;
                    self.check_mismatch_triggers().await?;
                }
            }
        }
        Ok(())
    }

    /// Mismatching rows over all checks' latest results.
    pub(super) fn mismatch_rows(&self) -> u64 {
        self.recon
            .results
            .values()
            .map(|(_, r)| r.mismatch_rows())
            .sum()
    }

    /// Which checks the mismatching rows are in: `: accounts 2, orders 1` (empty when none).
    pub(super) fn mismatch_breakdown(&self) -> String {
        let parts: Vec<String> = self
            .recon
            .results
            .values()
            .filter(|(_, r)| r.mismatch_rows() > 0)
            .map(|(_, r)| format!("{} {}", r.name, r.mismatch_rows()))
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join(", "))
        }
    }

    /// Starts every check of `names` not running whose latest run started before `round`.
    fn start_stale_checks(&mut self, names: &[String], round: Instant) {
        let stale: Vec<String> = names
            .iter()
            .filter(|n| !self.recon.running.contains_key(*n))
            .filter(|n| {
                self.recon
                    .results
                    .get(*n)
                    .and_then(|(s, _)| *s)
                    .is_none_or(|s| s < round)
            })
            .cloned()
            .collect();
        self.start_checks(&stale);
    }

    /// When every check of `names` has a result from a run started at or after `round` (and
    /// none runs): what fails among them (empty: all passed). `None`: not all in yet.
    fn round_verdict(&self, names: &[String], round: Instant) -> Option<Vec<String>> {
        let fresh: Vec<&ReconcileResult> = names
            .iter()
            .filter_map(|n| self.recon.results.get(n))
            .filter(|(s, _)| s.is_some_and(|s| s >= round))
            .map(|(_, r)| r)
            .collect();
        let all_in =
            fresh.len() == names.len() && !names.iter().any(|n| self.recon.running.contains_key(n));
        all_in.then(|| {
            fresh
                .iter()
                .filter(|r| !r.passed())
                .map(|r| match &r.error {
                    Some(e) => format!("{}: error: {e}", r.name),
                    None => format!(
                        "{}: {} differ{}",
                        r.name,
                        narrate::count(r.mismatch_rows(), "row"),
                        if r.mismatch_total_is_lower_bound {
                            " or more"
                        } else {
                            ""
                        }
                    ),
                })
                .collect()
        })
    }

    /// `wait = { reconcile = ... }`: runs the checks, and passes only when every one of them
    /// passes in a run that started after the gate did; otherwise re-runs them every `every`.
    pub(super) async fn wait_reconcile_step(
        &mut self,
        index: usize,
        which: &[String],
        every: Duration,
    ) -> AttemptResult {
        let names = if which.iter().any(|n| n == "all") {
            self.check_names(None)
        } else {
            which.to_vec()
        };
        let gate_start = Instant::now();
        let deadline = self.rb.steps[index].timeout.map(|d| gate_start + d);
        let every = every.max(Duration::from_secs(5));
        let mut rounds = 0u32;
        let mut next_start = gate_start;
        let result = |outcome, detail: String, passed, message| {
            Attempt::checked("reconcile", outcome, detail, passed, message)
        };
        loop {
            // What the checks reported since the last look (results, progress).
            self.publish_reconcile().await?;
            let now = Instant::now();
            // Start a run of every check whose latest run started before this round.
            if now >= next_start {
                self.start_stale_checks(&names, next_start);
            }
            if let Some(failing) = self.round_verdict(&names, next_start) {
                rounds += 1;
                if failing.is_empty() {
                    let detail = format!("{} passed", narrate::count(names.len() as u64, "check"));
                    return Ok(Ok(result(StepOutcome::Passed, detail, true, None)));
                }
                let msg = format!(
                    "blocked: {}; checking again in {}",
                    failing.join("; "),
                    cutover_model::runbook::units::format_duration(every)
                );
                self.io
                    .emit(Event::WaitProgress {
                        index,
                        polls: rounds,
                        holding: false,
                        message: msg,
                    })
                    .await?;
                next_start = Instant::now() + every;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let m = format!(
                    "timed out after {} of checks",
                    narrate::count(rounds, "round")
                );
                return Ok(Ok(result(StepOutcome::TimedOut, m.clone(), false, Some(m))));
            }
            let nudge = self.recon.nudge.clone();
            if let Some(stop) = self.idle_until(None, index, Some(&nudge)).await? {
                let detail = format!("stopped after {}", narrate::count(rounds, "round"));
                return Ok(Err((
                    result(StepOutcome::Cancelled, detail, false, None),
                    stop,
                )));
            }
        }
    }
}
