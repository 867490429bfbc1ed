//! The protocol between a detached engine and its terminals: one JSON object per line.
//!
//! A terminal opens with [`ClientMsg::Hello`] (protocol version, what it wants, who it is);
//! the engine answers [`ServerMsg::Welcome`] and a [`ServerMsg::Snapshot`] of the run so far,
//! then streams [`ServerMsg::Event`]s — or [`ServerMsg::Refused`] and closes.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use cutover_model::protocol::{ClientRole, Command, Event, Operator, Stream};

/// The protocol version; both ends must speak the same (they are the same binary). 2: step
/// output travels as a raw frame ([`ServerMsg::Output`]).
pub const VERSION: u32 = 2;

/// The longest line a client may send (a command is small).
pub const MAX_CLIENT_LINE: usize = 1024 * 1024;

/// The longest line a server may send: a snapshot of a long run. The history it is made of
/// keeps at most [`crate::history::OUTPUT_BYTES`] (64 MiB) of step output, which JSON at worst
/// doubles (every character a quote or backslash), plus bounded lag samples and notices:
/// 192 MiB holds any real snapshot, and a client never holds more than this of a forged one.
pub const MAX_SERVER_LINE: usize = 192 * 1024 * 1024;

/// What a terminal asks for when it connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "want", rename_all = "snake_case")]
pub enum Want {
    /// The controls. Refused while another terminal has them, unless `take_over`.
    Control {
        /// Take control from the terminal that has it (which then only watches).
        take_over: bool,
    },
    /// Only watch.
    Watch,
    /// One status line for `cutover ls`, then the connection closes.
    Status,
}

/// From a terminal to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// The first line of every connection.
    Hello {
        /// [`VERSION`] of the terminal's binary.
        version: u32,
        /// What it asks for.
        #[serde(flatten)]
        want: Want,
        /// Who is at the terminal (`$USER`, `$SSH_CLIENT`, host).
        who: Operator,
        /// The terminal keeps only this many of a step's newest output lines (the cockpit):
        /// while a step floods output, the engine gathers it for a moment and sends none of
        /// the lines the newer ones would push out at once. Absent: every line is sent
        /// (`watch --json`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tail: Option<usize>,
    },
    /// A command for the engine (only the controlling terminal's are carried out).
    Command {
        /// The command.
        command: Command,
    },
}

/// How a live run stands, for `cutover ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStatus {
    /// The run's id (its journal's file name without the extension).
    pub id: String,
    /// The runbook's name.
    pub runbook: String,
    /// Where the run is, in words: `running 2 nap (0:05)`, `waiting: step copy failed`,
    /// `rollback countdown`, `finished: completed`.
    pub state: String,
    /// Terminals attached now.
    pub clients: usize,
    /// Who has the controls, if anyone.
    pub controller: Option<Operator>,
    /// Since when they have them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The engine's process id.
    pub pid: u32,
    /// The journal's path.
    pub journal: String,
}

/// From the engine to a terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The connection is accepted, with this role.
    Welcome {
        /// The engine's [`VERSION`].
        version: u32,
        /// The run's id.
        run: String,
        /// What this terminal may do.
        role: ClientRole,
        /// This terminal's number in the engine session (the journal's `terminal`).
        #[serde(default)]
        terminal: u64,
    },
    /// The connection is refused (and closes).
    Refused {
        /// Why, for the operator.
        reason: String,
        /// Who has the controls, when that is why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        controller: Option<Operator>,
    },
    /// The run so far, to build the screen from (in order; replaces whatever the terminal had).
    Snapshot {
        /// The events.
        events: Vec<Event>,
    },
    /// One event, live.
    Event {
        /// The event.
        event: Event,
    },
    /// One live `Event::Output`, sent as a frame: this line, then exactly `bytes` bytes of
    /// the output's UTF-8 text as they are. A flood of output costs no JSON escaping on either
    /// side. [`read_server`] gives it back as [`ServerMsg::Event`]; no caller sees this.
    Output {
        /// The step's position (0-based).
        index: usize,
        /// Which stream the lines came from.
        stream: Stream,
        /// When they were read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// How many bytes of text follow the line.
        bytes: usize,
        /// Lines of the step before these that this terminal was not sent (see
        /// [`Event::Output`]).
        #[serde(default, skip_serializing_if = "cutover_model::is_zero")]
        skipped: u64,
    },
    /// This terminal fell behind: a new snapshot follows; what it showed is replaced.
    Resync {
        /// Why, for the operator.
        reason: String,
    },
    /// This terminal's role changed: another terminal took control.
    Role {
        /// The new role.
        role: ClientRole,
        /// Who took control.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Operator>,
    },
    /// A command from a terminal without the controls was not carried out.
    ReadOnly {
        /// What was refused, in words.
        what: String,
    },
    /// The answer to [`Want::Status`].
    Status {
        /// The run's status.
        status: RunStatus,
    },
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A line longer than allowed.
    #[error("a message longer than {0} bytes")]
    TooLong(usize),
    /// A line that is not a message.
    #[error("not a message: {0}")]
    Bad(String),
}

/// Writes `msg` as one line.
pub async fn write<W: AsyncWrite + Unpin, M: Serialize>(w: &mut W, msg: &M) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

/// Writes each command `commands` gives to `w`, as the message `msg` makes of it, until the
/// channel closes or a write fails (the connection is gone): a terminal's command pump (a
/// run's commands, or a fleet's).
pub async fn pump<T, W: AsyncWrite + Unpin, M: Serialize>(
    mut commands: tokio::sync::mpsc::Receiver<T>,
    mut w: W,
    msg: impl Fn(T) -> M,
) {
    while let Some(command) = commands.recv().await {
        if write(&mut w, &msg(command)).await.is_err() {
            return;
        }
    }
}

/// [`ServerMsg::Event`] by reference, written exactly as that message (no copy of the event).
#[derive(Serialize)]
#[serde(tag = "type", rename = "event")]
struct EventLine<'a> {
    event: &'a Event,
}

/// Writes one live event: step output as a raw frame ([`ServerMsg::Output`]), anything else
/// as a [`ServerMsg::Event`] line.
pub async fn write_event<W: AsyncWrite + Unpin>(w: &mut W, ev: &Event) -> std::io::Result<()> {
    let mut frame = Vec::new();
    encode_event(&mut frame, ev, 0)?;
    w.write_all(&frame).await?;
    w.flush().await
}

/// Appends one live event to `buf` as [`write_event`] sends it: several events gathered in one
/// buffer go out in one write. `left_out`: lines of the step before an output event that this
/// terminal is not sent, added to the event's own `skipped` (0 for any other event).
pub fn encode_event(buf: &mut Vec<u8>, ev: &Event, left_out: u64) -> std::io::Result<()> {
    let Event::Output {
        index,
        stream,
        text,
        at,
        skipped,
    } = ev
    else {
        serde_json::to_writer(&mut *buf, &EventLine { event: ev })
            .map_err(std::io::Error::other)?;
        buf.push(b'\n');
        return Ok(());
    };
    let head = ServerMsg::Output {
        index: *index,
        stream: *stream,
        at: *at,
        bytes: text.len(),
        skipped: skipped + left_out,
    };
    serde_json::to_writer(&mut *buf, &head).map_err(std::io::Error::other)?;
    buf.reserve(text.len() + 1);
    buf.push(b'\n');
    buf.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Reads one message from the engine (of at most `max` bytes): a raw output frame comes back
/// as the [`ServerMsg::Event`] it carries. `None` at the end of the stream.
pub async fn read_server<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<ServerMsg>, WireError> {
    let msg = read::<_, ServerMsg>(r, max).await?;
    let Some(ServerMsg::Output {
        index,
        stream,
        at,
        bytes,
        skipped,
    }) = msg
    else {
        return Ok(msg);
    };
    if bytes > max {
        return Err(WireError::TooLong(max));
    }
    // Grown as the bytes come, not reserved from what the header claims.
    let mut raw = Vec::with_capacity(bytes.min(1 << 20));
    (&mut *r).take(bytes as u64).read_to_end(&mut raw).await?;
    if raw.len() < bytes {
        return Err(WireError::Bad(format!(
            "step output cut short ({} of {bytes} bytes)",
            raw.len()
        )));
    }
    let text = String::from_utf8(raw)
        .map_err(|_| WireError::Bad("step output that is not UTF-8".into()))?;
    Ok(Some(ServerMsg::Event {
        event: Event::Output {
            index,
            stream,
            text,
            at,
            skipped,
        },
    }))
}

/// Reads one message of at most `max` bytes; `None` at the end of the stream.
pub async fn read<R: AsyncBufRead + Unpin, M: for<'de> Deserialize<'de>>(
    r: &mut R,
    max: usize,
) -> Result<Option<M>, WireError> {
    LineReader::default().read(r, max).await
}

/// Reads messages line by line, keeping a line begun across calls: a read dropped halfway
/// (another branch of a `select!` won) loses nothing of what it had taken from the stream.
#[derive(Debug, Default)]
pub struct LineReader {
    line: Vec<u8>,
}

impl LineReader {
    /// Reads one message of at most `max` bytes; `None` at the end of the stream.
    pub async fn read<R: AsyncBufRead + Unpin, M: for<'de> Deserialize<'de>>(
        &mut self,
        r: &mut R,
        max: usize,
    ) -> Result<Option<M>, WireError> {
        loop {
            // The only await: bytes taken from the stream are in `self.line` before the next.
            let buf = r.fill_buf().await?;
            if buf.is_empty() {
                if self.line.is_empty() {
                    return Ok(None);
                }
                break;
            }
            match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.line.extend_from_slice(&buf[..i]);
                    r.consume(i + 1);
                    break;
                }
                None => {
                    let n = buf.len();
                    self.line.extend_from_slice(buf);
                    r.consume(n);
                }
            }
            if self.line.len() > max {
                self.line.clear();
                return Err(WireError::TooLong(max));
            }
        }
        let line = std::mem::take(&mut self.line);
        if line.len() > max {
            return Err(WireError::TooLong(max));
        }
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| WireError::Bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_round_trip_one_per_line() {
        let who = Operator {
            user: "alice".into(),
            ssh_client: Some("10.0.0.5 5000 22".into()),
            host: "db-admin".into(),
            peer: None,
        };
        let hello = ClientMsg::Hello {
            version: VERSION,
            want: Want::Control { take_over: true },
            who,
            tail: Some(10),
        };
        let mut buf = Vec::new();
        write(&mut buf, &hello).await.unwrap();
        write(
            &mut buf,
            &ClientMsg::Command {
                command: Command::RunNext,
            },
        )
        .await
        .unwrap();
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 2);
        let mut r = tokio::io::BufReader::new(&buf[..]);
        let a: Option<ClientMsg> = read(&mut r, MAX_CLIENT_LINE).await.unwrap();
        assert_eq!(a, Some(hello));
        let b: Option<ClientMsg> = read(&mut r, MAX_CLIENT_LINE).await.unwrap();
        assert_eq!(
            b,
            Some(ClientMsg::Command {
                command: Command::RunNext
            })
        );
        let c: Option<ClientMsg> = read(&mut r, MAX_CLIENT_LINE).await.unwrap();
        assert_eq!(c, None);
    }

    fn output(text: &str) -> Event {
        Event::Output {
            index: 3,
            stream: Stream::Stderr,
            text: text.into(),
            at: Some(chrono::Utc::now()),
            skipped: 0,
        }
    }

    /// Output goes as a raw frame and comes back as the event it was; anything else is the
    /// `event` line it always was; hostile text (quotes, escapes, a newline-free tail, a
    /// frame-looking line) is carried byte for byte.
    #[tokio::test]
    async fn output_travels_as_a_raw_frame_and_comes_back_whole() {
        let hostile = "a \"quoted\" \\ line\n{\"type\":\"event\"}\n\u{1b}[31m é\nno end";
        let notice = Event::Notice {
            level: cutover_model::protocol::Level::Warn,
            message: "careful\nnow".into(),
        };
        let events = [output(hostile), notice.clone(), output(""), output("x\n")];
        let mut buf = Vec::new();
        for ev in &events {
            write_event(&mut buf, ev).await.unwrap();
        }
        // The text is in the stream as it is: not escaped.
        let raw = String::from_utf8(buf.clone()).unwrap();
        assert!(raw.contains(hostile), "{raw}");
        // The event line is exactly what `ServerMsg::Event` writes.
        let mut line = Vec::new();
        write(
            &mut line,
            &ServerMsg::Event {
                event: notice.clone(),
            },
        )
        .await
        .unwrap();
        assert!(raw.contains(std::str::from_utf8(&line).unwrap()));
        let mut r = tokio::io::BufReader::new(&buf[..]);
        for want in &events {
            let got = read_server(&mut r, MAX_SERVER_LINE).await.unwrap();
            match (got, want) {
                (Some(ServerMsg::Event { event }), want) => {
                    assert_eq!(
                        serde_json::to_string(&event).unwrap(),
                        serde_json::to_string(want).unwrap()
                    );
                }
                (other, _) => panic!("{other:?}"),
            }
        }
        assert!(
            read_server(&mut r, MAX_SERVER_LINE)
                .await
                .unwrap()
                .is_none()
        );
    }

    /// Lines left out travel in the frame's head (absent when none) and add to what the event
    /// already says; a hello's tail is absent, or any count, or the hello is not one.
    #[tokio::test]
    async fn lines_left_out_travel_in_the_head_and_a_tail_is_a_count() {
        let mut ev = output("a\n");
        if let Event::Output { skipped, .. } = &mut ev {
            *skipped = 5;
        }
        let mut buf = Vec::new();
        encode_event(&mut buf, &ev, 7).unwrap();
        encode_event(&mut buf, &output("b\n"), 0).unwrap();
        let raw = String::from_utf8(buf.clone()).unwrap();
        assert!(raw.contains(r#""skipped":12"#), "{raw}");
        assert_eq!(raw.matches("skipped").count(), 1, "{raw}");
        let mut r = tokio::io::BufReader::new(&buf[..]);
        for want in [(12, "a\n"), (0, "b\n")] {
            match read_server(&mut r, MAX_SERVER_LINE).await.unwrap() {
                Some(ServerMsg::Event {
                    event: Event::Output { skipped, text, .. },
                }) => assert_eq!((skipped, text.as_str()), want),
                other => panic!("{other:?}"),
            }
        }
        let who = Operator {
            user: "u".into(),
            ssh_client: None,
            host: "h".into(),
            peer: None,
        };
        let plain = serde_json::to_string(&ClientMsg::Hello {
            version: VERSION,
            want: Want::Watch,
            who,
            tail: None,
        })
        .unwrap();
        assert!(!plain.contains("tail"), "{plain}");
        let with = |tail: &str| {
            let line = format!("{},\"tail\":{tail}}}", &plain[..plain.len() - 1]);
            serde_json::from_str::<ClientMsg>(&line).map(|m| match m {
                ClientMsg::Hello { tail, .. } => tail,
                ClientMsg::Command { .. } => panic!("{m:?}"),
            })
        };
        assert_eq!(with("0").unwrap(), Some(0));
        assert_eq!(with("18446744073709551615").unwrap(), Some(usize::MAX));
        assert_eq!(with("null").unwrap(), None);
        for forged in ["-1", "1e30", "\"all\"", "18446744073709551616"] {
            assert!(with(forged).is_err(), "{forged}");
        }
    }

    /// A read dropped while half a line has come (a `select!` in the session picked another
    /// branch) loses nothing: the next read returns the whole message.
    #[tokio::test]
    async fn a_read_dropped_halfway_loses_nothing_of_its_line() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut rx = tokio::io::BufReader::new(rx);
        let mut lines = LineReader::default();
        let msg = ClientMsg::Command {
            command: Command::RunNext,
        };
        let mut whole = serde_json::to_vec(&msg).unwrap();
        whole.push(b'\n');
        let (first, rest) = whole.split_at(whole.len() / 2);
        tx.write_all(first).await.unwrap();
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            lines.read::<_, ClientMsg>(&mut rx, MAX_CLIENT_LINE),
        )
        .await;
        assert!(dropped.is_err(), "half a line is not a message");
        tx.write_all(rest).await.unwrap();
        let got: Option<ClientMsg> = lines.read(&mut rx, MAX_CLIENT_LINE).await.unwrap();
        assert_eq!(got, Some(msg));
    }

    /// A forged frame header: more bytes claimed than come, more than allowed, or bytes that
    /// are not UTF-8: a clear error, never a hang or an allocation of what was claimed.
    #[tokio::test]
    async fn a_forged_output_frame_is_refused() {
        let head = |bytes: usize| {
            format!(r#"{{"type":"output","index":0,"stream":"stdout","bytes":{bytes}}}"#) + "\n"
        };
        let mut short = head(10).into_bytes();
        short.extend_from_slice(b"abc");
        let e = read_server(&mut tokio::io::BufReader::new(&short[..]), MAX_SERVER_LINE)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cut short (3 of 10 bytes)"), "{e}");
        let huge = head(usize::MAX).into_bytes();
        let e = read_server(&mut tokio::io::BufReader::new(&huge[..]), MAX_SERVER_LINE)
            .await
            .unwrap_err();
        assert!(matches!(e, WireError::TooLong(_)), "{e}");
        let mut bad = head(2).into_bytes();
        bad.extend_from_slice(&[0xff, 0xfe]);
        let e = read_server(&mut tokio::io::BufReader::new(&bad[..]), MAX_SERVER_LINE)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    #[tokio::test]
    async fn an_overlong_line_is_refused() {
        let line = [b'x'; 100];
        let mut r = tokio::io::BufReader::new(&line[..]);
        let e = read::<_, ClientMsg>(&mut r, 10).await.unwrap_err();
        assert!(matches!(e, WireError::TooLong(10)));
    }
}
