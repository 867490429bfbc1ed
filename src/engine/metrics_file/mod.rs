//! `--metrics-file`: a Prometheus textfile (node_exporter's textfile collector) that says how
//! a run or a drift watch stands. The drift watch writes its checks' latest results
//! ([`checks`]); a run writes its steps, lag, reconcile results and plan ([`run`]), kept up
//! to date by a writer thread of its own ([`writer`]) so a slow or full disk never slows the
//! run. Every write goes to a temporary file and a rename: the collector never reads half a
//! file.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub mod checks;
pub mod run;
pub mod writer;

/// A label value escaped as the text format wants it (`\\`, `\"`, `\n`).
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Checks that `path` may be kept as the metrics file: nothing there yet, or a regular file,
/// in a directory that exists and takes a new file. A device (`/dev/full`), a FIFO, a socket,
/// a directory or a symbolic link is refused with the path named: the rename that replaces
/// the file would replace it, whatever it is.
pub fn check_path(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "--metrics-file {shown}: the directory {} does not exist",
            dir.display()
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {}
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!(
                "--metrics-file {shown}: is a symbolic link; give the file itself (it is replaced whole each round)"
            ));
        }
        Ok(_) => {
            return Err(format!(
                "--metrics-file {shown}: is not a regular file (a device, FIFO, socket or directory); refused"
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("--metrics-file {shown}: {e}")),
    }
    // A temporary file a killed writer left behind is reused by the next write; anything
    // else in its place is refused (the write would follow or fill it).
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    if let Ok(m) = std::fs::symlink_metadata(&tmp)
        && !m.file_type().is_file()
    {
        return Err(format!(
            "--metrics-file {shown}: {} is in the way (not a regular file); refused",
            tmp.display()
        ));
    }
    // The directory must take a new file. The probe has a name of its own: a run's writer
    // may be writing the temporary file right now (preflight checks during the run).
    let mut probe = path.as_os_str().to_owned();
    probe.push(format!(".probe-{}", std::process::id()));
    let probe = std::path::PathBuf::from(probe);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&probe)
        .map_err(|e| {
            format!(
                "--metrics-file {shown}: cannot write in {}: {e}",
                dir.display()
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes `text` to `path` through `path.tmp` and a rename (mode 0644: the collector reads it),
/// if `path` is still a regular file or nothing (someone may have put something else there
/// since the start).
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => Err(std::io::Error::other(
            "it is no longer a regular file; not replaced",
        )),
        _ => crate::files::write_replacing(path, text, 0o644),
    }
}
