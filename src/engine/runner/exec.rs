//! Running one shell command for a step: streamed, masked output to the front end and to the
//! step's output file, while answering the operator (cancel, abort, rollback).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use tokio::sync::{oneshot, watch};

use super::triggers::Inbound;
use super::*;
use crate::engine::exec::expect::OutputWatch;
use crate::engine::exec::shell::{self, ShellSpec};

/// Lines sent to the front end in one `Output` event, at most.
const OUTPUT_BATCH: usize = 512;

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
        let (line_tx, mut line_rx) = mpsc::channel::<(Stream, String)>(4096);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let (pid_tx, pid_rx) = oneshot::channel();
        let mut pid_rx = Some(pid_rx);
        let fut = shell::run(spec, line_tx, Some(pid_tx), cancel_rx);
        tokio::pin!(fut);
        let mut stop: Option<Stop> = None;
        let mut exit: Option<std::io::Result<ShellExit>> = None;
        let mut batch: Vec<Line> = Vec::new();
        let mut lines_open = true;
        while exit.is_none() || lines_open {
            tokio::select! {
                biased;
                inbound = self.recv(), if stop.is_none() && exit.is_none() => {
                    let cmd = match inbound {
                        Inbound::Cmd(c) => Some(c),
                        Inbound::Tick => self.on_tick().await?,
                    };
                    let id = self.rb.steps[index].id.clone();
                    let screened = match cmd {
                        Some(c) => self.screen(c).await?,
                        None => None,
                    };
                    match screened {
                        None => {}
                        Some(Command::Cancel) => {
                            self.operator_action(Some(&id), OperatorAction::Cancel).await?;
                            stop = Some(Stop::Cancel);
                        }
                        Some(Command::Abort { reason }) => stop = Some(Stop::Abort(reason)),
                        Some(Command::Rollback { .. }) => stop = Some(Stop::Rollback),
                        Some(other) => {
                            let msg = format!("{} does nothing now: step {id} is running (cancel it first)", cmd_name(&other));
                            self.notice(Level::Warn, msg).await?;
                        }
                    }
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
                first = line_rx.recv(), if lines_open => {
                    match first {
                        None => lines_open = false,
                        Some(first) => {
                            let mut next = Some(first);
                            while let Some((stream, text)) = next.take() {
                                let text = self.masker.mask(&text).into_owned();
                                match stream {
                                    Stream::Stdout => watch.stdout(&text),
                                    Stream::Stderr => watch.stderr(&text),
                                }
                                out.write(stream, &text);
                                batch.push(Line { stream, text });
                                if batch.len() >= OUTPUT_BATCH {
                                    break;
                                }
                                next = line_rx.try_recv().ok();
                            }
                            let lines = std::mem::take(&mut batch);
                            self.io.emit(Event::Output { index, lines }).await?;
                        }
                    }
                }
                r = &mut fut, if exit.is_none() => exit = Some(r),
            }
        }
        out.finish();
        Ok(match exit {
            Some(Ok(e)) => ShellRun::Exited(e, stop),
            Some(Err(e)) => ShellRun::Failed(e.to_string()),
            None => ShellRun::Failed("no exit status".into()),
        })
    }
}

/// The full output of one step attempt, on disk (0600), masked.
struct OutputFile {
    w: Option<BufWriter<File>>,
}

impl OutputFile {
    fn open(path: &Path) -> Self {
        let w = (|| {
            if let Some(dir) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .ok()?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .ok()
                .map(|f| BufWriter::with_capacity(64 * 1024, f))
        })();
        if w.is_none() {
            tracing::warn!(path = %path.display(), "cannot open step output file");
        }
        OutputFile { w }
    }

    fn write(&mut self, stream: Stream, text: &str) {
        if let Some(w) = &mut self.w {
            let r = match stream {
                Stream::Stdout => writeln!(w, "{text}"),
                Stream::Stderr => writeln!(w, "[stderr] {text}"),
            };
            if r.is_err() {
                self.w = None;
            }
        }
    }

    fn finish(&mut self) {
        if let Some(mut w) = self.w.take() {
            let _ = w.flush();
            let _ = w.get_ref().sync_data();
        }
    }
}
