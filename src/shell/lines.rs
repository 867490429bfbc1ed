//! Turning a pipe's bytes into lines: read in large chunks, split once, sent as [`Chunk`]s.
// `unsafe` here: libc calls on the pipes the output is read from; each block says why it is sound.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use cutover_model::protocol::Stream;

use crate::MAX_LINE;

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
pub(crate) trait Sink: Clone + Send + 'static {
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
pub(crate) struct PerLine(pub(crate) mpsc::Sender<(Stream, String)>);

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
/// Returns how much the pipe can hold (at least [`PIPE_SIZE`]: never less than it may hold).
pub(crate) fn grow_pipe(pipe: &impl std::os::fd::AsRawFd) -> usize {
    let fd = pipe.as_raw_fd();
    // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own only changes its capacity; an error
    // (EPERM over quota, EBUSY when shrinking) leaves the pipe as it was. F_GETPIPE_SZ only
    // reads it.
    let size = unsafe {
        match libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE) {
            -1 => libc::fcntl(fd, libc::F_GETPIPE_SZ),
            n => n,
        }
    };
    size.max(PIPE_SIZE).unsigned_abs() as usize
}

/// Bytes read from a pipe at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Splits a byte stream into lines: lossy UTF-8, `\r\n` endings stripped, lines longer than
/// [`MAX_LINE`] cut into pieces of at most [`MAX_LINE`] bytes (at a character boundary when
/// there is one near). Clean output (valid UTF-8, no `\r`, no over-long line) is copied in one
/// go, with no work per line: output floods cost little more than the copy.
///
/// A long line is never cut inside one of the `keep` strings (the secrets): masking works line
/// by line, so a secret cut in two would show as two harmless-looking halves. To see a secret
/// that straddles a cut, the unfinished line is held until `hold` (the longest secret's length)
/// more bytes have arrived.
#[derive(Debug)]
struct Splitter {
    stream: Stream,
    /// The unfinished last line (never more than [`MAX_LINE`] + `hold` bytes between calls).
    partial: Vec<u8>,
    /// Strings a cut must not go through.
    keep: Vec<Vec<u8>>,
    /// Bytes of look-ahead a cut needs to see a straddling `keep` string.
    hold: usize,
}

impl Splitter {
    fn new(stream: Stream, keep: &[String]) -> Self {
        // A string as long as a piece cannot be kept whole anyway.
        let keep: Vec<Vec<u8>> = keep
            .iter()
            .filter(|k| !k.is_empty() && k.len() <= MAX_LINE / 2)
            .map(|k| k.as_bytes().to_vec())
            .collect();
        let hold = keep.iter().map(Vec::len).max().unwrap_or(0);
        Splitter {
            stream,
            partial: Vec::new(),
            keep,
            hold,
        }
    }

    /// Where to end the next piece of `bytes` (a long line's rest): at most [`MAX_LINE`]
    /// bytes, at a character boundary when there is one near, and never inside a `keep`
    /// string that the bytes show whole.
    fn cut(&self, bytes: &[u8]) -> usize {
        let mut cut = char_cut(&bytes[..MAX_LINE + 1]);
        for _ in 0..8 {
            let straddling = self
                .keep
                .iter()
                .filter_map(|k| {
                    let from = (cut + 1).saturating_sub(k.len());
                    let to = (cut + k.len() - 1).min(bytes.len());
                    memchr::memmem::find_iter(&bytes[from..to], k)
                        .map(|i| from + i)
                        .find(|&start| start < cut && start + k.len() > cut)
                })
                .min();
            match straddling {
                Some(start) if start > 0 => cut = start,
                _ => break,
            }
        }
        cut
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
        if self.partial.len() > MAX_LINE + self.hold {
            let long = std::mem::take(&mut self.partial);
            let mut at = 0;
            while long.len() - at > MAX_LINE + self.hold {
                let cut = at + self.cut(&long[at..]);
                push_line(&mut chunk.text, &long[at..cut]);
                at = cut;
            }
            self.partial.extend_from_slice(&long[at..]);
        }
        chunk
    }

    /// Adds `complete`: lines, each followed by `\n`.
    fn complete(&self, text: &mut String, complete: &[u8]) {
        if !has_long_line(complete)
            && memchr::memchr(b'\r', complete).is_none()
            && let Ok(clean) = std::str::from_utf8(complete)
        {
            text.push_str(clean);
            return;
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
            let cut = self.cut(bytes);
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

/// Once the command's process group is gone, how long a pipe may stay open with nothing in
/// it before it is no longer read. Only a process that left the group (`setsid cmd &` with
/// its output not redirected) can still hold the pipe then, and waiting for it to close would
/// hold the step (or hook) past its end and its timeout.
pub const DRAIN_IDLE: Duration = Duration::from_secs(1);
/// Once the group is gone, how long in all such a process may keep the pipe read by writing
/// to it now and then. Time spent handing output on to a slow reader does not count: what the
/// pipe already holds is always read to the end.
pub const DRAIN_MAX: Duration = Duration::from_secs(5);

/// Reads `r` (a pipe that holds `capacity` bytes) in large chunks and sends its lines (see
/// [`Splitter`]) to `sink`, until the pipe ends or, once `cleared` holds the instant the
/// command's group was cleared, the pipe has been idle [`DRAIN_IDLE`] (or waited on
/// [`DRAIN_MAX`] in all), or more than it can hold has been read since (only a writer outside
/// the group can add to it then); a last line then says that reading stopped early, on stderr.
pub(crate) async fn pump<R: AsyncRead + Unpin, S: Sink>(
    mut r: R,
    stream: Stream,
    keep: &[String],
    sink: S,
    mut cleared: watch::Receiver<Option<Instant>>,
    capacity: usize,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut split = Splitter::new(stream, keep);
    let mut waited = Duration::ZERO;
    let mut read_since = 0usize;
    let held_open = loop {
        let started = Instant::now();
        let read = tokio::select! {
            r = r.read(&mut buf) => Some(r),
            () = drain_bound(&mut cleared, waited) => None,
        };
        // Time waited on the pipe since the group was cleared (handing output on is not).
        let waiting = cleared.borrow().map(|at| started.max(at).elapsed());
        let n = match read {
            None => break true,
            Some(Ok(0) | Err(_)) => break false,
            Some(Ok(n)) => n,
        };
        let chunk = split.feed(&buf[..n]);
        if !chunk.text.is_empty() && !sink.deliver(chunk).await {
            return;
        }
        if let Some(w) = waiting {
            waited += w;
            read_since += n;
            if read_since > capacity {
                break true;
            }
        }
    };
    let chunk = split.finish();
    if !chunk.text.is_empty() && !sink.deliver(chunk).await {
        return;
    }
    if held_open {
        let name = match stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        let _ = sink
            .deliver(Chunk {
                stream: Stream::Stderr,
                text: format!("{HELD_OPEN_PREFIX}{name}{HELD_OPEN_SUFFIX}\n"),
            })
            .await;
    }
}

/// The note's words before the stream's name: what a pipe held open past the command's end
/// gets as its last line.
pub const HELD_OPEN_PREFIX: &str = "cutover: stopped reading ";
/// The note's words after the stream's name.
pub const HELD_OPEN_SUFFIX: &str = " after the command ended: a process that left its process \
                                    group (setsid … &) still holds it open";

/// Resolves when reading should stop: [`DRAIN_IDLE`] (or what is left of [`DRAIN_MAX`] after
/// `waited`) after the group was cleared, or after now when it was cleared before.
async fn drain_bound(cleared: &mut watch::Receiver<Option<Instant>>, waited: Duration) {
    loop {
        if cleared.borrow_and_update().is_some() {
            break;
        }
        if cleared.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
    tokio::time::sleep(DRAIN_MAX.saturating_sub(waited).min(DRAIN_IDLE)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns every line.
    fn split(input: &[u8], step: usize) -> Vec<String> {
        let mut s = Splitter::new(Stream::Stdout, &[]);
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
    fn a_long_line_is_never_cut_inside_a_secret() {
        let secret = "s3cr3t-token-value";
        for offset in [MAX_LINE - 3, MAX_LINE - 1, MAX_LINE - secret.len() + 1] {
            let mut input = vec![b'x'; offset];
            input.extend_from_slice(secret.as_bytes());
            input.extend(std::iter::repeat_n(b'y', MAX_LINE + 10));
            input.push(b'\n');
            for step in [1000, 100_000] {
                let mut s = Splitter::new(Stream::Stdout, &[secret.to_string()]);
                let mut chunks: Vec<Chunk> = input.chunks(step).map(|b| s.feed(b)).collect();
                chunks.push(s.finish());
                let lines: Vec<String> = chunks
                    .iter()
                    .flat_map(|c| c.lines().map(String::from))
                    .collect();
                assert!(
                    lines.iter().any(|l| l.contains(secret)),
                    "offset {offset}, read size {step}: the secret was cut"
                );
                assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
                assert_eq!(
                    lines.concat(),
                    String::from_utf8_lossy(&input[..input.len() - 1])
                );
            }
        }
    }

    #[test]
    fn partial_line_memory_stays_bounded() {
        let mut s = Splitter::new(Stream::Stderr, &[]);
        for _ in 0..100 {
            let c = s.feed(&[b'x'; 10_000]);
            assert!(s.partial.len() <= MAX_LINE);
            assert_eq!(c.stream, Stream::Stderr);
        }
    }
}
