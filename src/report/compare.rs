//! `cutover report A.jsonl B.jsonl ...`: rehearsals lined up step by step (matched by id;
//! added and removed steps shown) in the order they started, the actual time per run, the
//! change from the first run to the last, the cumulative drift against the plan, the step
//! that drifted most. Warned first: journals of different runbooks, a runbook that changed
//! between the runs, and the same journal (or run) given twice.

use std::fmt::Write;

use serde::Serialize;

use super::facts::{Report, ms, when};
use super::markdown::{cell, code};
use cutover_model::narrate::duration;

/// A journal given on the command line, with its report.
#[derive(Debug, Clone)]
pub struct Given {
    /// The path as given.
    pub path: String,
    /// The file's device and inode (the same file under two names is one file).
    pub file: Option<(u64, u64)>,
    /// What the journal holds.
    pub report: Report,
}

impl Given {
    /// The journal at `path` and its report.
    pub fn new(path: &std::path::Path, report: Report) -> Self {
        use std::os::unix::fs::MetadataExt;
        Given {
            path: path.display().to_string(),
            file: std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino())),
            report,
        }
    }
}

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
    /// What to know before reading on: different runbooks, a changed runbook, a journal or a
    /// run given twice.
    pub warnings: Vec<Warning>,
    /// Each run's journal as given on the command line, in the order of `runs`.
    pub journals: Vec<String>,
    /// Whether the runs were given in another order than they started in.
    pub reordered: bool,
    /// The runs, in the order they started (one with no start last, in the order given).
    pub runs: Vec<Report>,
    /// Every step of any run, in runbook order (new steps where they first appear).
    pub steps: Vec<StepRow>,
}

impl Comparison {
    /// Lines up the runs of the journals `given`, in the order they started.
    pub fn new(mut given: Vec<Given>) -> Self {
        let order: Vec<String> = given.iter().map(|g| g.path.clone()).collect();
        // Stable: runs that started at the same time (the same run twice) keep their order.
        given.sort_by_key(|g| {
            (
                g.report.summary.started_at.is_none(),
                g.report.summary.started_at,
            )
        });
        let reordered = given.iter().map(|g| &g.path).ne(order.iter());
        let warnings = warnings(&given);
        let journals = given.iter().map(|g| g.path.clone()).collect();
        let runs: Vec<Report> = given.into_iter().map(|g| g.report).collect();
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
        Comparison {
            warnings,
            journals,
            reordered,
            runs,
            steps,
        }
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

/// Something that makes a comparison misleading, said before it. Runs are numbered from 1,
/// in the comparison's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// The journals are of runbooks with different names: each run's.
    DifferentRunbooks {
        /// Each run's runbook name.
        names: Vec<String>,
    },
    /// One runbook name, but read from different paths (as each journal records it) with
    /// different contents. (A copy of one runbook elsewhere, as each drill keeps, is not.)
    DifferentRunbookFiles {
        /// Each run's runbook path.
        paths: Vec<String>,
        /// Each run's runbook sha256.
        sha256: Vec<String>,
    },
    /// The runbook's content changed between the runs (read from one path).
    RunbookChanged {
        /// Each run's runbook sha256.
        sha256: Vec<String>,
    },
    /// The same journal file given twice (under one name or two).
    SameFile {
        /// The two runs.
        runs: [usize; 2],
        /// Their paths as given.
        paths: [String; 2],
    },
    /// Two files that hold one run (the same journal path and start): a copy of a journal.
    SameRun {
        /// The two runs.
        runs: [usize; 2],
        /// Their paths as given.
        paths: [String; 2],
        /// The journal path the run recorded.
        journal: String,
    },
}

impl Warning {
    /// The warning in a sentence: Markdown (`markdown`), else plain text for a terminal.
    pub fn words(&self, markdown: bool) -> String {
        let name = |s: &str| {
            if markdown {
                format!("**{}**", cell(s))
            } else {
                cutover_model::text::plain(s).into_owned()
            }
        };
        let path = |s: &str| {
            if markdown {
                format!("`{}`", code(s))
            } else {
                cutover_model::text::plain(s).into_owned()
            }
        };
        let each = |v: &[String], f: &dyn Fn(&str) -> String| -> String {
            v.iter()
                .enumerate()
                .map(|(i, x)| format!("run {} {}", i + 1, f(x)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Warning::DifferentRunbooks { names } => format!(
                "these journals are of different runbooks ({}): their steps are matched by id only.",
                each(names, &name)
            ),
            Warning::DifferentRunbookFiles { paths, sha256 } => {
                let files: Vec<String> = paths
                    .iter()
                    .zip(sha256)
                    .map(|(p, s)| format!("{} sha256 {}", path(p), path(short(s))))
                    .collect();
                format!(
                    "the runs read different runbook files with different contents ({}): make \
                     sure they are one runbook; the steps added or removed are marked below.",
                    each(&files, &|f: &str| f.to_string())
                )
            }
            Warning::RunbookChanged { sha256 } => format!(
                "the runbook changed between the runs ({}); the steps added or removed are \
                 marked below.",
                each(sha256, &|s: &str| format!("sha256 {}", path(short(s))))
            ),
            Warning::SameFile { runs, paths } => format!(
                "runs {} and {} are the same journal file ({} and {}): a run compared with itself.",
                runs[0],
                runs[1],
                path(&paths[0]),
                path(&paths[1])
            ),
            Warning::SameRun {
                runs,
                paths,
                journal,
            } => format!(
                "runs {} and {} are one run ({} and {} are copies of its journal {}): a run \
                 compared with itself.",
                runs[0],
                runs[1],
                path(&paths[0]),
                path(&paths[1]),
                path(journal)
            ),
        }
    }
}

/// What makes the comparison of the runs `given` (in its order) misleading: journals of
/// different runbooks (their names or paths as the journals record them), a runbook whose
/// content changed between the runs (its sha256), the same file given twice, copies of one
/// run's journal.
fn warnings(given: &[Given]) -> Vec<Warning> {
    let each = |pick: fn(&Report) -> &str| -> Vec<String> {
        given.iter().map(|g| pick(&g.report).to_string()).collect()
    };
    let differ = |v: &[String]| v.iter().any(|x| *x != v[0]);
    let (names, paths, shas) = (
        each(|r| &r.summary.name),
        each(|r| &r.summary.runbook),
        each(|r| &r.summary.sha256),
    );
    let mut out = Vec::new();
    if differ(&names) {
        out.push(Warning::DifferentRunbooks { names });
    } else if differ(&shas) && differ(&paths) {
        out.push(Warning::DifferentRunbookFiles {
            paths,
            sha256: shas,
        });
    } else if differ(&shas) {
        out.push(Warning::RunbookChanged { sha256: shas });
    }
    for (i, a) in given.iter().enumerate() {
        for (j, b) in given.iter().enumerate().skip(i + 1) {
            let (ra, rb) = (&a.report.summary, &b.report.summary);
            let runs = [i + 1, j + 1];
            let paths = [a.path.clone(), b.path.clone()];
            if a.file.is_some() && a.file == b.file {
                out.push(Warning::SameFile { runs, paths });
            } else if ra.started_at.is_some()
                && ra.started_at == rb.started_at
                && ra.journal == rb.journal
            {
                out.push(Warning::SameRun {
                    runs,
                    paths,
                    journal: ra.journal.clone(),
                });
            }
        }
    }
    out
}

/// The first 12 hex digits of a sha256.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
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
    let _ = writeln!(o, "# {} — rehearsal comparison\n", cell(name));
    for w in &c.warnings {
        let _ = writeln!(o, "> **Warning**: {}\n", w.words(true));
    }
    let _ = writeln!(
        o,
        "The runs in the order they started{}.\n",
        if c.reordered {
            " (not the order they were given in)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        o,
        "| Run | Journal | Runbook | Started | Outcome | Took | Runbook sha256 |\n|---|---|---|---|---|---|---|"
    );
    for (i, (r, path)) in c.runs.iter().zip(&c.journals).enumerate() {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} | {} | `{}` |",
            i + 1,
            code(path),
            cell(&r.summary.name),
            when(r.summary.started_at),
            cell(&r.outcome()),
            ms(r.elapsed_ms),
            code(short(&r.summary.sha256))
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
        let mut row = format!("| {} | {} |", cell(&s.id), ms(s.planned_ms));
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
            cell(&s.id),
            duration(d as u64),
            ms(s.planned_ms)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixture;

    /// A run of the fixture's runbook that started `at` seconds after it, in journal `path`
    /// (the file's identity: `file`).
    fn run(path: &str, file: u64, at: i64) -> Given {
        let mut report = fixture::report();
        report.summary.started_at = Some(fixture::t(at));
        report.summary.journal = format!("/j/{path}");
        Given {
            path: path.into(),
            file: Some((1, file)),
            report,
        }
    }

    #[test]
    fn runs_line_up_in_the_order_they_started() {
        let c = Comparison::new(vec![
            run("c.jsonl", 3, 300),
            run("a.jsonl", 1, 100),
            run("b.jsonl", 2, 200),
        ]);
        assert_eq!(c.journals, ["a.jsonl", "b.jsonl", "c.jsonl"]);
        assert!(c.reordered);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let md = render(&c);
        crate::has(
            &md,
            "The runs in the order they started (not the order they were given in).",
        );
        let a = md.find("| 1 | `a.jsonl` |").unwrap();
        let b = md.find("| 2 | `b.jsonl` |").unwrap();
        let cc = md.find("| 3 | `c.jsonl` |").unwrap();
        assert!(a < b && b < cc, "{md}");
        assert!(!md.contains("Warning"), "{md}");
        let c = Comparison::new(vec![run("a.jsonl", 1, 100), run("b.jsonl", 2, 200)]);
        assert!(!c.reordered);
    }

    #[test]
    fn journals_of_different_runbooks_are_warned_of_first() {
        let mut other = run("b.jsonl", 2, 200);
        other.report.summary.name = "billing".into();
        other.report.summary.runbook = "billing.toml".into();
        other.report.summary.sha256 = "cd".repeat(32);
        let c = Comparison::new(vec![run("a.jsonl", 1, 100), other]);
        assert_eq!(
            c.warnings,
            [Warning::DifferentRunbooks {
                names: vec!["orders".into(), "billing".into()]
            }]
        );
        let md = render(&c);
        let first = md
            .lines()
            .find(|l| !l.is_empty() && !l.starts_with("# "))
            .unwrap();
        assert_eq!(
            first,
            "> **Warning**: these journals are of different runbooks (run 1 **orders**, run 2 \
             **billing**): their steps are matched by id only."
        );
        // The same runbook copied elsewhere (as each drill keeps one): nothing to warn of.
        let mut moved = run("b.jsonl", 2, 200);
        moved.report.summary.runbook = "old/rb.toml".into();
        let c = Comparison::new(vec![run("a.jsonl", 1, 100), moved.clone()]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // Another file with another content.
        moved.report.summary.sha256 = "cd".repeat(32);
        let c = Comparison::new(vec![run("a.jsonl", 1, 100), moved]);
        assert_eq!(
            c.warnings,
            [Warning::DifferentRunbookFiles {
                paths: vec!["rb.toml".into(), "old/rb.toml".into()],
                sha256: vec!["ab".repeat(32), "cd".repeat(32)],
            }]
        );
        assert_eq!(
            c.warnings[0].words(false),
            "the runs read different runbook files with different contents (run 1 rb.toml \
             sha256 abababababab, run 2 old/rb.toml sha256 cdcdcdcdcdcd): make sure they are \
             one runbook; the steps added or removed are marked below."
        );
        let mut changed = run("b.jsonl", 2, 200);
        changed.report.summary.sha256 = "cd".repeat(32);
        let c = Comparison::new(vec![run("a.jsonl", 1, 100), changed]);
        assert!(
            matches!(&c.warnings[..], [Warning::RunbookChanged { sha256 }] if sha256.len() == 2),
            "{:?}",
            c.warnings
        );
        assert!(render(&c).contains(
            "> **Warning**: the runbook changed between the runs (run 1 sha256 `abababababab`, \
             run 2 sha256 `cdcdcdcdcdcd`)"
        ));
    }

    #[test]
    fn the_same_journal_twice_is_warned_of() {
        // One file under two names.
        let c = Comparison::new(vec![run("a.jsonl", 1, 100), run("./a.jsonl", 1, 100)]);
        assert_eq!(
            c.warnings,
            [Warning::SameFile {
                runs: [1, 2],
                paths: ["a.jsonl".into(), "./a.jsonl".into()]
            }]
        );
        assert!(render(&c).contains(
            "> **Warning**: runs 1 and 2 are the same journal file (`a.jsonl` and `./a.jsonl`): \
             a run compared with itself."
        ));
        // A copy of a journal: another file, the same run (its journal and its start).
        let mut copy = run("a.jsonl", 9, 100);
        copy.path = "copy.jsonl".into();
        let c = Comparison::new(vec![run("a.jsonl", 1, 100), copy, run("b.jsonl", 2, 200)]);
        assert_eq!(
            c.warnings,
            [Warning::SameRun {
                runs: [1, 2],
                paths: ["a.jsonl".into(), "copy.jsonl".into()],
                journal: "/j/a.jsonl".into()
            }]
        );
        assert_eq!(
            c.warnings[0].words(false),
            "runs 1 and 2 are one run (a.jsonl and copy.jsonl are copies of its journal \
             /j/a.jsonl): a run compared with itself."
        );
    }
}
