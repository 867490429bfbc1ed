//! `sync_sequences = { from, to, schemas, margin }`: every sequence of the schemas on `to`
//! brought up to its value on `from` plus `margin` (logical replication does not carry
//! sequences). A sync never moves a sequence backwards: a target already at or past that
//! value keeps its own and says so, and a descending sequence is moved down, in its own
//! direction. "In sync" means what the `sequences` check means
//! ([`cutover_reconcile::SequencePosition::covered_by`]), so the check passes after a sync.
//! Each sequence is one output line; a sequence missing on `to`, or no sequence at all, fails
//! the step (an empty selection is never a pass).

use tokio::time::Instant;
use tokio_postgres::Client;

use super::race::{Cancelled, Raced, cut_short};
use super::{Attempt, AttemptResult, Runner};
use cutover_model::narrate;
use cutover_model::protocol::{CheckResult, StepOutcome};
use cutover_reconcile::{SequencePosition, sequence_position};

/// What the sync did to one sequence.
enum Synced {
    /// Set on the target: the line says from what to what.
    Set(String),
    /// Left alone (never used, or the target already ahead): the line says why.
    Kept(String),
    /// Could not be read or set.
    Failed(String),
}

/// Sets `qualified` on `dst` to `last` (as `setval(.., true)`), unless the target has moved at
/// or past it in its own direction meanwhile: the test and the set are one statement, so a
/// `nextval()` between our read and this write is never undone. `Ok(false)`: not set.
async fn raise_to(dst: &Client, qualified: &str, last: i64) -> Result<bool, tokio_postgres::Error> {
    let rows = dst
        .query(
            "SELECT pg_catalog.setval(x.r, $2::int8, true) \
             FROM (SELECT $1::text::pg_catalog.regclass AS r) x \
             JOIN pg_catalog.pg_sequence p ON p.seqrelid = x.r \
             WHERE CASE WHEN p.seqincrement > 0 \
               THEN pg_catalog.pg_sequence_last_value(x.r) IS NULL \
                    OR pg_catalog.pg_sequence_last_value(x.r) < $2::int8 \
               ELSE pg_catalog.pg_sequence_last_value(x.r) IS NULL \
                    OR pg_catalog.pg_sequence_last_value(x.r) > $2::int8 END",
            &[&qualified, &last],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Where the target should stand: the source's last value plus the margin, in the source's
/// direction; a source that was never used needs the target to hand out its start value
/// next, no more.
fn goal(sp: &SequencePosition, margin: i64) -> SequencePosition {
    if !sp.is_called {
        return sp.clone();
    }
    let last_value = if sp.descending() {
        sp.last_value.saturating_sub(margin)
    } else {
        sp.last_value.saturating_add(margin)
    };
    SequencePosition {
        last_value,
        ..sp.clone()
    }
}

/// Sets the target to `goal`: raised (never lowered) to a used position, or set to hand out
/// a never-used source's start value next. `Ok(false)`: the target moved past it meanwhile.
async fn set_to(
    dst: &Client,
    qualified: &str,
    goal: &SequencePosition,
) -> Result<bool, tokio_postgres::Error> {
    if goal.is_called {
        return raise_to(dst, qualified, goal.last_value).await;
    }
    dst.query(
        "SELECT pg_catalog.setval($1::text::pg_catalog.regclass, $2::int8, false)",
        &[&qualified, &goal.last_value],
    )
    .await
    .map(|_| true)
}

/// Brings one sequence of `dst` up to the source's position `sp` plus `margin`.
async fn sync_one(
    dst: &Client,
    (from, to): (&str, &str),
    (schema, name): (&str, &str),
    sp: &SequencePosition,
    margin: i64,
) -> Synced {
    let shown = format!("{schema}.{name}");
    let qualified = cutover_model::ident::quote_parts(schema, name);
    let tp = match sequence_position(dst, to, schema, name).await {
        Ok(tp) => tp,
        Err(e) => return Synced::Failed(format!("{shown}: {e}")),
    };
    let tv = tp.next_value();
    if !sp.is_called && sp.covered_by(tv) {
        return Synced::Kept(format!("{shown}: never used on {from}: left as it is"));
    }
    let goal = goal(sp, margin);
    let ahead = |tv: i64| {
        format!(
            "{shown}: {} on {from}; {to} is already at or past it (hands out {tv} next): kept",
            sp.last_value
        )
    };
    if goal.covered_by(tv) {
        return Synced::Kept(ahead(tv));
    }
    match set_to(dst, &qualified, &goal).await {
        Ok(true) => Synced::Set(format!(
            "{shown}: {} on {from} → {} on {to} (was {})",
            sp.last_value,
            goal.last_value,
            if tp.is_called {
                tp.last_value.to_string()
            } else {
                "never used".into()
            }
        )),
        Ok(false) => {
            let now = sequence_position(dst, to, schema, name)
                .await
                .map_or(tv, |p| p.next_value());
            Synced::Kept(ahead(now))
        }
        Err(e) => {
            let (_, detail) = cutover_pg::conn::classify(&e);
            Synced::Failed(format!("{shown}: cannot set on {to}: {detail}"))
        }
    }
}

/// The step's one-line result.
fn summary(to: &str, margin: i64, set: u64, kept: u64, failed: &[String]) -> String {
    let mut detail = format!(
        "{} set on {to} (source + {margin})",
        narrate::count(set, "sequence")
    );
    if kept > 0 {
        detail.push_str(&format!(
            ", {} kept (never used, or the target already ahead)",
            narrate::count(kept, "sequence")
        ));
    }
    if failed.is_empty() {
        return detail;
    }
    format!(
        "{} not set on {to}: {}; {detail}",
        narrate::count(failed.len() as u64, "sequence"),
        failed.join(", ")
    )
}

/// The sequences of `schemas` on the source, by schema and name.
async fn source_sequences(
    src: &Client,
    schemas: &[String],
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    let rows = src
        .query(
            "SELECT schemaname::text, sequencename::text \
             FROM pg_catalog.pg_sequences WHERE schemaname = ANY($1::text[]) ORDER BY 1, 2",
            &[&schemas],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// What syncing every sequence did: the lines to show, how many were set and kept, and the
/// ones that failed.
struct Tally {
    lines: String,
    set: u64,
    kept: u64,
    failed: Vec<String>,
}

/// Syncs every sequence of `schemas` from `src` (`from`) to `dst` (`to`); `Err`: the source
/// could not be read, or it has no sequence there.
async fn sync_all(
    (src, dst): (&Client, &Client),
    (from, to): (&str, &str),
    schemas: &[String],
    margin: i64,
) -> Result<Tally, String> {
    let rows = match source_sequences(src, schemas).await {
        Ok(r) => r,
        Err(e) => {
            let (_, detail) = cutover_pg::conn::classify(&e);
            return Err(format!("{from}: {detail}"));
        }
    };
    if rows.is_empty() {
        return Err(format!(
            "no sequence in {} on {from}: nothing to copy",
            schemas.join(", ")
        ));
    }
    let mut tally = Tally {
        lines: String::new(),
        set: 0,
        kept: 0,
        failed: Vec::new(),
    };
    for (schema, name) in &rows {
        let (schema, name) = (schema.as_str(), name.as_str());
        let synced = match sequence_position(src, from, schema, name).await {
            Ok(sp) => sync_one(dst, (from, to), (schema, name), &sp, margin).await,
            Err(e) => Synced::Failed(format!("{schema}.{name}: {e}")),
        };
        let line = match synced {
            Synced::Set(line) => {
                tally.set += 1;
                line
            }
            Synced::Kept(line) => {
                tally.kept += 1;
                line
            }
            Synced::Failed(line) => {
                tally.failed.push(format!("{schema}.{name}"));
                line
            }
        };
        tally.lines.push_str(&line);
        tally.lines.push('\n');
    }
    Ok(tally)
}

/// The attempt of a sync that `passed` or not, `detail` saying how.
fn synced(passed: bool, detail: String) -> Attempt {
    Attempt {
        outcome: if passed {
            StepOutcome::Passed
        } else {
            StepOutcome::Failed
        },
        exit_code: None,
        checks: vec![CheckResult {
            name: "sync_sequences".into(),
            passed,
            detail: detail.clone(),
        }],
        message: (!passed).then_some(detail),
        output_file: None,
    }
}

impl Runner<'_> {
    /// Brings the sequences of `schemas` on `to` up to their values on `from`, within the
    /// step's `timeout` (connecting included); the operator may stop it meanwhile. A server
    /// that does not answer ends it at the timeout with its queries cancelled.
    pub(super) async fn sync_sequences_step(
        &mut self,
        index: usize,
        (from, to): (&str, &str),
        schemas: &[String],
        margin: i64,
    ) -> AttemptResult {
        let timeout = self.rb.steps[index].timeout;
        let deadline = timeout.map(|t| Instant::now() + t);
        let busy = format!("sequences are being copied from {from} to {to} (cancel it first)");
        let mut clients = Vec::new();
        for on in [from, to] {
            match self.session(on, deadline, Some(index), &busy).await? {
                Raced::Done(Ok(c)) => clients.push(c),
                Raced::Done(Err(e)) => return Ok(Ok(synced(false, e))),
                Raced::TimedOut => return Ok(cut_short(None, Cancelled::NothingSent, on, timeout)),
                Raced::Stopped(s) => {
                    return Ok(cut_short(Some(s), Cancelled::NothingSent, on, timeout));
                }
            }
        }
        let (src, dst) = (clients[0].clone(), clients[1].clone());
        let work = sync_all((&src, &dst), (from, to), schemas, margin);
        tokio::pin!(work);
        let stop = match self
            .race(work.as_mut(), deadline, Some(index), &busy)
            .await?
        {
            Raced::Done(Err(e)) => return Ok(Ok(synced(false, e))),
            Raced::Done(Ok(tally)) => {
                self.show_lines(index, tally.lines).await?;
                let detail = summary(to, margin, tally.set, tally.kept, &tally.failed);
                return Ok(Ok(synced(tally.failed.is_empty(), detail)));
            }
            Raced::TimedOut => None,
            Raced::Stopped(s) => Some(s),
        };
        // Either side may be the one that does not answer: both are cancelled, and when the
        // work does not end, both sessions are closed.
        self.cancel_request(from, &src.cancel_token()).await;
        let cancelled = self.cancel(to, &dst.cancel_token(), work).await;
        if cancelled == Cancelled::Unconfirmed {
            self.sessions.forget(from);
        }
        Ok(cut_short(
            stop,
            cancelled,
            &format!("{from} or {to}"),
            timeout,
        ))
    }
}
