//! `cutover report` on the journal of a drift watch (`cutover reconcile`): what the watch saw
//! over its rounds — for each check how many rounds passed, failed or errored, the most rows
//! that differed, and above all when it changed (started failing, passed again) with the
//! result that showed it; whether the watch ended by itself, was stopped, or was cut off.
//!
//! A round of a check is its n-th result in the journal (a round runs every check once, one
//! after the other), so nothing here depends on the wording of the watch's notices except the
//! opening line (shown as it is) and the closing one (which says how it ended).

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::facts::when;
use super::markdown::cell;
use cutover_model::narrate;
use cutover_model::protocol::{Event, Level, Record};
use cutover_model::reconcile::{ReconcileResult, Status, describe, summary as check_line};

/// Notices at most listed under "Warnings".
const MAX_WARNINGS: usize = 20;

/// Differences at most kept per result.
pub const FIRST_DIFFERENCES: usize = 3;

/// One result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct RoundResult {
    /// The round (1-based: the check's n-th result).
    pub round: u32,
    /// When it was journaled.
    pub at: DateTime<Utc>,
    /// Pass, fail or error.
    pub status: Status,
    /// Rows that differed (against the thresholds).
    pub mismatch_rows: u64,
    /// Rows compared.
    pub rows_compared: u64,
    /// How long the check took, ms.
    pub elapsed_ms: u64,
    /// The result in one line, as the watch printed it.
    pub summary: String,
    /// Its first listed differences (at most [`FIRST_DIFFERENCES`]), as the watch printed them.
    pub first_differences: Vec<String>,
}

/// A stretch of rounds in which a check had the same status.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    /// Pass, fail or error.
    pub status: Status,
    /// Its first round.
    pub from_round: u32,
    /// Its last round.
    pub to_round: u32,
    /// When its first round's result came.
    pub from_at: DateTime<Utc>,
    /// The first round's result in one line (what changed).
    pub summary: String,
    /// The first round's first listed differences.
    pub first_differences: Vec<String>,
}

/// Everything one check did over the watch.
#[derive(Debug, Clone, Serialize)]
pub struct CheckHistory {
    /// The check's name.
    pub name: String,
    /// Its results, round by round.
    pub results: Vec<RoundResult>,
    /// The same, as stretches of one status.
    pub periods: Vec<Period>,
}

impl CheckHistory {
    fn count(&self, s: Status) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }

    /// The most rows that differed in one round.
    pub fn most_rows(&self) -> u64 {
        self.results
            .iter()
            .map(|r| r.mismatch_rows)
            .max()
            .unwrap_or(0)
    }

    /// The median time the check took, ms.
    pub fn median_ms(&self) -> u64 {
        let mut t: Vec<u64> = self.results.iter().map(|r| r.elapsed_ms).collect();
        t.sort_unstable();
        t.get(t.len() / 2).copied().unwrap_or(0)
    }

    /// Its status in its last round.
    pub fn last(&self) -> Option<&RoundResult> {
        self.results.last()
    }
}

/// A drift watch's journal, folded.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// The journal read.
    pub journal: String,
    /// The watch's opening line: the runbook, the checks, the schedule.
    pub watched: Option<String>,
    /// The first record's time.
    pub first_at: Option<DateTime<Utc>>,
    /// The last record's time.
    pub last_at: Option<DateTime<Utc>>,
    /// Rounds with at least one result.
    pub rounds: u32,
    /// Rounds in which a check did not pass.
    pub failing_rounds: u32,
    /// How the watch ended (its last line), or `None` when the journal stops before it.
    pub ended: Option<String>,
    /// A torn last record's length, left out.
    pub torn_bytes: Option<usize>,
    /// Each check, in the order it first appears.
    pub checks: Vec<CheckHistory>,
    /// Warnings the watch journaled (a metrics file it could not write, a lag probe that did
    /// not start...), with their times.
    pub warnings: Vec<(DateTime<Utc>, String)>,
}

/// Whether `records` are a drift watch's: no run, and results or the watch's opening line.
pub fn is_drift_watch(records: &[Record]) -> bool {
    let opening = |r: &Record| matches!(&r.event, Event::Notice { message, .. } if message.starts_with("reconcile "));
    !records
        .iter()
        .any(|r| matches!(r.event, Event::RunStarted { .. }))
        && (records.first().is_some_and(opening)
            || records
                .iter()
                .any(|r| matches!(r.event, Event::ReconcileResult { .. })))
}

impl DriftReport {
    /// Folds the records of the journal `path`.
    pub fn new(path: &str, records: &[Record], torn_bytes: Option<usize>) -> DriftReport {
        let mut checks: Vec<CheckHistory> = Vec::new();
        let mut watched = None;
        let mut ended = None;
        let mut warnings = Vec::new();
        for rec in records {
            match &rec.event {
                Event::ReconcileResult { result, .. } => {
                    let i = match checks.iter().position(|c| c.name == result.name) {
                        Some(i) => i,
                        None => {
                            checks.push(CheckHistory {
                                name: result.name.clone(),
                                results: Vec::new(),
                                periods: Vec::new(),
                            });
                            checks.len() - 1
                        }
                    };
                    let c = &mut checks[i];
                    let round = u32::try_from(c.results.len() + 1).unwrap_or(u32::MAX);
                    c.results.push(round_result(round, rec.ts, result));
                }
                Event::Notice { level, message } => {
                    if watched.is_none() && message.starts_with("reconcile ") {
                        watched = Some(message.clone());
                    } else if message.starts_with("finished after ")
                        || message.starts_with("stopped by ")
                    {
                        ended = Some(message.clone());
                    } else if *level != Level::Info && !message.starts_with("round ") {
                        warnings.push((rec.ts, message.clone()));
                    }
                }
                _ => {}
            }
        }
        for c in &mut checks {
            c.periods = periods(&c.results);
        }
        let rounds = checks.iter().map(|c| c.results.len()).max().unwrap_or(0);
        let failing_rounds = (1..=rounds)
            .filter(|&n| {
                checks.iter().any(|c| {
                    c.results
                        .get(n - 1)
                        .is_some_and(|r| r.status != Status::Pass)
                })
            })
            .count();
        DriftReport {
            journal: path.to_string(),
            watched,
            first_at: records.first().map(|r| r.ts),
            last_at: records.last().map(|r| r.ts),
            rounds: u32::try_from(rounds).unwrap_or(u32::MAX),
            failing_rounds: u32::try_from(failing_rounds).unwrap_or(u32::MAX),
            ended,
            torn_bytes,
            checks,
            warnings,
        }
    }

    /// The checks not passing in their last round.
    pub fn failing_at_end(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.last().is_some_and(|r| r.status != Status::Pass))
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The verdict in a few words: `every check passed in all 288 rounds`, `a check failed in
    /// 3 of 288 rounds; still failing at the end: orders`.
    pub fn verdict(&self) -> String {
        if self.rounds == 0 {
            return "no check finished: nothing was compared".to_string();
        }
        if self.failing_rounds == 0 {
            return if self.rounds == 1 {
                "every check passed (1 round)".to_string()
            } else {
                format!(
                    "every check passed in all {}",
                    narrate::count(self.rounds, "round")
                )
            };
        }
        let at_end = self.failing_at_end();
        let then = if at_end.is_empty() {
            "every check passed again at the end".to_string()
        } else {
            format!("still failing at the end: {}", at_end.join(", "))
        };
        format!(
            "a check did not pass in {} of {}; {then}",
            self.failing_rounds,
            narrate::count(self.rounds, "round")
        )
    }
}

fn round_result(round: u32, at: DateTime<Utc>, r: &ReconcileResult) -> RoundResult {
    RoundResult {
        round,
        at,
        status: r.status,
        mismatch_rows: r.mismatch_rows(),
        rows_compared: r.rows_compared,
        elapsed_ms: r.elapsed_ms,
        summary: check_line(r),
        first_differences: r
            .listed()
            .into_iter()
            .take(FIRST_DIFFERENCES)
            .map(|(table, m, key)| {
                let d = describe(m, key);
                table.map_or(d.clone(), |t| format!("{t}: {d}"))
            })
            .collect(),
    }
}

/// Consecutive results of one status, each with the result that began it.
fn periods(results: &[RoundResult]) -> Vec<Period> {
    let mut out: Vec<Period> = Vec::new();
    for r in results {
        match out.last_mut() {
            Some(p) if p.status == r.status => p.to_round = r.round,
            _ => out.push(Period {
                status: r.status,
                from_round: r.round,
                to_round: r.round,
                from_at: r.at,
                summary: r.summary.clone(),
                first_differences: r.first_differences.clone(),
            }),
        }
    }
    out
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "passed",
        Status::Fail => "failed",
        Status::Error => "could not run",
    }
}

fn span(p: &Period) -> String {
    if p.from_round == p.to_round {
        format!("round {}", p.from_round)
    } else {
        format!("rounds {}–{}", p.from_round, p.to_round)
    }
}

/// The report as Markdown.
pub fn render(d: &DriftReport) -> String {
    let mut o = String::new();
    header(&mut o, d);
    checks_table(&mut o, d);
    changes(&mut o, d);
    warnings(&mut o, d);
    o
}

/// The title, a warning when the record is incomplete, and the watch's facts.
fn header(o: &mut String, d: &DriftReport) {
    let _ = writeln!(o, "# Drift watch report — {}\n", d.verdict());
    if d.ended.is_none() {
        let _ = writeln!(
            o,
            "> **Incomplete record**: the journal ends before the watch did (it was killed, or \
             is still running){}. Everything below is what it holds.\n",
            d.torn_bytes.map_or(String::new(), |b| format!(
                "; a torn last record of {b} bytes is left out"
            ))
        );
    }
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Verdict | **{}** |", cell(&d.verdict()));
    if let Some(w) = &d.watched {
        let _ = writeln!(o, "| Watch | {} |", cell(w));
    }
    let _ = writeln!(o, "| Journal | `{}` |", super::markdown::code(&d.journal));
    let _ = writeln!(o, "| First record | {} |", when(d.first_at));
    let _ = writeln!(o, "| Last record | {} |", when(d.last_at));
    if let (Some(a), Some(b)) = (d.first_at, d.last_at) {
        let ms = u64::try_from((b - a).num_milliseconds()).unwrap_or(0);
        let _ = writeln!(o, "| Watched for | {} |", narrate::duration(ms));
    }
    let _ = writeln!(o, "| Rounds | {} |", d.rounds);
    let _ = writeln!(
        o,
        "| Ended | {} |\n",
        cell(
            d.ended
                .as_deref()
                .unwrap_or("— (the journal stops before the watch's last line)")
        )
    );
}

/// One row per check: its rounds by outcome, the most rows that differed, its median time.
fn checks_table(o: &mut String, d: &DriftReport) {
    let _ = writeln!(o, "## Checks\n");
    let _ = writeln!(
        o,
        "| Check | Rounds | Passed | Failed | Could not run | Most rows differing | Median time | Last round |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for c in &d.checks {
        let last = c.last().map_or("—".to_string(), |r| {
            format!("round {}: {}", r.round, status_word(r.status))
        });
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&c.name),
            c.results.len(),
            c.count(Status::Pass),
            c.count(Status::Fail),
            c.count(Status::Error),
            c.most_rows(),
            narrate::duration(c.median_ms()),
            cell(&last)
        );
    }
}

/// When each check's verdict changed (a check that passed throughout is left out).
fn changes(o: &mut String, d: &DriftReport) {
    let _ = writeln!(o, "\n## Changes\n");
    let mut any = false;
    for c in &d.checks {
        if c.periods.len() == 1 && c.periods[0].status == Status::Pass {
            continue;
        }
        any = true;
        let _ = writeln!(o, "### {}\n", cell(&c.name));
        for p in &c.periods {
            let first = if p.first_differences.is_empty() {
                String::new()
            } else {
                let shown: Vec<String> = p
                    .first_differences
                    .iter()
                    .map(|d| format!("`{}`", super::markdown::code(d)))
                    .collect();
                format!(" — first: {}", shown.join(", "))
            };
            let _ = writeln!(
                o,
                "- {}: {} (from {}): {}{first}",
                span(p),
                status_word(p.status),
                when(Some(p.from_at)),
                cell(&p.summary)
            );
        }
        let _ = writeln!(o);
    }
    if d.rounds == 0 {
        let _ = writeln!(o, "No result was journaled.\n");
    } else if !any {
        let _ = writeln!(o, "No check changed: every check passed in every round.\n");
    }
}

/// The watch's warnings, the first [`MAX_WARNINGS`] of them.
fn warnings(o: &mut String, d: &DriftReport) {
    if !d.warnings.is_empty() {
        let _ = writeln!(o, "## Warnings\n");
        for (at, w) in d.warnings.iter().take(MAX_WARNINGS) {
            let _ = writeln!(o, "- {} {}", when(Some(*at)), cell(w));
        }
        if d.warnings.len() > MAX_WARNINGS {
            let _ = writeln!(
                o,
                "- … and {} more (in the journal)",
                d.warnings.len() - MAX_WARNINGS
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::runbook::ReconcileKind;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn result(name: &str, status: Status) -> Record {
        let mut r = ReconcileResult::new(name, ReconcileKind::Count);
        r.status = status;
        r.rows_compared = 500;
        if status == Status::Error {
            r.error = Some("connection refused".into());
        }
        Record {
            ts: at(0),
            event: Event::ReconcileResult {
                result: Box::new(r),
                restored: false,
            },
        }
    }

    fn notice(level: Level, message: &str) -> Record {
        Record {
            ts: at(0),
            event: Event::Notice {
                level,
                message: message.into(),
            },
        }
    }

    fn watch(rounds: &[(Status, Status)], end: Option<&str>) -> Vec<Record> {
        let mut recs = vec![notice(
            Level::Info,
            "reconcile rb.toml: a, b (every 15m for 72h); journal w.jsonl",
        )];
        for (n, (a, b)) in rounds.iter().enumerate() {
            recs.push(result("a", *a));
            recs.push(result("b", *b));
            recs.push(notice(Level::Warn, &format!("round {}: …", n + 1)));
        }
        if let Some(e) = end {
            recs.push(notice(Level::Info, e));
        }
        for (i, r) in recs.iter_mut().enumerate() {
            r.ts = at(i as i64 * 60);
        }
        recs
    }

    #[test]
    fn rounds_periods_and_the_verdict_come_from_the_results() {
        use Status::*;
        let recs = watch(
            &[(Pass, Pass), (Pass, Fail), (Pass, Fail), (Pass, Pass)],
            Some("finished after 4 rounds: a check failed"),
        );
        assert!(is_drift_watch(&recs));
        let d = DriftReport::new("w.jsonl", &recs, None);
        assert_eq!(d.rounds, 4);
        assert_eq!(d.failing_rounds, 2);
        assert_eq!(
            d.verdict(),
            "a check did not pass in 2 of 4 rounds; every check passed again at the end"
        );
        let b = &d.checks[1];
        let spans: Vec<_> = b
            .periods
            .iter()
            .map(|p| (p.status, p.from_round, p.to_round))
            .collect();
        assert_eq!(spans, [(Pass, 1, 1), (Fail, 2, 3), (Pass, 4, 4)]);
        let md = render(&d);
        assert!(md.contains("- rounds 2–3: failed (from "), "{md}");
        assert!(md.contains("- round 4: passed (from "), "{md}");
        assert!(!md.contains("### a\n"), "a never changed: {md}");
        assert!(!md.contains("Incomplete record"), "{md}");
        assert!(md.contains("| Ended | finished after 4 rounds"), "{md}");
        // The round lines are not warnings.
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn a_watch_cut_off_still_failing_says_so() {
        use Status::*;
        let mut recs = watch(&[(Pass, Pass), (Error, Pass)], None);
        recs.push(notice(
            Level::Warn,
            "cannot write the metrics file m.prom: disk full",
        ));
        let d = DriftReport::new("w.jsonl", &recs, Some(17));
        assert_eq!(
            d.verdict(),
            "a check did not pass in 1 of 2 rounds; still failing at the end: a"
        );
        let md = render(&d);
        for want in [
            "Incomplete record",
            "torn last record of 17 bytes",
            "- round 2: could not run (from ",
            "connection refused",
            "| Watch | reconcile rb.toml: a, b",
            "disk full",
        ] {
            crate::has(&md, want);
        }
    }

    #[test]
    fn a_watch_stopped_before_any_result_compared_nothing() {
        let recs = watch(&[], Some("stopped by SIGTERM during round 1"));
        assert!(is_drift_watch(&recs));
        let d = DriftReport::new("w.jsonl", &recs, None);
        assert_eq!(d.verdict(), "no check finished: nothing was compared");
        let md = render(&d);
        crate::has(&md, "| Ended | stopped by SIGTERM during round 1 |");
        assert!(md.contains("No result was journaled."), "{md}");
    }

    #[test]
    fn a_run_journal_is_not_a_drift_watch() {
        let recs = watch(&[(Status::Pass, Status::Pass)], None);
        assert!(is_drift_watch(&recs));
        let none: Vec<Record> = recs
            .into_iter()
            .filter(|r| !matches!(r.event, Event::ReconcileResult { .. }))
            .skip(1)
            .collect();
        assert!(!is_drift_watch(&none), "no results, no opening line");
        let d = DriftReport::new(
            "w.jsonl",
            &watch(
                &[(Status::Pass, Status::Pass)],
                Some("finished after 1 round: every check passed"),
            ),
            None,
        );
        assert_eq!(d.verdict(), "every check passed (1 round)");
        assert!(render(&d).contains("No check changed"));
    }
}
