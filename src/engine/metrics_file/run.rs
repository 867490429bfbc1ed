//! A run's metrics: where the run is (its steps' states, the current step, behind or ahead of
//! plan), the lag, the reconcile checks' latest results, and the rollback.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{checks, label};
use cutover_model::lag::LagSample;
use cutover_model::protocol::Event;
use cutover_model::reconcile::ReconcileResult;
use cutover_model::summary::{Ended, RunSummary};

/// What the metrics file says, folded from the run's events.
#[derive(Default)]
pub struct RunState {
    summary: RunSummary,
    /// The step running now, and when it started.
    running: Option<(usize, DateTime<Utc>)>,
    /// The lag probe's latest sample (kept or not).
    lag: Option<LagSample>,
    /// Each check's latest result (restored ones too) and when it came, in first-seen order.
    checks: Vec<(ReconcileResult, DateTime<Utc>)>,
}

impl RunState {
    /// Takes one event; whether it changes what the file says (output lines, progress and the
    /// like do not).
    pub fn see(&mut self, ev: &Event, now: DateTime<Utc>) -> bool {
        match ev {
            Event::Output { .. }
            | Event::Process { .. }
            | Event::WaitProgress { .. }
            | Event::ReconcileProgress { .. }
            | Event::RunbookText { .. }
            | Event::RollbackPlan { .. }
            | Event::Notice { .. }
            | Event::Client { .. }
            | Event::Ready { .. } => return false,
            Event::StepStarted { index, at, .. } => self.running = Some((*index, *at)),
            Event::StepFinished { .. } | Event::RunFinished { .. } => self.running = None,
            Event::LagSample { sample, .. } => self.lag = Some(sample.clone()),
            Event::ReconcileResult { result, .. } => {
                match self.checks.iter_mut().find(|(r, _)| r.name == result.name) {
                    Some(slot) => *slot = ((**result).clone(), now),
                    None => self.checks.push(((**result).clone(), now)),
                }
            }
            _ => {}
        }
        self.summary.apply(Some(now), ev);
        true
    }

    /// How much later than planned the run ends at this pace, at `now`, ms (negative:
    /// earlier): time since its first step started plus the planned time of what is left,
    /// less the plan of every step — the cockpit header's figure and the summary's. 0 without
    /// a plan or before step 1.
    pub fn behind_plan_ms(&self, now: DateTime<Utc>) -> i64 {
        let mut planned = 0i64;
        let mut left = 0i64;
        for s in &self.summary.steps {
            let Some(e) = s.expected_ms.map(|e| e as i64) else {
                continue;
            };
            planned += e;
            if let Some((i, at)) = self.running
                && i == s.index
            {
                left += (e - (now - at).num_milliseconds()).max(0);
                continue;
            }
            match s.ended {
                Ended::NotRun
                | Ended::Interrupted
                | Ended::Failed
                | Ended::TimedOut
                | Ended::Cancelled => left += e,
                _ => {}
            }
        }
        if planned == 0 {
            return 0;
        }
        match (self.summary.first_step_at(), self.summary.ended_at) {
            // Ended: nothing is left to do, whatever did not run.
            (Some(start), Some(end)) => (end - start).num_milliseconds().max(0) - planned,
            (Some(start), None) => (now - start).num_milliseconds().max(0) + left - planned,
            (None, _) => 0,
        }
    }

    /// The state word of step `index` (`running` while it runs).
    fn state(&self, index: usize, ended: Ended) -> &'static str {
        if self.running.is_some_and(|(i, _)| i == index) {
            return "running";
        }
        match ended {
            Ended::NotRun => "not_run",
            Ended::Interrupted => "interrupted",
            Ended::Passed => "passed",
            Ended::Failed => "failed",
            Ended::TimedOut => "timed_out",
            Ended::Cancelled => "cancelled",
            Ended::Skipped => "skipped",
            Ended::MarkedDone => "marked_done",
        }
    }

    /// The whole file at `now`.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let rb = label(&self.summary.name);
        let mut m = Metrics::default();
        self.run_lines(&mut m, &rb, now);
        self.step_lines(&mut m, &rb);
        self.lag_lines(&mut m, &rb);
        let mut out = m.text();
        out.push_str(&checks::render(&self.summary.name, &self.checks));
        let _ = writeln!(
            out,
            "# HELP cutover_metrics_updated_timestamp_seconds Unix time at which this file was written.\n# TYPE cutover_metrics_updated_timestamp_seconds gauge\ncutover_metrics_updated_timestamp_seconds{{runbook=\"{rb}\"}} {}",
            seconds(now)
        );
        out
    }

    fn run_lines(&self, m: &mut Metrics, rb: &str, now: DateTime<Utc>) {
        let s = &self.summary;
        let journal = label(&s.journal);
        m.add(
            "cutover_run_info",
            "The run this file is about (its runbook and journal).",
            format!("runbook=\"{rb}\",journal=\"{journal}\""),
            1.0,
        );
        m.add(
            "cutover_run_ended",
            "1 once the run has ended (the outcome says how).",
            format!("runbook=\"{rb}\""),
            f64::from(u8::from(s.outcome.is_some())),
        );
        if let Some(o) = s.outcome {
            m.add(
                "cutover_run_outcome",
                "How the run ended: 1 for its outcome.",
                format!("runbook=\"{rb}\",outcome=\"{}\"", snake_word(&o)),
                1.0,
            );
        }
        if let Some(start) = s.started_at {
            m.add(
                "cutover_run_started_timestamp_seconds",
                "Unix time at which the run started.",
                format!("runbook=\"{rb}\""),
                seconds(start),
            );
        }
        m.add(
            "cutover_run_behind_plan_seconds",
            "How far the run is behind its plan (negative: ahead).",
            format!("runbook=\"{rb}\""),
            self.behind_plan_ms(now) as f64 / 1000.0,
        );
        let current = self
            .running
            .map(|(i, _)| i)
            .or_else(|| {
                s.steps
                    .iter()
                    .find(|st| st.ended == Ended::NotRun)
                    .map(|st| st.index)
            })
            .filter(|_| s.outcome.is_none());
        if let Some(st) = current.and_then(|i| s.steps.get(i)) {
            m.add(
                "cutover_run_current_step",
                "The step running now or next (1-based position in the runbook).",
                format!("runbook=\"{rb}\",step=\"{}\"", label(&st.id)),
                (st.index + 1) as f64,
            );
        }
        m.add(
            "cutover_rollback_started",
            "1 once a rollback has started.",
            format!("runbook=\"{rb}\""),
            f64::from(u8::from(s.rollback.is_some())),
        );
        m.add(
            "cutover_triggers_fired",
            "Rollback triggers fired so far.",
            format!("runbook=\"{rb}\""),
            s.triggers.len() as f64,
        );
    }

    fn step_lines(&self, m: &mut Metrics, rb: &str) {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for st in &self.summary.steps {
            let state = self.state(st.index, st.ended);
            *counts.entry(state).or_default() += 1;
            let step = format!("runbook=\"{rb}\",step=\"{}\"", label(&st.id));
            m.add(
                "cutover_step_state",
                "Each step's state: 1 for the state it is in.",
                format!("{step},state=\"{state}\""),
                1.0,
            );
            if let Some(ms) = st.actual_ms {
                m.add(
                    "cutover_step_duration_seconds",
                    "The step's last finished attempt, wall time.",
                    step.clone(),
                    ms as f64 / 1000.0,
                );
            }
            if let Some(ms) = st.expected_ms {
                m.add(
                    "cutover_step_planned_seconds",
                    "The step's planned time (`expected`).",
                    step,
                    ms as f64 / 1000.0,
                );
            }
        }
        for (state, n) in counts {
            m.add(
                "cutover_run_steps",
                "Steps in each state.",
                format!("runbook=\"{rb}\",state=\"{state}\""),
                n as f64,
            );
        }
    }

    fn lag_lines(&self, m: &mut Metrics, rb: &str) {
        let Some(info) = &self.summary.lag.info else {
            return;
        };
        let unit = format!("runbook=\"{rb}\",unit=\"{}\"", snake_word(&info.unit));
        if let Some(v) = self.lag.as_ref().and_then(|s| s.value(info.unit)) {
            m.add(
                "cutover_lag",
                "The replication lag's last good reading, in its unit.",
                unit.clone(),
                v,
            );
        }
        for (name, help, v) in [
            ("cutover_lag_warn", "The lag's warn threshold.", info.warn),
            (
                "cutover_lag_critical",
                "The lag's critical threshold.",
                info.critical,
            ),
        ] {
            if let Some(v) = v {
                m.add(name, help, unit.clone(), v);
            }
        }
        if let Some(s) = &self.lag {
            m.add(
                "cutover_lag_stale",
                "1 while the lag probe is failing (the reading is old).",
                format!("runbook=\"{rb}\""),
                f64::from(u8::from(s.is_stale())),
            );
            if let Some(at) = s.at {
                m.add(
                    "cutover_lag_reading_timestamp_seconds",
                    "Unix time of the lag's last good reading.",
                    format!("runbook=\"{rb}\""),
                    seconds(at),
                );
            }
        }
    }
}

/// A unit enum's serde name (`rolled_back`, `bytes`).
fn snake_word(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(label))
        .unwrap_or_default()
}

/// Unix time with milliseconds.
fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

/// Samples grouped by metric, each metric with its HELP and TYPE once, in first-added order.
#[derive(Default)]
struct Metrics {
    order: Vec<(&'static str, &'static str)>,
    samples: BTreeMap<&'static str, Vec<(String, f64)>>,
}

impl Metrics {
    fn add(&mut self, name: &'static str, help: &'static str, labels: String, value: f64) {
        let v = self.samples.entry(name).or_default();
        if v.is_empty() {
            self.order.push((name, help));
        }
        v.push((labels, value));
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for (name, help) in &self.order {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, v) in &self.samples[name] {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        out
    }
}

/// A run's metrics file: the run's events folded, the file rewritten by its own thread.
pub struct RunMetrics {
    state: RunState,
    writer: super::writer::MetricsWriter,
}

impl RunMetrics {
    /// Starts the writer of `path` (checked with [`super::check_path`] first).
    pub fn start(path: std::path::PathBuf) -> std::io::Result<RunMetrics> {
        Ok(RunMetrics {
            state: RunState::default(),
            writer: super::writer::MetricsWriter::start(path)?,
        })
    }

    /// Takes one (masked) event of the run; a write failure to report, once.
    pub fn see(&mut self, ev: &Event) -> Option<String> {
        let now = Utc::now();
        if self.state.see(ev, now) {
            self.writer.publish(self.state.render(now));
        }
        self.writer.take_error()
    }
}
