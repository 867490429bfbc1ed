//! Where each step stands: its state, how many attempts it had, and the last point of no
//! return crossed.

use chrono::{DateTime, Utc};

use cutover_model::protocol::StepState;
use cutover_model::summary::Ended;

/// The steps' states and attempt counts.
#[derive(Debug, Clone)]
pub(super) struct StepBook {
    states: Vec<Ended>,
    attempts: Vec<u32>,
    /// The last point of no return crossed: step index and when.
    ponr: Option<(usize, DateTime<Utc>)>,
}

impl StepBook {
    /// `n` steps, none attempted.
    pub(super) fn new(n: usize) -> Self {
        StepBook {
            states: vec![Ended::NotRun; n],
            attempts: vec![0; n],
            ponr: None,
        }
    }

    /// Sets step `i`'s state and attempt count as a journal left them.
    pub(super) fn restore(&mut self, i: usize, state: Ended, attempts: u32) {
        self.states[i] = state;
        self.attempts[i] = attempts;
    }

    /// The first step that is not done: the one the run waits to run.
    pub(super) fn next_pending(&self) -> Option<usize> {
        self.states.iter().position(|s| !s.is_done())
    }

    /// Step `i`'s state.
    pub(super) fn state(&self, i: usize) -> Ended {
        self.states[i]
    }

    /// Sets step `i`'s state.
    pub(super) fn set(&mut self, i: usize, state: Ended) {
        self.states[i] = state;
    }

    /// Counts a new attempt of step `i` and returns its number (1-based).
    pub(super) fn next_attempt(&mut self, i: usize) -> u32 {
        self.attempts[i] += 1;
        self.attempts[i]
    }

    /// What the step's state is for a rollback plan or a restored step: `None` for a step
    /// never attempted.
    pub(super) fn attempted_state(&self, i: usize) -> Option<StepState> {
        match self.states[i] {
            Ended::NotRun if self.attempts[i] > 0 => Some(StepState::Interrupted),
            state => state.to_restore(),
        }
    }

    /// Records that step `i`, a point of no return, completed at `at`.
    pub(super) fn cross_point_of_no_return(&mut self, i: usize, at: DateTime<Utc>) {
        self.ponr = Some((i, at));
    }

    /// The last point of no return crossed: step index and when.
    pub(super) fn point_of_no_return(&self) -> Option<(usize, DateTime<Utc>)> {
        self.ponr
    }
}
