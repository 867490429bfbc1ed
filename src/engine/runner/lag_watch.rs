//! Lag inside the engine: the probe's samples go to the front end every tick and to the
//! journal (downsampled), `wait = { lag_below = ... }` gates on fresh samples only, and
//! `lag_above` triggers count how long the lag has stayed above their threshold.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::hold::{Held, Hold};
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
        let result = |outcome, detail: String, passed, message| {
            Attempt::checked("wait", outcome, detail, passed, message)
        };
        loop {
            let now = Instant::now();
            let sample = self.lag_sample().unwrap_or_default();
            let state = sample.below(&limit);
            let msg = match (hold.observe(state, now), state) {
                (Held::Met, _) => {
                    let detail = format!(
                        "lag {} below {limit} for {}",
                        sample.summary(),
                        format_duration(hold.need())
                    );
                    return Ok(Ok(result(StepOutcome::Passed, detail, true, None)));
                }
                (Held::Holding(held), _) => format!(
                    "lag {} < {limit}: holding {} of {}",
                    sample.summary(),
                    format_duration(held),
                    format_duration(hold.need())
                ),
                (Held::Broken, Some(_)) => {
                    format!("lag {} is not below {limit} yet", sample.summary())
                }
                (Held::Broken, None) if sample.is_stale() => {
                    format!("not counting: the lag probe is {}", sample.summary())
                }
                (Held::Broken, None) => "waiting for the first lag reading".to_string(),
            };
            if deadline.is_some_and(|d| now >= d) {
                let m = format!("timed out: {msg}");
                return Ok(Ok(result(StepOutcome::TimedOut, m.clone(), false, Some(m))));
            }
            polls += 1;
            // Re-evaluate on every engine tick (the probe publishes once per interval).
            let holding = hold.holding();
            if let Some(stop) = self.wait_round(index, polls, holding, msg, None).await? {
                let detail = format!("stopped after {polls} checks");
                return Ok(Err((
                    result(StepOutcome::Cancelled, detail, false, None),
                    stop,
                )));
            }
        }
    }
}
