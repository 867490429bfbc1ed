//! The lanes screen's run loop: owns the terminal (raw mode and the alternate screen, restored
//! on every way out, as the cockpit's [`TerminalGuard`] does), and answers keys first, then
//! signals, then the fleet's views (only the latest of those waiting is drawn), then a 1 s
//! tick for the countdowns. Each frame is one synchronized update.

use std::io::{self, Write};

use chrono::Utc;
use crossterm::event::Event as TermEvent;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::app::{LanesApp, LanesEffect};
use crate::tui::event_loop::{SUSPEND, clock_ticks};
use crate::tui::terminal::TerminalGuard;
use crate::tui::theme::Theme;
use cutover_model::fleet::lane::{FleetCommand, FleetView};
use cutover_model::protocol::ClientRole;

/// The fleet engine's side of the lanes screen.
pub struct LanesLink {
    /// Commands to the fleet's engine.
    pub commands: mpsc::Sender<FleetCommand>,
    /// The fleet's views, each replacing the one before.
    pub views: mpsc::Receiver<FleetView>,
    /// What the fleet's engine tells the operator (what a command did, a halt, a takeover):
    /// shown on the status line.
    pub notices: mpsc::Receiver<String>,
}

/// How the lanes screen ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanesLeft {
    /// The operator left (`q`, ctrl-c), a shutdown signal came, or the terminal went away.
    Leave,
    /// The operator opened this member's cockpit.
    Open(String),
    /// The fleet's views ended (its engine is gone).
    Gone,
}

/// What the fleet is told when a command cannot be queued.
const NOT_TAKING: &str = "the fleet is not taking commands; press the key again";

/// Where frames go (the terminal, or a test's buffer).
trait LanesScreen {
    /// Draws one frame of `app`.
    fn draw(&mut self, app: &LanesApp) -> io::Result<()>;
    /// Rings the bell.
    fn bell(&mut self) -> io::Result<()>;
    /// Job control: gives the terminal back until continued.
    fn suspend(&mut self) -> io::Result<()>;
}

/// The real terminal.
struct TermScreen<'a> {
    guard: &'a mut TerminalGuard,
    theme: &'a Theme,
}

impl LanesScreen for TermScreen<'_> {
    fn draw(&mut self, app: &LanesApp) -> io::Result<()> {
        let theme = self.theme;
        self.guard.draw(|f| super::view::render(f, app, theme))
    }

    fn bell(&mut self) -> io::Result<()> {
        let out = self.guard.terminal.backend_mut();
        out.write_all(b"\x07")?;
        out.flush()
    }

    fn suspend(&mut self) -> io::Result<()> {
        self.guard.suspend()
    }
}

/// Runs the lanes screen on the fleet at the other end of `link` until the operator leaves or
/// opens a member, a shutdown signal (SIGTERM, SIGHUP, SIGINT, SIGQUIT) comes, or the fleet's
/// views end. The terminal is restored before this returns (or panics).
pub async fn run(link: LanesLink, theme: &Theme, role: ClientRole) -> io::Result<LanesLeft> {
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    let sig_rx = crate::tui::take_signals()?;
    let mut app = LanesApp::new(role, Utc::now(), (size.width, size.height));
    let (input, input_task) = crate::tui::forwarded_input();
    let result = {
        let mut screen = TermScreen {
            guard: &mut guard,
            theme,
        };
        lanes_loop(&mut app, &mut screen, input, link, sig_rx).await
    };
    // Stop reading the terminal before it is restored.
    input_task.abort();
    let _ = input_task.await;
    drop(guard);
    result
}

/// The loop proper, generic over the input and the screen.
async fn lanes_loop<S, I>(
    app: &mut LanesApp,
    screen: &mut S,
    mut input: I,
    mut link: LanesLink,
    mut signals: mpsc::Receiver<&'static str>,
) -> io::Result<LanesLeft>
where
    S: LanesScreen,
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let mut tick = clock_ticks();
    screen.draw(app)?;
    let mut signals_open = true;
    loop {
        let effects = tokio::select! {
            biased;
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => app.on_key(k),
                Some(Ok(TermEvent::Resize(c, r))) => app.on_resize(c, r),
                Some(Ok(_)) => Vec::new(),
                // The terminal went away: leave as on SIGHUP.
                Some(Err(_)) | None => return Ok(LanesLeft::Leave),
            },
            why = signals.recv(), if signals_open => match why {
                Some(why) if why == SUSPEND => {
                    if screen.suspend().is_err() {
                        return Ok(LanesLeft::Leave);
                    }
                    vec![LanesEffect::Redraw]
                }
                Some(_) => return Ok(LanesLeft::Leave),
                None => {
                    signals_open = false;
                    Vec::new()
                }
            },
            v = link.views.recv() => match v {
                Some(mut v) => {
                    while let Ok(newer) = link.views.try_recv() {
                        v = newer;
                    }
                    app.on_view(v)
                }
                None => return Ok(LanesLeft::Gone),
            },
            Some(text) = link.notices.recv() => {
                app.status = Some(cutover_model::text::plain(&text).into_owned());
                vec![LanesEffect::Redraw]
            }
            _ = tick.tick() => app.on_tick(Utc::now()),
        };
        if let Some(left) = apply(effects, app, screen, &link.commands)? {
            return Ok(left);
        }
    }
}

/// Carries out the app's effects in order and draws a frame if one asked for it; returns how
/// the screen ends if an effect ends it.
fn apply<S: LanesScreen>(
    effects: Vec<LanesEffect>,
    app: &mut LanesApp,
    screen: &mut S,
    commands: &mpsc::Sender<FleetCommand>,
) -> io::Result<Option<LanesLeft>> {
    let mut dirty = false;
    for e in effects {
        match e {
            LanesEffect::Redraw => dirty = true,
            LanesEffect::Bell => {
                let _ = screen.bell();
            }
            LanesEffect::Send(cmd) => {
                if commands.try_send(cmd).is_err() {
                    app.status = Some(NOT_TAKING.into());
                    dirty = true;
                }
            }
            LanesEffect::Open(member) => return Ok(Some(LanesLeft::Open(member))),
            LanesEffect::Leave => return Ok(Some(LanesLeft::Leave)),
        }
    }
    if dirty {
        screen.draw(app)?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    //! The loop fed scripted keys and views; frames go to a `TestBackend`.
    use std::time::Duration;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use futures::channel::mpsc as fmpsc;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::lanes::tests::fleet;

    struct Shot {
        term: Terminal<TestBackend>,
        theme: Theme,
        frames: usize,
        bells: usize,
    }

    impl LanesScreen for Shot {
        fn draw(&mut self, app: &LanesApp) -> io::Result<()> {
            let theme = &self.theme;
            self.term
                .draw(|f| crate::lanes::view::render(f, app, theme))
                .map_err(io::Error::other)?;
            self.frames += 1;
            Ok(())
        }
        fn bell(&mut self) -> io::Result<()> {
            self.bells += 1;
            Ok(())
        }
        fn suspend(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn key(c: KeyCode) -> io::Result<TermEvent> {
        Ok(TermEvent::Key(KeyEvent::new(c, KeyModifiers::NONE)))
    }

    fn shot() -> Shot {
        Shot {
            term: Terminal::new(TestBackend::new(80, 24)).unwrap(),
            theme: Theme::builtin("mono").unwrap(),
            frames: 0,
            bells: 0,
        }
    }

    #[tokio::test]
    async fn keys_confirm_and_send_then_q_leaves() {
        let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
        let (view_tx, view_rx) = mpsc::channel(8);
        let (keys, input) = fmpsc::unbounded::<io::Result<TermEvent>>();
        let (_sig_tx, sig_rx) = mpsc::channel(1);
        view_tx.send(fleet()).await.unwrap();
        let mut app = LanesApp::new(ClientRole::Control, crate::lanes::tests::now(), (80, 24));
        let mut screen = shot();
        let ui = tokio::spawn(async move {
            let link = LanesLink {
                commands: cmd_tx,
                views: view_rx,
                notices: mpsc::channel(1).1,
            };
            let left = lanes_loop(&mut app, &mut screen, input, link, sig_rx).await;
            (left, screen)
        });
        // The view first: keys are answered first, so wait until it is in.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for k in [
            KeyCode::Char('n'),
            KeyCode::Char('9'),
            KeyCode::Enter,
            KeyCode::Char('1'),
            KeyCode::Char('0'),
            KeyCode::Enter,
        ] {
            keys.unbounded_send(key(k)).unwrap();
        }
        let cmd = cmd_rx.recv().await.unwrap();
        assert!(
            matches!(cmd, FleetCommand::RunNext { confirm: 10, ref members, .. } if members.len() == 10)
        );
        keys.unbounded_send(key(KeyCode::Char('q'))).unwrap();
        let (left, screen) = ui.await.unwrap();
        assert_eq!(left.unwrap(), LanesLeft::Leave);
        assert_eq!(screen.bells, 1);
        assert!(screen.frames >= 7);
        drop(view_tx);
    }

    #[tokio::test]
    async fn the_views_ending_ends_the_screen_and_a_signal_leaves() {
        let (cmd_tx, _cmd_rx) = mpsc::channel(8);
        let (view_tx, view_rx) = mpsc::channel::<FleetView>(8);
        let (_keys, input) = fmpsc::unbounded::<io::Result<TermEvent>>();
        let (_sig_tx, sig_rx) = mpsc::channel(1);
        drop(view_tx);
        let mut app = LanesApp::new(ClientRole::Watch, crate::lanes::tests::now(), (80, 24));
        let link = LanesLink {
            commands: cmd_tx.clone(),
            views: view_rx,
            notices: mpsc::channel(1).1,
        };
        let left = lanes_loop(&mut app, &mut shot(), input, link, sig_rx).await;
        assert_eq!(left.unwrap(), LanesLeft::Gone);

        let (_view_tx, view_rx) = mpsc::channel::<FleetView>(8);
        let (_keys, input) = fmpsc::unbounded::<io::Result<TermEvent>>();
        let (sig_tx, sig_rx) = mpsc::channel(1);
        sig_tx.send("SIGTERM").await.unwrap();
        let link = LanesLink {
            commands: cmd_tx,
            views: view_rx,
            notices: mpsc::channel(1).1,
        };
        let left = lanes_loop(&mut app, &mut shot(), input, link, sig_rx).await;
        assert_eq!(left.unwrap(), LanesLeft::Leave);
    }
}
