//! The report's facts: the run summary plus what a reader asks first (exit code, plan against
//! actual, whether the record is complete), computed once for every format.

use chrono::{DateTime, Utc};
use serde::Serialize;

use cutover_model::protocol::{Event, Record};
use cutover_model::summary::{Ended, RunSummary, StepSummary};

/// A run's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Everything the journal says, folded.
    pub summary: RunSummary,
    /// `cutover run`'s exit code for this outcome (`None`: the record ends before the run).
    pub exit_code: Option<u8>,
    /// The record ends before the run did (a crash, a cut-off journal).
    pub incomplete: bool,
    /// Bytes of a torn last record, left out.
    pub torn_bytes: Option<usize>,
    /// Planned time of all steps, ms.
    pub planned_ms: u64,
    /// From the first start to the end (or the last thing known), ms.
    pub elapsed_ms: Option<u64>,
    /// When the rollback began (the journal's time of its first `rollback_started` record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_started_at: Option<DateTime<Utc>>,
}

impl Report {
    /// The report of `summary` (`torn`: bytes of a torn tail, if any).
    pub fn new(summary: RunSummary, torn: Option<usize>) -> Self {
        let exit_code = summary.outcome.map(|o| o.exit_code() as u8);
        Report {
            incomplete: summary.outcome.is_none(),
            planned_ms: summary.planned_ms(),
            elapsed_ms: summary.elapsed_ms(),
            exit_code,
            torn_bytes: torn,
            rollback_started_at: None,
            summary,
        }
    }

    /// The report of a run's journal `records` (`torn`: bytes of a torn tail, if any).
    pub fn from_records(records: &[Record], torn: Option<usize>) -> Self {
        let summary = RunSummary::fold(records.iter().map(|r| (Some(r.ts), &r.event)));
        let mut report = Report::new(summary, torn);
        report.rollback_started_at = records
            .iter()
            .find(|r| matches!(r.event, Event::RollbackStarted { .. }))
            .map(|r| r.ts);
        report
    }

    /// What the lag chart marks on its time axis: each trigger that fired and the start of
    /// the rollback, in time order, with a short label.
    pub fn marks(&self) -> Vec<Mark> {
        let mut marks: Vec<Mark> = self
            .summary
            .triggers
            .iter()
            .map(|f| Mark {
                at: f.at,
                kind: MarkKind::Trigger {
                    name: f.name.clone(),
                },
            })
            .collect();
        if let Some(at) = self.rollback_started_at {
            marks.push(Mark {
                at,
                kind: MarkKind::Rollback,
            });
        }
        marks.sort_by_key(|m| m.at);
        marks
    }

    /// The outcome in words, with the exit code.
    pub fn outcome(&self) -> String {
        let words = cutover_model::summary::text::outcome(self.summary.outcome);
        match self.exit_code {
            Some(c) => format!("{words} · exit {c}"),
            None => format!("{words} · INCOMPLETE RECORD"),
        }
    }

    /// Steps that ran over their plan by more than half of it, worst first.
    pub fn over_plan(&self) -> Vec<&StepSummary> {
        let mut v: Vec<&StepSummary> = self
            .summary
            .steps
            .iter()
            .filter(|s| matches!((s.actual_ms, s.expected_ms), (Some(a), Some(e)) if a > e + e / 2))
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(delta_ms(s).unwrap_or(0)));
        v
    }

    /// Steps that did not pass (failed, timed out, cancelled, skipped, interrupted).
    pub fn troubled(&self) -> Vec<&StepSummary> {
        self.summary
            .steps
            .iter()
            .filter(|s| {
                matches!(
                    s.ended,
                    Ended::Failed
                        | Ended::TimedOut
                        | Ended::Cancelled
                        | Ended::Skipped
                        | Ended::Interrupted
                )
            })
            .collect()
    }
}

/// A moment the lag chart marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: MarkKind,
}

impl Mark {
    /// A short label: `trigger lag runaway`, `rollback began`.
    pub fn label(&self) -> String {
        match &self.kind {
            MarkKind::Trigger { name } => format!("trigger {name}"),
            MarkKind::Rollback => "rollback began".to_string(),
        }
    }
}

/// What a [`Mark`] marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkKind {
    /// A rollback trigger fired.
    Trigger {
        /// The trigger's name.
        name: String,
    },
    /// The rollback began.
    Rollback,
}

/// Actual minus planned, ms (positive: over plan).
pub fn delta_ms(s: &StepSummary) -> Option<i64> {
    let (a, e) = (s.actual_ms?, s.expected_ms?);
    Some(a as i64 - e as i64)
}

/// `+1.2s` / `-300ms` / `—`.
pub fn delta_text(s: &StepSummary) -> String {
    match delta_ms(s) {
        Some(d) if d >= 0 => format!("+{}", cutover_model::narrate::duration(d as u64)),
        Some(d) => format!("-{}", cutover_model::narrate::duration((-d) as u64)),
        None => "—".to_string(),
    }
}

/// A duration in ms, or `—`.
pub fn ms(v: Option<u64>) -> String {
    v.map_or("—".to_string(), cutover_model::narrate::duration)
}

/// `2026-11-28 02:14:03 UTC`.
pub fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or("—".to_string(), |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    })
}

/// `02:14:03`.
pub fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// A report built by hand for the renderers' tests: three steps (the last failed, a point of
/// no return), lag in seconds with thresholds, a trigger that fired and the rollback it began.
#[cfg(test)]
pub(super) mod fixture {
    use chrono::{DateTime, TimeZone, Utc};

    use super::Report;
    use cutover_model::lag::LagUnit;
    use cutover_model::protocol::{LagInfo, RunOutcome, StepInfo, StepKind, TriggerAction};
    use cutover_model::summary::probes::LagPoint;
    use cutover_model::summary::{Ended, Fired, RollbackSummary, RunSummary, StepSummary};

    /// 02:00:00 plus `s` seconds.
    pub fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    fn step(index: usize, id: &str, start: i64, took: i64, ended: Ended) -> StepSummary {
        let info = StepInfo {
            id: id.into(),
            title: String::new(),
            kind: StepKind::Run,
            command: "true".into(),
            notes: None,
            expected_ms: Some(2_000),
            timeout_ms: None,
            point_of_no_return: None,
            rollback: None,
            changes: true,
        };
        let mut s = StepSummary::new(index, &info);
        s.ended = ended;
        s.attempts = 1;
        s.first_started = Some(t(start));
        s.last_ended = Some(t(start + took));
        s.actual_ms = Some(took as u64 * 1000);
        s
    }

    /// The report: steps over 0–30 s, lag readings 1, 4, 12 s at 0, 10, 20 s, a trigger at
    /// 20 s and the rollback at 25 s.
    pub fn report() -> Report {
        let mut summary = RunSummary {
            name: "orders".into(),
            runbook: "rb.toml".into(),
            sha256: "ab".repeat(32),
            journal: "/j/run.jsonl".into(),
            started_at: Some(t(0)),
            ended_at: Some(t(30)),
            outcome: Some(RunOutcome::RolledBack),
            ..RunSummary::default()
        };
        summary.steps = vec![
            step(0, "prepare", 0, 2, Ended::Passed),
            step(1, "copy-data", 2, 15, Ended::Passed),
            step(2, "switch", 17, 3, Ended::Failed),
        ];
        summary.steps[2].point_of_no_return = Some("clients moved".into());
        summary.steps[2].message = Some("exit status 3".into());
        summary.lag.info = Some(LagInfo {
            description: "heartbeat age".into(),
            unit: LagUnit::Seconds,
            warn: Some(5.0),
            critical: Some(10.0),
            interval_ms: 1000,
            on: None,
        });
        summary.lag.points = [(0, 1.0), (10, 4.0), (20, 12.0)]
            .iter()
            .map(|(s, v)| LagPoint {
                at: t(*s),
                value: *v,
            })
            .collect();
        summary.triggers.push(Fired {
            at: t(20),
            name: "lag runaway".into(),
            message: "lag 12s above 10s".into(),
            action: TriggerAction::Rollback,
            cancelled_by: None,
        });
        summary.rollback = Some(RollbackSummary {
            by: "trigger lag runaway".into(),
            completed: Some(true),
        });
        let mut r = Report::new(summary, None);
        r.rollback_started_at = Some(t(25));
        r
    }
}
