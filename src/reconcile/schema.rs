//! `kind = "schema"`: the structure of the listed tables (or every table of the listed
//! schemas) on both sides: columns (type, nullability, default), constraints (primary key,
//! unique, foreign key, check, exclusion; by name and definition), indexes (by name and
//! definition) and user triggers (definition and enabled state). Every difference is one
//! mismatch naming the table and the object.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::{Client, Row};

use super::columns;
use super::{ColumnDiff, Cx, Mismatch, MismatchClass, Phase, ReconcileError, ReconcileResult};

/// One table's structure: object (`column x`, `index y`...) → attribute → value.
type Shape = BTreeMap<String, Attributes>;

async fn tables_of(
    client: &Client,
    side: &str,
    schemas: &[String],
) -> Result<Vec<String>, ReconcileError> {
    let rows = client
        .query(
            "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r','p') AND NOT c.relispartition AND n.nspname = ANY($1::text[]) \
             ORDER BY 1",
            &[&schemas],
        )
        .await
        .map_err(ReconcileError::sql(side, "list tables"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// One object's attributes: attribute (`type`, `definition`...) → value.
type Attributes = BTreeMap<&'static str, Option<String>>;

/// One reading of the catalog for a table's objects: its query (`$1` the table's oid), what
/// a failure says it was reading, and how one row becomes an object's name and attributes.
struct Reading {
    sql: &'static str,
    what: &'static str,
    object: fn(&Row) -> (String, Attributes),
}

/// What [`shape`] reads, in this order: each column as `column NAME` (type, nullability,
/// default, collation); each primary key, unique, foreign key, check and exclusion
/// constraint as `KIND NAME` with its definition; each index as `index NAME`, and each index
/// of its partitions as `partition PART index NAME` (a partitioned table's own index list
/// does not show an index that exists on one partition only), with its definition; each user
/// trigger as `trigger NAME`: its definition and whether (and when) it fires.
const READINGS: [Reading; 5] = [
    Reading {
        sql: "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                     a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                     CASE WHEN a.attcollation = 0 THEN NULL \
                          ELSE cn.nspname::text || '.' || co.collname::text END \
              FROM pg_catalog.pg_attribute a \
              LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
              LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
              LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
        what: "read columns",
        object: |r| {
            let notnull: bool = r.get(2);
            (
                format!("column {}", r.get::<_, String>(0)),
                BTreeMap::from([
                    ("type", Some(r.get::<_, String>(1))),
                    (
                        "nullable",
                        Some(if notnull { "NOT NULL" } else { "NULL" }.to_string()),
                    ),
                    ("default", r.get(3)),
                    ("collation", r.get(4)),
                ]),
            )
        },
    },
    Reading {
        sql: "SELECT conname::text, CASE contype WHEN 'p' THEN 'primary key' \
                     WHEN 'u' THEN 'unique' WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' \
                     ELSE 'exclusion' END, \
                     pg_catalog.pg_get_constraintdef(oid) \
              FROM pg_catalog.pg_constraint WHERE conrelid = $1 AND contype IN ('p','u','f','c','x')",
        what: "read constraints",
        object: |r| {
            (
                format!("{} {}", r.get::<_, String>(1), r.get::<_, String>(0)),
                BTreeMap::from([("definition", r.get(2))]),
            )
        },
    },
    Reading {
        sql: "SELECT ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid) \
              FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
              WHERE i.indrelid = $1",
        what: "read indexes",
        object: |r| {
            (
                format!("index {}", r.get::<_, String>(0)),
                BTreeMap::from([("definition", r.get(1))]),
            )
        },
    },
    Reading {
        sql: "SELECT pc.relname::text, ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid) \
              FROM pg_catalog.pg_partition_tree($1::pg_catalog.oid::pg_catalog.regclass) p \
              JOIN pg_catalog.pg_class pc ON pc.oid = p.relid \
              JOIN pg_catalog.pg_index i ON i.indrelid = p.relid \
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
              WHERE p.relid <> $1::pg_catalog.oid::pg_catalog.regclass",
        what: "read the partitions' indexes",
        object: |r| {
            (
                format!(
                    "partition {} index {}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1)
                ),
                BTreeMap::from([("definition", r.get(2))]),
            )
        },
    },
    Reading {
        sql: "SELECT tgname::text, pg_catalog.pg_get_triggerdef(oid), \
                     CASE tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica' \
                     WHEN 'A' THEN 'always' ELSE 'origin' END \
              FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal",
        what: "read triggers",
        object: |r| {
            (
                format!("trigger {}", r.get::<_, String>(0)),
                BTreeMap::from([("definition", r.get(1)), ("enabled", r.get(2))]),
            )
        },
    },
];

/// The structure of table `oid` on one side: every [`READINGS`] in turn.
async fn shape(client: &Client, side: &str, oid: u32) -> Result<Shape, ReconcileError> {
    let mut out = Shape::new();
    for reading in &READINGS {
        for r in client
            .query(reading.sql, &[&oid])
            .await
            .map_err(ReconcileError::sql(side, reading.what))?
        {
            let (name, attributes) = (reading.object)(&r);
            out.insert(name, attributes);
        }
    }
    Ok(out)
}

fn show(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "none".into())
}

/// The differences between two tables' shapes.
fn compare(table: &str, s: &Shape, t: &Shape) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let objects: BTreeSet<&String> = s.keys().chain(t.keys()).collect();
    for obj in objects {
        let key = vec![table.to_string(), obj.clone()];
        match (s.get(obj), t.get(obj)) {
            (Some(a), None) | (None, Some(a)) => {
                let missing = t.get(obj).is_none();
                let class = if missing {
                    MismatchClass::MissingOnTarget
                } else {
                    MismatchClass::ExtraOnTarget
                };
                out.push(Mismatch::new(
                    key,
                    class,
                    a.iter()
                        .map(|(k, v)| ColumnDiff {
                            column: (*k).to_string(),
                            source: if missing { v.clone() } else { None },
                            target: if missing { None } else { v.clone() },
                        })
                        .collect(),
                    format!("{table}: {obj} {}", class.label()),
                ));
            }
            (Some(a), Some(b)) if a != b => {
                let diffs: Vec<ColumnDiff> = a
                    .iter()
                    .filter(|(k, v)| b.get(*k) != Some(*v))
                    .map(|(k, v)| ColumnDiff {
                        column: (*k).to_string(),
                        source: v.clone(),
                        target: b.get(k).cloned().flatten(),
                    })
                    .collect();
                let detail = diffs
                    .iter()
                    .map(|d| {
                        format!(
                            "{} {}: {} → {}",
                            obj,
                            d.column,
                            show(&d.source),
                            show(&d.target)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                out.push(Mismatch::new(
                    key,
                    MismatchClass::Different,
                    diffs,
                    format!("{table}: {detail}"),
                ));
            }
            _ => {}
        }
    }
    out
}

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Comparing);
    let c = cx.check;
    let mut names: Vec<String> = c.tables.clone();
    if !c.schemas.is_empty() {
        crate::selection::schemas_exist(cx.source, "source", &c.schemas).await?;
        let (a, b) = futures::try_join!(
            tables_of(cx.source, "source", &c.schemas),
            tables_of(cx.target, "target", &c.schemas)
        )?;
        for n in a.into_iter().chain(b) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    if names.is_empty() {
        return Err(ReconcileError::Other(format!(
            "no table to compare: {} select none",
            crate::selection::describe(&c.schemas, &c.tables, "tables")
        )));
    }
    res.key_columns = vec!["table".into(), "object".into()];
    res.columns = vec![
        "type".into(),
        "nullable".into(),
        "default".into(),
        "definition".into(),
    ];
    res.partitions_total = u32::try_from(names.len()).unwrap_or(u32::MAX);
    let (sv, tv) = cx.server_versions(res).await?;
    let (a, b) = futures::try_join!(
        database_locale(cx.source, "source", sv),
        database_locale(cx.target, "target", tv)
    )?;
    let found = compare("(database)", &a, &b);
    res.mismatch_total += found.len() as u64;
    res.mismatches.extend(found);
    for name in &names {
        let (s, t) = futures::try_join!(
            columns::lookup(cx.source, "source", name),
            columns::lookup(cx.target, "target", name)
        )?;
        let found: Vec<Mismatch> = match (s, t) {
            (None, None) => {
                return Err(ReconcileError::Other(format!(
                    "no table {name} on either side"
                )));
            }
            (Some(s), None) => vec![table_alone(
                name,
                &s.display(),
                MismatchClass::MissingOnTarget,
            )],
            (None, Some(t)) => vec![table_alone(
                name,
                &t.display(),
                MismatchClass::ExtraOnTarget,
            )],
            (Some(s), Some(t)) => {
                let (a, b) = futures::try_join!(
                    shape(cx.source, "source", s.oid),
                    shape(cx.target, "target", t.oid)
                )?;
                res.source_rows += a.len() as u64;
                res.target_rows += b.len() as u64;
                compare(&s.display(), &a, &b)
            }
        };
        res.mismatch_total += found.len() as u64;
        res.mismatches.extend(found);
        res.partitions_done += 1;
        cx.report(res, Phase::Comparing);
    }
    Ok(())
}

/// The database's default collation and character classification, and (PostgreSQL 15 on)
/// the locale provider and its locale: text sorts and compares by these.
async fn database_locale(
    client: &Client,
    side: &str,
    version: u32,
) -> Result<Shape, ReconcileError> {
    let provider = if version >= 150_000 {
        "CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' \
         ELSE d.datlocprovider::text END"
    } else {
        "'libc'"
    };
    let locale = match version {
        170_000.. => "d.datlocale::text",
        150_000.. => "d.daticulocale::text",
        _ => "NULL::text",
    };
    let row = client
        .query_one(
            &format!(
                "SELECT d.datcollate::text, d.datctype::text, {provider}, {locale} \
                 FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()"
            ),
            &[],
        )
        .await
        .map_err(ReconcileError::sql(side, "read the database's collation"))?;
    Ok(Shape::from([(
        "default collation".to_string(),
        BTreeMap::from([
            ("collate", row.get(0)),
            ("ctype", row.get(1)),
            ("provider", row.get(2)),
            ("locale", row.get(3)),
        ]),
    )]))
}

fn table_alone(name: &str, display: &str, class: MismatchClass) -> Mismatch {
    Mismatch::new(
        vec![name.to_string(), "table".into()],
        class,
        Vec::new(),
        format!("table {display} {}", class.label()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_difference() {
        let col = |ty: &str, nn: &str| {
            BTreeMap::from([
                ("type", Some(ty.to_string())),
                ("nullable", Some(nn.to_string())),
                ("default", None),
            ])
        };
        let s = Shape::from([
            ("column id".into(), col("integer", "NOT NULL")),
            ("column v".into(), col("text", "NULL")),
            (
                "index t_v_idx".into(),
                BTreeMap::from([("definition", Some("CREATE INDEX t_v_idx ON t (v)".into()))]),
            ),
        ]);
        let t = Shape::from([
            ("column id".into(), col("bigint", "NOT NULL")),
            ("column v".into(), col("text", "NOT NULL")),
        ]);
        let m = compare("public.t", &s, &t);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].detail, "public.t: column id type: integer → bigint");
        assert_eq!(m[1].detail, "public.t: column v nullable: NULL → NOT NULL");
        assert_eq!(m[2].class, MismatchClass::MissingOnTarget);
        assert_eq!(m[2].key, ["public.t", "index t_v_idx"]);
    }
}
