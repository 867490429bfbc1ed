//! The drill's "application": a supervised `pgbench` write load.
//!
//! A supervisor thread starts `pgbench` against the DSN written in the app's DSN file
//! (`app.dsn`), and starts it again whenever it exits, re-reading the file each time: when the
//! runbook freezes writes (the app role may no longer log in, its sessions are terminated)
//! pgbench exits and its restarts fail until the switch step points the file at the target
//! and allows the role there. Each pgbench runs in its own process group, is killed with the
//! supervisor (SIGKILL on the supervisor thread's death, `PR_SET_PDEATHSIG`) and writes to the
//! load log, never to the terminal.
// `unsafe` here: libc calls for the write load's process group; each block says why it is sound.
#![allow(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The pgbench script: one account update and one order per transaction.
pub const SCRIPT: &str = "\\set aid random(1, :naccounts)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
INSERT INTO drill_orders (aid, amount) VALUES (:aid, :delta);
END;
";

/// What the load runs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The `pgbench` program.
    pub pgbench: PathBuf,
    /// The script file ([`SCRIPT`]).
    pub script: PathBuf,
    /// The app's DSN file, read at every (re)start.
    pub dsn_file: PathBuf,
    /// Where pgbench's output and the supervisor's notes go.
    pub log: PathBuf,
    /// Target rate (pgbench `-R`).
    pub tps: u32,
    /// Rows in pgbench_accounts.
    pub accounts: u64,
    /// Client connections.
    pub clients: u32,
}

/// A running load; dropping it stops it.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    starts: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    /// Starts the supervisor (which starts pgbench at once).
    pub fn start(cfg: LoadConfig) -> std::io::Result<Load> {
        let stop = Arc::new(AtomicBool::new(false));
        let starts = Arc::new(AtomicU32::new(0));
        let thread = std::thread::Builder::new()
            .name("drill-load".into())
            .spawn({
                let stop = stop.clone();
                let starts = starts.clone();
                move || supervise(&cfg, &stop, &starts)
            })?;
        Ok(Load {
            stop,
            starts,
            thread: Some(thread),
        })
    }

    /// How many times pgbench was started so far.
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::Relaxed)
    }

    /// Stops pgbench and the supervisor, and waits for both.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Appends a timestamped line to the load log.
pub(crate) fn note(log: &Path, msg: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(
            f,
            "{} drill: {msg}",
            chrono::Local::now().format("%H:%M:%S%.3f")
        );
    }
}

fn supervise(cfg: &LoadConfig, stop: &AtomicBool, starts: &AtomicU32) {
    let mut backoff = Duration::from_millis(200);
    while !stop.load(Ordering::Relaxed) {
        let dsn = std::fs::read_to_string(&cfg.dsn_file)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let started = Instant::now();
        match spawn(cfg, &dsn) {
            Ok(mut child) => {
                starts.fetch_add(1, Ordering::Relaxed);
                note(
                    &cfg.log,
                    &format!("pgbench {} started against {dsn}", child.id()),
                );
                let status = loop {
                    if stop.load(Ordering::Relaxed) {
                        kill_group(&mut child);
                        note(&cfg.log, "load stopped");
                        return;
                    }
                    match child.try_wait() {
                        Ok(Some(s)) => break s.to_string(),
                        Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                        Err(e) => {
                            kill_group(&mut child);
                            break format!("unknown ({e})");
                        }
                    }
                };
                note(&cfg.log, &format!("pgbench exited: {status}"));
            }
            Err(e) => note(&cfg.log, &format!("cannot start pgbench: {e}")),
        }
        backoff = if started.elapsed() > Duration::from_secs(5) {
            Duration::from_millis(200)
        } else {
            (backoff * 2).min(Duration::from_secs(1))
        };
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn spawn(cfg: &LoadConfig, dsn: &str) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.log)?;
    let mut cmd = Command::new(&cfg.pgbench);
    cmd.args(["-n", "-c", &cfg.clients.to_string(), "-j", "1"])
        .args(["-R", &cfg.tps.to_string(), "-T", "86400"])
        .args(["-D", &format!("naccounts={}", cfg.accounts)])
        .arg("-f")
        .arg(&cfg.script)
        .arg(dsn)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// SIGTERM to the child's process group, SIGKILL after a second, then reap it.
fn kill_group(child: &mut Child) {
    let Ok(pgid) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: killpg only sends a signal.
    unsafe {
        libc::killpg(pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}
