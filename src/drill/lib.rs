//! `cutover-drill`: the built-in rehearsal, and the disposable clusters behind it.
//!
//! [`Drill::setup`] builds a disposable world — a source and a target PostgreSQL cluster
//! ([`setup`], on the [`harness`]), replicating logically, with a supervised write load on the
//! source ([`load`]) — against which the `cutover` binary runs `runbooks/drill.toml` ([`RUNBOOK`])
//! in the cockpit or headless, optionally with a fault injected ([`fault`]). Everything lives in one runtime directory
//! (`$TMPDIR/cutover-drill-XXXXXX`: the clusters, the app's DSN file, the load script) that is
//! removed when the [`Drill`] is dropped — on exit, on Ctrl-C and while unwinding from a panic;
//! the harness's watchdogs stop the servers even after a SIGKILL. The journal, the logs and
//! the runbook copy go to the drill's own directory, which stays.
// `unsafe` here: libc calls for the drill's processes; each block says why it is sound.
#![allow(unsafe_code)]

pub mod fault;
pub mod harness;
pub mod install;
pub mod load;
pub mod setup;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::{ClusterError, Pair, PgBin};
use load::{Load, LoadConfig};

/// The drill's runbook, as committed in `runbooks/drill.toml`.
pub const RUNBOOK: &str = include_str!("../../runbooks/drill.toml");

/// Prefix of the runtime directory in `$TMPDIR`.
pub const RUNTIME_PREFIX: &str = "cutover-drill-";

/// Why the drill's world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// A cluster could not be created or set up.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DrillError {
    let what = what.into();
    move |source| DrillError::Io { what, source }
}

/// How to build the drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// Rows in pgbench_accounts.
    pub rows: u64,
    /// Write load, transactions per second.
    pub tps: u32,
    /// Where the load log goes.
    pub log_dir: PathBuf,
}

/// Free space a RAM-backed directory must have for the drill to use it.
const SHM_MIN_FREE: u64 = 1 << 30;

/// Where the runtime directory goes: `$TMPDIR` when set; else `/dev/shm` when it is a
/// writable directory with at least 1 GiB free (initdb and the initial copy are several times
/// faster in memory, and the drill's data is throwaway); else the system temp directory.
pub fn runtime_parent() -> PathBuf {
    if std::env::var_os("TMPDIR").is_some_and(|t| !t.is_empty()) {
        return std::env::temp_dir();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && free_bytes(shm).is_some_and(|f| f >= SHM_MIN_FREE) {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// Bytes available to us on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is a valid C string.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        if libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }
}

/// The running drill; dropping it stops the load, the clusters, and removes the runtime dir.
#[derive(Debug)]
pub struct Drill {
    load: Option<Load>,
    pair: Option<Pair>,
    bin: PgBin,
    runtime: PathBuf,
    rows: u64,
    kept: bool,
}

/// What `--keep` left behind, for the operator.
#[derive(Debug, Clone)]
pub struct Kept {
    /// `(name, port, data dir)` of each cluster.
    pub clusters: Vec<(String, u16, PathBuf)>,
    /// The runtime directory.
    pub runtime: PathBuf,
    /// `psql` path.
    pub psql: PathBuf,
    /// `pg_ctl` path.
    pub pg_ctl: PathBuf,
}

impl Drill {
    /// Builds the drill's world; `progress` hears about each stage.
    pub async fn setup(
        bin: &PgBin,
        opts: &DrillOptions,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Drill, DrillError> {
        let runtime = tempfile::Builder::new()
            .prefix(RUNTIME_PREFIX)
            .tempdir_in(runtime_parent())
            .map_err(io_err("cannot create the drill's runtime directory"))?
            .keep();
        let mut drill = Drill {
            load: None,
            pair: None,
            bin: bin.clone(),
            runtime,
            rows: opts.rows,
            kept: false,
        };
        // The server user must reach its cluster directories inside.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&drill.runtime, std::fs::Permissions::from_mode(0o711))
                .map_err(io_err(
                    "cannot open the runtime directory to the server user",
                ))?;
        }
        let pair = setup::pair(bin, &drill.runtime, opts.rows, progress).await?;
        let app_dsn = setup::dsn(&pair.source, setup::APP_ROLE);
        drill.pair = Some(pair);
        setup::write_atomic(&drill.dsn_file(), &format!("{app_dsn}\n"))
            .map_err(io_err("cannot write the app's DSN file"))?;
        let script = drill.runtime.join("load.sql");
        std::fs::write(&script, load::SCRIPT).map_err(io_err("cannot write the load script"))?;
        progress(&format!(
            "starting the write load ({} tps as {})",
            opts.tps,
            setup::APP_ROLE
        ));
        drill.load = Some(
            Load::start(LoadConfig {
                pgbench: bin.tool("pgbench"),
                script,
                dsn_file: drill.dsn_file(),
                log: opts.log_dir.join("load.log"),
                tps: opts.tps,
                accounts: opts.rows,
                clients: 2,
            })
            .map_err(io_err("cannot start the load supervisor"))?,
        );
        Ok(drill)
    }

    /// The app's DSN file (`app.dsn` in the runtime directory).
    pub fn dsn_file(&self) -> PathBuf {
        self.runtime.join("app.dsn")
    }

    /// The runtime directory.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime
    }

    /// The replicating pair.
    pub fn pair(&self) -> Option<&Pair> {
        self.pair.as_ref()
    }

    /// How many times the load was started (restarts + 1).
    pub fn load_starts(&self) -> u32 {
        self.load.as_ref().map_or(0, Load::starts)
    }

    /// The vars the drill runbook needs, as `--var` overrides.
    pub async fn vars(&self) -> Result<BTreeMap<String, String>, DrillError> {
        let mut v = BTreeMap::new();
        let Some(pair) = &self.pair else {
            return Ok(v);
        };
        let su = crate::harness::cluster::SUPERUSER;
        let version: String = pair
            .source
            .connect()
            .await?
            .query_one("select current_setting('server_version_num')", &[])
            .await
            .map_err(|source| ClusterError::Sql {
                cluster: pair.source.name().to_string(),
                what: "read server_version_num".into(),
                source,
            })?
            .get(0);
        for (k, val) in [
            ("source_dsn", setup::dsn(&pair.source, su)),
            ("target_dsn", setup::dsn(&pair.target, su)),
            ("source_app_dsn", setup::dsn(&pair.source, setup::APP_ROLE)),
            ("target_app_dsn", setup::dsn(&pair.target, setup::APP_ROLE)),
            ("workdir", self.runtime.display().to_string()),
            ("psql", self.bin.tool("psql").display().to_string()),
            ("subscription", pair.subscription.clone()),
            ("min_target_version_num", version),
            ("rows", self.rows.to_string()),
        ] {
            v.insert(k.to_string(), val);
        }
        Ok(v)
    }

    /// What `--keep` would leave behind (nothing is changed): for saying it in advance.
    pub fn kept_preview(&self) -> Kept {
        let clusters = self.pair.as_ref().map_or_else(Vec::new, |p| {
            [&p.source, &p.target]
                .into_iter()
                .map(|c| (c.name().to_string(), c.port(), c.data_dir()))
                .collect()
        });
        Kept {
            clusters,
            runtime: self.runtime.clone(),
            psql: self.bin.tool("psql"),
            pg_ctl: self.bin.tool("pg_ctl"),
        }
    }

    /// Stops the load and leaves the clusters running; returns what the operator needs to
    /// reach and stop them.
    pub fn keep(mut self) -> Kept {
        let kept = self.kept_preview();
        if let Some(mut l) = self.load.take() {
            l.stop();
        }
        if let Some(pair) = self.pair.take() {
            let Pair { source, target, .. } = pair;
            source.keep();
            target.keep();
        }
        self.kept = true;
        kept
    }
}

impl Drop for Drill {
    fn drop(&mut self) {
        if let Some(mut l) = self.load.take() {
            l.stop();
        }
        drop(self.pair.take());
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.runtime);
        }
    }
}

impl Kept {
    /// How to connect and how to stop, for the operator.
    pub fn instructions(&self) -> String {
        let mut s = String::from("cutover drill: the clusters are still running (--keep):\n");
        for (name, port, _) in &self.clusters {
            s.push_str(&format!(
                "  {name:<7} {} -h 127.0.0.1 -p {port} -U {} {}\n",
                self.psql.display(),
                crate::harness::cluster::SUPERUSER,
                setup::DATABASE
            ));
        }
        let as_postgres = if crate::harness::process::is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        s.push_str("cutover drill: to stop them and remove everything:\n");
        for (_, _, data) in &self.clusters {
            s.push_str(&format!(
                "  {as_postgres}{} -D {} stop -m fast\n",
                self.pg_ctl.display(),
                data.display()
            ));
        }
        s.push_str(&format!("  rm -rf {}\n", self.runtime.display()));
        s
    }
}
