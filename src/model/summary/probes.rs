//! What the probes saw over a run, for reports: the kept lag samples as a series in the
//! probe's unit, and each reconcile check's rounds with its latest result.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lag::LagSample;
use crate::protocol::LagInfo;
use crate::reconcile::ReconcileResult;

/// Points of the lag series kept at most (30 minutes at one a second is 1,800; the journal
/// keeps one every 10 seconds).
pub const MAX_LAG_POINTS: usize = 20_000;

/// One reading of the lag.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagPoint {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// The value, in the probe's unit.
    pub value: f64,
}

/// The lag over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LagSeries {
    /// What was measured, its unit and thresholds.
    pub info: Option<LagInfo>,
    /// The kept readings, in order.
    pub points: Vec<LagPoint>,
    /// When the probe was failing, from and (when it recovered) to.
    pub stale: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

impl LagSeries {
    /// Takes a kept sample: a fresh value becomes a point, a failing probe a stale span.
    pub fn push(&mut self, s: &LagSample) {
        let Some(info) = &self.info else { return };
        match (s.stale_since, self.stale.last_mut()) {
            (Some(since), Some((from, None))) if *from == since => {}
            (Some(since), _) => self.stale.push((since, None)),
            (None, Some((_, to @ None))) => *to = s.at.or(s.checked_at),
            (None, _) => {}
        }
        if let (true, Some(at), Some(v)) = (s.is_fresh(), s.at, s.value(info.unit)) {
            if self.points.last().is_some_and(|p| p.at == at) {
                return;
            }
            if self.points.len() == MAX_LAG_POINTS {
                self.points.remove(0);
            }
            self.points.push(LagPoint { at, value: v });
        }
    }

    /// The largest reading and when.
    pub fn peak(&self) -> Option<LagPoint> {
        self.points
            .iter()
            .copied()
            .max_by(|a, b| a.value.total_cmp(&b.value))
    }
}

/// One reconcile check over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRounds {
    /// Rounds run (results seen).
    pub rounds: u32,
    /// Rounds that passed.
    pub passed: u32,
    /// The latest result.
    pub latest: ReconcileResult,
}

/// Each check by name.
pub type ReconcileRounds = BTreeMap<String, CheckRounds>;

/// Takes one result of a check.
pub fn push_result(all: &mut ReconcileRounds, r: &ReconcileResult) {
    match all.get_mut(&r.name) {
        Some(c) => {
            c.rounds += 1;
            c.passed += u32::from(r.passed());
            c.latest = r.clone();
        }
        None => {
            all.insert(
                r.name.clone(),
                CheckRounds {
                    rounds: 1,
                    passed: u32::from(r.passed()),
                    latest: r.clone(),
                },
            );
        }
    }
}
