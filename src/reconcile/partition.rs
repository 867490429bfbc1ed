//! Key ranges. Boundaries come from the source's key distribution and are applied identically
//! to both sides: a single integer key is split evenly between its min and max; any other key
//! (text, uuid, timestamps, composite) at every N-th key in `COLLATE "C"` order. The first
//! range has no lower bound and the last no upper bound, so target rows outside the source's
//! key span are compared too.

use tokio_postgres::Client;

use super::ReconcileError;
use super::sql::{Bounds, TableSql, range_params};

/// The key values of a boundary, as text.
pub type KeyText = Vec<String>;

/// Upper bound on the number of partitions.
pub const MAX_PARTITIONS: u64 = 100_000;

/// Keys `> lo` and `<= hi` (in key order); a missing bound is open.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// Exclusive lower bound.
    pub lo: Option<KeyText>,
    /// Inclusive upper bound.
    pub hi: Option<KeyText>,
}

impl Range {
    /// The whole key space.
    pub fn all() -> Range {
        Range { lo: None, hi: None }
    }

    /// `(lo, hi]` for messages.
    pub fn describe(&self) -> String {
        let show = |k: &Option<KeyText>, open: &str| match k {
            None => open.to_string(),
            Some(v) if v.len() == 1 => v[0].clone(),
            Some(v) => format!("({})", v.join(", ")),
        };
        format!("({}, {}]", show(&self.lo, "-∞"), show(&self.hi, "+∞"))
    }
}

/// Consecutive ranges split at `bounds` (ascending): `(-∞, b0], (b0, b1], …, (bn, +∞)`.
pub fn ranges_from_bounds(bounds: Vec<KeyText>) -> Vec<Range> {
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut lo = None;
    for b in bounds {
        out.push(Range {
            lo: lo.clone(),
            hi: Some(b.clone()),
        });
        lo = Some(b);
    }
    out.push(Range { lo, hi: None });
    out
}

/// Upper bounds splitting `min..=max` into `n` even integer ranges.
pub fn integer_bounds(min: i128, max: i128, n: u64) -> Vec<i128> {
    let span = max - min + 1;
    if span <= 0 {
        return Vec::new();
    }
    let n = i128::from(n.max(1)).min(span);
    let mut out: Vec<i128> = (1..n).map(|i| min - 1 + (span * i + n - 1) / n).collect();
    out.dedup();
    out
}

/// Plans the key ranges of a table check from the source's key distribution and records how
/// many there are in the result.
pub(crate) async fn plan_for(
    cx: &super::Cx<'_>,
    t: &super::table::Table<'_>,
    res: &mut super::ReconcileResult,
) -> Result<Vec<Range>, ReconcileError> {
    // Wide rows make fewer rows per range: a range's text must fit in server memory.
    let per = t.rows_within_bytes(cx.opts.rows_per_partition);
    let ranges = plan(
        t.source.client,
        &t.source.sql,
        t.reltuples,
        cx.check.partitions,
        per,
    )
    .await?;
    if per < cx.opts.rows_per_partition && cx.check.partitions.is_none() {
        res.notes.push(format!(
            "rows average {} of text: {per} rows per range (at most {} MB each)",
            bytes_text(t.row_bytes),
            super::table::MAX_RANGE_BYTES / (1024 * 1024)
        ));
    }
    res.partitions_total = u32::try_from(ranges.len()).unwrap_or(u32::MAX);
    Ok(ranges)
}

/// `n` bytes for a note: `1.0 MB`, `340 B`.
fn bytes_text(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.1} kB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Plans the partitions of a table from the source: `requested` partitions, or one per
/// `rows_per_partition` rows.
pub async fn plan(
    client: &Client,
    sql: &TableSql,
    reltuples: f64,
    requested: Option<u32>,
    rows_per_partition: u64,
) -> Result<Vec<Range>, ReconcileError> {
    let per = rows_per_partition.max(1);
    let estimate = if reltuples > 0.0 {
        Some(reltuples as u64)
    } else {
        None
    };
    // A table the statistics put within one range is one range: no boundaries to read.
    if requested.is_none() && estimate.is_some_and(|e| e <= per) {
        return Ok(vec![Range::all()]);
    }
    if sql.key.len() == 1 && sql.key[0].integer {
        let row = client
            .query_one(&sql.min_max(), &[])
            .await
            .map_err(ReconcileError::sql("source", "read the key's min and max"))?;
        let (min, max): (Option<String>, Option<String>) = (row.get(0), row.get(1));
        let (Some(min), Some(max)) = (min, max) else {
            return Ok(vec![Range::all()]);
        };
        let parse = |s: &str| {
            s.parse::<i128>()
                .map_err(|_| ReconcileError::Other(format!("odd integer key value {s:?}")))
        };
        let (min, max) = (parse(&min)?, parse(&max)?);
        let span = u64::try_from(max - min + 1).unwrap_or(u64::MAX);
        let n = match requested {
            Some(n) => u64::from(n),
            None => estimate.unwrap_or(span).div_ceil(per),
        }
        .clamp(1, MAX_PARTITIONS);
        let bounds = integer_bounds(min, max, n)
            .into_iter()
            .map(|b| vec![b.to_string()])
            .collect();
        return Ok(ranges_from_bounds(bounds));
    }
    let step = match requested {
        None => per,
        Some(n) => {
            let rows = match estimate {
                Some(e) => e,
                None => count_rows(client, sql).await?,
            };
            rows.div_ceil(u64::from(n.max(1))).max(1)
        }
    };
    let mut bounds = boundaries(client, "source", sql, &Range::all(), step).await?;
    if let Some(n) = requested {
        bounds.truncate(usize::try_from(n.max(1) - 1).unwrap_or(usize::MAX));
    }
    Ok(ranges_from_bounds(bounds))
}

async fn count_rows(client: &Client, sql: &TableSql) -> Result<u64, ReconcileError> {
    let n: i64 = client
        .query_one(&sql.count(Bounds::ALL[0]), &[])
        .await
        .map_err(ReconcileError::sql("source", "count rows"))?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Key values of every `step`-th row of `range` on one side, in key order.
pub async fn boundaries(
    client: &Client,
    side: &str,
    sql: &TableSql,
    range: &Range,
    step: u64,
) -> Result<Vec<KeyText>, ReconcileError> {
    let step = i64::try_from(step.max(1)).unwrap_or(i64::MAX);
    let text = sql.boundaries(Bounds::of(range));
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
    let values = range_params(range);
    for v in &values {
        params.push(v);
    }
    params.push(&step);
    let rows = client
        .query(&text, &params)
        .await
        .map_err(ReconcileError::sql(side, "find key-range boundaries"))?;
    Ok(rows
        .iter()
        .map(|r| (0..sql.key.len()).map(|i| r.get::<_, String>(i)).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_integer_spans_evenly() {
        assert_eq!(integer_bounds(1, 100, 4), [25, 50, 75]);
        assert_eq!(integer_bounds(1, 3, 10), [1, 2]);
        assert_eq!(integer_bounds(5, 5, 3), Vec::<i128>::new());
        assert_eq!(integer_bounds(-10, 9, 2), [-1]);
        let r = ranges_from_bounds(vec![vec!["5".into()]]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].describe(), "(-∞, 5]");
        assert_eq!(r[1].describe(), "(5, +∞]");
        assert_eq!(ranges_from_bounds(Vec::new()), vec![Range::all()]);
    }
}
