//! New files only: a file a command writes (a runbook, an inventory, a repair patch) never
//! replaces one that exists, nor follows a symbolic link, and is fsynced.

use std::io::Write;
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

/// The directory `p` is written in.
pub(crate) fn dir_of(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A file of our own, new, in `dir` (`.cutover-<random>.tmp`, 0600), and its path: a name
/// no earlier run can have left (a kill leaves its file; a PID comes back, in a container
/// always the same), short whatever `p`'s name is.
pub(crate) fn fresh_file(dir: &Path) -> std::io::Result<(std::fs::File, std::path::PathBuf)> {
    use std::hash::{BuildHasher, Hasher};
    let mut last = std::io::Error::other("no name was free");
    for attempt in 0u32..16 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u32(attempt);
        let path = dir.join(format!(".cutover-{:016x}.tmp", h.finish()));
        match cutover_model::file::create_private(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Whether the directory of `p` takes a new file: one is made there and removed at once
/// (what a mode says is not enough: root writes through any mode, and not in `/proc`).
fn takes_a_file(p: &Path) -> Result<(), String> {
    fresh_file(dir_of(p))
        .map(|(_, probe)| {
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
/// data), fsynced, whole or not at all: it is written under a temporary name beside `p`
/// ([`fresh_file`]) and put in place once complete, so a kill or a full disk never leaves a
/// part of it under its name (a kill leaves at most the temporary file). In place is a hard
/// link, which never replaces what stands at `p`; on a file system without hard links (vfat,
/// some network and FUSE ones) a rename, once `p` is checked free.
pub fn write_new(p: &Path, body: &str) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot create {}: {e}", p.display());
    let (mut f, tmp) = fresh_file(dir_of(p)).map_err(cannot)?;
    let written = f
        .write_all(body.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e} (nothing was kept)", p.display()))
        .and_then(|()| match std::fs::hard_link(&tmp, p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(cannot(e)),
            Err(_) if std::fs::symlink_metadata(p).is_err() => {
                std::fs::rename(&tmp, p).map_err(cannot)
            }
            Err(e) => Err(cannot(e)),
        });
    let _ = std::fs::remove_file(&tmp);
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A new file is written whole (0600), and only under its name once complete; one that
    /// stands at the name (a file, a link) is kept as it is; no temporary file is left.
    #[test]
    fn a_new_file_is_written_whole_and_never_over_another() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("patch.sql");
        write_new(&p, "BEGIN;\nCOMMIT;\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "BEGIN;\nCOMMIT;\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = write_new(&p, "other").unwrap_err();
        assert!(
            e.contains("cannot create") && e.contains("patch.sql"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "BEGIN;\nCOMMIT;\n");
        let link = d.path().join("link.sql");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(write_new(&link, "through the link").is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "BEGIN;\nCOMMIT;\n");
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["link.sql", "patch.sql"],
            "no temporary file is left"
        );
    }
}
