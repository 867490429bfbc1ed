//! Printing that never panics and never lets an escape sequence through: after the SSH session
//! is gone, or with stdout on a full disk, `println!` would panic (and skip the cleanup that
//! follows it); and a runbook name, a sign-off name, a server's message or a forged run
//! description may hold `ESC[2J`, a title change or an OSC 52 clipboard write. Every line a
//! command prints goes through here, and through [`cutover_model::text::plain`] (the
//! neutraliser the cockpit and the headless printer use too). These report whether the text
//! got out.

use std::io::Write;

use cutover_model::text::plain;

/// Writes `text` (neutralised) and a newline to stdout; false when it could not be written.
pub fn out(text: &str) -> bool {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{}", plain(text))
        .and_then(|()| o.flush())
        .is_ok()
}

/// Whether what is written to stdout is kept: false when stdout is `/dev/null`, which is what
/// a closed stdout becomes (Rust opens `/dev/null` in place of a closed standard descriptor at
/// start). A command whose product goes to stdout (`-o -`) asks first.
pub fn stdout_kept() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    match (
        std::fs::File::from(fd).metadata(),
        std::fs::metadata("/dev/null"),
    ) {
        (Ok(out), Ok(null)) => {
            use std::os::unix::fs::FileTypeExt;
            !(out.file_type().is_char_device() && out.rdev() == null.rdev())
        }
        (Ok(_), Err(_)) => true,
        (Err(_), _) => false,
    }
}

/// Writes `text` (neutralised) and a newline to stderr, ignoring failure.
pub fn err(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{}", plain(text)).and_then(|()| e.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_neutraliser_keeps_text_and_drops_escapes() {
        let hostile = "run \u{1b}[2J\u{1b}]0;title\u{7}\u{1b}]52;c;ZXZpbA==\u{7}done";
        let shown = plain(hostile);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown:?}"
        );
        assert!(
            shown.starts_with("run ") && shown.ends_with("done"),
            "{shown:?}"
        );
        assert_eq!(plain("plain text\n\ttab"), "plain text\n\ttab");
    }
}
