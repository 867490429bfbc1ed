//! Values of a reconcile difference as a person can read them without being misled: `NULL`
//! and `''` apart, quotes when blanks at the ends or a comma would hide, control characters,
//! invisible and combining characters escaped (`\t`, `\u{301}`), and long values cut around
//! their first difference instead of printed whole.

/// Characters shown of a value whole; longer ones are cut.
pub const MAX_SHOWN: usize = 120;

/// What stands between the start and the end of a long value cut by [`value`], before and
/// after its length: `…(1000 characters)…`. The masker finds cuts by these.
pub const CUT_OPEN: &str = "…(";
/// See [`CUT_OPEN`].
pub const CUT_CLOSE: &str = " characters)…";

/// Characters shown before the first difference of two long values.
const BEFORE: usize = 30;

/// Characters shown from the first difference on.
const AFTER: usize = 50;

/// Whether `c` would be invisible, or change the look of what precedes it.
fn escaped(c: char) -> bool {
    let n = c as u32;
    c.is_control()
        || (0x0300..=0x036F).contains(&n)
        || (0x1AB0..=0x1AFF).contains(&n)
        || (0x1DC0..=0x1DFF).contains(&n)
        || (0x20D0..=0x20FF).contains(&n)
        || (0xFE20..=0xFE2F).contains(&n)
        || (0x200B..=0x200F).contains(&n)
        || matches!(n, 0x00A0 | 0x00AD | 0x2028 | 0x2029 | 0x2060 | 0xFEFF)
}

/// `s` with backslashes, control, invisible and combining characters escaped (the
/// [`crate::secrets::Masker`] masks a secret written so too).
pub(crate) fn escape(s: &str) -> String {
    escape_with(s, true)
}

/// [`escape`], backslashes escaped too only when `backslash`.
fn escape_with(s: &str, backslash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' if backslash => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if escaped(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A name from a catalog (a table, a schema, a column) for a line of text: control,
/// invisible and combining characters escaped (`\n`, `\u{200b}`), so a name holding a line
/// break cannot split the line it is said on, or forge one. Backslashes are left as they are.
pub fn name(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(escaped) {
        std::borrow::Cow::Owned(escape_with(s, false))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// `s` escaped and quoted when its ends are blank, it is empty, reads `NULL`, or holds a
/// comma, quote or parenthesis.
fn quoted(s: &str) -> String {
    let e = escape(s);
    let needs = s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
        || s.contains([',', '\'', '(', ')']);
    if needs {
        format!("'{}'", e.replace('\'', "''"))
    } else {
        e
    }
}

/// One value: `NULL`, `''`, the value (escaped, quoted where needed), or for a long one its
/// start and end with its length between.
pub fn value(v: Option<&str>) -> String {
    let Some(s) = v else {
        return "NULL".to_string();
    };
    let n = s.chars().count();
    if n <= MAX_SHOWN {
        return quoted(s);
    }
    let head: String = s.chars().take(MAX_SHOWN / 2).collect();
    let tail: String = s.chars().skip(n - MAX_SHOWN / 6).collect();
    format!("{}{CUT_OPEN}{n}{CUT_CLOSE}{}", escape(&head), escape(&tail))
}

/// A whole row's text (`(1,abc,)`): escaped and cut like [`value`], never quoted.
pub fn row(s: &str) -> String {
    let n = s.chars().count();
    if n <= MAX_SHOWN {
        return escape(s);
    }
    value(Some(s))
}

/// Two differing values: whole when short, else an excerpt of each around the first
/// character where they differ, and where that is.
pub fn pair(a: Option<&str>, b: Option<&str>) -> (String, String) {
    let (Some(x), Some(y)) = (a, b) else {
        return (value(a), value(b));
    };
    let (nx, ny) = (x.chars().count(), y.chars().count());
    if nx <= MAX_SHOWN && ny <= MAX_SHOWN {
        return (value(a), value(b));
    }
    let at = x
        .chars()
        .zip(y.chars())
        .position(|(p, q)| p != q)
        .unwrap_or(nx.min(ny));
    let from = at.saturating_sub(BEFORE);
    let cut = |s: &str, n: usize| {
        let part: String = s.chars().skip(from).take(at - from + AFTER).collect();
        let lead = if from > 0 { "…" } else { "" };
        let trail = if at + AFTER < n { "…" } else { "" };
        format!(
            "{lead}{}{trail} (first difference at character {}, of {n})",
            escape(&part),
            at + 1
        )
    };
    (cut(x, nx), cut(y, ny))
}

/// Values longer than this are not kept whole in a result (and so in the journal, every
/// round): the excerpt around their first difference is kept instead.
pub const MAX_KEPT: usize = 4096;

/// The two values of a difference as a result keeps them: as they are when short, else the
/// excerpts of [`pair`] (marked with `…` and where the difference is).
pub fn kept(a: Option<String>, b: Option<String>) -> (Option<String>, Option<String>) {
    let long = |v: &Option<String>| v.as_ref().is_some_and(|s| s.len() > MAX_KEPT);
    if !long(&a) && !long(&b) {
        return (a, b);
    }
    match (&a, &b) {
        (Some(_), Some(_)) => {
            let (x, y) = pair(a.as_deref(), b.as_deref());
            (Some(x), Some(y))
        }
        _ => (
            a.as_deref().map(|v| value(Some(v))),
            b.as_deref().map(|v| value(Some(v))),
        ),
    }
}

/// Key values joined for a listing, each shown as [`value`] shows it (so a comma or an empty
/// string inside a key cannot be mistaken for a separator).
pub fn key(values: &[String]) -> String {
    values
        .iter()
        .map(|v| value(Some(v)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_and_blanks_are_told_apart() {
        assert_eq!(value(None), "NULL");
        assert_eq!(value(Some("")), "''");
        assert_eq!(value(Some("NULL")), "'NULL'");
        assert_eq!(value(Some("ab   ")), "'ab   '");
        assert_eq!(value(Some("a\tb\nc")), "a\\tb\\nc");
        assert_eq!(value(Some("line\r")), "'line\\r'");
        assert_eq!(value(Some("e\u{301}")), "e\\u{301}");
        assert_eq!(value(Some("é")), "é");
        assert_eq!(value(Some("a,b")), "'a,b'");
        assert_eq!(value(Some("it's")), "'it''s'");
        assert_eq!(value(Some("zero\u{200b}width")), "zero\\u{200b}width");
        assert_eq!(key(&["a,b".into(), "".into()]), "'a,b',''");
    }

    #[test]
    fn a_huge_difference_is_shown_around_where_it_is() {
        let a = "x".repeat(1_000_000);
        let mut b = a.clone();
        b.replace_range(524_288..524_289, "Y");
        let (sa, sb) = pair(Some(&a), Some(&b));
        assert!(sa.len() < 200 && sb.len() < 200, "{sa}");
        assert!(sb.contains("Y"), "{sb}");
        crate::has(&sa, "first difference at character 524289, of 1000000");
        assert!(value(Some(&a)).contains("(1000000 characters)"));
    }
}
