//! Disposable local PostgreSQL clusters, for the test suite and for `cutover drill`.
//!
//! A [`Cluster`] lives in its own temporary directory (`$TMPDIR/cutover-pg-XXXXXX/`, holding
//! `data/`, `sock/` and `server.log`), listens on a free port on 127.0.0.1 and on a unix
//! socket inside that directory, trusts local and loopback connections, and is set up for
//! replication (`wal_level = logical`, wal senders and slots to spare). When this process is
//! root the server programs run as the `postgres` user and the directory is handed to it.
//!
//! Dropping a cluster (also while unwinding from a panic) stops the server with
//! `pg_ctl stop -m immediate`, kills whatever is left of it and removes the directory. A small
//! watchdog process does the same if this process dies without dropping it (SIGKILL, abort,
//! clusters kept in statics), so no server of ours outlives us.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio_postgres::NoTls;

use crate::harness::bindir::{BinDirNotFound, PgBin};
use crate::harness::process::{self, RunAs};
use cutover_model::ident::quote_literal;

/// Prefix of every cluster directory (`cutover-pg-XXXXXX`).
pub const DIR_PREFIX: &str = "cutover-pg-";
/// The superuser of every harness cluster.
pub const SUPERUSER: &str = "postgres";
/// How long `pg_ctl` waits for a start or stop.
const PG_CTL_WAIT_SECS: &str = "60";

/// How to create a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// A short name (`source`, `target`); becomes `cluster_name`, so a streaming standby shows
    /// up under it in the primary's `pg_stat_replication.application_name`.
    pub name: String,
    /// Extra `postgresql.conf` settings, applied after the harness defaults.
    pub settings: Vec<(String, String)>,
    /// Where to create the cluster directory (default: the system temp directory).
    pub parent_dir: Option<PathBuf>,
}

impl ClusterOptions {
    /// Options with this name and the defaults otherwise.
    pub fn named(name: &str) -> Self {
        ClusterOptions {
            name: name.to_string(),
            settings: Vec::new(),
            parent_dir: None,
        }
    }

    /// Adds a `postgresql.conf` setting.
    pub fn setting(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.to_string(), value.to_string()));
        self
    }
}

/// Why a cluster could not be created or driven.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No server binaries.
    #[error(transparent)]
    BinDir(#[from] BinDirNotFound),
    /// Root without a `postgres` user, and similar set-up problems.
    #[error("{0}")]
    Setup(String),
    /// A file-system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A server program exited with an error.
    #[error("{tool} failed ({status}):\n{output}")]
    Tool {
        /// The program and its main argument.
        tool: String,
        /// Exit status.
        status: String,
        /// Its output, and the server log's tail where relevant.
        output: String,
    },
    /// A statement failed.
    #[error("cluster {cluster}: {what}: {source}")]
    Sql {
        /// Cluster name.
        cluster: String,
        /// What was being done.
        what: String,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// A condition was not reached in time.
    #[error("timed out after {secs:.0}s waiting for {what}")]
    Timeout {
        /// The condition.
        what: String,
        /// How long we waited.
        secs: f64,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// A disposable PostgreSQL cluster; see the module docs.
#[derive(Debug)]
pub struct Cluster {
    name: String,
    bin: PgBin,
    run_as: Option<RunAs>,
    root: PathBuf,
    port: u16,
    settings: Vec<(String, String)>,
    watchdog: Option<std::process::Child>,
    kept: bool,
}

impl Cluster {
    /// Creates (`initdb`) and starts a new cluster.
    pub async fn create(bin: &PgBin, opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        let mut c = Cluster::empty(bin, &opts)?;
        c.initdb().await?;
        c.write_config()?;
        c.start().await?;
        Ok(c)
    }

    /// Creates and starts two clusters from one `initdb`: the second gets a copy of the first's
    /// fresh data directory (cheaper than a second `initdb` on a small machine). Both share a
    /// system identifier, so they suit logical replication, not streaming.
    pub async fn create_twins(
        bin: &PgBin,
        first: ClusterOptions,
        second: ClusterOptions,
    ) -> Result<(Cluster, Cluster), ClusterError> {
        let mut a = Cluster::empty(bin, &first)?;
        a.initdb().await?;
        let mut b = Cluster::empty(bin, &second)?;
        // `cp -a` as the server user keeps owners and modes (initdb wants 0700 data dirs).
        let mut cp = tokio::process::Command::new("cp");
        cp.arg("-a")
            .arg(a.data_dir())
            .arg(b.data_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(u) = b.run_as {
            cp.uid(u.uid).gid(u.gid);
        }
        let out = cp
            .output()
            .await
            .map_err(io_err("cannot run cp to copy the fresh data directory"))?;
        if !out.status.success() {
            return Err(ClusterError::Tool {
                tool: "cp -a (data directory)".into(),
                status: out.status.to_string(),
                output: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
            });
        }
        a.write_config()?;
        b.write_config()?;
        tokio::try_join!(a.start(), b.start())?;
        Ok((a, b))
    }

    /// Creates a streaming standby of `primary` with `pg_basebackup -R`, starts it and waits
    /// until it streams (it appears in the primary's `pg_stat_replication` under `opts.name`).
    pub async fn standby_of(
        primary: &Cluster,
        opts: ClusterOptions,
    ) -> Result<Cluster, ClusterError> {
        let mut c = Cluster::empty(&primary.bin, &opts)?;
        let port = primary.port.to_string();
        let mut args: Vec<OsString> = vec!["-D".into(), c.data_dir().into_os_string()];
        for a in [
            "-h",
            "127.0.0.1",
            "-p",
            port.as_str(),
            "-U",
            SUPERUSER,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ] {
            args.push(a.into());
        }
        c.tool("pg_basebackup", &args, Some(Duration::from_secs(120)))
            .await?;
        c.write_config()?;
        c.start().await?;
        let name = c.name.clone();
        let client = primary.connect().await?;
        poll_until(&format!("standby {name} to stream"), Duration::from_secs(60), || {
            let client = &client;
            let name = name.clone();
            async move {
                client
                    .query_opt(
                        "select 1 from pg_stat_replication where application_name = $1 and state = 'streaming'",
                        &[&name],
                    )
                    .await
                    .is_ok_and(|r| r.is_some())
            }
        })
        .await?;
        Ok(c)
    }

    /// A cluster directory with nothing in it yet, guarded by the watchdog.
    fn empty(bin: &PgBin, opts: &ClusterOptions) -> Result<Cluster, ClusterError> {
        let run_as = process::run_as().map_err(ClusterError::Setup)?;
        let parent = opts.parent_dir.clone().unwrap_or_else(std::env::temp_dir);
        let root = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&parent)
            .map_err(io_err(format!(
                "cannot create a cluster directory in {}",
                parent.display()
            )))?
            .keep();
        // The real path: a server's working directory, read back from /proc, is one, and the
        // watchdog (which works in /) could not find a relative one.
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let mut c = Cluster {
            name: opts.name.clone(),
            bin: bin.clone(),
            run_as,
            root,
            port: 0,
            settings: opts.settings.clone(),
            watchdog: None,
            kept: false,
        };
        process::chown(&c.root, run_as)
            .map_err(io_err("cannot hand the cluster directory to postgres"))?;
        std::fs::create_dir(c.socket_dir())
            .map_err(io_err("cannot create the socket directory"))?;
        process::chown(&c.socket_dir(), run_as)
            .map_err(io_err("cannot hand the socket directory to postgres"))?;
        c.watchdog = Some(spawn_watchdog(std::process::id(), &c.root, &c.data_dir())?);
        c.port = free_port()?;
        Ok(c)
    }

    /// A fresh data directory (`initdb --no-sync`): the superuser trusted, UTF-8, locale C.
    async fn initdb(&self) -> Result<(), ClusterError> {
        let mut args: Vec<OsString> = vec!["-D".into(), self.data_dir().into_os_string()];
        for a in [
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ] {
            args.push(a.into());
        }
        self.tool("initdb", &args, None).await.map(drop)
    }

    /// Appends the harness settings to `postgresql.conf`.
    fn write_config(&self) -> Result<(), ClusterError> {
        use std::io::Write;
        let sock = self.socket_dir().display().to_string();
        let mut lines = vec![
            "\n# --- cutover harness ---".to_string(),
            "listen_addresses = '127.0.0.1'".to_string(),
            format!("port = {}", self.port),
            format!("unix_socket_directories = {}", quote_literal(&sock)),
            format!("cluster_name = {}", quote_literal(&self.name)),
            "wal_level = logical".into(),
            "max_wal_senders = 10".into(),
            "max_replication_slots = 10".into(),
            "wal_keep_size = '256MB'".into(),
            "wal_receiver_status_interval = '1s'".into(),
            "shared_buffers = '16MB'".into(),
            "max_connections = 40".into(),
            "fsync = off".into(),
            "full_page_writes = off".into(),
            "synchronous_commit = off".into(),
            "logging_collector = off".into(),
            "log_line_prefix = '%m [%p] %q%a '".into(),
        ];
        for (k, v) in &self.settings {
            lines.push(format!("{k} = {}", quote_literal(v)));
        }
        let path = self.data_dir().join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err(format!("cannot open {}", path.display())))?;
        writeln!(f, "{}", lines.join("\n"))
            .map_err(io_err(format!("cannot write {}", path.display())))
    }

    /// Starts the server and waits until it accepts connections. If the port was taken in the
    /// meantime, moves to another free port.
    pub async fn start(&mut self) -> Result<(), ClusterError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let log_len = std::fs::metadata(self.log_path()).map_or(0, |m| m.len());
            let r = self
                .pg_ctl(&["start", "-l", &self.log_path().display().to_string()])
                .await;
            match r {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let log = self.log_since(log_len);
                    if attempts < 5 && log.contains("Address already in use") {
                        self.port = free_port()?;
                        self.write_config()?;
                        continue;
                    }
                    return Err(match e {
                        ClusterError::Tool {
                            tool,
                            status,
                            output,
                        } => ClusterError::Tool {
                            tool,
                            status,
                            output: format!("{output}\nserver log:\n{log}"),
                        },
                        other => other,
                    });
                }
            }
        }
    }

    /// Stops the server (fast shutdown: sessions are disconnected, WAL is flushed).
    pub async fn stop(&self) -> Result<(), ClusterError> {
        self.pg_ctl(&["stop", "-m", "fast"]).await
    }

    /// Stops and starts the server again on the same port.
    pub async fn restart(&mut self) -> Result<(), ClusterError> {
        self.stop().await?;
        self.start().await
    }

    /// Whether the postmaster is alive.
    pub fn is_running(&self) -> bool {
        process::live_postmaster(&self.data_dir()).is_some()
    }

    async fn pg_ctl(&self, args: &[&str]) -> Result<(), ClusterError> {
        let mut all: Vec<OsString> = vec![
            "-D".into(),
            self.data_dir().into_os_string(),
            "-w".into(),
            "-t".into(),
            PG_CTL_WAIT_SECS.into(),
            "-s".into(),
        ];
        all.extend(args.iter().map(OsString::from));
        self.tool("pg_ctl", &all, None).await.map(drop)
    }

    /// Runs a server program as the server user, in the cluster directory, without any `PG*`
    /// variable of ours leaking into it.
    async fn tool(
        &self,
        name: &str,
        args: &[OsString],
        timeout: Option<Duration>,
    ) -> Result<String, ClusterError> {
        let mut cmd = tokio::process::Command::new(self.bin.tool(name));
        cmd.args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        scrub_env_async(&mut cmd);
        if let Some(u) = self.run_as {
            cmd.uid(u.uid).gid(u.gid);
        }
        let what = format!(
            "{name} {}",
            args.first()
                .map_or(String::new(), |a| a.to_string_lossy().into_owned())
        );
        let fut = cmd.output();
        let out = match timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| ClusterError::Timeout {
                    what: what.clone(),
                    secs: t.as_secs_f64(),
                })?,
            None => fut.await,
        }
        .map_err(io_err(format!(
            "cannot run {}",
            self.bin.tool(name).display()
        )))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(ClusterError::Tool {
                tool: what,
                status: out.status.to_string(),
                output: text.trim_end().to_string(),
            })
        }
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The binaries this cluster runs.
    pub fn bin(&self) -> &PgBin {
        &self.bin
    }

    /// The cluster directory (holds `data/`, `sock/`, `server.log`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The unix socket directory.
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// The server log.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The server log from byte `from` on (lossy, for error messages).
    pub fn log_since(&self, from: u64) -> String {
        let bytes = std::fs::read(self.log_path()).unwrap_or_default();
        let from = usize::try_from(from).unwrap_or(0).min(bytes.len());
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    }

    /// A libpq conninfo string for database `postgres` as the superuser over TCP.
    pub fn dsn(&self) -> String {
        self.dsn_db("postgres")
    }

    /// A libpq conninfo string for database `db` as the superuser over TCP.
    pub fn dsn_db(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname={}",
            self.port,
            cutover_model::ident::conninfo_value(db)
        )
    }

    /// The same over the unix socket.
    pub fn socket_dsn(&self) -> String {
        format!(
            "host={} port={} user={SUPERUSER} dbname=postgres",
            cutover_model::ident::conninfo_value(&self.socket_dir().display().to_string()),
            self.port
        )
    }

    /// Connects to database `postgres` (no TLS); the connection runs on a spawned task.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, ClusterError> {
        self.connect_db("postgres").await
    }

    /// Connects to database `db` (no TLS).
    pub async fn connect_db(&self, db: &str) -> Result<tokio_postgres::Client, ClusterError> {
        let (client, conn) = tokio_postgres::connect(&self.dsn_db(db), NoTls)
            .await
            .map_err(|source| ClusterError::Sql {
                cluster: self.name.clone(),
                what: format!("connect to {db}"),
                source,
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// Runs one or more statements (simple query protocol) in database `postgres`.
    pub async fn execute(&self, sql: &str) -> Result<(), ClusterError> {
        let client = self.connect().await?;
        client
            .batch_execute(sql)
            .await
            .map_err(|source| ClusterError::Sql {
                cluster: self.name.clone(),
                what: format!("run {}", first_line(sql)),
                source,
            })
    }

    /// Puts `line` first in `pg_hba.conf` (first match wins there) and reloads the server,
    /// e.g. `host all app 127.0.0.1/32 scram-sha-256` to make one role use passwords.
    pub async fn prepend_hba(&self, line: &str) -> Result<(), ClusterError> {
        let path = self.data_dir().join("pg_hba.conf");
        let old = std::fs::read_to_string(&path)
            .map_err(io_err(format!("cannot read {}", path.display())))?;
        // Writing in place keeps the file's owner (the server user).
        std::fs::write(&path, format!("{line}\n{old}"))
            .map_err(io_err(format!("cannot write {}", path.display())))?;
        self.execute("select pg_reload_conf()").await
    }

    /// The postmaster's pid, when running.
    pub fn postmaster_pid(&self) -> Option<i32> {
        process::postmaster_pid(&self.data_dir())
    }

    /// Leaves the cluster running and on disk: no cleanup on drop, watchdog stopped.
    /// Returns the cluster directory.
    pub fn keep(mut self) -> PathBuf {
        self.kept = true;
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        self.root.clone()
    }

    /// Stops the server at once and removes the directory (what drop does).
    fn destroy(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let data = self.data_dir();
        // pg_ctl signals whatever pid the file names: only while that is still our postmaster.
        if process::live_postmaster(&data).is_some() {
            let mut cmd = std::process::Command::new(self.bin.tool("pg_ctl"));
            cmd.arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "-t", "20", "-s", "stop"])
                .current_dir(&self.root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            scrub_env(&mut cmd);
            if let Some(u) = self.run_as {
                use std::os::unix::process::CommandExt;
                cmd.uid(u.uid).gid(u.gid);
            }
            let _ = cmd.status();
        }
        // Whatever survived (pg_ctl missing, a wedged postmaster, orphaned backends): kill it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            // Found by where they work, never by a pid file that may be stale.
            let mut left = process::processes_under(&self.root);
            left.retain(|p| *p != std::process::id() as i32);
            if left.is_empty() || std::time::Instant::now() > deadline {
                break;
            }
            for pid in left {
                process::signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.kept {
            self.destroy();
        }
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub async fn poll_until<F, Fut>(
    what: &str,
    timeout: Duration,
    mut cond: F,
) -> Result<(), ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: what.to_string(),
                secs: timeout.as_secs_f64(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> Result<u16, ClusterError> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_err("cannot find a free port on 127.0.0.1"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(io_err("cannot find a free port on 127.0.0.1"))
}

fn first_line(sql: &str) -> String {
    let l = sql.trim().lines().next().unwrap_or_default();
    if l.chars().count() > 60 {
        format!("{}…", l.chars().take(60).collect::<String>())
    } else {
        l.to_string()
    }
}

fn pg_env_keys() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("PG"))
        .collect()
}

fn scrub_env(cmd: &mut std::process::Command) {
    for k in pg_env_keys() {
        cmd.env_remove(k);
    }
    cmd.env("LC_ALL", "C");
}

fn scrub_env_async(cmd: &mut tokio::process::Command) {
    for k in pg_env_keys() {
        cmd.env_remove(k);
    }
    cmd.env("LC_ALL", "C");
}

/// The watchdog: waits for this process to die, then stops the postmaster recorded in
/// `data/postmaster.pid` (SIGQUIT = immediate shutdown, SIGKILL after 10 s) and removes `root`.
/// The pid is signalled only while that process is the cluster's (as `process::serves` says:
/// it works in the data directory, or its command line names it): a postmaster that died
/// without removing the file leaves a pid the system may have given to anyone.
const WATCHDOG: &str = r#"
while kill -0 "$1" 2>/dev/null; do sleep 1; done
pm=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
given=$2
data=$(cd "$2" 2>/dev/null && pwd -P)
ours() {
  [ -n "$pm" ] || return 1
  [ -n "$data" ] && [ "$(readlink "/proc/$pm/cwd" 2>/dev/null)" = "$data" ] && return 0
  tr '\0' '\n' < "/proc/$pm/cmdline" 2>/dev/null | grep -qxF -- "$given"
}
if ours; then
  kill -QUIT "$pm" 2>/dev/null
  i=0
  while ours && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  ours && kill -KILL "$pm" 2>/dev/null
fi
rm -rf "$3"
"#;

/// Starts the watchdog of the cluster at `root` (data directory `data`) for the process `owner`.
fn spawn_watchdog(
    owner: u32,
    root: &Path,
    data: &Path,
) -> Result<std::process::Child, ClusterError> {
    use std::os::unix::process::CommandExt;
    std::process::Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("cutover-pg-watchdog")
        .arg(owner.to_string())
        .arg(data)
        .arg(root)
        // Not in the cluster directory: the watchdog must not count as one of its processes.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a Ctrl-C aimed at us does not take it down first.
        .process_group(0)
        .spawn()
        .map_err(io_err("cannot start the cluster watchdog (sh)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `sleep` working in `dir`, with `args` after it on its command line (`sh -c` takes
    /// them as its name and parameters).
    fn sleeper(dir: &Path, args: &[&std::ffi::OsStr]) -> std::process::Child {
        std::process::Command::new("sh")
            .args(["-c", "sleep 30; :", "postgres"])
            .args(args)
            .current_dir(dir)
            .spawn()
            .unwrap()
    }

    /// The owner gone, the watchdog stops the postmaster the pid file names only while that
    /// process is the cluster's (working in the data directory, or naming it on its command
    /// line, as `postgres -D DATA` does): a stale file naming a reused pid (a stranger working
    /// elsewhere) is left alone, and the directory is removed either way.
    #[test]
    fn the_watchdog_never_signals_a_pid_that_is_not_the_postmaster() {
        for (what, ours, named) in [
            ("the postmaster", true, false),
            ("a stranger", false, false),
            ("a server known by its command line", false, true),
        ] {
            let t = tempfile::tempdir().unwrap();
            let root = t.path().join("cluster");
            let data = root.join("data");
            std::fs::create_dir_all(&data).unwrap();
            let args: Vec<&std::ffi::OsStr> = if named {
                vec!["-D".as_ref(), data.as_os_str()]
            } else {
                Vec::new()
            };
            let mut target = sleeper(if ours { &data } else { Path::new("/") }, &args);
            std::fs::write(data.join("postmaster.pid"), format!("{}\n", target.id())).unwrap();
            // An owner that is already gone: the watchdog acts at once.
            let mut owner = std::process::Command::new("true").spawn().unwrap();
            let gone = owner.id();
            owner.wait().unwrap();
            let mut dog = spawn_watchdog(gone, &root, &data).unwrap();
            dog.wait().unwrap();
            let stopped = target.try_wait().unwrap();
            let _ = target.kill();
            target.wait().unwrap();
            assert_eq!(
                stopped.is_some(),
                ours || named,
                "{what}: stopped = {stopped:?}"
            );
            assert!(!root.exists(), "{what}: the cluster directory is removed");
        }
    }
}
