//! One reconcile check as a run (and `cutover reconcile`) does it: compare, and when the check
//! fails and asks for it (`recheck = "after_lag_drains"`), wait as [`RecheckWait`] says (for the
//! lag to drain, at most [`DRAIN_WAIT`]; in a run without a lag probe, [`RECHECK_DELAY`];
//! outside a run without one, not at all) and re-compare the mismatches, so a row still in
//! flight is not called a difference. The wait is not part of the check's `elapsed_ms`: the
//! result keeps it in `recheck_wait_ms`, and progress says "checking again in 5s" meanwhile.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use cutover_model::lag::LagSample;
use cutover_model::reconcile::{Phase, Progress, ReconcileResult};
use cutover_model::runbook::ReconcileCheck;
use cutover_pg::ConnSettings;
use cutover_reconcile::Options;

/// Lag counts as drained for a re-check below this many bytes.
const DRAINED_BYTES: u64 = 1024 * 1024;
/// Seconds of lag that count as drained.
const DRAINED_SECS: f64 = 1.0;
/// How long a failing check waits for the lag to drain before its re-check.
pub const DRAIN_WAIT: Duration = Duration::from_secs(60);
/// In a run without a lag probe, the re-check waits this long.
pub const RECHECK_DELAY: Duration = Duration::from_secs(5);

/// What a failing check waits for before its re-check.
#[derive(Debug)]
pub enum RecheckWait {
    /// The lag to drain (at most [`DRAIN_WAIT`]).
    Lag(watch::Receiver<LagSample>),
    /// A fixed delay: replication may be in flight but nothing measures it (a run without a
    /// lag probe, or one whose probe did not start).
    Delay(Duration),
    /// Nothing: no replication is known to be in flight (a one-off `cutover reconcile` of a
    /// runbook without `[lag]`).
    Immediately,
}

impl RecheckWait {
    /// A run's wait: the lag probe's samples, or [`RECHECK_DELAY`] without one.
    pub fn in_run(lag: Option<watch::Receiver<LagSample>>) -> Self {
        lag.map_or(RecheckWait::Delay(RECHECK_DELAY), RecheckWait::Lag)
    }
}

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
    wait: RecheckWait,
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
        // A mismatch may be in flight: wait (as `wait` says), then re-compare.
        let waited = wait_to_recheck(wait, &result, progress).await;
        if let Ok((s, t)) = cutover_reconcile::connect_pair(source, target).await {
            result = cutover_reconcile::recheck(check, &s, &t, opts, &result, progress).await;
        }
        result.recheck_wait_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
    }
    result
}

/// Waits before a re-check, saying so once a second through `progress` ("checking again in
/// 4s"); returns how long it waited.
async fn wait_to_recheck(
    wait: RecheckWait,
    first: &ReconcileResult,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Duration {
    let start = Instant::now();
    let say = |deadline: Instant| {
        let left = deadline.saturating_duration_since(Instant::now());
        progress(&Progress {
            name: first.name.clone(),
            phase: Phase::WaitingToRecheck,
            partitions_done: first.partitions_done,
            partitions_total: first.partitions_total,
            rows_compared: first.rows_compared,
            mismatches: first.mismatch_rows(),
            elapsed_ms: first.elapsed_ms,
            throttled: None,
            recheck_in_ms: Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
        });
    };
    match wait {
        RecheckWait::Immediately => {}
        RecheckWait::Delay(d) => {
            let deadline = start + d;
            while Instant::now() < deadline {
                say(deadline);
                let tick = (Instant::now() + Duration::from_secs(1)).min(deadline);
                tokio::time::sleep_until(tick).await;
            }
        }
        RecheckWait::Lag(mut rx) => {
            let deadline = start + DRAIN_WAIT;
            while !drained(&rx.borrow()) && Instant::now() < deadline {
                say(deadline);
                let tick = (Instant::now() + Duration::from_secs(1)).min(deadline);
                let _ = tokio::time::timeout_at(tick, rx.changed()).await;
            }
        }
    }
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_delayed_recheck_counts_down_and_says_how_long_it_waited() {
        let mut first = ReconcileResult::new("items", cutover_model::runbook::ReconcileKind::Count);
        first.verdict = Some(cutover_model::reconcile::Verdict::compute(2, 10, 0, None));
        let said = Mutex::new(Vec::new());
        let progress = |p: &Progress| {
            said.lock()
                .unwrap()
                .push(cutover_model::reconcile::progress_line(p));
        };
        let waited = wait_to_recheck(
            RecheckWait::Delay(Duration::from_millis(1_500)),
            &first,
            &progress,
        )
        .await;
        assert!(waited >= Duration::from_millis(1_500), "{waited:?}");
        let said = said.into_inner().unwrap();
        assert_eq!(
            said.first().map(String::as_str),
            Some("2 rows differ · checking again in 2s"),
            "{said:?}"
        );
        assert!(said.len() >= 2, "once a second: {said:?}");

        // Immediately: no wait, nothing said.
        let quiet = |_: &Progress| panic!("nothing to say");
        let waited = wait_to_recheck(RecheckWait::Immediately, &first, &quiet).await;
        assert!(waited < Duration::from_millis(500), "{waited:?}");
    }
}
