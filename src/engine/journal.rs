//! The journal: JSON Lines, mode 0600, each record fsynced before the event it records is reported.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use cutover_model::protocol::Event;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it was written.
    pub ts: DateTime<Utc>,
    /// The event, flattened into the record (its `type` tag and fields).
    #[serde(flatten)]
    pub event: Event,
}

/// Journal problems.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// I/O on the journal file.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A line that is not a journal record.
    #[error("journal {path}:{line}: not a journal record: {message}")]
    Corrupt {
        /// The journal file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// Another cutover holds the journal.
    #[error(
        "journal {path} is in use by another cutover process (use `cutover attach` to join it)"
    )]
    Locked {
        /// The journal file.
        path: String,
    },
    /// The file exists and this is not a resume.
    #[error(
        "journal {path} already exists: resume it with --resume {path}, or choose another --journal"
    )]
    Exists {
        /// The journal file.
        path: String,
    },
    /// The file is empty or has no run start.
    #[error("journal {path} has no run_started record")]
    Empty {
        /// The journal file.
        path: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// An open journal, locked for this process.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// A new journal's directory, synced with the first record (so its entry is durable before
    /// anything is reported, and creating the journal never waits for the disk).
    dir_to_sync: Option<PathBuf>,
}

impl Journal {
    /// Creates a new journal (refuses an existing file); parent directories are created 0700.
    pub fn create(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io(path))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    JournalError::Exists {
                        path: path.display().to_string(),
                    }
                } else {
                    io(path)(e)
                }
            })?;
        let j = Journal {
            path: path.to_path_buf(),
            file,
            dir_to_sync: Some(
                path.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
            ),
        };
        j.lock()?;
        Ok(j)
    }

    /// Opens an existing journal for appending (resume).
    pub fn open_append(path: &Path) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io(path))?;
        let j = Journal {
            path: path.to_path_buf(),
            file,
            dir_to_sync: None,
        };
        j.lock()?;
        Ok(j)
    }

    fn lock(&self) -> Result<(), JournalError> {
        // SAFETY: flock on a file descriptor we own; released when the file is closed.
        let rc = unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(JournalError::Locked {
                path: self.path.display().to_string(),
            });
        }
        Ok(())
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and fsyncs it (the first record of a new journal also syncs its
    /// directory).
    pub fn append(&mut self, event: &Event) -> Result<(), JournalError> {
        let rec = Record {
            ts: Utc::now(),
            event: event.clone(),
        };
        let mut line = serde_json::to_string(&rec).map_err(|e| JournalError::Io {
            path: self.path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        // The new file's directory entry, once: a crash must not lose the whole journal.
        if let Some(dir) = self.dir_to_sync.take()
            && let Ok(d) = File::open(&dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The directory for full step output files: `<journal stem>.output/` next to the journal.
    pub fn output_dir(&self) -> PathBuf {
        output_dir_for(&self.path)
    }
}

/// `<journal stem>.output/` next to the journal.
pub fn output_dir_for(journal: &Path) -> PathBuf {
    let stem = journal
        .file_stem()
        .map_or_else(|| "journal".into(), |s| s.to_string_lossy().into_owned());
    journal.with_file_name(format!("{stem}.output"))
}

/// Reads every record. A torn last line (a crash mid-write) is ignored and reported as `true`.
pub fn read(path: &Path) -> Result<(Vec<Record>, bool), JournalError> {
    let file = File::open(path).map_err(io(path))?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io(path))?;
    let mut out = Vec::with_capacity(lines.len());
    let mut torn = false;
    let last = lines.len();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(l) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == last => torn = true,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.display().to_string(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok((out, torn))
}

/// Default journal path: `./cutover-journal/<UTC timestamp>-<runbook slug>.jsonl`.
pub fn default_path(runbook_name: &str, now: DateTime<Utc>) -> PathBuf {
    let slug: String = runbook_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("-");
    PathBuf::from("cutover-journal").join(format!(
        "{}-{}.jsonl",
        now.format("%Y%m%dT%H%M%SZ"),
        if slug.is_empty() {
            "run".to_string()
        } else {
            slug
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::protocol::{Level, RunOutcome};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn journal_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j/x.jsonl");
        let mut j = Journal::create(&p).unwrap();
        let ev = Event::Notice {
            level: Level::Info,
            message: "hi".into(),
        };
        j.append(&ev).unwrap();
        j.append(&Event::RunFinished {
            outcome: RunOutcome::Completed,
            at: Utc::now(),
        })
        .unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (recs, torn) = read(&p).unwrap();
        assert!(!torn);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].event, ev);
        assert!(matches!(
            Journal::open_append(&p),
            Err(JournalError::Locked { .. })
        ));
        assert!(matches!(
            Journal::create(&p),
            Err(JournalError::Exists { .. })
        ));
    }

    #[test]
    fn torn_last_line_is_tolerated_but_corruption_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        let good = r#"{"ts":"2026-01-01T00:00:00Z","type":"notice","level":"info","message":"a"}"#;
        std::fs::write(&p, format!("{good}\n{{\"ts\":\"2026")).unwrap();
        let (recs, torn) = read(&p).unwrap();
        assert_eq!((recs.len(), torn), (1, true));
        std::fs::write(&p, format!("garbage\n{good}\n")).unwrap();
        assert!(matches!(
            read(&p),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }

    #[test]
    fn default_path_is_timestamped_and_slugged() {
        let t = DateTime::parse_from_rfc3339("2026-12-05T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            default_path("orders: pg13 -> pg16", t),
            PathBuf::from("cutover-journal/20261205T020000Z-orders-pg13-pg16.jsonl")
        );
    }
}
