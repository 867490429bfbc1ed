//! Writing a small file whole or not at all: to `<path>.tmp` (the given mode, never through a
//! symbolic link), fsynced, then renamed over `path`, so a crash or a full disk never leaves
//! half a file under the name (and a reader, such as node_exporter, never sees one).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replaces `path` with `text` as the module says; the temporary file is removed on failure.
pub fn write_replacing(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let r = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}
