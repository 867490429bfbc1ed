//! SQL on named connections: `sql` steps, `wait = { sql = ... }`, `rollback_sql`. Results are
//! shown as a small table; a timeout or an operator stop cancels the query on the server.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::triggers::Inbound;
use super::*;
use cutover_model::runbook::{Expect, Template};

/// Rows shown in the output pane for one result, at most.
const SHOWN_ROWS: usize = 50;
/// Widest column shown, in characters.
const CELL: usize = 40;

/// The last result set of a statement list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct SqlResult {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    /// Rows affected by the last command, when it returned no rows.
    affected: Option<u64>,
}

impl SqlResult {
    fn from_messages(msgs: Vec<SimpleQueryMessage>) -> SqlResult {
        let mut current = SqlResult::default();
        let mut last = SqlResult::default();
        for m in msgs {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    current.columns = cols.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => {
                    if current.columns.is_empty() {
                        current.columns =
                            row.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    current.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => {
                    if current.columns.is_empty() {
                        current.affected = Some(n);
                    }
                    last = std::mem::take(&mut current);
                }
                _ => {}
            }
        }
        last
    }

    /// Rows returned, or rows affected by a command that returns none.
    fn count(&self) -> u64 {
        if self.columns.is_empty() {
            self.affected.unwrap_or(0)
        } else {
            self.rows.len() as u64
        }
    }

    /// The single value of a one-row, one-column result.
    fn scalar(&self) -> Option<Option<&str>> {
        (self.rows.len() == 1 && self.columns.len() == 1).then(|| self.rows[0][0].as_deref())
    }

    /// Whether the first value is true (`t`, `true`, `on`, `yes`, `1`).
    fn is_true(&self) -> bool {
        self.rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            .is_some_and(|v| {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "t" | "true" | "on" | "yes" | "1"
                )
            })
    }

    /// The result as table lines.
    fn table(&self) -> Vec<String> {
        if self.columns.is_empty() {
            return vec![format!("({} row(s) affected)", self.affected.unwrap_or(0))];
        }
        let cell = |v: &Option<String>| -> String {
            let s = v.as_deref().unwrap_or("NULL");
            let s: String = s.replace(['\n', '\r', '\t'], " ");
            if s.chars().count() > CELL {
                format!("{}…", s.chars().take(CELL - 1).collect::<String>())
            } else {
                s
            }
        };
        let shown: Vec<Vec<String>> = self
            .rows
            .iter()
            .take(SHOWN_ROWS)
            .map(|r| r.iter().map(cell).collect())
            .collect();
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|c| c.chars().count().min(CELL))
            .collect();
        for r in &shown {
            for (i, v) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(v.chars().count());
                }
            }
        }
        let line = |vals: &[String]| -> String {
            vals.iter()
                .enumerate()
                .map(|(i, v)| format!("{v:<w$}", w = widths.get(i).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(" │ ")
                .trim_end()
                .to_string()
        };
        let mut out = vec![line(&self.columns)];
        out.push(
            widths
                .iter()
                .map(|w| "─".repeat(*w))
                .collect::<Vec<_>>()
                .join("─┼─"),
        );
        out.extend(shown.iter().map(|r| line(r)));
        let n = self.rows.len();
        if n > SHOWN_ROWS {
            out.push(format!("… {} more row(s)", n - SHOWN_ROWS));
        }
        out.push(format!("({n} row{})", if n == 1 { "" } else { "s" }));
        out
    }
}

/// How a query ended.
pub(super) enum QueryEnd {
    Done(Result<SqlResult, String>),
    TimedOut,
    Stopped(Stop),
}

impl Runner<'_> {
    /// A client for connection `name`, connecting (again) when needed.
    pub(super) async fn client(&mut self, name: &str) -> Result<Arc<Client>, String> {
        let stale = self.clients.get(name).is_some_and(|c| c.is_closed());
        if stale {
            self.clients.remove(name);
        }
        if !self.clients.contains_key(name) {
            let settings = self
                .conns
                .get(name)
                .ok_or_else(|| format!("no connection named `{name}`"))?;
            let client = settings.connect().await.map_err(|e| e.to_string())?;
            self.clients.insert(name.to_string(), Arc::new(client));
        }
        self.clients
            .get(name)
            .cloned()
            .ok_or_else(|| format!("connection `{name}` is not open"))
    }

    /// Runs `sql` on `on`, answering the operator meanwhile; a timeout or a stop cancels the
    /// query on the server.
    pub(super) async fn query(
        &mut self,
        on: &str,
        sql: &str,
        timeout: Option<Duration>,
        answer_operator: bool,
    ) -> Result<QueryEnd, EngineError> {
        let client = match self.client(on).await {
            Ok(c) => c,
            Err(e) => return Ok(QueryEnd::Done(Err(self.masker.mask(&e).into_owned()))),
        };
        let token = client.cancel_token();
        let deadline = timeout.map(|t| Instant::now() + t);
        let fut = client.simple_query(sql);
        tokio::pin!(fut);
        let end = loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let inbound = tokio::select! {
                r = &mut fut => {
                    let r = r.map(SqlResult::from_messages).map_err(|e| {
                        let (_, detail) = cutover_pg::conn::classify(&e);
                        self.masker.mask(&detail).into_owned()
                    });
                    break QueryEnd::Done(r);
                }
                () = sleep => break QueryEnd::TimedOut,
                inbound = self.recv(), if answer_operator => inbound,
            };
            let cmd = match inbound {
                Inbound::Cmd(c) => Some(c),
                Inbound::Tick => self.on_tick().await?,
            };
            let screened = match cmd {
                Some(c) => self.screen(c).await?,
                None => None,
            };
            match screened {
                None => {}
                Some(Command::Cancel) => break QueryEnd::Stopped(Stop::Cancel),
                Some(Command::Abort { reason }) => break QueryEnd::Stopped(Stop::Abort(reason)),
                Some(Command::Rollback { .. }) => break QueryEnd::Stopped(Stop::Rollback),
                Some(other) => {
                    let msg = format!(
                        "{} does nothing now: a query is running on {on} (cancel it first)",
                        cmd_name(&other)
                    );
                    self.notice(Level::Warn, msg).await?;
                }
            }
        };
        if !matches!(end, QueryEnd::Done(_)) {
            // Cancel on the server, then let the client see the query end.
            if let Some(settings) = self.conns.get(on)
                && let Err(e) = settings.cancel(&token).await
            {
                tracing::warn!("cancel request on {on} failed: {e}");
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut fut).await;
        }
        Ok(end)
    }

    /// A `sql` step (or a `rollback_sql` action when `expect` is the default).
    pub(super) async fn sql_attempt(
        &mut self,
        index: usize,
        sql: &Template,
        on: &str,
        expect: &Expect,
    ) -> AttemptResult {
        let timeout = self.rb.steps[index].timeout;
        let text = sql.render(self.secrets);
        let end = self.query(on, &text, timeout, true).await?;
        let result = match end {
            QueryEnd::Done(r) => r,
            QueryEnd::TimedOut => {
                let t = timeout.map_or(
                    String::new(),
                    cutover_model::runbook::units::format_duration,
                );
                let a = Attempt {
                    outcome: StepOutcome::TimedOut,
                    ..Attempt::failed(format!(
                        "timed out after {t}; the query was cancelled on the server"
                    ))
                };
                return Ok(Ok(a));
            }
            QueryEnd::Stopped(s) => {
                let a = Attempt {
                    outcome: StepOutcome::Cancelled,
                    ..Attempt::failed(
                        "stopped by the operator; the query was cancelled on the server".into(),
                    )
                };
                return Ok(Err((a, s)));
            }
        };
        match result {
            Err(e) => Ok(Ok(Attempt::failed(format!("{on}: {e}")))),
            Ok(res) => {
                let mut text: String = res.table().into_iter().map(|l| l + "\n").collect();
                self.masker.mask_lines(&mut text);
                self.io
                    .emit(Event::Output {
                        index,
                        stream: Stream::Stdout,
                        text,
                    })
                    .await?;
                let checks = sql_checks(&res, expect);
                let failed = checks.iter().find(|c| !c.passed).map(|c| c.detail.clone());
                Ok(Ok(Attempt {
                    outcome: if failed.is_none() {
                        StepOutcome::Passed
                    } else {
                        StepOutcome::Failed
                    },
                    exit_code: None,
                    checks,
                    message: failed,
                    output_file: None,
                }))
            }
        }
    }

    /// One poll of `wait = { sql = ... }`: Ok(true) when the query returns true.
    pub(super) async fn sql_condition(
        &mut self,
        on: &str,
        sql: &Template,
        timeout: Duration,
    ) -> Result<Result<bool, String>, EngineError> {
        let text = sql.render(self.secrets);
        Ok(match self.query(on, &text, Some(timeout), false).await? {
            QueryEnd::Done(Ok(r)) => Ok(r.is_true()),
            QueryEnd::Done(Err(e)) => Err(e),
            QueryEnd::TimedOut => Err(format!("no answer within {}s", timeout.as_secs())),
            QueryEnd::Stopped(_) => Err("stopped".into()),
        })
    }
}

impl Runner<'_> {
    /// `wait = { sql = ..., on = ..., every = ..., for = ... }`: polls until the query returns
    /// true (continuously for `hold`); errors count as "not yet" and are shown.
    pub(super) async fn wait_sql_step(
        &mut self,
        index: usize,
        sql: &Template,
        on: &str,
        every: Duration,
        hold: Duration,
    ) -> AttemptResult {
        let deadline = self.rb.steps[index].timeout.map(|d| Instant::now() + d);
        let mut polls = 0u32;
        let mut holding_since: Option<Instant> = None;
        let result = |outcome, detail: String, passed, message| {
            Attempt::checked("wait", outcome, detail, passed, message)
        };
        loop {
            let now = Instant::now();
            let per_poll = deadline.map_or(every.max(Duration::from_secs(5)), |d| {
                d.saturating_duration_since(now)
                    .max(Duration::from_millis(100))
            });
            let seen = self.sql_condition(on, sql, per_poll).await?;
            polls += 1;
            let now = Instant::now();
            let msg = match &seen {
                Ok(true) => {
                    let since = *holding_since.get_or_insert(now);
                    let held = now.duration_since(since);
                    if held >= hold {
                        let detail = format!("query returned true after {polls} polls");
                        return Ok(Ok(result(StepOutcome::Passed, detail, true, None)));
                    }
                    format!(
                        "poll {polls}: true, holding {} of {}",
                        cutover_model::runbook::units::format_duration(held),
                        cutover_model::runbook::units::format_duration(hold)
                    )
                }
                Ok(false) => {
                    holding_since = None;
                    format!("poll {polls}: not true yet")
                }
                Err(e) => {
                    holding_since = None;
                    format!("poll {polls}: {e}")
                }
            };
            if deadline.is_some_and(|d| now >= d) {
                let m = format!("timed out after {polls} polls ({msg})");
                return Ok(Ok(result(StepOutcome::TimedOut, m.clone(), false, Some(m))));
            }
            self.io
                .emit(Event::WaitProgress {
                    index,
                    polls,
                    holding: holding_since.is_some(),
                    message: msg,
                })
                .await?;
            let wake = deadline.map_or(now + every, |d| d.min(now + every));
            if let Some(stop) = self.idle_until(Some(wake), index).await? {
                let detail = format!("stopped after {polls} polls");
                return Ok(Err((
                    result(StepOutcome::Cancelled, detail, false, None),
                    stop,
                )));
            }
        }
    }
}

/// The `expect` checks of a SQL result.
fn sql_checks(res: &SqlResult, expect: &Expect) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if let Some(want) = expect.rows {
        let got = res.count();
        out.push(CheckResult {
            name: "rows".into(),
            passed: got == want,
            detail: format!("{got} row(s) (expected {want})"),
        });
    }
    if let Some(want) = &expect.value {
        let (passed, detail) = match res.scalar() {
            Some(Some(v)) => (v == want, format!("value {v:?} (expected {want:?})")),
            Some(None) => (false, format!("value NULL (expected {want:?})")),
            None => (
                false,
                format!(
                    "expected one value {want:?}, got {} row(s) of {} column(s)",
                    res.rows.len(),
                    res.columns.len()
                ),
            ),
        };
        out.push(CheckResult {
            name: "value".into(),
            passed,
            detail,
        });
    }
    if out.is_empty() {
        out.push(CheckResult {
            name: "sql".into(),
            passed: true,
            detail: format!("{} row(s)", res.count()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(cols: &[&str], rows: &[&[Option<&str>]]) -> SqlResult {
        SqlResult {
            columns: cols.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
            affected: None,
        }
    }

    #[test]
    fn table_and_checks() {
        let r = result(
            &["id", "name"],
            &[&[Some("1"), Some("a")], &[Some("22"), None]],
        );
        assert_eq!(
            r.table(),
            ["id │ name", "───┼─────", "1  │ a", "22 │ NULL", "(2 rows)"]
        );
        let e = Expect {
            rows: Some(2),
            ..Expect::default()
        };
        assert!(sql_checks(&r, &e)[0].passed);
        let e = Expect {
            value: Some("1".into()),
            ..Expect::default()
        };
        let c = sql_checks(&r, &e);
        assert!(
            !c[0].passed && c[0].detail.contains("got 2 row(s)"),
            "{c:?}"
        );
        let one = result(&["v"], &[&[Some("t")]]);
        assert!(one.is_true());
        assert!(!result(&["v"], &[&[None]]).is_true());
    }
}
