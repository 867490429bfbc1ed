//! The report of a fleet run (`cutover report FLEET-JOURNAL`): one row per member — how its
//! run ended, how long it took against its plan, its worst step — read from the fleet journal
//! and each member's own journal, with the fleet's decisions (sessions, canary go, halts) and
//! the command that gives each member's full report.

use serde::Serialize;

use cutover_model::fleet::FleetRecord;
use cutover_model::narrate::duration;
use cutover_model::protocol::RunOutcome;
use cutover_model::summary::{Ended, text::outcome};

use crate::facts::Report;
use crate::markdown::{cell, code};

/// One member's row.
#[derive(Debug, Clone, Serialize)]
pub struct MemberRow {
    /// The member's name.
    pub name: String,
    /// Its own journal, once it started.
    pub journal: Option<String>,
    /// How its run ended, as its journal says (`None`: not started, or not finished).
    pub outcome: Option<RunOutcome>,
    /// Where it stands, in words.
    pub state: String,
    /// Its exit code, as the fleet recorded it.
    pub exit: Option<u8>,
    /// From its first step's start to its end (or its last record).
    pub took_ms: Option<u64>,
    /// The sum of its steps' plans.
    pub planned_ms: u64,
    /// The step that went worst: the one that did not pass, else the furthest behind its plan.
    pub worst_step: Option<String>,
}

/// A fleet run, member by member.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// The fleet journal.
    pub journal: String,
    /// The runbook, as the fleet journal names it.
    pub runbook: String,
    /// The fleet file.
    pub fleet: String,
    /// How many sessions ran the fleet (1, plus one per `--resume`).
    pub sessions: usize,
    /// The members, in the fleet file's order.
    pub members: Vec<MemberRow>,
    /// Who said go after the canaries, if anyone.
    pub canary_go: Option<String>,
    /// Each halt: why, and the members it kept from starting.
    pub halts: Vec<(String, Vec<String>)>,
    /// The last session's exit code (`None`: the record ends before the fleet did).
    pub exit: Option<u8>,
}

impl FleetReport {
    /// The report of the fleet journal `journal` holding `records`; `member` reads a member's
    /// own journal (by its path) into its report.
    pub fn new(
        journal: &str,
        records: &[FleetRecord],
        member: impl Fn(&str) -> Option<Report>,
    ) -> FleetReport {
        let mut r = FleetReport {
            journal: journal.to_string(),
            runbook: String::new(),
            fleet: String::new(),
            sessions: 0,
            members: Vec::new(),
            canary_go: None,
            halts: Vec::new(),
            exit: None,
        };
        for rec in records {
            r.take(rec);
        }
        for row in &mut r.members {
            if let Some(report) = row.journal.as_deref().and_then(&member) {
                fill(row, &report);
            }
        }
        r
    }

    /// Takes one fleet record.
    fn take(&mut self, rec: &FleetRecord) {
        match rec {
            FleetRecord::FleetStarted {
                runbook,
                fleet,
                members,
                ..
            } => {
                self.sessions += 1;
                self.runbook = runbook.clone();
                self.fleet = fleet.clone();
                self.exit = None;
                for m in members {
                    if !self.members.iter().any(|r| &r.name == m) {
                        self.members.push(row(m));
                    }
                }
            }
            FleetRecord::MemberStarted {
                member, journal, ..
            } => {
                if let Some(r) = self.members.iter_mut().find(|r| &r.name == member) {
                    r.journal = Some(journal.clone());
                    r.state = "running when the record ends".into();
                }
            }
            FleetRecord::MemberFinished {
                member,
                outcome: o,
                exit,
                ..
            } => {
                if let Some(r) = self.members.iter_mut().find(|r| &r.name == member) {
                    r.exit = Some(*exit);
                    r.state = match o {
                        Some(o) => outcome(Some(*o)).to_string(),
                        None => "could not start".into(),
                    };
                }
            }
            FleetRecord::CanaryGo { by, .. } => self.canary_go = Some(by.clone()),
            FleetRecord::Halted {
                reason,
                not_started,
                ..
            } => self.halts.push((reason.clone(), not_started.clone())),
            FleetRecord::FleetFinished { exit, .. } => self.exit = Some(*exit),
        }
    }
}

/// A member's row before anything is known of it.
fn row(name: &str) -> MemberRow {
    MemberRow {
        name: name.to_string(),
        journal: None,
        outcome: None,
        state: "never started".into(),
        exit: None,
        took_ms: None,
        planned_ms: 0,
        worst_step: None,
    }
}

/// Fills a member's row from its own journal's report.
fn fill(row: &mut MemberRow, report: &Report) {
    let s = &report.summary;
    row.outcome = s.outcome;
    if let Some(o) = s.outcome {
        row.state = outcome(Some(o)).to_string();
    }
    row.took_ms = report.elapsed_ms;
    row.planned_ms = report.planned_ms;
    let failed = s.steps.iter().find(|st| {
        matches!(
            st.ended,
            Ended::Failed | Ended::TimedOut | Ended::Cancelled | Ended::Interrupted
        )
    });
    row.worst_step = match failed {
        Some(st) => Some(format!("{} {}", st.id, st.ended.word())),
        None => s
            .steps
            .iter()
            .filter_map(|st| {
                let over = st.actual_ms? as i64 - st.expected_ms? as i64;
                (over > 0).then_some((over, st))
            })
            .max_by_key(|(over, _)| *over)
            .map(|(over, st)| {
                format!(
                    "{} {} behind (plan {})",
                    st.id,
                    duration(over as u64),
                    duration(st.expected_ms.unwrap_or(0))
                )
            }),
    };
}

/// The fleet report as Markdown; each member's full report is the command in its last column.
pub fn render(r: &FleetReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let done = r
        .members
        .iter()
        .filter(|m| m.outcome == Some(RunOutcome::Completed))
        .count();
    let _ = writeln!(
        o,
        "# Fleet report — {done} of {} members completed\n",
        r.members.len()
    );
    if r.exit.is_none() {
        let _ = writeln!(
            o,
            "> **Incomplete record**: the fleet journal ends before the fleet did (it was killed, or is still running). Everything below is what it holds.\n"
        );
    }
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Runbook | `{}` |", code(&r.runbook));
    let _ = writeln!(o, "| Fleet | `{}` |", code(&r.fleet));
    let _ = writeln!(o, "| Fleet journal | `{}` |", code(&r.journal));
    let _ = writeln!(o, "| Sessions | {} |", r.sessions);
    let go = r.canary_go.as_deref().map_or("—".to_string(), cell);
    let _ = writeln!(o, "| Canary go | {go} |");
    let exit = r
        .exit
        .map_or("— (not finished)".to_string(), |e| e.to_string());
    let _ = writeln!(o, "| Exit code | {exit} |\n");
    let _ = writeln!(o, "## Members\n");
    let _ = writeln!(
        o,
        "| Member | Outcome | Took | Plan | Worst step | Full report |\n|---|---|---|---|---|---|"
    );
    for m in &r.members {
        let took = m.took_ms.map_or("—".to_string(), duration);
        let plan = if m.planned_ms == 0 {
            "—".to_string()
        } else {
            duration(m.planned_ms)
        };
        let worst = m.worst_step.as_deref().map_or("—".to_string(), cell);
        let full = m.journal.as_deref().map_or("—".to_string(), |j| {
            format!("`cutover report {}`", code(j))
        });
        let _ = writeln!(
            o,
            "| {} | {} | {took} | {plan} | {worst} | {full} |",
            cell(&m.name),
            cell(&m.state)
        );
    }
    if !r.halts.is_empty() {
        let _ = writeln!(o, "\n## Halts\n");
        for (why, left) in &r.halts {
            let left = if left.is_empty() {
                "none".to_string()
            } else {
                left.iter().map(|n| cell(n)).collect::<Vec<_>>().join(", ")
            };
            let _ = writeln!(o, "- {} — not started: {left}", cell(why));
        }
    }
    o
}

/// The fleet report as one HTML page, with a link to each member's own page where `pages`
/// has one (member name → relative address).
pub fn html(r: &FleetReport, pages: &std::collections::BTreeMap<String, String>) -> String {
    let page = crate::html::page(&render(r), "fleet report", None);
    if pages.is_empty() {
        return page;
    }
    let mut links = String::from("<h2>Member reports</h2>\n<ul>\n");
    for m in &r.members {
        if let Some(href) = pages.get(&m.name) {
            links.push_str(&format!(
                "<li><a href=\"{}\">{}</a> — {}</li>\n",
                crate::svg::esc(href),
                crate::svg::esc(&m.name),
                crate::svg::esc(&m.state)
            ));
        }
    }
    links.push_str("</ul>\n");
    match page.rfind("<footer>") {
        Some(at) => format!("{}{links}{}", &page[..at], &page[at..]),
        None => page + &links,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }

    #[test]
    fn members_are_rowed_in_order_with_the_halt_and_the_unfinished_record() {
        let recs = vec![
            FleetRecord::FleetStarted {
                ts: at(),
                runbook: "rb.toml".into(),
                fleet: "fleet.toml".into(),
                members: vec!["s1".into(), "s2".into(), "s3".into()],
                resumed: false,
            },
            FleetRecord::MemberStarted {
                ts: at(),
                member: "s1".into(),
                journal: "fj.members/s1.jsonl".into(),
                resumed: false,
            },
            FleetRecord::MemberFinished {
                ts: at(),
                member: "s1".into(),
                outcome: Some(RunOutcome::Aborted),
                exit: 4,
            },
            FleetRecord::Halted {
                ts: at(),
                reason: "member s1 did not complete".into(),
                not_started: vec!["s2".into(), "s3".into()],
            },
        ];
        let r = FleetReport::new("fj.jsonl", &recs, |_| None);
        let md = render(&r);
        assert!(
            md.starts_with("# Fleet report — 0 of 3 members completed"),
            "{md}"
        );
        assert!(md.contains("Incomplete record"), "{md}");
        assert!(md.contains("| s1 | ended before completion | — | — | — | `cutover report fj.members/s1.jsonl` |"), "{md}");
        assert!(md.contains("| s2 | never started |"), "{md}");
        crate::has(&md, "- member s1 did not complete — not started: s2, s3");
    }

    #[test]
    fn the_html_page_links_each_member_page_escaped() {
        let recs = vec![FleetRecord::FleetStarted {
            ts: at(),
            runbook: "rb.toml".into(),
            fleet: "f.toml".into(),
            members: vec!["s1".into(), "s<2>".into()],
            resumed: false,
        }];
        let r = FleetReport::new("fj.jsonl", &recs, |_| None);
        let mut pages = std::collections::BTreeMap::new();
        pages.insert("s1".to_string(), "out.members/s1.html".to_string());
        pages.insert("s<2>".to_string(), "x\"onclick=\"y".to_string());
        let page = html(&r, &pages);
        crate::has(&page, "<a href=\"out.members/s1.html\">s1</a>");
        assert!(
            !page.contains("\"onclick"),
            "an address cannot break out: {page}"
        );
        assert!(page.contains("s&lt;2&gt;"), "{page}");
        assert!(page.find("Member reports") < page.find("<footer>"));
    }

    #[test]
    fn hostile_member_text_cannot_become_markdown() {
        let recs = vec![FleetRecord::FleetStarted {
            ts: at(),
            runbook: "a`b.toml".into(),
            fleet: "f.toml".into(),
            members: vec!["x|y".into()],
            resumed: false,
        }];
        let md = render(&FleetReport::new("fj.jsonl", &recs, |_| None));
        assert!(!md.contains("| x|y |"), "a pipe would split the row: {md}");
    }
}
