//! Shell steps: `sh -c` in its own process group, stdin null, output streamed line by line,
//! the whole group killed on timeout, cancel, or when the step ends.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use crate::engine::event::Stream;

/// How long a group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// Longest line kept; longer lines are split.
pub const MAX_LINE: usize = 16 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct ShellSpec {
    /// The command, secrets filled in.
    pub command: String,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Hard limit.
    pub timeout: Option<Duration>,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellExit {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal, when it was killed.
    pub signal: Option<i32>,
    /// It hit the timeout.
    pub timed_out: bool,
    /// It was cancelled.
    pub cancelled: bool,
}

/// Kills a process group on drop unless disarmed: no step outlives its owner.
#[derive(Debug)]
pub struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl GroupGuard {
    /// Guards process group `pgid`.
    pub fn new(pgid: i32) -> Self {
        GroupGuard { pgid, armed: true }
    }

    /// Whether any process of the group is alive.
    pub fn alive(&self) -> bool {
        group_alive(self.pgid)
    }

    /// SIGTERM, then SIGKILL after `grace` if anything is left.
    pub async fn terminate(&mut self, grace: Duration) {
        signal_group(self.pgid, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while group_alive(self.pgid) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal_group(self.pgid, libc::SIGKILL);
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

/// Sends `sig` to process group `pgid`, ignoring "no such group".
pub fn signal_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: killpg only sends a signal; a missing group is reported as ESRCH and ignored.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

/// Whether process group `pgid` still has a live member.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pgid > 1 && unsafe { libc::killpg(pgid, 0) } == 0
}

/// Whether process `pid` exists.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 1 && unsafe { libc::kill(pid, 0) } == 0
}

/// Runs `spec`, sending output lines on `lines`, and the pid on `pid_tx` once spawned.
/// `cancel` flipping to true kills the group.
pub async fn run(
    spec: &ShellSpec,
    lines: mpsc::Sender<(Stream, String)>,
    pid_tx: Option<tokio::sync::oneshot::Sender<u32>>,
    mut cancel: watch::Receiver<bool>,
) -> std::io::Result<ShellExit> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    let mut guard = GroupGuard::new(pid as i32);
    if let Some(tx) = pid_tx {
        let _ = tx.send(pid);
    }
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(pump(s, Stream::Stdout, lines.clone())));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(pump(s, Stream::Stderr, lines)));

    let sleep = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let mut exit = ShellExit {
        code: None,
        signal: None,
        timed_out: false,
        cancelled: *cancel.borrow(),
    };
    let status = if exit.cancelled {
        None
    } else {
        tokio::select! {
            s = child.wait() => Some(s?),
            () = &mut sleep => { exit.timed_out = true; None }
            _ = wait_true(&mut cancel) => { exit.cancelled = true; None }
        }
    };
    let status = match status {
        Some(s) => s,
        None => {
            guard.terminate(KILL_GRACE).await;
            child.wait().await?
        }
    };
    // The leader is gone: whatever it left in its group goes too, so pipes close and nothing lingers.
    if guard.alive() {
        guard.terminate(KILL_GRACE).await;
    } else {
        guard.armed = false;
    }
    for h in [out, err].into_iter().flatten() {
        let _ = h.await;
    }
    use std::os::unix::process::ExitStatusExt;
    exit.code = status.code();
    exit.signal = status.signal();
    Ok(exit)
}

async fn wait_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Reads `r` line by line (lossy UTF-8, lines capped at [`MAX_LINE`]) into `tx`.
async fn pump<R: AsyncRead + Unpin>(r: R, stream: Stream, tx: mpsc::Sender<(Stream, String)>) {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    loop {
        let (consumed, done_line) = {
            let avail = match reader.fill_buf().await {
                Ok(a) => a,
                Err(_) => break,
            };
            if avail.is_empty() {
                break;
            }
            match avail.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    buf.extend_from_slice(&avail[..i]);
                    (i + 1, true)
                }
                None => {
                    buf.extend_from_slice(avail);
                    (avail.len(), false)
                }
            }
        };
        reader.consume(consumed);
        if done_line || buf.len() >= MAX_LINE {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            let text = String::from_utf8_lossy(&buf).into_owned();
            buf.clear();
            if tx.send((stream, text)).await.is_err() {
                return;
            }
        }
    }
    if !buf.is_empty() {
        let _ = tx
            .send((stream, String::from_utf8_lossy(&buf).into_owned()))
            .await;
    }
}
