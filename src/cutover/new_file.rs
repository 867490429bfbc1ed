//! New files only: a file a command writes (a runbook, an inventory, a repair patch) never
//! replaces one that exists, nor follows a symbolic link, and is fsynced.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An existing file (or a symlink, a FIFO, a device) at `p` is never written over; and a
/// directory that would not take the new file (missing, read-only, not a directory) is said
/// now, before the work whose result it would hold (an inventory, a comparison of hours).
pub fn refuse_existing(p: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(p).is_ok() {
        return Err(format!(
            "{} exists: cutover never overwrites a file (choose another name, or move it away)",
            p.display()
        ));
    }
    takes_a_file(p)
}

/// Whether the directory of `p` takes a new file: one is made beside where `p` will be and
/// removed at once (what a mode says is not enough: root writes through any mode, and not
/// in `/proc`).
fn takes_a_file(p: &Path) -> Result<(), String> {
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = dir.join(format!(".cutover-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)
        .map(|_| {
            let _ = std::fs::remove_file(&probe);
        })
        .map_err(|e| {
            format!(
                "cannot create {}: {e} (said before anything is read, so nothing is lost)",
                p.display()
            )
        })
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
