//! State of the lag and reconcile panes. Until the engine sends lag samples and reconcile
//! results, these panes say what is (not) configured; they never invent numbers.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

/// Samples kept for the lag sparkline.
pub const LAG_HISTORY: usize = 600;

/// One lag reading, as a later `LagSample`-style engine event will carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct LagReading {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Lag in bytes, when the method gives bytes.
    pub bytes: Option<u64>,
    /// Lag in seconds, when the method gives time.
    pub seconds: Option<f64>,
}

/// What the lag pane shows.
#[derive(Debug, Clone, Default)]
pub struct LagPanel {
    /// Whether the runbook has a `[lag]` section.
    pub configured: bool,
    /// Recent readings, oldest first.
    pub history: VecDeque<LagReading>,
    /// The probe's last error and since when readings are stale.
    pub stale: Option<(DateTime<Utc>, String)>,
}

impl LagPanel {
    /// Records a fresh reading (clears staleness).
    pub fn push(&mut self, r: LagReading) {
        if self.history.len() == LAG_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(r);
        self.stale = None;
    }

    /// Records a failed probe: the last value is stale from `since`.
    pub fn failed(&mut self, at: DateTime<Utc>, error: String) {
        let since = self.stale.as_ref().map_or(at, |(s, _)| *s);
        self.stale = Some((since, error));
    }

    /// The newest reading.
    pub fn latest(&self) -> Option<&LagReading> {
        self.history.back()
    }
}

/// State of one reconcile check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckState {
    /// Not run in this session.
    NotRun,
    /// Running: parts done of parts total.
    Running {
        /// Parts compared.
        done: u32,
        /// Parts in all.
        total: u32,
    },
    /// Finished equal.
    Equal {
        /// Rows compared.
        rows: u64,
    },
    /// Finished with differences.
    Different {
        /// Differing rows.
        rows: u64,
    },
    /// The check itself failed.
    Error(String),
}

/// One reconcile check in the pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileCheck {
    /// Name from the runbook.
    pub name: String,
    /// State.
    pub state: CheckState,
}

/// What the reconcile pane shows.
#[derive(Debug, Clone, Default)]
pub struct ReconcilePanel {
    /// Configured checks, in runbook order.
    pub checks: Vec<ReconcileCheck>,
}

impl ReconcilePanel {
    /// Checks named in the runbook, none run yet.
    pub fn from_names(names: &[String]) -> Self {
        ReconcilePanel {
            checks: names
                .iter()
                .map(|n| ReconcileCheck {
                    name: n.clone(),
                    state: CheckState::NotRun,
                })
                .collect(),
        }
    }

    /// Updates one check by name (ignored when the name is unknown).
    pub fn set(&mut self, name: &str, state: CheckState) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.name == name) {
            c.state = state;
        }
    }
}
