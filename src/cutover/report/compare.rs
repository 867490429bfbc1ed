//! `cutover report A.jsonl B.jsonl ...`: rehearsals lined up step by step (matched by id;
//! added and removed steps shown), the actual time per run, the change from the first run to
//! the last, the cumulative drift against the plan, the step that drifted most, and whether
//! the runbook changed between the runs.

use std::fmt::Write;

use serde::Serialize;

use super::facts::{Report, ms, when};
use cutover_model::narrate::duration;

/// One step across the runs.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    /// The step's id.
    pub id: String,
    /// Planned (`expected`) in the last run that has the step, ms.
    pub planned_ms: Option<u64>,
    /// Actual per run (`None`: not in that run's runbook, or not finished).
    pub actual_ms: Vec<Option<u64>>,
    /// Whether each run's runbook has the step.
    pub present: Vec<bool>,
    /// Each run's drift against the plan up to and including this step, ms.
    pub cumulative_drift_ms: Vec<i64>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The runs, in the order given.
    pub runs: Vec<Report>,
    /// Every step of any run, in runbook order (new steps where they first appear).
    pub steps: Vec<StepRow>,
}

impl Comparison {
    /// Lines the runs up.
    pub fn new(runs: Vec<Report>) -> Self {
        let mut ids: Vec<String> = Vec::new();
        for r in &runs {
            let mut at = 0;
            for st in &r.summary.steps {
                match ids.iter().position(|i| *i == st.id) {
                    Some(p) => at = p + 1,
                    None => {
                        ids.insert(at, st.id.clone());
                        at += 1;
                    }
                }
            }
        }
        let mut drift = vec![0i64; runs.len()];
        let steps = ids
            .into_iter()
            .map(|id| {
                let found: Vec<_> = runs
                    .iter()
                    .map(|r| r.summary.steps.iter().find(|s| s.id == id))
                    .collect();
                let planned_ms = found.iter().rev().flatten().find_map(|s| s.expected_ms);
                for (d, s) in drift.iter_mut().zip(&found) {
                    if let Some(s) = s
                        && let (Some(a), Some(e)) = (s.actual_ms, s.expected_ms)
                    {
                        *d += a as i64 - e as i64;
                    }
                }
                StepRow {
                    planned_ms,
                    actual_ms: found.iter().map(|s| s.and_then(|s| s.actual_ms)).collect(),
                    present: found.iter().map(Option::is_some).collect(),
                    cumulative_drift_ms: drift.clone(),
                    id,
                }
            })
            .collect();
        Comparison { runs, steps }
    }

    /// The step whose actual exceeds its plan the most in the last run, with by how much.
    pub fn worst_drift(&self) -> Option<(&StepRow, i64)> {
        let last = self.runs.len().checked_sub(1)?;
        self.steps
            .iter()
            .filter_map(|s| {
                let a = s.actual_ms.get(last).copied().flatten()?;
                Some((s, a as i64 - s.planned_ms? as i64))
            })
            .max_by_key(|(_, d)| *d)
            .filter(|(_, d)| *d > 0)
    }
}

fn signed(d: i64) -> String {
    if d >= 0 {
        format!("+{}", duration(d as u64))
    } else {
        format!("-{}", duration((-d) as u64))
    }
}

/// The comparison as Markdown.
pub fn render(c: &Comparison) -> String {
    let mut o = String::new();
    let name = c.runs.last().map_or("", |r| r.summary.name.as_str());
    let _ = writeln!(o, "# {name} — rehearsal comparison\n");
    let _ = writeln!(
        o,
        "| Run | Journal | Started | Outcome | Took | Runbook sha256 |\n|---|---|---|---|---|---|"
    );
    for (i, r) in c.runs.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} | `{}` |",
            i + 1,
            r.summary.journal,
            when(r.summary.started_at),
            r.outcome(),
            ms(r.elapsed_ms),
            r.summary.sha256.get(..12).unwrap_or(&r.summary.sha256)
        );
    }
    let shas: std::collections::BTreeSet<&str> =
        c.runs.iter().map(|r| r.summary.sha256.as_str()).collect();
    if shas.len() > 1 {
        let _ = writeln!(
            o,
            "\n> The runbook changed between the runs ({} versions); the steps added or removed are marked below.",
            shas.len()
        );
    }
    let _ = writeln!(o, "\n## Per step\n");
    let mut header = "| Step | Planned |".to_string();
    let mut rule = "|---|---|".to_string();
    for i in 0..c.runs.len() {
        header.push_str(&format!(" Run {} |", i + 1));
        rule.push_str("---|");
    }
    header.push_str(" Last − first | Drift so far (last run) |");
    rule.push_str("---|---|");
    let _ = writeln!(o, "{header}\n{rule}");
    for s in &c.steps {
        let mut row = format!("| {} | {} |", s.id, ms(s.planned_ms));
        for (a, present) in s.actual_ms.iter().zip(&s.present) {
            let cell = if *present {
                ms(*a)
            } else {
                "(not in this runbook)".into()
            };
            row.push_str(&format!(" {cell} |"));
        }
        let change = match (
            s.actual_ms.first().copied().flatten(),
            s.actual_ms.last().copied().flatten(),
        ) {
            (Some(a), Some(b)) if c.runs.len() > 1 => signed(b as i64 - a as i64),
            _ => "—".into(),
        };
        let drift = s.cumulative_drift_ms.last().copied().unwrap_or(0);
        row.push_str(&format!(" {change} | {} |", signed(drift)));
        let _ = writeln!(o, "{row}");
    }
    if let Some((s, d)) = c.worst_drift() {
        let _ = writeln!(
            o,
            "\nThe step that drifted most in the last run: **{}**, {} over its plan of {}.",
            s.id,
            duration(d as u64),
            ms(s.planned_ms)
        );
    }
    o
}
