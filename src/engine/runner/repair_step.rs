//! `repair = { check, max_rows, triggers }`: the differences a checksum check finds, patched
//! on its target after the operator read the patch and typed `REPAIR`; then the check runs
//! again and the step passes only if it passes.
//!
//! The check runs; a pass is nothing to repair. Otherwise the patch is built
//! (`cutover_reconcile::repair`: guarded statements, refused when there are more differing
//! rows than `max_rows` — nothing changes then), the inverse patch is saved next to the
//! journal *before* anything is applied (it is the step's rollback), the patch is saved and
//! shown as the step's output and journaled with its sha256, and the operator types `REPAIR`
//! (headless: `--assume-yes`). The patch applies in one transaction; a statement whose row
//! changed since the diff is stale, left alone and named.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::repair_apply::{ApplyEnd, Cut};
use super::{Attempt, AttemptResult, EngineError, Runner, StepParts};
use cutover_model::protocol::{Event, Level, RepairRecord, StepOutcome};
use cutover_model::reconcile::ReconcileResult;
use cutover_reconcile::Options;
use cutover_reconcile::repair::{self, Limits, Patch};

/// A repair attempt that passed, saying why.
fn passed(m: String) -> Attempt {
    judged("repair", StepOutcome::Passed, m)
}

/// A repair attempt that failed, saying why.
fn failed(m: String) -> Attempt {
    judged("repair", StepOutcome::Failed, m)
}

/// An attempt judged by its one check `name`, saying why; a failure's message is the same.
fn judged(name: &str, outcome: StepOutcome, m: String) -> Attempt {
    let ok = outcome.is_ok();
    Attempt::checked(name, outcome, m.clone(), ok, (!ok).then_some(m))
}

/// A repair attempt that ended when applying was `cut` short (or ran to its end and applied
/// nothing), saying `m`: timed out, stopped (with its stop), or failed.
fn cut_short(cut: Cut, m: String) -> Result<Attempt, (Attempt, super::Stop)> {
    match cut {
        Cut::No => Ok(failed(m)),
        Cut::TimedOut => Ok(judged("repair", StepOutcome::TimedOut, m)),
        Cut::Stopped(stop) => Err((judged("repair", StepOutcome::Cancelled, m), stop)),
    }
}

/// The word the operator types to apply a reviewed patch.
pub(super) const REPAIR_WORD: &str = "REPAIR";

/// The most patches one repair step keeps (attempts past it write over the last).
const MAX_PATCHES: usize = 1000;

/// The largest inverse patch a rollback reads back (100,000 rows of 40 KiB each).
const MAX_PATCH_BYTES: u64 = 4 << 30;

/// The longest a repair's check, its patch building, its check again after applying, and its
/// inverse may each take when the step sets no timeout.
const BUILD_WITHIN: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl Runner<'_> {
    /// Where patch `n` (from 1) of step `index` and its inverse are kept:
    /// `NN-id.repair.sql`, then `NN-id.repair-2.sql`, …
    fn repair_paths_of(&self, index: usize, n: usize) -> (PathBuf, PathBuf) {
        let suffix = if n == 1 {
            "repair".to_string()
        } else {
            format!("repair-{n}")
        };
        let patch = self.output_path(index, &suffix).with_extension("sql");
        let inverse = repair::inverse_path(&patch);
        (patch, inverse)
    }

    /// How many attempts of step `index` saved a patch (or its inverse), from the first.
    fn saved_patches(&self, index: usize) -> usize {
        (1..=MAX_PATCHES)
            .take_while(|n| {
                let (patch, inverse) = self.repair_paths_of(index, *n);
                patch.exists() || inverse.exists()
            })
            .count()
    }

    /// Where a new attempt of step `index` keeps its patch and its inverse: the first pair
    /// not written yet. An earlier attempt's are kept: its inverse is part of the rollback
    /// (a retried repair patches what the one before left).
    pub(super) fn repair_paths(&self, index: usize) -> (PathBuf, PathBuf) {
        let n = (self.saved_patches(index) + 1).min(MAX_PATCHES);
        self.repair_paths_of(index, n)
    }

    /// The inverse patches step `index`'s attempts saved, the latest first (the order a
    /// rollback applies them in), each with the sha256 the journal holds for it (`None`: no
    /// record of its patch).
    pub(super) fn repair_inverses(&self, index: usize) -> Vec<SavedInverse> {
        (1..=self.saved_patches(index))
            .rev()
            .map(|n| {
                let path = self.repair_paths_of(index, n).1;
                let record = path
                    .file_name()
                    .and_then(|name| self.inverse_digests.get(name))
                    .map(|r| r.0.clone());
                SavedInverse { path, record }
            })
            .collect()
    }

    /// Step `index`'s rollback when it is its repair's inverse patches, applied on `on`
    /// within the step's timeout; an inverse that commits is kept as undone.
    pub(super) async fn undo_repair(&mut self, index: usize, on: &str) -> AttemptResult {
        let inverses = self.repair_inverses(index);
        let within = self.rb.steps[index].timeout.unwrap_or(BUILD_WITHIN);
        let mut undone = Vec::new();
        let done = self
            .parts()
            .repair_inverse(index, &inverses, (on, within), &mut undone)
            .await;
        for r in &undone {
            self.note_repair(r);
        }
        done
    }

    /// Keeps `r`, the latest record of a repair patch, for the rollback that may apply its
    /// inverse (by the inverse's file name).
    pub(super) fn note_repair(&mut self, r: &RepairRecord) {
        if let Some(name) = std::path::Path::new(&r.inverse_file).file_name() {
            self.inverse_digests
                .insert(name.to_owned(), InverseOnRecord(r.clone()));
        }
    }

    /// Runs the check `name` once on fresh sessions; the result, or why it could not run.
    async fn repair_check(
        &self,
        name: &str,
        max_rows: u64,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Client,
            ReconcileResult,
        ),
        String,
    > {
        let check = self
            .rb
            .reconcile
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("no check {name}"))?;
        let side = |n: &str| {
            self.conns
                .get(n)
                .cloned()
                .ok_or_else(|| format!("no connection {n}"))
        };
        let (s, t) = cutover_reconcile::connect_pair(&side(&check.source)?, &side(&check.target)?)
            .await
            .map_err(|e| e.to_string())?;
        let defaults = Options::default();
        let opts = Options {
            secrets: self.secrets.clone(),
            max_listed: defaults
                .max_listed
                .max(usize::try_from(max_rows).unwrap_or(usize::MAX)),
            ..defaults
        };
        let result =
            cutover_reconcile::run_check(check, &s, &t, &opts, &cutover_reconcile::no_progress)
                .await;
        Ok((s, t, result))
    }

    /// The step.
    pub(super) async fn repair_step(
        &mut self,
        index: usize,
        name: &str,
        max_rows: u64,
        fire_triggers: bool,
    ) -> AttemptResult {
        let (t, patch) = match self.patch_for(index, name, max_rows).await? {
            Ok(Some(found)) => found,
            Ok(None) => {
                let m = format!("check {name} passes: nothing to repair");
                return Ok(Ok(passed(m)));
            }
            Err(why) => return Ok(Ok(failed(self.masker.mask(&why).into_owned()))),
        };
        let (file, record) = match self.save_patch(index, &patch).await? {
            Ok(saved) => saved,
            Err(why) => return Ok(Ok(failed(why))),
        };
        if let Err(stop) = self.typed_word(index, REPAIR_WORD).await? {
            let m = format!("the patch was not applied (saved in {})", file.display());
            return Ok(Err((judged("repair", StepOutcome::Cancelled, m), stop)));
        }
        let deadline = self.rb.steps[index]
            .timeout
            .map(|t| tokio::time::Instant::now() + t);
        let on = self.check_target(name);
        let (end, cut) = self
            .apply_raced(index, (&on, &t), &patch, fire_triggers, deadline)
            .await?;
        drop(t);
        let ApplyEnd::Done(result) = end else {
            let m = format!(
                "the patch's transaction was cut short and {on} did not confirm the cancel within {}s: the server rolls it back when it notices the session is gone, unless its COMMIT had been sent; run check {name} to see what the target holds (the rollback applies this attempt's inverse, which finds only what was applied)",
                super::race::CANCEL_WITHIN.as_secs()
            );
            return Ok(cut_short(cut, m));
        };
        let (record, refused) = self
            .parts()
            .apply_patch(index, &patch, result, record)
            .await?;
        self.note_repair(&record);
        if let Some(e) = refused {
            let m = format!("the patch was not applied: {e}; nothing was changed");
            return Ok(cut_short(cut, m));
        }
        if !matches!(cut, Cut::No) {
            let m = format!(
                "{} applied (its COMMIT came before the cancel); check {name} was not run again",
                patch.describe()
            );
            return Ok(cut_short(cut, m));
        }
        Ok(Ok(self
            .judge_after_apply(name, max_rows, &patch, deadline)
            .await))
    }

    /// Runs check `name` again after `patch` applied, within the step's `deadline`: passes
    /// only if the check does.
    async fn judge_after_apply(
        &self,
        name: &str,
        max_rows: u64,
        patch: &Patch,
        deadline: Option<tokio::time::Instant>,
    ) -> Attempt {
        let left = deadline.map_or(BUILD_WITHIN, |d| {
            d.saturating_duration_since(tokio::time::Instant::now())
        });
        match tokio::time::timeout(left, self.repair_check(name, max_rows)).await {
            Err(_) => failed(format!(
                "{} applied, but check {name} did not finish again within the step's timeout",
                patch.describe()
            )),
            Ok(Err(e)) => failed(
                self.masker
                    .mask(&format!(
                        "the patch applied, but check {name} could not run again: {e}"
                    ))
                    .into_owned(),
            ),
            Ok(Ok((_, _, after))) if after.passed() => {
                passed(format!("{} applied; check {name} passes", patch.describe()))
            }
            Ok(Ok((_, _, after))) => failed(format!(
                "{} applied, but check {name} still finds {} differing row(s): run the step again, or roll back (the inverse patch)",
                patch.describe(),
                after.mismatch_rows()
            )),
        }
    }

    /// The connection the check `name` compares as its target (`target` when it is not
    /// found, which the runbook's validation rules out).
    fn check_target(&self, name: &str) -> String {
        self.rb
            .reconcile
            .iter()
            .find(|c| c.name == name)
            .map_or_else(|| "target".to_string(), |c| c.target.clone())
    }

    /// Runs check `name` (within the step's timeout) and builds the patch of what it finds:
    /// `Ok(None)` when it passes; `Err(why)` when there is no patch to apply (nothing changed).
    async fn patch_for(
        &mut self,
        index: usize,
        name: &str,
        max_rows: u64,
    ) -> Result<Result<Option<(tokio_postgres::Client, Patch)>, String>, EngineError> {
        let within = self.rb.steps[index].timeout.unwrap_or(BUILD_WITHIN);
        let until = tokio::time::Instant::now() + within;
        self.show_lines(index, format!("running check {name}…\n"))
            .await?;
        let (s, t, result) =
            match tokio::time::timeout(within, self.repair_check(name, max_rows)).await {
                Err(_) => {
                    return Ok(Err(format!(
                        "check {name} did not finish within the step's timeout: nothing was changed"
                    )));
                }
                Ok(Err(e)) => return Ok(Err(format!("check {name} could not run: {e}"))),
                Ok(Ok(r)) => r,
            };
        if result.passed() {
            return Ok(Ok(None));
        }
        let Some(check) = self.rb.reconcile.iter().find(|c| c.name == name) else {
            return Ok(Err(format!("no check {name}")));
        };
        let at = |conn: &str| self.conns.get(conn).map(|c| c.target()).unwrap_or_default();
        let (sa, ta) = (at(&check.source), at(&check.target));
        let building = repair::build(&s, &t, check, &result, Limits { max_rows }, (&sa, &ta));
        let mut patch = match tokio::time::timeout_at(until, building).await {
            Err(_) => {
                return Ok(Err(format!(
                    "the patch of check {name} was not built within the step's timeout (a server stopped answering): nothing was changed"
                )));
            }
            Ok(Err(e)) => return Ok(Err(format!("{e} (nothing was changed)"))),
            Ok(Ok(p)) => p,
        };
        repair::withhold_secrets(&mut patch, self.masker);
        if patch.statements.is_empty() {
            let why = if patch.notes.is_empty() {
                "nothing to patch".to_string()
            } else {
                patch.notes.join("; ")
            };
            return Ok(Err(format!(
                "check {name} fails, and the repair has no statement for it: {why}"
            )));
        }
        Ok(Ok(Some((t, patch))))
    }

    /// Saves the inverse patch, then the patch, shows the patch as the step's output and
    /// journals both paths, the patch's sha256 and counts (a `repair` record). `Ok(Err(why))`:
    /// it could not be saved (nothing is applied then).
    async fn save_patch(
        &mut self,
        index: usize,
        patch: &Patch,
    ) -> Result<Result<(PathBuf, RepairRecord), String>, EngineError> {
        let (file, inverse) = self.repair_paths(index);
        let at = chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string();
        let text = repair::render(patch, false, &at, self.masker);
        let undo = repair::render(patch, true, &at, self.masker);
        for (path, body) in [(&inverse, &undo), (&file, &text)] {
            let saved = path.parent().map_or(Ok(()), |dir| {
                std::os::unix::fs::DirBuilderExt::mode(
                    std::fs::DirBuilder::new().recursive(true),
                    0o700,
                )
                .create(dir)
            });
            if let Err(e) = saved.and_then(|()| crate::files::write_replacing(path, body, 0o600)) {
                // Both or neither: an inverse left without its patch would be found by the
                // rollback with no record in the journal.
                if path == &file {
                    let _ = std::fs::remove_file(&inverse);
                }
                return Ok(Err(format!(
                    "cannot save {}: {e}; nothing was applied",
                    path.display()
                )));
            }
        }
        let sha = hex::encode(Sha256::digest(text.as_bytes()));
        let inverse_sha256 = hex::encode(Sha256::digest(undo.as_bytes()));
        self.show_lines(index, text).await?;
        for n in &patch.notes {
            self.notice(Level::Warn, self.masker.mask(n).into_owned())
                .await?;
        }
        let (inserts, updates, deletes) = patch.counts();
        let record = RepairRecord {
            check: patch.check.clone(),
            patch_file: file.display().to_string(),
            sha256: sha,
            inverse_file: inverse.display().to_string(),
            inverse_sha256,
            inserts: inserts as u64,
            updates: updates as u64,
            deletes: deletes as u64,
            notes: patch
                .notes
                .iter()
                .map(|n| self.masker.mask(n).into_owned())
                .collect(),
            applied: false,
            changed: 0,
            stale: Vec::new(),
            stale_statements: Some(Vec::new()),
            undone: false,
        };
        self.note_repair(&record);
        self.io
            .emit(Event::Repair {
                index,
                repair: Box::new(record.clone()),
            })
            .await?;
        Ok(Ok((file, record)))
    }
}

impl StepParts<'_, '_> {
    /// Journals what applying the patch did (`result`): each stale row named. Returns the
    /// record as journaled last, and why nothing was applied when it was not.
    async fn apply_patch(
        &mut self,
        index: usize,
        patch: &Patch,
        result: Result<repair::Applied, cutover_reconcile::ReconcileError>,
        mut record: RepairRecord,
    ) -> Result<(RepairRecord, Option<String>), EngineError> {
        match result {
            Ok(done) => {
                let mut lines =
                    format!("applied {} statement(s) in one transaction\n", done.applied);
                for st in done.stale.iter().filter_map(|i| patch.statements.get(*i)) {
                    let key: Vec<String> =
                        st.key.iter().map(|(c, v)| format!("{c} = {v}")).collect();
                    let row = self
                        .masker
                        .mask(&format!("{} ({})", st.table, key.join(", ")))
                        .into_owned();
                    lines.push_str(&format!(
                        "stale: {row} changed since the diff: left alone\n"
                    ));
                    record.stale.push(row);
                }
                self.show_lines(index, lines).await?;
                record.applied = true;
                record.changed = done.applied as u64;
                record.stale_statements = Some(done.stale.clone());
                self.io
                    .emit(Event::Repair {
                        index,
                        repair: Box::new(record.clone()),
                    })
                    .await?;
                Ok((record, None))
            }
            Err(e) => {
                let m = self.masker.mask(&e.to_string()).into_owned();
                self.show_lines(index, format!("{m}\n")).await?;
                self.notice(Level::Warn, m.clone()).await?;
                Ok((record, Some(m)))
            }
        }
    }

    /// A repair step's rollback: the inverse patches its attempts saved (`inverses`, the
    /// latest first, see [`Runner::repair_inverses`]) applied on `on` one after another,
    /// each in its own transaction; the first that fails stops it (nothing to undo when no
    /// patch was saved). An attempt whose patch was never applied left an inverse whose
    /// guarded statements find nothing to do.
    pub(super) async fn repair_inverse(
        &mut self,
        index: usize,
        inverses: &[SavedInverse],
        (on, within): (&str, std::time::Duration),
        undone: &mut Vec<RepairRecord>,
    ) -> AttemptResult {
        if inverses.is_empty() {
            let m = "no repair patch was saved: nothing to undo".to_string();
            return Ok(Ok(judged("rollback", StepOutcome::Passed, m)));
        }
        let mut said = Vec::new();
        for inverse in inverses {
            // Saved and never journaled, its patch was never applied (the record is journaled
            // before the word is asked and the patch applied): nothing to undo, and the older
            // ones still are. Committed by an earlier try of this rollback (journaled then):
            // applied again, it would find none of its rows.
            let passed_over = match &inverse.record {
                None => Some(format!(
                    "{} left alone: the journal has no record of it, so its patch was never applied",
                    inverse.path.display()
                )),
                Some(r) if r.undone => Some(format!(
                    "inverse patch {} was applied by an earlier try of this rollback",
                    inverse.path.display()
                )),
                Some(_) => None,
            };
            if let Some(m) = passed_over {
                self.show_lines(index, format!("{m}\n")).await?;
                said.push(m);
                continue;
            }
            match self.apply_inverse(index, inverse, (on, within)).await? {
                Ok(m) => {
                    if let Some(mut r) = inverse.record.clone() {
                        r.undone = true;
                        let inverse_file = r.inverse_file.clone();
                        self.io
                            .emit(Event::RepairUndone {
                                index,
                                inverse_file,
                            })
                            .await?;
                        undone.push(r);
                    }
                    said.push(m);
                }
                Err(m) => {
                    said.push(m);
                    return Ok(Ok(judged("rollback", StepOutcome::Failed, said.join("; "))));
                }
            }
        }
        Ok(Ok(judged("rollback", StepOutcome::Passed, said.join("; "))))
    }

    /// One inverse patch applied on `on`: what it did, or why not.
    async fn apply_inverse(
        &mut self,
        index: usize,
        saved: &SavedInverse,
        (on, within): (&str, std::time::Duration),
    ) -> Result<Result<String, String>, EngineError> {
        let inverse = &saved.path;
        let text = match saved.text() {
            Ok(t) => t,
            Err(m) => {
                self.show_lines(index, format!("{m}\n")).await?;
                return Ok(Err(m));
            }
        };
        let Some(conn) = self.conns.get(on).cloned() else {
            return Ok(Err(format!("no connection {on}")));
        };
        let applied = async {
            let c = conn.connect().await.map_err(|e| e.to_string())?;
            // The inverse is one transaction sent whole: a cutover killed while it runs must
            // not leave the server applying it unseen (the server checks for a gone client
            // and rolls it back; the resumed rollback then applies it again).
            cutover_reconcile::guard_session(&c).await;
            repair::apply_file(&c, &text, &saved.expected())
                .await
                .map_err(|e| e.to_string())
        };
        // A target that stops answering cannot hold the rollback: past the step's timeout
        // the session is dropped, and the server rolls the open transaction back.
        let applied = tokio::time::timeout(within, applied)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "{on} did not finish it within the step's timeout ({}s): its session was closed, and the server rolls its transaction back (unless its COMMIT had been sent); run the check to see what the target holds",
                    within.as_secs()
                ))
            });
        let said = match applied {
            Ok(_) => Ok(format!(
                "inverse patch {} applied on {on}",
                inverse.display()
            )),
            Err(e) => Err(self
                .masker
                .mask(&format!(
                    "the inverse patch {} on {on}: {e}",
                    inverse.display()
                ))
                .into_owned()),
        };
        let (Ok(m) | Err(m)) = &said;
        self.show_lines(index, format!("{m}\n")).await?;
        Ok(said)
    }
}

/// The latest journal record of a repair patch, kept by its inverse's file name.
#[derive(Debug, Clone)]
pub(super) struct InverseOnRecord(pub RepairRecord);

/// An inverse repair patch a rollback may apply, and the journal's latest record of its
/// patch (`None`: the journal has none).
pub(super) struct SavedInverse {
    /// The file.
    path: PathBuf,
    /// The journal's latest record of its patch: the inverse's sha256, whether the patch was
    /// applied and which of its statements were stale, whether a rollback applied it.
    record: Option<RepairRecord>,
}

impl SavedInverse {
    /// What the inverse must do to be committed: each statement whose patch statement changed
    /// a row finds that row, and no other changes one; a patch the journal says was not
    /// applied (perhaps applied just before a crash) may find any of its rows or none; a
    /// journal that does not say which statements were stale, as many as changed a row.
    fn expected(&self) -> repair::Expected {
        match &self.record {
            Some(r) if r.applied => match &r.stale_statements {
                Some(stale) => repair::Expected::Exactly(
                    (0..r.statements() as usize)
                        .map(|i| !stale.contains(&i))
                        .collect(),
                ),
                None => repair::Expected::AtLeast(r.changed),
            },
            _ => repair::Expected::AtLeast(0),
        }
    }

    /// The patch's text as it was saved: read from a regular file (not through a link), and
    /// only while it has the sha256 the journal holds for it, so a file edited, replaced or
    /// cut short since it was saved is never applied on the target (one the journal has no
    /// record of is never applied: see [`StepParts::repair_inverse`]).
    fn text(&self) -> Result<String, String> {
        let Some(journaled) = self.record.as_ref().map(|r| &r.inverse_sha256) else {
            return Err(format!(
                "the inverse patch {} is not in the journal: not applied",
                self.path.display()
            ));
        };
        let cannot = |e: &dyn std::fmt::Display| {
            format!(
                "cannot read the inverse patch {}: {e}; not applied",
                self.path.display()
            )
        };
        let bytes = cutover_model::file::read_regular(&self.path, MAX_PATCH_BYTES, "patch", false)
            .map_err(|e| cannot(&e))?;
        let now = hex::encode(Sha256::digest(&bytes));
        if !journaled.is_empty() && now != *journaled {
            return Err(format!(
                "the inverse patch {} changed since it was saved (sha256 {journaled:.12}… journaled, {now:.12}… now): not applied; review it and apply it by hand if it is right",
                self.path.display()
            ));
        }
        String::from_utf8(bytes).map_err(|e| cannot(&e))
    }
}
