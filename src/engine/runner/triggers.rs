//! Rollback triggers: conditions checked on every engine tick and at step failures; an alert
//! (banner, bell, "press R") or an automatic rollback after a visible, cancellable countdown.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::*;
use cutover_model::runbook::units::format_duration;
use cutover_model::runbook::{TriggerAction, TriggerCond};

/// Countdown for `action = "rollback"` when the runbook gives none: never instant.
pub const DEFAULT_COUNTDOWN: Duration = Duration::from_secs(30);

/// What the engine's wait points receive: an operator command or a clock tick.
pub(super) enum Inbound {
    Cmd(Command),
    Tick,
}

/// How often a `sql` trigger's query runs.
pub const SQL_TRIGGER_EVERY: Duration = Duration::from_secs(5);

/// Per-trigger runtime state.
#[derive(Debug, Default)]
pub(super) struct TriggerState {
    /// Fired and not re-armed yet.
    pub fired: bool,
    /// Since when the condition has held (for `for = ...`).
    pub holding_since: Option<Instant>,
    /// The latest answer of a `sql` trigger's background query.
    pub sql: Option<SqlWatch>,
}

/// A `sql` trigger's query, polled on its own task so the engine never waits on it.
#[derive(Debug)]
pub(super) struct SqlWatch {
    rx: tokio::sync::watch::Receiver<Option<Result<bool, String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SqlWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SqlWatch {
    /// Starts polling `sql` on `conn` every [`SQL_TRIGGER_EVERY`].
    pub(super) fn spawn(conn: cutover_pg::ConnSettings, sql: String) -> SqlWatch {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(async move {
            let mut client: Option<tokio_postgres::Client> = None;
            loop {
                if client.as_ref().is_none_or(|c| c.is_closed()) {
                    client = conn.connect().await.ok();
                }
                let answer = match &client {
                    None => Err(format!("cannot connect to {}", conn.name())),
                    Some(c) => {
                        match tokio::time::timeout(SQL_TRIGGER_EVERY, c.simple_query(&sql)).await {
                            Err(_) => Err("no answer".to_string()),
                            Ok(Err(e)) => Err(cutover_pg::conn::classify(&e).1),
                            Ok(Ok(msgs)) => Ok(msgs.iter().any(|m| {
                                matches!(
                                    m,
                                    tokio_postgres::SimpleQueryMessage::Row(r)
                                        if r.get(0).is_some_and(|v| matches!(v, "t" | "true" | "1"))
                                )
                            })),
                        }
                    }
                };
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
    /// Next operator command or clock tick (cancel-safe).
    pub(super) async fn recv(&mut self) -> Inbound {
        tokio::select! {
            biased;
            c = self.cmds.recv() => Inbound::Cmd(c.unwrap_or(Command::Abort {
                reason: Some("front end closed".into()),
            })),
            _ = self.tick.tick() => Inbound::Tick,
        }
    }

    /// Next command, with ticks turned into trigger checks; `None` when nothing is to be done.
    pub(super) async fn inbound(&mut self) -> Result<Option<Command>, EngineError> {
        match self.recv().await {
            Inbound::Cmd(c) => Ok(Some(c)),
            Inbound::Tick => self.on_tick().await,
        }
    }

    /// Waits until `wake` (or the next engine tick when `None`), answering the operator
    /// meanwhile; `Some(stop)` when the operator stopped the step `index`.
    pub(super) async fn idle_until(
        &mut self,
        wake: Option<Instant>,
        index: usize,
    ) -> Result<Option<Stop>, EngineError> {
        loop {
            let sleep = async {
                match wake {
                    Some(w) => tokio::time::sleep_until(w).await,
                    None => std::future::pending().await,
                }
            };
            let inbound = tokio::select! {
                () = sleep => return Ok(None),
                inbound = self.recv() => inbound,
            };
            let cmd = match inbound {
                Inbound::Cmd(c) => Some(c),
                Inbound::Tick => match self.on_tick().await? {
                    Some(c) => Some(c),
                    None if wake.is_none() => return Ok(None),
                    None => None,
                },
            };
            let Some(cmd) = cmd else { continue };
            let id = self.rb.steps[index].id.clone();
            match self.screen(cmd).await? {
                None => {}
                Some(Command::Cancel) => {
                    self.operator_action(Some(&id), OperatorAction::Cancel)
                        .await?;
                    return Ok(Some(Stop::Cancel));
                }
                Some(Command::Abort { reason }) => return Ok(Some(Stop::Abort(reason))),
                Some(Command::Rollback { .. }) => return Ok(Some(Stop::Rollback)),
                Some(other) => {
                    let msg = format!(
                        "{} does nothing now: step {id} is waiting",
                        cmd_name(&other)
                    );
                    self.notice(Level::Warn, msg).await?;
                }
            }
        }
    }

    /// Checks the time-based triggers; returns a rollback command when a countdown expired.
    pub(super) async fn on_tick(&mut self) -> Result<Option<Command>, EngineError> {
        if let Some((t, deadline)) = self.countdown
            && Instant::now() >= deadline
        {
            self.countdown = None;
            self.auto_rollback = Some(self.rb.triggers[t].name.clone());
            return Ok(Some(Command::Rollback {
                confirmation: ROLLBACK_WORD.to_string(),
            }));
        }
        self.publish_lag().await?;
        self.publish_reconcile().await?;
        self.check_lag_and_sql_triggers().await?;
        let Some(window) = self.rb.window else {
            return Ok(None);
        };
        let left = window.end() - Utc::now();
        for t in 0..self.rb.triggers.len() {
            if let TriggerCond::WindowLeftBelow(d) = self.rb.triggers[t].when {
                let below = left.to_std().map_or(true, |l| l < d);
                if below && !self.trigger_state[t].fired {
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
            let (met, what) = match &trig.when {
                TriggerCond::LagAbove(limit) => {
                    match sample.as_ref().and_then(|s| s.below(limit)) {
                        Some(below) => (
                            Some(!below),
                            format!(
                                "lag {} above {limit}",
                                sample.as_ref().map_or(String::new(), |s| s.summary())
                            ),
                        ),
                        // Stale or no reading: never counts as met (fail closed), resets `for`.
                        None => (Some(false), String::new()),
                    }
                }
                TriggerCond::Sql { .. } => {
                    match self.trigger_state[t]
                        .sql
                        .as_ref()
                        .and_then(SqlWatch::latest)
                    {
                        Some(Ok(v)) => (Some(v), "its query returned true".to_string()),
                        Some(Err(_)) | None => (Some(false), String::new()),
                    }
                }
                _ => (None, String::new()),
            };
            let Some(met) = met else { continue };
            let hold = trig.hold;
            let state = &mut self.trigger_state[t];
            if !met {
                state.holding_since = None;
                state.fired = false;
                continue;
            }
            let since = *state.holding_since.get_or_insert(now);
            if !state.fired && now.duration_since(since) >= hold {
                let held = if hold.is_zero() {
                    String::new()
                } else {
                    format!(" for {}", format_duration(hold))
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
                if rows > n && !self.trigger_state[t].fired {
                    self.fire(t, format!("{rows} mismatching row(s) (above {n})"))
                        .await?;
                } else if rows <= n {
                    self.trigger_state[t].fired = false;
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
        self.trigger_state[t].fired = true;
        let trig = &self.rb.triggers[t];
        let countdown = match trig.action {
            TriggerAction::Rollback if !self.rolling_back => {
                Some(trig.countdown.unwrap_or(DEFAULT_COUNTDOWN))
            }
            _ => None,
        };
        if let Some(c) = countdown
            && self.countdown.is_none()
        {
            self.countdown = Some((t, Instant::now() + c));
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
        match self.countdown.take() {
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
