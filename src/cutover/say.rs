//! Printing that never panics: after the SSH session is gone, or with stdout on a full disk,
//! `println!` would panic (and skip the cleanup that follows it). These write, and report
//! whether the text got out.

use std::io::Write;

/// Writes `text` and a newline to stdout; false when it could not be written.
pub fn out(text: &str) -> bool {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{text}").and_then(|()| o.flush()).is_ok()
}

/// Writes `text` and a newline to stderr, ignoring failure.
pub fn err(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{text}").and_then(|()| e.flush());
}
