//! The one rule every "held for `for`" condition keeps (a `wait` on a command, a query or the
//! lag; a trigger's `for`): the condition must hold, unbroken, for the whole time; a reading
//! that breaks it resets the timer, and so does a reading that could not be had (a stale
//! probe, an error): it fails closed.

use std::time::Duration;

use tokio::time::Instant;

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
}
