//! Secrets: reading them from the environment and masking them everywhere text leaves the engine.

use std::borrow::Cow;
use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use regex::Regex;

/// What a secret (or a DSN password) is replaced with.
pub const MASK: &str = "••••";

/// A secret that the environment does not provide.
#[derive(Debug, thiserror::Error)]
#[error(
    "secret `{name}` is read from the environment variable {env}, which is not set (export {env}=... before starting cutover)"
)]
pub struct MissingSecret {
    /// The secret's name in `[secrets]`.
    pub name: String,
    /// The environment variable.
    pub env: String,
}

/// Reads every `[secrets]` entry from the environment.
pub fn read_secrets(
    decl: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, MissingSecret> {
    decl.iter()
        .map(|(name, env)| match std::env::var(env) {
            Ok(v) => Ok((name.clone(), v)),
            Err(_) => Err(MissingSecret {
                name: name.clone(),
                env: env.clone(),
            }),
        })
        .collect()
}

/// Words without which neither DSN-password regex can match a password libpq would read
/// (ASCII case-insensitively; a percent-encoded `password` key is decoded only in a URL, which
/// starts `postgres`). The one
/// non-ASCII character that Unicode case folding equates with one of their letters is `ſ`
/// (U+017F, for `s`), which starts with the byte 0xC5. A text that holds no secret value, no
/// 0xC5 byte and none of these words cannot be changed by masking: see the `prefilter_*` tests.
const PREFILTER_WORDS: [&[u8]; 2] = [b"password", b"postgres"];

/// The end of what [`crate::shown::value`] puts between the start and the end of a long
/// value it cuts: a text without it holds no cut.
const CUT: &[u8] = crate::shown::CUT_CLOSE.as_bytes();

/// The whole cut marker: `…(1000 characters)…`.
fn cut_marker() -> &'static Regex {
    use crate::shown::{CUT_CLOSE, CUT_OPEN};
    static CUT_MARKER: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    CUT_MARKER.get_or_init(|| {
        let (open, close) = (regex::escape(CUT_OPEN), regex::escape(CUT_CLOSE));
        Regex::new(&format!("{open}[0-9]+{close}")).expect("the cut marker as a regex")
    })
}

/// Replaces secret values and DSN passwords with [`MASK`].
#[derive(Debug, Clone)]
pub struct Masker {
    values: Vec<String>,
    conninfo_pw: Regex,
    url_pw: Regex,
    /// Finds the secret values (SIMD, one pass over a whole batch of lines); `None` when
    /// there are none.
    secret_finder: Option<AhoCorasick>,
    /// The secret finder could not be built: every text takes the slow path.
    no_prefilter: bool,
}

impl Default for Masker {
    fn default() -> Self {
        Self::new(std::iter::empty::<String>())
    }
}

/// Lines of a multi-line secret shorter than this are not masked on their own (each line is
/// masked wherever it appears, since output is masked line by line; a very short line would
/// mask common words everywhere).
pub const MIN_SECRET_LINE: usize = 6;

/// What to look for to mask `value`: the value itself, the value without a trailing newline,
/// and, for a multi-line value, each of its lines of [`MIN_SECRET_LINE`] bytes or more
/// (output is masked line by line, so the whole value never appears on one line).
fn forms(value: String) -> Vec<String> {
    let mut out = Vec::new();
    let trimmed = value.trim_end_matches(['\r', '\n']);
    if trimmed.contains('\n') {
        out.extend(
            trimmed
                .split('\n')
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| l.len() >= MIN_SECRET_LINE)
                .map(str::to_string),
        );
    }
    if trimmed.len() != value.len() && !trimmed.is_empty() {
        out.push(trimmed.to_string());
    }
    out.push(value);
    out
}

/// The ways a value is written once it is escaped or quoted on its way out, one step each:
/// a SQL literal (`'` doubled: a repair statement, [`crate::shown`]'s quoted values), an
/// escape-string literal, libpq conninfo or a record's text (`\` doubled), a conninfo value
/// (`\'`), a shell word (`'\''`), a record's text (`"` doubled), an array's text or JSON
/// (`\"`), [`crate::shown`]'s escapes (`\t`, `\u{200b}`) and JSON's (`\n`, `\u0001`).
const ESCAPES: [fn(&str) -> String; 8] = [
    |s| s.replace('\'', "''"),
    |s| s.replace('\\', "\\\\"),
    |s| s.replace('\'', "\\'"),
    |s| s.replace('\'', "'\\''"),
    |s| s.replace('"', "\"\""),
    |s| s.replace('"', "\\\""),
    crate::shown::escape,
    |s| {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or(s)
            .to_string()
    },
];

/// `value` as each [`ESCAPES`] writes it, and as two of them in a row write it (a shown value
/// is escaped then quoted; a record's text, its fields escaped, is escaped again when shown),
/// each form once and only when it differs from `value`. A value with nothing to escape
/// has no such form.
///
/// Why the masker looks for these forms rather than each place masking a value before it
/// escapes it: values are escaped and quoted in many places (the reconcile's differences
/// as [`crate::shown`] writes them, the repair's SQL literals, the TUI, record and array
/// texts from the server) and most of them have no masker at hand; a new one would leak
/// again. Masking happens where text leaves (the journal's events, the screen, files, the
/// log), and there it now finds a secret however it was written. A repair statement, which
/// must hold the real value to work, is recognised by the same forms and withheld.
fn escaped_forms(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for first in ESCAPES {
        let once = first(value);
        if once == value {
            continue;
        }
        for then in ESCAPES {
            let twice = then(&once);
            if twice != once && !out.contains(&twice) {
                out.push(twice);
            }
        }
        if !out.contains(&once) {
            out.push(once);
        }
    }
    out
}

/// A regex for `word` as a URL may write it: each letter as itself or percent-encoded
/// (`%70` or `%50` for `p`; the regex is case-insensitive, so `%7a` and `%7A` alike).
fn percent_encodable(word: &str) -> String {
    word.bytes()
        .map(|b| {
            format!(
                "(?:{}|%{:02x}|%{:02x})",
                b as char,
                b.to_ascii_lowercase(),
                b.to_ascii_uppercase()
            )
        })
        .collect()
}

impl Masker {
    /// A masker for these secret values (empty values are ignored; see [`forms`] for what is
    /// masked of multi-line values and values ending in a newline, and [`escaped_forms`] for
    /// the escaped and quoted forms of each, masked too).
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| !v.is_empty())
            .flat_map(forms)
            .flat_map(|v| {
                let mut all = escaped_forms(&v);
                all.push(v);
                all
            })
            .collect();
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        let built = if values.is_empty() {
            Ok(None)
        } else {
            AhoCorasickBuilder::new().build(&values).map(Some)
        };
        let (secret_finder, no_prefilter) = match built {
            Ok(f) => (f, false),
            Err(e) => {
                tracing::warn!("masking without a prefilter: {e}");
                (None, true)
            }
        };
        Masker {
            values,
            secret_finder,
            no_prefilter,
            // `password=secret`, `password='se cret'` (even without its closing quote),
            // `password=se\ cret` (libpq's backslash escapes) in a conninfo string, and
            // `PGPASSWORD=secret` in an environment dump; in a URL's query the key may be
            // percent-encoded (`?pass%77ord=secret`), which libpq decodes.
            conninfo_pw: Regex::new(&format!(
                r"(?i)((?:\b(?:pg)?p|%70|%50){}\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:\\.|[^\s'\\])+)",
                percent_encodable("assword")
            ))
            .expect("static regex"),
            // `postgres://user:secret@host` in a URL, up to the last `@` (a password may hold
            // one).
            url_pw: Regex::new(r"(?i)\b(postgres(?:ql)?://[^:/@\s]*:)(\S*)(@)")
                .expect("static regex"),
        }
    }

    /// The strings masked wherever they appear (secret values, their lines, connection
    /// passwords), longest first.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether masking could change `text` (false means it certainly cannot).
    fn may_change(&self, text: &str) -> bool {
        if self.no_prefilter
            || self
                .secret_finder
                .as_ref()
                .is_some_and(|f| f.is_match(text))
            || (!self.values.is_empty() && memchr::memmem::find(text.as_bytes(), CUT).is_some())
        {
            return true;
        }
        let b = text.as_bytes();
        memchr::memchr3_iter(b'p', b'P', 0xC5, b).any(|i| {
            b[i] == 0xC5
                || PREFILTER_WORDS.iter().any(|w| {
                    b.get(i..i + w.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(w))
                })
        })
    }

    /// Masks secret values and anything that looks like a DSN password.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.may_change(text) {
            return Cow::Borrowed(text);
        }
        self.mask_all(text)
    }

    /// Masks lines (`text` split at `\n`), each on its own: exactly as [`Masker::mask`] on
    /// every line, so nothing spans lines. One scan of the whole text clears the common batch
    /// that holds nothing to mask. Returns whether anything changed.
    pub fn mask_lines(&self, text: &mut String) -> bool {
        if !self.may_change(text) {
            return false;
        }
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        for piece in text.split_inclusive('\n') {
            let (line, end) = match piece.strip_suffix('\n') {
                Some(line) => (line, "\n"),
                None => (piece, ""),
            };
            let masked = self.mask(line);
            changed |= matches!(masked, Cow::Owned(_));
            out.push_str(&masked);
            out.push_str(end);
        }
        if changed {
            *text = out;
        }
        changed
    }

    /// [`Masker::mask`] without the prefilter.
    fn mask_all<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), MASK));
            }
        }
        if !self.values.is_empty()
            && memchr::memmem::find(out.as_bytes(), CUT).is_some()
            && let Some(m) = self.mask_cut_edges(&out)
        {
            out = Cow::Owned(m);
        }
        if self.conninfo_pw.is_match(&out) {
            // A runbook reference (`password=${secrets.PW}`) is not a password: it stays.
            out = Cow::Owned(
                self.conninfo_pw
                    .replace_all(&out, |c: &regex::Captures<'_>| {
                        let value = &c[2];
                        if value.starts_with("${") && value.trim_end_matches('"').ends_with('}') {
                            c[0].to_string()
                        } else {
                            format!("{}{MASK}", &c[1])
                        }
                    })
                    .into_owned(),
            );
        }
        if self.url_pw.is_match(&out) {
            out = Cow::Owned(
                self.url_pw
                    .replace_all(&out, format!("${{1}}{MASK}${{3}}"))
                    .into_owned(),
            );
        }
        out
    }

    /// Where a long value is shown as its start and end (`head…(N characters)…tail`, see
    /// [`crate::shown::value`]), a secret cut there shows only in part, which no whole-value
    /// match finds: the end of a head that is the start of a secret, and the start of a tail
    /// that is the end of one (two characters or more), are masked too. `None`: none was.
    fn mask_cut_edges(&self, text: &str) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        let mut from = 0;
        let mut changed = false;
        for m in cut_marker().find_iter(text) {
            let before = &text[from..m.start()];
            let head = self.head_edge(before);
            out.push_str(&before[..before.len() - head]);
            if head > 0 {
                out.push_str(MASK);
            }
            out.push_str(m.as_str());
            let after = &text[m.end()..];
            let tail = self.tail_edge(after);
            if tail > 0 {
                out.push_str(MASK);
            }
            changed |= head > 0 || tail > 0;
            from = m.end() + tail;
        }
        out.push_str(&text[from..]);
        changed.then_some(out)
    }

    /// The longest start of a secret (two characters or more, shorter than it) that `before`
    /// ends with, in bytes (0: none).
    fn head_edge(&self, before: &str) -> usize {
        self.values
            .iter()
            .flat_map(|v| v.char_indices().skip(2).map(|(k, _)| &v[..k]))
            .filter(|start| before.ends_with(start))
            .map(str::len)
            .max()
            .unwrap_or(0)
    }

    /// The longest end of a secret (two characters or more, shorter than it) that `after`
    /// starts with, in bytes (0: none).
    fn tail_edge(&self, after: &str) -> usize {
        self.values
            .iter()
            .flat_map(|v| {
                let n = v.chars().count();
                v.char_indices()
                    .skip(1)
                    .take(n.saturating_sub(2))
                    .map(|(i, _)| &v[i..])
            })
            .filter(|end| after.starts_with(end))
            .map(str::len)
            .max()
            .unwrap_or(0)
    }

    /// Masks `s` in place (see [`Masker::mask`]).
    pub fn mask_string(&self, s: &mut String) {
        if let Cow::Owned(m) = self.mask(s) {
            *s = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_cut_at_the_edge_of_a_long_value_s_excerpt_is_masked() {
        let m = Masker::new(["hunter2-xyz"]);
        let shown = |v: &str| m.mask(&crate::shown::value(Some(v))).into_owned();
        // The head is the value's first 60 characters: it ends with "hu".
        let head_cut = format!("{}hunter2-xyz{}", "a".repeat(58), "b".repeat(300));
        let masked = shown(&head_cut);
        assert!(
            masked.contains(&format!("{}{MASK}…(", "a".repeat(58))),
            "{masked}"
        );
        // The tail is the value's last 20 characters: it starts with "xyz".
        let tail_cut = format!("{}hunter2-xyz{}", "a".repeat(300), "b".repeat(17));
        let masked = shown(&tail_cut);
        assert!(
            masked.ends_with(&format!("characters)…{MASK}{}", "b".repeat(17))),
            "{masked}"
        );
        // One character at an edge is no part of a secret to speak of: left as it is.
        let plain = format!("{}h{}", "a".repeat(59), "b".repeat(300));
        assert_eq!(shown(&plain), crate::shown::value(Some(&plain)));
        // Secrets of several characters, byte lengths unlike their character counts.
        let m = Masker::new(["ééé-ßß"]);
        let v = format!("{}éé{}", "a".repeat(58), "b".repeat(300));
        let masked = m.mask(&crate::shown::value(Some(&v))).into_owned();
        assert!(masked.contains(&format!("a{MASK}…(")), "{masked}");
    }

    #[test]
    fn masks_values_and_dsn_passwords() {
        let m = Masker::new(["hunter2", "hunter2-long"]);
        assert_eq!(m.mask("pw hunter2-long and hunter2"), "pw •••• and ••••");
        assert_eq!(
            m.mask("host=db password=abc dbname=x"),
            "host=db password=•••• dbname=x"
        );
        assert_eq!(
            m.mask("host=db password='a b' dbname=x"),
            "host=db password=•••• dbname=x"
        );
        assert_eq!(
            m.mask("postgres://migrator:s3cr%40t@db-new/orders"),
            "postgres://migrator:••••@db-new/orders"
        );
        assert_eq!(m.mask("nothing here"), "nothing here");
    }

    fn joined(texts: &[&str]) -> String {
        texts.iter().map(|t| format!("{t}\n")).collect()
    }

    #[test]
    fn mask_lines_masks_each_line_like_mask() {
        let m = Masker::new(["hunter2"]);
        let texts = [
            "1",
            "token hunter2 here",
            "host=db PASSWORD = abc dbname=x",
            "postgresql://u:pw@h/db",
            "plain",
        ];
        let mut text = joined(&texts);
        assert!(m.mask_lines(&mut text));
        let want: Vec<String> = texts.iter().map(|t| m.mask(t).into_owned()).collect();
        let got: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(got, want);
        assert_eq!(
            got,
            [
                "1",
                "token •••• here",
                "host=db PASSWORD = •••• dbname=x",
                "postgresql://u:••••@h/db",
                "plain"
            ]
        );
        assert_eq!(text, format!("{}\n", want.join("\n")));
        assert!(!text.contains("hunter2") && !text.contains("abc") && !text.contains(":pw@"));
    }

    #[test]
    fn mask_lines_leaves_a_clean_batch_alone() {
        let m = Masker::new(["hunter2"]);
        let mut text = joined(&["1", "2", "hunter", "pass word", "postgre", "é ő P"]);
        let before = text.clone();
        assert!(!m.mask_lines(&mut text));
        assert_eq!(text, before);
        // A last line without `\n` is masked too, and stays without one.
        let mut text = "ok\npassword=abc".to_string();
        assert!(m.mask_lines(&mut text));
        assert_eq!(text, "ok\npassword=••••");
    }

    #[test]
    fn masking_is_per_line_so_nothing_spans_a_line_boundary() {
        // A secret cut by a line break is two lines, each masked on its own: the batch scan
        // (over the joined text) must not change what per-line masking does.
        let m = Masker::new(["hunter2"]);
        let mut text = joined(&["hun", "ter2", "password", "=x"]);
        assert!(!m.mask_lines(&mut text));
        assert_eq!(text, "hun\nter2\npassword\n=x\n");
    }

    #[test]
    fn dsn_passwords_in_every_shape_libpq_accepts_are_masked() {
        let m = Masker::default();
        for (text, want) in [
            // libpq backslash escapes in an unquoted value.
            (
                "host=db password=Esc\\ aped dbname=x",
                "host=db password=•••• dbname=x",
            ),
            // An unterminated quote: everything after it is the value.
            ("host=db password='abc def", "host=db password=••••"),
            (
                "host=db password='it\\'s' dbname=x",
                "host=db password=•••• dbname=x",
            ),
            // `@` inside a URL password.
            ("postgres://u:p@ss@db/orders", "postgres://u:••••@db/orders"),
            // A URL's query key percent-encoded, as libpq decodes it.
            (
                "postgres://db/orders?pass%77ord=hunter2",
                "postgres://db/orders?pass%77ord=••••",
            ),
            (
                "postgresql://db/x?%70%41ssword=hunter2 y",
                "postgresql://db/x?%70%41ssword=•••• y",
            ),
            ("PGPASSWORD=hunter2 psql", "PGPASSWORD=•••• psql"),
            // A runbook reference is not a password.
            ("password=${secrets.PW} x", "password=${secrets.PW} x"),
        ] {
            assert_eq!(m.mask(text), want, "{text}");
        }
    }

    #[test]
    fn multi_line_secrets_and_a_trailing_newline_are_masked() {
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\nab\n-----END KEY-----\n";
        let m = Masker::new([pem, "hunter2\n"]);
        let mut out = format!("x {pem}y hunter2 z\n");
        m.mask_lines(&mut out);
        assert!(!out.contains("MIIEvQIBADANBgkqhkiG9w0"), "{out}");
        assert!(
            !out.contains("BEGIN KEY") && !out.contains("hunter2"),
            "{out}"
        );
        // A line too short to mask on its own stays (the rest of the secret does not).
        assert!(out.contains("\nab\n"), "{out}");
    }

    #[test]
    fn a_secret_escaped_or_quoted_on_its_way_out_is_masked() {
        // A reconcile difference shows a value quoted (`'k3y''Secret'`), a repair statement
        // holds it as a SQL literal: the raw value no longer appears in either.
        let m = Masker::new(["k3y'Secret", "b\\ck\"sl\tash"]);
        for text in [
            "different id=1 v: 'k3y''Secret' → other",
            "SET \"v\" = 'k3y''Secret'::text",
            "E'k3y''Secret'",
            "password='k3y\\'Secret'",
            "echo 'k3y'\\''Secret'",
            "v: b\\\\ck\"sl\\tash",
            "'b\\\\ck\"sl\\tash'",
            "(1,\"b\\\\ck\"\"sl\tash\")",
            "{\"v\":\"b\\\\ck\\\"sl\\tash\"}",
            "E'b\\\\ck\"sl\tash'",
        ] {
            let masked = m.mask(text);
            assert!(masked.contains(MASK), "{text} → {masked}");
            for leak in ["k3y", "Secret", "ck", "sl"] {
                assert!(!masked.contains(leak), "{text} → {masked}");
            }
        }
        // The shown form of a difference, as `shown` writes it.
        let shown = crate::shown::value(Some("k3y'Secret"));
        assert_eq!(shown, "'k3y''Secret'");
        assert_eq!(m.mask(&shown), format!("'{MASK}'"));
        let (a, b) = crate::shown::pair(Some("b\\ck\"sl\tash"), Some("other"));
        assert_eq!(m.mask(&a), MASK, "{a}");
        assert_eq!(b, "other");
        // A value with nothing to escape has no other form.
        assert_eq!(Masker::new(["hunter2"]).values(), ["hunter2"]);
    }

    #[test]
    fn prefilter_catches_case_and_unicode_variants() {
        let m = Masker::new(["Hunter2"]);
        for text in [
            "conn: PassWord=abc",
            "postgres://u:p@h",
            "POSTGRESQL://u:p@h",
            // `(?i)` folds `ſ` (U+017F) to `s`: the regex masks it, so the prefilter must see it.
            "pa\u{17f}sword=abc",
            "po\u{17f}tgres://u:p@h",
            "x Hunter2 y",
        ] {
            assert!(m.may_change(text), "{text}");
            assert_eq!(m.mask(text), m.mask_all(text), "{text}");
        }
        assert_eq!(m.mask("pa\u{17f}sword=abc"), "pa\u{17f}sword=••••");
        assert!(!m.may_change("1234567 hunter2 Hunter pass postgre p"));
        assert_eq!(m.mask("1234567 hunter2"), "1234567 hunter2");
    }

    #[test]
    fn prefilter_words_cover_every_case_fold_of_their_letters() {
        // The prefilter is exact only if, among all characters, the ones `(?i)` equates with a
        // letter of "password" / "postgres" are ASCII or `ſ`. Check every character.
        let re = Regex::new("(?i)^[passwordpostgres]$").expect("regex");
        let mut odd = Vec::new();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if !c.is_ascii() && re.is_match(c.encode_utf8(&mut [0; 4])) {
                odd.push(c);
            }
        }
        assert_eq!(odd, ['\u{17f}']);
    }
}
