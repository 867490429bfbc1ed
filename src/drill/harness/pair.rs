//! A source/target pair of harness clusters joined by logical replication.

use std::time::Duration;

use crate::harness::cluster::{Cluster, ClusterError, poll_until};
use cutover_model::ident::{quote_ident, quote_literal, quote_qualified};

/// Publication name used by [`Pair::logical`].
pub const PUBLICATION: &str = "cutover_pub";
/// Subscription (and slot) name used by [`Pair::logical`].
pub const SUBSCRIPTION: &str = "cutover_sub";

/// Two clusters, `source` publishing to `target`. Dropping the pair drops both (target first).
#[derive(Debug)]
pub struct Pair {
    /// The subscriber.
    pub target: Cluster,
    /// The publisher.
    pub source: Cluster,
    /// Database replicated (the same name on both sides).
    pub database: String,
    /// Publication on the source.
    pub publication: String,
    /// Subscription on the target; also the name of its slot on the source.
    pub subscription: String,
}

impl Pair {
    /// Publishes `tables` (all tables when empty) of database `postgres` on `source`,
    /// subscribes `target` to them, and waits until the initial copy is done.
    ///
    /// The tables must already exist on both sides (logical replication carries rows, not DDL).
    pub async fn logical(
        source: Cluster,
        target: Cluster,
        tables: &[&str],
    ) -> Result<Pair, ClusterError> {
        Self::logical_in(source, target, "postgres", tables).await
    }

    /// [`Pair::logical`] for database `database`.
    pub async fn logical_in(
        source: Cluster,
        target: Cluster,
        database: &str,
        tables: &[&str],
    ) -> Result<Pair, ClusterError> {
        let pair = Pair {
            target,
            source,
            database: database.to_string(),
            publication: PUBLICATION.to_string(),
            subscription: SUBSCRIPTION.to_string(),
        };
        let what = if tables.is_empty() {
            "all tables".to_string()
        } else {
            format!(
                "table {}",
                tables
                    .iter()
                    .map(|t| quote_qualified(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let src = pair.source.connect_db(database).await?;
        let sql = format!(
            "create publication {} for {what}",
            quote_ident(&pair.publication)
        );
        src.batch_execute(&sql)
            .await
            .map_err(|source| pair.source_err("create the publication", source))?;
        let dst = pair.target.connect_db(database).await?;
        let sql = format!(
            "create subscription {} connection {} publication {}",
            quote_ident(&pair.subscription),
            quote_literal(&pair.source.dsn_db(database)),
            quote_ident(&pair.publication)
        );
        dst.batch_execute(&sql)
            .await
            .map_err(|source| ClusterError::Sql {
                cluster: pair.target.name().to_string(),
                what: "create the subscription".into(),
                source,
            })?;
        pair.wait_synced(Duration::from_secs(120)).await?;
        Ok(pair)
    }

    /// The replication slot on the source.
    pub fn slot(&self) -> &str {
        &self.subscription
    }

    /// Waits until every subscribed table finished its initial copy (state `r`eady).
    pub async fn wait_synced(&self, timeout: Duration) -> Result<(), ClusterError> {
        let dst = self.target.connect_db(&self.database).await?;
        let sub = self.subscription.clone();
        poll_until("the initial table copy", timeout, || {
            let dst = &dst;
            let sub = sub.clone();
            async move {
                dst.query_one(
                    "select count(*) filter (where r.srsubstate <> 'r') = 0
                       from pg_subscription s left join pg_subscription_rel r on r.srsubid = s.oid
                      where s.subname = $1",
                    &[&sub],
                )
                .await
                .is_ok_and(|row| row.get::<_, bool>(0))
            }
        })
        .await
    }

    /// Enables or disables the subscription (`ALTER SUBSCRIPTION ... ENABLE | DISABLE`).
    pub async fn set_subscription_enabled(&self, enabled: bool) -> Result<(), ClusterError> {
        let dst = self.target.connect_db(&self.database).await?;
        let sql = format!(
            "alter subscription {} {}",
            quote_ident(&self.subscription),
            if enabled { "enable" } else { "disable" }
        );
        dst.batch_execute(&sql)
            .await
            .map_err(|source| ClusterError::Sql {
                cluster: self.target.name().to_string(),
                what: sql.clone(),
                source,
            })
    }

    fn source_err(&self, what: &str, source: tokio_postgres::Error) -> ClusterError {
        ClusterError::Sql {
            cluster: self.source.name().to_string(),
            what: what.to_string(),
            source,
        }
    }
}
