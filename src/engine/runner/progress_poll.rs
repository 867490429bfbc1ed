//! A step's `progress` query, polled on a session of its own while the step runs (the step's
//! own session is busy with the copy). Its figures go straight to the front end (they are
//! not journaled); a failing or hanging query is said with the last good figures and tried
//! again next time, never holding up the step. Its session has a `statement_timeout` of
//! [`POLL_WITHIN`] and a short `lock_timeout`, so the server ends a poll that hangs (a count
//! stuck behind the copy's lock) and polls never pile up. The task ends with the attempt.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_postgres::{Client, SimpleQueryMessage};

use cutover_model::protocol::Event;
use cutover_model::runbook::Step;
use cutover_model::secrets::Masker;
use cutover_pg::ConnSettings;

/// How long one poll may take (connecting included) before it counts as failed.
const POLL_WITHIN: Duration = Duration::from_secs(10);

/// The running poll; dropping it stops it.
pub(super) struct ProgressPoll(tokio::task::JoinHandle<()>);

impl Drop for ProgressPoll {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one poll needs.
struct Poll {
    settings: ConnSettings,
    sql: String,
    every: Duration,
    unit: String,
    index: usize,
    masker: Masker,
    tx: mpsc::Sender<Event>,
}

impl ProgressPoll {
    /// Starts polling `step`'s `progress` query (step `index`), if it has one and its
    /// connection is known; its figures go to `tx`, masked by `masker`.
    pub(super) fn start(
        step: &Step,
        index: usize,
        conns: &BTreeMap<String, ConnSettings>,
        secrets: &BTreeMap<String, String>,
        masker: &Masker,
        tx: mpsc::Sender<Event>,
    ) -> Option<ProgressPoll> {
        let p = step.progress.as_ref()?;
        let poll = Poll {
            settings: conns.get(&p.on)?.clone(),
            sql: p.sql.render(secrets),
            every: p.every,
            unit: p.unit.clone(),
            index,
            masker: masker.clone(),
            tx,
        };
        Some(ProgressPoll(tokio::spawn(poll.run())))
    }
}

impl Poll {
    /// Polls until the attempt ends (the task is aborted) or the front end is gone.
    async fn run(self) {
        let mut client: Option<Client> = None;
        let mut last: (u64, Option<u64>) = (0, None);
        let mut ok_once = false;
        loop {
            let read = tokio::time::timeout(POLL_WITHIN, self.read(&mut client)).await;
            let error = match read {
                Ok(Ok(figures)) => {
                    last = figures;
                    ok_once = true;
                    None
                }
                Ok(Err(e)) => Some(e),
                Err(_) => {
                    client = None;
                    Some(format!("no answer within {}s", POLL_WITHIN.as_secs()))
                }
            };
            if error.is_some() {
                client = None;
            }
            if ok_once || error.is_some() {
                let ev = Event::StepProgress {
                    index: self.index,
                    done: last.0,
                    total: last.1,
                    unit: self.unit.clone(),
                    error: error.map(|e| self.masker.mask(&e).into_owned()),
                    at: Utc::now(),
                };
                if self.tx.send(ev).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(self.every).await;
        }
    }

    /// One reading: the first row's first two values as (done, total).
    async fn read(&self, client: &mut Option<Client>) -> Result<(u64, Option<u64>), String> {
        if client.is_none() {
            let c = self
                .settings
                .clone()
                .with_application_name("cutover-progress")
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            // The server ends a slow or blocked poll itself: polls never pile up on it, even
            // when this task is stopped mid-query (the attempt ended) or gives up waiting.
            c.batch_execute(&format!(
                "SET statement_timeout = {}; SET lock_timeout = 2000",
                POLL_WITHIN.as_millis()
            ))
            .await
            .map_err(|e| e.to_string())?;
            *client = Some(c);
        }
        let Some(c) = client.as_ref() else {
            return Err("no session".into());
        };
        let msgs = c.simple_query(&self.sql).await.map_err(|e| {
            let (_, detail) = cutover_pg::conn::classify(&e);
            detail
        })?;
        let row = msgs
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .ok_or("the progress query returned no row")?;
        let done = row
            .get(0)
            .and_then(count)
            .ok_or("the progress query's first value is not a count")?;
        let total = row.get(1).and_then(count);
        Ok((done, total))
    }
}

/// A count as the server wrote it (`412000`, `412000.7`, `4.1e5`): rounded down, never
/// negative.
fn count(text: &str) -> Option<u64> {
    let v: f64 = text.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_are_read_as_the_server_writes_numbers() {
        assert_eq!(count("412000"), Some(412_000));
        assert_eq!(count(" 7.9 "), Some(7));
        assert_eq!(count("4.1e5"), Some(410_000));
        assert_eq!(count("-3"), None);
        assert_eq!(count("NaN"), None);
        assert_eq!(count("Infinity"), None);
        assert_eq!(count("many"), None);
    }
}
