//! The diagnostics log: a file next to the journal (never the screen, never the journal
//! itself), opened without following links, always 0600, and every line masked before it is
//! written — server notices and `CUTOVER_LOG=debug` statements included.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cutover_model::secrets::Masker;

/// The default log path for a journal: `<journal>.log` in place of its extension, or, when
/// that is the journal itself (`--journal run.log`), `<journal>.log` appended.
pub fn default_path(journal: &Path) -> PathBuf {
    let p = journal.with_extension("log");
    if p == journal {
        let mut name = journal.as_os_str().to_owned();
        name.push(".log");
        PathBuf::from(name)
    } else {
        p
    }
}

/// Why the log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log would be the journal.
    #[error("the diagnostics log {log} is the journal itself; choose another --log")]
    IsTheJournal {
        /// The log path.
        log: String,
    },
}

/// Refuses a log path that is (or links to) the journal.
pub fn check_apart(log: &Path, journal: &Path) -> Result<(), LogError> {
    let same_path = log == journal;
    let same_file = match (std::fs::metadata(log), std::fs::metadata(journal)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    if same_path || same_file {
        return Err(LogError::IsTheJournal {
            log: log.display().to_string(),
        });
    }
    Ok(())
}

/// Writes the log file, masking every buffer tracing hands it (one formatted event each).
struct MaskingWriter {
    file: Mutex<File>,
    masker: Masker,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskingWriter {
    type Writer = MaskedEvent<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedEvent { to: self }
    }
}

/// One event's bytes on their way to the file.
struct MaskedEvent<'a> {
    to: &'a MaskingWriter,
}

impl Write for MaskedEvent<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let plain = cutover_model::text::plain(&text);
        let mut masked = plain.into_owned();
        self.to.masker.mask_lines(&mut masked);
        let mut file = self
            .to
            .file
            .lock()
            .map_err(|_| std::io::Error::other("log lock poisoned"))?;
        file.write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens `path` for appending without following a link, as a regular file of ours with mode
/// 0600 (an existing file's looser mode is tightened).
pub fn open(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // A FIFO nobody reads (ENXIO), or a device.
            Some(libc::ENXIO | libc::ENODEV) => {
                std::io::Error::other("not a regular file (a FIFO or a device)")
            }
            Some(libc::ELOOP) => std::io::Error::other("a symbolic link (not followed)"),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Sends diagnostics to `path`, masked by `masker`. A log that cannot be opened costs only the
/// diagnostics: the run goes on (the journal is the record), and the reason is returned to be
/// said once.
pub fn init(path: &Path, masker: Masker) -> Option<String> {
    let file = match open(path) {
        Ok(f) => f,
        Err(e) => return Some(format!("no diagnostics log: {}: {e}", path.display())),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(MaskingWriter {
            file: Mutex::new(file),
            masker,
        })
        .try_init();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_never_takes_the_journal_s_path() {
        assert_eq!(
            default_path(Path::new("j/run.jsonl")),
            Path::new("j/run.log")
        );
        assert_eq!(
            default_path(Path::new("j/run.log")),
            Path::new("j/run.log.log")
        );
        assert_eq!(default_path(Path::new("run")), Path::new("run.log"));
        assert!(check_apart(Path::new("a.log"), Path::new("a.log")).is_err());
        assert!(check_apart(Path::new("a.log"), Path::new("a.jsonl")).is_ok());
    }

    #[test]
    fn a_link_is_refused_and_an_existing_log_is_made_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "").expect("write");
        let link = dir.path().join("x.log");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(open(&link).is_err());
        let loose = dir.path().join("loose.log");
        std::fs::write(&loose, "old\n").expect("write");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        open(&loose).expect("open");
        let mode = std::fs::metadata(&loose)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
