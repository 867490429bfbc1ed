//! Rollback triggers: conditions checked on every engine tick and at step failures; an alert
//! (banner, bell, "press R") or an automatic rollback after a visible, cancellable countdown.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::hold::{Held, Hold};
use super::{EngineError, Runner};
use cutover_model::lag::LagSample;
use cutover_model::narrate;
use cutover_model::protocol::{Command, Event, Level, OperatorAction, ROLLBACK_WORD};
use cutover_model::runbook::units::format_duration;
use cutover_model::runbook::{Trigger, TriggerAction, TriggerCond};
use cutover_pg::ConnSettings;

/// Countdown for `action = "rollback"` when the runbook gives none: never instant.
pub const DEFAULT_COUNTDOWN: Duration = Duration::from_secs(30);

/// How often a `sql` trigger's query runs.
pub const SQL_TRIGGER_EVERY: Duration = Duration::from_secs(5);

/// The triggers' runtime state: which fired, how long each condition has held, a running
/// automatic-rollback countdown, and which trigger started the current rollback.
#[derive(Debug, Default)]
pub(super) struct Triggers {
    state: Vec<TriggerState>,
    /// A running automatic-rollback countdown: trigger index and deadline.
    countdown: Option<(usize, Instant)>,
    /// The trigger whose countdown started the current rollback.
    auto_rollback: Option<String>,
    /// Whether triggers are checked: not while preflight holds the run before step 1 (it
    /// already says what is wrong, and nothing has run that a rollback could undo).
    pub(super) armed: bool,
}

impl Triggers {
    /// State for `triggers`; `sql` triggers start polling their query now.
    pub(super) fn new(
        triggers: &[Trigger],
        conns: &BTreeMap<String, ConnSettings>,
        secrets: &BTreeMap<String, String>,
    ) -> Self {
        let state = triggers
            .iter()
            .map(|t| TriggerState {
                sql: match &t.when {
                    TriggerCond::Sql { sql, on } => conns
                        .get(on)
                        .map(|c| SqlWatch::spawn(c.clone(), sql.render(secrets))),
                    _ => None,
                },
                ..Default::default()
            })
            .collect();
        Triggers {
            state,
            countdown: None,
            auto_rollback: None,
            armed: true,
        }
    }

    /// Stops a running countdown (a rollback is starting anyway).
    pub(super) fn stop_countdown(&mut self) {
        self.countdown = None;
    }

    /// The trigger whose expired countdown started the rollback, if one did (once).
    pub(super) fn take_auto_rollback(&mut self) -> Option<String> {
        self.auto_rollback.take()
    }

    /// The trigger whose countdown has run out by `now`: it owns the rollback from here.
    fn expired(&mut self, now: Instant, triggers: &[Trigger]) -> Option<usize> {
        let (t, deadline) = self.countdown?;
        if now < deadline {
            return None;
        }
        self.countdown = None;
        self.auto_rollback = Some(triggers[t].name.clone());
        Some(t)
    }
}

/// One trigger's runtime state.
#[derive(Debug, Default)]
struct TriggerState {
    /// Fired and not re-armed yet.
    fired: bool,
    /// What a fired `mismatch_rows_above` trigger counted last (its message is told again
    /// when the count changes).
    counted: u64,
    /// How long the condition has held (for `for = ...`).
    hold: Hold,
    /// The latest answer of a `sql` trigger's background query.
    sql: Option<SqlWatch>,
    /// The `sql` trigger's query failed at its last poll, as last said (the operator is told
    /// when it starts failing, and when it answers again: a trigger that cannot read its
    /// condition cannot fire).
    sql_failing: bool,
}

impl TriggerState {
    /// Takes the condition's reading at `now` (`None`: could not be had, a break) against a
    /// `for` of `need`: whether the trigger fires now (held for `need` and not fired yet). A
    /// reading that could not be had starts the `for` again but does not re-arm a fired
    /// trigger: only a reading that says the condition cleared does. A probe that flaps
    /// between stale and over the limit must not fire it (a page, a countdown to an automatic
    /// rollback the operator already cancelled) again and again.
    fn fires(&mut self, need: Duration, met: Option<bool>, now: Instant) -> bool {
        if self.hold.need() != need {
            self.hold = Hold::new(need);
        }
        match self.hold.observe(met, now) {
            Held::Broken => {
                if met == Some(false) {
                    self.fired = false;
                }
                false
            }
            Held::Holding(_) => false,
            Held::Met => !self.fired,
        }
    }
}

/// What the condition of a trigger kept for a `for` (`lag_above`, `sql`) reads now, and what
/// its alert says when it fires; `None` for the other kinds. The reading is `None` when it
/// could not be had (a stale or missing lag sample, a query that failed or has not answered
/// yet): never met (fail closed).
fn held_reading(
    cond: &TriggerCond,
    sample: Option<&LagSample>,
    sql: Option<Result<bool, String>>,
) -> Option<(Option<bool>, String)> {
    match cond {
        TriggerCond::LagAbove(limit) => match sample.and_then(|s| Some((s, s.below(limit)?))) {
            Some((s, below)) => Some((Some(!below), format!("lag {} above {limit}", s.summary()))),
            None => Some((None, String::new())),
        },
        TriggerCond::Sql { .. } => match sql {
            Some(Ok(v)) => Some((Some(v), "its query returned true".to_string())),
            Some(Err(_)) | None => Some((None, String::new())),
        },
        _ => None,
    }
}

/// A `sql` trigger's query, polled on its own task so the engine never waits on it.
#[derive(Debug)]
struct SqlWatch {
    rx: tokio::sync::watch::Receiver<Option<Result<bool, String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SqlWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One poll of a `sql` trigger's query on `client` (connected first when it has no open
/// session): whether its first value is true. A query with no answer within
/// [`SQL_TRIGGER_EVERY`] may still hold the session, so it is dropped: the next poll opens a
/// new one rather than queueing behind it.
async fn poll(
    conn: &ConnSettings,
    client: &mut Option<tokio_postgres::Client>,
    sql: &str,
) -> Result<bool, String> {
    if client.as_ref().is_none_or(|c| c.is_closed()) {
        *client = conn.connect().await.ok();
    }
    let Some(c) = client.as_ref() else {
        return Err(format!("cannot connect to {}", conn.name()));
    };
    match tokio::time::timeout(SQL_TRIGGER_EVERY, c.simple_query(sql)).await {
        Err(_) => {
            *client = None;
            Err(format!("no answer within {}s", SQL_TRIGGER_EVERY.as_secs()))
        }
        Ok(Err(e)) => Err(cutover_pg::conn::classify(&e).1),
        // The first row's first value, as a SQL wait reads it.
        Ok(Ok(msgs)) => Ok(msgs
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .and_then(|r| r.get(0))
            .is_some_and(super::sql_result::truthy)),
    }
}

impl SqlWatch {
    /// Starts polling `sql` on `conn` every [`SQL_TRIGGER_EVERY`].
    fn spawn(conn: ConnSettings, sql: String) -> SqlWatch {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(async move {
            let mut client: Option<tokio_postgres::Client> = None;
            loop {
                let answer = poll(&conn, &mut client, &sql).await;
                if tx.send(Some(answer)).is_err() {
                    return;
                }
                tokio::time::sleep(SQL_TRIGGER_EVERY).await;
            }
        });
        SqlWatch { rx, task }
    }

    fn latest(&self) -> Option<Result<bool, String>> {
        self.rx.borrow().clone()
    }
}

impl Runner<'_> {
    /// Checks the time-based triggers; returns a rollback command when a countdown expired.
    pub(super) async fn on_tick(&mut self) -> Result<Option<Command>, EngineError> {
        if self
            .triggers
            .expired(Instant::now(), &self.rb.triggers)
            .is_some()
        {
            return Ok(Some(Command::Rollback {
                confirmation: ROLLBACK_WORD.to_string(),
            }));
        }
        self.publish_lag().await?;
        self.publish_reconcile().await?;
        if !self.triggers.armed {
            return Ok(None);
        }
        self.check_lag_and_sql_triggers().await?;
        let Some(window) = self.rb.window else {
            return Ok(None);
        };
        let left = window.end() - Utc::now();
        for t in 0..self.rb.triggers.len() {
            if let TriggerCond::WindowLeftBelow(d) = self.rb.triggers[t].when {
                let below = left.to_std().map_or(true, |l| l < d);
                if below && !self.triggers.state[t].fired {
                    let msg = if left.num_seconds() <= 0 {
                        "the maintenance window has closed".to_string()
                    } else {
                        format!(
                            "{} left in the maintenance window (below {})",
                            format_duration(left.to_std().unwrap_or_default()),
                            format_duration(d)
                        )
                    };
                    self.fire(t, msg).await?;
                }
            }
        }
        Ok(None)
    }

    /// `lag_above` (fresh samples only) and `sql` triggers, with their `for` durations.
    async fn check_lag_and_sql_triggers(&mut self) -> Result<(), EngineError> {
        let sample = self.lag_sample();
        let now = Instant::now();
        for t in 0..self.rb.triggers.len() {
            let trig = &self.rb.triggers[t];
            let state = &mut self.triggers.state[t];
            let sql = state.sql.as_ref().and_then(SqlWatch::latest);
            let failing = sql.as_ref().and_then(|r| r.as_ref().err().cloned());
            if failing.is_some() != state.sql_failing {
                state.sql_failing = failing.is_some();
                let name = trig.name.clone();
                let on = match &trig.when {
                    TriggerCond::Sql { on, .. } => format!(" on {on}"),
                    _ => String::new(),
                };
                let (level, said) = match failing {
                    Some(e) => (
                        Level::Warn,
                        format!(
                            "trigger {name}: its query fails{on} ({e}): it cannot fire while it fails"
                        ),
                    ),
                    None => (
                        Level::Info,
                        format!("trigger {name}: its query answers again"),
                    ),
                };
                let said = self.masker.mask(&said).into_owned();
                self.notice(level, said).await?;
            }
            let trig = &self.rb.triggers[t];
            let state = &mut self.triggers.state[t];
            let Some((met, what)) = held_reading(&trig.when, sample.as_ref(), sql) else {
                continue;
            };
            if state.fires(trig.hold, met, now) {
                let held = if trig.hold.is_zero() {
                    String::new()
                } else {
                    format!(" for {}", format_duration(trig.hold))
                };
                self.fire(t, format!("{what}{held}")).await?;
            }
        }
        Ok(())
    }

    /// `mismatch_rows_above`: the latest results of all checks, added up.
    pub(super) async fn check_mismatch_triggers(&mut self) -> Result<(), EngineError> {
        let rows = self.mismatch_rows();
        for t in 0..self.rb.triggers.len() {
            if let TriggerCond::MismatchRowsAbove(n) = self.rb.triggers[t].when {
                let what = || {
                    format!(
                        "{} (above {n}){}",
                        narrate::count(rows, "mismatching row"),
                        self.mismatch_breakdown()
                    )
                };
                let state = &self.triggers.state[t];
                if rows > n && !state.fired {
                    let what = what();
                    self.triggers.state[t].counted = rows;
                    self.fire(t, what).await?;
                } else if rows > n && state.counted != rows {
                    // Still fired, and more (or fewer) rows differ: the banner says so.
                    let message = what();
                    self.triggers.state[t].counted = rows;
                    let name = self.rb.triggers[t].name.clone();
                    self.io
                        .emit(Event::TriggerUpdated { name, message })
                        .await?;
                } else if rows <= n {
                    self.triggers.state[t].fired = false;
                }
            }
        }
        Ok(())
    }

    /// Fires `step_failed` triggers for step `index`.
    pub(super) async fn on_step_failed(&mut self, index: usize) -> Result<(), EngineError> {
        let id = self.rb.steps[index].id.clone();
        for t in 0..self.rb.triggers.len() {
            if matches!(&self.rb.triggers[t].when, TriggerCond::StepFailed(s) if *s == id) {
                self.fire(t, format!("step {id} failed")).await?;
            }
        }
        Ok(())
    }

    async fn fire(&mut self, t: usize, message: String) -> Result<(), EngineError> {
        self.triggers.state[t].fired = true;
        // A rollback with nothing in it would never start: the trigger is told as an alert
        // (a headless run then stops instead of waiting for a rollback that cannot come).
        let nothing = self.rb.triggers[t].action == TriggerAction::Rollback
            && !self.rollback.running()
            && !self.plan().has_actions();
        let message = if nothing {
            format!(
                "{message}; nothing to roll back (no completed step has a rollback action, or the point of no return was crossed): no automatic rollback"
            )
        } else {
            message
        };
        let trig = &self.rb.triggers[t];
        let countdown = match trig.action {
            TriggerAction::Rollback if !self.rollback.running() && !nothing => {
                Some(trig.countdown.unwrap_or(DEFAULT_COUNTDOWN))
            }
            _ => None,
        };
        if let Some(c) = countdown
            && self.triggers.countdown.is_none()
        {
            self.triggers.countdown = Some((t, Instant::now() + c));
        }
        self.io
            .emit(Event::TriggerFired {
                name: trig.name.clone(),
                message,
                action: trig.action,
                countdown_ms: countdown.map(|c| c.as_millis() as u64),
                at: Utc::now(),
            })
            .await
    }

    /// `Command::CancelCountdown`.
    pub(super) async fn cancel_countdown(&mut self) -> Result<(), EngineError> {
        match self.triggers.countdown.take() {
            Some((t, _)) => {
                let name = self.rb.triggers[t].name.clone();
                self.operator_action(
                    None,
                    OperatorAction::CancelCountdown {
                        trigger: name.clone(),
                    },
                )
                .await?;
                self.io
                    .emit(Event::CountdownCancelled {
                        name,
                        by: self.operator.user.clone(),
                    })
                    .await
            }
            None => {
                self.notice(Level::Warn, "no rollback countdown is running")
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::lag_watch::tests::fresh;
    use cutover_model::runbook::{Template, Threshold};

    #[test]
    fn a_lag_or_sql_reading_that_cannot_be_had_is_unknown_never_met() {
        let lag = TriggerCond::LagAbove(Threshold::Bytes(1_000));
        let high = fresh(5_000);
        let Some((met, what)) = held_reading(&lag, Some(&high), None) else {
            panic!("a lag_above trigger is kept for its `for`");
        };
        assert_eq!(met, Some(true));
        assert!(
            what.starts_with(&format!("lag {} above ", high.summary())),
            "{what}"
        );
        assert_eq!(
            held_reading(&lag, Some(&fresh(10)), None).map(|r| r.0),
            Some(Some(false))
        );
        assert_eq!(
            held_reading(&lag, Some(&fresh(1_000)), None).map(|r| r.0),
            Some(Some(true)),
            "at the limit is not below it"
        );
        let stale = LagSample {
            stale_since: Some(Utc::now()),
            ..high.clone()
        };
        assert_eq!(
            held_reading(&lag, Some(&stale), None),
            Some((None, String::new()))
        );
        assert_eq!(held_reading(&lag, None, None), Some((None, String::new())));
        let sql = TriggerCond::Sql {
            sql: Template::default(),
            on: "target".into(),
        };
        let said = "its query returned true".to_string();
        assert_eq!(
            held_reading(&sql, None, Some(Ok(true))),
            Some((Some(true), said))
        );
        assert_eq!(
            held_reading(&sql, None, Some(Ok(false))).map(|r| r.0),
            Some(Some(false))
        );
        assert_eq!(
            held_reading(&sql, None, Some(Err("x".into()))),
            Some((None, String::new()))
        );
        assert_eq!(held_reading(&sql, None, None), Some((None, String::new())));
        let other = TriggerCond::StepFailed("drain".into());
        assert_eq!(held_reading(&other, Some(&high), Some(Ok(true))), None);
    }

    /// A trigger that has not fired, the time `s(secs)` seconds from now, and a `for` of a
    /// minute.
    fn a_minute_s_trigger() -> (TriggerState, impl Fn(u64) -> Instant, Duration) {
        let t0 = Instant::now();
        let s = move |secs: u64| t0 + Duration::from_secs(secs);
        (TriggerState::default(), s, Duration::from_secs(60))
    }

    #[test]
    fn a_trigger_fires_once_after_its_for_and_a_cleared_condition_re_arms_it() {
        let (mut t, s, need) = a_minute_s_trigger();
        assert!(!t.fires(need, Some(true), s(0)));
        assert!(!t.fires(need, Some(true), s(59)));
        assert!(t.fires(need, Some(true), s(60)));
        t.fired = true; // as `fire` does
        assert!(!t.fires(need, Some(true), s(61)), "fired once, not again");
        assert!(
            !t.fires(need, Some(false), s(62)),
            "a cleared condition is a break"
        );
        assert!(!t.fired, "and re-arms it");
        assert!(!t.fires(need, Some(true), s(63)));
        assert!(!t.fires(need, Some(false), s(100)));
        assert!(!t.fires(need, Some(true), s(101)));
        assert!(t.fires(need, Some(true), s(161)));
    }

    #[test]
    fn a_reading_that_could_not_be_had_starts_the_for_again_but_does_not_re_arm() {
        let (mut t, s, need) = a_minute_s_trigger();
        // Not fired yet: a stale reading starts its `for` again (fail closed).
        assert!(!t.fires(need, Some(true), s(0)));
        assert!(!t.fires(need, None, s(30)), "unknown is a break");
        assert!(!t.fires(need, Some(true), s(31)));
        assert!(
            !t.fires(need, Some(true), s(90)),
            "the for started again at 31 s"
        );
        assert!(t.fires(need, Some(true), s(91)));
        t.fired = true; // as `fire` does
        // Fired: a probe that flaps between stale and over the limit never fires it again.
        for minute in 2..12 {
            let m = s(60 * minute);
            assert!(!t.fires(need, None, m), "stale at minute {minute}");
            assert!(
                t.fired,
                "still fired at minute {minute}: nothing said it cleared"
            );
            assert!(!t.fires(need, Some(true), m + Duration::from_secs(1)));
            assert!(!t.fires(need, Some(true), m + Duration::from_secs(59)));
        }
        // A stale lag sample reads as unknown, so it too leaves a fired trigger fired.
        let lag = TriggerCond::LagAbove(Threshold::Bytes(1_000));
        let stale = LagSample {
            stale_since: Some(Utc::now()),
            ..fresh(5_000)
        };
        let (reading, _) = held_reading(&lag, Some(&stale), None).unwrap();
        assert!(!t.fires(need, reading, s(800)));
        assert!(t.fired);
        // The lag read below the limit clears it: the next excursion fires again.
        let (reading, _) = held_reading(&lag, Some(&fresh(10)), None).unwrap();
        assert!(!t.fires(need, reading, s(801)));
        assert!(!t.fired);
        assert!(!t.fires(need, Some(true), s(802)));
        assert!(t.fires(need, Some(true), s(862)));
    }

    #[test]
    fn a_trigger_without_for_fires_at_the_first_reading_that_holds() {
        let now = Instant::now();
        let mut t = TriggerState::default();
        assert!(!t.fires(Duration::ZERO, None, now));
        assert!(!t.fires(Duration::ZERO, Some(false), now));
        assert!(t.fires(Duration::ZERO, Some(true), now));
    }
}
