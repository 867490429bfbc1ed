//! Applying a patch on the target: one transaction, the patch's settings, each statement
//! counted; a guarded statement that changes no row is stale (its row changed since the
//! patch was built) and is left alone.

use tokio_postgres::Client;

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
