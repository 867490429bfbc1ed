//! Rollback events into cockpit state: the plan, its execution action by action, and the
//! triggers that propose or start it.

use super::modal::Modal;
use super::output::OutputView;
use super::{App, Effect, Phase, TriggerBanner};
use cutover_model::narrate;
use cutover_model::protocol::{Event, Level, RollbackPlan};

impl App {
    /// The rollback plan, and its execution action by action.
    pub(super) fn on_rollback_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::RollbackPlan { plan } => {
                let Some(Modal::Rollback { plan: p, .. }) = &mut self.modal else {
                    return vec![];
                };
                *p = Some(plan);
            }
            Event::RollbackStarted { plan, by } => {
                self.on_rollback_started(&plan, &by);
                return vec![Effect::Redraw, Effect::Bell];
            }
            Event::RollbackActionStarted {
                index, attempt, at, ..
            } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.output
                        .marker(format!("── rollback, attempt {attempt} ──"), at);
                    s.message = None;
                    // Its clock is the rollback action's now, as a running step's is its own.
                    s.started_at = Some(at);
                }
                self.phase = Phase::of(&self.run_phase);
                self.select(index);
                self.view = OutputView::default();
            }
            // Its state is the fold's (`read_step_states`).
            Event::RollbackActionFinished {
                index,
                message,
                duration_ms,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.message = message;
                    s.duration_ms = Some(duration_ms);
                }
                self.phase = Phase::of(&self.run_phase);
            }
            Event::RollbackFinished { completed, .. } => {
                self.rolling_back = false;
                let mut said = narrate::rollback_finished(completed).to_string();
                let by_hand: Vec<String> = self
                    .summary
                    .undo_by_hand()
                    .iter()
                    .map(|(s, _)| s.id.clone())
                    .collect();
                if !by_hand.is_empty() {
                    said.push_str(&format!(
                        " · undo by hand: {} (the summary says why)",
                        by_hand.join(", ")
                    ));
                }
                self.say(Level::Warn, said);
            }
            // on_event routes only the events above here.
            _ => return vec![],
        }
        vec![Effect::Redraw]
    }

    /// The rollback runs now: the pop-ups about it close and a countdown is over.
    fn on_rollback_started(&mut self, plan: &RollbackPlan, by: &str) {
        self.rolling_back = true;
        if matches!(
            self.modal,
            Some(Modal::Rollback { .. } | Modal::Confirm { .. })
        ) {
            self.modal = None;
        }
        if let Some(t) = &mut self.trigger {
            t.rollback_at = None;
        }
        self.say(Level::Warn, narrate::rollback_started(plan, by));
        self.phase = Phase::of(&self.run_phase);
    }

    /// A trigger fired (the banner, with its countdown), or its countdown was cancelled.
    pub(super) fn on_trigger_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::TriggerFired {
                name,
                message,
                countdown_ms,
                at,
                ..
            } => {
                // Counted from when it fired: a terminal that attaches later sees what is left.
                let rollback_at =
                    countdown_ms.map(|ms| at + chrono::Duration::milliseconds(ms as i64));
                self.trigger = Some(TriggerBanner {
                    name,
                    message,
                    rollback_at,
                });
                vec![Effect::Redraw, Effect::Bell]
            }
            // The same firing, its finding grown: the banner's words, no bell.
            Event::TriggerUpdated { name, message } => {
                if let Some(t) = self.trigger.as_mut().filter(|t| t.name == name) {
                    t.message = message;
                }
                vec![Effect::Redraw]
            }
            Event::CountdownCancelled { name, by } => {
                if let Some(t) = &mut self.trigger {
                    t.rollback_at = None;
                }
                self.say(Level::Info, narrate::countdown_cancelled(&name, &by));
                vec![Effect::Redraw]
            }
            // on_event routes only the events above here.
            _ => vec![],
        }
    }
}
