//! Step events into cockpit state: a step's attempt (start, process, output, wait polls, end)
//! and the points where the engine waits for the operator (a confirmation word, a decision),
//! with what the operator did about them.

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::modal::{Ask, Modal};
use super::output::OUTPUT_MEMORY_CAP;
use super::output::OutputView;
use super::step::{StepStatus, StepView};
use super::{App, Approval, Effect, Phase};
use cutover_model::narrate;
use cutover_model::protocol::{CheckResult, Event, Level, OperatorAction, StepOutcome, Stream};

impl App {
    /// One step's attempt: its start, its process, its output, a wait step's polls, its end.
    pub(super) fn on_step_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::StepStarted {
                index,
                attempt,
                at,
                command,
                ..
            } => self.on_step_started(index, attempt, at, command),
            Event::Process { index, pid } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.pid = Some(pid);
                }
                return vec![];
            }
            Event::Output {
                index,
                stream,
                text,
                at,
                skipped,
            } => return self.on_output(index, stream, text, at, skipped),
            Event::WaitProgress { index, message, .. } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.wait = Some(message);
                }
            }
            Event::StepProgress {
                index,
                done,
                total,
                unit,
                error,
                at,
            } => return self.on_step_progress(index, done, total, unit, error, at),
            Event::StepFinished {
                index,
                duration_ms,
                checks,
                message,
                output_file,
                ..
            } => {
                let end = Attempt {
                    duration_ms,
                    checks,
                    message,
                    output_file,
                };
                self.on_step_finished(index, end);
            }
            // on_event routes only the events above here.
            _ => return vec![],
        }
        vec![Effect::Redraw]
    }

    /// A step's output lines: kept (all steps' output within the memory cap), and followed in
    /// the output pane when the step is the selected one. `skipped`: lines before these that
    /// the engine did not send (they would have been dropped at once), counted as dropped.
    fn on_output(
        &mut self,
        index: usize,
        stream: Stream,
        text: String,
        at: Option<DateTime<Utc>>,
        skipped: u64,
    ) -> Vec<Effect> {
        let Some(s) = self.steps.get_mut(index) else {
            return vec![];
        };
        s.output.skip(skipped);
        let n = s.output.push_at(stream, text, at.or(Some(self.now))) as u64 + skipped;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.keep_output_memory_bounded(index);
        if index != self.selected {
            return vec![];
        }
        self.view.on_lines(n);
        vec![Effect::Redraw]
    }

    /// A step's progress query answered (or failed): its figures replace the last ones, a
    /// failed poll keeping the last good figures. Figures after the attempt ended are ignored.
    fn on_step_progress(
        &mut self,
        index: usize,
        done: u64,
        total: Option<u64>,
        unit: String,
        error: Option<String>,
        at: DateTime<Utc>,
    ) -> Vec<Effect> {
        // Figures that arrive after the attempt ended are stale: not shown.
        let Some(s) = self
            .steps
            .get_mut(index)
            .filter(|s| s.status == StepStatus::Running)
        else {
            return vec![];
        };
        // The rate counts from the first good reading (a failed poll's figures are
        // only the last good ones, or none yet).
        let first = match &s.progress {
            Some(p) if p.good => p.first,
            _ => (at, done),
        };
        let good = error.is_none() || s.progress.as_ref().is_some_and(|p| p.good);
        let (done, total) = match (&error, &s.progress) {
            (Some(_), Some(p)) => (p.done, p.total),
            _ => (done, total),
        };
        s.progress = Some(super::step::ProgressView {
            done,
            total,
            unit,
            error,
            first,
            at,
            good,
        });
        vec![Effect::Redraw]
    }

    /// A step attempt started: it runs, selected, with its output from the top.
    fn on_step_started(&mut self, index: usize, attempt: u32, at: DateTime<Utc>, command: String) {
        self.first_step_at.get_or_insert(at);
        if let Some(s) = self.steps.get_mut(index) {
            begin_attempt(s, attempt, at, command);
        }
        if at > self.now {
            self.now = at;
        }
        // The word was typed (here or, after a takeover, on another terminal): the question
        // is answered.
        if matches!(&self.modal, Some(Modal::Confirm { index: i, .. }) if *i == index) {
            self.modal = None;
        }
        self.phase = Phase::of(&self.run_phase);
        self.select(index);
        self.view = OutputView::default();
    }

    /// A step attempt ended: record it, and close the pop-ups that were about it.
    fn on_step_finished(&mut self, index: usize, end: Attempt) {
        if let Some(s) = self.steps.get_mut(index) {
            s.duration_ms = Some(end.duration_ms);
            s.checks = end.checks;
            s.message = end.message;
            s.output_file = end.output_file;
            s.pid = None;
        }
        if matches!(&self.modal, Some(Modal::Confirm { index: i, .. }) if *i == index)
            || matches!(&self.modal, Some(Modal::Ask(Ask::Cancel { .. })))
        {
            self.modal = None;
        }
        self.phase = Phase::of(&self.run_phase);
    }

    /// The engine waits for the operator (a confirmation word, a decision), or tells what the
    /// operator did, or has something to say.
    pub(super) fn on_decision_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::ApprovalRequested { index, .. } => {
                let first = !matches!(self.phase, Phase::Approving(Approval { index: i, .. }) if i == index);
                self.phase = Phase::of(&self.run_phase);
                if matches!(self.modal, Some(Modal::Approve { .. })) {
                    // The sign-off was taken: the box closes.
                    self.modal = None;
                }
                self.select(index);
                if first {
                    vec![Effect::Redraw, Effect::Bell]
                } else {
                    vec![Effect::Redraw]
                }
            }
            Event::ConfirmRequested { index, word } => {
                self.phase = Phase::of(&self.run_phase);
                if !matches!(self.modal, Some(Modal::Ask(_))) {
                    self.modal = Some(Modal::Confirm {
                        index,
                        word,
                        input: Input::default(),
                        rejected: false,
                    });
                }
                vec![Effect::Redraw, Effect::Bell]
            }
            Event::ConfirmRejected { index } => {
                if let Some(Modal::Confirm { rejected, .. }) = &mut self.modal {
                    *rejected = true;
                }
                let said = narrate::confirm_rejected(&self.step_id(index));
                self.say(Level::Warn, said);
                vec![Effect::Redraw]
            }
            Event::DecisionNeeded { index, message, .. } => {
                self.phase = Phase::of(&self.run_phase);
                self.select(index);
                self.say(Level::Warn, message);
                vec![Effect::Redraw, Effect::Bell]
            }
            Event::Operator {
                step, action, by, ..
            } => {
                self.on_operator(step.as_deref(), &action, &by);
                vec![Effect::Redraw]
            }
            Event::Notice { level, message } => {
                self.say(level, message);
                vec![Effect::Redraw]
            }
            // on_event routes only the events above here.
            _ => vec![],
        }
    }

    /// What the operator did: a skipped, marked-done or rollback-skipped step shows why; a
    /// cancel is said on the status line.
    fn on_operator(&mut self, step: Option<&str>, action: &OperatorAction, by: &str) {
        let index = step.and_then(|id| self.steps.iter().position(|s| s.info.id == id));
        let s = index.and_then(|i| self.steps.get_mut(i));
        match action {
            // The step's state is the fold's; its message says what was decided.
            OperatorAction::SkipRollback { .. }
            | OperatorAction::Skip { .. }
            | OperatorAction::MarkDone { .. } => {
                if let Some(s) = s {
                    s.message = narrate::operator_action(action);
                }
            }
            OperatorAction::Cancel => {
                if let Some(said) = narrate::operator(step, action, by) {
                    self.say(Level::Warn, said);
                }
            }
            // A step cancelled because the run was ended (quitting) says so, as the run's
            // fold words it (not one the operator had cancelled before).
            OperatorAction::Abort { .. } => {
                let folded = index.and_then(|i| self.summary.steps.get(i));
                let said = folded.and_then(|f| f.message.clone());
                if let Some(s) = self.steps.get_mut(index.unwrap_or(usize::MAX))
                    && s.status == StepStatus::Failed(StepOutcome::Cancelled)
                    && folded.is_some_and(|f| !f.facts.cancel_asked)
                {
                    s.message = said;
                }
            }
            _ => {}
        }
    }
}

/// A step's new attempt: a marker in its output after an earlier one, and nothing left of
/// the last attempt's end.
fn begin_attempt(s: &mut StepView, attempt: u32, at: DateTime<Utc>, command: String) {
    if attempt > 1 || !s.output.is_empty() {
        s.output.marker(format!("── attempt {attempt} ──"), at);
    }
    s.attempt = attempt;
    s.started_at = Some(at);
    s.info.command = command;
    s.checks.clear();
    s.message = None;
    s.wait = None;
    s.pid = None;
    s.progress = None;
}

/// How a step attempt ended, as `Event::StepFinished` tells it (its state is the fold's).
struct Attempt {
    duration_ms: u64,
    checks: Vec<CheckResult>,
    message: Option<String>,
    output_file: Option<String>,
}

impl App {
    /// Keeps all steps' output under [`OUTPUT_MEMORY_CAP`] bytes together: the oldest blocks of
    /// the other steps go first, in step order, then the oldest of step `busy` itself (its
    /// newest block always stays). What goes is still in the steps' output files.
    fn keep_output_memory_bounded(&mut self, busy: usize) {
        let mut total: usize = self.steps.iter().map(|s| s.output.bytes()).sum();
        let order = (0..self.steps.len())
            .filter(|&i| i != busy)
            .chain(std::iter::once(busy));
        for i in order {
            while total > OUTPUT_MEMORY_CAP {
                match self.steps[i].output.shed_oldest() {
                    0 => break,
                    freed => total -= freed,
                }
            }
            if total <= OUTPUT_MEMORY_CAP {
                return;
            }
        }
    }
}
