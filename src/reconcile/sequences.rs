//! `kind = "sequences"`: every sequence of the listed schemas (and the listed sequences) on the
//! source, compared by the value the next `nextval()` would return: the target must be at or
//! ahead of the source (at or below for descending sequences). Logical replication does not
//! carry sequences, so this is the classic forgotten cutover step.

use tokio_postgres::Client;

use super::{
    ColumnDiff, Cx, Mismatch, MismatchClass, Phase, ReconcileError, ReconcileResult,
    SequenceCompare,
};
use cutover_model::ident::{quote_parts, split_qualified};

/// A sequence found on one side.
#[derive(Debug, Clone)]
struct Seq {
    schema: String,
    name: String,
}

impl Seq {
    fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

const SELECT: &str = "SELECT n.nspname::text, c.relname::text \
     FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
     WHERE c.relkind = 'S'";

async fn list(
    client: &Client,
    side: &str,
    schemas: &[String],
    names: &[String],
) -> Result<Vec<Seq>, ReconcileError> {
    let to_seq = |r: &tokio_postgres::Row| Seq {
        schema: r.get(0),
        name: r.get(1),
    };
    let mut out: Vec<Seq> = Vec::new();
    if !schemas.is_empty() {
        if side == "source" {
            crate::selection::schemas_exist(client, side, schemas).await?;
        }
        let q = format!("{SELECT} AND n.nspname = ANY($1::text[]) ORDER BY 1, 2");
        let rows = client
            .query(&q, &[&schemas])
            .await
            .map_err(ReconcileError::sql(side, "list sequences"))?;
        out.extend(rows.iter().map(to_seq));
    }
    for name in names {
        let parts = split_qualified(name);
        let (schema, rel) = match parts.as_slice() {
            [n] => (None, n.clone()),
            [s, n] => (Some(s.clone()), n.clone()),
            _ => {
                return Err(ReconcileError::Other(format!(
                    "cannot read sequence name {name:?}"
                )));
            }
        };
        let q = format!(
            "{SELECT} AND c.relname = $2 AND CASE WHEN $1::text IS NULL \
             THEN pg_catalog.pg_table_is_visible(c.oid) ELSE n.nspname = $1::text END"
        );
        let row = client
            .query_opt(&q, &[&schema, &rel])
            .await
            .map_err(ReconcileError::sql(side, "look up a sequence"))?;
        match row {
            Some(r) => {
                let s = to_seq(&r);
                if !out.iter().any(|o| o.schema == s.schema && o.name == s.name) {
                    out.push(s);
                }
            }
            None if side == "source" => {
                return Err(ReconcileError::Other(format!("source: no sequence {name}")));
            }
            None => {}
        }
    }
    Ok(out)
}

/// Where one sequence stands on one server: what it last handed out and what the next
/// `nextval()` returns. The `sequences` check and `sync_sequences` both read this, so they
/// agree on what "in sync" means: the target's next value at or past the source's (at or
/// below it for a descending sequence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencePosition {
    /// `last_value` as stored (the start value when the sequence was never used).
    pub last_value: i64,
    /// Whether `nextval()` has been called (false: it was never used, or reset with
    /// `setval(..., false)`).
    pub is_called: bool,
    /// The sequence's increment (negative: a descending sequence).
    pub increment: i64,
}

impl SequencePosition {
    /// The value the next `nextval()` returns.
    pub fn next_value(&self) -> i64 {
        if self.is_called {
            self.last_value.saturating_add(self.increment)
        } else {
            self.last_value
        }
    }

    /// Whether this sequence counts down.
    pub fn descending(&self) -> bool {
        self.increment < 0
    }

    /// Whether a target sequence whose next value is `target_next` is in sync with this
    /// (source) one: it will never hand out a value the source has handed out or is about to,
    /// that is, its next value is at or past the source's in the source's direction.
    pub fn covered_by(&self, target_next: i64) -> bool {
        if self.descending() {
            target_next <= self.next_value()
        } else {
            target_next >= self.next_value()
        }
    }
}

/// Reads where the sequence `schema.name` stands on one server (`side` names it in errors).
pub async fn sequence_position(
    client: &Client,
    side: &str,
    schema: &str,
    name: &str,
) -> Result<SequencePosition, ReconcileError> {
    let qualified = quote_parts(schema, name);
    let q = format!(
        "SELECT s.last_value, s.is_called, p.seqincrement FROM {qualified} s, pg_catalog.pg_sequence p \
         WHERE p.seqrelid = $1::text::pg_catalog.regclass"
    );
    let row = client
        .query_one(&q, &[&qualified])
        .await
        .map_err(ReconcileError::sql(
            side,
            &format!("read sequence {schema}.{name}"),
        ))?;
    Ok(SequencePosition {
        last_value: row.get(0),
        is_called: row.get(1),
        increment: row.get(2),
    })
}

/// Runs the check.
pub(crate) async fn run(cx: &Cx<'_>, res: &mut ReconcileResult) -> Result<(), ReconcileError> {
    cx.report(res, Phase::Comparing);
    let c = cx.check;
    let (src, tgt) = futures::try_join!(
        list(cx.source, "source", &c.schemas, &c.sequences),
        list(cx.target, "target", &c.schemas, &c.sequences)
    )?;
    if src.is_empty() {
        // A gate over nothing must not pass: say what selected nothing.
        return Err(ReconcileError::Other(format!(
            "no sequence to compare: {} select none on the source",
            crate::selection::describe(&c.schemas, &c.sequences, "sequences")
        )));
    }
    res.key_columns = vec!["sequence".into()];
    res.columns = vec!["next_value".into()];
    res.partitions_total = u32::try_from(src.len()).unwrap_or(u32::MAX);
    res.source_rows = src.len() as u64;
    res.target_rows = tgt.len() as u64;
    for s in &src {
        let t = tgt
            .iter()
            .find(|t| t.schema == s.schema && t.name == s.name);
        let sp = sequence_position(cx.source, "source", &s.schema, &s.name).await?;
        let tp = match t {
            Some(t) => Some(sequence_position(cx.target, "target", &t.schema, &t.name).await?),
            None => None,
        };
        let sv = sp.next_value();
        let tv = tp.as_ref().map(SequencePosition::next_value);
        let ok = tv.is_some_and(|tv| sp.covered_by(tv));
        res.sequences.push(SequenceCompare {
            name: s.display(),
            source_next: Some(sv),
            target_next: tv,
            ok,
        });
        if !ok {
            res.mismatch_total += 1;
            res.mismatches.push(Mismatch::new(
                vec![s.display()],
                if tv.is_none() {
                    MismatchClass::MissingOnTarget
                } else {
                    MismatchClass::Different
                },
                vec![ColumnDiff {
                    column: "next_value".into(),
                    source: Some(sv.to_string()),
                    target: tv.map(|v| v.to_string()),
                }],
                match tv {
                    None => format!("sequence {} missing on target", s.display()),
                    Some(tv) => format!(
                        "sequence {}: target would hand out {tv}, source {sv} (target behind)",
                        s.display()
                    ),
                },
            ));
        }
        res.partitions_done += 1;
        cx.report(res, Phase::Comparing);
    }
    let only_target: Vec<String> = tgt
        .iter()
        .filter(|t| !src.iter().any(|s| s.schema == t.schema && s.name == t.name))
        .map(Seq::display)
        .collect();
    if !only_target.is_empty() {
        res.notes.push(format!(
            "sequences only on the target: {}",
            only_target.join(", ")
        ));
    }
    Ok(())
}
