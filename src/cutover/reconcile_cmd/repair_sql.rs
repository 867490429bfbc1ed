//! `cutover reconcile RUNBOOK CHECK --repair-sql FILE`: runs the checksum check once and
//! writes the patch that repairs what it found as a reviewable SQL file, and the patch that
//! undoes it as a second (`FILE.inverse.sql`, or `x.inverse.sql` for `x.sql`). Nothing is
//! changed on either server; both files or neither are written.
//!
//! Exit: 0 the patch was written (or the check passed: nothing to repair), 1 the check could
//! not run, 2 refused (flags, runbook, a check with nothing to patch row by row, too many
//! differences, an existing file).

use std::path::Path;

use cutover_model::runbook::ReconcileCheck;
use cutover_model::secrets::Masker;
use cutover_reconcile::Options;
use cutover_reconcile::repair::{self, Limits};

use super::ReconcileArgs;
use crate::exit::{Exit, Failure, Outcome};
use crate::new_file::{refuse_existing, write_new};
use crate::say;

/// Runs `--repair-sql`; returns the exit code.
pub fn main(args: &ReconcileArgs, file: &Path) -> Outcome {
    match prepare(args, file) {
        Ok(p) => {
            let rt = crate::serve::client_runtime("cutover reconcile", Exit::CheckFailed)?;
            rt.block_on(p.run(file))
        }
        Err(why) => Err(Failure::new(
            Exit::Invalid,
            format!("cutover reconcile: {why}"),
        )),
    }
}

struct Prepared {
    check: ReconcileCheck,
    source: cutover_pg::ConnSettings,
    target: cutover_pg::ConnSettings,
    opts: Options,
    masker: Masker,
    max_rows: u64,
}

fn prepare(args: &ReconcileArgs, file: &Path) -> Result<Prepared, String> {
    if args.names.len() != 1 {
        return Err("--repair-sql repairs one check: name it (cutover reconcile RUNBOOK CHECK --repair-sql FILE)".into());
    }
    if args.every.is_some() || args.metrics_file.is_some() || args.on_fail.is_some() {
        return Err("--repair-sql runs the check once: --every, --metrics-file and --on-fail do not go with it".into());
    }
    refuse_existing(file)?;
    refuse_existing(&repair::inverse_path(file))?;
    let (rb, checks) = super::load_checks(args)?;
    let check = checks.into_iter().next().ok_or("no check")?;
    let (secrets, conns, masker) = super::connections(&rb)?;
    let side = |name: &str| {
        conns
            .get(name)
            .cloned()
            .ok_or_else(|| format!("check `{}`: no connection {name}", check.name))
    };
    let (source, target) = (side(&check.source)?, side(&check.target)?);
    let max_rows = args.max_rows;
    let defaults = Options::default();
    let opts = Options {
        secrets,
        // Every difference a repair may patch is listed (a partial list is refused).
        max_listed: defaults
            .max_listed
            .max(usize::try_from(max_rows).unwrap_or(usize::MAX)),
        ..defaults
    };
    Ok(Prepared {
        check,
        source,
        target,
        opts,
        masker,
        max_rows,
    })
}

impl Prepared {
    /// `e` (masked) as the failure of `cutover reconcile`, ending with `exit`.
    fn failure(&self, exit: Exit, e: &dyn std::fmt::Display) -> Failure {
        Failure::new(
            exit,
            format!("cutover reconcile: {}", self.masker.mask(&e.to_string())),
        )
    }

    async fn run(self, file: &Path) -> Outcome {
        let (s, t) = cutover_reconcile::connect_pair(&self.source, &self.target)
            .await
            .map_err(|e| self.failure(Exit::CheckFailed, &e))?;
        let result = cutover_reconcile::run_check(
            &self.check,
            &s,
            &t,
            &self.opts,
            &cutover_reconcile::no_progress,
        )
        .await;
        let t_now = crate::headless::clock();
        if let Some(line) = crate::headless::reconcile_line(&result, false, true, &t_now) {
            say::out(&self.masker.mask(&line));
        }
        if result.passed() {
            say::out("nothing to repair: the check passes; no file written");
            return Ok(Exit::Ok);
        }
        let built = repair::build(
            &s,
            &t,
            &self.check,
            &result,
            Limits {
                max_rows: self.max_rows,
            },
            (&self.source.target(), &self.target.target()),
        )
        .await;
        let mut patch = built.map_err(|e| {
            let exit = match e {
                cutover_reconcile::ReconcileError::Other(_) => Exit::Invalid,
                _ => Exit::CheckFailed,
            };
            self.failure(exit, &e)
        })?;
        repair::withhold_secrets(&mut patch, &self.masker);
        let at = chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string();
        let inverse = repair::inverse_path(file);
        // The inverse first, as the repair step saves it: a patch is never on disk without
        // the file that undoes it (a kill between the two leaves the inverse alone, which
        // undoes nothing that was done).
        if let Err(e) = write_new(&inverse, &repair::render(&patch, true, &at, &self.masker)) {
            return Err(Failure::new(
                Exit::Invalid,
                format!("cutover reconcile: {e}"),
            ));
        }
        if let Err(e) = write_new(file, &repair::render(&patch, false, &at, &self.masker)) {
            // Both files or neither.
            let _ = std::fs::remove_file(&inverse);
            return Err(Failure::new(
                Exit::Invalid,
                format!("cutover reconcile: {e}"),
            ));
        }
        for n in &patch.notes {
            say::out(&format!("note: {}", self.masker.mask(n)));
        }
        say::out(&format!(
            "wrote {}: {} for check {} (review it, then apply it on the target: psql -X -v ON_ERROR_STOP=1 -f {}); the inverse: {}",
            file.display(),
            patch.describe(),
            self.check.name,
            file.display(),
            inverse.display()
        ));
        Ok(Exit::Ok)
    }
}
