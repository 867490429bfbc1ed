//! The journal: JSON Lines, mode 0600, each record fsynced before the event it records is
//! reported.
//!
//! A crash (or a full disk) can leave the last record cut off. Reading treats the bytes after
//! the last newline as a torn tail: not a record, never an error. Resuming sets the tail aside
//! in a side file (`<journal>.torn-<UTC time>`) and cuts the journal back to its last complete
//! record before appending, so a torn write never becomes corruption in the middle of the file.
// `unsafe` here: flock through libc (one writer per journal); each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use cutover_model::file::create_private;
use cutover_model::protocol::Event;
// One journal line: the model's type, so what reads a journal need not link the engine.
pub use cutover_model::protocol::Record;

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
    /// A complete line that is not a journal record.
    #[error("journal {path}:{line}: not a journal record: {message}")]
    Corrupt {
        /// The journal file.
        path: String,
        /// The line (1-based).
        line: usize,
        /// What the parser said.
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
    /// The path is not a regular file (a symbolic link, a FIFO, a directory…).
    #[error("journal {path} is not a regular file; refusing to use it")]
    NotAFile {
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

/// Bytes of a journal that were not a complete record: a write cut off by a crash or a full
/// disk (or, in journals written by older versions, such bytes followed by later records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// How many bytes were set aside.
    pub bytes: usize,
    /// Where they were kept (only when a resume repaired the journal).
    pub kept_in: Option<PathBuf>,
}

/// What a journal holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// Every complete record, in order.
    pub records: Vec<Record>,
    /// Bytes that were not a complete record, if any.
    pub torn: Option<TornTail>,
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
    /// Creates a new journal (refuses an existing file or a symbolic link); parent directories
    /// are created 0700.
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
            .custom_flags(libc::O_NOFOLLOW)
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

    /// Opens an existing journal to continue it (resume): locks it, reads it, and sets a torn
    /// tail aside (in `<journal>.torn-<UTC time>`, mode 0600) so the next record starts on a
    /// clean line.
    pub fn open_append(path: &Path) -> Result<(Journal, Contents), JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| not_a_file(path, e))?;
        let mut j = Journal {
            path: path.to_path_buf(),
            file,
            dir_to_sync: None,
        };
        j.lock()?;
        regular(&j.file, path)?;
        let mut bytes = Vec::new();
        j.file.read_to_end(&mut bytes).map_err(io(path))?;
        let mut contents = parse(path, &bytes)?;
        let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if end < bytes.len() {
            let kept = set_aside(path, &bytes[end..])?;
            j.file.set_len(end as u64).map_err(io(path))?;
            j.file.sync_all().map_err(io(path))?;
            if let Some(t) = &mut contents.torn {
                t.kept_in = Some(kept);
            }
        }
        j.file.seek(SeekFrom::End(0)).map_err(io(path))?;
        Ok((j, contents))
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
    /// directory). The record is written with one `write` of the whole line, so a crash leaves
    /// at most a torn last line, which reading and resuming handle.
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

/// Reads every record (for reports and for finding a journal's runbook); a torn tail is
/// reported, not an error, and the file is left as it is. Refuses anything but a regular file
/// (a FIFO would hang the reader).
pub fn read(path: &Path) -> Result<Contents, JournalError> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| not_a_file(path, e))?;
    regular(&file, path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io(path))?;
    parse(path, &bytes)
}

/// The records of a journal's bytes. Only complete lines (ending in `\n`) are records; the
/// bytes after the last newline are a torn tail. A complete line that is not a record is
/// corruption, except for one shape older versions could leave: a torn record followed, on the
/// same line, by the records a resume appended after it; the torn prefix is then counted as
/// torn and the record after it kept.
fn parse(path: &Path, bytes: &[u8]) -> Result<Contents, JournalError> {
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut records = Vec::new();
    let mut torn = 0usize;
    for (i, line) in bytes[..end].split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => records.push(r),
            Err(e) => match after_torn_prefix(line) {
                Some((skipped, r)) => {
                    torn += skipped;
                    records.push(r);
                }
                None => {
                    return Err(JournalError::Corrupt {
                        path: path.display().to_string(),
                        line: i + 1,
                        message: e.to_string(),
                    });
                }
            },
        }
    }
    torn += bytes.len() - end;
    Ok(Contents {
        records,
        torn: (torn > 0).then_some(TornTail {
            bytes: torn,
            kept_in: None,
        }),
    })
}

/// A line that starts with a torn record and goes on with a complete one: the number of bytes
/// before the complete record, and the record.
fn after_torn_prefix(line: &[u8]) -> Option<(usize, Record)> {
    const START: &[u8] = b"{\"ts\":\"";
    let at = line.windows(START.len()).skip(1).position(|w| w == START)? + 1;
    let r = serde_json::from_slice::<Record>(&line[at..]).ok()?;
    Some((at, r))
}

/// Keeps a torn tail in `<journal>.torn-<UTC time>` (0600, synced); a fleet journal's too.
pub fn set_aside(path: &Path, tail: &[u8]) -> Result<PathBuf, JournalError> {
    let name = format!(
        "{}.torn-{}",
        path.file_name()
            .map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned()),
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    );
    let side = path.with_file_name(name);
    let mut f = create_private(&side).map_err(io(&side))?;
    f.write_all(tail).map_err(io(&side))?;
    f.sync_all().map_err(io(&side))?;
    Ok(side)
}

/// Maps an open error: a symbolic link (`ELOOP` under `O_NOFOLLOW`) is not a journal.
fn not_a_file(path: &Path, e: std::io::Error) -> JournalError {
    if e.raw_os_error() == Some(libc::ELOOP) {
        JournalError::NotAFile {
            path: path.display().to_string(),
        }
    } else {
        io(path)(e)
    }
}

/// Refuses an open file that is not a regular file.
fn regular(file: &File, path: &Path) -> Result<(), JournalError> {
    let meta = file.metadata().map_err(io(path))?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(JournalError::NotAFile {
            path: path.display().to_string(),
        })
    }
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

    const GOOD: &str =
        r#"{"ts":"2026-01-01T00:00:00Z","type":"notice","level":"info","message":"a"}"#;

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
        let c = read(&p).unwrap();
        assert_eq!(c.torn, None);
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.records[0].event, ev);
        assert!(matches!(
            Journal::open_append(&p),
            Err(JournalError::Locked { .. })
        ));
        assert!(matches!(
            Journal::create(&p),
            Err(JournalError::Exists { .. })
        ));
    }

    /// A journal `x.jsonl` holding `bytes`, in a new directory: the directory, its path.
    fn journal_of(bytes: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, bytes).unwrap();
        (dir, p)
    }

    /// Asserts that a journal holding `bytes` reads as `records` records and a torn tail of
    /// `torn` bytes.
    #[track_caller]
    fn reads_with_a_torn_tail(bytes: impl AsRef<[u8]>, records: usize, torn: usize) {
        let (_dir, p) = journal_of(bytes);
        let c = read(&p).unwrap();
        assert_eq!(c.records.len(), records);
        assert_eq!(c.torn.map(|t| t.bytes), Some(torn));
    }

    #[test]
    fn torn_last_line_is_tolerated_but_corruption_is_not() {
        let tail = "{\"ts\":\"2026";
        reads_with_a_torn_tail(format!("{GOOD}\n{tail}"), 1, tail.len());
        let (_dir, p) = journal_of(format!("garbage\n{GOOD}\n"));
        assert!(matches!(
            read(&p),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }

    #[test]
    fn a_tear_inside_a_multibyte_character_is_only_a_torn_tail() {
        let next = GOOD.replace("\"a\"", "\"• and …\"");
        let cut = next.find('•').unwrap() + 1; // inside the three bytes of `•`
        let mut bytes = format!("{GOOD}\n").into_bytes();
        bytes.extend_from_slice(&next.as_bytes()[..cut]);
        reads_with_a_torn_tail(bytes, 1, cut);
    }

    #[test]
    fn resuming_sets_the_torn_tail_aside_and_appends_on_a_clean_line() {
        let tail = "{\"ts\":\"2026-01-01T00:00:01Z\",\"type\":\"no";
        let (_dir, p) = journal_of(format!("{GOOD}\n{tail}"));
        let (mut j, c) = Journal::open_append(&p).unwrap();
        let kept = c.torn.as_ref().and_then(|t| t.kept_in.clone()).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), tail);
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        j.append(&Event::Notice {
            level: Level::Info,
            message: "after".into(),
        })
        .unwrap();
        drop(j);
        // A second resume reads every record and finds nothing torn.
        let (_j, c) = Journal::open_append(&p).unwrap();
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.torn, None);
    }

    #[test]
    fn a_journal_damaged_by_an_old_resume_is_read_past_the_torn_bytes() {
        let torn = "{\"ts\":\"20";
        reads_with_a_torn_tail(format!("{GOOD}\n{torn}{GOOD}\n{GOOD}\n"), 3, torn.len());
    }

    #[test]
    fn links_and_fifos_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.jsonl");
        std::fs::write(&real, format!("{GOOD}\n")).unwrap();
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            Journal::open_append(&link),
            Err(JournalError::NotAFile { .. })
        ));
        assert!(matches!(
            Journal::create(&dir.path().join("link.jsonl")),
            Err(JournalError::Exists { .. })
        ));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read(&fifo), Err(JournalError::NotAFile { .. })));
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
