//! The fleet journal: the fleet's own decisions (start, each member's start and end, the
//! canary go, halts, the end), one JSON line each, fsynced before the fleet acts on it; each
//! member's own journal beside it in `<stem>.members/`. And where each member stands when a
//! fleet journal is resumed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use cutover_model::fleet::FleetRecord;
use cutover_model::protocol::RunOutcome;

use crate::exit::Exit;

/// The fleet journal: JSON lines, each fsynced before the fleet acts on it.
pub struct FleetJournal {
    file: std::fs::File,
    /// Its path.
    pub path: PathBuf,
}

impl FleetJournal {
    /// Creates a new journal (never over an existing file) or opens one to resume.
    pub fn open(path: &Path, resume: bool) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut o = std::fs::OpenOptions::new();
        o.read(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW);
        if resume {
            o.create(false);
        } else {
            o.create_new(true);
        }
        let file = o.open(path)?;
        // One writer per fleet journal, as per run journal: a second `--resume` (or one while
        // the detached fleet's engine runs it) would start members twice.
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => {
                std::io::Error::from(std::io::ErrorKind::WouldBlock)
            }
            std::fs::TryLockError::Error(e) => e,
        })?;
        if resume {
            cut_torn_tail(&file, path)?;
        }
        Ok(FleetJournal {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends one record and syncs it to disk.
    pub fn append(&mut self, rec: &FleetRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    /// The journal of member `name`: beside the fleet journal, in `<stem>.members/`.
    pub fn member_journal(&self, name: &str) -> PathBuf {
        members_dir(&self.path).join(format!("{name}.jsonl"))
    }
}

/// The largest fleet journal read back: a few lines per member.
const MAX_FLEET_JOURNAL: u64 = 64 * 1024 * 1024;

/// The records of a fleet journal (a torn last line is left out). Only a regular file is
/// read (a FIFO or a device would hang), through no symbolic link, and at most
/// [`MAX_FLEET_JOURNAL`] bytes of it.
pub fn read_journal(path: &Path) -> std::io::Result<Vec<FleetRecord>> {
    let bytes = cutover_model::file::read_regular(path, MAX_FLEET_JOURNAL, "fleet journal", false)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Where the members' own journals go: `<fleet journal's stem>.members/` beside it.
pub fn members_dir(fleet_journal: &Path) -> PathBuf {
    beside(fleet_journal, "members")
}

/// `<stem of path>.<suffix>` in `path`'s directory.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "fleet".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.{suffix}"))
}

/// Where each member stands when the fleet starts (or resumes).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Members that completed: they stay completed.
    pub completed: Vec<String>,
    /// Members whose run is over for good (rolled back: such a run cannot be resumed), with
    /// their exit.
    pub ended: BTreeMap<String, Exit>,
    /// The canary go was given.
    pub go: bool,
    /// No more members start (this session).
    pub halted: bool,
}

/// Where each member stands, from the fleet journal being resumed: a completed member stays
/// completed, a rolled-back one stays rolled back; every other member that started is
/// resumed from its own journal, and the rest start. A halt of an earlier session is not
/// kept: resuming is the operator's decision to go on.
pub fn progress_of(records: &[FleetRecord]) -> Progress {
    let mut p = Progress::default();
    for r in records {
        match r {
            FleetRecord::MemberFinished {
                member, outcome, ..
            } => match outcome {
                Some(RunOutcome::Completed) => p.completed.push(member.clone()),
                Some(o @ (RunOutcome::RolledBack | RunOutcome::RolledBackPartly)) => {
                    p.ended.insert(member.clone(), Exit::of_run(*o));
                }
                _ => {}
            },
            FleetRecord::CanaryGo { .. } => p.go = true,
            _ => {}
        }
    }
    p
}

/// Members that started and whose end the fleet journal lost (a SIGKILL, or a full disk,
/// between the member's own last record and the fleet's): each one's end is read from its
/// own journal, so a rolled-back member stays rolled back (it cannot be resumed, and would
/// fail every resume) and a completed one completed. Returns the records that catch the
/// fleet journal up, and puts each into `p`.
pub fn settle_lost_ends(
    records: &[FleetRecord],
    p: &mut Progress,
    member_journal: impl Fn(&str) -> PathBuf,
) -> Vec<FleetRecord> {
    let mut caught_up = Vec::new();
    for member in started_not_ended(records, p) {
        let Ok(own) = cutover_engine::journal::read(&member_journal(member)) else {
            continue;
        };
        let last = own.records.iter().rev().find_map(|r| match &r.event {
            cutover_model::protocol::Event::RunFinished { outcome, .. } => Some(*outcome),
            _ => None,
        });
        let outcome = match last {
            Some(RunOutcome::Completed) => {
                p.completed.push(member.to_string());
                RunOutcome::Completed
            }
            Some(o @ (RunOutcome::RolledBack | RunOutcome::RolledBackPartly)) => {
                p.ended.insert(member.to_string(), Exit::of_run(o));
                o
            }
            _ => continue,
        };
        caught_up.push(FleetRecord::MemberFinished {
            ts: chrono::Utc::now(),
            member: member.to_string(),
            outcome: Some(outcome),
            exit: Exit::of_run(outcome).code(),
        });
    }
    caught_up
}

/// The members that started (each once, by name) and, as far as `p` knows, did not end for
/// good: neither completed nor rolled back.
pub fn started_not_ended<'a>(
    records: &'a [FleetRecord],
    p: &Progress,
) -> std::collections::BTreeSet<&'a str> {
    records
        .iter()
        .filter_map(|r| match r {
            FleetRecord::MemberStarted { member, .. } => Some(member.as_str()),
            _ => None,
        })
        .filter(|m| !p.completed.iter().any(|c| c == m) && !p.ended.contains_key(*m))
        .collect()
}

/// Opens the fleet journal: new (refusing an existing file), or to resume (with what it
/// holds).
pub fn open_journal(path: &Path, resume: bool) -> Result<(FleetJournal, Vec<FleetRecord>), String> {
    let before = if resume {
        read_journal(path).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => format!(
                "cutover: the fleet journal {} is a symbolic link (not followed): resume the file itself",
                path.display()
            ),
            _ => format!(
                "cutover: cannot read the fleet journal {}: {e}",
                path.display()
            ),
        })?
    } else {
        Vec::new()
    };
    if resume
        && !before
            .iter()
            .any(|r| matches!(r, FleetRecord::FleetStarted { .. }))
    {
        return Err(format!(
            "cutover: {} is not a fleet journal (no fleet_started record)",
            path.display()
        ));
    }
    if !resume {
        refuse_taken_members(path)?;
    } else if std::fs::symlink_metadata(members_dir(path)).is_ok_and(|m| !m.is_dir()) {
        // Its members' journals are written in it: never through a link, nor into a file.
        return Err(format!(
            "cutover: {} is not a directory (a link or a file stands there): the members' journals are never written through it",
            members_dir(path).display()
        ));
    }
    let j = FleetJournal::open(path, resume).map_err(|e| {
        let odd = std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file());
        if e.kind() == std::io::ErrorKind::WouldBlock {
            format!(
                "cutover: the fleet journal {} is in use by another cutover process (use `cutover attach` to join it)",
                path.display()
            )
        } else if e.kind() == std::io::ErrorKind::AlreadyExists && odd {
            format!(
                "cutover: {} is there and is not a regular file (a link, a FIFO or a directory): choose another --journal",
                path.display()
            )
        } else if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "cutover: {} exists: resume it with --resume, or choose another --journal",
                path.display()
            )
        } else {
            format!(
                "cutover: cannot open the fleet journal {}: {e}",
                path.display()
            )
        }
    })?;
    Ok((j, before))
}

/// Cuts a torn last line (a crash or a full disk mid-write) off the journal, so that what is
/// appended next starts a line of its own: the file is cut back to its last `\n`, and the
/// torn bytes are kept beside it in `<journal>.torn-<UTC time>`, as a run journal's are (the
/// whole file was read already on resume, and is at most [`MAX_FLEET_JOURNAL`] bytes).
fn cut_torn_tail(file: &std::fs::File, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len().min(MAX_FLEET_JOURNAL);
    // Its last byte says whether it is torn: only then is the file read again, to find where.
    let mut last = [b'\n'];
    if len > 0 {
        file.read_exact_at(&mut last, len - 1)?;
    }
    if last[0] == b'\n' {
        return Ok(());
    }
    let mut all = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.read_exact_at(&mut all, 0)?;
    let keep = all.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    cutover_engine::journal::set_aside(path, &all[keep..]).map_err(std::io::Error::other)?;
    file.set_len(keep as u64)?;
    file.sync_data()
}

/// Refuses a new fleet journal whose members' directory is there already: another fleet
/// journal's (`fj.jsonl` and `fj.other` share `fj.members/`), whose members' journals the new
/// fleet would take as its own and resume, or the new journal itself (`--journal x.members`).
fn refuse_taken_members(path: &Path) -> Result<(), String> {
    let members = members_dir(path);
    if members == path {
        return Err(format!(
            "cutover: --journal {} would be its own members' directory (<stem>.members): choose a name that does not end in .members",
            path.display()
        ));
    }
    if std::fs::symlink_metadata(&members).is_ok() {
        return Err(format!(
            "cutover: {} is there already (the members of another fleet journal named {}.*): choose another --journal, or --resume the fleet journal it belongs to",
            members.display(),
            beside(path, "").display().to_string().trim_end_matches('.')
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn finished(member: &str, outcome: Option<RunOutcome>, exit: u8) -> FleetRecord {
        FleetRecord::MemberFinished {
            ts: Utc::now(),
            member: member.into(),
            outcome,
            exit,
        }
    }

    /// On resume: completed and rolled-back members stay as they ended; an aborted one, one
    /// that could not start and one never finished go on; an earlier halt is not kept.
    #[test]
    fn a_resumed_fleet_keeps_what_ended_for_good_and_goes_on_with_the_rest() {
        let recs = vec![
            finished("done", Some(RunOutcome::Completed), 0),
            finished("back", Some(RunOutcome::RolledBack), 3),
            finished("partly", Some(RunOutcome::RolledBackPartly), 5),
            finished("aborted", Some(RunOutcome::Aborted), 4),
            finished("no-start", None, 4),
            FleetRecord::CanaryGo {
                ts: Utc::now(),
                by: "--assume-yes".into(),
            },
            FleetRecord::Halted {
                ts: Utc::now(),
                reason: "x".into(),
                not_started: vec!["later".into()],
            },
        ];
        let p = progress_of(&recs);
        assert_eq!(p.completed, ["done"]);
        assert_eq!(
            p.ended.keys().map(String::as_str).collect::<Vec<_>>(),
            ["back", "partly"]
        );
        assert_eq!(p.ended["partly"], Exit::RolledBackPartly);
        assert!(p.go && !p.halted);
    }
}
