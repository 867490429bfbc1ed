//! The event loop: a biased `select!` that takes input first (keys answer while a step floods
//! output), then engine events (many per wake), then the 1 Hz clock. A frame is drawn only when
//! something changed: at once after a key or a change of state, at most every [`FRAME`] while
//! output streams in. Keys reach the app as actions ([`keys`]); what each frame's layout gave
//! the output pane goes back to it ([`Msg::Layout`]), so paging moves by what the screen shows.
//! Generic over the input stream and the screen, so tests feed scripted keys.

use std::io;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::Event as TermEvent;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::keys;
use super::view::layout::Drawn;
use crate::app::{App, Effect, Msg};
use cutover_model::protocol::{Command, Event, Incoming, Level};

/// Shortest time between frames drawn for engine events.
pub const FRAME: Duration = Duration::from_millis(33);
/// Engine events handled per wake before input is looked at again.
pub const DRAIN: usize = 256;
/// How long to wait for the engine to wind down after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where frames go.
pub trait Screen {
    /// Draws `app`, and says what the frame's layout gave the output pane.
    fn draw(&mut self, app: &App) -> io::Result<Drawn>;
    /// Rings the bell.
    fn bell(&mut self) -> io::Result<()>;
    /// Called once after the first frame.
    fn after_first_frame(&mut self) {}
    /// Job control (SIGTSTP): give the terminal back, stop until continued, take it again.
    fn suspend(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The engine's side of the loop.
pub struct EngineLink {
    /// Commands to the engine.
    pub commands: mpsc::Sender<Command>,
    /// Events from the engine (and, from a detached engine, its snapshots and notes).
    pub events: mpsc::Receiver<Incoming>,
}

impl EngineLink {
    /// A link to an engine in this process: its events are passed on as they come.
    pub fn local(commands: mpsc::Sender<Command>, mut events: mpsc::Receiver<Event>) -> Self {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if tx.send(Incoming::Event(ev)).await.is_err() {
                    return;
                }
            }
        });
        EngineLink {
            commands,
            events: rx,
        }
    }
}

/// How the operator left the cockpit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The cockpit is done (the run ended, or the operator ended it, or only watched).
    Quit,
    /// The operator (or a lost terminal) left a detached run to itself: it goes on.
    Detach,
}

/// Whether an incoming message changes what the operator must see at once. Readings (output,
/// a wait's polls, progress, lag samples, the step's pid) wait for the next frame, at most
/// [`FRAME`] away: drawing each one at once would take the CPU from the very step that makes
/// them, to show what the operator reads at the next frame all the same.
fn urgent(inc: &Incoming) -> bool {
    !matches!(
        inc,
        Incoming::Event(
            Event::Output { .. }
                | Event::WaitProgress { .. }
                | Event::Process { .. }
                | Event::StepProgress { .. }
                | Event::ReconcileProgress { .. }
                | Event::LagSample { .. }
        )
    )
}

/// An incoming message as a message for the app.
fn msg(inc: Incoming) -> Msg {
    match inc {
        Incoming::Event(ev) => Msg::Engine(ev),
        Incoming::Snapshot(events) => Msg::Snapshot(events),
        Incoming::Role { role, by } => Msg::Role { role, by },
        Incoming::Note(text) => Msg::Note(text),
    }
}

/// The loop's state between wakes.
struct LoopState {
    /// False once the terminal fails: no more frames, the run is ended as on SIGHUP.
    drawing: bool,
    /// Something changed since the last frame.
    dirty: bool,
    /// When the last frame was drawn.
    last_frame: Instant,
    /// The engine's events are still coming.
    engine_open: bool,
    /// Terminal input is still coming.
    input_open: bool,
    /// Shutdown signals are still coming.
    signals_open: bool,
    /// When the shutdown grace runs out, once a shutdown began.
    deadline: Option<Instant>,
}

/// A tick every second for the clocks on screen, the first a second from now; a tick missed
/// while the loop was busy is skipped, not caught up.
pub(crate) fn clock_ticks() -> tokio::time::Interval {
    let mut tick = tokio::time::interval_at(
        Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tick
}

/// Runs until the app asks to quit (or input ends, or a shutdown signal's grace runs out).
pub async fn run<S, I>(
    app: &mut App,
    screen: &mut S,
    mut input: I,
    mut link: EngineLink,
    mut shutdown: mpsc::Receiver<&'static str>,
) -> io::Result<Leave>
where
    S: Screen,
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let mut tick = clock_ticks();
    draw(app, screen)?;
    screen.after_first_frame();
    let mut st = LoopState {
        drawing: true,
        dirty: false,
        last_frame: Instant::now(),
        engine_open: true,
        input_open: true,
        signals_open: true,
        deadline: None,
    };
    loop {
        let frame_due = st.last_frame + FRAME;
        let hard_stop = st
            .deadline
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let (effects, urgent) = tokio::select! {
            biased;
            ev = input.next(), if st.input_open => on_input(ev, app, &mut st),
            why = shutdown.recv(), if st.signals_open => on_signal(why, app, screen, &mut st),
            ev = link.events.recv(), if st.engine_open => {
                on_engine(ev, app, &mut link.events, &mut st)
            }
            _ = tick.tick() => (app.update(Msg::Tick(Utc::now())), false),
            () = tokio::time::sleep_until(frame_due), if st.dirty => (Vec::new(), false),
            () = tokio::time::sleep_until(hard_stop), if st.deadline.is_some() => return Ok(Leave::Quit),
        };
        if let Some(leave) = apply(effects, app, screen, &link.commands, &mut st.dirty) {
            return Ok(leaving(app, &link.commands, leave));
        }
        if let Some(leave) = redraw_if_due(app, screen, &link.commands, urgent, &mut st) {
            return Ok(leave);
        }
    }
}

/// Handles one read from the terminal: a key becomes an action, a resize a new size; a failed
/// read or the end of input ends the run as on SIGHUP. Returns the app's effects and whether
/// they must be drawn at once.
fn on_input(
    ev: Option<io::Result<TermEvent>>,
    app: &mut App,
    st: &mut LoopState,
) -> (Vec<Effect>, bool) {
    let mut effects = Vec::new();
    let mut urgent = false;
    match ev {
        Some(Ok(TermEvent::Key(k))) => {
            if let Some(action) = keys::action_for(&k, app) {
                effects = app.update(Msg::Action(action));
            }
            urgent = true;
        }
        Some(Ok(TermEvent::Resize(c, r))) => {
            effects = app.update(Msg::Resize(c, r));
            urgent = true;
        }
        Some(Ok(_)) => {}
        Some(Err(_)) => {
            // The terminal went away mid-read: end the run as on SIGHUP.
            st.input_open = false;
            terminal_gone(app, &mut effects, &mut st.deadline, &mut st.drawing);
        }
        None => {
            // No more input (the terminal went away): end the run as on SIGHUP.
            st.input_open = false;
            effects = app.update(Msg::Shutdown("end of terminal input".into()));
            start_grace(&mut st.deadline);
        }
    }
    (effects, urgent)
}

/// Handles one message from the signal forwarder: SIGTSTP suspends (a failed suspend means
/// the terminal is gone), any other signal starts the shutdown grace. Returns the app's
/// effects and whether they must be drawn at once.
fn on_signal<S: Screen>(
    why: Option<&'static str>,
    app: &mut App,
    screen: &mut S,
    st: &mut LoopState,
) -> (Vec<Effect>, bool) {
    let mut effects = Vec::new();
    let mut urgent = false;
    match why {
        Some(why) if why == SUSPEND => {
            if screen.suspend().is_err() {
                terminal_gone(app, &mut effects, &mut st.deadline, &mut st.drawing);
            }
            st.dirty = true;
            urgent = true;
        }
        Some(why) => {
            effects = app.update(Msg::Shutdown(why.to_string()));
            start_grace(&mut st.deadline);
            urgent = true;
        }
        None => st.signals_open = false,
    }
    (effects, urgent)
}

/// Handles one message from the engine and up to [`DRAIN`] more already waiting, or the
/// engine going away. Returns the app's effects and whether they must be drawn at once.
fn on_engine(
    ev: Option<Incoming>,
    app: &mut App,
    events: &mut mpsc::Receiver<Incoming>,
    st: &mut LoopState,
) -> (Vec<Effect>, bool) {
    match ev {
        Some(ev) => {
            // Output floods are throttled to one frame per FRAME; a change of state
            // (a step started, finished, needs a decision) is drawn at once.
            let mut now = urgent(&ev);
            let mut effects = app.update(msg(ev));
            for _ in 0..DRAIN {
                match events.try_recv() {
                    Ok(ev) => {
                        now |= urgent(&ev);
                        effects.extend(app.update(msg(ev)));
                    }
                    Err(_) => break,
                }
            }
            (effects, now)
        }
        None => {
            st.engine_open = false;
            (app.update(Msg::EngineGone), false)
        }
    }
}

/// Carries out the app's effects in order: marks a redraw, rings the bell, sends commands (a
/// full command queue is said on the status line). Returns how to leave if one asked to.
fn apply<S: Screen>(
    effects: Vec<Effect>,
    app: &mut App,
    screen: &mut S,
    commands: &mpsc::Sender<Command>,
    dirty: &mut bool,
) -> Option<Leave> {
    let mut quit = None;
    for e in effects {
        match e {
            Effect::Redraw => *dirty = true,
            Effect::Bell => {
                let _ = screen.bell();
            }
            Effect::Quit => quit = Some(Leave::Quit),
            Effect::Detach => quit = Some(Leave::Detach),
            Effect::Send(cmd) => {
                if commands.try_send(cmd).is_err() {
                    *dirty = true;
                    app.status = Some(crate::app::Status {
                        level: Level::Warn,
                        text: "the engine is not taking commands; press the key again".into(),
                        until: None,
                    });
                }
            }
        }
    }
    quit
}

/// Tells a detached run's engine that its terminal leaves on purpose, so the journal tells a
/// deliberate detach from a lost terminal; returns `leave`.
fn leaving(app: &App, commands: &mpsc::Sender<Command>, leave: Leave) -> Leave {
    if app.terminal.is_some() && !app.terminal_lost {
        let _ = commands.try_send(Command::Leave);
    }
    leave
}

/// Draws a frame if one is due: something changed and it is urgent, or [`FRAME`] has passed
/// since the last. A failed frame ends the run as on SIGHUP; returns how to leave if that ends
/// the cockpit at once.
fn redraw_if_due<S: Screen>(
    app: &mut App,
    screen: &mut S,
    commands: &mpsc::Sender<Command>,
    urgent: bool,
    st: &mut LoopState,
) -> Option<Leave> {
    if st.drawing && st.dirty && (urgent || Instant::now() >= st.last_frame + FRAME) {
        if draw(app, screen).is_err() {
            let mut more = Vec::new();
            terminal_gone(app, &mut more, &mut st.deadline, &mut st.drawing);
            if more.contains(&Effect::Quit) {
                return Some(Leave::Quit);
            }
            if more.contains(&Effect::Detach) {
                return Some(Leave::Detach);
            }
            for e in more {
                if let Effect::Send(cmd) = e {
                    let _ = commands.try_send(cmd);
                }
            }
        }
        st.last_frame = Instant::now();
        st.dirty = false;
    }
    None
}

/// Starts the shutdown grace: the loop ends after [`SHUTDOWN_GRACE`] at the latest (a grace
/// already running is kept).
fn start_grace(deadline: &mut Option<Instant>) {
    deadline.get_or_insert(Instant::now() + SHUTDOWN_GRACE);
}

/// What the signal forwarder sends for SIGTSTP: suspend, not shut down.
pub const SUSPEND: &str = "SIGTSTP";

/// The terminal failed (the SSH session is gone): no more drawing, and the run ends as on
/// SIGHUP; nothing panics and the engine still finishes its journal.
fn terminal_gone(
    app: &mut App,
    effects: &mut Vec<Effect>,
    deadline: &mut Option<Instant>,
    drawing: &mut bool,
) {
    if !*drawing {
        return;
    }
    *drawing = false;
    effects.extend(app.update(Msg::Shutdown("the terminal is gone".into())));
    start_grace(deadline);
}

/// Draws a frame and tells the app what its layout gave the output pane.
fn draw<S: Screen>(app: &mut App, screen: &mut S) -> io::Result<()> {
    let drawn = screen.draw(app)?;
    if let Some(output_rows) = drawn.output_rows {
        app.update(Msg::Layout { output_rows });
    }
    if let Some((rows, lines)) = drawn.detail {
        app.update(Msg::DetailLayout { rows, lines });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The real loop and the real engine, fed scripted keys; frames go to a `TestBackend`.
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use futures::channel::mpsc as fmpsc;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::tui::theme::Theme;
    use cutover_engine::{Engine, EngineOptions, JournalChoice};
    use cutover_model::protocol::Operator;
    use cutover_model::runbook::Runbook;

    struct Shot {
        term: Terminal<TestBackend>,
        theme: Theme,
        last: Arc<Mutex<String>>,
        frames: Arc<Mutex<usize>>,
    }

    impl Screen for Shot {
        fn draw(&mut self, app: &App) -> io::Result<Drawn> {
            let theme = &self.theme;
            let mut drawn = Drawn::default();
            self.term
                .draw(|f| drawn = crate::tui::view::render(f, app, theme))
                .map_err(io::Error::other)?;
            *self.last.lock().unwrap() = self.term.backend().to_string();
            *self.frames.lock().unwrap() += 1;
            Ok(drawn)
        }
        fn bell(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn key(c: KeyCode) -> io::Result<TermEvent> {
        Ok(TermEvent::Key(KeyEvent::new(c, KeyModifiers::NONE)))
    }

    async fn wait_for(last: &Arc<Mutex<String>>, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if last.lock().unwrap().contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} on screen:\n{}",
                last.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(5)).await; // poll interval
        }
    }

    #[test]
    fn readings_wait_for_the_next_frame_and_changes_of_state_are_drawn_at_once() {
        let at = Utc::now();
        let readings = [
            Event::Process { index: 0, pid: 42 },
            Event::Output {
                index: 0,
                stream: cutover_model::protocol::Stream::Stdout,
                text: "1\n".into(),
                at: Some(at),
                skipped: 0,
            },
            Event::LagSample {
                sample: cutover_model::lag::LagSample::default(),
                keep: false,
            },
        ];
        for ev in readings {
            assert!(!urgent(&Incoming::Event(ev.clone())), "{ev:?}");
        }
        let changes = [
            Event::Ready { next: 1 },
            Event::StepStarted {
                index: 0,
                id: "copy".into(),
                attempt: 1,
                at,
                command: "true".into(),
            },
        ];
        for ev in changes {
            assert!(urgent(&Incoming::Event(ev.clone())), "{ev:?}");
        }
        assert!(urgent(&Incoming::Note("a note".into())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scripted_keys_drive_a_real_engine_and_answer_during_a_flood() {
        let dir = tempfile::tempdir().unwrap();
        let rb_path = dir.path().join("rb.toml");
        std::fs::write(
            &rb_path,
            "[runbook]\nname = \"loop\"\n\n[[step]]\nid = \"flood\"\ntitle = \"Flood\"\nrun = \"seq 300000\"\n\n[[step]]\nid = \"last\"\ntitle = \"Last\"\nrun = \"echo bye\"\n",
        )
        .unwrap();
        let rb = Runbook::load(&rb_path, &BTreeMap::new()).unwrap();
        let engine = Engine::prepare(
            rb,
            EngineOptions {
                journal: JournalChoice::New(dir.path().join("j.jsonl")),
                accept_changed_runbook: false,
                accept_changed_vars: false,
                operator: Operator::from_env(),
                metrics_file: None,
                also_masked: Vec::new(),
            },
        )
        .unwrap();
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let engine_task = tokio::spawn(engine.run(cmd_rx, ev_tx));
        let (keys, input) = fmpsc::unbounded::<io::Result<TermEvent>>();
        let (_sig_tx, sig_rx) = mpsc::channel(1);
        let last = Arc::new(Mutex::new(String::new()));
        let frames = Arc::new(Mutex::new(0));
        let mut screen = Shot {
            term: Terminal::new(TestBackend::new(80, 24)).unwrap(),
            theme: Theme::builtin("mono").unwrap(),
            last: last.clone(),
            frames: frames.clone(),
        };
        let ui = tokio::spawn(async move {
            let mut app = App::new(Utc::now(), (80, 24));
            run(
                &mut app,
                &mut screen,
                input,
                EngineLink::local(cmd_tx, ev_rx),
                sig_rx,
            )
            .await
            .map(|leave| (leave, app))
        });
        wait_for(&last, "ready: enter runs step 1 flood").await;
        keys.unbounded_send(key(KeyCode::Enter)).unwrap();
        wait_for(&last, "▶ 1 flood").await;
        // Mid-flood, a key still gets its frame.
        keys.unbounded_send(key(KeyCode::Char('?'))).unwrap();
        wait_for(&last, "KEYS").await;
        keys.unbounded_send(key(KeyCode::Esc)).unwrap();
        wait_for(&last, "✔ 1 flood").await;
        wait_for(&last, "300000").await;
        keys.unbounded_send(key(KeyCode::Enter)).unwrap();
        wait_for(&last, "run completed").await;
        keys.unbounded_send(key(KeyCode::Char('q'))).unwrap();
        let (leave, app) = ui.await.unwrap().unwrap();
        assert_eq!(leave, Leave::Quit);
        assert_eq!(
            engine_task.await.unwrap().unwrap(),
            cutover_model::protocol::RunOutcome::Completed
        );
        let flood = &app.steps[0];
        assert_eq!(flood.output.len(), crate::app::output::OUTPUT_CAP);
        assert_eq!(flood.output.dropped(), 300_000 - 10_000);
        assert!(*frames.lock().unwrap() > 0);
        assert!(
            app.output_rows > 0,
            "each frame tells the app the output pane's rows"
        );
    }
}
