//! `cutover calibrate RUNBOOK JOURNAL...`: proposes each step's `expected` from rehearsals —
//! the median of the passed attempts' durations (or a percentile with `--p 90`), rounded up to
//! a duration a person writes — shows the table, and with `--write` sets them in the runbook in
//! place, keeping its comments and layout (`toml_edit`). The new text is validated before it
//! is written; it is written through a symbolic link to the file it names, never to a
//! read-only file, keeping the file's mode, in one rename, and only if the file is still what
//! was read (an edit made meanwhile is never lost). A journal of another runbook is refused
//! unless `--force`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cutover_model::protocol::StepKind;
use cutover_model::runbook::Runbook;
use cutover_model::runbook::units::format_duration;
use cutover_model::summary::Ended;

use crate::exit::{Exit, Failure, Outcome};
use crate::say;
use cutover_model::text::plain;

/// Durations of the passed attempts of each step, by id, over the journals of `rb` (a
/// journal of a runbook with another name is refused unless `force`; one of an earlier
/// version of this runbook is used, and said).
fn samples(
    rb: &Runbook,
    journals: &[PathBuf],
    force: bool,
) -> Result<BTreeMap<String, Vec<u64>>, String> {
    let mut by_id: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for j in journals {
        let report = crate::report::load_run(j)?;
        let s = &report.summary;
        if s.name != rb.name && !force {
            return Err(format!(
                "{} is a run of runbook {:?} (sha256 {:.12}), not of {:?}: its durations are another cutover's; --force uses it anyway",
                j.display(),
                plain(&s.name),
                s.sha256,
                plain(&rb.name)
            ));
        }
        if s.sha256 != rb.sha256 && s.name == rb.name {
            say::err(&format!(
                "note: {} ran an earlier version of this runbook (sha256 {:.12}); steps are matched by id",
                j.display(),
                s.sha256
            ));
        }
        // A headless run (no terminal ever attached) answers confirm and approve steps at
        // once: its milliseconds say nothing of how long a person takes.
        let headless = s.clients.is_empty();
        let mut skipped = Vec::new();
        for st in &s.steps {
            if headless && matches!(st.kind, StepKind::Confirm | StepKind::Approve) {
                skipped.push(st.id.as_str());
                continue;
            }
            if st.ended == Ended::Passed
                && let Some(ms) = st.actual_ms
            {
                by_id.entry(st.id.clone()).or_default().push(ms);
            }
        }
        if !skipped.is_empty() {
            say::err(&format!(
                "note: {} is a headless run: the human waits of {} are not planned from it",
                j.display(),
                plain(&skipped.join(", "))
            ));
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

/// Runs `cutover calibrate`; returns the exit code (0 done, 2 invalid input or a file that may
/// not be written, 4 cannot write).
pub fn main(runbook: &Path, journals: &[PathBuf], p: u8, write: bool, force: bool) -> Outcome {
    let rb = match Runbook::load(runbook, &BTreeMap::new()) {
        Ok(rb) => rb,
        Err(e) => {
            return Err(Failure::new(Exit::Invalid, e.to_string()));
        }
    };
    let by_id = match samples(&rb, journals, force) {
        Ok(s) => s,
        Err(e) => {
            return Err(Failure::new(
                Exit::Invalid,
                format!("cutover calibrate: {e}"),
            ));
        }
    };
    let Some(proposed) = table(&rb, by_id, p) else {
        return Err(Failure::new(
            Exit::Failed,
            "cutover calibrate: cannot write to stdout",
        ));
    };
    let told = |line: &str| {
        if say::out(line) {
            Ok(Exit::Ok)
        } else {
            Err(Failure::new(
                Exit::Failed,
                "cutover calibrate: cannot write to stdout",
            ))
        }
    };
    if !write {
        if proposed.is_empty() {
            return Ok(Exit::Ok);
        }
        return told(&format!(
            "{} to change; --write sets them in {}",
            cutover_model::narrate::count(proposed.len() as u64, "expected duration"),
            runbook.display()
        ));
    }
    match write_expected(runbook, &proposed, &rb.source) {
        Ok((0, _)) => told("nothing to change"),
        Ok((n, file)) => told(&format!(
            "{} written to {}; it still validates",
            cutover_model::narrate::count(n as u64, "expected duration"),
            file.display()
        )),
        Err((code, e)) => Err(Failure::new(code, format!("cutover calibrate: {e}"))),
    }
}

/// Prints the table of proposals; returns them (`None`: stdout cannot be written).
fn table(
    rb: &Runbook,
    mut by_id: BTreeMap<String, Vec<u64>>,
    p: u8,
) -> Option<BTreeMap<String, String>> {
    let what = if p == 50 {
        "median".to_string()
    } else {
        format!("p{p}")
    };
    // The statistics are the runs' own times; only the proposal is rounded (so that the
    // median, min and max agree with each other).
    let mut ok = say::out(&format!(
        "{:<28} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "STEP",
        "RUNS",
        "EXPECTED",
        "PROPOSED",
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
            ok &= say::out(&format!(
                "{:<28} {runs:>5} {now:>10} {:>10}",
                st.id, "(no pass)"
            ));
            continue;
        };
        let new = format_duration(rounded(value));
        let (min, max) = (v[0], v[v.len() - 1]);
        let shown = cutover_model::narrate::duration;
        ok &= say::out(&format!(
            "{:<28} {runs:>5} {now:>10} {new:>10} {:>10} {:>10} {:>10}",
            st.id,
            shown(value),
            shown(min),
            shown(max)
        ));
        if now != new {
            proposed.insert(st.id.clone(), new);
        }
    }
    ok.then_some(proposed)
}

/// Sets `expected` of the steps named in `proposed` in the runbook at `path` (through a
/// link, in the file it names), keeping everything else of the file. The new text must
/// validate; the file must be writable and still be what was read when it is replaced.
/// Returns how many were set and the file written.
fn write_expected(
    path: &Path,
    proposed: &BTreeMap<String, String>,
    loaded: &str,
) -> Result<(usize, PathBuf), (Exit, String)> {
    let file = std::fs::canonicalize(path)
        .map_err(|e| (Exit::Failed, format!("{}: {e}", path.display())))?;
    if proposed.is_empty() {
        return Ok((0, file));
    }
    let meta =
        std::fs::metadata(&file).map_err(|e| (Exit::Failed, format!("{}: {e}", file.display())))?;
    if !meta.is_file() {
        return Err((
            Exit::Invalid,
            format!("{} is not a regular file", file.display()),
        ));
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o222 == 0 {
        return Err((
            Exit::Invalid,
            format!(
                "{} is read-only (mode {:o}): left as it is",
                file.display(),
                mode & 0o7777
            ),
        ));
    }
    let before = std::fs::read_to_string(&file).map_err(|e| (Exit::Failed, e.to_string()))?;
    if before != loaded {
        return Err((
            Exit::Invalid,
            format!(
                "{} changed while calibrate ran (someone edited it): left as it is; run calibrate again",
                file.display()
            ),
        ));
    }
    let (after, changed) = edited(&before, proposed)?;
    if let Err(e) = Runbook::parse(&path.display().to_string(), &after, &BTreeMap::new()) {
        return Err((
            Exit::Invalid,
            format!("the calibrated runbook would not validate, so it is left as it was:\n{e}"),
        ));
    }
    replace_if_unchanged(&file, &before, &after, mode)?;
    Ok((changed, file))
}

/// `before` with `expected` set for the steps in `proposed`, and how many were set.
fn edited(
    before: &str,
    proposed: &BTreeMap<String, String>,
) -> Result<(String, usize), (Exit, String)> {
    let mut doc: toml_edit::DocumentMut = before
        .parse()
        .map_err(|e: toml_edit::TomlError| (Exit::Invalid, e.to_string()))?;
    let mut changed = 0;
    let Some(steps) = doc
        .get_mut("step")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    else {
        return Ok((before.to_string(), 0));
    };
    for t in steps.iter_mut() {
        let Some(id) = t.get("id").and_then(toml_edit::Item::as_str) else {
            continue;
        };
        let Some(v) = proposed.get(id) else { continue };
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
    Ok((doc.to_string(), changed))
}

/// Writes `after` to a new file beside `file` (mode `mode`, fsynced) and renames it over
/// `file` if `file` still holds `before`; otherwise leaves both as they are and says so.
fn replace_if_unchanged(
    file: &Path,
    before: &str,
    after: &str,
    mode: u32,
) -> Result<(), (Exit, String)> {
    use crate::new_file::{dir_of, fresh_file};
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    // A name of its own beside `file` (a PID-named one a killed run left would refuse it).
    let (mut f, tmp) = fresh_file(dir_of(file)).map_err(|e| {
        (
            Exit::Failed,
            format!("cannot write beside {}: {e}", file.display()),
        )
    })?;
    let written = f
        .write_all(after.as_bytes())
        .and_then(|()| f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777)))
        .and_then(|()| f.sync_all());
    let fail = |code: Exit, msg: String| {
        let _ = std::fs::remove_file(&tmp);
        Err((code, msg))
    };
    if let Err(e) = written {
        return fail(
            Exit::Failed,
            format!("cannot write beside {}: {e}", file.display()),
        );
    }
    match std::fs::read_to_string(file) {
        Ok(now) if now == before => {}
        Ok(_) => {
            return fail(
                Exit::Invalid,
                format!(
                    "{} changed while calibrate ran (someone edited it): left as it is; run calibrate again",
                    file.display()
                ),
            );
        }
        Err(e) => return fail(Exit::Failed, format!("{}: {e}", file.display())),
    }
    if let Err(e) = std::fs::rename(&tmp, file) {
        return fail(
            Exit::Failed,
            format!("cannot replace {}: {e}", file.display()),
        );
    }
    Ok(())
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
