//! Text fitting: truncate with an ellipsis, wrap, format durations and clock times.

use chrono::{DateTime, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Display width of `s`.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to `max` columns, ending in `…` when cut.
pub fn fit(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` broken into lines of at most `max` cells, at spaces where it can; lines after the
/// first are indented by `indent` cells (nothing is cut off).
pub fn wrap_indented(s: &str, max: usize, indent: usize) -> Vec<String> {
    if width(s) <= max || max <= indent + 1 {
        return vec![fit(s, max)];
    }
    let mut out = Vec::new();
    let mut line = String::new();
    let mut w = 0;
    let pad = " ".repeat(indent);
    for word in s.split_inclusive(' ') {
        let ww = width(word);
        if w + ww > max && w > indent {
            out.push(line.trim_end().to_string());
            line = pad.clone();
            w = indent;
        }
        if w + ww <= max {
            line.push_str(word);
            w += ww;
        } else {
            // A word longer than a line: cut it where the line ends.
            for c in word.chars() {
                let cw = UnicodeWidthChar::width(c).unwrap_or(0);
                if w + cw > max {
                    out.push(std::mem::replace(&mut line, pad.clone()));
                    w = indent;
                }
                line.push(c);
                w += cw;
            }
        }
    }
    if !line.trim().is_empty() {
        out.push(line.trim_end().to_string());
    }
    out
}

/// Output text made safe for a cell grid: ANSI escape sequences removed, tabs expanded,
/// other control characters shown as `�`.
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control()) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    let mut col = 0usize;
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ params final-byte; OSC: ESC ] ... BEL or ESC \; others: ESC + one char.
                match it.next() {
                    Some('[') => {
                        for n in it.by_ref() {
                            if ('@'..='~').contains(&n) {
                                break;
                            }
                        }
                    }
                    Some(']') => {
                        while let Some(n) = it.next() {
                            if n == '\u{7}' {
                                break;
                            }
                            if n == '\u{1b}' {
                                it.next();
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            '\t' => {
                let n = 8 - col % 8;
                out.push_str(&" ".repeat(n));
                col += n;
            }
            '\r' => {}
            c if c.is_control() => {
                out.push('�');
                col += 1;
            }
            c => {
                out.push(c);
                col += UnicodeWidthChar::width(c).unwrap_or(0);
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `s` padded with spaces (or cut) to exactly `w` columns.
pub fn pad(s: &str, w: usize) -> String {
    let s = fit(s, w);
    let n = w.saturating_sub(width(&s));
    format!("{s}{}", " ".repeat(n))
}

/// Word-wraps `s` to `max` columns; words longer than a line are broken.
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for para in s.split('\n') {
        let mut cur = String::new();
        for word in para.split(' ') {
            let sep = usize::from(!cur.is_empty());
            if width(&cur) + sep + width(word) <= max {
                if sep == 1 {
                    cur.push(' ');
                }
                cur.push_str(word);
                continue;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            let mut w = 0;
            for c in word.chars() {
                let cw = UnicodeWidthChar::width(c).unwrap_or(0);
                if w + cw > max {
                    lines.push(std::mem::take(&mut cur));
                    w = 0;
                }
                cur.push(c);
                w += cw;
            }
        }
        lines.push(cur);
    }
    lines
}

/// A duration in ms, as the runbook writes durations (`28s`, `1m02`, `340ms`).
pub fn ms(v: u64) -> String {
    cutover_model::narrate::duration(v)
}

/// The keys the key table gives `action`, as the key bar names them (`v`, `PgUp/PgDn`,
/// `g/G`): a hint never names a key the table does not bind.
pub fn key(action: crate::app::action::Action) -> String {
    crate::app::keymap::bar_keys(action)
}

/// A live clock duration: `0:14`, `12:03`, `1:02:03`.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Wall-clock time of day, UTC.
pub fn hhmm(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// Wall-clock time with seconds, UTC.
pub fn hhmmss(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_indented_breaks_at_spaces_and_keeps_everything() {
        assert_eq!(wrap_indented("short", 10, 2), ["short"]);
        assert_eq!(
            wrap_indented("skipped: batch re-copied by hand", 16, 4),
            ["skipped: batch", "    re-copied", "    by hand"]
        );
        let long = "x".repeat(25);
        let lines = wrap_indented(&long, 10, 2);
        assert_eq!(lines.concat().replace(' ', ""), long);
        assert!(lines.iter().all(|l| width(l) <= 10), "{lines:?}");
    }

    #[test]
    fn fit_truncates_with_an_ellipsis() {
        assert_eq!(fit("freeze-writes", 20), "freeze-writes");
        assert_eq!(fit("freeze-writes", 6), "freez…");
        assert_eq!(fit("freeze", 0), "");
        assert_eq!(fit("✔✔✔", 2), "✔…");
        assert_eq!(pad("ab", 4), "ab  ");
    }

    #[test]
    fn wrap_breaks_words_and_long_tokens() {
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("/a/very/long/path", 6), ["/a/ver", "y/long", "/path"]);
        assert_eq!(wrap("a\nb", 5), ["a", "b"]);
    }

    #[test]
    fn clean_strips_escapes_and_controls() {
        for (raw, shown) in [
            ("plain", "plain"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("a\tb", "a       b"),
            ("\u{1b}]0;title\u{7}x\u{8}", "x�"),
        ] {
            assert_eq!(clean(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn clock_formats() {
        assert_eq!(clock(14_000), "0:14");
        assert_eq!(clock(3_723_000), "1:02:03");
    }
}
