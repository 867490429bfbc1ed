//! A probe's connection to one server: connected on first use, dropped on any error (the next
//! poll reconnects), every statement under a timeout, every statement counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use cutover_pg::ConnSettings;

/// Statements and connections a probe has sent, for measuring its overhead.
#[derive(Debug, Default)]
pub struct Counters {
    /// Statements sent.
    pub queries: AtomicU64,
    /// Connections opened.
    pub connects: AtomicU64,
}

/// A lazily (re)connected session.
#[derive(Debug)]
pub struct Session {
    settings: ConnSettings,
    client: Option<Client>,
    counters: Arc<Counters>,
    /// Whether the server is a standby (`pg_is_in_recovery()`), learned per connection.
    pub in_recovery: Option<bool>,
}

impl Session {
    /// A session that connects with `settings` when first used.
    pub fn new(settings: ConnSettings, counters: Arc<Counters>) -> Session {
        Session {
            settings,
            client: None,
            counters,
            in_recovery: None,
        }
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        self.settings.name()
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Forgets the connection (after an error or a timeout; the next use reconnects).
    pub fn reset(&mut self) {
        self.client = None;
        self.in_recovery = None;
    }

    /// The client, connecting first if needed (bounded by `connect_budget`). Returns whether
    /// this call opened a new connection.
    pub async fn client(&mut self, connect_budget: Duration) -> Result<(&Client, bool), String> {
        let fresh = !self.is_connected();
        if fresh {
            self.reset();
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
            let settings = self
                .settings
                .clone()
                .with_connect_timeout(connect_budget.max(Duration::from_secs(1)));
            let client = match tokio::time::timeout(
                connect_budget + Duration::from_millis(500),
                settings.connect(),
            )
            .await
            {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => {
                    return Err(format!(
                        "connection `{}` ({}): timed out: no connection within {:.1}s",
                        self.settings.name(),
                        self.settings.endpoint(),
                        connect_budget.as_secs_f64()
                    ));
                }
            };
            self.client = Some(client);
        }
        match &self.client {
            Some(c) => Ok((c, fresh)),
            None => Err("not connected".into()),
        }
    }

    /// Runs one statement expecting at most one row, under `timeout`; any failure resets the
    /// session.
    pub async fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        timeout: Duration,
        connect_budget: Duration,
    ) -> Result<Option<Row>, String> {
        let counters = self.counters.clone();
        let r = {
            let (client, _) = self.client(connect_budget).await?;
            counters.queries.fetch_add(1, Ordering::Relaxed);
            tokio::time::timeout(timeout, client.query_opt(sql, params)).await
        };
        self.finish(r, timeout)
    }

    /// Runs `sql` with the simple query protocol (user queries: any type comes back as text)
    /// and returns the first column of the first row.
    pub async fn simple_scalar(
        &mut self,
        sql: &str,
        timeout: Duration,
        connect_budget: Duration,
    ) -> Result<Option<Option<String>>, String> {
        let counters = self.counters.clone();
        let r = {
            let (client, _) = self.client(connect_budget).await?;
            counters.queries.fetch_add(1, Ordering::Relaxed);
            tokio::time::timeout(timeout, client.simple_query(sql)).await
        };
        let msgs = self.finish(r, timeout)?;
        for m in msgs {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
                return Ok(Some(row.get(0).map(str::to_string)));
            }
        }
        Ok(None)
    }

    /// Runs statements without results (DDL), under `timeout`.
    pub async fn batch(
        &mut self,
        sql: &str,
        timeout: Duration,
        connect_budget: Duration,
    ) -> Result<(), String> {
        let counters = self.counters.clone();
        let r = {
            let (client, _) = self.client(connect_budget).await?;
            counters.queries.fetch_add(1, Ordering::Relaxed);
            tokio::time::timeout(timeout, client.batch_execute(sql)).await
        };
        self.finish(r, timeout)
    }

    /// Learns (once per connection) whether the server is a standby.
    pub async fn in_recovery(
        &mut self,
        timeout: Duration,
        connect_budget: Duration,
    ) -> Result<bool, String> {
        if let (Some(r), true) = (self.in_recovery, self.is_connected()) {
            return Ok(r);
        }
        let row = self
            .query_opt("select pg_is_in_recovery()", &[], timeout, connect_budget)
            .await?
            .ok_or("pg_is_in_recovery() returned no row")?;
        let r: bool = row.try_get(0).map_err(|e| e.to_string())?;
        self.in_recovery = Some(r);
        Ok(r)
    }

    fn finish<T>(
        &mut self,
        r: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
        timeout: Duration,
    ) -> Result<T, String> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let msg = self.describe(&e);
                self.reset();
                Err(msg)
            }
            Err(_) => {
                self.reset();
                Err(format!(
                    "connection `{}`: no answer within {:.1}s",
                    self.settings.name(),
                    timeout.as_secs_f64()
                ))
            }
        }
    }

    fn describe(&self, e: &tokio_postgres::Error) -> String {
        let text = match e.as_db_error() {
            Some(db) => {
                let mut t = format!("{} (SQLSTATE {})", db.message(), db.code().code());
                if let Some(h) = db.hint() {
                    t.push_str("; hint: ");
                    t.push_str(h);
                }
                t
            }
            None => {
                let (_, detail) = cutover_pg::conn::classify(e);
                detail
            }
        };
        self.settings
            .mask(&format!("connection `{}`: {text}", self.settings.name()))
    }
}
