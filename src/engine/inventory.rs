//! Reading a server's catalog for `cutover init`: versions and settings, replication,
//! extensions, and every table and sequence of the chosen schemas — a handful of catalog-wide
//! queries (never one per table), all read-only, in a read-only transaction.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use cutover_model::inventory::{Key, Sequence, Server, Subscription, Table};

/// Why the inventory could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{side} {at}: cannot {what}: {detail}")]
pub struct InventoryError {
    /// `source` or `target`.
    pub side: String,
    /// `host:port/db`.
    pub at: String,
    /// What was being read.
    pub what: &'static str,
    /// The server's message.
    pub detail: String,
}

/// A connected server to inventory.
pub struct Side<'a> {
    /// `source` or `target`.
    pub side: &'a str,
    /// `host:port/db`.
    pub at: &'a str,
    /// The connection.
    pub client: &'a Client,
    /// Where each query it has sent and not had an answer to is noted.
    pub waiting: &'a Waiting,
}

/// The queries sent and not yet answered, on every side, so that a caller whose time bound
/// ran out (and dropped the queries) can say which server did not answer, and to what.
#[derive(Debug, Default)]
pub struct Waiting(std::sync::Mutex<Vec<String>>);

impl Waiting {
    /// `future`, noted as `what` while it has not ended (and for good if it never does).
    async fn on<T>(&self, what: String, future: impl std::future::Future<Output = T>) -> T {
        self.lock().push(what.clone());
        let out = future.await;
        let mut pending = self.lock();
        if let Some(i) = pending.iter().position(|w| *w == what) {
            pending.remove(i);
        }
        out
    }

    /// What is still waiting for an answer, in the order it was sent (`the source
    /// db:5432/app (asked to read the server's settings)`).
    pub fn unanswered(&self) -> Vec<String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Side<'_> {
    fn err(&self, what: &'static str) -> impl Fn(tokio_postgres::Error) -> InventoryError + '_ {
        move |e| InventoryError {
            side: self.side.to_string(),
            at: self.at.to_string(),
            what,
            detail: cutover_pg::conn::classify(&e).1,
        }
    }

    /// `future`, the query that does `what`, noted in [`Waiting`] until it is answered.
    async fn answer<T>(
        &self,
        what: &'static str,
        future: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, InventoryError> {
        let noted = format!("the {} {} (asked to {what})", self.side, self.at);
        self.waiting.on(noted, future).await.map_err(self.err(what))
    }

    /// The rows of `sql` (`what` names it in an error), each made a `T` by `each`.
    async fn rows<T, C: FromIterator<T>>(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        each: impl FnMut(&tokio_postgres::Row) -> T,
    ) -> Result<C, InventoryError> {
        let rows = self.answer(what, self.client.query(sql, params)).await?;
        Ok(rows.iter().map(each).collect())
    }

    /// The one row of `sql` (`what` names it in an error).
    async fn row(
        &self,
        what: &'static str,
        sql: &str,
    ) -> Result<tokio_postgres::Row, InventoryError> {
        self.answer(what, self.client.query_one(sql, &[])).await
    }
}

const SERVER: &str = "SELECT pg_catalog.current_setting('server_version'), \
     pg_catalog.current_setting('server_version_num')::int, pg_catalog.pg_is_in_recovery(), \
     pg_catalog.current_setting('wal_level'), pg_catalog.current_setting('max_replication_slots'), \
     pg_catalog.current_setting('max_wal_senders'), \
     coalesce(pg_catalog.current_setting('max_logical_replication_workers', true), ''), \
     pg_catalog.current_setting('server_encoding')";

/// The database's collation provider, collation and version (PostgreSQL 15+ records them).
const COLLATION_15: &str = "SELECT CASE datlocprovider WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' \
     ELSE 'libc' END, coalesce(daticulocale, datcollate)::text, coalesce(datcollversion, '') \
     FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()";
const COLLATION_17: &str = "SELECT CASE datlocprovider WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' \
     ELSE 'libc' END, coalesce(datlocale, datcollate)::text, coalesce(datcollversion, '') \
     FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()";
const COLLATION_OLD: &str = "SELECT 'libc', datcollate::text, '' FROM pg_catalog.pg_database \
     WHERE datname = pg_catalog.current_database()";

const PUBLICATIONS: &str =
    "SELECT pubname::text, puballtables FROM pg_catalog.pg_publication ORDER BY 1";
const SUBSCRIPTIONS: &str = "SELECT subname::text, subenabled, subslotname::text \
     FROM pg_catalog.pg_subscription \
     WHERE subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) \
     ORDER BY 1";
const SLOTS: &str =
    "SELECT slot_name::text, slot_type, active FROM pg_catalog.pg_replication_slots ORDER BY 1";
const STANDBYS: &str = "SELECT pg_catalog.count(*)::int FROM pg_catalog.pg_stat_replication";
const EXTENSIONS: &str = "SELECT extname::text, extversion FROM pg_catalog.pg_extension ORDER BY 1";

/// Schemas with at least one table (a partition counts for its parent's schema, not its
/// own), outside the system schemas.
const SCHEMAS: &str = "SELECT DISTINCT n.nspname::text FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
       AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' \
     ORDER BY 1";

/// Schemas with at least one sequence, outside the system schemas and extensions'.
const SEQUENCE_SCHEMAS: &str = "SELECT DISTINCT n.nspname::text FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'S' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' \
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d \
                       WHERE d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY 1";

/// Every table of schemas `$1` (a partition through its parent), with what `init` flags.
const TABLES: &str = "\
WITH t AS (
  SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY($1)
), parts AS (
  SELECT t.oid AS root, p.relid
  FROM t CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.oid) p
  WHERE t.relkind = 'p' AND p.isleaf
), members AS (
  SELECT oid AS root, oid AS relid FROM t WHERE relkind = 'r'
  UNION ALL SELECT root, relid FROM parts
), size AS (
  SELECT m.root, pg_catalog.sum(pg_catalog.pg_total_relation_size(m.relid))::bigint AS bytes,
         pg_catalog.sum(greatest(c.reltuples, 0))::bigint AS rows,
         pg_catalog.sum(CASE WHEN c.reltoastrelid <> 0
             THEN pg_catalog.pg_relation_size(c.reltoastrelid) ELSE 0 END)::bigint AS toast
  FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.relid GROUP BY m.root
), keys AS (
  SELECT DISTINCT ON (i.indrelid) i.indrelid, i.indisprimary,
         pg_catalog.array_agg(a.attname::text ORDER BY k.ord) AS cols
  FROM pg_catalog.pg_index i
  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
  WHERE i.indrelid IN (SELECT oid FROM t) AND i.indisunique AND i.indisvalid
    AND i.indpred IS NULL AND i.indexprs IS NULL
  GROUP BY i.indrelid, i.indexrelid, i.indisprimary
  HAVING pg_catalog.bool_and(a.attnotnull)
  ORDER BY i.indrelid, i.indisprimary DESC, pg_catalog.count(*), i.indexrelid
), cols AS (
  SELECT a.attrelid,
    pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.atttypid = 'pg_catalog.bytea'::pg_catalog.regtype) AS bytea,
    pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE co.collprovider = 'i') AS icu,
    pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE NOT co.collisdeterministic) AS nondet
  FROM pg_catalog.pg_attribute a
  LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
  WHERE a.attrelid IN (SELECT oid FROM t) AND a.attnum > 0 AND NOT a.attisdropped
  GROUP BY a.attrelid
), fks AS (
  SELECT t.oid,
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_constraint f WHERE f.contype = 'f' AND f.conrelid = t.oid)::int AS fk_out,
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_constraint f WHERE f.contype = 'f' AND f.confrelid = t.oid)::int AS fk_in
  FROM t
)
SELECT t.schema, t.name, coalesce(s.bytes, 0), coalesce(s.rows, 0), coalesce(s.toast, 0),
  (SELECT pg_catalog.count(*) FROM parts p WHERE p.root = t.oid)::int,
  k.indisprimary, k.cols,
  coalesce(c.bytea, '{}'), coalesce(c.icu, '{}'), coalesce(c.nondet, '{}'),
  f.fk_out, f.fk_in, pg_catalog.has_table_privilege(t.oid, 'SELECT')
FROM t
LEFT JOIN size s ON s.root = t.oid
LEFT JOIN keys k ON k.indrelid = t.oid
LEFT JOIN cols c ON c.attrelid = t.oid
LEFT JOIN fks f ON f.oid = t.oid
ORDER BY 1, 2";

/// Sequences of schemas `$1` and the column owning each (serial or identity).
const SEQUENCES: &str = "\
SELECT n.nspname::text, c.relname::text,
  (SELECT pg_catalog.format('%s.%s.%s', tn.nspname, tc.relname, a.attname)
   FROM pg_catalog.pg_depend d
   JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
   JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
   JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
   WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
   LIMIT 1)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname = ANY($1)
ORDER BY 1, 2";

/// Rows inserted, updated and deleted so far per table of schemas `$1` (partitions summed
/// into their root).
const CHANGES: &str = "\
SELECT rn.nspname::text, rc.relname::text,
  pg_catalog.sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del)::bigint
FROM pg_catalog.pg_stat_user_tables s
JOIN pg_catalog.pg_class rc ON rc.oid = coalesce(pg_catalog.pg_partition_root(s.relid), s.relid)
JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE rn.nspname = ANY($1)
GROUP BY 1, 2";

/// What a read waits for a lock another session holds (DDL's ACCESS EXCLUSIVE) before it
/// fails with the lock named, rather than waiting as long as the DDL does.
const LOCK_WAIT: &str = "SET lock_timeout = '10s'";

/// Bounds the side's wait for a lock another session holds (see [`LOCK_WAIT`]).
pub async fn bound_lock_waits(side: &Side<'_>) -> Result<(), InventoryError> {
    side.answer("set lock_timeout", side.client.batch_execute(LOCK_WAIT))
        .await
}

/// Starts the read-only transaction every inventory query runs in.
pub async fn begin_read_only(side: &Side<'_>) -> Result<(), InventoryError> {
    side.answer(
        "start a read-only transaction",
        side.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
    )
    .await
}

/// The server's facts.
pub async fn server(side: &Side<'_>) -> Result<Server, InventoryError> {
    let row = side.row("read the server's settings", SERVER).await?;
    let version_num: i32 = row.get(1);
    let mut settings = Vec::new();
    for (i, name) in [
        (3, "wal_level"),
        (4, "max_replication_slots"),
        (5, "max_wal_senders"),
        (6, "max_logical_replication_workers"),
        (7, "server_encoding"),
    ] {
        let v: String = row.get(i);
        if !v.is_empty() {
            settings.push((name.to_string(), v));
        }
    }
    let collation = collation(side, version_num).await?;
    let publications = side
        .rows("list publications", PUBLICATIONS, &[], |r| {
            (r.get(0), r.get(1))
        })
        .await?;
    let (subscriptions, slots) = replication(side).await?;
    let standbys: i32 = side.row("read pg_stat_replication", STANDBYS).await?.get(0);
    let extensions = side
        .rows("list extensions", EXTENSIONS, &[], |r| (r.get(0), r.get(1)))
        .await?;
    Ok(Server {
        side: side.side.to_string(),
        at: side.at.to_string(),
        version: row.get(0),
        version_num,
        in_recovery: row.get(2),
        settings,
        collation,
        publications,
        subscriptions,
        slots,
        streaming_standbys: u32::try_from(standbys).unwrap_or(0),
        extensions,
    })
}

/// The database's collation in words: provider, name and (when known) version.
async fn collation(side: &Side<'_>, version_num: i32) -> Result<String, InventoryError> {
    let collation_sql = match version_num {
        170_000.. => COLLATION_17,
        150_000.. => COLLATION_15,
        _ => COLLATION_OLD,
    };
    let c = side
        .row("read the database's collation", collation_sql)
        .await?;
    let (provider, coll, ver): (String, String, String) = (c.get(0), c.get(1), c.get(2));
    Ok(if ver.is_empty() {
        format!("{provider} {coll}")
    } else {
        format!("{provider} {coll} (version {ver})")
    })
}

/// The server's subscriptions and replication slots (name, type, active).
async fn replication(
    side: &Side<'_>,
) -> Result<(Vec<Subscription>, Vec<(String, String, bool)>), InventoryError> {
    let subscriptions = side
        .rows("list subscriptions", SUBSCRIPTIONS, &[], |r| Subscription {
            name: r.get(0),
            enabled: r.get(1),
            slot: r.get(2),
        })
        .await?;
    let slots = side
        .rows("list replication slots", SLOTS, &[], |r| {
            (r.get(0), r.get(1), r.get(2))
        })
        .await?;
    Ok((subscriptions, slots))
}

/// The schemas with tables (outside the system schemas).
pub async fn schemas(side: &Side<'_>) -> Result<Vec<String>, InventoryError> {
    side.rows("list schemas", SCHEMAS, &[], |r| r.get(0)).await
}

/// The sequences of schemas `$1` this user may not read (`schema.name`): the sequences
/// check reads each one's value, and would fail at the gate. (The privilege is asked only
/// of a sequence: the planner may test the conditions in any order, and it errors on a
/// relation of another kind.)
const UNREADABLE_SEQUENCES: &str = "SELECT pg_catalog.format('%s.%s', n.nspname, c.relname) \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'S' AND n.nspname = ANY($1) \
       AND CASE WHEN c.relkind = 'S' \
                THEN NOT pg_catalog.has_sequence_privilege(c.oid, 'SELECT') ELSE false END \
     ORDER BY 1";

/// The sequences of `schemas` this user may not read, as `schema.name`.
pub async fn unreadable_sequences(
    side: &Side<'_>,
    schemas: &[String],
) -> Result<Vec<String>, InventoryError> {
    side.rows("list sequences", UNREADABLE_SEQUENCES, &[&schemas], |r| {
        r.get(0)
    })
    .await
}

/// Schemas with at least one sequence (a sequence may live apart from every table).
pub async fn sequence_schemas(side: &Side<'_>) -> Result<Vec<String>, InventoryError> {
    side.rows("list schemas", SEQUENCE_SCHEMAS, &[], |r| r.get(0))
        .await
}

/// The tables of `schemas`, and whether the user can read each.
pub async fn tables(
    side: &Side<'_>,
    schemas: &[String],
) -> Result<Vec<(Table, bool)>, InventoryError> {
    side.rows("list tables", TABLES, &[&schemas], |r| {
        let cols: Option<Vec<String>> = r.get(7);
        let primary: Option<bool> = r.get(6);
        let key = match (cols, primary) {
            (Some(c), Some(true)) => Key::Primary(c),
            (Some(c), _) => Key::Unique(c),
            (None, _) => Key::None,
        };
        let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
        let u = |i: usize| u32::try_from(r.get::<_, i32>(i)).unwrap_or(0);
        let table = Table {
            schema: r.get(0),
            name: r.get(1),
            bytes: n(2),
            rows: n(3),
            toast_bytes: n(4),
            partitions: u(5),
            key: Some(key),
            bytea_columns: r.get(8),
            icu_columns: r.get(9),
            nondeterministic_columns: r.get(10),
            fk_out: u(11),
            fk_in: u(12),
            changes_per_second: None,
            risks: Vec::new(),
        };
        (table, r.get::<_, bool>(13))
    })
    .await
}

/// The sequences of `schemas`.
pub async fn sequences(
    side: &Side<'_>,
    schemas: &[String],
) -> Result<Vec<Sequence>, InventoryError> {
    side.rows("list sequences", SEQUENCES, &[&schemas], |r| Sequence {
        schema: r.get(0),
        name: r.get(1),
        owned_by: r.get(2),
    })
    .await
}

/// Rows changed so far per `(schema, table)` (read outside the inventory's transaction, so
/// two readings see the statistics move).
pub async fn changes(
    side: &Side<'_>,
    schemas: &[String],
) -> Result<BTreeMap<(String, String), i64>, InventoryError> {
    side.rows("read pg_stat_user_tables", CHANGES, &[&schemas], |r| {
        (
            (r.get(0), r.get(1)),
            r.get::<_, Option<i64>>(2).unwrap_or(0),
        )
    })
    .await
}
