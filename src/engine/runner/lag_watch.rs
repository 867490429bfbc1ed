//! Lag inside the engine: the probe's samples go to the front end every tick and to the
//! journal (downsampled), `wait = { lag_below = ... }` gates on fresh samples only, and
//! `lag_above` triggers count how long the lag has stayed above their threshold.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::hold::{Held, Hold, Verdict};
use super::{Attempt, AttemptResult, EngineError, Runner};
use cutover_model::lag::LagSample;
use cutover_model::protocol::{Event, StepOutcome};
use cutover_model::runbook::Threshold;
use cutover_model::runbook::units::format_duration;
use cutover_probe::LagProbe;

/// A lag sample is journaled at least this often (and on every change of freshness).
const JOURNAL_EVERY: Duration = Duration::from_secs(10);

/// The running probe and what the engine remembers of it.
pub(super) struct LagWatch {
    /// Keeps the probe's task alive.
    _probe: LagProbe,
    rx: watch::Receiver<LagSample>,
    last_journaled: Option<(Instant, bool)>,
}

impl LagWatch {
    pub(super) fn new(probe: LagProbe) -> LagWatch {
        let rx = probe.subscribe();
        LagWatch {
            _probe: probe,
            rx,
            last_journaled: None,
        }
    }

    /// The latest sample.
    pub(super) fn latest(&self) -> LagSample {
        self.rx.borrow().clone()
    }

    /// A receiver of samples, for tasks that wait on the lag.
    pub(super) fn receiver(&self) -> watch::Receiver<LagSample> {
        self.rx.clone()
    }

    /// The probe's newest sample when it changed since the last call, and whether it goes
    /// to the journal (at least every [`JOURNAL_EVERY`], and on every change of freshness).
    fn take_new(&mut self) -> Option<(LagSample, bool)> {
        if !self.rx.has_changed().unwrap_or(false) {
            return None;
        }
        let sample = self.rx.borrow_and_update().clone();
        if sample.seq == 0 {
            return None;
        }
        let fresh = sample.is_fresh();
        let keep = match self.last_journaled {
            None => true,
            Some((at, was_fresh)) => was_fresh != fresh || at.elapsed() >= JOURNAL_EVERY,
        };
        if keep {
            self.last_journaled = Some((Instant::now(), fresh));
        }
        Some((sample, keep))
    }
}

impl Runner<'_> {
    /// Sends the newest lag sample if it changed (journaling it now and then).
    pub(super) async fn publish_lag(&mut self) -> Result<(), EngineError> {
        match self.lag.as_mut().and_then(LagWatch::take_new) {
            Some((sample, keep)) => self.io.emit(Event::LagSample { sample, keep }).await,
            None => Ok(()),
        }
    }

    /// The latest sample, when a probe runs.
    pub(super) fn lag_sample(&self) -> Option<LagSample> {
        self.lag.as_ref().map(LagWatch::latest)
    }

    /// `wait = { lag_below = ..., for = ... }`: passes once fresh samples have stayed below the
    /// threshold for `hold`; a stale or missing sample resets the timer (fail closed).
    pub(super) async fn wait_lag_step(
        &mut self,
        index: usize,
        limit: Threshold,
        hold: Duration,
    ) -> AttemptResult {
        let step = &self.rb.steps[index];
        let deadline = step.timeout.map(|d| Instant::now() + d);
        let mut hold = Hold::new(hold);
        let mut polls = 0u32;
        loop {
            let now = Instant::now();
            let sample = self.lag_sample().unwrap_or_default();
            let verdict = lag_verdict(&mut hold, &sample, &limit, now);
            let past_deadline = deadline.is_some_and(|d| now >= d);
            let msg = match verdict.go_on(past_deadline, |m| format!("timed out: {m}")) {
                Ok(msg) => msg,
                Err(ended) => return Ok(Ok(ended)),
            };
            polls += 1;
            // Re-evaluate on every engine tick (the probe publishes once per interval).
            let holding = hold.holding();
            if let Some(stop) = self.wait_round(index, polls, holding, msg, None).await? {
                let detail = format!("stopped after {polls} checks");
                return Ok(Err((Attempt::waited(StepOutcome::Cancelled, detail), stop)));
            }
        }
    }
}

/// One reading of `wait = { lag_below = limit }` at `now`: only a fresh `sample` below `limit`
/// counts; one that is not below, stale or missing breaks the hold (fail closed) and the
/// message says which.
fn lag_verdict(hold: &mut Hold, sample: &LagSample, limit: &Threshold, now: Instant) -> Verdict {
    let below = sample.below(limit);
    let msg = match (hold.observe(below, now), below) {
        (Held::Met, _) => {
            return Verdict::Passed(format!(
                "lag {} below {limit} for {}",
                sample.summary(),
                format_duration(hold.need())
            ));
        }
        (Held::Holding(held), _) => format!(
            "lag {} < {limit}: holding {} of {}",
            sample.summary(),
            format_duration(held),
            format_duration(hold.need())
        ),
        (Held::Broken, Some(_)) => format!("lag {} is not below {limit} yet", sample.summary()),
        (Held::Broken, None) if sample.is_stale() => {
            format!("not counting: the lag probe is {}", sample.summary())
        }
        (Held::Broken, None) => "waiting for the first lag reading".to_string(),
    };
    Verdict::Waiting(msg)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::runner::hold::tests::at;
    use chrono::Utc;

    /// A good reading of `bytes`, just taken (the triggers' tests read it too).
    pub(crate) fn fresh(bytes: u64) -> LagSample {
        LagSample {
            seq: 1,
            at: Some(Utc::now()),
            checked_at: Some(Utc::now()),
            bytes: Some(bytes),
            ..Default::default()
        }
    }

    /// A failing probe: its last value stays, but it is not fresh.
    fn stale(bytes: u64) -> LagSample {
        LagSample {
            stale_since: Some(Utc::now()),
            error: Some("connection refused".into()),
            ..fresh(bytes)
        }
    }

    fn waiting(v: Verdict) -> String {
        match v {
            Verdict::Waiting(m) => m,
            Verdict::Passed(d) => panic!("passed too early: {d}"),
        }
    }

    #[test]
    fn a_lag_gate_counts_fresh_samples_below_only_and_a_stale_one_resets_it() {
        let t0 = Instant::now();
        let limit = Threshold::Bytes(1_000_000);
        let mut hold = Hold::new(Duration::from_secs(10));
        let (low, high, gone) = (fresh(10), fresh(2_000_000), stale(10));
        let mut judge = |sample: &LagSample, now| lag_verdict(&mut hold, sample, &limit, now);
        let first = waiting(judge(&LagSample::default(), at(t0, 0)));
        assert_eq!(first, "waiting for the first lag reading");
        let holding = |held| format!("lag {} < {limit}: holding {held} of 10s", low.summary());
        assert_eq!(waiting(judge(&low, at(t0, 0))), holding("0s"));
        assert_eq!(waiting(judge(&low, at(t0, 6_000))), holding("6s"));
        assert_eq!(
            waiting(judge(&gone, at(t0, 7_000))),
            format!("not counting: the lag probe is {}", gone.summary()),
            "a stale sample never counts, even with a last value below"
        );
        assert_eq!(waiting(judge(&low, at(t0, 8_000))), holding("0s"));
        assert_eq!(
            waiting(judge(&high, at(t0, 9_000))),
            format!("lag {} is not below {limit} yet", high.summary())
        );
        assert_eq!(waiting(judge(&low, at(t0, 10_000))), holding("0s"));
        assert_eq!(waiting(judge(&low, at(t0, 19_999))), holding("9s"));
        assert_eq!(
            judge(&low, at(t0, 20_000)),
            Verdict::Passed(format!("lag {} below {limit} for 10s", low.summary()))
        );
    }

    #[test]
    fn a_lag_at_the_limit_is_not_below_it() {
        let limit = Threshold::Bytes(1_000);
        let mut hold = Hold::new(Duration::ZERO);
        let at = fresh(1_000);
        assert_eq!(
            lag_verdict(&mut hold, &at, &limit, Instant::now()),
            Verdict::Waiting(format!("lag {} is not below {limit} yet", at.summary()))
        );
        assert!(matches!(
            lag_verdict(&mut hold, &fresh(999), &limit, Instant::now()),
            Verdict::Passed(_)
        ));
    }
}
