//! State of the lag and reconcile panes. Until the engine sends lag samples and reconcile
//! results, these panes say what is (not) configured; they never invent numbers.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use cutover_model::lag::LagUnit;
use cutover_model::protocol::LagInfo;

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
    /// A unitless value (`sql`/`command` probes).
    pub number: Option<f64>,
    /// The probe's context (slot state, standby, ...).
    pub detail: Option<String>,
}

impl LagReading {
    /// The value in `unit`.
    pub fn value(&self, unit: LagUnit) -> Option<f64> {
        match unit {
            LagUnit::Bytes => self.bytes.map(|b| b as f64),
            LagUnit::Seconds => self.seconds,
            LagUnit::Number => self.number,
        }
    }
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
    /// What the probe measures and its thresholds.
    pub info: Option<LagInfo>,
}

/// How the lag compares with the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagLevel {
    /// Below warn.
    Ok,
    /// At or above warn.
    Warn,
    /// At or above critical.
    Critical,
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

    /// The unit thresholds are compared in (bytes unless the probe says otherwise).
    pub fn unit(&self) -> LagUnit {
        self.info.as_ref().map_or(LagUnit::Bytes, |i| i.unit)
    }

    /// The newest value in the probe's unit.
    pub fn value(&self) -> Option<f64> {
        self.latest().and_then(|r| r.value(self.unit()))
    }

    /// Level of the newest value against warn/critical.
    pub fn level(&self) -> LagLevel {
        let (Some(v), Some(info)) = (self.value(), &self.info) else {
            return LagLevel::Ok;
        };
        if info.critical.is_some_and(|c| v >= c) {
            LagLevel::Critical
        } else if info.warn.is_some_and(|w| v >= w) {
            LagLevel::Warn
        } else {
            LagLevel::Ok
        }
    }

    /// Change per second over the last `window` seconds of readings (negative: catching up);
    /// none for a value that has not moved.
    pub fn rate(&self, window: i64) -> Option<f64> {
        let unit = self.unit();
        let last = self.history.back()?;
        let now_v = last.value(unit)?;
        let first = self
            .history
            .iter()
            .find(|r| (last.at - r.at).num_seconds() <= window && r.value(unit).is_some())?;
        let dt = (last.at - first.at).num_milliseconds() as f64 / 1000.0;
        let moved = now_v - first.value(unit)?;
        if dt < 1.0 || moved == 0.0 {
            return None;
        }
        Some(moved / dt)
    }

    /// Seconds until the lag reaches zero at the current catch-up rate.
    pub fn eta_to_zero(&self) -> Option<f64> {
        let v = self.value()?;
        match self.rate(15)? {
            r if r < 0.0 && v > 0.0 => Some(v / -r),
            _ => None,
        }
    }
}

/// State of one reconcile check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckState {
    /// Not run in this session.
    NotRun,
    /// Running: its latest progress (parts done of total, rows, rate, a re-check's wait).
    Running(Box<cutover_model::reconcile::Progress>),
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
    /// Whether it runs, passed, failed or could not run, with what it found.
    pub state: CheckState,
}

/// What the reconcile pane shows.
#[derive(Debug, Clone, Default)]
pub struct ReconcilePanel {
    /// Configured checks, in runbook order.
    pub checks: Vec<ReconcileCheck>,
    /// The latest result of each check, for the drill-down (`v`).
    pub results: std::collections::BTreeMap<String, cutover_model::reconcile::ReconcileResult>,
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
            results: std::collections::BTreeMap::new(),
        }
    }

    /// Updates one check by name (ignored when the name is unknown).
    pub fn set(&mut self, name: &str, state: CheckState) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.name == name) {
            c.state = state;
        }
    }
}
