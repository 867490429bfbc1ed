//! Setting up a table check (`count`, `checksum`): server versions, both tables resolved,
//! columns and key chosen, SQL built per side, and the two pinned snapshots.

use std::time::Instant;

use futures::{StreamExt, stream};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::columns::{self, Plan};
use super::partition::{self, Range};
use super::settings::{self, Pinning};
use super::sql::{Bounds, TableSql, range_params};
use super::{Cx, Phase, ReconcileError, ReconcileResult};

/// One side of a table check.
pub struct Side<'a> {
    /// `source` or `target`.
    pub label: &'static str,
    /// The side's connection, inside its snapshot.
    pub client: &'a Client,
    /// The statements for this side's table and columns.
    pub sql: TableSql,
}

/// Count and digest of one range on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHash {
    /// How many rows the side has in the range.
    pub count: i64,
    /// sha256 of the row texts (`None` for count-only passes and empty ranges).
    pub digest: Option<Vec<u8>>,
}

/// Prepared statements for the four bound combinations (indexed by [`Bounds::index`]).
pub type Prepared = Vec<Statement>;

/// A range's digest on one side and how long its statement took.
type Timed = Result<(PartHash, std::time::Duration), ReconcileError>;

/// Sends a side's results on `tx` until they end, one fails, or nobody listens.
async fn feed<S: futures::Stream<Item = Timed>>(st: S, tx: tokio::sync::mpsc::Sender<Timed>) {
    let mut st = std::pin::pin!(st);
    while let Some(x) = st.next().await {
        let failed = x.is_err();
        if tx.send(x).await.is_err() || failed {
            break;
        }
    }
}

/// Ranges one side may be ahead of the other in a range pass.
const LOOKAHEAD: usize = 32;

/// One session per side and its prepared statements: a lane of a range pass.
type Lane<'x> = (&'x Side<'x>, &'x Side<'x>, &'x Prepared, &'x Prepared);

/// Which per-range statement to prepare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeQuery {
    /// Count and digest.
    Checksum,
    /// Count only.
    Count,
}

impl Side<'_> {
    /// Prepares the per-range statements.
    pub async fn prepare(&self, q: RangeQuery) -> Result<Prepared, ReconcileError> {
        let texts: Vec<String> = Bounds::ALL
            .iter()
            .map(|b| match q {
                RangeQuery::Checksum => self.sql.checksum(*b),
                RangeQuery::Count => self.sql.count(*b),
            })
            .collect();
        futures::future::try_join_all(texts.iter().map(|t| self.client.prepare(t)))
            .await
            .map_err(ReconcileError::sql(self.label, "prepare the range query"))
    }

    /// [`Side::range`] and how long it took from when it was sent (queueing behind the
    /// statements pipelined before it included).
    pub async fn timed_range(
        &self,
        stmts: &Prepared,
        r: &Range,
    ) -> Result<(PartHash, std::time::Duration), ReconcileError> {
        let t0 = Instant::now();
        self.range(stmts, r).await.map(|h| (h, t0.elapsed()))
    }

    /// Runs a prepared range statement.
    pub async fn range(&self, stmts: &Prepared, r: &Range) -> Result<PartHash, ReconcileError> {
        let values = range_params(r);
        let params: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let stmt = &stmts[Bounds::of(r).index()];
        let row = self
            .client
            .query_one(stmt, &params)
            .await
            .map_err(ReconcileError::sql(self.label, "compare a key range"))?;
        Ok(PartHash {
            count: row.get(0),
            digest: if row.len() > 1 { row.get(1) } else { None },
        })
    }
}

/// Both sides of a table check.
pub struct Table<'a> {
    /// Source side.
    pub source: Side<'a>,
    /// Target side.
    pub target: Side<'a>,
    /// The source's `reltuples`.
    pub reltuples: f64,
    /// The source table is partitioned: results say which partition each difference is in.
    pub partitioned: bool,
    /// Compared columns and key.
    pub plan: Plan,
    /// Session pinning.
    pub pinning: Pinning,
    /// Average bytes of a compared row's text on the source (a sample), 0 when unknown:
    /// ranges and drill-downs are sized by it as well as by rows.
    pub row_bytes: u64,
}

/// Bytes of row text one range statement (or one drill-down fetch) handles at most: a
/// server builds the range's text in memory (at most 1 GB), the drill-down brings it here.
pub const MAX_RANGE_BYTES: u64 = 64 * 1024 * 1024;

/// Rows sampled from the source to learn how wide a row is.
const WIDTH_SAMPLE: i64 = 50;

impl Table<'_> {
    /// At most `rows` rows, and no more than [`MAX_RANGE_BYTES`] of them.
    pub fn rows_within_bytes(&self, rows: u64) -> u64 {
        match MAX_RANGE_BYTES.checked_div(self.row_bytes) {
            Some(fit) => rows.min(fit.max(1)),
            None => rows,
        }
    }
}

/// What a table check needs of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUse {
    /// Rows are matched by key (checksum drill-down): the key must be unique, or a row could
    /// hide behind its twin.
    Matches,
    /// The key only splits the table into ranges (count): every row falls in exactly one
    /// range whatever its twins, so a duplicate hides nothing.
    Ranges,
}

/// Opens a table check: sets it up ([`setup`]), opens the pinned snapshots, checks the key
/// is unique when rows are matched by it (`key_use`), and plans the key-range partitions
/// inside them. The caller ends the snapshots ([`Table::end`]); if planning fails they are
/// ended here.
pub(crate) async fn open<'a>(
    cx: &Cx<'a>,
    res: &mut ReconcileResult,
    key_use: KeyUse,
) -> Result<(Table<'a>, Vec<Range>), ReconcileError> {
    cx.report(res, Phase::Planning);
    let mut t = setup(cx, res).await?;
    t.begin().await?;
    match row_width(&t).await {
        Ok(bytes) => t.row_bytes = bytes,
        Err(e) => {
            t.end().await;
            return Err(e);
        }
    }
    let unique = match key_use {
        KeyUse::Matches => super::integrity::key_is_unique(&t).await,
        KeyUse::Ranges => Ok(()),
    };
    let planned = match unique {
        Ok(()) => partition::plan_for(cx, &t, res).await,
        Err(e) => Err(e),
    };
    match planned {
        Ok(ranges) => Ok((t, ranges)),
        Err(e) => {
            t.end().await;
            Err(e)
        }
    }
}

/// The average length of a compared row's text over a sample of the source's rows.
pub(crate) async fn row_width(t: &Table<'_>) -> Result<u64, ReconcileError> {
    let q = format!(
        "SELECT pg_catalog.avg(pg_catalog.octet_length(s.r))::pg_catalog.int8 \
         FROM (SELECT {} AS r FROM {} LIMIT $1::pg_catalog.int8) s",
        t.source.sql.row_text, t.source.sql.relation
    );
    let row = t
        .source
        .client
        .query_one(&q, &[&WIDTH_SAMPLE])
        .await
        .map_err(ReconcileError::sql("source", "sample the row width"))?;
    Ok(row
        .get::<_, Option<i64>>(0)
        .map_or(0, |b| u64::try_from(b).unwrap_or(0)))
}

/// The check's table on both sides (`target_table` on the target, when given); a side without
/// it is an error naming it.
pub(crate) async fn tables(
    cx: &Cx<'_>,
) -> Result<(columns::TableInfo, columns::TableInfo), ReconcileError> {
    let check = cx.check;
    let table = check
        .table
        .as_deref()
        .ok_or_else(|| ReconcileError::Other("the check has no table".into()))?;
    let target_table = check.target_table.as_deref().unwrap_or(table);
    let (s, t) = futures::try_join!(
        columns::lookup(cx.source, "source", table),
        columns::lookup(cx.target, "target", target_table)
    )?;
    let s = s.ok_or_else(|| ReconcileError::Other(format!("source: no table {table}")))?;
    let t = t.ok_or_else(|| ReconcileError::Other(format!("target: no table {target_table}")))?;
    Ok((s, t))
}

/// Reads both catalogs and builds the check's SQL; fills the result's columns, key, notes
/// and versions.
pub(crate) async fn setup<'a>(
    cx: &Cx<'a>,
    res: &mut ReconcileResult,
) -> Result<Table<'a>, ReconcileError> {
    let check = cx.check;
    let (sv, tv) = cx.server_versions(res).await?;
    let (s, t) = tables(cx).await?;
    let mut plan = columns::plan(
        &s,
        &t,
        &check.key,
        check.columns.as_deref(),
        &check.exclude,
        (sv, tv),
    )?;
    res.key_columns = plan.key.iter().map(|k| k.name.clone()).collect();
    res.columns = plan.columns.iter().map(|c| c.name.clone()).collect();
    res.notes.extend(plan.notes.iter().cloned());
    // A checksum's range pass hashes each column with its type's own hash where exact.
    let row_hash = if check.kind == cutover_model::runbook::ReconcileKind::Checksum {
        let h = super::hashing::decide(
            (cx.source, cx.target),
            (&s, &t),
            (&plan.key, &mut plan.columns),
            (sv, tv),
            check.hash_text,
        )
        .await;
        res.hashing = h.columns;
        res.notes.extend(h.note);
        h.row_hash
    } else {
        None
    };
    Ok(Table {
        source: Side {
            label: "source",
            client: cx.source,
            sql: TableSql::new(s.qualified(), &plan.key, &plan.columns)
                .with_row_hash(row_hash.clone()),
        },
        target: Side {
            label: "target",
            client: cx.target,
            sql: TableSql::new(t.qualified(), &plan.key, &plan.columns).with_row_hash(row_hash),
        },
        reltuples: s.reltuples,
        partitioned: s.partitioned || t.partitioned,
        plan,
        row_bytes: 0,
        pinning: Pinning {
            extra_float_digits: settings::extra_float_digits(sv, tv),
            catalog_search_path: true,
            statement_timeout_ms: cx.statement_timeout_ms(),
            lock_timeout_ms: cx.lock_timeout_ms(),
        },
    })
}

impl Table<'_> {
    /// Opens the pinned snapshot on both sides.
    pub async fn begin(&self) -> Result<(), ReconcileError> {
        let r = futures::try_join!(
            settings::begin(self.source.client, "source", &self.pinning),
            settings::begin(self.target.client, "target", &self.pinning)
        );
        if r.is_err() {
            self.end().await;
        }
        r.map(drop)
    }

    /// Ends both snapshots.
    pub async fn end(&self) {
        futures::join!(
            settings::end(self.source.client),
            settings::end(self.target.client)
        );
    }

    /// `n` more sessions per side for `concurrency`, each in the snapshot of this check's
    /// sessions (exported by them), with the same pinned settings. `Err` with the reason
    /// when the snapshot cannot be shared (the check then runs on its own sessions).
    async fn open_lanes(&self, cx: &Cx<'_>, n: usize) -> Result<Vec<(Client, Client)>, String> {
        let Some((sc, tc)) = &cx.opts.sessions else {
            return Err("no connection settings to open more sessions with".into());
        };
        const EXPORT: &str = "SELECT pg_catalog.pg_export_snapshot()";
        let (ss, ts) = futures::try_join!(
            self.source.client.query_one(EXPORT, &[]),
            self.target.client.query_one(EXPORT, &[])
        )
        .map_err(|e| format!("cannot export the snapshot: {e}"))?;
        let (ss, ts): (String, String) = (ss.get(0), ts.get(0));
        let (sc, tc) = (
            sc.clone().with_application_name("cutover-reconcile"),
            tc.clone().with_application_name("cutover-reconcile"),
        );
        let mut lanes = Vec::with_capacity(n);
        for _ in 0..n {
            let (s, t) =
                futures::try_join!(sc.connect(), tc.connect()).map_err(|e| e.to_string())?;
            futures::join!(settings::guard_session(&s), settings::guard_session(&t));
            let (bs, bt) = (
                settings::begin_sql_in(&self.pinning, Some(&ss)),
                settings::begin_sql_in(&self.pinning, Some(&ts)),
            );
            futures::try_join!(s.batch_execute(&bs), t.batch_execute(&bt))
                .map_err(|e| format!("cannot import the snapshot: {e}"))?;
            lanes.push((s, t));
        }
        Ok(lanes)
    }

    /// Prepares `q` on both sides and runs it for every range ([`Table::compare_ranges`]),
    /// counting partitions and rows into `res` and reporting progress after each pair, which
    /// `each` sees first. Returns the prepared statements (to drill down with).
    pub(crate) async fn range_pass(
        &self,
        cx: &Cx<'_>,
        res: &mut ReconcileResult,
        q: RangeQuery,
        ranges: &[Range],
        each: &mut (dyn FnMut(&mut ReconcileResult, usize, &PartHash, &PartHash) + Send),
    ) -> Result<(Prepared, Prepared), ReconcileError> {
        cx.report(res, Phase::Comparing);
        let (ss, ts) = futures::try_join!(self.source.prepare(q), self.target.prepare(q))?;
        let mut pacer = super::throttle::Pacer::new(cx).await?;
        let wanted = cx.check.concurrency.unwrap_or(1).max(1) as usize;
        let extra = if wanted > 1 && ranges.len() > 1 {
            match self.open_lanes(cx, wanted - 1).await {
                Ok(l) => l,
                Err(why) => {
                    res.notes.push(format!(
                        "concurrency {wanted}: {why}; compared on one session per side"
                    ));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let sides: Vec<(Side<'_>, Side<'_>)> = extra
            .iter()
            .map(|(s, t)| {
                (
                    Side {
                        label: self.source.label,
                        client: s,
                        sql: self.source.sql.clone(),
                    },
                    Side {
                        label: self.target.label,
                        client: t,
                        sql: self.target.sql.clone(),
                    },
                )
            })
            .collect();
        let mut prepared = Vec::with_capacity(sides.len());
        for (s, t) in &sides {
            prepared.push(futures::try_join!(s.prepare(q), t.prepare(q))?);
        }
        let mut lanes: Vec<Lane<'_>> = vec![(&self.source, &self.target, &ss, &ts)];
        lanes.extend(
            sides
                .iter()
                .zip(&prepared)
                .map(|((s, t), (ps, pt))| (s, t, ps, pt)),
        );
        let r = Self::compare_on(
            &lanes,
            ranges,
            cx.opts.pipeline_depth,
            Some(&mut pacer),
            &mut |i, a, b| {
                res.partitions_done += 1;
                res.source_rows += u64::try_from(a.count).unwrap_or(0);
                res.target_rows += u64::try_from(b.count).unwrap_or(0);
                each(res, i, a, b);
                cx.report(res, Phase::Comparing);
            },
        )
        .await;
        for (s, t) in &extra {
            futures::join!(settings::end(s), settings::end(t));
        }
        r?;
        Ok((ss, ts))
    }

    /// Runs the range statement on both sides for every range (both servers at once, `depth`
    /// statements in flight per connection); `each` sees every finished pair in order, then
    /// `pacer` (if any) decides whether to wait before the next.
    pub async fn compare_ranges(
        &self,
        stmts: (&Prepared, &Prepared),
        ranges: &[Range],
        depth: usize,
        pacer: Option<&mut super::throttle::Pacer<'_>>,
        each: &mut (dyn FnMut(usize, &PartHash, &PartHash) + Send),
    ) -> Result<Vec<(PartHash, PartHash)>, ReconcileError> {
        let lanes: [Lane<'_>; 1] = [(&self.source, &self.target, stmts.0, stmts.1)];
        Self::compare_on(&lanes, ranges, depth, pacer, each).await
    }

    /// [`Table::compare_ranges`] over several sessions per side in one snapshot: range `i`
    /// goes to lane `i % lanes`, `depth` statements in flight per session.
    async fn compare_on(
        lanes: &[Lane<'_>],
        ranges: &[Range],
        depth: usize,
        mut pacer: Option<&mut super::throttle::Pacer<'_>>,
        each: &mut (dyn FnMut(usize, &PartHash, &PartHash) + Send),
    ) -> Result<Vec<(PartHash, PartHash)>, ReconcileError> {
        if let Some(p) = pacer.as_deref_mut()
            && p.holds_back()
        {
            return Self::compare_paced(lanes, ranges, p, each).await;
        }
        let n = lanes.len().max(1);
        let depth = depth.max(1) * n;
        let src = stream::iter(0..ranges.len())
            .map(|i| {
                let (s, _, ps, _) = lanes[i % n];
                s.timed_range(ps, &ranges[i])
            })
            .buffered(depth);
        let tgt = stream::iter(0..ranges.len())
            .map(|i| {
                let (_, t, _, pt) = lanes[i % n];
                t.timed_range(pt, &ranges[i])
            })
            .buffered(depth);
        // Each side runs ahead on its own (up to LOOKAHEAD ranges), so a range that is slow on
        // one side never leaves the other server idle; pairs are compared in order.
        let (stx, mut srx) = tokio::sync::mpsc::channel::<Timed>(LOOKAHEAD);
        let (ttx, mut trx) = tokio::sync::mpsc::channel::<Timed>(LOOKAHEAD);
        let pairs = async {
            let mut out = Vec::with_capacity(ranges.len());
            while out.len() < ranges.len() {
                let (Some(a), Some(b)) = (srx.recv().await, trx.recv().await) else {
                    return Err(ReconcileError::Other("a range pass ended early".into()));
                };
                let ((a, ta), (b, tb)) = (a?, b?);
                each(out.len(), &a, &b);
                if let Some(p) = pacer.as_deref_mut() {
                    p.pace(u64::try_from(a.count.max(b.count)).unwrap_or(0), ta.max(tb))
                        .await?;
                }
                out.push((a, b));
            }
            Ok(out)
        };
        let mut pairs = std::pin::pin!(pairs);
        let mut feeds = std::pin::pin!(futures::future::join(feed(src, stx), feed(tgt, ttx)));
        // The pairs decide; the feeds stop when their receiver is gone or a side failed.
        let mut fed = false;
        let out = loop {
            tokio::select! {
                r = &mut pairs => break r?,
                _ = &mut feeds, if !fed => fed = true,
            }
        };
        Ok(out)
    }

    /// A paced range pass (a rate, `adaptive` or `pause_when`): one range per session at a
    /// time, both sides at once; each pair is compared and paced, in order, before the next
    /// statements are sent. Nothing is read while the pacer waits, and each statement is timed
    /// alone (not queued behind others), so `adaptive` sees the servers' own latency.
    async fn compare_paced(
        lanes: &[Lane<'_>],
        ranges: &[Range],
        pacer: &mut super::throttle::Pacer<'_>,
        each: &mut (dyn FnMut(usize, &PartHash, &PartHash) + Send),
    ) -> Result<Vec<(PartHash, PartHash)>, ReconcileError> {
        let n = lanes.len().max(1);
        let mut out = Vec::with_capacity(ranges.len());
        for chunk in ranges.chunks(n) {
            let pairs = futures::future::try_join_all(chunk.iter().zip(lanes).map(
                |(r, &(s, t, ps, pt))| async move {
                    futures::try_join!(s.timed_range(ps, r), t.timed_range(pt, r))
                },
            ))
            .await?;
            for ((a, ta), (b, tb)) in pairs {
                each(out.len(), &a, &b);
                pacer
                    .pace(u64::try_from(a.count.max(b.count)).unwrap_or(0), ta.max(tb))
                    .await?;
                out.push((a, b));
            }
        }
        Ok(out)
    }
}
