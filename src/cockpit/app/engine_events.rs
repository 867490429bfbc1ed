//! Engine events into cockpit state. `App::on_event` hands each event to the handler of its
//! group: the run as a whole (here), steps and decisions (`step_events`), rollback and
//! triggers (`rollback_events`), lag and reconcile (`probe_events`). What the status line
//! says comes from [`cutover_model::narrate`]: the same words `--headless` prints.

use chrono::{DateTime, Utc};

use super::modal::Modal;
use super::output::OutputView;
use super::panels::ReconcilePanel;
use super::step::{StepStatus, StepView};
use super::{App, Effect, Phase};
use cutover_model::narrate;
use cutover_model::protocol::{Event, Level, RunInfo, RunOutcome};

impl App {
    pub(super) fn on_event(&mut self, ev: Event) -> Vec<Effect> {
        self.summary.apply(None, &ev);
        self.run_phase.apply(&ev);
        let steps_change = self.track_live(&ev);
        let effects = self.route(ev);
        if steps_change {
            self.read_step_states();
        }
        effects
    }

    /// Notes which step runs in the engine now; whether the event changes a step's state.
    fn track_live(&mut self, ev: &Event) -> bool {
        match ev {
            Event::StepStarted { index, .. } | Event::RollbackActionStarted { index, .. } => {
                self.live = Some(*index);
            }
            Event::StepFinished { index, .. } | Event::RollbackActionFinished { index, .. } => {
                self.live = self.live.filter(|i| i != index);
            }
            Event::RunFinished { .. } => self.live = None,
            Event::StepRestored { .. } | Event::Operator { .. } | Event::RunStarted { .. } => {}
            _ => return false,
        }
        true
    }

    /// Each step's state as the run's fold has it (this terminal's live view adds only which
    /// step runs now).
    pub(super) fn read_step_states(&mut self) {
        for (i, (view, folded)) in self.steps.iter_mut().zip(&self.summary.steps).enumerate() {
            view.status = StepStatus::of(folded, self.live == Some(i));
        }
    }

    /// Hands an event to the handler of its group.
    fn route(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::RunStarted { run } => self.on_run_started(*run),
            Event::RunbookText { .. } => vec![],
            Event::Client {
                change,
                role,
                who,
                from,
                terminal,
                on_purpose,
            } => {
                if terminal.is_some() && terminal == self.terminal {
                    // This terminal's own attach or takeover: the screen already says so.
                    return vec![Effect::Redraw];
                }
                self.on_client(change, role, &who, from.as_ref(), on_purpose)
            }
            Event::Resumed { .. } | Event::StepRestored { .. } | Event::Ready { .. } => {
                self.on_resume_event(ev)
            }
            Event::StepStarted { .. }
            | Event::Process { .. }
            | Event::Output { .. }
            | Event::WaitProgress { .. }
            | Event::StepProgress { .. }
            | Event::StepFinished { .. } => self.on_step_event(ev),
            Event::ConfirmRequested { .. }
            | Event::ApprovalRequested { .. }
            | Event::ConfirmRejected { .. }
            | Event::DecisionNeeded { .. }
            | Event::Operator { .. }
            | Event::Notice { .. } => self.on_decision_event(ev),
            Event::RollbackPlan { .. }
            | Event::RollbackStarted { .. }
            | Event::RollbackActionStarted { .. }
            | Event::RollbackActionFinished { .. }
            | Event::RollbackFinished { .. } => self.on_rollback_event(ev),
            Event::TriggerFired { .. }
            | Event::TriggerUpdated { .. }
            | Event::CountdownCancelled { .. } => self.on_trigger_event(ev),
            Event::ReconcileProgress { .. }
            | Event::ReconcileResult { .. }
            | Event::LagSample { .. } => self.on_probe_event(ev),
            Event::RunFinished { outcome, at } => self.on_run_finished(outcome, at),
            Event::Preflight { findings, blocks } => self.on_preflight(findings, blocks),
            // The patch is the step's output and its notices say the rest; the summary keeps it.
            Event::Repair { .. } | Event::RepairUndone { .. } => vec![Effect::Redraw],
        }
    }

    /// The first event of a session: the plan, and a fresh screen for it.
    fn on_run_started(&mut self, run: RunInfo) -> Vec<Effect> {
        self.steps = run.steps.iter().cloned().map(StepView::new).collect();
        self.lag.configured = run.lag_configured;
        self.lag.info = run.lag.clone();
        self.reconcile = ReconcilePanel::from_names(&run.reconcile);
        self.session_start = Some(run.started_at.unwrap_or(self.now));
        self.first_step_at = run.first_step_at;
        self.selected = 0;
        self.view = OutputView::default();
        self.run = Some(run);
        vec![Effect::Redraw]
    }

    /// A resumed journal (what it says, each step's restored state), and the engine waiting
    /// for the next step.
    fn on_resume_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::Resumed {
                done,
                interrupted,
                failed_before,
            } => {
                let s = narrate::resumed(done.len(), interrupted.as_deref(), &failed_before);
                self.say(Level::Info, s);
            }
            // Its state (how it failed, too) is the fold's (`read_step_states`).
            Event::StepRestored {
                index,
                duration_ms,
                message,
                output_file,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.duration_ms = duration_ms;
                    // Why it stopped, kept across the resume.
                    if message.is_some() {
                        s.message = message;
                    }
                    if output_file.is_some() {
                        s.output_file = output_file;
                    }
                }
            }
            Event::Ready { next } => {
                let first = matches!(self.phase, Phase::Starting);
                self.phase = Phase::of(&self.run_phase);
                if first {
                    self.select(next);
                }
            }
            // on_event routes only the events above here.
            _ => return vec![],
        }
        vec![Effect::Redraw]
    }

    /// Preflight reported: its panel shows until step 1 starts; when a finding stops the run,
    /// the run waits for a typed reason (`s`) or its end.
    fn on_preflight(
        &mut self,
        findings: Vec<cutover_model::preflight::Finding>,
        blocks: bool,
    ) -> Vec<Effect> {
        self.preflight = findings;
        if blocks {
            // The status line says what to do (`s` / `a`); the panel says what was found.
            self.phase = Phase::of(&self.run_phase);
            self.status = None;
        }
        vec![Effect::Redraw]
    }

    /// Whether the preflight panel takes the step pane: preflight stopped the run, or it
    /// warned and no step has started yet (when everything passed, the step pane shows step
    /// 1 as before; the summary and the journal keep the findings).
    pub fn show_preflight(&self) -> bool {
        use cutover_model::preflight::Verdict;
        self.phase == Phase::PreflightBlocked
            || (self.preflight.iter().any(|f| f.verdict != Verdict::Pass)
                && self.steps.iter().all(|s| s.attempt == 0))
    }

    /// The run ended: say how, and leave if the operator asked to.
    fn on_run_finished(&mut self, outcome: RunOutcome, at: DateTime<Utc>) -> Vec<Effect> {
        self.phase = Phase::of(&self.run_phase);
        self.ended_at = Some(at);
        self.show_summary = true;
        if matches!(
            self.modal,
            Some(Modal::Confirm { .. } | Modal::Reason { .. })
        ) {
            self.modal = None;
        }
        let said = narrate::run_finished(outcome);
        let q = super::keymap::bar_keys(super::action::Action::Quit);
        let (level, text) = match outcome {
            RunOutcome::Completed => (
                Level::Info,
                format!("{said} — every step is done · {q} quits"),
            ),
            RunOutcome::RolledBack | RunOutcome::RolledBackPartly => {
                (Level::Warn, format!("{said} · {q} quits"))
            }
            RunOutcome::NotStarted => (Level::Warn, format!("{said} — no step ran · {q} quits")),
            RunOutcome::Aborted => {
                let hint = narrate::resume_hint(self.journal());
                (Level::Warn, format!("{said} — {hint} · {q} quits"))
            }
        };
        self.say(level, text);
        if self.quitting {
            vec![Effect::Quit]
        } else {
            vec![Effect::Redraw]
        }
    }
}
