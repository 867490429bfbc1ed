//! `--metrics-file`: the latest result of every check in the Prometheus text exposition
//! format, for node_exporter's textfile collector. Written to a temporary file and renamed
//! (the collector never reads half a file).

use std::fmt::Write as _;
use std::path::Path;

use cutover_model::reconcile::{ReconcileResult, Status};

/// A label value escaped as the text format wants it (`\\`, `\"`, `\n`).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics text for `results` (the latest result of each check, in runbook order).
pub fn render(
    runbook: &str,
    results: &[(ReconcileResult, chrono::DateTime<chrono::Utc>)],
) -> String {
    type Metric = (&'static str, &'static str, fn(&ReconcileResult, f64) -> f64);
    let metrics: [Metric; 6] = [
        (
            "cutover_reconcile_passed",
            "1 when the check's latest run passed, 0 when it failed or could not run.",
            |r, _| f64::from(u8::from(r.status == Status::Pass)),
        ),
        (
            "cutover_reconcile_error",
            "1 when the check's latest run could not compare (connection, SQL): it never passes.",
            |r, _| f64::from(u8::from(r.status == Status::Error)),
        ),
        (
            "cutover_reconcile_mismatch_rows",
            "Rows (or objects) that differ between source and target in the latest run, transient ones excluded.",
            |r, _| r.mismatch_rows() as f64,
        ),
        (
            "cutover_reconcile_rows_compared",
            "Rows (or objects) compared in the latest run: the larger side's count.",
            |r, _| r.rows_compared as f64,
        ),
        (
            "cutover_reconcile_duration_seconds",
            "Wall time of the check's latest run.",
            |r, _| r.elapsed_ms as f64 / 1000.0,
        ),
        (
            "cutover_reconcile_last_run_timestamp_seconds",
            "Unix time at which the check's latest run finished.",
            |_, at| at,
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (r, at) in results {
            let at = at.timestamp_millis() as f64 / 1000.0;
            let _ = writeln!(
                out,
                "{name}{{runbook=\"{}\",check=\"{}\"}} {}",
                label(runbook),
                label(&r.name),
                value(r, at)
            );
        }
    }
    out
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
    // The directory must take the temporary file each round writes first.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| {
            format!(
                "--metrics-file {shown}: cannot write in {}: {e}",
                dir.display()
            )
        })?;
    let _ = std::fs::remove_file(&tmp);
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
        _ => cutover_engine::files::write_replacing(path, text, 0o644),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::runbook::ReconcileKind;

    #[test]
    fn every_check_has_every_metric_with_escaped_labels() {
        let mut a = ReconcileResult::new("orders \"eu\"", ReconcileKind::Checksum);
        a.status = Status::Pass;
        a.rows_compared = 500;
        a.elapsed_ms = 1500;
        let mut b = ReconcileResult::new("seq\\s", ReconcileKind::Sequences);
        b.status = Status::Error;
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let text = render("rb\nx", &[(a, at), (b, at)]);
        assert!(
            text.contains(
                "cutover_reconcile_passed{runbook=\"rb\\nx\",check=\"orders \\\"eu\\\"\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("cutover_reconcile_error{runbook=\"rb\\nx\",check=\"seq\\\\s\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("cutover_reconcile_duration_seconds{runbook=\"rb\\nx\",check=\"orders \\\"eu\\\"\"} 1.5\n"), "{text}");
        assert!(text.contains("cutover_reconcile_last_run_timestamp_seconds{runbook=\"rb\\nx\",check=\"seq\\\\s\"} 1800000000\n"), "{text}");
        assert_eq!(text.matches("# TYPE ").count(), 6);
        // Every sample line is `name{labels} number`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let v = l.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }
}
