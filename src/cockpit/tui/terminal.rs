//! Owning the terminal: raw mode and the alternate screen on the way in, both undone on the way
//! out — on drop, on error, on panic (the hook restores before the report is printed) and on
//! SIGTERM/SIGHUP (the event loop ends the run and returns normally).
// `unsafe` here: libc calls on the terminal; each block says why it is sound.
#![allow(unsafe_code)]

use std::io::{self, Stdout, Write};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::terminal::{
    EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode,
    enable_raw_mode,
};
use crossterm::{execute, queue};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The terminal, in raw mode on the alternate screen while this lives.
pub struct TerminalGuard {
    /// The ratatui terminal. Never dropped: ratatui's drop shows the cursor and, when that
    /// fails (the SSH session is gone: EIO), `eprintln!`s, which panics on a dead stderr.
    /// [`restore`] does that work here, ignoring errors; the few bytes are left to the exit.
    pub terminal: std::mem::ManuallyDrop<Terminal<CrosstermBackend<Stdout>>>,
}

static HOOK: Once = Once::new();

/// Puts the terminal back the way the shell expects it. Safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    let _ = queue!(out, EndSynchronizedUpdate, LeaveAlternateScreen, Show);
    let _ = out.flush();
}

/// Chains a panic hook that restores the terminal before the previous hook reports.
pub fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen.
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, Hide) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(TerminalGuard {
                terminal: std::mem::ManuallyDrop::new(terminal),
            }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl TerminalGuard {
    /// Gives the terminal back to the shell (job control stops the process: SIGTSTP), stops,
    /// and takes it again once continued, ready for a full redraw.
    pub fn suspend(&mut self) -> io::Result<()> {
        restore();
        // SAFETY: raise only sends a signal to this process; SIGSTOP cannot be caught, so the
        // process stops here until a SIGCONT (`fg`).
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
        enable_raw_mode()?;
        execute!(
            io::stdout(),
            EnterAlternateScreen,
            Hide,
            crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
        )?;
        // The screen is blank now: make the next frame draw every cell (ratatui's own clear
        // asks the terminal for the cursor position, an answer the input task would eat).
        self.terminal.current_buffer_mut().reset();
        self.terminal.swap_buffers();
        self.terminal.current_buffer_mut().reset();
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
