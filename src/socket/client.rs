//! A terminal's side of a detached run: connect, say hello, and bridge the connection to
//! channels a front end reads and writes.

use std::path::Path;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::wire::{self, ClientMsg, RunStatus, ServerMsg, Want};
use cutover_model::protocol::{ClientRole, Command, Incoming, Operator};

/// The terminal's read buffer: a flood's output frames (64 KiB each) are read in few calls.
const READ_BUFFER: usize = 256 * 1024;

/// How long connecting and the handshake may take.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);

/// Why a terminal could not join a run.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens there (the engine is gone), or the socket cannot be reached.
    #[error("cannot reach the run at {path}: {source}")]
    Connect {
        /// The socket's path.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The engine refused the connection.
    #[error("{reason}")]
    Refused {
        /// Why, in the engine's words.
        reason: String,
        /// Who has the controls, when that is why.
        controller: Option<Operator>,
    },
    /// The engine did not answer as it should.
    #[error("the run's engine did not answer: {0}")]
    Protocol(String),
}

/// A connection after the handshake.
pub struct Joined {
    /// The run's id.
    pub run: String,
    /// What this terminal may do.
    pub role: ClientRole,
    /// This terminal's number in the engine session.
    pub terminal: u64,
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

async fn connect(path: &Path) -> Result<UnixStream, ClientError> {
    UnixStream::connect(path)
        .await
        .map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })
}

/// Connects to the run at `path` and says hello. `tail`: the terminal keeps only this many of
/// a step's newest output lines (the cockpit; see [`ClientMsg::Hello`]); `None`, every line.
pub async fn join(
    path: &Path,
    want: Want,
    who: Operator,
    tail: Option<usize>,
) -> Result<Joined, ClientError> {
    let stream = tokio::time::timeout(HANDSHAKE_WITHIN, connect(path))
        .await
        .map_err(|_| ClientError::Protocol("no connection within 10 s".into()))??;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(READ_BUFFER, read);
    let hello = ClientMsg::Hello {
        version: wire::VERSION,
        want,
        who,
        tail,
    };
    // A refusal may already be on its way when the hello cannot be written: read it.
    let wrote = wire::write(&mut write, &hello).await;
    let first = tokio::time::timeout(
        HANDSHAKE_WITHIN,
        wire::read::<_, ServerMsg>(&mut read, wire::MAX_SERVER_LINE),
    )
    .await
    .map_err(|_| ClientError::Protocol("no answer within 10 s".into()))?;
    let first = match (first, wrote) {
        (Ok(Some(msg)), _) => Some(msg),
        (_, Err(e)) => return Err(ClientError::Protocol(e.to_string())),
        (Ok(None), Ok(())) => None,
        (Err(e), Ok(())) => return Err(ClientError::Protocol(e.to_string())),
    };
    match first {
        Some(ServerMsg::Welcome {
            run,
            role,
            terminal,
            ..
        }) => Ok(Joined {
            run,
            role,
            terminal,
            read,
            write,
        }),
        Some(ServerMsg::Refused { reason, controller }) => {
            Err(ClientError::Refused { reason, controller })
        }
        Some(other) => Err(ClientError::Protocol(format!("unexpected {other:?}"))),
        None => Err(ClientError::Protocol(
            "the connection closed (this user may not attach to the run)".into(),
        )),
    }
}

/// The status line of the run at `path`.
pub async fn status(path: &Path, who: Operator) -> Result<RunStatus, ClientError> {
    let stream = tokio::time::timeout(Duration::from_secs(2), connect(path))
        .await
        .map_err(|_| ClientError::Protocol("no connection within 2 s".into()))??;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let hello = ClientMsg::Hello {
        version: wire::VERSION,
        want: Want::Status,
        who,
        tail: None,
    };
    wire::write(&mut write, &hello)
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        wire::read::<_, ServerMsg>(&mut read, wire::MAX_SERVER_LINE),
    )
    .await
    .map_err(|_| ClientError::Protocol("no status within 2 s".into()))?
    .map_err(|e| ClientError::Protocol(e.to_string()))?;
    match answer {
        Some(ServerMsg::Status { status }) => Ok(status),
        Some(ServerMsg::Refused { reason, controller }) => {
            Err(ClientError::Refused { reason, controller })
        }
        other => Err(ClientError::Protocol(format!("unexpected {other:?}"))),
    }
}

impl Joined {
    /// Bridges the connection to channels: commands in, [`Incoming`] out. The incoming
    /// channel closes when the connection does.
    pub fn bridge(self) -> (mpsc::Sender<Command>, mpsc::Receiver<Incoming>) {
        let (commands, events, _) = self.bridge_flushed();
        (commands, events)
    }

    /// [`Joined::bridge`], and the task that writes the commands: it ends once every command
    /// sent before the sender was dropped is written (await it, briefly, before the runtime
    /// goes, so a last `Command::Leave` reaches the engine).
    pub fn bridge_flushed(
        self,
    ) -> (
        mpsc::Sender<Command>,
        mpsc::Receiver<Incoming>,
        tokio::task::JoinHandle<()>,
    ) {
        let (cmd_tx, cmd_rx) = mpsc::channel::<Command>(64);
        let (in_tx, in_rx) = mpsc::channel::<Incoming>(256);
        let Joined {
            mut read, write, ..
        } = self;
        let writer = tokio::spawn(wire::pump(cmd_rx, write, |command| ClientMsg::Command {
            command,
        }));
        tokio::spawn(async move {
            // Why a resynchronisation came, said after the snapshot it announces (which
            // replaces the screen, status line included).
            let mut resync: Option<String> = None;
            loop {
                let msg = match wire::read_server(&mut read, wire::MAX_SERVER_LINE).await {
                    Ok(Some(msg)) => msg,
                    Ok(None) => return,
                    Err(e) => {
                        // Said, not swallowed: a forged or broken engine ends this terminal's
                        // link with the reason.
                        let why = format!("the run's engine sent {e}: disconnected");
                        let _ = in_tx.send(Incoming::Note(why)).await;
                        return;
                    }
                };
                let incoming = match msg {
                    ServerMsg::Snapshot { events } => {
                        if in_tx.send(Incoming::Snapshot(events)).await.is_err() {
                            return;
                        }
                        match resync.take() {
                            Some(reason) => Incoming::Note(reason),
                            None => continue,
                        }
                    }
                    ServerMsg::Event { event } => Incoming::Event(event),
                    ServerMsg::Role { role, by } => Incoming::Role { role, by },
                    ServerMsg::Resync { reason } => {
                        resync = Some(reason);
                        continue;
                    }
                    ServerMsg::ReadOnly { what } => Incoming::Note(what),
                    ServerMsg::Welcome { .. }
                    | ServerMsg::Output { .. }
                    | ServerMsg::Refused { .. }
                    | ServerMsg::Status { .. } => continue,
                };
                if in_tx.send(incoming).await.is_err() {
                    return;
                }
            }
        });
        (cmd_tx, in_rx, writer)
    }
}
