//! What a `sequences` or `schema` check selects, checked before it is compared: a selection
//! that names a schema that does not exist, or selects nothing, is an error (a gate over
//! nothing must not pass).

use tokio_postgres::Client;

use crate::ReconcileError;

/// Refuses `schemas` when one of them does not exist on `side`, naming it.
pub(crate) async fn schemas_exist(
    client: &Client,
    side: &str,
    schemas: &[String],
) -> Result<(), ReconcileError> {
    let rows = client
        .query(
            "SELECT n.nspname::text FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY($1::text[])",
            &[&schemas],
        )
        .await
        .map_err(ReconcileError::sql(side, "look up schemas"))?;
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let missing: Vec<&str> = schemas
        .iter()
        .filter(|s| !found.contains(s))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ReconcileError::Other(format!(
        "{side}: no schema {} (the check would compare nothing there)",
        missing.join(", ")
    )))
}

/// The check's selection in words: `schemas [public, app] and sequences [s1]`.
pub(crate) fn describe(schemas: &[String], names: &[String], what: &str) -> String {
    match (schemas.is_empty(), names.is_empty()) {
        (false, false) => format!(
            "schemas [{}] and {what} [{}]",
            schemas.join(", "),
            names.join(", ")
        ),
        (false, true) => format!("schemas [{}]", schemas.join(", ")),
        (true, false) => format!("{what} [{}]", names.join(", ")),
        (true, true) => format!("no schemas and no {what}"),
    }
}
