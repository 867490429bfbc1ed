//! A [`RunSummary`] as plain lines: what the cockpit shows when the run is over and prints on
//! the normal terminal after leaving it.

use super::{Ended, RunSummary, Undo};
use crate::narrate::{self, count, duration};
use crate::preflight::Verdict;
use crate::protocol::{RunOutcome, TriggerAction};

fn hhmmss(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// The outcome in words.
pub fn outcome(o: Option<RunOutcome>) -> &'static str {
    match o {
        Some(RunOutcome::Completed) => "completed",
        Some(RunOutcome::RolledBack) => "rolled back",
        Some(RunOutcome::RolledBackPartly) => "rolled back, with actions skipped (undo by hand)",
        Some(RunOutcome::Aborted) => "ended before completion",
        Some(RunOutcome::NotStarted) => "not started: preflight failed",
        None => "not finished (the record ends here)",
    }
}

/// A repair in a few words: counts, applied or not, stale rows, the inverse.
pub fn repair_words(r: &crate::protocol::RepairRecord) -> String {
    let state = if r.applied {
        format!(
            "applied ({} changed, {} stale){}",
            r.changed,
            r.stale.len(),
            if r.undone {
                ", undone by the rollback"
            } else {
                ""
            }
        )
    } else {
        "not applied".to_string()
    };
    format!(
        "check {}: {}, {state}; patch {} (sha256 {:.12}…), inverse {}",
        r.check,
        r.counts(),
        r.patch_file,
        r.sha256,
        r.inverse_file
    )
}

/// The summary, one line each, no colour: outcome and times, the steps, the decisions, the
/// triggers, the rollback, what is left to undo by hand, and where the journal is.
pub fn lines(s: &RunSummary) -> Vec<String> {
    let mut out = vec![headline(s)];
    // Step 1 started outside the maintenance window (before it opened, or after it ended).
    if let (Some((start, minutes)), Some(first)) = (s.window, s.first_step_at())
        && let Some(words) = narrate::outside_window(start, minutes, first)
    {
        out.push(format!(
            "OUTSIDE THE WINDOW: step 1 started {} UTC; {words}",
            hhmmss(first)
        ));
    }
    if !s.preflight.is_empty() {
        out.push(narrate::preflight(&s.preflight));
        for f in s.preflight.iter().filter(|f| f.verdict != Verdict::Pass) {
            out.push(format!("  {}", f.line()));
        }
    }
    out.push("STEPS".into());
    step_lines(s, &mut out);
    if !s.repairs.is_empty() {
        out.push("REPAIRS".into());
        for (id, r) in &s.repairs {
            out.push(format!("  {id}: {}", repair_words(r)));
        }
    }
    if !s.decisions.is_empty() {
        out.push("DECISIONS".into());
        for d in &s.decisions {
            if let Some(w) = d.words() {
                out.push(format!("  {} {w}", hhmmss(d.at)));
            }
        }
    }
    if !s.triggers.is_empty() {
        out.push("TRIGGERS".into());
        for f in &s.triggers {
            let then = trigger_then(f);
            let at = hhmmss(f.at);
            out.push(format!("  {at} {}: {} → {then}", f.name, f.message));
        }
    }
    rollback_lines(s, &mut out);
    if !s.journal.is_empty() {
        out.push(format!("journal {}", s.journal));
        if let Some(dir) = s.steps.iter().find_map(|st| st.output_file.as_deref()) {
            let dir = std::path::Path::new(dir)
                .parent()
                .map_or_else(|| dir.to_string(), |p| p.display().to_string());
            out.push(format!("output  {dir}/"));
        }
    }
    out
}

/// `RUN COMPLETED · name · started 02:00:00 UTC · took 41m (plan 45m)`.
fn headline(s: &RunSummary) -> String {
    let times = match (s.started_at, s.elapsed_ms()) {
        (Some(start), Some(took)) => {
            // No step has an `expected` duration: there is no plan to compare with. The
            // cockpit's header says the same behind/ahead figure while the run goes.
            let plan = match s.planned_ms() {
                0 => String::new(),
                p => format!(
                    " (plan {}{})",
                    duration(p),
                    s.behind_plan_ms().map(behind).unwrap_or_default()
                ),
            };
            format!(
                " · started {} UTC · took {}{plan}",
                hhmmss(start),
                duration(took)
            )
        }
        _ => String::new(),
    };
    format!(
        "RUN {} · {}{times}",
        outcome(s.outcome).to_uppercase(),
        s.name
    )
}

/// `, 43s behind` or `, 4m ahead` (the run against its plan, from step 1's start); nothing
/// within a second.
fn behind(ms: i64) -> String {
    match ms.unsigned_abs() {
        0..1000 => String::new(),
        d if ms > 0 => format!(", {} behind", duration(d)),
        d => format!(", {} ahead", duration(d)),
    }
}

/// One line per step, in aligned columns: glyph, number and id, actual / planned, state.
fn step_lines(s: &RunSummary, out: &mut Vec<String>) {
    let id_w = s
        .steps
        .iter()
        .map(|st| st.id.chars().count() + 1 + (st.index + 1).to_string().len())
        .max()
        .unwrap_or(0);
    let times: Vec<(String, String)> = s
        .steps
        .iter()
        .map(|st| {
            (
                st.actual_ms.map_or("—".into(), duration),
                st.expected_ms.map_or("—".into(), duration),
            )
        })
        .collect();
    let actual_w = times.iter().map(|t| t.0.chars().count()).max().unwrap_or(0);
    let planned_w = times.iter().map(|t| t.1.chars().count()).max().unwrap_or(0);
    for (st, (actual, planned)) in s.steps.iter().zip(&times) {
        let name = format!("{} {}", st.index + 1, st.id);
        let mut line = format!(
            "  {} {name:<id_w$}  {actual:>actual_w$} / {planned:<planned_w$}  {}",
            st.ended.glyph(),
            st.ended.word()
        );
        if st.attempts > 1 {
            line.push_str(&format!(" · {}", count(st.attempts, "attempt")));
        }
        if let Some(m) = &st.message {
            let m = m.lines().next().unwrap_or_default();
            match st.ended {
                Ended::Skipped | Ended::MarkedDone => line.push_str(&format!(": “{m}”")),
                _ => line.push_str(&format!(": {m}")),
            }
        }
        out.push(line);
    }
}

/// The rollback: who started it, each action, and what is left to undo by hand.
fn rollback_lines(s: &RunSummary, out: &mut Vec<String>) {
    let Some(r) = &s.rollback else {
        return;
    };
    out.push(format!(
        "ROLLBACK started by {} · {}",
        r.by,
        rollback_state(r.completed)
    ));
    for st in s.steps.iter().rev() {
        let Some(u) = &st.undo else { continue };
        out.push(format!("  {} {}  {}", st.index + 1, st.id, undo_words(u)));
    }
    let by_hand = s.undo_by_hand();
    if !by_hand.is_empty() {
        out.push("UNDO BY HAND".into());
        for (st, why) in by_hand {
            out.push(format!("  {} {}  {why}", st.index + 1, st.id));
        }
    }
}

/// How to go on with the run, when it can be resumed: it did not complete and was not rolled
/// back (a rollback that was stopped half-way resumes as the rest of the rollback).
pub fn resume_hint(s: &RunSummary) -> Option<String> {
    let done = matches!(
        s.outcome,
        Some(RunOutcome::Completed | RunOutcome::RolledBack | RunOutcome::RolledBackPartly)
    ) || s
        .rollback
        .as_ref()
        .is_some_and(|r| r.completed == Some(true));
    (!done && !s.journal.is_empty()).then(|| narrate::resume_hint(&s.journal))
}

/// What a trigger led to: an alert, the automatic rollback, or its countdown stopped by whom.
pub fn trigger_then(f: &super::Fired) -> String {
    match (f.action, &f.cancelled_by) {
        (TriggerAction::Alert, _) => "alert".to_string(),
        (TriggerAction::Rollback, Some(by)) => format!("rollback countdown stopped by {by}"),
        (TriggerAction::Rollback, None) => "automatic rollback".to_string(),
    }
}

/// What became of a step's rollback action, in words.
pub fn undo_words(u: &Undo) -> String {
    match u {
        Undo::Running => "interrupted — outcome unknown".to_string(),
        Undo::Passed => "rolled back".to_string(),
        Undo::Failed { message } => format!(
            "failed{}",
            message
                .as_deref()
                .map_or(String::new(), |m| format!(": {m}"))
        ),
        Undo::Skipped { reason } => format!("skipped: “{reason}”"),
    }
}

/// Whether the rollback finished: `completed`, `not completed`, `not finished`.
pub fn rollback_state(completed: Option<bool>) -> &'static str {
    match completed {
        Some(true) => "completed",
        Some(false) => "not completed",
        None => "not finished",
    }
}
