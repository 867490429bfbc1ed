//! The one rule every "held for `for`" condition keeps (a `wait` on a command, a query or the
//! lag; a trigger's `for`): the condition must hold, unbroken, for the whole time; a reading
//! that breaks it resets the timer, and so does a reading that could not be had (a stale
//! probe, an error): it fails closed.

use std::time::Duration;

use tokio::time::Instant;

use super::Attempt;
use cutover_model::protocol::StepOutcome;

/// A condition that must hold for `need` without a break.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Hold {
    need: Duration,
    since: Option<Instant>,
}

/// Where a [`Hold`] stands after a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// The condition is not met (or could not be read): the timer starts again.
    Broken,
    /// The condition holds, for this long so far, short of what is needed.
    Holding(Duration),
    /// The condition has held for at least what is needed.
    Met,
}

/// What one reading of a wait's condition comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The condition has held for what is needed: the wait passes, and this says so.
    Passed(String),
    /// The wait goes on: this says what it waits for (or why the reading did not count).
    Waiting(String),
}

impl Verdict {
    /// What a query or lag wait does with this verdict: `Ok(message)` while it goes on, or the
    /// attempt that ends it: passed, or timed out when it is `past_deadline` (`timed_out`
    /// words that from the waiting message).
    pub(super) fn go_on(
        self,
        past_deadline: bool,
        timed_out: impl FnOnce(&str) -> String,
    ) -> Result<String, Attempt> {
        match self {
            Verdict::Passed(detail) => Err(Attempt::waited(StepOutcome::Passed, detail)),
            Verdict::Waiting(msg) if past_deadline => {
                Err(Attempt::waited(StepOutcome::TimedOut, timed_out(&msg)))
            }
            Verdict::Waiting(msg) => Ok(msg),
        }
    }
}

impl Hold {
    /// A condition that must hold for `need` (zero: met at the first reading that holds).
    pub(super) fn new(need: Duration) -> Self {
        Hold { need, since: None }
    }

    /// Takes the reading at `now`: `Some(true)` holds, `Some(false)` does not, `None` could
    /// not be had (it counts as a break).
    pub(super) fn observe(&mut self, reading: Option<bool>, now: Instant) -> Held {
        if reading != Some(true) {
            self.since = None;
            return Held::Broken;
        }
        let held = now.duration_since(*self.since.get_or_insert(now));
        if held >= self.need {
            Held::Met
        } else {
            Held::Holding(held)
        }
    }

    /// Whether the condition is holding now (a timer is running).
    pub(super) fn holding(&self) -> bool {
        self.since.is_some()
    }

    /// What is needed.
    pub(super) fn need(&self) -> Duration {
        self.need
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_or_an_unknown_reading_starts_the_timer_again() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut h = Hold::new(Duration::from_secs(10));
        assert_eq!(h.observe(Some(true), s(0)), Held::Holding(Duration::ZERO));
        assert_eq!(
            h.observe(Some(true), s(6)),
            Held::Holding(Duration::from_secs(6))
        );
        assert_eq!(h.observe(None, s(7)), Held::Broken, "unknown fails closed");
        assert!(!h.holding());
        assert_eq!(h.observe(Some(true), s(8)), Held::Holding(Duration::ZERO));
        assert_eq!(h.observe(Some(false), s(17)), Held::Broken);
        assert_eq!(h.observe(Some(true), s(18)), Held::Holding(Duration::ZERO));
        assert_eq!(h.observe(Some(true), s(28)), Held::Met);
        let mut now = Hold::new(Duration::ZERO);
        assert_eq!(now.observe(Some(true), s(0)), Held::Met);
    }

    /// `t0 + ms` milliseconds.
    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn met_exactly_at_the_boundary_not_a_moment_before() {
        let t0 = Instant::now();
        let mut h = Hold::new(Duration::from_secs(10));
        assert_eq!(h.observe(Some(true), t0), Held::Holding(Duration::ZERO));
        assert_eq!(
            h.observe(Some(true), at(t0, 9_999)),
            Held::Holding(Duration::from_millis(9_999))
        );
        assert_eq!(h.observe(Some(true), at(t0, 10_000)), Held::Met);
    }

    #[test]
    fn the_timer_starts_at_the_first_reading_that_holds_not_at_creation() {
        let t0 = Instant::now();
        let mut h = Hold::new(Duration::from_secs(10));
        assert_eq!(h.observe(Some(false), t0), Held::Broken);
        assert_eq!(h.observe(None, at(t0, 20_000)), Held::Broken);
        // Thirty seconds after creation, but the condition only started holding now.
        assert_eq!(
            h.observe(Some(true), at(t0, 30_000)),
            Held::Holding(Duration::ZERO)
        );
        assert_eq!(
            h.observe(Some(true), at(t0, 35_000)),
            Held::Holding(Duration::from_secs(5))
        );
        assert_eq!(h.observe(Some(true), at(t0, 40_000)), Held::Met);
    }

    #[test]
    fn it_stays_met_while_the_condition_holds_and_a_break_after_met_starts_over() {
        let t0 = Instant::now();
        let mut h = Hold::new(Duration::from_secs(2));
        h.observe(Some(true), t0);
        assert_eq!(h.observe(Some(true), at(t0, 2_000)), Held::Met);
        assert_eq!(h.observe(Some(true), at(t0, 60_000)), Held::Met);
        assert_eq!(h.observe(None, at(t0, 61_000)), Held::Broken);
        assert!(!h.holding());
        assert_eq!(
            h.observe(Some(true), at(t0, 62_000)),
            Held::Holding(Duration::ZERO),
            "held before the break does not count"
        );
        assert_eq!(
            h.observe(Some(true), at(t0, 63_999)),
            Held::Holding(Duration::from_millis(1_999))
        );
        assert_eq!(h.observe(Some(true), at(t0, 64_000)), Held::Met);
    }

    #[test]
    fn a_zero_need_is_met_by_any_reading_that_holds_and_by_no_other() {
        let t0 = Instant::now();
        let mut h = Hold::new(Duration::ZERO);
        assert_eq!(
            h.observe(None, t0),
            Held::Broken,
            "unknown still fails closed"
        );
        assert_eq!(h.observe(Some(false), t0), Held::Broken);
        assert!(!h.holding());
        assert_eq!(h.observe(Some(true), t0), Held::Met);
        assert!(h.holding());
        assert_eq!(h.observe(Some(false), at(t0, 1)), Held::Broken);
        assert_eq!(h.observe(Some(true), at(t0, 2)), Held::Met);
    }

    #[test]
    fn a_reading_stamped_before_the_start_counts_as_no_time_held() {
        // Instants are monotonic, but a caller may stamp a reading before the one that
        // started the timer (taken earlier, observed later): it never panics and never
        // counts as time held, and the start stays where it was.
        let t0 = Instant::now();
        let mut h = Hold::new(Duration::from_secs(10));
        assert_eq!(
            h.observe(Some(true), at(t0, 5_000)),
            Held::Holding(Duration::ZERO)
        );
        assert_eq!(
            h.observe(Some(true), at(t0, 1_000)),
            Held::Holding(Duration::ZERO)
        );
        assert_eq!(
            h.observe(Some(true), at(t0, 14_999)),
            Held::Holding(Duration::from_millis(9_999))
        );
        assert_eq!(h.observe(Some(true), at(t0, 15_000)), Held::Met);
    }

    #[test]
    fn need_and_holding_say_where_it_stands() {
        let t0 = Instant::now();
        let idle = Hold::default();
        assert_eq!(idle.need(), Duration::ZERO);
        assert!(!idle.holding());
        let mut h = Hold::new(Duration::from_secs(60));
        assert_eq!(h.need(), Duration::from_secs(60));
        assert!(!h.holding());
        h.observe(Some(true), t0);
        assert!(h.holding());
        h.observe(Some(true), at(t0, 30_000));
        assert!(h.holding());
        assert_eq!(h.need(), Duration::from_secs(60), "need never changes");
        h.observe(Some(false), at(t0, 30_001));
        assert!(!h.holding());
    }
}
