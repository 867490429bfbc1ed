//! New files only: a file a command writes (a runbook, an inventory, a repair patch) never
//! replaces one that exists, nor follows a symbolic link, and is fsynced.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An existing file (or a symlink, a FIFO, a device) at `p` is never written over.
pub fn refuse_existing(p: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(p).is_ok() {
        return Err(format!(
            "{} exists: cutover never overwrites a file (choose another name, or move it away)",
            p.display()
        ));
    }
    Ok(())
}

/// Writes `body` to a new file `p` (refused if it appeared meanwhile), mode 0600 (it may hold
/// data), fsynced.
pub fn write_new(p: &Path, body: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    f.write_all(body.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(p);
            format!("cannot write {}: {e} (nothing was kept)", p.display())
        })
}
