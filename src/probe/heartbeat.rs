//! `method = "heartbeat"`: true end-to-end lag in seconds.
//!
//! Every poll writes the source's `clock_timestamp()` into one row of the heartbeat table on
//! `on` and reads the row on `target`. The table (default `public.cutover_heartbeat`) is
//! created on the source if absent:
//!
//! ```sql
//! create table if not exists public.cutover_heartbeat (
//!     id      text primary key,          -- the writer: 'cutover'
//!     beat_at timestamptz not null       -- the source's clock_timestamp() at the write
//! );
//! ```
//!
//! It must reach the target like the rest of the data: with streaming replication it does by
//! itself; with logical replication create it on the target too and add it to the publication
//! (`alter publication P add table public.cutover_heartbeat`, then on the target
//! `alter subscription S refresh publication`). Each beat is one small UPDATE (a few hundred
//! bytes of WAL per interval).
//!
//! The lag is the age of the oldest beat the target has not seen yet, measured on the source's
//! clock only (so clock skew between the hosts does not matter): 0 when the target shows the
//! latest beat, `now − first unseen beat` otherwise. Its resolution is one interval.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::poller::Budget;
use crate::session::Session;
use cutover_model::ident::quote_qualified;
use cutover_model::lag::Reading;

/// The default heartbeat table.
pub const DEFAULT_TABLE: &str = "public.cutover_heartbeat";
/// The row this writer owns.
pub const ROW_ID: &str = "cutover";
/// Beats remembered while the target falls behind (a day at one beat a second).
const MAX_REMEMBERED: usize = 86_400;

/// The heartbeat probe.
#[derive(Debug)]
pub struct Heartbeat {
    source: Session,
    target: Session,
    table: String,
    /// Beats written and not yet seen on the target, oldest first.
    unseen: VecDeque<DateTime<Utc>>,
    /// The first beat written by this probe.
    first: Option<DateTime<Utc>>,
}

impl Heartbeat {
    /// A heartbeat written on `source` and read on `target`, in `table` (default
    /// [`DEFAULT_TABLE`]).
    pub fn new(source: Session, target: Session, table: Option<String>) -> Self {
        Heartbeat {
            source,
            target,
            table: quote_qualified(table.as_deref().unwrap_or(DEFAULT_TABLE)),
            unseen: VecDeque::new(),
            first: None,
        }
    }

    /// The DDL run on the source (and suggested for the target).
    pub fn create_sql(&self) -> String {
        format!(
            "create table if not exists {} (id text primary key, beat_at timestamptz not null)",
            self.table
        )
    }

    /// Forgets the connections.
    pub fn reset(&mut self) {
        self.source.reset();
        self.target.reset();
    }

    /// One reading.
    pub async fn read(&mut self, b: Budget) -> Result<Reading, String> {
        let ddl = self.create_sql();
        let write_sql = format!(
            "insert into {} (id, beat_at) values ($1, clock_timestamp())
             on conflict (id) do update set beat_at = excluded.beat_at
             returning beat_at",
            self.table
        );
        let read_sql = format!("select beat_at from {} where id = $1", self.table);
        let table = self.table.clone();
        let source = &mut self.source;
        let target = &mut self.target;
        let write = async {
            if !source.is_connected() {
                source.batch(&ddl, b.query, b.connect).await.map_err(|e| {
                    format!("cannot create the heartbeat table on the source ({e}); create it yourself: {ddl}")
                })?;
            }
            let row = source
                .query_opt(&write_sql, &[&ROW_ID], b.query, b.connect)
                .await?
                .ok_or("the heartbeat write returned no row")?;
            row.try_get::<_, DateTime<Utc>>(0)
                .map_err(|e| e.to_string())
        };
        let read = async {
            let row = target
                .query_opt(&read_sql, &[&ROW_ID], b.query, b.connect)
                .await
                .map_err(|e| {
                    if e.contains("42P01") {
                        format!(
                            "{e}: the heartbeat table {table} must exist on the target and be replicated ({ddl}; add it to the publication)"
                        )
                    } else {
                        e
                    }
                })?;
            match row {
                Some(r) => r
                    .try_get::<_, DateTime<Utc>>(0)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            }
        };
        let (written, seen) = tokio::join!(write, read);
        let written = written?;
        let seen = seen?;
        Ok(self.account(written, seen))
    }

    /// Records a beat written at `written` and computes the lag given the target shows `seen`.
    fn account(&mut self, written: DateTime<Utc>, seen: Option<DateTime<Utc>>) -> Reading {
        if self.first.is_none() {
            self.first = Some(written);
        }
        self.unseen.push_back(written);
        if self.unseen.len() > MAX_REMEMBERED {
            self.unseen.pop_front();
        }
        let Some(seen) = seen else {
            return Reading {
                detail: Some(format!(
                    "no heartbeat row on the target yet: is {} replicated?",
                    self.table
                )),
                ..Reading::default()
            };
        };
        while self.unseen.front().is_some_and(|b| *b <= seen) {
            self.unseen.pop_front();
        }
        let lag = match self.unseen.front() {
            None => 0.0,
            // The target shows a beat from before this probe started: the first beat it is
            // missing is unknown, so count from the one it shows.
            Some(_) if self.first.is_some_and(|f| seen < f) => secs(written - seen),
            Some(oldest) => secs(written - *oldest),
        };
        Reading {
            bytes: None,
            seconds: Some(lag),
            number: None,
            detail: Some(format!(
                "heartbeat {}: target shows the beat of {}",
                self.table,
                seen.format("%H:%M:%S%.3f")
            )),
        }
    }
}

fn secs(d: chrono::TimeDelta) -> f64 {
    (d.num_milliseconds() as f64 / 1000.0).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_pg::ConnSettings;
    use std::sync::Arc;

    fn hb() -> Heartbeat {
        let s = ConnSettings::parse("x", "host=127.0.0.1").unwrap();
        let c = Arc::new(crate::session::Counters::default());
        Heartbeat::new(Session::new(s.clone(), c.clone()), Session::new(s, c), None)
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_unseen_beat() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::TimeDelta::seconds(s);
        let mut h = hb();
        assert_eq!(h.table, "\"public\".\"cutover_heartbeat\"");
        // Caught up: the target shows the latest beat.
        assert_eq!(h.account(at(0), Some(at(0))).seconds, Some(0.0));
        // Replication stops after beat 0: lag counts from beat 1, the first one missing.
        assert_eq!(h.account(at(1), Some(at(0))).seconds, Some(0.0));
        assert_eq!(h.account(at(2), Some(at(0))).seconds, Some(1.0));
        assert_eq!(h.account(at(5), Some(at(0))).seconds, Some(4.0));
        // Partly caught up, then fully.
        assert_eq!(h.account(at(6), Some(at(2))).seconds, Some(1.0));
        assert_eq!(h.account(at(7), Some(at(7))).seconds, Some(0.0));
    }

    #[test]
    fn a_target_behind_from_before_the_probe_started_counts_from_what_it_shows() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::TimeDelta::seconds(s);
        let mut h = hb();
        assert_eq!(h.account(at(100), Some(at(40))).seconds, Some(60.0));
        assert_eq!(h.account(at(101), Some(at(40))).seconds, Some(61.0));
        let r = h.account(at(102), None);
        assert_eq!(r.seconds, None);
        assert!(r.detail.unwrap().contains("no heartbeat row"));
    }
}
