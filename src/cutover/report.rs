//! `cutover report JOURNAL`: what the team needs the morning after, from the journal alone —
//! Markdown on stdout, a self-contained HTML file (`-o x.html`) or JSON (`--json`). The
//! renderers are `cutover_report`'s; this module reads the journals, chooses the report,
//! writes it and says how it went (the exit code). A journal cut off by a crash still reports,
//! marked incomplete. The journal of a drift watch (`cutover reconcile`) gets its own report:
//! its rounds, not a run.

use std::path::Path;

use cutover_report::{Report, compare, drift, html, markdown};

use crate::exit::{Exit, Failure, Outcome};

/// What a journal is: a run's, or a drift watch's.
enum Loaded {
    Run(Box<Report>),
    Drift(drift::DriftReport),
}

/// Reads a run's `journal` into a report (a drift watch's journal is refused: it has no steps).
pub fn load_run(journal: &Path) -> Result<Report, String> {
    match load(journal)? {
        Loaded::Run(r) => Ok(*r),
        Loaded::Drift(_) => Err(format!(
            "{}: a drift watch's journal (cutover reconcile), not a run's",
            journal.display()
        )),
    }
}

/// Reads `journal` into a report of what it is.
fn load(journal: &Path) -> Result<Loaded, String> {
    let read = cutover_engine::journal::read(journal)
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    if read.records.is_empty() {
        return Err(format!("{}: no records: not a journal", journal.display()));
    }
    let torn = read.torn.map(|t| t.bytes);
    if drift::is_drift_watch(&read.records) {
        let path = journal.display().to_string();
        return Ok(Loaded::Drift(drift::DriftReport::new(
            &path,
            &read.records,
            torn,
        )));
    }
    Ok(Loaded::Run(Box::new(Report::from_records(
        &read.records,
        torn,
    ))))
}

/// Runs `cutover report`; returns the exit code (0 written, 2 a journal that cannot be read,
/// 4 the output cannot be written).
pub fn main(journals: &[std::path::PathBuf], out: Option<&Path>, json: bool) -> Outcome {
    if let Some(fleet) = journals.iter().find(|j| is_fleet_journal(j)) {
        if journals.len() > 1 {
            return Err(Failure::new(
                Exit::Invalid,
                "cutover report: a fleet journal is reported on its own: give it alone",
            ));
        }
        return fleet_report(fleet, out, json);
    }
    let mut runs = Vec::new();
    let mut watches = Vec::new();
    for j in journals {
        match load(j) {
            Ok(Loaded::Run(r)) => runs.push(compare::Given::new(j, *r)),
            Ok(Loaded::Drift(d)) => watches.push(d),
            Err(e) => {
                return Err(Failure::new(Exit::Invalid, format!("cutover report: {e}")));
            }
        }
    }
    let html_out = out.is_some_and(|p| p.extension().is_some_and(|e| e == "html" || e == "htm"));
    if let Some(d) = watches.first() {
        if journals.len() > 1 {
            return Err(Failure::new(
                Exit::Invalid,
                "cutover report: a drift watch's journal (cutover reconcile) is reported on its \
                 own: give it alone",
            ));
        }
        let rendered = if json {
            cutover_report::json(d)
        } else if html_out {
            Ok(html::page(&drift::render(d), "drift watch report", None))
        } else {
            Ok(drift::render(d))
        };
        return emit(rendered, out);
    }
    let rendered = match runs.len() {
        0 => return Ok(Exit::Invalid),
        1 => {
            let r = &runs[0].report;
            if json {
                cutover_report::json(r)
            } else if html_out {
                Ok(html::render(r))
            } else {
                Ok(markdown::render(r))
            }
        }
        _ => {
            let c = compare::Comparison::new(runs);
            for w in &c.warnings {
                crate::say::err(&format!("cutover report: warning: {}", w.words(false)));
            }
            if json {
                cutover_report::json(&c)
            } else if html_out {
                Ok(html::page(
                    &compare::render(&c),
                    "rehearsal comparison",
                    None,
                ))
            } else {
                Ok(compare::render(&c))
            }
        }
    };
    emit(rendered, out)
}

/// Whether `path` is a fleet journal (its first record is `fleet_started`).
fn is_fleet_journal(path: &Path) -> bool {
    crate::fleet_journal::read_journal(path).is_ok_and(|recs| {
        matches!(
            recs.first(),
            Some(cutover_model::fleet::FleetRecord::FleetStarted { .. })
        )
    })
}

/// `cutover report FLEET-JOURNAL`: the fleet table, each member read from its own journal
/// (where the fleet recorded it, else beside the fleet journal in `<stem>.members/`).
fn fleet_report(path: &Path, out: Option<&Path>, json: bool) -> Outcome {
    let records = match crate::fleet_journal::read_journal(path) {
        Ok(r) => r,
        Err(e) => {
            return Err(Failure::new(
                Exit::Invalid,
                format!("cutover report: {}: {e}", path.display()),
            ));
        }
    };
    let member = |recorded: &str| {
        let recorded = Path::new(recorded);
        let beside = recorded
            .file_name()
            .map(|f| crate::fleet_journal::members_dir(path).join(f));
        [Some(recorded.to_path_buf()), beside]
            .into_iter()
            .flatten()
            .find(|p| p.is_file())
            .and_then(|p| load_run(&p).ok())
    };
    let r = cutover_report::FleetReport::new(&path.display().to_string(), &records, member);
    let html_out = out.filter(|p| p.extension().is_some_and(|e| e == "html" || e == "htm"));
    let rendered = if json {
        cutover_report::json(&r)
    } else if let Some(page) = html_out {
        let pages = member_pages(&r, page, &member);
        Ok(cutover_report::fleet::html(&r, &pages))
    } else {
        Ok(cutover_report::fleet::render(&r))
    };
    emit(rendered, out)
}

/// Writes each member's own HTML report beside the fleet's page, in `<page>.pages/`
/// (0700), and returns where each is, relative to the page. A member name that could not be
/// a file name (a forged journal) gets no page; a page that cannot be written is said.
fn member_pages(
    r: &cutover_report::FleetReport,
    page: &Path,
    member: &dyn Fn(&str) -> Option<Report>,
) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::DirBuilderExt;
    let mut pages = std::collections::BTreeMap::new();
    let dir = crate::fleet_journal::beside(page, "pages");
    let dir_name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    for m in &r.members {
        let plain = !m.name.is_empty()
            && !m.name.starts_with(['.', '-'])
            && m.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        let Some(report) = m.journal.as_deref().filter(|_| plain).and_then(member) else {
            continue;
        };
        let file = dir.join(format!("{}.html", m.name));
        let written = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .and_then(|()| write_private(&file, &html::render(&report)));
        match written {
            Ok(()) => {
                pages.insert(m.name.clone(), format!("{dir_name}/{}.html", m.name));
            }
            Err(e) => crate::say::err(&format!(
                "cutover report: cannot write {}: {e}",
                file.display()
            )),
        }
    }
    pages
}

/// Writes the rendered report to `out` (or stdout); returns the exit code.
fn emit(rendered: serde_json::Result<String>, out: Option<&Path>) -> Outcome {
    let text = match rendered {
        Ok(t) => t,
        Err(e) => {
            return Err(Failure::new(Exit::Failed, format!("cutover report: {e}")));
        }
    };
    match out {
        Some(path) => match write_private(path, &text) {
            Ok(()) => {
                crate::say::err(&format!("cutover report: wrote {}", path.display()));
                Ok(Exit::Ok)
            }
            Err(e) => Err(Failure::new(
                Exit::Failed,
                format!("cutover report: cannot write {}: {e}", path.display()),
            )),
        },
        None => {
            use std::io::Write;
            // A terminal reads this: no escape sequence gets through, whatever the journal held.
            let text = cutover_model::text::plain(&text);
            let mut o = std::io::stdout().lock();
            match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
                Ok(()) => Ok(Exit::Ok),
                Err(e) => Err(Failure::new(
                    Exit::Failed,
                    format!("cutover report: cannot write to stdout: {e}"),
                )),
            }
        }
    }
}

/// Writes `text` to `path` (mode 0600, replacing a file, never following a link).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other("it is a symbolic link"));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
