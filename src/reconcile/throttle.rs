//! How fast a check may read, so a comparison on a busy production primary stays a small,
//! steady load: `max_rows_per_second` (a fixed pace), `throttle = "adaptive"` (slow down while
//! a side's range statements take well over their baseline) and `pause_when` (wait while a
//! query on the source, in its own session, returns true: a replica lagging, a batch job
//! running). The range pass consults the [`Pacer`] after each range and, for a paced check,
//! reads one range per session at a time and sends nothing while the pacer waits, so a wait
//! holds back the servers' reads, not just the comparing. What it is doing and why is shown
//! in the check's progress (`throttled: ...`).

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::{Cx, ReconcileError};

/// Ranges timed before the adaptive baseline is set (their median).
const BASELINE_RANGES: usize = 5;
/// A range slower than this many times the baseline slows the check down.
const SLOW_FACTOR: f64 = 3.0;
/// How often `pause_when` is asked, at most.
const PAUSE_POLL: Duration = Duration::from_secs(1);

/// Whether `check` asks to be paced: a rate, `throttle = "adaptive"` or `pause_when`.
pub(crate) fn is_paced(check: &cutover_model::runbook::ReconcileCheck) -> bool {
    check.max_rows_per_second.is_some_and(|n| n > 0)
        || check.adaptive_throttle
        || check.pause_when.is_some()
}

/// Paces a stream of row counts to at most `limit` rows per second.
#[derive(Debug)]
pub struct Throttle {
    limit: Option<u64>,
    started: Instant,
    rows: u64,
}

impl Throttle {
    /// Starts the clock; `None`: no limit.
    pub fn new(limit: Option<u64>) -> Throttle {
        Throttle {
            limit: limit.filter(|l| *l > 0),
            started: Instant::now(),
            rows: 0,
        }
    }

    /// Counts `rows` just read; how long to wait before reading more, if at all.
    pub fn after(&mut self, rows: u64) -> Option<Duration> {
        let limit = self.limit?;
        self.rows += rows;
        let due = Duration::from_secs_f64(self.rows as f64 / limit as f64);
        due.checked_sub(self.started.elapsed())
            .filter(|w| !w.is_zero())
    }

    /// Restarts the clock (after a pause: the time paused is not owed).
    fn restart(&mut self) {
        self.started = Instant::now();
        self.rows = 0;
    }
}

/// Range latencies against their baseline (the median of the first ranges).
#[derive(Debug, Default)]
pub struct Adaptive {
    samples: Vec<Duration>,
    baseline: Option<Duration>,
}

impl Adaptive {
    /// A range took `took`: how long to wait before the next one (as long again when it was
    /// over [`SLOW_FACTOR`] times the baseline, which halves the load), and why.
    pub fn after(&mut self, took: Duration) -> Option<(Duration, String)> {
        let Some(base) = self.baseline else {
            self.samples.push(took);
            if self.samples.len() >= BASELINE_RANGES {
                self.samples.sort();
                self.baseline =
                    Some(self.samples[self.samples.len() / 2].max(Duration::from_micros(100)));
            }
            return None;
        };
        let ratio = took.as_secs_f64() / base.as_secs_f64();
        (ratio > SLOW_FACTOR).then(|| {
            (
                took,
                format!(
                    "adaptive: range latency {}ms, {ratio:.1}x its {}ms baseline",
                    took.as_millis(),
                    base.as_millis()
                ),
            )
        })
    }
}

/// Everything that may slow a range pass down.
pub struct Pacer<'a> {
    cx: &'a Cx<'a>,
    rate: Throttle,
    adaptive: Option<Adaptive>,
    pause: Option<(Client, String)>,
    last_poll: Option<Instant>,
}

impl<'a> Pacer<'a> {
    /// The pacing the check asks for; opens the `pause_when` session when there is one.
    pub async fn new(cx: &'a Cx<'a>) -> Result<Pacer<'a>, ReconcileError> {
        let pause = match (
            &cx.check.pause_when,
            cx.opts.sessions.as_ref().map(|s| &s.0),
        ) {
            (None, _) => None,
            (Some(sql), Some(conn)) => {
                let client = conn
                    .clone()
                    .with_application_name("cutover-reconcile-pause")
                    .connect()
                    .await?;
                Some((client, sql.render(&cx.opts.secrets)))
            }
            (Some(_), None) => {
                return Err(ReconcileError::Other(
                    "pause_when needs a connection of its own to the source, and none was given"
                        .into(),
                ));
            }
        };
        Ok(Pacer {
            cx,
            rate: Throttle::new(cx.check.max_rows_per_second),
            adaptive: cx.check.adaptive_throttle.then(Adaptive::default),
            pause,
            last_poll: None,
        })
    }

    /// Whether the check is paced at all (a rate, `adaptive` or `pause_when`): then the range
    /// pass reads one range per session at a time and nothing while the pacer waits.
    pub fn holds_back(&self) -> bool {
        is_paced(self.cx.check)
    }

    /// After a range of `rows` rows whose slower side took `took`: waits as the check's pacing
    /// says, saying why in its progress.
    pub async fn pace(&mut self, rows: u64, took: Duration) -> Result<(), ReconcileError> {
        self.pause_while_asked().await?;
        let slow = self.adaptive.as_mut().and_then(|a| a.after(took));
        let fixed = self.rate.after(rows);
        let wait = match (&slow, fixed) {
            (Some((a, _)), Some(b)) => Some((*a).max(b)),
            (Some((a, _)), None) => Some(*a),
            (None, b) => b,
        };
        let why = match slow {
            Some((_, why)) => Some(why),
            None => self
                .cx
                .check
                .max_rows_per_second
                .map(|n| format!("max_rows_per_second {n}")),
        };
        self.cx.set_throttled(why);
        if let Some(w) = wait {
            tokio::time::sleep(w).await;
        }
        Ok(())
    }

    /// While `pause_when` returns true: says so and asks again every second.
    async fn pause_while_asked(&mut self) -> Result<(), ReconcileError> {
        let Some((client, sql)) = &self.pause else {
            return Ok(());
        };
        if self.last_poll.is_some_and(|t| t.elapsed() < PAUSE_POLL) {
            return Ok(());
        }
        let mut paused = false;
        loop {
            self.last_poll = Some(Instant::now());
            let row = client
                .query_one(sql.as_str(), &[])
                .await
                .map_err(ReconcileError::sql("source", "run pause_when"))?;
            let yes: Option<bool> = row.try_get(0).map_err(|_| {
                ReconcileError::Other("pause_when must return one boolean column".into())
            })?;
            if yes != Some(true) {
                break;
            }
            if !paused {
                paused = true;
                self.cx
                    .set_throttled(Some("paused: pause_when is true".into()));
            }
            tokio::time::sleep(PAUSE_POLL).await;
        }
        if paused {
            self.rate.restart();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_never_waits_and_a_limit_waits_for_what_was_read() {
        let mut free = Throttle::new(None);
        assert_eq!(free.after(1_000_000), None);
        let mut t = Throttle::new(Some(1000));
        let w = t.after(500).expect("500 rows at 1000/s take half a second");
        assert!(
            w > Duration::from_millis(400) && w <= Duration::from_millis(500),
            "{w:?}"
        );
        let w = t.after(1500).expect("2000 rows: two seconds");
        assert!(w > Duration::from_millis(1900), "{w:?}");
    }

    #[test]
    fn adaptive_slows_down_only_well_above_the_baseline() {
        let mut a = Adaptive::default();
        for ms in [10, 12, 9, 11, 10] {
            assert_eq!(
                a.after(Duration::from_millis(ms)),
                None,
                "learning the baseline"
            );
        }
        assert_eq!(a.after(Duration::from_millis(25)), None, "2.5x: still fine");
        let (wait, why) = a.after(Duration::from_millis(50)).expect("5x the baseline");
        assert_eq!(wait, Duration::from_millis(50));
        assert!(why.contains("5.0x its 10ms baseline"), "{why}");
    }
}
