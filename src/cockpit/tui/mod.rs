//! The full-screen cockpit: owns the terminal and runs the event loop between the keyboard,
//! the engine and the [`App`](crate::app::App) state machine. Key presses become actions in
//! [`keys`]; drawing lives in [`view`].

pub mod event_loop;
pub mod keys;
pub mod terminal;
pub mod theme;
pub mod view;

use std::io::{self, Write};

use chrono::Utc;
use crossterm::event::EventStream;
use tokio::sync::mpsc;

use crate::app::App;
use event_loop::Screen;
pub use event_loop::{EngineLink, Leave};
use terminal::TerminalGuard;
use theme::Theme;

/// Environment switch for the panic test: `after-first-frame` panics once the first frame is up.
pub const DEBUG_PANIC_ENV: &str = "CUTOVER_DEBUG_PANIC";

struct TermScreen<'a> {
    guard: &'a mut TerminalGuard,
    theme: &'a Theme,
    panic_after_first_frame: bool,
}

impl Screen for TermScreen<'_> {
    fn draw(&mut self, app: &App) -> io::Result<view::layout::Drawn> {
        let theme = self.theme;
        self.guard.draw(|f| view::render(f, app, theme))
    }

    fn bell(&mut self) -> io::Result<()> {
        let out = self.guard.terminal.backend_mut();
        out.write_all(b"\x07")?;
        out.flush()
    }

    fn after_first_frame(&mut self) {
        if self.panic_after_first_frame {
            panic!("{DEBUG_PANIC_ENV}=after-first-frame: forced panic for testing");
        }
    }

    fn suspend(&mut self) -> io::Result<()> {
        self.guard.suspend()
    }
}

/// Runs the cockpit on the engine at the other end of `link` until the operator leaves (or
/// the engine's events end and the operator quits). The terminal is restored before this
/// returns (or panics). Dropping `link` on return tells the engine its front end is gone.
/// `attached` is the role on a detached engine (`None`: the engine runs in this process).
pub async fn run(
    link: EngineLink,
    theme: Theme,
    attached: Option<crate::app::Seat>,
) -> io::Result<Left> {
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    let sig_rx = take_signals()?;
    let mut app = match attached {
        Some(seat) => App::attached(Utc::now(), (size.width, size.height), seat),
        None => App::new(Utc::now(), (size.width, size.height)),
    };
    let panic_after_first_frame =
        std::env::var(DEBUG_PANIC_ENV).is_ok_and(|v| v == "after-first-frame");
    let (input, input_task) = forwarded_input();
    let result = {
        let mut screen = TermScreen {
            guard: &mut guard,
            theme: &theme,
            panic_after_first_frame,
        };
        event_loop::run(&mut app, &mut screen, input, link, sig_rx).await
    };
    // Stop reading the terminal before it is restored.
    input_task.abort();
    let _ = input_task.await;
    drop(guard);
    let leave = result?;
    Ok(Left {
        leave,
        outcome: match app.phase {
            crate::app::Phase::Finished(o) => Some(o),
            _ => None,
        },
        run_id: app.run_id(),
        journal: app.journal().to_string(),
        terminal_lost: app.terminal_lost,
    })
}

/// How a cockpit session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// How the operator left.
    pub leave: Leave,
    /// The run's outcome, when it had ended.
    pub outcome: Option<cutover_model::protocol::RunOutcome>,
    /// The run's id (for `cutover attach`).
    pub run_id: String,
    /// The journal's path.
    pub journal: String,
    /// A shutdown signal came or the terminal went away: the cockpit did not leave by the
    /// operator's key (a fleet's member cockpit then leaves the lanes too).
    pub terminal_lost: bool,
}

/// Terminal input through a channel: a task reads crossterm's event stream and forwards each
/// event. The event loop polls its input first on every wake; a channel answers "nothing yet"
/// for free, while polling crossterm's stream directly costs a lock and system calls each time,
/// which adds up while output floods in.
pub(crate) fn forwarded_input() -> (
    futures::channel::mpsc::Receiver<io::Result<crossterm::event::Event>>,
    tokio::task::JoinHandle<()>,
) {
    use futures::{SinkExt, StreamExt};
    let (mut tx, rx) = futures::channel::mpsc::channel(64);
    let task = tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(ev) = events.next().await {
            // A read interrupted by a signal (a stop and continue) is not the end of input.
            if ev
                .as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::Interrupted)
            {
                continue;
            }
            let end = ev.is_err();
            if tx.send(ev).await.is_err() || end {
                return;
            }
        }
    });
    (rx, task)
}

/// Takes over every signal whose default would kill the cockpit with the terminal in raw mode
/// on the alternate screen: SIGTERM, SIGHUP, SIGINT (from outside: raw mode turns ctrl-c into
/// a key) and SIGQUIT end the run the orderly way; SIGTSTP suspends (the terminal is given
/// back, and taken again on `fg`); SIGUSR1, SIGUSR2 and SIGALRM are ignored.
pub(crate) fn take_signals() -> io::Result<mpsc::Receiver<&'static str>> {
    use cutover_shell::signals::{HUP, INT, QUIT, TERM, forward};
    use tokio::signal::unix::SignalKind;
    forward(&[
        TERM,
        HUP,
        INT,
        QUIT,
        (
            SignalKind::from_raw(libc::SIGTSTP),
            Some(event_loop::SUSPEND),
        ),
        (SignalKind::user_defined1(), None),
        (SignalKind::user_defined2(), None),
        (SignalKind::alarm(), None),
    ])
}
