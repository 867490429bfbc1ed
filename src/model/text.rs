//! Text from outside (a step's output, a runbook's titles) made plain before anything shows it,
//! journals it or masks it: terminal escape sequences removed, control characters made
//! visible. A step that prints `ESC]0;…` must not retitle the operator's terminal, and a
//! secret with colour codes inside (`grep --color=always`) must be masked as the secret it
//! shows as.

use std::borrow::Cow;

/// What stands in for a control character that is not a tab or a line break.
pub const CONTROL: char = '\u{fffd}';

/// `text` without terminal escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ST`,
/// DCS/SOS/PM/APC strings up to ST, and two-character `ESC x` sequences; their 8-bit forms
/// too), with a carriage return inside a line keeping only what a terminal would show (the
/// text after it), and every other control character but tab and newline replaced by
/// [`CONTROL`]. Text without any control character is returned as it is, without a copy.
pub fn plain(text: &str) -> Cow<'_, str> {
    if !needs_work(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let shown = match line.rfind('\r') {
            // `\r\n` endings are the line's end, not an overwrite.
            Some(at) if at + 1 < line.len() => &line[at + 1..],
            Some(at) => &line[..at],
            None => line,
        };
        strip_line(shown, &mut out);
    }
    Cow::Owned(out)
}

/// Whether `b` holds anything [`plain`] changes: a C0 control other than tab and newline,
/// DEL, or a C1 control (UTF-8 `C2 80`–`C2 9F`).
fn needs_work(b: &[u8]) -> bool {
    // A branch-free pass over blocks (which the compiler vectorises) finds the blocks with a
    // control or a `C2` lead byte; only those are looked at byte by byte.
    const BLOCK: usize = 64;
    let suspect = |c: u8| (c < 0x20 && c != b'\t' && c != b'\n') | (c == 0x7f) | (c == 0xC2);
    b.chunks(BLOCK).enumerate().any(|(n, block)| {
        block.iter().fold(false, |acc, &c| acc | suspect(c))
            && block.iter().enumerate().any(|(i, &c)| {
                let at = n * BLOCK + i;
                (c < 0x20 && c != b'\t' && c != b'\n')
                    || c == 0x7f
                    || (c == 0xC2 && b.get(at + 1).is_some_and(|n| (0x80..=0x9F).contains(n)))
            })
    })
}

/// Appends `line` (no `\n`, no `\r`) to `out` without escape sequences and with controls
/// made visible.
fn strip_line(line: &str, out: &mut String) {
    let mut it = line.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.next() {
                Some('[') => skip_csi(&mut it),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut it),
                // A two-character sequence (`ESC 7`, `ESC c`, …), or a lone ESC at the end.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut it),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut it),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push(CONTROL),
            c => out.push(c),
        }
    }
}

/// Skips the rest of a CSI sequence: parameters up to the final byte (`@`–`~`).
fn skip_csi(it: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for n in it.by_ref() {
        if ('@'..='~').contains(&n) {
            return;
        }
    }
}

/// Skips the rest of an OSC/DCS/SOS/PM/APC string: up to BEL, ST (`ESC \`) or 8-bit ST.
fn skip_string(it: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(n) = it.next() {
        match n {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if it.peek() == Some(&'\\') {
                    it.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block scan agrees with the plain definition wherever the byte stands, a C1
    /// control split across two blocks included.
    #[test]
    fn needs_work_finds_a_control_at_any_position() {
        let naive = |b: &[u8]| {
            b.iter().enumerate().any(|(i, &c)| {
                (c < 0x20 && c != b'\t' && c != b'\n')
                    || c == 0x7f
                    || (c == 0xC2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n)))
            })
        };
        for len in [1usize, 63, 64, 65, 130] {
            for at in 0..len {
                for bad in [&[0x1bu8][..], &[0x7f], &[0xC2, 0x85], &[0xC2, 0xA3], b"\t"] {
                    let mut b = vec![b'7'; len];
                    b.splice(at..(at + bad.len()).min(len), bad.iter().copied());
                    assert_eq!(needs_work(&b), naive(&b), "len {len} at {at} {bad:?}");
                }
            }
        }
        assert!(needs_work(
            &[b'1'; 64]
                .iter()
                .copied()
                .chain([0xC2, 0x9B])
                .collect::<Vec<_>>()
        ));
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(plain("a\tb\nc é £"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_are_removed_and_controls_shown() {
        for (raw, shown) in [
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}]0;owned\u{7}title", "title"),
            ("\u{1b}]0;owned\u{1b}\\title", "title"),
            ("\u{1b}[2J\u{1b}[Hclear", "clear"),
            ("\u{9b}31mred", "red"),
            ("\u{1b}Pdcs\u{1b}\\x", "x"),
            ("bell\u{7} back\u{8}", "bell\u{fffd} back\u{fffd}"),
            ("one\ntwo\u{1b}[1m\nthree", "one\ntwo\nthree"),
        ] {
            assert_eq!(plain(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn a_carriage_return_keeps_what_a_terminal_shows() {
        assert_eq!(plain("10%\r20%\r30%\nnext"), "30%\nnext");
        assert_eq!(plain("line\r\nnext"), "line\nnext");
    }

    #[test]
    fn a_secret_with_colour_codes_inside_comes_out_whole() {
        let coloured = "token hun\u{1b}[01;31m\u{1b}[Kter2\u{1b}[m\u{1b}[K here";
        assert_eq!(plain(coloured), "token hunter2 here");
    }
}
