//! Owning the terminal: raw mode and the alternate screen on the way in, both undone on the way
//! out — on drop, on error, on panic (the hook restores before the report is printed) and on
//! SIGTERM/SIGHUP (the event loop ends the run and returns normally).
// `unsafe` here: libc calls on the terminal; each block says why it is sound.
#![allow(unsafe_code)]

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, Show};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use crossterm::{execute, queue};
use ratatui::backend::CrosstermBackend;
use ratatui::{Frame, Terminal};

/// The terminal, in raw mode on the alternate screen while this lives.
pub struct TerminalGuard {
    /// The ratatui terminal. Never dropped: ratatui's drop shows the cursor and, when that
    /// fails (the SSH session is gone: EIO), `eprintln!`s, which panics on a dead stderr.
    /// [`restore`] does that work here, ignoring errors; the few bytes are left to the exit.
    pub terminal: std::mem::ManuallyDrop<Terminal<CrosstermBackend<FrameWriter>>>,
    /// The terminal's [`FrameWriter::hold`].
    hold: Arc<AtomicBool>,
}

/// The frame buffer's size: a full 80x24 frame in colour is a few KiB; a larger frame is
/// written in pieces of this size.
pub const FRAME_BUFFER: usize = 64 * 1024;

/// Stdout for frames: a frame is one `write(2)`, not one per KiB (stdout's own line buffer)
/// plus one for the end of the synchronized update, so a flooding step's screen wakes the
/// terminal (the emulator, the SSH session) once a frame.
pub struct FrameWriter<W: Write = Stdout> {
    out: BufWriter<W>,
    /// Set while a frame is drawn: a flush (ratatui flushes inside its draw) keeps the bytes
    /// for the one that ends the frame.
    hold: Arc<AtomicBool>,
}

impl<W: Write> FrameWriter<W> {
    /// Frames for `out`, flushed unless `hold` is set.
    fn new(out: W, hold: Arc<AtomicBool>) -> Self {
        FrameWriter {
            out: BufWriter::with_capacity(FRAME_BUFFER, out),
            hold,
        }
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.hold.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.out.flush()
    }
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
        let hold = Arc::new(AtomicBool::new(false));
        let out = FrameWriter::new(out, Arc::clone(&hold));
        match Terminal::new(CrosstermBackend::new(out)) {
            Ok(terminal) => Ok(TerminalGuard {
                terminal: std::mem::ManuallyDrop::new(terminal),
                hold,
            }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl TerminalGuard {
    /// Draws one frame with `render` inside a synchronized update (the terminal shows it
    /// whole), written to the terminal in one piece; returns what `render` returned.
    pub fn draw<T>(&mut self, render: impl FnOnce(&mut Frame) -> T) -> io::Result<T> {
        self.hold.store(true, Ordering::Relaxed);
        let drawn = self.held_draw(render);
        self.hold.store(false, Ordering::Relaxed);
        let out = self.terminal.backend_mut();
        let drawn = drawn?;
        queue!(out, EndSynchronizedUpdate)?;
        out.flush()?;
        Ok(drawn)
    }

    /// The frame's bytes, into the frame buffer.
    fn held_draw<T>(&mut self, render: impl FnOnce(&mut Frame) -> T) -> io::Result<T> {
        queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        let mut out = None;
        self.terminal.draw(|f| out = Some(render(f)))?;
        out.ok_or_else(|| io::Error::other("the frame was not drawn"))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the writes that reach it.
    #[derive(Default)]
    struct Pipe {
        writes: Vec<Vec<u8>>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes.push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_frame_reaches_the_terminal_in_one_write_whatever_is_flushed_while_it_is_drawn() {
        let hold = Arc::new(AtomicBool::new(true));
        let mut w = FrameWriter::new(Pipe::default(), Arc::clone(&hold));
        // More than stdout's own 1 KiB line buffer, flushed half way (as ratatui's draw does).
        w.write_all(&[b'x'; 3000]).unwrap();
        w.flush().unwrap();
        w.write_all(b"\x1b[?2026l").unwrap();
        assert!(
            w.out.get_ref().writes.is_empty(),
            "held: nothing written yet"
        );
        hold.store(false, Ordering::Relaxed);
        w.flush().unwrap();
        let writes = &w.out.get_ref().writes;
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].len(), 3008);
        assert!(writes[0].ends_with(b"\x1b[?2026l"));
    }

    #[test]
    fn a_frame_larger_than_the_buffer_goes_out_in_pieces_of_its_size() {
        let hold = Arc::new(AtomicBool::new(true));
        let mut w = FrameWriter::new(Pipe::default(), Arc::clone(&hold));
        for _ in 0..3 {
            w.write_all(&[b'y'; FRAME_BUFFER / 2 + 1]).unwrap();
        }
        hold.store(false, Ordering::Relaxed);
        w.flush().unwrap();
        let writes = &w.out.get_ref().writes;
        assert_eq!(
            writes.iter().map(Vec::len).sum::<usize>(),
            3 * (FRAME_BUFFER / 2 + 1)
        );
        assert!(writes.iter().all(|b| b.len() <= FRAME_BUFFER));
    }
}
