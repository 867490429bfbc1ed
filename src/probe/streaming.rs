//! `method = "streaming"`: physical streaming replication.
//!
//! The role of each connection is detected (`pg_is_in_recovery()`):
//! - on the primary, `pg_stat_replication` gives bytes behind (`pg_wal_lsn_diff` between the
//!   current WAL position and what the standby wrote, flushed and replayed) and the
//!   write/flush/replay lag times. With several standbys, `application_name` picks one,
//!   otherwise the one furthest behind counts. Logical walsenders are left out.
//! - on a standby, the replay delay is `now - pg_last_xact_replay_timestamp()`, except that
//!   when everything received has been replayed the lag is 0: on an idle primary that
//!   timestamp stops moving and the naive figure grows forever (the idle-primary pitfall).
//!   A standby whose WAL receiver is not streaming is an error, not "0 behind".
//!
//! With `on` = primary and `target` = standby, bytes come from the primary and seconds from
//! the standby.

use crate::poller::Budget;
use crate::session::Session;
use cutover_model::lag::Reading;
use cutover_model::runbook::units::format_bytes;

/// Rows of physical walsenders, furthest behind first.
const PRIMARY_SQL: &str = "
select r.application_name::text,
       r.state::text,
       greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), r.write_lsn), 0)::float8,
       greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn), 0)::float8,
       greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn), 0)::float8,
       extract(epoch from r.replay_lag)::float8
  from pg_stat_replication r
 where not exists (select 1 from pg_replication_slots s
                    where s.active_pid = r.pid and s.slot_type = 'logical')
   and ($1::text is null or r.application_name = $1)
 order by 5 desc nulls first
 limit 1";

const STANDBY_SQL: &str = "
select (select status from pg_stat_wal_receiver limit 1),
       pg_last_wal_receive_lsn() is not null,
       greatest(coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::float8,
       case when pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() then 0
            else greatest(extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()), 0)
       end::float8,
       pg_is_wal_replay_paused()";

/// The streaming probe.
#[derive(Debug)]
pub struct Streaming {
    on: Session,
    target: Option<Session>,
    application_name: Option<String>,
}

impl Streaming {
    /// A probe on `on` (primary or standby), optionally with the standby as `target`.
    pub fn new(on: Session, target: Option<Session>, application_name: Option<String>) -> Self {
        Streaming {
            on,
            target,
            application_name,
        }
    }

    /// Forgets the connections.
    pub fn reset(&mut self) {
        self.on.reset();
        if let Some(t) = self.target.as_mut() {
            t.reset();
        }
    }

    /// One reading (primary and standby are queried concurrently).
    pub async fn read(&mut self, b: Budget) -> Result<Reading, String> {
        let app = self.application_name.clone();
        let on_name = self.on.name().to_string();
        let on = &mut self.on;
        let (first, second, target_name) = match self.target.as_mut() {
            None => return read_one(on, app.as_deref(), b).await.map(|r| r.reading),
            Some(t) => {
                let name = t.name().to_string();
                let (a, b) = tokio::join!(
                    read_one(on, app.as_deref(), b),
                    read_one(t, app.as_deref(), b)
                );
                (a?, b?, name)
            }
        };
        let (primary, standby) = match (first.role, second.role) {
            (Role::Primary, Role::Standby) => (first, second),
            (Role::Standby, Role::Primary) => (second, first),
            _ => {
                return Err(format!(
                    "streaming lag with a target needs a primary and a standby: `{}` and `{}` are both {}",
                    on_name,
                    target_name,
                    if first.role == Role::Primary {
                        "primaries"
                    } else {
                        "standbys"
                    }
                ));
            }
        };
        let detail = [primary.reading.detail, standby.reading.detail]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Reading {
            bytes: primary.reading.bytes,
            seconds: standby.reading.seconds.or(primary.reading.seconds),
            number: None,
            detail: Some(detail).filter(|d| !d.is_empty()),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Primary,
    Standby,
}

struct RoleReading {
    role: Role,
    reading: Reading,
}

async fn read_one(s: &mut Session, app: Option<&str>, b: Budget) -> Result<RoleReading, String> {
    if s.in_recovery(b.query, b.connect).await? {
        standby(s, b).await.map(|reading| RoleReading {
            role: Role::Standby,
            reading,
        })
    } else {
        primary(s, app, b).await.map(|reading| RoleReading {
            role: Role::Primary,
            reading,
        })
    }
}

async fn primary(s: &mut Session, app: Option<&str>, b: Budget) -> Result<Reading, String> {
    let row = s
        .query_opt(PRIMARY_SQL, &[&app], b.query, b.connect)
        .await?
        .ok_or_else(|| match app {
            Some(a) => format!(
                "no standby with application_name = {a:?} in pg_stat_replication on `{}`",
                s.name()
            ),
            None => format!(
                "no standby connected (pg_stat_replication on `{}` is empty)",
                s.name()
            ),
        })?;
    let get = |i| row.try_get::<_, Option<f64>>(i).map_err(|e| e.to_string());
    let name: Option<String> = row.try_get(0).map_err(|e| e.to_string())?;
    let state: Option<String> = row.try_get(1).map_err(|e| e.to_string())?;
    let (write, flush, replay, replay_lag) = (get(2)?, get(3)?, get(4)?, get(5)?);
    let bytes = replay.map(|r| r as u64);
    // replay_lag turns NULL once the standby has caught up and the primary is idle: then the
    // lag is 0 only if nothing is left to replay.
    let seconds = replay_lag.or(match bytes {
        Some(0) => Some(0.0),
        _ => None,
    });
    let fmt = |v: Option<f64>| v.map_or("?".to_string(), |v| format_bytes(v as u64));
    Ok(Reading {
        bytes,
        seconds,
        number: None,
        detail: Some(format!(
            "standby {} ({}): write {} · flush {} · replay {} behind",
            name.unwrap_or_default(),
            state.unwrap_or_default(),
            fmt(write),
            fmt(flush),
            fmt(replay)
        )),
    })
}

async fn standby(s: &mut Session, b: Budget) -> Result<Reading, String> {
    let row = s
        .query_opt(STANDBY_SQL, &[], b.query, b.connect)
        .await?
        .ok_or("standby query returned no row")?;
    let status: Option<String> = row.try_get(0).map_err(|e| e.to_string())?;
    let receiving: bool = row.try_get(1).map_err(|e| e.to_string())?;
    let bytes: f64 = row.try_get(2).map_err(|e| e.to_string())?;
    // NULL when nothing has been replayed since the standby started and WAL is pending.
    let seconds: Option<f64> = row.try_get(3).map_err(|e| e.to_string())?;
    let paused: bool = row.try_get(4).map_err(|e| e.to_string())?;
    if status.as_deref() != Some("streaming") || !receiving {
        return Err(format!(
            "standby `{}` is not streaming from its primary (WAL receiver: {}), so its lag is unknown",
            s.name(),
            status.as_deref().unwrap_or("not running")
        ));
    }
    Ok(Reading {
        bytes: Some(bytes as u64),
        seconds,
        number: None,
        detail: Some(format!(
            "standby {}: {} received, not replayed{}",
            s.name(),
            format_bytes(bytes as u64),
            if paused { " · replay paused" } else { "" }
        )),
    })
}
