//! One reconcile check as a run (and `cutover reconcile`) does it: compare, and when the check
//! fails and asks for it (`recheck = "after_lag_drains"`), wait for the lag to drain (at most
//! [`DRAIN_WAIT`]; without a lag probe, [`RECHECK_DELAY`]) and re-compare the mismatches, so a
//! row still in flight is not called a difference.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use cutover_model::lag::LagSample;
use cutover_model::reconcile::{Progress, ReconcileResult};
use cutover_model::runbook::ReconcileCheck;
use cutover_pg::ConnSettings;
use cutover_reconcile::Options;

/// Lag counts as drained for a re-check below this many bytes.
const DRAINED_BYTES: u64 = 1024 * 1024;
/// Seconds of lag that count as drained.
const DRAINED_SECS: f64 = 1.0;
/// How long a failing check waits for the lag to drain before its re-check.
pub const DRAIN_WAIT: Duration = Duration::from_secs(60);
/// Without a lag probe, the re-check waits this long.
pub const RECHECK_DELAY: Duration = Duration::from_secs(5);

/// Whether a fresh sample shows the lag drained.
fn drained(s: &LagSample) -> bool {
    s.is_fresh()
        && match (s.bytes, s.seconds) {
            (Some(b), _) => b <= DRAINED_BYTES,
            (None, Some(sec)) => sec <= DRAINED_SECS,
            _ => s.number.is_some_and(|n| n <= 0.0),
        }
}

/// Runs `check` on fresh connections, re-checking after the lag drains when it asks for it.
/// `since`: compare only the rows changed within that look-back of each server's clock
/// (`changed_since` checks of a drift watch). Never fails: problems are in the result
/// ([`cutover_model::reconcile::Status::Error`]).
pub async fn run(
    check: &ReconcileCheck,
    source: &ConnSettings,
    target: &ConnSettings,
    opts: &Options,
    since: Option<std::time::Duration>,
    lag: Option<watch::Receiver<LagSample>>,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> ReconcileResult {
    // pause_when and concurrency open sessions of their own.
    let opts = &Options {
        sessions: Some((source.clone(), target.clone())),
        ..opts.clone()
    };
    let mut result = match since {
        None => cutover_reconcile::run_check_with(check, source, target, opts, progress).await,
        Some(since) => match cutover_reconcile::connect_pair(source, target).await {
            Ok((s, t)) => {
                cutover_reconcile::run_changed_since(check, &s, &t, opts, since, progress).await
            }
            Err(e) => {
                let mut r = ReconcileResult::new(&check.name, check.kind);
                r.error = Some(e.to_string());
                r
            }
        },
    };
    if !result.passed() && result.error.is_none() && check.recheck_after_lag {
        // A mismatch may be in flight: wait for the lag to drain, then re-compare.
        match lag {
            Some(mut rx) => {
                let deadline = Instant::now() + DRAIN_WAIT;
                while !drained(&rx.borrow()) && Instant::now() < deadline {
                    let _ = tokio::time::timeout_at(deadline, rx.changed()).await;
                }
            }
            None => tokio::time::sleep(RECHECK_DELAY).await,
        }
        if let Ok((s, t)) = cutover_reconcile::connect_pair(source, target).await {
            result = cutover_reconcile::recheck(check, &s, &t, opts, &result, progress).await;
        }
    }
    result
}
