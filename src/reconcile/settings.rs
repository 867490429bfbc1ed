//! Session pinning: every comparison pass runs in one `REPEATABLE READ READ ONLY` transaction
//! per side, with the settings that change the text output of values pinned by `SET LOCAL`
//! (so the caller's session is left as it was when the transaction ends).

use tokio_postgres::Client;

use super::ReconcileError;

/// The server's `server_version_num`.
pub async fn server_version(client: &Client, side: &str) -> Result<u32, ReconcileError> {
    let v: String = client
        .query_one(
            "select pg_catalog.current_setting('server_version_num')",
            &[],
        )
        .await
        .map_err(ReconcileError::sql(side, "read server_version_num"))?
        .get(0);
    v.trim()
        .parse()
        .map_err(|_| ReconcileError::Other(format!("{side}: odd server_version_num {v:?}")))
}

/// `extra_float_digits` for a pair of servers: 1 (shortest exact output) when both are
/// PostgreSQL 12+, else 0 (15 significant digits on both, the only setting that prints the
/// same text on 11 and 12+; it hides last-bit float differences).
pub fn extra_float_digits(source_version: u32, target_version: u32) -> i32 {
    if source_version >= 120_000 && target_version >= 120_000 {
        1
    } else {
        0
    }
}

/// How a transaction is pinned.
#[derive(Debug, Clone, Copy)]
pub struct Pinning {
    /// `extra_float_digits`, the same on both sides ([`extra_float_digits`]).
    pub extra_float_digits: i32,
    /// Also pin `search_path = pg_catalog` (our own SQL: every relation and type qualified).
    /// Off for user queries, which rely on the session's search path.
    pub catalog_search_path: bool,
    /// `statement_timeout` in milliseconds (0: none).
    pub statement_timeout_ms: u64,
    /// `lock_timeout` in milliseconds (0: none).
    pub lock_timeout_ms: u64,
}

/// The statements that open a pinned snapshot (one simple-protocol round trip).
pub fn begin_sql(p: &Pinning) -> String {
    begin_sql_in(p, None)
}

/// [`begin_sql`], in the snapshot `snapshot` exported by another session
/// (`pg_export_snapshot()`) when given.
pub fn begin_sql_in(p: &Pinning, snapshot: Option<&str>) -> String {
    let mut s = String::from("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n");
    if let Some(id) = snapshot {
        s.push_str(&format!(
            "SET TRANSACTION SNAPSHOT {};\n",
            cutover_model::ident::quote_literal(id)
        ));
    }
    let mut set = |k: &str, v: &str| s.push_str(&format!("SET LOCAL {k} = '{v}';\n"));
    set("TimeZone", "UTC");
    set("DateStyle", "ISO, YMD");
    set("IntervalStyle", "postgres");
    set("extra_float_digits", &p.extra_float_digits.to_string());
    set("bytea_output", "hex");
    set("lc_monetary", "C");
    set("standard_conforming_strings", "on");
    // How a patch's literals are read back: `{NULL}` an array's NULL element, not the text
    // "NULL"; an XML value a fragment or a document alike.
    set("array_nulls", "on");
    set("xmloption", "content");
    set("jit", "off");
    set("max_parallel_workers_per_gather", "0");
    set("statement_timeout", &p.statement_timeout_ms.to_string());
    // A table locked by another session's DDL (ACCESS EXCLUSIVE) fails the check with the
    // lock named after this long, instead of waiting as long as the DDL does (and staying
    // queued on the server after cutover is stopped).
    set("lock_timeout", &p.lock_timeout_ms.to_string());
    if p.catalog_search_path {
        set("search_path", "pg_catalog");
    }
    s
}

/// Has the server check every 5 s, while a query of this session runs, that cutover is still
/// there (`client_connection_check_interval`, PostgreSQL 14+; set only where the server knows
/// it, so older servers log no error): a scan whose cutover was stopped, killed or lost with
/// its SSH session ends on the server within seconds instead of running to its end.
pub const CLIENT_CHECK: &str = "SELECT pg_catalog.set_config(name, '5000', false) \
     FROM pg_catalog.pg_settings WHERE name = 'client_connection_check_interval'";

/// Guards `client`'s session for as long as it lasts, outside any transaction: the server
/// watches for a gone cutover ([`CLIENT_CHECK`]; best effort: a server that cannot watch its
/// sockets only misses the early end), and no statement waits for a lock longer than
/// [`crate::LOCK_WAIT`] (the `count`, `schema` and `sequences` checks run outside a pinned
/// snapshot, whose `SET LOCAL` would say so: a table under another session's ACCESS
/// EXCLUSIVE lock held them as long as the lock was held).
pub async fn guard_session(client: &Client) {
    let _ = client.batch_execute(CLIENT_CHECK).await;
    let lock = format!(
        "SELECT pg_catalog.set_config('lock_timeout', '{}', false)",
        crate::LOCK_WAIT.as_millis()
    );
    let _ = client.batch_execute(&lock).await;
}

/// Opens a pinned snapshot on `client`.
pub async fn begin(client: &Client, side: &str, p: &Pinning) -> Result<(), ReconcileError> {
    client
        .batch_execute(&begin_sql(p))
        .await
        .map_err(ReconcileError::sql(side, "open a repeatable-read snapshot"))
}

/// Ends the snapshot (read only: a rollback is all it takes). Errors are ignored: the
/// transaction may already be aborted by the error being reported.
pub async fn end(client: &Client) {
    let _ = client.batch_execute("ROLLBACK").await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_text_output_settings() {
        let sql = begin_sql(&Pinning {
            extra_float_digits: 1,
            catalog_search_path: true,
            statement_timeout_ms: 0,
            lock_timeout_ms: 60_000,
        });
        for needle in [
            "REPEATABLE READ READ ONLY",
            "TimeZone = 'UTC'",
            "DateStyle = 'ISO, YMD'",
            "IntervalStyle = 'postgres'",
            "extra_float_digits = '1'",
            "bytea_output = 'hex'",
            "lock_timeout = '60000'",
            "jit = 'off'",
            "search_path = 'pg_catalog'",
        ] {
            assert!(sql.contains(needle), "{needle} missing from {sql}");
        }
        assert_eq!(extra_float_digits(110_000, 150_000), 0);
        assert_eq!(extra_float_digits(120_000, 170_000), 1);
    }
}
