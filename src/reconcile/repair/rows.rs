//! Reading a table's rows again by key, on one side, in the pinned snapshot: the key's text,
//! the wanted columns' text and the whole row's `md5` (the guard of a patch statement).

use std::collections::BTreeMap;

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use crate::ReconcileError;
use crate::columns::{Column, TableInfo};
use cutover_model::ident::quote_ident;

/// One row read again.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// The wanted columns' text (`None`: NULL), in the order asked.
    pub values: Vec<Option<String>>,
    /// `md5` of the whole row's text.
    pub hash: String,
    /// The row's own key, as its text (`None`: NULL): an equal key may be written otherwise
    /// (`1.50` for `1.5`), or be another row's under a case-insensitive equality.
    pub key: Vec<Option<String>>,
}

/// `t."c"::text` for each of `cols`.
fn texts(cols: &[&Column]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|c| format!("t.{}::pg_catalog.text", quote_ident(&c.name)))
        .collect();
    format!("ARRAY[{}]::pg_catalog.text[]", parts.join(", "))
}

/// Reads the rows of `info` whose key (`key`, in key order) is one of `keys`, with the text
/// of `cols`; by the key asked for, not the row's own key text: a key equal in value but
/// written otherwise on this side (`numeric` `1.50` for the source's `1.5`) is the same row,
/// never one missing here (whose patch would delete the row the source has).
pub(super) async fn read(
    client: &Client,
    side: &str,
    info: &TableInfo,
    key: &[&Column],
    cols: &[&Column],
    keys: &[Vec<String>],
) -> Result<BTreeMap<Vec<String>, Row>, ReconcileError> {
    let key_cols: Vec<String> = key
        .iter()
        .map(|c| format!("t.{}", quote_ident(&c.name)))
        .collect();
    let casts: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, c)| format!("u.a{i}::{}", c.type_sql()))
        .collect();
    let arrays: Vec<String> = (0..key.len())
        .map(|i| format!("pg_catalog.unnest(${}::pg_catalog.text[])", i + 1))
        .collect();
    let names: Vec<String> = (0..key.len()).map(|i| format!("a{i}")).collect();
    let sql = format!(
        "SELECT u.ord, {}, pg_catalog.md5(ROW(t.*)::pg_catalog.text), {} FROM {} AS t \
         JOIN ROWS FROM ({}) WITH ORDINALITY AS u({}, ord) ON ({}) = ({})",
        texts(cols),
        texts(key),
        info.qualified(),
        arrays.join(", "),
        names.join(", "),
        key_cols.join(", "),
        casts.join(", "),
    );
    let columns: Vec<Vec<String>> = (0..key.len())
        .map(|i| {
            keys.iter()
                .map(|k| k.get(i).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> =
        columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
    let rows = client
        .query(&sql, &params)
        .await
        .map_err(ReconcileError::sql(
            side,
            "read the differing rows again by key",
        ))?;
    let mut out = BTreeMap::new();
    for r in rows {
        let ord: i64 = r.get(0);
        let Some(asked) = usize::try_from(ord - 1).ok().and_then(|i| keys.get(i)) else {
            continue;
        };
        let read = |e| ReconcileError::sql(side, "read the differing rows again by key")(e);
        out.insert(
            asked.clone(),
            Row {
                values: r.try_get(1).map_err(read)?,
                hash: r.try_get(2).map_err(read)?,
                key: r.try_get(3).map_err(read)?,
            },
        );
    }
    Ok(out)
}

/// The columns of a target table a patch may not write as it likes.
#[derive(Debug, Default)]
pub(super) struct Unwritable {
    /// `GENERATED ALWAYS AS (…) STORED`: computed by the server, never written.
    pub generated: Vec<String>,
    /// `GENERATED ALWAYS AS IDENTITY`: inserted with `OVERRIDING SYSTEM VALUE`, never updated.
    pub identity_always: Vec<String>,
}

/// Reads which columns of `info` are generated or identity-always.
pub(super) async fn unwritable(
    client: &Client,
    side: &str,
    info: &TableInfo,
) -> Result<Unwritable, ReconcileError> {
    let rows = client
        .query(
            "SELECT a.attname::pg_catalog.text, \
                    coalesce(pg_catalog.to_jsonb(a) ->> 'attgenerated', '') <> '', \
                    a.attidentity = 'a' \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&info.oid],
        )
        .await
        .map_err(ReconcileError::sql(
            side,
            "read the table's generated columns",
        ))?;
    let mut u = Unwritable::default();
    for r in rows {
        let name: String = r.get(0);
        if r.get::<_, bool>(1) {
            u.generated.push(name);
        } else if r.get::<_, bool>(2) {
            u.identity_always.push(name);
        }
    }
    Ok(u)
}
