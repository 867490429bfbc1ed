//! Building the drill's world: two clusters (in parallel), the pgbench-style schema on both,
//! data on the source, the app role, and logical replication with its initial copy done.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::harness::cluster::{Cluster, ClusterError, ClusterOptions};
use crate::harness::{Pair, PgBin};

/// The database replicated in the drill (same name on both sides).
pub const DATABASE: &str = "drill";
/// The application role: the drill's write load logs in as it.
pub const APP_ROLE: &str = "drill_app";
/// Rows per pgbench scale unit in `pgbench_accounts`.
const ROWS_PER_SCALE: u64 = 100_000;

/// The tables of the schema, created on both sides by `pgbench -i -I dtp` plus [`ORDERS_DDL`].
const ORDERS_DDL: &str = "
create table public.drill_orders (
    id         bigserial primary key,
    aid        integer not null,
    amount     integer not null,
    written_on text not null default current_setting('cluster_name'),
    created_at timestamptz not null default now()
);";

/// Extra `postgresql.conf` settings for the drill's clusters (the harness already turns
/// fsync off and keeps shared_buffers small).
/// `wal_retrieve_retry_interval` is how long the subscriber waits before starting the next
/// table-copy worker (5 s by default): the main cost of the initial sync on a small database.
const SETTINGS: [(&str, &str); 6] = [
    ("max_wal_size", "1GB"),
    ("checkpoint_timeout", "30min"),
    ("wal_retrieve_retry_interval", "100ms"),
    ("max_logical_replication_workers", "8"),
    ("max_sync_workers_per_subscription", "4"),
    ("max_worker_processes", "16"),
];

/// `pgbench -s` for `rows` accounts (pgbench creates whole scale units; the drill fills exactly
/// `rows` itself).
pub fn scale_for(rows: u64) -> u64 {
    rows.div_ceil(ROWS_PER_SCALE).max(1)
}

/// Creates the source and target clusters from one `initdb`, under `parent`.
pub async fn clusters(bin: &PgBin, parent: &Path) -> Result<(Cluster, Cluster), ClusterError> {
    let opts = |name: &str| {
        let mut o = ClusterOptions::named(name);
        o.parent_dir = Some(parent.to_path_buf());
        for (k, v) in SETTINGS {
            o = o.setting(k, v);
        }
        o
    };
    Cluster::create_twins(bin, opts("source"), opts("target")).await
}

/// Creates the database, the app role and the schema on `c`; with `rows`, fills it (the source).
/// On the target the app role may not log in until the switch.
pub async fn schema(c: &Cluster, rows: Option<u64>, scale: u64) -> Result<(), ClusterError> {
    let login = if rows.is_some() { "login" } else { "nologin" };
    // CREATE DATABASE refuses to run in a multi-statement string.
    c.execute(&format!("create database {DATABASE}")).await?;
    c.execute(&format!("create role {APP_ROLE} {login}"))
        .await?;
    // Primary keys after the data on the source (faster than maintaining them while loading).
    pgbench_init(c, scale, if rows.is_some() { "dt" } else { "dtp" }).await?;
    let db = c.connect_db(DATABASE).await?;
    let sql_err = |what: &str| {
        let cluster = c.name().to_string();
        let what = what.to_string();
        move |source| ClusterError::Sql {
            cluster,
            what,
            source,
        }
    };
    db.batch_execute(ORDERS_DDL)
        .await
        .map_err(sql_err("create drill_orders"))?;
    db.batch_execute(&format!(
        "grant select, insert, update on all tables in schema public to {APP_ROLE};
         grant usage, select on all sequences in schema public to {APP_ROLE}"
    ))
    .await
    .map_err(sql_err("grant to the app role"))?;
    if let Some(rows) = rows {
        let branches = scale_for(rows);
        db.batch_execute(&format!(
            "insert into pgbench_branches (bid, bbalance) select g, 0 from generate_series(1, {branches}) g;
             insert into pgbench_tellers (tid, bid, tbalance) select g, (g - 1) / 10 + 1, 0 from generate_series(1, {tellers}) g;
             insert into pgbench_accounts (aid, bid, abalance, filler)
                  select g, (g - 1) / {ROWS_PER_SCALE} + 1, 0, '' from generate_series(1, {rows}) g;",
            tellers = branches * 10
        ))
        .await
        .map_err(sql_err("load pgbench_accounts"))?;
        pgbench_init(c, scale, "p").await?;
        db.batch_execute("analyze")
            .await
            .map_err(sql_err("analyze"))?;
    }
    Ok(())
}

/// `pgbench -i -I STEPS`: pgbench's own tables (`dt`: drop and create, empty) and primary
/// keys (`p`).
async fn pgbench_init(c: &Cluster, scale: u64, steps: &str) -> Result<(), ClusterError> {
    let mut cmd = tokio::process::Command::new(c.bin().tool("pgbench"));
    cmd.args(["-i", "-I", steps, "-q", "-s", &scale.to_string()])
        .args(["-h", "127.0.0.1", "-p", &c.port().to_string(), "-U"])
        .arg(crate::harness::cluster::SUPERUSER)
        .arg(DATABASE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    scrub_pg_env(&mut cmd);
    let out = cmd.output().await.map_err(|source| ClusterError::Io {
        what: format!("cannot run {}", c.bin().tool("pgbench").display()),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ClusterError::Tool {
            tool: format!("pgbench -i on {}", c.name()),
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        })
    }
}

/// Removes the operator's `PG*` variables: the drill's children talk to the drill's clusters only.
pub fn scrub_pg_env(cmd: &mut tokio::process::Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(k);
        }
    }
}

/// Everything up to a replicating pair: clusters, schema on both, data on the source,
/// publication/subscription with the initial copy done.
pub async fn pair(
    bin: &PgBin,
    parent: &Path,
    rows: u64,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Pair, ClusterError> {
    progress("creating the source and target clusters");
    let (source, target) = clusters(bin, parent).await?;
    progress(&format!(
        "loading the schema ({rows} rows in pgbench_accounts) on source :{} and target :{}",
        source.port(),
        target.port()
    ));
    let scale = scale_for(rows);
    tokio::try_join!(
        schema(&source, Some(rows), scale),
        schema(&target, None, scale)
    )?;
    progress("replicating source -> target (publication, subscription, initial copy)");
    let pair = Pair::logical_in(source, target, DATABASE, &[]).await?;
    Ok(pair)
}

/// The drill's DSN for `role` on `c`.
pub fn dsn(c: &Cluster, role: &str) -> String {
    let app = if role == APP_ROLE {
        " application_name=drill_app"
    } else {
        ""
    };
    format!(
        "host=127.0.0.1 port={} user={role} dbname={DATABASE}{app}",
        c.port()
    )
}

/// Writes `text` to `path` atomically (a temp file renamed over it).
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension("new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_covers_the_rows() {
        assert_eq!(scale_for(1), 1);
        assert_eq!(scale_for(20_000), 1);
        assert_eq!(scale_for(100_000), 1);
        assert_eq!(scale_for(200_000), 2);
        assert_eq!(scale_for(200_001), 3);
    }
}
