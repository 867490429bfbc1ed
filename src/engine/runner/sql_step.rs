//! SQL on named connections: `sql` steps, `wait = { sql = ... }`, `rollback_sql`. Results are
//! shown as a small table; a timeout or an operator stop cancels the query on the server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::Client;

use super::hold::{Held, Hold, Verdict};
use super::race::{Cancelled, Raced, cut_short};
use super::sql_result::{SqlResult, sql_checks};
use super::{Attempt, AttemptResult, EngineError, Runner, Stop};
use cutover_model::protocol::{Level, StepOutcome, Stream};
use cutover_model::runbook::{Expect, Template};

/// How a query ended.
pub(super) enum QueryEnd {
    /// It answered (a result or the server's error), or no session could be opened.
    Done(Result<SqlResult, String>),
    /// The step's time ran out, and whether the server confirmed the cancel.
    TimedOut(Cancelled),
    /// The operator stopped it, and whether the server confirmed the cancel.
    Stopped(Stop, Cancelled),
}

/// Open sessions for SQL steps, by connection name: one per connection, reopened when the
/// server closed it.
#[derive(Default)]
pub(super) struct SqlSessions {
    clients: BTreeMap<String, Arc<Client>>,
    /// Each session's server notices (`NOTICE`, `WARNING`…) not shown yet.
    notices: BTreeMap<String, tokio::sync::mpsc::Receiver<cutover_pg::conn::ServerNotice>>,
}

impl SqlSessions {
    /// The open session of connection `name`, if it has one (one the server closed is
    /// forgotten).
    pub(super) fn open(&mut self, name: &str) -> Option<Arc<Client>> {
        if self.clients.get(name).is_some_and(|c| c.is_closed()) {
            self.forget(name);
        }
        self.clients.get(name).cloned()
    }

    /// Keeps `client` as connection `name`'s session, with its notices.
    pub(super) fn keep(
        &mut self,
        name: &str,
        client: Client,
        notices: tokio::sync::mpsc::Receiver<cutover_pg::conn::ServerNotice>,
    ) -> Arc<Client> {
        let client = Arc::new(client);
        self.clients.insert(name.to_string(), client.clone());
        self.notices.insert(name.to_string(), notices);
        client
    }

    /// Closes connection `name`'s session (its query did not end after a cancel): the next
    /// statement on it opens a new one.
    pub(super) fn forget(&mut self, name: &str) {
        self.clients.remove(name);
        self.notices.remove(name);
    }

    /// The notices session `name` received since last asked, as psql shows them
    /// (`WARNING:  …`), one per line.
    pub(super) fn notices(&mut self, name: &str) -> String {
        let mut out = String::new();
        if let Some(rx) = self.notices.get_mut(name) {
            while let Ok(n) = rx.try_recv() {
                out.push_str(&format!("{}:  {}\n", n.severity, n.message));
            }
        }
        out
    }
}

impl Runner<'_> {
    /// Runs `sql` on `on`. For a step's own query (`step` given), the operator is answered
    /// meanwhile and may stop it; a timeout or a stop cancels the query on the server.
    pub(super) async fn query(
        &mut self,
        on: &str,
        sql: &str,
        timeout: Option<Duration>,
        step: Option<usize>,
    ) -> Result<QueryEnd, EngineError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let busy = format!("a query is running on {on} (cancel it first)");
        let client = match self.session(on, deadline, step, &busy).await? {
            Raced::Done(Ok(c)) => c,
            Raced::Done(Err(e)) => return Ok(QueryEnd::Done(Err(e))),
            Raced::TimedOut => return Ok(QueryEnd::TimedOut(Cancelled::NothingSent)),
            Raced::Stopped(s) => return Ok(QueryEnd::Stopped(s, Cancelled::NothingSent)),
        };
        let token = client.cancel_token();
        let fut = client.simple_query(sql);
        tokio::pin!(fut);
        Ok(
            match self.race(fut.as_mut(), deadline, step, &busy).await? {
                Raced::Done(r) => QueryEnd::Done(
                    r.map(|m| SqlResult::from_messages(m).with_command(sql))
                        .map_err(|e| {
                            let (_, detail) = cutover_pg::conn::classify(&e);
                            self.masker.mask(&detail).into_owned()
                        }),
                ),
                Raced::TimedOut => QueryEnd::TimedOut(self.cancel(on, &token, fut).await),
                Raced::Stopped(s) => QueryEnd::Stopped(s, self.cancel(on, &token, fut).await),
            },
        )
    }

    /// A `sql` step (or a `rollback_sql` action when `expect` is the default). What it shows
    /// (the server's notices, then the result) also goes to `file`, masked; the notices are
    /// journaled too.
    pub(super) async fn sql_attempt(
        &mut self,
        index: usize,
        sql: &Template,
        on: &str,
        expect: &Expect,
        file: &std::path::Path,
    ) -> AttemptResult {
        let mut out = super::shell_step::OutputFile::open(file);
        let mut a = self
            .sql_attempt_to(index, sql, on, expect, &mut out)
            .await?;
        out.finish();
        let attempt = match &mut a {
            Ok(x) | Err((x, _)) => x,
        };
        match out.take_error() {
            Some(e) => self.notice(Level::Warn, e).await?,
            None => attempt.output_file = Some(file.display().to_string()),
        }
        Ok(a)
    }

    /// [`Self::sql_attempt`], writing what it shows to `out`.
    async fn sql_attempt_to(
        &mut self,
        index: usize,
        sql: &Template,
        on: &str,
        expect: &Expect,
        out: &mut super::shell_step::OutputFile,
    ) -> AttemptResult {
        let timeout = self.rb.steps[index].timeout;
        let text = sql.render(self.secrets);
        let end = self.query(on, &text, timeout, Some(index)).await?;
        // What the server said beside the answer comes first, as psql shows it; it is in the
        // journal too (a notice), so a report shows a function's WARNING.
        let mut notices = self.sessions.notices(on);
        if !notices.is_empty() {
            self.masker.mask_lines(&mut notices);
            out.write(Stream::Stdout, &notices);
            let level = if notices.lines().any(|l| !l.starts_with("NOTICE")) {
                Level::Warn
            } else {
                Level::Info
            };
            let id = &self.rb.steps[index].id;
            let said = format!("{id} on {on}: the server said {}", notices.trim_end());
            self.notice(level, said).await?;
            self.show_lines(index, notices).await?;
        }
        let result = match end {
            QueryEnd::Done(r) => r,
            QueryEnd::TimedOut(c) => return Ok(cut_short(None, c, on, timeout)),
            QueryEnd::Stopped(s, c) => return Ok(cut_short(Some(s), c, on, timeout)),
        };
        match result {
            Err(e) => Ok(Ok(Attempt::failed(format!("{on}: {e}")))),
            Ok(res) => {
                let mut text: String = res.table().into_iter().map(|l| l + "\n").collect();
                self.masker.mask_lines(&mut text);
                out.write(Stream::Stdout, &text);
                self.show_lines(index, text).await?;
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
        Ok(match self.query(on, &text, Some(timeout), None).await? {
            QueryEnd::Done(Ok(r)) => Ok(r.is_true()),
            QueryEnd::Done(Err(e)) => Err(e),
            QueryEnd::TimedOut(cancelled) => Err(format!(
                "no answer within {} ({})",
                cutover_model::narrate::duration(
                    timeout.as_millis().try_into().unwrap_or(u64::MAX)
                ),
                cancelled.words(on)
            )),
            QueryEnd::Stopped(..) => Err("stopped".into()),
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
        let mut hold = Hold::new(hold);
        loop {
            let now = Instant::now();
            let per_poll = deadline.map_or(every.max(Duration::from_secs(5)), |d| {
                d.saturating_duration_since(now)
                    .max(Duration::from_millis(100))
            });
            let seen = self.sql_condition(on, sql, per_poll).await?;
            polls += 1;
            let now = Instant::now();
            let verdict = sql_verdict(&mut hold, &seen, polls, now);
            let past_deadline = deadline.is_some_and(|d| now >= d);
            let timed_out = |m: &str| format!("timed out after {polls} polls ({m})");
            let msg = match verdict.go_on(past_deadline, timed_out) {
                Ok(msg) => msg,
                Err(ended) => return Ok(Ok(ended)),
            };
            let wake = deadline.map_or(now + every, |d| d.min(now + every));
            let holding = hold.holding();
            if let Some(stop) = self
                .wait_round(index, polls, holding, msg, Some(wake))
                .await?
            {
                let detail = format!("stopped after {polls} polls");
                return Ok(Err((Attempt::waited(StepOutcome::Cancelled, detail), stop)));
            }
        }
    }
}

/// Poll `polls` of `wait = { sql = ... }`, answered at `now`: only `Ok(true)` holds; false
/// breaks the hold, and so does an error (fail closed), which the message shows.
fn sql_verdict(hold: &mut Hold, seen: &Result<bool, String>, polls: u32, now: Instant) -> Verdict {
    let msg = match (hold.observe(seen.as_ref().ok().copied(), now), seen) {
        (Held::Met, _) => {
            return Verdict::Passed(format!("query returned true after {polls} polls"));
        }
        (Held::Holding(held), _) => format!(
            "poll {polls}: true, holding {} of {}",
            cutover_model::runbook::units::format_duration(held),
            cutover_model::runbook::units::format_duration(hold.need())
        ),
        (Held::Broken, Err(e)) => format!("poll {polls}: {e}"),
        (Held::Broken, Ok(_)) => format!("poll {polls}: not true yet"),
    };
    Verdict::Waiting(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::hold::tests::at;

    #[test]
    fn a_sql_wait_counts_true_answers_only_and_an_error_resets_it() {
        let t0 = Instant::now();
        let mut hold = Hold::new(Duration::from_secs(5));
        let mut poll =
            |seen: Result<bool, String>, polls, now| sql_verdict(&mut hold, &seen, polls, now);
        let late = "no answer within 5s";
        // (what the query gave, the poll's number, when in ms, what the wait says then)
        for (seen, polls, ms, want) in [
            (Ok(true), 1, 0, "poll 1: true, holding 0s of 5s"),
            (Ok(true), 2, 4_000, "poll 2: true, holding 4s of 5s"),
            (Err(late), 3, 4_500, "poll 3: no answer within 5s"),
            (Ok(true), 4, 5_000, "poll 4: true, holding 0s of 5s"),
            (Ok(false), 5, 9_000, "poll 5: not true yet"),
            (Ok(true), 6, 10_000, "poll 6: true, holding 0s of 5s"),
        ] {
            let why = match seen {
                Err(_) => "an error fails closed",
                Ok(_) => "",
            };
            assert_eq!(
                poll(seen.map_err(str::to_string), polls, at(t0, ms)),
                Verdict::Waiting(want.to_string()),
                "poll {polls}: {why}"
            );
        }
        assert_eq!(
            poll(Ok(true), 7, at(t0, 15_000)),
            Verdict::Passed("query returned true after 7 polls".into())
        );
    }

    #[test]
    fn a_sql_wait_without_for_passes_at_the_first_true() {
        let mut hold = Hold::new(Duration::ZERO);
        let now = Instant::now();
        assert_eq!(
            sql_verdict(&mut hold, &Err("boom".into()), 1, now),
            Verdict::Waiting("poll 1: boom".into())
        );
        assert_eq!(
            sql_verdict(&mut hold, &Ok(true), 2, now),
            Verdict::Passed("query returned true after 2 polls".into())
        );
    }
}
