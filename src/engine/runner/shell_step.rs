//! Running one shell command for a step: streamed, masked output to the front end and to the
//! step's output file, while answering the operator (cancel, abort, rollback).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot, watch};

use super::{EngineError, Runner, Stop};
use crate::expect::OutputWatch;
use cutover_model::file::create_private;
use cutover_model::protocol::{Event, Level, Stream};
use cutover_shell::{self as shell, Chunk, ShellExit, ShellSpec};

/// Bytes of output merged into one `Output` event (a single read can make it a little longer):
/// with the front end's bounded event channel, this bounds the output held in flight when the
/// front end falls behind.
const OUTPUT_BYTES: usize = 64 * 1024;
/// Read chunks (up to 64 KiB each) waiting between the pipes and the runner: the bound on
/// output held in memory while the front end catches up.
const CHUNKS_IN_FLIGHT: usize = 8;

/// How one shell execution ended.
pub(super) enum ShellRun {
    Exited(ShellExit, Option<Stop>),
    Failed(String),
}

impl Runner<'_> {
    /// `<output dir>/NN-<id>.<suffix>.log`.
    pub(super) fn output_path(&self, index: usize, suffix: &str) -> PathBuf {
        self.output_dir.join(format!(
            "{:02}-{}.{suffix}.log",
            index + 1,
            self.rb.steps[index].id
        ))
    }

    /// Runs one shell command, streaming masked output to the front end and to `file`,
    /// answering cancel / abort / rollback by killing the process group.
    pub(super) async fn exec(
        &mut self,
        index: usize,
        spec: &ShellSpec,
        watch: &mut OutputWatch,
        file: &Path,
    ) -> Result<ShellRun, EngineError> {
        let mut out = OutputFile::open(file);
        let (chunk_tx, mut chunk_rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let (pid_tx, pid_rx) = oneshot::channel();
        let mut pid_rx = Some(pid_rx);
        let fut = shell::run_chunked(spec, chunk_tx, Some(pid_tx), cancel_rx);
        tokio::pin!(fut);
        let mut stop: Option<Stop> = None;
        let mut exit: Option<std::io::Result<ShellExit>> = None;
        let mut lines_open = true;
        while exit.is_none() || lines_open {
            tokio::select! {
                biased;
                inbound = self.mailbox.recv(), if stop.is_none() && exit.is_none() => {
                    let busy = format!(
                        "step {} is running (cancel it first)",
                        self.rb.steps[index].id
                    );
                    stop = self.while_busy(inbound, index, &busy).await?;
                    if stop.is_some() {
                        let _ = cancel_tx.send(true);
                    }
                }
                pid = async {
                    match pid_rx.as_mut() {
                        Some(rx) => rx.await,
                        None => std::future::pending().await,
                    }
                }, if pid_rx.is_some() => {
                    pid_rx = None;
                    if let Ok(pid) = pid {
                        self.io.emit(Event::Process { index, pid }).await?;
                    }
                }
                first = chunk_rx.recv(), if lines_open => {
                    match first {
                        None => lines_open = false,
                        Some(first) => {
                            // Everything already read goes out at once (a lone line without
                            // delay), in events of about OUTPUT_BYTES at most, one stream each.
                            let mut batch = self.take_chunk(first, watch, &mut out);
                            for _ in 0..CHUNKS_IN_FLIGHT {
                                let Ok(next) = chunk_rx.try_recv() else { break };
                                let next = self.take_chunk(next, watch, &mut out);
                                if next.stream == batch.stream
                                    && batch.text.len() + next.text.len() <= OUTPUT_BYTES
                                {
                                    batch.text.push_str(&next.text);
                                } else {
                                    let full = std::mem::replace(&mut batch, next);
                                    self.emit_output(index, full).await?;
                                }
                            }
                            self.emit_output(index, batch).await?;
                            self.report_output_error(&mut out).await?;
                        }
                    }
                }
                r = &mut fut, if exit.is_none() => exit = Some(r),
            }
        }
        out.finish();
        self.report_output_error(&mut out).await?;
        Ok(match exit {
            Some(Ok(e)) => ShellRun::Exited(e, stop),
            Some(Err(e)) => ShellRun::Failed(e.to_string()),
            None => ShellRun::Failed("no exit status".into()),
        })
    }
}

impl Runner<'_> {
    /// Makes a chunk plain (no terminal escape sequences: a secret with colour codes inside is
    /// masked as the secret it shows as), masks it, and feeds it to the `expect` watch and the
    /// output file.
    fn take_chunk(&self, mut chunk: Chunk, watch: &mut OutputWatch, out: &mut OutputFile) -> Chunk {
        if let std::borrow::Cow::Owned(plain) = cutover_model::text::plain(&chunk.text) {
            chunk.text = plain;
        }
        self.masker.mask_lines(&mut chunk.text);
        watch.lines(chunk.stream, &chunk.text);
        out.write(chunk.stream, &chunk.text);
        chunk
    }

    /// Says (on screen and in the journal) that the output file could not be written, the
    /// first time it happens: the run goes on, and the output is still shown.
    async fn report_output_error(&mut self, out: &mut OutputFile) -> Result<(), EngineError> {
        if let Some(e) = out.take_error() {
            self.notice(Level::Warn, e).await?;
        }
        Ok(())
    }

    /// Sends a chunk's lines to the front end.
    async fn emit_output(&mut self, index: usize, chunk: Chunk) -> Result<(), EngineError> {
        let Chunk { stream, text } = chunk;
        self.io
            .emit(Event::Output {
                index,
                stream,
                text,
                at: Some(chrono::Utc::now()),
                skipped: 0,
            })
            .await
    }
}

/// The full output of one step attempt, on disk (0600), masked. A file that cannot be
/// opened or written is reported once (`take_error`), never silently cut short.
pub(super) struct OutputFile {
    path: PathBuf,
    w: Option<BufWriter<File>>,
    /// What went wrong, until it is reported.
    error: Option<String>,
}

impl OutputFile {
    /// Opens `path` for a new attempt's output: its directory is created 0700; whatever is at
    /// the path already (an older file, a symbolic link planted there) is removed, and the
    /// file is created anew, 0600, without following links.
    pub(super) fn open(path: &Path) -> Self {
        let opened = (|| -> std::io::Result<File> {
            if let Some(dir) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
                if std::fs::symlink_metadata(dir)?.file_type().is_symlink() {
                    return Err(std::io::Error::other(
                        "its directory is a symbolic link; refusing to write through it",
                    ));
                }
            }
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            create_private(path)
        })();
        let (w, error) = match opened {
            Ok(f) => (Some(BufWriter::with_capacity(64 * 1024, f)), None),
            Err(e) => (None, Some(Self::message(path, "cannot create", &e))),
        };
        OutputFile {
            path: path.to_path_buf(),
            w,
            error,
        }
    }

    fn message(path: &Path, what: &str, e: &std::io::Error) -> String {
        format!(
            "{what} the output file {}: {e}; from here on this step's output is only on screen",
            path.display()
        )
    }

    /// Writes `joined` (lines, each followed by `\n`); stderr lines get a `[stderr] ` prefix.
    pub(super) fn write(&mut self, stream: Stream, joined: &str) {
        if let Some(w) = &mut self.w {
            let r = match stream {
                Stream::Stdout => w.write_all(joined.as_bytes()),
                Stream::Stderr => joined
                    .split_terminator('\n')
                    .try_for_each(|l| writeln!(w, "[stderr] {l}")),
            };
            if let Err(e) = r {
                self.w = None;
                self.error = Some(Self::message(&self.path, "cannot write", &e));
            }
        }
    }

    /// An error not reported yet.
    pub(super) fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    /// Flushes the file (complete for any reader from here on) and syncs it to disk in the
    /// background: the fsync of a big output file (100+ ms for a few MB) must not hold up the
    /// step. The journal, not this file, is the durable record of what happened.
    pub(super) fn finish(&mut self) {
        if let Some(mut w) = self.w.take() {
            if let Err(e) = w.flush() {
                self.error = Some(Self::message(&self.path, "cannot write", &e));
                return;
            }
            let (file, _) = w.into_parts();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = file.sync_data() {
                    tracing::warn!("cannot sync a step output file: {e}");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_file_holds_each_line_with_stderr_marked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out").join("01-x.log");
        let mut f = OutputFile::open(&path);
        f.write(Stream::Stdout, "one\n\ntwo\n");
        f.write(Stream::Stderr, "oops\n\n");
        f.write(Stream::Stdout, "three\n");
        f.finish();
        assert_eq!(f.take_error(), None);
        let body = std::fs::read_to_string(&path).expect("read");
        assert_eq!(body, "one\n\ntwo\n[stderr] oops\n[stderr] \nthree\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[cfg(test)]
mod safe_open_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_planted_link_or_old_file_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").expect("write");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("mkdir");
        let link = out.join("01-x.1.log");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        let mut f = OutputFile::open(&link);
        f.write(Stream::Stdout, "new\n");
        f.finish();
        assert_eq!(f.take_error(), None);
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep me");
        let meta = std::fs::symlink_metadata(&link).expect("meta");
        assert!(meta.is_file(), "the link was replaced by a file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "new\n");
    }
}
