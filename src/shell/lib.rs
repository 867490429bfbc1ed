//! `cutover-shell`: running one shell command the way a cutover step needs it.
//!
//! [`run_chunked`] starts `sh -c COMMAND` in its own process group with stdin null and both
//! output pipes read in large chunks and split into lines ([`Chunk`]); the whole group is
//! killed on timeout, on cancel, and when the command ends (nothing it started lingers), and a
//! [`GroupGuard`] kills it if the caller goes away. Used by the engine for `run` steps and
//! waits, and by the `command` lag probe.
#![forbid(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use cutover_model::protocol::Stream;

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

async fn run_with<S: Sink>(
    spec: &ShellSpec,
    lines: S,
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
    if let Some(o) = &child.stdout {
        grow_pipe(o);
    }
    if let Some(e) = &child.stderr {
        grow_pipe(e);
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

/// Complete output lines of one stream, as read in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The stream the lines came from.
    pub stream: Stream,
    /// The lines, each followed by `\n` (lossy UTF-8, `\r\n` endings stripped, none longer
    /// than [`MAX_LINE`] bytes).
    pub text: String,
}

impl Chunk {
    /// The lines, without their `\n`.
    pub fn lines(&self) -> std::str::SplitTerminator<'_, char> {
        self.text.split_terminator('\n')
    }
}

/// Where [`pump`] delivers lines.
trait Sink: Clone + Send + 'static {
    /// Delivers a chunk; false when nobody listens any more.
    fn deliver(&self, chunk: Chunk) -> impl Future<Output = bool> + Send;
}

impl Sink for mpsc::Sender<Chunk> {
    async fn deliver(&self, chunk: Chunk) -> bool {
        self.send(chunk).await.is_ok()
    }
}

/// One message per line.
#[derive(Clone)]
struct PerLine(mpsc::Sender<(Stream, String)>);

impl Sink for PerLine {
    async fn deliver(&self, chunk: Chunk) -> bool {
        for l in chunk.lines() {
            if self.0.send((chunk.stream, l.to_owned())).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Pipe capacity asked for: a step that floods output runs ahead of the reader instead of
/// stopping every 64 KiB (the default) to wait for it. 1 MiB is the default
/// `/proc/sys/fs/pipe-max-size`, so any user gets it unless their pipe quota is used up.
const PIPE_SIZE: i32 = 1024 * 1024;

/// Asks for a [`PIPE_SIZE`] pipe; when refused the pipe keeps its size, which only costs speed.
fn grow_pipe(pipe: &impl std::os::fd::AsRawFd) {
    // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own only changes its capacity; an error
    // (EPERM over quota, EBUSY when shrinking) leaves the pipe as it was.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
    }
}

/// Bytes read from a pipe at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Splits a byte stream into lines: lossy UTF-8, `\r\n` endings stripped, lines longer than
/// [`MAX_LINE`] cut into pieces of at most [`MAX_LINE`] bytes (at a character boundary when
/// there is one near). Clean output (valid UTF-8, no `\r`, no over-long line) is copied in one
/// go, with no work per line: output floods cost little more than the copy.
#[derive(Debug)]
struct Splitter {
    stream: Stream,
    /// The unfinished last line (never more than [`MAX_LINE`] bytes between calls).
    partial: Vec<u8>,
}

impl Splitter {
    fn new(stream: Stream) -> Self {
        Splitter {
            stream,
            partial: Vec::new(),
        }
    }

    fn chunk(&self, capacity: usize) -> Chunk {
        Chunk {
            stream: self.stream,
            text: String::with_capacity(capacity),
        }
    }

    /// The complete lines of `partial + bytes`; the rest is kept for the next call.
    fn feed(&mut self, bytes: &[u8]) -> Chunk {
        let mut chunk = self.chunk(bytes.len() + self.partial.len());
        let mut rest = bytes;
        if !self.partial.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&rest[..i]);
                    self.line(&mut chunk.text, &line, true);
                    rest = &rest[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        if let Some(last) = memchr::memrchr(b'\n', rest) {
            self.complete(&mut chunk.text, &rest[..=last]);
            rest = &rest[last + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_LINE {
            let long = std::mem::take(&mut self.partial);
            let mut at = 0;
            while long.len() - at > MAX_LINE {
                let cut = at + char_cut(&long[at..at + MAX_LINE + 1]);
                self.line(&mut chunk.text, &long[at..cut], false);
                at = cut;
            }
            self.partial.extend_from_slice(&long[at..]);
        }
        chunk
    }

    /// Adds `complete`: lines, each followed by `\n`.
    fn complete(&self, text: &mut String, complete: &[u8]) {
        if !has_long_line(complete) && memchr::memchr(b'\r', complete).is_none() {
            if let Ok(clean) = std::str::from_utf8(complete) {
                text.push_str(clean);
                return;
            }
        }
        for line in complete[..complete.len() - 1].split(|&b| b == b'\n') {
            self.line(text, line, true);
        }
    }

    /// What is left at the end of the stream.
    fn finish(&mut self) -> Chunk {
        let mut chunk = self.chunk(self.partial.len() + 1);
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.line(&mut chunk.text, &last, false);
        }
        chunk
    }

    /// Adds one line (or, when longer than [`MAX_LINE`], its pieces).
    fn line(&self, text: &mut String, mut bytes: &[u8], ended: bool) {
        if ended && bytes.last() == Some(&b'\r') {
            bytes = &bytes[..bytes.len() - 1];
        }
        while bytes.len() > MAX_LINE {
            let cut = char_cut(&bytes[..MAX_LINE + 1]);
            push_line(text, &bytes[..cut]);
            bytes = &bytes[cut..];
        }
        push_line(text, bytes);
    }
}

fn push_line(text: &mut String, bytes: &[u8]) {
    text.push_str(&String::from_utf8_lossy(bytes));
    text.push('\n');
}

/// Whether `lines` (ending with `\n`) may hold a line longer than [`MAX_LINE`] bytes. Such a
/// line holds more than `2 * (MAX_LINE / 2)` bytes without a `\n`, so it covers a whole aligned
/// block of `MAX_LINE / 2` bytes; when every block has a `\n` (found within a few bytes in
/// ordinary output), no line is too long. False positives only cost the slow path.
fn has_long_line(lines: &[u8]) -> bool {
    lines
        .chunks(MAX_LINE / 2)
        .any(|block| memchr::memchr(b'\n', block).is_none())
}

/// Where to cut `head` (one byte longer than the longest piece) so the piece is at most
/// `head.len() - 1` bytes and, when possible, ends at a UTF-8 character boundary.
fn char_cut(head: &[u8]) -> usize {
    let max = head.len() - 1;
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&i| i > 0 && (head[i] & 0xC0) != 0x80)
        .unwrap_or(max)
}

/// Reads `r` in large chunks and sends its lines (see [`Splitter`]) to `sink`.
async fn pump<R: AsyncRead + Unpin, S: Sink>(mut r: R, stream: Stream, sink: S) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut split = Splitter::new(stream);
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = split.feed(&buf[..n]);
        if !chunk.text.is_empty() && !sink.deliver(chunk).await {
            return;
        }
    }
    let chunk = split.finish();
    if !chunk.text.is_empty() {
        let _ = sink.deliver(chunk).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns every line.
    fn split(input: &[u8], step: usize) -> Vec<String> {
        let mut s = Splitter::new(Stream::Stdout);
        let mut out = Vec::new();
        let chunks = input
            .chunks(step)
            .map(|b| s.feed(b))
            .collect::<Vec<_>>()
            .into_iter()
            .chain([s.finish()]);
        for c in chunks {
            assert!(c.text.is_empty() || c.text.ends_with('\n'));
            out.extend(c.lines().map(String::from));
        }
        out
    }

    #[test]
    fn lines_are_the_same_whatever_the_read_sizes() {
        let input = b"one\r\ntwo\n\nthree\xff\xfe\nlast-no-newline";
        let want = ["one", "two", "", "three\u{fffd}\u{fffd}", "last-no-newline"];
        for step in [1, 2, 3, 5, 7, 64, 1024] {
            assert_eq!(split(input, step), want, "read size {step}");
        }
        // Clean input takes the one-pass path; the result is the same as line by line.
        let input = "a\nbé\n\nc d\n\nend".as_bytes();
        let want = ["a", "bé", "", "c d", "", "end"];
        for step in [1, 2, 3, 64] {
            assert_eq!(split(input, step), want, "read size {step}");
        }
    }

    #[test]
    fn the_long_line_check_never_misses_one() {
        // Every placement of one line around the limit among short lines.
        for before in [0, 1, 7, MAX_LINE / 2 - 1, MAX_LINE / 2, MAX_LINE / 2 + 3] {
            for len in [MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, MAX_LINE + 2] {
                let mut input = vec![b'x'; before];
                input.push(b'\n');
                input.extend(std::iter::repeat_n(b'y', len));
                input.extend_from_slice(b"\nshort\n");
                let longest = input
                    .split(|&b| b == b'\n')
                    .map(<[u8]>::len)
                    .max()
                    .unwrap_or(0);
                if longest > MAX_LINE {
                    assert!(has_long_line(&input), "before {before}, len {len}");
                }
            }
        }
        assert!(!has_long_line("1\n2\n3\n".repeat(20_000).as_bytes()));
    }

    #[test]
    fn long_lines_are_cut_at_max_line_on_a_char_boundary() {
        let mut input = vec![b'a'; MAX_LINE - 1];
        input.extend_from_slice("é".as_bytes()); // straddles the MAX_LINE boundary
        input.extend_from_slice(&vec![b'b'; MAX_LINE + 5]);
        input.push(b'\n');
        input.extend_from_slice(&vec![b'c'; MAX_LINE]);
        input.push(b'\n');
        for step in [4096, 100_000] {
            let got = split(&input, step);
            assert!(got.iter().all(|l| l.len() <= MAX_LINE), "read size {step}");
            assert!(
                got.iter().all(|l| !l.contains('\u{fffd}')),
                "read size {step}"
            );
            assert_eq!(
                got.concat(),
                String::from_utf8_lossy(&input).replace('\n', "")
            );
            assert_eq!(
                got.last().map(String::len),
                Some(MAX_LINE),
                "read size {step}"
            );
            assert_eq!(got[0].len(), MAX_LINE - 1);
        }
    }

    #[test]
    fn partial_line_memory_stays_bounded() {
        let mut s = Splitter::new(Stream::Stderr);
        for _ in 0..100 {
            let c = s.feed(&[b'x'; 10_000]);
            assert!(s.partial.len() <= MAX_LINE);
            assert_eq!(c.stream, Stream::Stderr);
        }
    }

    #[tokio::test]
    async fn chunked_run_keeps_order_per_stream() {
        let spec = ShellSpec {
            command: "seq 20000; seq 3 >&2; printf tail".into(),
            env: vec![],
            timeout: None,
        };
        let (tx, mut rx) = mpsc::channel::<Chunk>(2);
        let (_c, cancel) = watch::channel(false);
        let collect = async {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            while let Some(c) = rx.recv().await {
                let to = match c.stream {
                    Stream::Stdout => &mut out,
                    Stream::Stderr => &mut err,
                };
                to.extend(c.lines().map(String::from));
            }
            (out, err)
        };
        let (exit, (out, err)) = tokio::join!(run_chunked(&spec, tx, None, cancel), collect);
        assert_eq!(exit.expect("ran").code, Some(0));
        let mut want: Vec<String> = (1..=20000).map(|i| i.to_string()).collect();
        want.push("tail".into());
        assert_eq!(out, want);
        assert_eq!(err, ["1", "2", "3"]);
    }
}
