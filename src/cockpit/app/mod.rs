//! The cockpit's state machine: [`App::update`] takes a [`Msg`] (an operator [`Action`], a
//! tick, a resize, an engine [`Event`]) and returns [`Effect`]s (commands for the engine,
//! redraw, quit, bell). Pure: no terminal, no clock, no I/O, so every key path is a unit test.
//! Which key means which action is the key table's business ([`keymap`]).

pub mod action;
mod approve;
#[cfg(test)]
mod approve_tests;
mod attached;
#[cfg(test)]
mod attached_tests;
mod engine_events;
pub mod hints;
pub mod keymap;
mod keys;
pub mod modal;
mod modal_keys;
pub mod output;
pub mod panels;
pub mod plan;
mod probe_events;
pub mod reading;
#[cfg(test)]
mod reading_tests;
mod rollback_events;
#[cfg(test)]
mod rollback_tests;
pub mod step;
mod step_events;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod truth_tests;
mod view_keys;

use chrono::{DateTime, Utc};

pub use action::{Action, KeyContext};
use cutover_model::protocol::{ClientRole, Command, Event, Level, Operator, RunInfo, RunOutcome};
use cutover_model::summary::RunPhase;
pub use cutover_model::summary::{Approval, Confirmation, DecisionNeeded};
use modal::Modal;
use output::OutputView;
use panels::{LagPanel, ReconcilePanel};
use step::StepView;

/// Something that happened. (Engine events are moved once, straight into the state: no box.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Msg {
    /// The operator asked for something (a key, translated through the key table).
    Action(Action),
    /// The 1 Hz clock, with the wall-clock time.
    Tick(DateTime<Utc>),
    /// The terminal is now `cols` x `rows`.
    Resize(u16, u16),
    /// A frame was drawn; its layout gave the output pane `output_rows` rows of output (the
    /// page that `PgUp`/`PgDn` scroll).
    Layout {
        /// Rows of output visible in the output pane.
        output_rows: usize,
    },
    /// A frame showed the reconcile detail (`v`): `rows` of its `lines` fit (the page that
    /// `PgUp`/`PgDn` scroll there, and where `G` ends).
    DetailLayout {
        /// Rows the pane has.
        rows: usize,
        /// Lines the detail has in all.
        lines: usize,
    },
    /// An engine event.
    Engine(Event),
    /// The engine's event channel closed.
    EngineGone,
    /// The process was told to stop (SIGTERM, SIGHUP), or its terminal is gone: a detached
    /// run is left to itself (detach); a run of this process ends first.
    Shutdown(String),
    /// The run so far, from a detached engine: replaces what the cockpit shows.
    Snapshot(Vec<Event>),
    /// This terminal's role changed (another terminal took control of the run).
    Role {
        /// The new role.
        role: ClientRole,
        /// Who took control.
        by: Option<Operator>,
    },
    /// Something the run's host says (a refused command, a resynchronisation).
    Note(String),
}

/// Something the event loop must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this command to the engine.
    Send(Command),
    /// The screen changed: draw a frame.
    Redraw,
    /// Leave the cockpit.
    Quit,
    /// Leave the cockpit and the run to itself (a detached run goes on).
    Detach,
    /// Ring the terminal bell.
    Bell,
}

/// Where the run is, as far as the operator's keys are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// No engine event yet.
    Starting,
    /// A command was sent; waiting for the engine to act on it.
    Busy,
    /// The engine waits for `enter` to run step `next`.
    Ready {
        /// Next step.
        next: usize,
    },
    /// Step `index` runs.
    Running {
        /// The step's position (0-based).
        index: usize,
    },
    /// A confirm step waits for the word.
    Confirming(Confirmation),
    /// An approve step waits for sign-offs.
    Approving(Approval),
    /// A step (or its rollback action) needs a decision.
    Deciding(DecisionNeeded),
    /// Preflight found something that stops the run: it waits for a typed reason to start
    /// anyway, or for its end.
    PreflightBlocked,
    /// The run ended.
    Finished(RunOutcome),
    /// The engine stopped without finishing the run.
    EngineGone,
}

impl Phase {
    /// The phase the run's events put the cockpit in (the model's fold of them); what this
    /// terminal's own keys add is [`Phase::Busy`] until the engine answers, and
    /// [`Phase::EngineGone`].
    pub fn of(run: &RunPhase) -> Phase {
        match run {
            RunPhase::Starting => Phase::Starting,
            RunPhase::Ready { next } => Phase::Ready { next: *next },
            RunPhase::Running { index, .. } => Phase::Running { index: *index },
            RunPhase::RollingBack {
                action: Some((index, _)),
            } => Phase::Running { index: *index },
            RunPhase::Ended { .. } | RunPhase::RollingBack { action: None } => Phase::Busy,
            RunPhase::Confirming(c) => Phase::Confirming(c.clone()),
            RunPhase::Approving(a) => Phase::Approving(a.clone()),
            RunPhase::Deciding(d) => Phase::Deciding(d.clone()),
            RunPhase::PreflightBlocked => Phase::PreflightBlocked,
            RunPhase::Finished(outcome) => Phase::Finished(*outcome),
        }
    }
}

/// The status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// How serious: the colour and whether it stays on the status line.
    pub level: Level,
    /// The words shown (secrets already masked by the engine).
    pub text: String,
    /// A transient message (a refused key) disappears at this time; others stay until replaced.
    pub until: Option<DateTime<Utc>>,
}

/// How long a transient status message (a refused key) stays up, seconds.
pub const TRANSIENT_SECS: i64 = 5;

/// Where a terminal sits at a detached run: its role and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    /// What it may do.
    pub role: ClientRole,
    /// Its number in the engine session (as the journal's client records have it).
    pub terminal: u64,
    /// The run is a fleet member's, opened from the lanes: esc goes back to them.
    pub in_fleet: bool,
}

/// The whole cockpit state.
#[derive(Debug, Clone)]
pub struct App {
    /// Wall clock as of the last tick.
    pub now: DateTime<Utc>,
    /// When this session's run started (first event).
    pub session_start: Option<DateTime<Utc>>,
    /// When the run's first step first started (the plan's clock; earlier sessions too).
    pub first_step_at: Option<DateTime<Utc>>,
    /// The terminal went away or a signal came: leaving now is not the operator's choice.
    pub terminal_lost: bool,
    /// The plan.
    pub run: Option<RunInfo>,
    /// Every step of the runbook, in order, as the step list shows it.
    pub steps: Vec<StepView>,
    /// Selected step (its detail and output are shown).
    pub selected: usize,
    /// Output scroll state for the selected step.
    pub view: OutputView,
    /// Where the run is.
    pub phase: Phase,
    /// Open pop-up.
    pub modal: Option<Modal>,
    /// Status line.
    pub status: Option<Status>,
    /// The lasting status a transient one covers, shown again when it expires.
    pub held: Option<Status>,
    /// Lag pane.
    pub lag: LagPanel,
    /// Reconcile pane.
    pub reconcile: ReconcilePanel,
    /// Terminal size (cols, rows).
    pub size: (u16, u16),
    /// Rows of output the output pane showed in the last frame drawn (0 before the first).
    pub output_rows: usize,
    /// The operator asked to quit; leave when the run has finished.
    pub quitting: bool,
    /// The last rollback trigger that fired, shown as a banner until the run ends.
    pub trigger: Option<TriggerBanner>,
    /// A rollback is executing.
    pub rolling_back: bool,
    /// The output pane shows the reconcile results and differing keys instead (`v`).
    pub show_reconcile: bool,
    /// What this terminal may do: a watcher sends nothing.
    pub role: ClientRole,
    /// The run belongs to a detached engine: leaving may leave it running.
    pub detachable: bool,
    /// A fleet member's run opened from the lanes: esc (with nothing to close) goes back.
    pub back_to_lanes: bool,
    /// This terminal lost the controls and has not yet seen the takeover journaled (whose
    /// line must not cover the "this terminal now watches" warning).
    pub demoted: bool,
    /// This terminal's number in the detached engine's session (its own attach is not news).
    pub terminal: Option<u64>,
    /// When the run ended (or its engine went away): the clocks stop there.
    pub ended_at: Option<DateTime<Utc>>,
    /// The run so far: the model's fold of its events, which the steps' states are read
    /// from, and the end-of-run summary.
    pub summary: cutover_model::summary::RunSummary,
    /// The step whose attempt (or rollback action) this terminal saw start in the engine
    /// that runs now, until it ends: the one shown running rather than interrupted.
    pub live: Option<usize>,
    /// What the run is doing, as its events say (the model's fold, which `ls` reads too):
    /// [`App::phase`] is read from it at each event that moves it.
    pub run_phase: RunPhase,
    /// The summary is shown in place of the output.
    pub show_summary: bool,
    /// Lines of the summary scrolled past (the view keeps it within the summary).
    pub summary_scroll: usize,
    /// Lines of the reconcile detail (`v`) scrolled past, from its top (`usize::MAX`: its
    /// end; the view clamps it).
    pub reconcile_scroll: usize,
    /// Rows of the reconcile detail's pane, as last drawn.
    pub detail_rows: usize,
    /// Lines the reconcile detail had, as last drawn.
    pub reconcile_lines: usize,
    /// The search in the selected step's output (`/`), if any.
    pub search: Option<reading::Search>,
    /// The detail pane has the whole screen (`z`).
    pub zoom: bool,
    /// Output lines show their arrival time (`t`).
    pub times: bool,
    /// What preflight found before step 1 (empty until it reports).
    pub preflight: Vec<cutover_model::preflight::Finding>,
}

/// A fired rollback trigger, shown so it cannot be missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerBanner {
    /// Trigger name.
    pub name: String,
    /// What was seen.
    pub message: String,
    /// When an automatic rollback starts, unless cancelled.
    pub rollback_at: Option<DateTime<Utc>>,
}

impl App {
    /// A cockpit with nothing loaded yet.
    pub fn new(now: DateTime<Utc>, size: (u16, u16)) -> Self {
        App {
            now,
            session_start: None,
            first_step_at: None,
            terminal_lost: false,
            run: None,
            steps: Vec::new(),
            selected: 0,
            view: OutputView::default(),
            phase: Phase::Starting,
            modal: None,
            status: None,
            held: None,
            lag: LagPanel::default(),
            reconcile: ReconcilePanel::default(),
            size,
            output_rows: 0,
            quitting: false,
            trigger: None,
            rolling_back: false,
            show_reconcile: false,
            role: ClientRole::Control,
            detachable: false,
            back_to_lanes: false,
            demoted: false,
            terminal: None,
            ended_at: None,
            summary: Default::default(),
            live: None,
            run_phase: RunPhase::default(),
            show_summary: false,
            summary_scroll: 0,
            reconcile_scroll: 0,
            detail_rows: 0,
            reconcile_lines: 0,
            search: None,
            zoom: false,
            times: false,
            preflight: Vec::new(),
        }
    }

    /// A cockpit on a detached run, in `seat`.
    pub fn attached(now: DateTime<Utc>, size: (u16, u16), seat: Seat) -> Self {
        App {
            role: seat.role,
            terminal: Some(seat.terminal),
            detachable: true,
            back_to_lanes: seat.in_fleet,
            ..App::new(now, size)
        }
    }

    /// Handles one message.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Action(a) => self.on_action(a),
            Msg::Tick(now) => {
                self.now = now;
                if self
                    .status
                    .as_ref()
                    .is_some_and(|s| s.until.is_some_and(|u| now >= u))
                {
                    self.status = self.held.take();
                }
                vec![Effect::Redraw]
            }
            Msg::Resize(c, r) => {
                self.size = (c, r);
                vec![Effect::Redraw]
            }
            Msg::Layout { output_rows } => {
                self.output_rows = output_rows;
                vec![]
            }
            Msg::DetailLayout { rows, lines } => {
                self.detail_rows = rows;
                self.reconcile_lines = lines;
                vec![]
            }
            Msg::Engine(ev) => self.on_event(ev),
            Msg::EngineGone => self.on_engine_gone(),
            Msg::Shutdown(why) => self.on_shutdown(why),
            Msg::Snapshot(events) => self.on_snapshot(events),
            Msg::Role { role, by } => self.on_role(role, by),
            Msg::Note(text) => {
                // Said for a while, then the run's own prompt comes back (`ready: enter runs
                // step 5`): a resynchronisation's note stood in its place until a key.
                self.say_briefly(Level::Warn, text);
                vec![Effect::Redraw]
            }
        }
    }

    /// The step currently running or waiting for its word/decision, if any.
    pub fn active_step(&self) -> Option<usize> {
        match &self.phase {
            Phase::Running { index }
            | Phase::Confirming(Confirmation { index, .. })
            | Phase::Approving(Approval { index, .. })
            | Phase::Deciding(DecisionNeeded { index, .. }) => Some(*index),
            Phase::Ready { next } => Some(*next),
            _ => None,
        }
    }

    /// Whether a trigger's automatic-rollback countdown is running.
    pub fn countdown_active(&self) -> bool {
        !self.rolling_back
            && self
                .trigger
                .as_ref()
                .is_some_and(|t| t.rollback_at.is_some())
    }

    /// The run's id for `cutover attach`: its journal's file name without the extension.
    pub fn run_id(&self) -> String {
        std::path::Path::new(self.journal())
            .file_stem()
            .map_or_else(|| "ID".into(), |s| s.to_string_lossy().into_owned())
    }

    /// The journal path, once known.
    pub fn journal(&self) -> &str {
        self.run.as_ref().map_or("JOURNAL", |r| r.journal.as_str())
    }

    /// Rows of output visible in the output pane, as the last frame laid it out: the page
    /// that `PgUp`/`PgDn` scroll (at least 1).
    pub fn page(&self) -> usize {
        self.output_rows.max(1)
    }

    fn say(&mut self, level: Level, text: impl Into<String>) {
        self.held = None;
        self.status = Some(Status {
            level,
            text: text.into(),
            until: None,
        });
    }

    /// A transient message; a lasting one it covers comes back when it expires.
    fn say_briefly(&mut self, level: Level, text: impl Into<String>) {
        if let Some(lasting) = self.status.take_if(|s| s.until.is_none()) {
            self.held = Some(lasting);
        }
        self.status = Some(Status {
            level,
            text: text.into(),
            until: Some(self.now + chrono::Duration::seconds(TRANSIENT_SECS)),
        });
    }

    fn step_id(&self, index: usize) -> String {
        self.steps
            .get(index)
            .map_or_else(|| format!("#{}", index + 1), |s| s.info.id.clone())
    }

    fn select(&mut self, index: usize) {
        if index < self.steps.len() && index != self.selected {
            self.selected = index;
            self.view = OutputView::default();
            if let Some(search) = &mut self.search {
                search.current = None;
            }
        }
    }

    fn on_shutdown(&mut self, why: String) -> Vec<Effect> {
        self.terminal_lost = true;
        if matches!(self.phase, Phase::Finished(_) | Phase::EngineGone) {
            return vec![Effect::Quit];
        }
        if self.detachable {
            // Losing the terminal only detaches: the run goes on as if the operator looked
            // away, and `cutover attach` comes back to it.
            return vec![Effect::Detach];
        }
        self.modal = None;
        let already = self.quitting;
        self.quitting = true;
        self.say(
            Level::Warn,
            format!("{why}: ending the run (a running step is cancelled)…"),
        );
        if already {
            return vec![Effect::Redraw];
        }
        vec![
            Effect::Send(Command::Abort {
                reason: Some(format!("cutover received {why}")),
            }),
            Effect::Redraw,
        ]
    }

    /// The time the screen's clocks show: now while the run goes on, its end after.
    pub fn clock(&self) -> DateTime<Utc> {
        self.ended_at.unwrap_or(self.now)
    }

    fn on_engine_gone(&mut self) -> Vec<Effect> {
        if !matches!(self.phase, Phase::Finished(_)) {
            self.ended_at.get_or_insert(self.now);
            self.show_summary = true;
            // A step the engine was running when it went: nobody knows how it ended.
            if let Some(i) = self.active_step()
                && let Some(s) = self.steps.get_mut(i)
                && matches!(
                    s.status,
                    step::StepStatus::Running | step::StepStatus::RollingBack
                )
            {
                s.duration_ms = s.actual_ms(self.now);
                s.message = Some(
                    "the engine stopped while it ran — outcome unknown (see the log; a resume asks what to do)"
                        .into(),
                );
            }
            // Nothing runs any more: what was running is interrupted.
            self.live = None;
            self.read_step_states();
            self.phase = Phase::EngineGone;
            let j = self.journal().to_string();
            self.say(
                Level::Warn,
                format!("the engine stopped (see the log); resume with cutover run --resume {j}"),
            );
        }
        if self.quitting {
            vec![Effect::Quit]
        } else {
            vec![Effect::Redraw]
        }
    }
}
