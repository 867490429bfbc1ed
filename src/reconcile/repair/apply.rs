//! Applying a patch on the target: one transaction, the patch's settings, each statement
//! counted; a guarded statement that changes no row is stale (its row changed since the
//! patch was built) and is left alone.

use tokio_postgres::{Client, SimpleQueryMessage};

use super::Patch;
use crate::ReconcileError;

/// What applying did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Statements that changed their row.
    pub applied: usize,
    /// Statements whose guard failed (indices into the patch's statements).
    pub stale: Vec<usize>,
}

/// Applies `patch` (or its inverse) on `target` in one transaction, with triggers and rules
/// firing (`fire_triggers`) or not (`session_replication_role = replica`). An error rolls the
/// whole patch back.
pub async fn apply(
    target: &Client,
    patch: &Patch,
    inverse: bool,
    fire_triggers: bool,
) -> Result<Applied, ReconcileError> {
    let mut begin = String::from("BEGIN;\n");
    for l in &patch.settings {
        begin.push_str(l);
        begin.push('\n');
    }
    if !fire_triggers {
        begin.push_str("SET LOCAL session_replication_role = 'replica';\n");
    }
    target
        .batch_execute(&begin)
        .await
        .map_err(ReconcileError::sql("target", "open the repair transaction"))?;
    let mut done = Applied::default();
    for (i, st) in patch.statements.iter().enumerate() {
        let sql = if inverse { &st.inverse } else { &st.sql };
        match target.execute(sql.as_str(), &[]).await {
            Ok(0) => done.stale.push(i),
            Ok(_) => done.applied += 1,
            Err(e) => {
                let _ = target.batch_execute("ROLLBACK").await;
                return Err(ReconcileError::sql(
                    "target",
                    &format!(
                        "apply the {} of {} ({}); nothing was changed",
                        st.change.word(),
                        st.table,
                        super::build::shown(&st.key)
                    ),
                )(e));
            }
        }
    }
    target
        .batch_execute("COMMIT")
        .await
        .map_err(ReconcileError::sql("target", "commit the repair"))?;
    Ok(done)
}

/// What an inverse patch must do to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Each of its statements, in the patch's order: whether its patch's statement changed a
    /// row (its inverse must find that row as the patch left it), or was stale (its inverse
    /// must change nothing: the repair never wrote that row).
    Exactly(Vec<bool>),
    /// At least this many statements change a row (a journal that does not say which).
    AtLeast(u64),
}

/// Applies `text`, a patch file as [`super::render`] writes it (`BEGIN;`, its settings, its
/// statements, `COMMIT;`), on `target`, and commits it only when its statements do what
/// `expected` says: an inverse that finds a row changed since the repair (a later write), or
/// that would write back a row the repair never changed, would leave the target neither as
/// the repair left it nor as it was, so it undoes nothing and says so. A file not shaped as
/// ours (no final `COMMIT;`) is applied as it is, uncounted.
pub async fn apply_file(
    target: &Client,
    text: &str,
    expected: &Expected,
) -> Result<(), ReconcileError> {
    let Some(body) = text.trim_end().strip_suffix("COMMIT;") else {
        return target
            .batch_execute(text)
            .await
            .map_err(ReconcileError::sql("target", "apply the patch"));
    };
    let said = match target.simple_query(body).await {
        Ok(said) => said,
        Err(e) => {
            let _ = target.batch_execute("ROLLBACK").await;
            return Err(ReconcileError::sql(
                "target",
                "apply the patch; nothing was changed",
            )(e));
        }
    };
    // `BEGIN` and each `SET` say 0 rows; then each statement how many it changed.
    let rows: Vec<u64> = said
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    if let Some(why) = wrong(&rows, expected) {
        let _ = target.batch_execute("ROLLBACK").await;
        return Err(ReconcileError::Other(format!(
            "{why}; nothing was undone: review the target, then undo the repair by hand, or skip this rollback action with a reason"
        )));
    }
    target
        .batch_execute("COMMIT")
        .await
        .map_err(ReconcileError::sql("target", "commit the patch"))
}

/// Why the rows each command changed (`rows`: `BEGIN`, the settings, then the statements)
/// are not what `expected` says, if they are not.
fn wrong(rows: &[u64], expected: &Expected) -> Option<String> {
    match expected {
        Expected::AtLeast(least) => {
            let changed = rows.iter().filter(|n| **n > 0).count() as u64;
            (changed < *least).then(|| {
                format!(
                    "it found {changed} of the {least} rows its patch changed as the patch left them (the others changed since: a later write)"
                )
            })
        }
        Expected::Exactly(applied) => {
            let Some(first) = rows.len().checked_sub(applied.len()) else {
                return Some(format!(
                    "it holds {} statements where its patch held {}: it is not the inverse of that patch",
                    rows.len().saturating_sub(1),
                    applied.len()
                ));
            };
            let statements = &rows[first..];
            let missed = applied
                .iter()
                .zip(statements)
                .filter(|(a, n)| **a && **n == 0)
                .count();
            let extra = applied
                .iter()
                .zip(statements)
                .filter(|(a, n)| !**a && **n > 0)
                .count();
            let wanted = applied.iter().filter(|a| **a).count();
            if missed > 0 {
                Some(format!(
                    "it found {} of the {wanted} rows its patch changed as the patch left them (the others changed since: a later write; or this inverse was already applied, just before a crash)",
                    wanted - missed
                ))
            } else if extra > 0 {
                Some(format!(
                    "it would also write back {extra} row(s) its patch never changed (stale when the patch was applied, they hold what it would have written)"
                ))
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement's rows are read in the patch's order after `BEGIN` and the settings: a
    /// row the patch changed and its inverse no longer finds, or a stale row its inverse would
    /// write back, keeps the inverse from committing; a shortfall is not made up by another.
    #[test]
    fn an_inverse_commits_only_when_each_statement_does_what_its_patch_did() {
        let exactly = |a: &[bool]| Expected::Exactly(a.to_vec());
        // BEGIN, two settings, then three statements.
        assert_eq!(
            wrong(&[0, 0, 0, 1, 1, 0], &exactly(&[true, true, false])),
            None
        );
        let missed = wrong(&[0, 0, 0, 1, 0, 0], &exactly(&[true, true, false]));
        assert!(missed.is_some_and(|m| m.contains("found 1 of the 2 rows")));
        // The stale statement's inverse matches: it is not counted for the missed one.
        let swapped = wrong(&[0, 0, 0, 0, 1, 1], &exactly(&[true, true, false]));
        assert!(swapped.is_some_and(|m| m.contains("found 1 of the 2 rows")));
        let extra = wrong(&[0, 0, 0, 1, 1, 1], &exactly(&[true, true, false]));
        assert!(extra.is_some_and(|m| m.contains("1 row(s) its patch never changed")));
        assert!(wrong(&[0], &exactly(&[true, true])).is_some());
        assert_eq!(wrong(&[0, 0, 2], &Expected::AtLeast(1)), None);
        assert!(wrong(&[0, 0, 0], &Expected::AtLeast(1)).is_some());
    }
}
