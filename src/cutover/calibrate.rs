//! `cutover calibrate RUNBOOK JOURNAL...`: proposes each step's `expected` from rehearsals —
//! the median of the passed attempts' durations (or a percentile with `--p 90`), rounded up to
//! a duration a person writes — shows the table, and with `--write` sets them in the runbook in
//! place, keeping its comments and layout (`toml_edit`), then validates it (and puts the file
//! back as it was if it no longer validates).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cutover_model::runbook::Runbook;
use cutover_model::runbook::units::format_duration;
use cutover_model::summary::Ended;

use crate::say;

/// Durations of the passed attempts of each step, by id, over the journals.
fn samples(journals: &[PathBuf]) -> Result<BTreeMap<String, Vec<u64>>, String> {
    let mut by_id: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for j in journals {
        let report = crate::report::load_run(j)?;
        for st in &report.summary.steps {
            if st.ended == Ended::Passed
                && let Some(ms) = st.actual_ms
            {
                by_id.entry(st.id.clone()).or_default().push(ms);
            }
        }
    }
    Ok(by_id)
}

/// The `p`-th percentile (nearest rank) of `v`; `p = 50` is the median.
fn percentile(v: &mut [u64], p: u8) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = (f64::from(p) / 100.0 * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// `ms` rounded up to what a runbook says: 100ms steps below 1s, whole seconds below 1m, then
/// 5 s steps.
fn rounded(ms: u64) -> std::time::Duration {
    let ms = ms.max(1);
    let up = |step: u64| ms.div_ceil(step) * step;
    std::time::Duration::from_millis(match ms {
        0..1_000 => up(100),
        1_000..60_000 => up(1_000),
        _ => up(5_000),
    })
}

/// Runs `cutover calibrate`; returns the exit code (0 done, 2 invalid input, 4 cannot write).
pub fn main(runbook: &Path, journals: &[PathBuf], p: u8, write: bool) -> u8 {
    let rb = match Runbook::load(runbook, &BTreeMap::new()) {
        Ok(rb) => rb,
        Err(e) => {
            say::err(&e.to_string());
            return 2;
        }
    };
    let mut by_id = match samples(journals) {
        Ok(s) => s,
        Err(e) => {
            say::err(&format!("cutover calibrate: {e}"));
            return 2;
        }
    };
    let what = if p == 50 {
        "median".to_string()
    } else {
        format!("p{p}")
    };
    say::out(&format!(
        "{:<28} {:>5} {:>10} {:>10} {:>10} {:>10}",
        "STEP",
        "RUNS",
        "EXPECTED",
        what.to_uppercase(),
        "MIN",
        "MAX"
    ));
    let mut proposed: BTreeMap<String, String> = BTreeMap::new();
    for st in &rb.steps {
        let mut v = by_id.remove(&st.id).unwrap_or_default();
        let runs = v.len();
        let now = st.expected.map_or("—".to_string(), format_duration);
        let Some(value) = percentile(&mut v, p) else {
            say::out(&format!(
                "{:<28} {runs:>5} {now:>10} {:>10}",
                st.id, "(no pass)"
            ));
            continue;
        };
        let new = format_duration(rounded(value));
        let (min, max) = (v[0], v[v.len() - 1]);
        say::out(&format!(
            "{:<28} {runs:>5} {now:>10} {new:>10} {:>10} {:>10}",
            st.id,
            cutover_model::narrate::duration(min),
            cutover_model::narrate::duration(max)
        ));
        if now != new {
            proposed.insert(st.id.clone(), new);
        }
    }
    if !write {
        if !proposed.is_empty() {
            say::out(&format!(
                "{} to change; --write sets them in {}",
                cutover_model::narrate::count(proposed.len() as u64, "expected duration"),
                runbook.display()
            ));
        }
        return 0;
    }
    match write_expected(runbook, &proposed) {
        Ok(0) => {
            say::out("nothing to change");
            0
        }
        Ok(n) => {
            say::out(&format!(
                "{} written to {}; it still validates",
                cutover_model::narrate::count(n as u64, "expected duration"),
                runbook.display()
            ));
            0
        }
        Err((code, e)) => {
            say::err(&format!("cutover calibrate: {e}"));
            code
        }
    }
}

/// Sets `expected` of the steps named in `proposed`, keeping everything else of the file;
/// validates the result and puts the file back when it does not validate.
fn write_expected(path: &Path, proposed: &BTreeMap<String, String>) -> Result<usize, (u8, String)> {
    if proposed.is_empty() {
        return Ok(0);
    }
    let before = std::fs::read_to_string(path).map_err(|e| (4, e.to_string()))?;
    let mut doc: toml_edit::DocumentMut = before
        .parse()
        .map_err(|e: toml_edit::TomlError| (2, e.to_string()))?;
    let mut changed = 0;
    if let Some(steps) = doc
        .get_mut("step")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    {
        for t in steps.iter_mut() {
            let Some(id) = t.get("id").and_then(toml_edit::Item::as_str) else {
                continue;
            };
            if let Some(v) = proposed.get(id) {
                match t
                    .get_mut("expected")
                    .and_then(toml_edit::Item::as_value_mut)
                {
                    // Keep the comment and spacing around the old value.
                    Some(old) => {
                        let decor = old.decor().clone();
                        *old = toml_edit::Value::from(v.as_str());
                        *old.decor_mut() = decor;
                    }
                    None => {
                        t.insert("expected", toml_edit::value(v.as_str()));
                    }
                }
                changed += 1;
            }
        }
    }
    let after = doc.to_string();
    let tmp = path.with_extension("calibrate.tmp");
    let mode = std::fs::metadata(path).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    std::fs::write(&tmp, &after).map_err(|e| (4, e.to_string()))?;
    if let Ok(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode));
    }
    std::fs::rename(&tmp, path).map_err(|e| (4, e.to_string()))?;
    if let Err(e) = Runbook::load(path, &BTreeMap::new()) {
        let _ = std::fs::write(path, &before);
        return Err((
            2,
            format!("the calibrated runbook would not validate, so it is left as it was:\n{e}"),
        ));
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rounding() {
        let mut v = vec![300, 100, 200, 900, 400];
        assert_eq!(percentile(&mut v, 50), Some(300));
        assert_eq!(percentile(&mut v, 90), Some(900));
        assert_eq!(percentile(&mut [], 50), None);
        assert_eq!(rounded(340), std::time::Duration::from_millis(400));
        assert_eq!(rounded(14_200), std::time::Duration::from_secs(15));
        assert_eq!(rounded(61_000), std::time::Duration::from_secs(65));
    }
}
