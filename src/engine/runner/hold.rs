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
pub(super) mod tests {
    use super::*;
    use Held::{Broken, Holding, Met};

    /// `t0 + ms` milliseconds (the waits' tests stamp their readings with it too).
    pub(crate) fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// A hold under test and the instant its readings are stamped from.
    struct Timed {
        h: Hold,
        t0: Instant,
    }

    impl Timed {
        fn new(need: Duration) -> Self {
            let t0 = Instant::now();
            Timed {
                h: Hold::new(need),
                t0,
            }
        }

        /// `t0 + ms` milliseconds.
        fn at(&self, ms: u64) -> Instant {
            at(self.t0, ms)
        }

        /// Gives the hold the readings in order, each (what it read, when in ms after `t0`,
        /// where the hold must stand after it).
        fn reads(&mut self, readings: &[(Option<bool>, u64, Held)]) {
            for &(reading, ms, want) in readings {
                let now = self.at(ms);
                assert_eq!(self.h.observe(reading, now), want, "{reading:?} at {ms}ms");
            }
        }
    }

    #[test]
    fn a_break_or_an_unknown_reading_starts_the_timer_again() {
        let mut c = Timed::new(Duration::from_secs(10));
        c.reads(&[
            (Some(true), 0, Holding(Duration::ZERO)),
            (Some(true), 6_000, Holding(Duration::from_secs(6))),
        ]);
        assert_eq!(
            c.h.observe(None, c.at(7_000)),
            Broken,
            "unknown fails closed"
        );
        assert!(!c.h.holding());
        c.reads(&[
            (Some(true), 8_000, Holding(Duration::ZERO)),
            (Some(false), 17_000, Broken),
            (Some(true), 18_000, Holding(Duration::ZERO)),
            (Some(true), 28_000, Met),
        ]);
        let mut now = Hold::new(Duration::ZERO);
        assert_eq!(now.observe(Some(true), c.t0), Met);
    }

    #[test]
    fn met_exactly_at_the_boundary_not_a_moment_before() {
        Timed::new(Duration::from_secs(10)).reads(&[
            (Some(true), 0, Holding(Duration::ZERO)),
            (Some(true), 9_999, Holding(Duration::from_millis(9_999))),
            (Some(true), 10_000, Met),
        ]);
    }

    #[test]
    fn the_timer_starts_at_the_first_reading_that_holds_not_at_creation() {
        Timed::new(Duration::from_secs(10)).reads(&[
            (Some(false), 0, Broken),
            (None, 20_000, Broken),
            // Thirty seconds after creation, but the condition only started holding now.
            (Some(true), 30_000, Holding(Duration::ZERO)),
            (Some(true), 35_000, Holding(Duration::from_secs(5))),
            (Some(true), 40_000, Met),
        ]);
    }

    #[test]
    fn it_stays_met_while_the_condition_holds_and_a_break_after_met_starts_over() {
        let mut c = Timed::new(Duration::from_secs(2));
        c.h.observe(Some(true), c.t0);
        c.reads(&[
            (Some(true), 2_000, Met),
            (Some(true), 60_000, Met),
            (None, 61_000, Broken),
        ]);
        assert!(!c.h.holding());
        assert_eq!(
            c.h.observe(Some(true), c.at(62_000)),
            Holding(Duration::ZERO),
            "held before the break does not count"
        );
        c.reads(&[
            (Some(true), 63_999, Holding(Duration::from_millis(1_999))),
            (Some(true), 64_000, Met),
        ]);
    }

    #[test]
    fn a_zero_need_is_met_by_any_reading_that_holds_and_by_no_other() {
        let mut c = Timed::new(Duration::ZERO);
        assert_eq!(
            c.h.observe(None, c.t0),
            Broken,
            "unknown still fails closed"
        );
        assert_eq!(c.h.observe(Some(false), c.t0), Broken);
        assert!(!c.h.holding());
        assert_eq!(c.h.observe(Some(true), c.t0), Met);
        assert!(c.h.holding());
        c.reads(&[(Some(false), 1, Broken), (Some(true), 2, Met)]);
    }

    #[test]
    fn a_reading_stamped_before_the_start_counts_as_no_time_held() {
        // Instants are monotonic, but a caller may stamp a reading before the one that
        // started the timer (taken earlier, observed later): it never panics and never
        // counts as time held, and the start stays where it was.
        Timed::new(Duration::from_secs(10)).reads(&[
            (Some(true), 5_000, Holding(Duration::ZERO)),
            (Some(true), 1_000, Holding(Duration::ZERO)),
            (Some(true), 14_999, Holding(Duration::from_millis(9_999))),
            (Some(true), 15_000, Met),
        ]);
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
