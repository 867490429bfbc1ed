//! Probe events into cockpit state: lag samples for the lag pane, reconcile progress and
//! results for the reconcile pane.

use super::panels::{CheckState, LagReading};
use super::{App, Effect};
use cutover_model::lag::LagSample;
use cutover_model::protocol::Event;
use cutover_model::reconcile::{ReconcileResult, Status};

impl App {
    /// A lag sample, a reconcile check's progress or result.
    pub(super) fn on_probe_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::ReconcileProgress { progress } => {
                let name = progress.name.clone();
                self.reconcile
                    .set(&name, CheckState::Running(Box::new(progress)));
            }
            Event::ReconcileResult { result, .. } => self.on_reconcile_result(*result),
            Event::LagSample { sample, .. } => {
                if !self.on_lag_sample(&sample) {
                    return vec![];
                }
            }
            // on_event routes only the events above here.
            _ => return vec![],
        }
        vec![Effect::Redraw]
    }

    /// A reconcile check's result: its state in the pane, the result kept for the drill-down.
    fn on_reconcile_result(&mut self, result: ReconcileResult) {
        let state = match result.status {
            Status::Pass => CheckState::Equal {
                rows: result.rows_compared,
            },
            Status::Fail => CheckState::Different {
                rows: result.mismatch_rows(),
            },
            Status::Error => {
                CheckState::Error(result.error.clone().unwrap_or_else(|| "failed".into()))
            }
        };
        self.reconcile.set(&result.name, state);
        self.reconcile.results.insert(result.name.clone(), result);
        // "reconciling now: …" is over once nothing runs: the pane has the results.
        let running = self
            .reconcile
            .checks
            .iter()
            .any(|c| matches!(c.state, CheckState::Running(_)));
        if !running
            && self
                .status
                .as_ref()
                .is_some_and(|s| s.text.starts_with("reconciling now"))
        {
            self.status = None;
        }
    }

    /// A lag reading, or the probe failing; false when the sample has neither (nothing to
    /// show).
    fn on_lag_sample(&mut self, sample: &LagSample) -> bool {
        match (&sample.stale_since, sample.at) {
            (Some(since), _) => {
                let err = sample.error.clone().unwrap_or_else(|| "no answer".into());
                self.lag.failed(*since, err);
            }
            (None, Some(at)) => self.lag.push(LagReading {
                at,
                bytes: sample.bytes,
                seconds: sample.seconds,
                number: sample.number,
                detail: sample.detail.clone(),
            }),
            (None, None) => return false,
        }
        true
    }
}
