//! `method = "logical"`: a logical replication slot on the source, and optionally the
//! subscription on the target.
//!
//! - source: bytes behind = `pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)` of
//!   slot `slot` (on a standby source, PostgreSQL 16+, the replay position stands in for the
//!   current one). A missing slot, or a physical one, is an error.
//! - target (when `target` is set): `pg_stat_subscription` of `subscription` (default: the
//!   slot name, as `CREATE SUBSCRIPTION` names its slot): whether it is enabled, whether its
//!   apply worker runs, and how long ago it last heard from the source. This goes into the
//!   detail; the target being unreachable does not make the source's bytes stale.

use crate::poller::Budget;
use crate::session::Session;
use cutover_model::lag::Reading;
use cutover_model::runbook::units::format_bytes;

const SLOT_SQL: &str = "
select greatest(pg_wal_lsn_diff(
           case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end,
           confirmed_flush_lsn), 0)::float8,
       active,
       slot_type::text
  from pg_replication_slots
 where slot_name = $1";

const SUBSCRIPTION_SQL: &str = "
select s.subenabled,
       st.pid is not null,
       extract(epoch from clock_timestamp() - st.last_msg_receipt_time)::float8
  from pg_subscription s
  left join pg_stat_subscription st on st.subid = s.oid and st.relid is null
 where s.subname = $1
   and s.subdbid = (select oid from pg_database where datname = current_database())
 limit 1";

/// The logical probe.
#[derive(Debug)]
pub struct Logical {
    source: Session,
    target: Option<Session>,
    slot: String,
    subscription: String,
}

impl Logical {
    /// A probe of `slot` on `source`, and of `subscription` (default: the slot's name) on `target`.
    pub fn new(
        source: Session,
        target: Option<Session>,
        slot: String,
        subscription: Option<String>,
    ) -> Self {
        let subscription = subscription.unwrap_or_else(|| slot.clone());
        Logical {
            source,
            target,
            slot,
            subscription,
        }
    }

    /// Forgets the connections.
    pub fn reset(&mut self) {
        self.source.reset();
        if let Some(t) = self.target.as_mut() {
            t.reset();
        }
    }

    /// One reading.
    pub async fn read(&mut self, b: Budget) -> Result<Reading, String> {
        let slot = self.slot.clone();
        let sub = self.subscription.clone();
        let source = &mut self.source;
        let src = async {
            let row = source
                .query_opt(SLOT_SQL, &[&slot], b.query, b.connect)
                .await?
                .ok_or_else(|| format!("no replication slot {slot:?} on `{}`", source.name()))?;
            let kind: Option<String> = row.try_get(2).map_err(|e| e.to_string())?;
            if kind.as_deref() != Some("logical") {
                return Err(format!(
                    "replication slot {slot:?} on `{}` is {}, not logical",
                    source.name(),
                    kind.unwrap_or_default()
                ));
            }
            let bytes: Option<f64> = row.try_get(0).map_err(|e| e.to_string())?;
            let active: bool = row.try_get(1).map_err(|e| e.to_string())?;
            let bytes = bytes.ok_or_else(|| {
                format!("slot {slot:?} has no confirmed position yet (still being created?)")
            })?;
            Ok::<_, String>((bytes as u64, active))
        };
        let tgt = async {
            match self.target.as_mut() {
                None => None,
                Some(t) => Some(subscription(t, &sub, b).await),
            }
        };
        let ((bytes, active), sub_state) = match tokio::join!(src, tgt) {
            (Err(e), _) => return Err(e),
            (Ok(v), s) => (v, s),
        };
        let mut detail = format!(
            "slot {} {} · {} behind",
            self.slot,
            if active {
                "active"
            } else {
                "inactive (no subscriber connected)"
            },
            format_bytes(bytes)
        );
        match sub_state {
            Some(Ok(s)) => {
                detail.push_str(" · ");
                detail.push_str(&s);
            }
            Some(Err(e)) => {
                detail.push_str(" · target: ");
                detail.push_str(&e);
            }
            None => {}
        }
        Ok(Reading {
            bytes: Some(bytes),
            seconds: None,
            number: None,
            detail: Some(detail),
        })
    }
}

async fn subscription(t: &mut Session, sub: &str, b: Budget) -> Result<String, String> {
    let row = t
        .query_opt(SUBSCRIPTION_SQL, &[&sub], b.query, b.connect)
        .await?
        .ok_or_else(|| format!("no subscription {sub:?} in this database of `{}`", t.name()))?;
    let enabled: bool = row.try_get(0).map_err(|e| e.to_string())?;
    let worker: bool = row.try_get(1).map_err(|e| e.to_string())?;
    let heard: Option<f64> = row.try_get(2).map_err(|e| e.to_string())?;
    Ok(if !enabled {
        format!("subscription {sub} disabled")
    } else if !worker {
        format!("subscription {sub} enabled, apply worker not running")
    } else {
        match heard {
            Some(s) => format!("subscription {sub} streaming, last message {s:.1}s ago"),
            None => format!("subscription {sub} streaming"),
        }
    })
}
