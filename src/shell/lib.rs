//! `cutover-shell`: running one shell command the way a cutover step needs it.
//!
//! [`run_chunked`] starts `sh -c COMMAND` in its own process group with stdin null and both
//! output pipes read in large chunks and split into lines ([`Chunk`]); the whole group is
//! killed on timeout, on cancel, and when the command ends (nothing it started lingers), and a
//! [`GroupGuard`] kills it if the caller goes away. Used by the engine for `run` steps and
//! waits, and by the `command` lag probe. [`signals`] takes signals over by name for every
//! front end.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use cutover_model::protocol::Stream;

mod group;
mod lines;
pub mod signals;

pub use group::{GroupGuard, environ_holds, group_alive, group_members, pid_alive, signal_group};
pub use lines::{Chunk, DRAIN_IDLE, DRAIN_MAX, HELD_OPEN_PREFIX, HELD_OPEN_SUFFIX};

use lines::{PerLine, Sink, grow_pipe, pump};

/// How long a group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// Longest line kept; longer lines are split.
pub const MAX_LINE: usize = 16 * 1024;

/// What to run: one `sh -c` command with its environment and time limit.
#[derive(Debug, Clone)]
pub struct ShellSpec {
    /// The command, secrets filled in.
    pub command: String,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// The hard limit: the whole group is killed when it passes.
    pub timeout: Option<Duration>,
    /// Strings a long output line is never cut inside (the secrets, so that masking, which
    /// works line by line, sees each of them whole).
    pub keep_whole: Vec<String>,
    /// What the command reads on stdin (`None`: nothing, stdin is /dev/null).
    pub stdin: Option<String>,
    /// Whether nothing follows the command up should cutover die while it runs (a notify hook,
    /// a probe, unlike a step, whose process group the journal names for a resume): its
    /// timeout then holds without cutover, the coreutils `timeout` running it a little
    /// longer ([`UNTRACKED_GRACE`]) and killing its whole group when that passes.
    pub untracked: bool,
}

/// How much longer than its own timeout an untracked command is given before `timeout`
/// kills it (cutover, when alive, kills it at its timeout first).
pub const UNTRACKED_GRACE: Duration = Duration::from_secs(5);

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

/// Runs `spec`, sending output lines one by one on `lines`, and the pid on `pid_tx` once
/// spawned. `cancel` flipping to true kills the group.
pub async fn run(
    spec: &ShellSpec,
    lines: mpsc::Sender<(Stream, String)>,
    pid_tx: Option<tokio::sync::oneshot::Sender<u32>>,
    cancel: watch::Receiver<bool>,
) -> std::io::Result<ShellExit> {
    run_with(spec, PerLine(lines), pid_tx, cancel).await
}

/// Runs `spec` like [`run`], sending output in [`Chunk`]s (all the complete lines of one read)
/// on `chunks`: for output floods.
pub async fn run_chunked(
    spec: &ShellSpec,
    chunks: mpsc::Sender<Chunk>,
    pid_tx: Option<tokio::sync::oneshot::Sender<u32>>,
    cancel: watch::Receiver<bool>,
) -> std::io::Result<ShellExit> {
    run_with(spec, chunks, pid_tx, cancel).await
}

/// Runs `spec` sending its output to `lines`: spawns it, reports its pid, waits for it to
/// end, time out or be cancelled, then clears its group and drains both pipes (bounded by
/// [`DRAIN_IDLE`] and [`DRAIN_MAX`] when something outside the group holds them open).
async fn run_with<S: Sink>(
    spec: &ShellSpec,
    lines: S,
    pid_tx: Option<tokio::sync::oneshot::Sender<u32>>,
    mut cancel: watch::Receiver<bool>,
) -> std::io::Result<ShellExit> {
    let mut child = command(spec).spawn()?;
    feed_stdin(spec, &mut child);
    let pid = child.id().unwrap_or(0);
    let mut guard = GroupGuard::new(pid as i32);
    if let Some(tx) = pid_tx {
        let _ = tx.send(pid);
    }
    let (cleared_tx, cleared) = watch::channel(None);
    let pumps = start_pumps(&mut child, spec, lines, &cleared);
    let mut exit = ShellExit {
        code: None,
        signal: None,
        timed_out: false,
        cancelled: *cancel.borrow(),
    };
    let status = if exit.cancelled {
        None
    } else {
        wait_or_stop(&mut child, spec.timeout, &mut cancel, &mut exit).await?
    };
    let stopped = status.is_none();
    let status = match status {
        Some(s) => s,
        None => {
            guard.terminate(KILL_GRACE).await;
            child.wait().await?
        }
    };
    clear_group(&mut guard, stopped).await;
    let _ = cleared_tx.send(Some(std::time::Instant::now()));
    for h in pumps.into_iter().flatten() {
        let _ = h.await;
    }
    use std::os::unix::process::ExitStatusExt;
    exit.code = status.code();
    exit.signal = status.signal();
    Ok(exit)
}

/// `sh -c COMMAND` with the spec's environment, in a process group of its own, stdout and
/// stderr piped, stdin piped when there is text to feed it (else /dev/null), and killed if
/// the handle is dropped.
fn command(spec: &ShellSpec) -> Command {
    let mut cmd = match spec
        .timeout
        .filter(|_| spec.untracked && has_timeout_utility())
    {
        Some(t) => {
            let mut c = Command::new("timeout");
            // `-k`, not `--kill-after`: BusyBox's `timeout` takes the short option only.
            c.args(["-k", "2"])
                .arg(format!("{:.3}", (t + UNTRACKED_GRACE).as_secs_f64()))
                .arg("sh");
            c
        }
        None => Command::new("sh"),
    };
    cmd.arg("-c")
        .arg(&spec.command)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd
}

/// Whether a `timeout` on the PATH runs a command the way [`command`] calls it (checked
/// once, by running `timeout -k 1 5 true`): one that does not (an old BusyBox, something
/// else of that name, one that has not ended within 2 s) is not used, and the command runs as
/// `sh` alone.
fn has_timeout_utility() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        let Ok(mut child) = std::process::Command::new("timeout")
            .args(["-k", "1", "5.000", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return false;
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    // A `timeout` that does not end is not one to rely on: it is ended, and
                    // reaped.
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    })
}

/// Writes the spec's stdin text to the child on a task of its own, if there is any.
fn feed_stdin(spec: &ShellSpec, child: &mut Child) {
    if let (Some(text), Some(mut pipe)) = (spec.stdin.clone(), child.stdin.take()) {
        // Written beside the run: a command that never reads its stdin cannot block us, and
        // the pipe closes when it is written (or the command went away).
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
}

/// Enlarges the child's stdout and stderr pipes and starts a task reading each into `lines`;
/// returns the tasks (stdout's, then stderr's) to wait for once the command is over.
fn start_pumps<S: Sink>(
    child: &mut Child,
    spec: &ShellSpec,
    lines: S,
    cleared: &watch::Receiver<Option<std::time::Instant>>,
) -> [Option<JoinHandle<()>>; 2] {
    let out = child.stdout.take().map(|s| {
        let capacity = grow_pipe(&s);
        tokio::spawn(pump_owned(
            s,
            Stream::Stdout,
            spec.keep_whole.clone(),
            lines.clone(),
            (cleared.clone(), capacity),
        ))
    });
    let err = child.stderr.take().map(|s| {
        let capacity = grow_pipe(&s);
        tokio::spawn(pump_owned(
            s,
            Stream::Stderr,
            spec.keep_whole.clone(),
            lines,
            (cleared.clone(), capacity),
        ))
    });
    [out, err]
}

/// Waits for the child to exit, the `timeout` to pass or `cancel` to turn true, whichever
/// comes first: its exit status, or `None` when it was stopped (with `exit.timed_out` or
/// `exit.cancelled` set to say why) and still has to be terminated.
async fn wait_or_stop(
    child: &mut Child,
    timeout: Option<Duration>,
    cancel: &mut watch::Receiver<bool>,
    exit: &mut ShellExit,
) -> std::io::Result<Option<ExitStatus>> {
    let sleep = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    Ok(tokio::select! {
        s = child.wait() => Some(s?),
        () = &mut sleep => { exit.timed_out = true; None }
        _ = wait_true(cancel) => { exit.cancelled = true; None }
    })
}

/// Clears what the command left in its group once its leader is gone, so that pipes close
/// and nothing lingers: nothing to do when the group is empty; a group that was stopped
/// already had its grace and is killed at once; otherwise it gets SIGTERM, then SIGKILL after
/// [`KILL_GRACE`].
async fn clear_group(guard: &mut GroupGuard, stopped: bool) {
    if !guard.alive() {
        guard.disarm();
    } else if stopped {
        guard.kill();
    } else {
        guard.terminate(KILL_GRACE).await;
    }
}

/// [`pump`] on a task of its own, owning what it keeps whole.
async fn pump_owned<R: tokio::io::AsyncRead + Unpin, S: Sink>(
    r: R,
    stream: Stream,
    keep: Vec<String>,
    sink: S,
    (cleared, capacity): (watch::Receiver<Option<std::time::Instant>>, usize),
) {
    pump(r, stream, &keep, sink, cleared, capacity).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `command` with no environment, no time limit, nothing kept whole and no stdin.
    fn plain_spec(command: &str) -> ShellSpec {
        ShellSpec {
            command: command.into(),
            env: vec![],
            timeout: None,
            keep_whole: vec![],
            stdin: None,
            untracked: false,
        }
    }

    /// Every chunk `rx` is sent until it closes: the stdout lines and the stderr lines.
    async fn lines_of(mut rx: mpsc::Receiver<Chunk>) -> (Vec<String>, Vec<String>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(c) = rx.recv().await {
            let to = match c.stream {
                Stream::Stdout => &mut out,
                Stream::Stderr => &mut err,
            };
            to.extend(c.lines().map(String::from));
        }
        (out, err)
    }

    #[tokio::test]
    async fn chunked_run_keeps_order_per_stream() {
        let spec = plain_spec("seq 20000; seq 3 >&2; printf tail");
        let (tx, rx) = mpsc::channel::<Chunk>(2);
        let (_c, cancel) = watch::channel(false);
        let (exit, (out, err)) = tokio::join!(run_chunked(&spec, tx, None, cancel), lines_of(rx));
        assert_eq!(exit.expect("ran").code, Some(0));
        let mut want: Vec<String> = (1..=20000).map(|i| i.to_string()).collect();
        want.push("tail".into());
        assert_eq!(out, want);
        assert_eq!(err, ["1", "2", "3"]);
    }

    /// Runs `command` with no time limit, the reader waiting `delay` before it takes any
    /// output; returns the exit and the stdout and stderr lines.
    async fn run_slow_reader(
        command: &str,
        delay: Duration,
    ) -> (ShellExit, Vec<String>, Vec<String>) {
        let spec = plain_spec(command);
        let (tx, rx) = mpsc::channel::<Chunk>(1);
        let (_c, cancel) = watch::channel(false);
        let collect = async {
            tokio::time::sleep(delay).await;
            lines_of(rx).await
        };
        let run = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(run_chunked(&spec, tx, None, cancel), collect)
        });
        let (exit, (out, err)) = run.await.expect("the run ended while the daemon lived on");
        (exit.expect("ran"), out, err)
    }

    /// Runs a command that starts `daemon` outside its group (its output still the command's)
    /// and ends: the run must end anyway, with the command's own lines and a note for each
    /// stream whose reading was stopped.
    /// `streams`: those whose reading is stopped (sorted).
    async fn held_open_by(daemon: &str, name: &str, streams: &[&str]) {
        let dir = std::env::temp_dir().join(format!("cutover-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pid_file = dir.join("daemon.pid");
        // The command waits for the daemon's pid, so that it has left the group before the
        // group is cleared.
        let command = format!(
            "echo before; setsid sh -c 'echo $$ > {pid}; exec {daemon}' & \
             while [ ! -s {pid} ]; do sleep 0.05; done; echo after",
            pid = pid_file.display()
        );
        let (exit, out, err) = run_slow_reader(&command, Duration::ZERO).await;
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .expect("pid")
            .trim()
            .parse()
            .expect("a pid");
        // `setsid` made the daemon the leader of a group of its own.
        signal_group(pid, libc::SIGKILL);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(exit.code, Some(0));
        assert!(!exit.timed_out);
        let ours: Vec<&String> = out.iter().filter(|l| !l.starts_with('y')).collect();
        assert_eq!(ours, ["before", "after"], "{name}");
        let note = |s: &str| format!("{HELD_OPEN_PREFIX}{s}{HELD_OPEN_SUFFIX}");
        let mut notes: Vec<&String> = err.iter().filter(|l| l.starts_with("cutover:")).collect();
        notes.sort();
        let want: Vec<String> = streams.iter().map(|s| note(s)).collect();
        assert_eq!(notes, want.iter().collect::<Vec<_>>(), "{name}");
    }

    #[tokio::test]
    async fn a_pipe_held_open_by_a_process_outside_the_group_ends_the_run_anyway() {
        // Silent: without a bound the run waits for it (300 s).
        held_open_by("sleep 300", "silent", &["stderr", "stdout"]).await;
        // Writing without a pause: the pipe is never idle, but the run reads no more after
        // the group is gone than the pipe could hold then. Its stdout no longer read, `yes`
        // dies of SIGPIPE, which closes its stderr.
        held_open_by("yes", "flooding", &["stdout"]).await;
    }

    #[tokio::test]
    async fn output_a_slow_reader_has_not_taken_yet_is_all_delivered() {
        // The command ends at once with ~900 KB in the pipe while the reader waits longer
        // than the idle bound: the pump is blocked handing output on, not waiting on an idle
        // pipe, so none of it may be dropped.
        let (exit, out, err) =
            run_slow_reader("seq 150000", DRAIN_IDLE + Duration::from_secs(2)).await;
        assert_eq!(exit.code, Some(0));
        let want: Vec<String> = (1..=150_000).map(|i| i.to_string()).collect();
        assert_eq!(out.len(), want.len());
        assert_eq!(out, want);
        assert!(err.is_empty(), "{err:?}");
    }
}
