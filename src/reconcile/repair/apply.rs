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

/// Applies `text`, a patch file as [`super::render`] writes it (`BEGIN;`, its settings, its
/// statements, `COMMIT;`), on `target`, and commits it only when at least `least` of its
/// statements changed a row: an inverse patch whose rows changed since the repair (a later
/// write) would undo part of it and leave the target neither as the repair left it nor as it
/// was, so it undoes nothing and says so. Returns how many statements changed a row (`None`:
/// a file not shaped as ours, applied as it is, uncounted).
pub async fn apply_file(
    target: &Client,
    text: &str,
    least: u64,
) -> Result<Option<u64>, ReconcileError> {
    let Some(body) = text.trim_end().strip_suffix("COMMIT;") else {
        target
            .batch_execute(text)
            .await
            .map_err(ReconcileError::sql("target", "apply the patch"))?;
        return Ok(None);
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
    // `BEGIN` and `SET` say 0 rows; a statement that found its row says how many it changed.
    let changed = said
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::CommandComplete(n) if *n > 0))
        .count() as u64;
    if changed < least {
        let _ = target.batch_execute("ROLLBACK").await;
        return Err(ReconcileError::Other(format!(
            "it found {changed} of the {least} rows its patch changed as the patch left them (the others changed since: a later write); nothing was undone: review the target, and undo the repair by hand"
        )));
    }
    target
        .batch_execute("COMMIT")
        .await
        .map_err(ReconcileError::sql("target", "commit the patch"))?;
    Ok(Some(changed))
}
