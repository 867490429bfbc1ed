//! Preflight: before step 1, everything the runbook assumes about the world, checked
//! read-only — every connection reachable with its credentials (host:port/db, server version,
//! clock skew), the replication the `[lag]` method reads (the slot exists and is active, the
//! subscription is enabled, a standby streams), every table a reconcile check names on both
//! sides with its key, the `--approve` roles, the window, and room for the journal. Each server
//! gets [`SERVER_WITHIN`] to answer: a preflight never hangs.

// `unsafe` here: statvfs through libc (the room left for the journal).
#![allow(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use cutover_model::ident::split_qualified;
use cutover_model::narrate;
use cutover_model::preflight::{Finding, Verdict};
use cutover_model::runbook::{LagConfig, ReconcileCheck, Runbook, spec::LagMethod};
use cutover_pg::ConnSettings;

/// How long one server has to connect and answer all of preflight's questions.
pub const SERVER_WITHIN: Duration = Duration::from_secs(5);

/// A clock further off than this from a server's is worth a warning (durations, windows and
/// `changed_since` rounds mix this machine's time with the server's).
const SKEW_WARN: Duration = Duration::from_secs(5);

/// Below this much free space beside the journal, the run does not start; below
/// [`ROOM_WARN`], it is told.
const ROOM_FAIL: u64 = 64 << 20;
const ROOM_WARN: u64 = 1 << 30;

/// What preflight checks.
pub struct Input<'a> {
    /// The runbook, validated.
    pub rb: &'a Runbook,
    /// Its connections, resolved (secrets read).
    pub conns: &'a BTreeMap<String, ConnSettings>,
    /// `--approve ROLE=NAME` given up front; `None`: not checked here (`run` refuses a bad
    /// one before the engine starts).
    pub approvals: Option<&'a [(String, String)]>,
    /// Where the journal will be written.
    pub journal: &'a Path,
    /// The journal must not exist yet: preflight before a new run (`cutover preflight`),
    /// whose `run` refuses an existing journal. False inside a run, which made it already.
    pub journal_new: bool,
    /// `--metrics-file`, when the run keeps one.
    pub metrics_file: Option<&'a Path>,
    /// Now, on this machine.
    pub now: DateTime<Utc>,
}

/// Runs every check; the findings in a fixed order (connections, lag, checks, the rest).
pub async fn run(input: &Input<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let reached = futures::future::join_all(
        input
            .conns
            .iter()
            .map(|(name, c)| connection(name, c, input.now)),
    )
    .await;
    let mut clients: BTreeMap<&str, Client> = BTreeMap::new();
    for ((name, _), (found, client)) in input.conns.iter().zip(reached) {
        findings.extend(found);
        if let Some(c) = client {
            clients.insert(name.as_str(), c);
        }
    }
    // A server that did not answer one check is not asked again: each would wait its own
    // SERVER_WITHIN, one after the other, and a preflight over many tables would take hours.
    let mut silent = BTreeSet::new();
    if let Some(lag) = &input.rb.lag {
        let on = lag.on.as_deref().unwrap_or("source");
        let servers: Vec<&str> = std::iter::once(on).chain(lag.target.as_deref()).collect();
        findings.extend(bounded(&servers, &mut silent, lag_prerequisites(lag, &clients)).await);
    }
    for check in &input.rb.reconcile {
        let servers = [check.source.as_str(), check.target.as_str()];
        findings.extend(bounded(&servers, &mut silent, reconcile_tables(check, &clients)).await);
    }
    let source = input
        .rb
        .reconcile
        .first()
        .map_or("source", |c| c.source.as_str());
    if let Some(client) = clients.get(source) {
        let f = coverage(input.rb, client, source);
        findings.extend(bounded(&[source], &mut silent, f).await);
    } else if !input.conns.contains_key(source) {
        // Coverage is read from the source; with none to read, say so rather than pass.
        findings.push(Finding::new(
            "coverage",
            coverage_verdict(input.rb),
            format!(
                "no connection {source} to read the tables from (no reconcile check names its source): what no check covers is unknown; name the source connection `source`, or add a reconcile check"
            ),
        ));
    }
    if let Some(approvals) = input.approvals {
        findings.push(sign_offs(input.rb, approvals));
    }
    if let Some(w) = &input.rb.window {
        findings.push(window(w.start, w.end(), input.now));
    }
    findings.push(journal_room(input.journal, input.journal_new));
    if let Some(path) = input.metrics_file {
        findings.push(match crate::metrics_file::check_path(path) {
            Ok(()) => Finding::new(
                "metrics file",
                Verdict::Pass,
                format!("{} can be rewritten each update", path.display()),
            ),
            Err(why) => Finding::new("metrics file", Verdict::Fail, why),
        });
    }
    findings
}

/// The `--approve` sign-offs given up front, each for a role of the runbook.
fn sign_offs(rb: &Runbook, approvals: &[(String, String)]) -> Finding {
    match rb.check_sign_offs(approvals) {
        Ok(()) if approvals.is_empty() => {
            Finding::new("sign-offs", Verdict::Pass, "none given up front")
        }
        Ok(()) => Finding::new(
            "sign-offs",
            Verdict::Pass,
            format!(
                "{} given up front, each for a role of the runbook",
                approvals.len()
            ),
        ),
        Err(why) => Finding::new("sign-offs", Verdict::Fail, why),
    }
}

/// `f`, which asks `servers`, within [`SERVER_WITHIN`], or a failure that names them; a
/// server in `silent` (it did not answer before) is not asked again, and one that does not
/// answer now joins it.
async fn bounded(
    servers: &[&str],
    silent: &mut BTreeSet<String>,
    f: impl Future<Output = Vec<Finding>>,
) -> Vec<Finding> {
    if let Some(s) = servers.iter().find(|s| silent.contains(**s)) {
        return vec![Finding::new(
            "server",
            Verdict::Fail,
            format!("{s}: a check on it did not answer before: not asked again"),
        )];
    }
    match tokio::time::timeout(SERVER_WITHIN, f).await {
        Ok(found) => found,
        Err(_) => {
            silent.extend(servers.iter().map(|s| s.to_string()));
            vec![Finding::new(
                "server",
                Verdict::Fail,
                format!(
                    "{}: no answer within {}s",
                    servers.join(" or "),
                    SERVER_WITHIN.as_secs()
                ),
            )]
        }
    }
}

/// Connects to `name` (within [`SERVER_WITHIN`]) and reads its version and clock.
async fn connection(
    name: &str,
    c: &ConnSettings,
    now: DateTime<Utc>,
) -> (Vec<Finding>, Option<Client>) {
    let what = format!("connection {name}");
    let at = c.target();
    let asked = async {
        let client = c.connect().await.map_err(|e| e.to_string())?;
        let row = client
            .query_one(
                "SELECT pg_catalog.current_setting('server_version'), pg_catalog.now(), \
                 pg_catalog.pg_is_in_recovery()",
                &[],
            )
            .await
            .map_err(|e| cutover_pg::conn::classify(&e).1)?;
        Ok::<_, String>((
            client,
            row.get::<_, String>(0),
            row.get::<_, DateTime<Utc>>(1),
            row.get::<_, bool>(2),
        ))
    };
    match tokio::time::timeout(SERVER_WITHIN, asked).await {
        Err(_) => (
            vec![Finding::new(
                &what,
                Verdict::Fail,
                format!("{at}: no answer within {}s", SERVER_WITHIN.as_secs()),
            )],
            None,
        ),
        Ok(Err(e)) if e.contains(&at) => (vec![Finding::new(&what, Verdict::Fail, e)], None),
        Ok(Err(e)) => (
            vec![Finding::new(&what, Verdict::Fail, format!("{at}: {e}"))],
            None,
        ),
        Ok(Ok((client, version, server_now, standby))) => {
            let role = if standby { ", a standby" } else { "" };
            let mut out = vec![Finding::new(
                &what,
                Verdict::Pass,
                format!("{at}: PostgreSQL {version}{role}"),
            )];
            out.extend(clock(name, server_now, now));
            (out, Some(client))
        }
    }
}

/// A warning when server `name`'s clock (`server_now`) is further than [`SKEW_WARN`] from this
/// machine's (`now`).
fn clock(name: &str, server_now: DateTime<Utc>, now: DateTime<Utc>) -> Option<Finding> {
    let skew = (server_now - now).num_milliseconds().unsigned_abs();
    (skew > SKEW_WARN.as_millis() as u64).then(|| {
        Finding::new(
            format!("clock {name}"),
            Verdict::Warn,
            format!(
                "the server's clock is {} {} this machine's",
                narrate::duration(skew),
                if server_now > now {
                    "ahead of"
                } else {
                    "behind"
                }
            ),
        )
    })
}

/// What the `[lag]` method reads exists and moves.
async fn lag_prerequisites(lag: &LagConfig, clients: &BTreeMap<&str, Client>) -> Vec<Finding> {
    let on = lag.on.as_deref().unwrap_or("source");
    let Some(client) = clients.get(on) else {
        return Vec::new(); // its connection failed already
    };
    match lag.method {
        LagMethod::Logical => {
            let slot = lag.slot.clone().unwrap_or_default();
            let mut out = vec![slot_state(client, on, &slot).await];
            if let Some(t) = lag
                .target
                .as_deref()
                .and_then(|t| clients.get(t).map(|c| (t, c)))
            {
                let sub = lag.subscription.clone().unwrap_or(slot);
                out.push(subscription_state(t.1, t.0, &sub).await);
            }
            out
        }
        LagMethod::Streaming => {
            vec![streaming_state(client, on, lag.application_name.as_deref()).await]
        }
        LagMethod::Heartbeat => {
            let table = lag.table.clone().unwrap_or_default();
            let mut out = vec![table_found(client, on, &table, "lag heartbeat table").await];
            if let Some(t) = lag
                .target
                .as_deref()
                .and_then(|t| clients.get(t).map(|c| (t, c)))
            {
                out.push(table_found(t.1, t.0, &table, "lag heartbeat table").await);
            }
            out
        }
        LagMethod::Sql | LagMethod::Command => vec![Finding::new(
            "lag",
            Verdict::Pass,
            "a user query or command: read when the run starts",
        )],
    }
}

async fn slot_state(client: &Client, on: &str, slot: &str) -> Finding {
    let check = Named {
        what: format!("lag slot {slot}"),
        sql: "SELECT active, slot_type::text FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
        missing: format!("no replication slot {slot} on {on}"),
        off: format!(
            "slot {slot} on {on} is not active: nothing consumes it (is the subscriber down?)"
        ),
    };
    named_state(client, on, slot, check, |r| {
        format!("{} slot on {on}, active", r.get::<_, String>(1))
    })
    .await
}

async fn subscription_state(client: &Client, on: &str, sub: &str) -> Finding {
    let check = Named {
        what: format!("lag subscription {sub}"),
        sql: "SELECT subenabled FROM pg_catalog.pg_subscription WHERE subname = $1",
        missing: format!("no subscription {sub} on {on}"),
        off: format!("subscription {sub} on {on} is disabled"),
    };
    named_state(client, on, sub, check, |_| format!("enabled on {on}")).await
}

/// A named object a lag probe reads (a slot, a subscription), looked up in the catalog by a
/// query whose first column says whether it is on.
struct Named {
    what: String,
    sql: &'static str,
    missing: String,
    off: String,
}

/// The finding for `name` on server `on`: an error, no such object, an object that is off, or
/// what `pass` says of its row.
async fn named_state(
    client: &Client,
    on: &str,
    name: &str,
    check: Named,
    pass: impl FnOnce(&tokio_postgres::Row) -> String,
) -> Finding {
    let Named {
        what,
        sql,
        missing,
        off,
    } = check;
    match client.query_opt(sql, &[&name]).await {
        Err(e) => Finding::new(
            what,
            Verdict::Fail,
            format!("{on}: {}", cutover_pg::conn::classify(&e).1),
        ),
        Ok(None) => Finding::new(what, Verdict::Fail, missing),
        Ok(Some(r)) if !r.get::<_, bool>(0) => Finding::new(what, Verdict::Fail, off),
        Ok(Some(r)) => Finding::new(what, Verdict::Pass, pass(&r)),
    }
}

async fn streaming_state(client: &Client, on: &str, app: Option<&str>) -> Finding {
    let row = client
        .query_one(
            // Physical standbys only: a logical subscription's walsender is in this view too
            // (its slot is logical), and is no standby.
            "SELECT count(*) FROM pg_catalog.pg_stat_replication r \
             WHERE ($1::text IS NULL OR r.application_name = $1::text) \
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots s \
                               WHERE s.active_pid = r.pid AND s.slot_type = 'logical')",
            &[&app],
        )
        .await;
    let what = "lag streaming";
    match row.map(|r| r.get::<_, i64>(0)) {
        Err(e) => Finding::new(
            what,
            Verdict::Fail,
            format!("{on}: {}", cutover_pg::conn::classify(&e).1),
        ),
        Ok(0) => Finding::new(
            what,
            Verdict::Fail,
            match app {
                Some(a) => format!("no standby {a} streams from {on}"),
                None => format!("no standby streams from {on}"),
            },
        ),
        Ok(n) => Finding::new(
            what,
            Verdict::Pass,
            format!(
                "{} streaming from {on}",
                narrate::count(n as u64, "standby")
            ),
        ),
    }
}

/// The oid of table `name` (`schema.table` or a visible `table`) on one server.
async fn table_oid(client: &Client, name: &str) -> Result<Option<u32>, String> {
    let parts = split_qualified(name);
    let (schema, rel) = match parts.as_slice() {
        [t] => (None, t.clone()),
        [s, t] => (Some(s.clone()), t.clone()),
        _ => return Err(format!("cannot read table name {name:?}")),
    };
    client
        .query_opt(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND CASE WHEN $1::text IS NULL \
             THEN pg_catalog.pg_table_is_visible(c.oid) ELSE n.nspname = $1::text END",
            &[&schema, &rel],
        )
        .await
        .map(|r| r.map(|r| r.get::<_, u32>(0)))
        .map_err(|e| cutover_pg::conn::classify(&e).1)
}

async fn table_found(client: &Client, on: &str, table: &str, what: &str) -> Finding {
    match table_oid(client, table).await {
        Ok(Some(_)) => Finding::new(format!("{what} {table}"), Verdict::Pass, format!("on {on}")),
        Ok(None) => Finding::new(
            format!("{what} {table}"),
            Verdict::Fail,
            format!("no table {table} on {on}"),
        ),
        Err(e) => Finding::new(
            format!("{what} {table}"),
            Verdict::Fail,
            format!("{on}: {e}"),
        ),
    }
}

/// A reconcile check's table on both sides, and its key.
async fn reconcile_tables(
    check: &ReconcileCheck,
    clients: &BTreeMap<&str, Client>,
) -> Vec<Finding> {
    let Some(table) = &check.table else {
        return Vec::new(); // query, sequences, schema, tables globs: read when the check runs
    };
    let target_table = check.target_table.as_ref().unwrap_or(table);
    let what = format!("check {}", check.name);
    let mut out = Vec::new();
    for (side, name) in [(&check.source, table), (&check.target, target_table)] {
        let Some(client) = clients.get(side.as_str()) else {
            // Its connection failed (said above): the table and key are not known, and that
            // is said rather than left out.
            out.push(Finding::new(
                &what,
                Verdict::Fail,
                format!("{side}: {name} not checked: no connection"),
            ));
            continue;
        };
        let oid = match table_oid(client, name).await {
            Ok(Some(oid)) => oid,
            Ok(None) => {
                out.push(Finding::new(
                    &what,
                    Verdict::Fail,
                    format!("no table {name} on {side}"),
                ));
                continue;
            }
            Err(e) => {
                out.push(Finding::new(&what, Verdict::Fail, format!("{side}: {e}")));
                continue;
            }
        };
        out.push(
            key_state(client, side, name, oid, &check.key)
                .await
                .unwrap_or_else(|e| Finding::new(&what, Verdict::Fail, format!("{side}: {e}"))),
        );
    }
    for f in &mut out {
        f.what.clone_from(&what);
    }
    out
}

/// The user tables (not partitions: their parent covers them) and sequences of the source,
/// outside the system schemas and extensions.
const LIST_RELATIONS: &str = "SELECT n.nspname::text, c.relname::text, c.relkind = 'S' \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p', 'S') AND NOT c.relispartition \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass \
                       AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY 1, 2";

/// What something no check covers is: a failure under `coverage = "strict"`, else a warning.
fn coverage_verdict(rb: &Runbook) -> Verdict {
    match rb.coverage {
        cutover_model::runbook::spec::Coverage::Strict => Verdict::Fail,
        cutover_model::runbook::spec::Coverage::Warn => Verdict::Warn,
    }
}

/// The tables and sequences of the source that no reconcile check compares and no
/// `exclude_tables` names: a warning, or with `coverage = "strict"` a failure.
async fn coverage(rb: &Runbook, client: &Client, source: &str) -> Vec<Finding> {
    let rows = match client.query(LIST_RELATIONS, &[]).await {
        Ok(r) => r,
        Err(e) => {
            let e = cutover_pg::conn::classify(&e).1;
            return vec![Finding::new(
                "coverage",
                Verdict::Fail,
                format!("{source}: {e}"),
            )];
        }
    };
    let (mut tables, mut sequences) = (Vec::new(), Vec::new());
    for r in &rows {
        let (schema, name, is_seq): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        if is_seq && !sequence_covered(rb, &schema, &name) {
            sequences.push(format!("{schema}.{name}"));
        } else if !is_seq && !table_covered(rb, &schema, &name) {
            tables.push(format!("{schema}.{name}"));
        }
    }
    let verdict = coverage_verdict(rb);
    let mut out = Vec::new();
    for (what, list) in [
        ("coverage tables", tables),
        ("coverage sequences", sequences),
    ] {
        if list.is_empty() {
            out.push(Finding::new(
                what,
                Verdict::Pass,
                format!("every one on {source} is compared or excluded"),
            ));
            continue;
        }
        let shown: Vec<&str> = list.iter().take(20).map(String::as_str).collect();
        let more = list.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        out.push(Finding::new(
            what,
            verdict,
            format!(
                "{} on {source} compared by no check and named by no exclude_tables: {}{more}",
                list.len(),
                shown.join(", ")
            ),
        ));
    }
    out
}

/// `schema.name` as a check names it: `orders` is `public.orders`.
fn qualified(name: &str) -> (String, String) {
    match split_qualified(name).as_slice() {
        [s, t] => (s.clone(), t.clone()),
        [t] => ("public".to_string(), t.clone()),
        _ => (String::new(), name.to_string()),
    }
}

/// Whether a `count` or `checksum` check compares `schema.name` (its `table`, or a `tables`
/// glob), or some check's `exclude_tables` leaves it out on purpose.
fn table_covered(rb: &Runbook, schema: &str, name: &str) -> bool {
    use cutover_model::runbook::ReconcileKind;
    rb.reconcile.iter().any(|c| {
        let excluded = cutover_reconcile::table_selected(&c.exclude_tables, schema, name);
        let compares = matches!(c.kind, ReconcileKind::Count | ReconcileKind::Checksum)
            && (c
                .table
                .as_deref()
                .is_some_and(|t| qualified(t) == (schema.into(), name.into()))
                || cutover_reconcile::table_selected(&c.tables, schema, name));
        excluded || compares
    })
}

/// Whether a `sequences` check compares `schema.name` (its schema, or by name).
fn sequence_covered(rb: &Runbook, schema: &str, name: &str) -> bool {
    use cutover_model::runbook::ReconcileKind;
    rb.reconcile.iter().any(|c| {
        c.kind == ReconcileKind::Sequences
            && (c.schemas.iter().any(|s| s == schema)
                || c.sequences
                    .iter()
                    .any(|q| qualified(q) == (schema.into(), name.into())))
            || cutover_reconcile::table_selected(&c.exclude_tables, schema, name)
    })
}

/// Whether the key columns exist on `table` and a unique index covers exactly them.
async fn key_state(
    client: &Client,
    side: &str,
    table: &str,
    oid: u32,
    key: &[String],
) -> Result<Finding, String> {
    let sql = |e: tokio_postgres::Error| cutover_pg::conn::classify(&e).1;
    if key.is_empty() {
        return Ok(Finding::new(
            "",
            Verdict::Pass,
            format!("{table} on {side} (no key: compared as a multiset)"),
        ));
    }
    let rows = client
        .query(
            "SELECT attname::text FROM pg_catalog.pg_attribute \
             WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
            &[&oid],
        )
        .await
        .map_err(sql)?;
    let columns: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let missing: Vec<&String> = key.iter().filter(|k| !columns.contains(k)).collect();
    if !missing.is_empty() {
        let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Ok(Finding::new(
            "",
            Verdict::Fail,
            format!("{table} on {side} has no key column {}", list.join(", ")),
        ));
    }
    let unique: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1 AND i.indisunique \
             AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL \
             AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) \
             FROM unnest(i.indkey[0:i.indnkeyatts - 1]) k JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k) \
             = (SELECT array_agg(x ORDER BY x) FROM unnest($2::text[]) x))",
            &[&oid, &key],
        )
        .await
        .map_err(sql)?
        .get(0);
    let key_list = key.join(", ");
    Ok(if unique {
        Finding::new(
            "",
            Verdict::Pass,
            format!("{table} on {side}, key ({key_list}) unique by an index"),
        )
    } else {
        Finding::new(
            "",
            Verdict::Warn,
            format!(
                "{table} on {side}: no unique index on ({key_list}); the check will verify its uniqueness itself"
            ),
        )
    })
}

/// The maintenance window against now.
fn window(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> Finding {
    let mins = |d: chrono::Duration| narrate::duration(d.num_milliseconds().max(0) as u64);
    if end <= now {
        return Finding::new(
            "window",
            Verdict::Fail,
            format!(
                "closed {} ago (at {})",
                mins(now - end),
                end.format("%Y-%m-%d %H:%M UTC")
            ),
        );
    }
    if start > now {
        return Finding::new(
            "window",
            Verdict::Pass,
            format!("opens in {}", mins(start - now)),
        );
    }
    Finding::new(
        "window",
        Verdict::Pass,
        format!("open, {} left", mins(end - now)),
    )
}

/// The journal's directory: writable, with room to spare; and, when it must be `new`, no file
/// (nor link, nor anything else) at the journal's path already.
fn journal_room(journal: &Path, new: bool) -> Finding {
    if new && std::fs::symlink_metadata(journal).is_ok() {
        let at = journal.display();
        return Finding::new(
            "journal",
            Verdict::Fail,
            format!(
                "{at} already exists, and a new run refuses it: resume it with --resume {at}, or choose another --journal"
            ),
        );
    }
    let dir = match journal.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The directory is made by the run when missing: check the nearest one that exists.
    let mut probe = dir;
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p,
            _ => {
                probe = Path::new(".");
                break;
            }
        }
    }
    let what = "journal directory";
    let writable = tempfile_in(probe);
    if let Err(e) = writable {
        return Finding::new(
            what,
            Verdict::Fail,
            format!("{}: cannot write there: {e}", probe.display()),
        );
    }
    match free_bytes(probe) {
        Some(free) if free < ROOM_FAIL => Finding::new(
            what,
            Verdict::Fail,
            format!("{}: only {} MiB free", probe.display(), free >> 20),
        ),
        Some(free) if free < ROOM_WARN => Finding::new(
            what,
            Verdict::Warn,
            format!("{}: {} MiB free", probe.display(), free >> 20),
        ),
        Some(free) => Finding::new(
            what,
            Verdict::Pass,
            format!("{}: writable, {} GiB free", dir.display(), free >> 30),
        ),
        None => Finding::new(what, Verdict::Pass, format!("{}: writable", dir.display())),
    }
}

/// Creates and removes a file in `dir`, under a name no other check uses at the same time
/// (the members of a fleet run their preflights in one process, side by side), nor one
/// left behind by a crashed process of the same pid.
fn tempfile_in(dir: &Path) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..8 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!(".cutover-preflight-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(_) => return std::fs::remove_file(&p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free name for the write test")))
}

/// Free bytes for an unprivileged writer on the file system of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a zeroed statvfs that the call fills.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut st) == 0).then_some(st)
    }?;
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that did not answer one check is not asked again: the next check on it
    /// fails at once, naming it, instead of waiting its own 5 s.
    #[tokio::test(start_paused = true)]
    async fn a_silent_server_is_not_asked_again() {
        let mut silent = BTreeSet::new();
        let first = bounded(&["source", "target"], &mut silent, std::future::pending()).await;
        assert_eq!(first[0].detail, "source or target: no answer within 5s");
        let asked = std::sync::atomic::AtomicBool::new(false);
        let again = bounded(&["target"], &mut silent, async {
            asked.store(true, std::sync::atomic::Ordering::SeqCst);
            Vec::new()
        })
        .await;
        assert!(!asked.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            again[0].detail,
            "target: a check on it did not answer before: not asked again"
        );
    }

    /// Many checks of one directory at once in one process (a fleet's members) all pass, and
    /// a file a crashed process of the same pid left behind does not fail them.
    #[test]
    fn the_write_test_holds_side_by_side_and_beside_a_leftover() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path()
                .join(format!(".cutover-preflight-{}-0", std::process::id())),
            "left behind",
        )
        .unwrap();
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let dir = d.path().to_path_buf();
                std::thread::spawn(move || (0..20).all(|_| tempfile_in(&dir).is_ok()))
            })
            .collect();
        assert!(threads.into_iter().all(|t| t.join().unwrap()));
    }

    #[test]
    fn a_window_in_the_past_fails_and_one_ahead_passes() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let now = t("2026-12-05T03:00:00Z");
        let past = window(t("2026-12-04T02:00:00Z"), t("2026-12-04T03:30:00Z"), now);
        assert_eq!(past.verdict, Verdict::Fail, "{past:?}");
        assert!(past.detail.contains("closed"), "{past:?}");
        let open = window(t("2026-12-05T02:00:00Z"), t("2026-12-05T03:30:00Z"), now);
        assert_eq!(open.verdict, Verdict::Pass);
        assert!(open.detail.contains("left"), "{open:?}");
        let ahead = window(t("2026-12-05T04:00:00Z"), t("2026-12-05T05:30:00Z"), now);
        assert!(ahead.detail.contains("opens in"), "{ahead:?}");
    }

    #[test]
    fn a_server_clock_more_than_five_seconds_off_is_a_warning() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let now = t("2026-12-05T03:00:00Z");
        assert!(clock("source", t("2026-12-05T03:00:04Z"), now).is_none());
        assert!(clock("source", t("2026-12-05T02:59:56Z"), now).is_none());
        let ahead = clock("source", t("2026-12-05T03:01:30Z"), now).unwrap();
        assert_eq!(ahead.verdict, Verdict::Warn);
        assert_eq!(ahead.what, "clock source");
        assert!(
            ahead.detail.contains("ahead of this machine's"),
            "{ahead:?}"
        );
        let behind = clock("target", t("2026-12-05T02:59:50Z"), now).unwrap();
        assert!(behind.detail.contains("10s behind"), "{behind:?}");
    }

    #[test]
    fn the_journal_directory_must_take_a_file() {
        let d = tempfile::tempdir().unwrap();
        let ok = journal_room(&d.path().join("not-yet/j.jsonl"), true);
        assert_ne!(ok.verdict, Verdict::Fail, "{ok:?}");
        let f = d.path().join("file");
        std::fs::write(&f, "").unwrap();
        let bad = journal_room(&f.join("j.jsonl"), true);
        assert_eq!(
            bad.verdict,
            Verdict::Fail,
            "a file where the directory should be: {bad:?}"
        );
        // An existing journal (or a link where it would be) is refused by a new run: said
        // before it; inside a run, which made the journal, it is no finding.
        let link = d.path().join("link.jsonl");
        std::os::unix::fs::symlink("/nowhere", &link).unwrap();
        for taken in [&f, &link] {
            let found = journal_room(taken, true);
            assert_eq!(found.verdict, Verdict::Fail, "{found:?}");
            assert!(found.detail.contains("already exists"), "{found:?}");
            assert_ne!(journal_room(taken, false).what, "journal");
        }
    }
}
