//! `max_rows_per_second`: a check that reads no faster than its limit, so a comparison on a
//! busy production primary stays a small, steady load. The range pass waits after each range
//! until the rows read so far are within the limit; with statements pipelined, a wait also
//! holds back the next statements.

use std::time::{Duration, Instant};

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

    /// Waits as [`Throttle::after`] says.
    pub async fn pace(&mut self, rows: u64) {
        if let Some(w) = self.after(rows) {
            tokio::time::sleep(w).await;
        }
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
}
