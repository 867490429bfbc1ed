//! Rollback triggers: conditions checked on every engine tick and at step failures; an alert
//! (banner, bell, "press R") or an automatic rollback after a visible, cancellable countdown.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::*;
use crate::engine::runbook::units::format_duration;
use crate::engine::runbook::{TriggerAction, TriggerCond};

/// Countdown for `action = "rollback"` when the runbook gives none: never instant.
pub const DEFAULT_COUNTDOWN: Duration = Duration::from_secs(30);

/// What the engine's wait points receive: an operator command or a clock tick.
pub(super) enum Inbound {
    Cmd(Command),
    Tick,
}

/// Per-trigger runtime state.
#[derive(Debug, Clone, Default)]
pub(super) struct TriggerState {
    /// Fired and not re-armed yet.
    pub fired: bool,
}

/// Triggers whose condition this build can evaluate.
pub(super) fn evaluated(c: &TriggerCond) -> bool {
    matches!(
        c,
        TriggerCond::StepFailed(_) | TriggerCond::WindowLeftBelow(_)
    )
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
