//! The reconcile checks' metrics: the latest result of every check (the drift watch's whole
//! file, and part of a run's).

use std::fmt::Write as _;

use super::label;
use cutover_model::reconcile::{ReconcileResult, Status};

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
        crate::has(
            &text,
            "cutover_reconcile_error{runbook=\"rb\\nx\",check=\"seq\\\\s\"} 1\n",
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
