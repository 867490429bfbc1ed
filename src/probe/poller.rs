//! Running a lag probe: one task per probe polling once per `interval` and publishing the
//! latest [`LagSample`] on a `tokio::sync::watch` channel.
//!
//! Timing rules:
//! - each statement has a timeout of ¾ of the interval, so a server that stops answering
//!   makes the sample stale within two intervals (a closed connection does so at once);
//! - a failed poll drops the connection(s); the next attempts reconnect with backoff
//!   (1, 2, 4... intervals, at most [`MAX_BACKOFF`] or the interval if longer), and the probe
//!   recovers by itself when the server is back;
//! - a stale sample keeps the last good values, with `stale_since` and `error` set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::command::CommandProbe;
use crate::heartbeat::{self, Heartbeat};
use crate::logical::Logical;
use crate::session::{Counters, Session};
use crate::sql::SqlProbe;
use crate::streaming::Streaming;
use cutover_model::lag::{LagSample, LagUnit, Reading};
use cutover_model::protocol::LagInfo;
use cutover_model::runbook::{LagConfig, LagMethod, Threshold};
use cutover_pg::ConnSettings;

/// Longest wait between reconnection attempts (unless the interval is longer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Time limits of one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Per statement (and per command run).
    pub query: Duration,
    /// Per connection attempt.
    pub connect: Duration,
}

impl Budget {
    /// The budget for polling every `interval`.
    pub fn for_interval(interval: Duration) -> Budget {
        let query = interval.mul_f64(0.75).max(Duration::from_millis(50));
        Budget {
            query,
            connect: query.max(Duration::from_secs(2)),
        }
    }
}

/// What a probe needs: the `[lag]` section and what it refers to.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// The validated `[lag]` section.
    pub config: LagConfig,
    /// Resolved connections by name (at least those `[lag]` names).
    pub connections: BTreeMap<String, ConnSettings>,
    /// Secret values, for `sql`/`command` templates.
    pub secrets: BTreeMap<String, String>,
    /// Extra environment for `command` (vars and secrets, as for shell steps).
    pub env: Vec<(String, String)>,
}

/// A `[lag]` section the probe cannot run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    /// `on`/`target` names a connection that does not exist.
    #[error("[lag] uses connection `{0}`, which is not in [connections]")]
    UnknownConnection(String),
    /// A key the method needs is missing.
    #[error("[lag] method `{method}` needs `{key}`")]
    Missing {
        /// The `method` that needs the key.
        method: String,
        /// The missing key.
        key: &'static str,
    },
}

/// Overhead counters of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeStats {
    /// Statements sent to servers.
    pub queries: u64,
    /// Connections opened.
    pub connects: u64,
}

/// What the lag pane shows about the probe of `cfg`: what is measured (`logical slot
/// orders_sub on source`), the unit its thresholds compare in, and the thresholds. Both front
/// ends take these from here, so they never disagree.
pub fn lag_info(cfg: &LagConfig) -> LagInfo {
    let unit = LagUnit::for_method(cfg.method, &[cfg.warn, cfg.critical]);
    let value = |t: &Threshold| match t {
        Threshold::Bytes(b) => *b as f64,
        Threshold::Time(d) => d.get().as_secs_f64(),
        Threshold::Number(n) => *n,
    };
    LagInfo {
        description: describe(cfg),
        unit,
        warn: cfg.warn.as_ref().map(value),
        critical: cfg.critical.as_ref().map(value),
        interval_ms: cfg.interval.as_millis() as u64,
        on: match cfg.method {
            LagMethod::Command => None,
            _ => Some(cfg.on.clone().unwrap_or_else(|| "source".into())),
        },
    }
}

/// What the probe of `cfg` measures, in words.
fn describe(cfg: &LagConfig) -> String {
    let on = cfg.on.as_deref().unwrap_or("source");
    let target = cfg.target.as_deref().unwrap_or("?");
    match cfg.method {
        LagMethod::Streaming => match &cfg.target {
            Some(t) => format!("streaming {on} → {t}"),
            None => format!("streaming on {on}"),
        },
        LagMethod::Logical => {
            format!(
                "logical slot {} on {on}",
                cfg.slot.as_deref().unwrap_or("?")
            )
        }
        LagMethod::Heartbeat => {
            let table = cfg.table.as_deref().unwrap_or(heartbeat::DEFAULT_TABLE);
            format!("heartbeat {table} {on} → {target}")
        }
        LagMethod::Sql => format!("query on {on}"),
        LagMethod::Command => match &cfg.command {
            Some(c) => format!("command `{}`", c.display()),
            None => "command".to_string(),
        },
    }
}

/// A running probe. Dropping it stops the task.
#[derive(Debug)]
pub struct LagProbe {
    rx: watch::Receiver<LagSample>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
    description: String,
    unit: LagUnit,
    interval: Duration,
}

impl LagProbe {
    /// Starts the probe on the current tokio runtime.
    pub fn spawn(spec: ProbeSpec) -> Result<LagProbe, ProbeError> {
        let counters = Arc::new(Counters::default());
        let cfg = &spec.config;
        let unit = LagUnit::for_method(cfg.method, &[cfg.warn, cfg.critical]);
        let method = build(&spec, unit, &counters)?;
        let description = describe(cfg);
        let (tx, rx) = watch::channel(LagSample::default());
        let interval = cfg.interval;
        let task = tokio::spawn(run(method, interval, tx));
        Ok(LagProbe {
            rx,
            task,
            counters,
            description,
            unit,
            interval,
        })
    }

    /// A receiver of the latest sample (`changed()` fires after every poll).
    pub fn subscribe(&self) -> watch::Receiver<LagSample> {
        self.rx.clone()
    }

    /// The latest sample.
    pub fn latest(&self) -> LagSample {
        self.rx.borrow().clone()
    }

    /// What is measured, for the pane title: `logical slot orders_sub on source`.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The unit thresholds compare against.
    pub fn unit(&self) -> LagUnit {
        self.unit
    }

    /// The poll interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Statements and connections sent so far.
    pub fn stats(&self) -> ProbeStats {
        ProbeStats {
            queries: self.counters.queries.load(Ordering::Relaxed),
            connects: self.counters.connects.load(Ordering::Relaxed),
        }
    }

    /// Stops the probe (also done on drop).
    pub fn stop(self) {}
}

impl Drop for LagProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Method {
    Streaming(Streaming),
    Logical(Logical),
    Heartbeat(Heartbeat),
    Sql(SqlProbe),
    Command(CommandProbe),
}

impl Method {
    async fn read(&mut self, b: Budget) -> Result<Reading, String> {
        match self {
            Method::Streaming(m) => m.read(b).await,
            Method::Logical(m) => m.read(b).await,
            Method::Heartbeat(m) => m.read(b).await,
            Method::Sql(m) => m.read(b).await,
            Method::Command(m) => m.read(b).await,
        }
    }

    fn reset(&mut self) {
        match self {
            Method::Streaming(m) => m.reset(),
            Method::Logical(m) => m.reset(),
            Method::Heartbeat(m) => m.reset(),
            Method::Sql(m) => m.reset(),
            Method::Command(_) => {}
        }
    }
}

fn build(spec: &ProbeSpec, unit: LagUnit, counters: &Arc<Counters>) -> Result<Method, ProbeError> {
    let cfg = &spec.config;
    let method_name = format!("{:?}", cfg.method).to_lowercase();
    let missing = |key| ProbeError::Missing {
        method: method_name.clone(),
        key,
    };
    let session = |name: &str| {
        spec.connections
            .get(name)
            .map(|s| Session::new(s.clone(), counters.clone()))
            .ok_or_else(|| ProbeError::UnknownConnection(name.to_string()))
    };
    let on_name = cfg.on.clone().unwrap_or_else(|| "source".to_string());
    let target = cfg.target.as_deref().map(session).transpose()?;
    Ok(match cfg.method {
        LagMethod::Streaming => Method::Streaming(Streaming::new(
            session(&on_name)?,
            target,
            cfg.application_name.clone(),
        )),
        LagMethod::Logical => {
            let slot = cfg.slot.clone().ok_or_else(|| missing("slot"))?;
            Method::Logical(Logical::new(
                session(&on_name)?,
                target,
                slot,
                cfg.subscription.clone(),
            ))
        }
        LagMethod::Heartbeat => {
            let t = target.ok_or_else(|| missing("target"))?;
            let table = cfg
                .table
                .clone()
                .unwrap_or_else(|| heartbeat::DEFAULT_TABLE.to_string());
            Method::Heartbeat(Heartbeat::new(session(&on_name)?, t, Some(table)))
        }
        LagMethod::Sql => {
            let sql = cfg.sql.as_ref().ok_or_else(|| missing("sql"))?;
            Method::Sql(SqlProbe::new(
                session(&on_name)?,
                sql.render(&spec.secrets),
                unit,
            ))
        }
        LagMethod::Command => {
            let cmd = cfg.command.as_ref().ok_or_else(|| missing("command"))?;
            Method::Command(CommandProbe::new(
                cmd.render(&spec.secrets),
                spec.env.clone(),
                unit,
            ))
        }
    })
}

/// Wait before the next attempt after `failures` consecutive failures.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let cap = MAX_BACKOFF.max(interval);
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    interval.saturating_mul(factor).min(cap)
}

async fn run(mut method: Method, interval: Duration, tx: watch::Sender<LagSample>) {
    let budget = Budget::for_interval(interval);
    // A poll is at most a connect and two statements in a row; this only guards against a
    // method that ignores its budget.
    let outer = budget.connect + budget.query * 2 + Duration::from_secs(1);
    let mut failures = 0u32;
    let mut next = Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let started = Instant::now();
        let started_utc = Utc::now();
        let result = match tokio::time::timeout(outer, method.read(budget)).await {
            Ok(r) => r,
            Err(_) => {
                method.reset();
                Err(format!(
                    "the probe did not finish within {:.1}s",
                    outer.as_secs_f64()
                ))
            }
        };
        let now = Utc::now();
        let ok = result.is_ok();
        tx.send_modify(|s| {
            s.seq += 1;
            s.checked_at = Some(now);
            match result {
                Ok(r) => {
                    s.at = Some(now);
                    s.bytes = r.bytes;
                    s.seconds = r.seconds;
                    s.number = r.number;
                    s.detail = r.detail;
                    s.stale_since = None;
                    s.error = None;
                }
                Err(e) => {
                    if s.stale_since.is_none() {
                        s.stale_since = Some(started_utc);
                    }
                    s.error = Some(e);
                }
            }
        });
        if tx.is_closed() {
            return;
        }
        next = if ok {
            failures = 0;
            (started + interval).max(Instant::now())
        } else {
            failures = failures.saturating_add(1);
            Instant::now() + backoff(failures, interval)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        let i = s(1);
        let got: Vec<Duration> = (1..=6).map(|f| backoff(f, i)).collect();
        assert_eq!(got, vec![s(1), s(2), s(4), s(5), s(5), s(5)]);
        assert_eq!(backoff(3, s(30)), s(30));
        assert_eq!(backoff(1000, Duration::from_millis(100)), s(5));
    }

    #[test]
    fn budget_keeps_statements_inside_the_interval() {
        let b = Budget::for_interval(Duration::from_secs(1));
        assert_eq!(b.query, Duration::from_millis(750));
        assert_eq!(b.connect, Duration::from_secs(2));
    }
}

#[cfg(test)]
mod spawn_tests {
    use super::*;
    use cutover_model::runbook::Template;

    fn config(method: LagMethod) -> LagConfig {
        LagConfig::on_source(method, Duration::from_millis(100))
    }

    fn spec(config: LagConfig) -> ProbeSpec {
        ProbeSpec {
            config,
            connections: BTreeMap::new(),
            secrets: BTreeMap::from([("N".to_string(), "7".to_string())]),
            env: Vec::new(),
        }
    }

    #[tokio::test]
    async fn unknown_connections_and_missing_keys_are_refused() {
        let e = LagProbe::spawn(spec(config(LagMethod::Streaming))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[lag] uses connection `source`, which is not in [connections]"
        );
        let e = LagProbe::spawn(spec(config(LagMethod::Command))).unwrap_err();
        assert_eq!(e.to_string(), "[lag] method `command` needs `command`");
    }

    #[tokio::test]
    async fn a_command_probe_publishes_samples_and_goes_stale_on_failure() {
        let t = tempfile::tempdir().unwrap();
        let flag = t.path().join("fail");
        let mut cfg = config(LagMethod::Command);
        let cmd = format!(
            "if [ -e '{}' ]; then exit 1; fi; echo ${{secrets.N}}",
            flag.display()
        );
        cfg.command = Some(Template::parse(&cmd, &BTreeMap::new(), &["N".to_string()]).unwrap());
        let probe = LagProbe::spawn(spec(cfg)).unwrap();
        assert_eq!(
            probe.describe(),
            format!("command `{}`", cmd.replace("${secrets.N}", "••••"))
        );
        let mut rx = probe.subscribe();
        let until = |rx: &mut watch::Receiver<LagSample>, f: fn(&LagSample) -> bool| {
            let mut rx = rx.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(10), rx.wait_for(f))
                    .await
                    .expect("condition reached")
                    .expect("probe alive")
                    .clone()
            }
        };
        let s = until(&mut rx, |s| s.is_fresh()).await;
        assert_eq!(s.number, Some(7.0));
        std::fs::write(&flag, "").unwrap();
        let s = until(&mut rx, |s| s.is_stale()).await;
        assert_eq!(s.number, Some(7.0), "the last value is kept");
        assert!(
            s.error.as_deref().unwrap().contains("exited with 1"),
            "{s:?}"
        );
        std::fs::remove_file(&flag).unwrap();
        let s = until(&mut rx, |s| s.is_fresh()).await;
        assert!(s.error.is_none());
    }
}
