//! Reading a file the user names (a runbook, a fleet file, a fleet journal): only a regular
//! file (a FIFO or a device would hang or never end), opened without blocking, and at most a
//! bound of it. Creating a file of cutover's own ([`create_private`]): never through a link.

use std::path::Path;

use crate::runbook::diag::{Diagnostic, Diagnostics};

/// Why a text file the user names (a runbook, a fleet file) could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The file could not be read.
    #[error("{path}: cannot read the {what}: {source}")]
    Io {
        /// What the file is (`runbook`, `fleet file`).
        what: &'static str,
        /// The path as given.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not valid: not UTF-8, or not a valid runbook or fleet file.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// The regular file at `path` (a link is followed), at most `max` bytes, as text: its name as
/// shown and its text. `what` names it in errors; a file that is not UTF-8 is said at the line
/// and column of its first bad byte.
pub fn read_text(path: &Path, max: u64, what: &'static str) -> Result<(String, String), TextError> {
    let shown = path.display().to_string();
    let bytes = read_regular(path, max, what, true).map_err(|source| TextError::Io {
        what,
        path: shown.clone(),
        source,
    })?;
    let source = String::from_utf8(bytes).map_err(|e| {
        TextError::Invalid(Diagnostics(vec![Diagnostic::not_utf8(
            &shown,
            e.as_bytes(),
            what,
        )]))
    })?;
    Ok((shown, source))
}

/// The bytes of the regular file at `path`, at most `max` of them; `what` names it in the
/// errors ("runbook", "fleet journal"). With `follow_links` false, a symbolic link at `path`
/// is refused.
pub fn read_regular(
    path: &Path,
    max: u64,
    what: &str,
    follow_links: bool,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = if follow_links {
        libc::O_NONBLOCK
    } else {
        libc::O_NONBLOCK | libc::O_NOFOLLOW
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "not a regular file (a {what} is read from a file, not a pipe or a device)"
        )));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!(
            "{} bytes: larger than any {what} ({} MiB at most)",
            meta.len(),
            max / (1024 * 1024)
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Creates the file `path` for writing, readable by its owner alone (0600). Only a new file:
/// whatever stands at `path` already, a symbolic link too, is an error, so nothing is ever
/// written through a link or into someone else's file.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}
