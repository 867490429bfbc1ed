//! The report's facts: the run summary plus what a reader asks first (exit code, plan against
//! actual, whether the record is complete), computed once for every format.

use chrono::{DateTime, Utc};
use serde::Serialize;

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
            summary,
        }
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
