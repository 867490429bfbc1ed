//! [`Ctx`]: the diagnostics collected against one runbook file, and the lookups every
//! section shares to report them at the right place.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::runbook::Connection;
use crate::runbook::diag::{Diagnostic, Diagnostics};
use crate::runbook::spec::SStr;
use crate::runbook::template::{self, Lang, Template};
use crate::runbook::units::Dur;

/// Collects diagnostics against one source text.
pub(super) struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
    errors: Vec<Diagnostic>,
    /// What `check` points out without refusing the runbook.
    notes: Vec<Diagnostic>,
    /// `[vars]` with the `--var` overrides: what `${vars.NAME}` may name.
    vars: BTreeMap<String, String>,
    /// `[secrets]` names: what `${secrets.NAME}` may name.
    secrets: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// A context for `source` (shown as `file`) whose templates may use `vars` and `secrets`.
    pub(super) fn new(
        file: &'a str,
        source: &'a str,
        vars: BTreeMap<String, String>,
        secrets: Vec<String>,
    ) -> Self {
        Ctx {
            file,
            source,
            errors: Vec::new(),
            notes: Vec::new(),
            vars,
            secrets,
        }
    }

    /// The variables and the notes when no error was reported, else every error in file
    /// order.
    pub(super) fn finish(
        mut self,
    ) -> Result<(BTreeMap<String, String>, Vec<Diagnostic>), Diagnostics> {
        if self.errors.is_empty() {
            return Ok((self.vars, self.notes));
        }
        self.errors.sort_by_key(|d| (d.line, d.col));
        Err(Diagnostics(self.errors))
    }

    /// Sets what `${vars.NAME}` may name (once `[vars]` is resolved).
    pub(super) fn set_vars(&mut self, vars: BTreeMap<String, String>) {
        self.vars = vars;
    }

    /// The `[secrets]` names.
    pub(super) fn secret_names(&self) -> Vec<String> {
        self.secrets.clone()
    }

    /// Reports `msg` at `span`.
    pub(super) fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.errors
            .push(Diagnostic::at(self.file, self.source, span, msg));
    }

    /// Reports `msg` at `span`, its quoted line passed through `hide` (a value on it that
    /// must not be shown).
    pub(super) fn err_hiding(
        &mut self,
        span: Range<usize>,
        msg: impl Into<String>,
        hide: impl FnOnce(&str) -> String,
    ) {
        self.errors
            .push(Diagnostic::at(self.file, self.source, span, msg).hidden_by(hide));
    }

    /// Reports `msg` at `span`, every occurrence of `value` (which may be a secret) masked on
    /// its quoted line ([`Diagnostic::hiding`]).
    pub(super) fn err_masking(&mut self, span: Range<usize>, msg: impl Into<String>, value: &str) {
        self.errors
            .push(Diagnostic::at(self.file, self.source, span, msg).hiding(value));
    }

    /// How often something written as `every` runs: as written, else `default`; one under
    /// `floor` is reported as `too_short` at its place.
    pub(super) fn every_at_least(
        &mut self,
        every: &Option<Spanned<Dur>>,
        default: Duration,
        floor: Duration,
        too_short: &str,
    ) -> Duration {
        every.as_ref().map_or(default, |e| {
            let d = e.get_ref().get();
            if d < floor {
                self.err(e.span(), too_short);
            }
            d
        })
    }

    /// Reports `msg` at the whole `key = value` whose value is at `value`: for a key that
    /// should not be there.
    pub(super) fn err_entry(&mut self, value: Range<usize>, msg: impl Into<String>) {
        let entry = self.entry(value);
        self.err(entry, msg);
    }

    /// Reports `msg` at the whole `key = value` of a key that is written (its value at
    /// `value`) but that nothing reads (`read` is false).
    pub(super) fn unread(
        &mut self,
        value: Option<Range<usize>>,
        read: bool,
        msg: impl FnOnce() -> String,
    ) {
        if let Some(value) = value
            && !read
        {
            self.err_entry(value, msg());
        }
    }

    /// Reports `msg` at `s` when it is empty or only white space.
    pub(super) fn not_blank(&mut self, s: &SStr, msg: impl FnOnce() -> String) {
        if s.get_ref().trim().is_empty() {
            self.err(s.span(), msg());
        }
    }

    /// Reports `s` when it holds a character no one can type or see: a control character
    /// (a newline, ESC, NUL...) or an invisible format character (zero-width, bidi).
    /// `what` names the value, `why` says where it is typed or shown.
    pub(super) fn typable(&mut self, s: &SStr, what: &str, why: &str) {
        if let Some(c) = s.get_ref().chars().find(|c| untypable(*c)) {
            self.err(
                s.span(),
                format!(
                    "{what} holds the character U+{:04X}, which cannot be typed or seen ({why}): use letters, digits and punctuation",
                    u32::from(c)
                ),
            );
        }
    }

    /// Whether `name` was used before in this section (recorded in `seen`, name to offset):
    /// the line of its first use if so; else records it and answers `None`.
    pub(super) fn used_before(
        &self,
        seen: &mut BTreeMap<String, usize>,
        name: &SStr,
    ) -> Option<usize> {
        match seen.get(name.get_ref()) {
            Some(first) => Some(self.line_of(*first)),
            None => {
                seen.insert(name.get_ref().clone(), name.span().start);
                None
            }
        }
    }

    /// Span of a table given as `Spanned`, narrowed to its first line (the header or `{`).
    pub(super) fn head(&self, span: Range<usize>) -> Range<usize> {
        let end = self.source[span.start.min(self.source.len())..]
            .find('\n')
            .map_or(span.end, |i| (span.start + i).min(span.end));
        span.start..end
    }

    /// 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.source[..offset.min(self.source.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// A scalar value as written in the file, without quotes.
    pub(super) fn written(&self, span: Range<usize>) -> &'a str {
        self.source
            .get(span)
            .unwrap_or("")
            .trim_matches(|c| c == '"' || c == '\'')
    }

    /// `key = value` from the key to the end of the value (the value alone when no key is found
    /// before it on the same line): for errors where the key itself is the mistake.
    pub(super) fn entry(&self, value: Range<usize>) -> Range<usize> {
        let start = value.start.min(self.source.len());
        let before = &self.source[..start];
        let Some(eq) = before.trim_end_matches([' ', '\t']).strip_suffix('=') else {
            return value;
        };
        let key_end = eq.trim_end_matches([' ', '\t']).len();
        let key_start = before[..key_end]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '"')))
            .map_or(0, |i| i + 1);
        if key_start == key_end {
            return value;
        }
        key_start..value.end
    }

    /// Parses a template, reporting an unresolved reference at its exact place.
    pub(super) fn template(&mut self, s: &SStr) -> Template {
        self.template_in(s, Lang::Text)
    }

    /// `s` as a SQL template: references become quoted literals or identifiers; a `:raw` one
    /// is pointed out as a note.
    pub(super) fn sql_template(&mut self, s: &SStr) -> Template {
        let t = self.template_in(s, Lang::Sql);
        self.note_raw(
            s,
            "a `:raw` reference pastes its value into SQL as it is: make sure no one but the runbook's author can set it",
        );
        t
    }

    /// `s` as a shell command: references become single-quoted words; a `:raw` one is
    /// pointed out as a note.
    pub(super) fn shell_template(&mut self, s: &SStr) -> Template {
        let t = self.template_in(s, Lang::Shell);
        self.note_raw(
            s,
            "a `:raw` reference pastes its value into the shell command as it is (shell syntax in it runs): make sure no one but the runbook's author can set it",
        );
        t
    }

    /// Points out each `:raw` reference of `s` with `msg`.
    fn note_raw(&mut self, s: &SStr, msg: &str) {
        for (offset, len) in template::raw_references(s.get_ref()) {
            let at = self.within(s.span(), s.get_ref(), offset, len);
            self.notes
                .push(Diagnostic::at(self.file, self.source, at, msg));
        }
    }

    /// The file span of `len` bytes at `offset` inside the string `value` written at `span`:
    /// exact when the string is written as a TOML string of any kind (escapes and multi-line
    /// strings included), else the whole string.
    pub(super) fn within(
        &self,
        span: Range<usize>,
        value: &str,
        offset: usize,
        len: usize,
    ) -> Range<usize> {
        let raw = self.source.get(span.clone()).unwrap_or("");
        match string_offsets(raw, value) {
            Some(at) if len > 0 && offset + len < at.len() => {
                span.start + at[offset]..span.start + at[offset + len - 1] + 1
            }
            _ => span,
        }
    }

    /// `s` as a template in `lang`, its errors reported.
    fn template_in(&mut self, s: &SStr, lang: Lang) -> Template {
        let parsed = match lang {
            Lang::Text => Template::parse(s.get_ref(), &self.vars, &self.secrets),
            Lang::Sql => Template::parse_sql(s.get_ref(), &self.vars, &self.secrets),
            Lang::Shell => Template::parse_shell(s.get_ref(), &self.vars, &self.secrets),
        };
        match parsed {
            Ok(t) => t,
            Err(e) => {
                let sub = self.within(s.span(), s.get_ref(), e.offset, e.len);
                self.err(sub, e.message);
                Template::default()
            }
        }
    }

    /// `s` with its `${vars.NAME}` filled in as text, in place: for the keys that name a
    /// table, a column, a slot... A secret cannot be part of a name (names are shown).
    pub(super) fn resolve_name(&mut self, s: &mut SStr) {
        let span = s.span();
        if let Some(v) = self.name_text(s.get_ref(), span, true) {
            *s.get_mut() = v;
        }
    }

    /// [`Ctx::resolve_name`] for each name of a list written at `list` (errors point at the
    /// list).
    pub(super) fn resolve_names(&mut self, list: &mut Spanned<Vec<String>>) {
        let span = list.span();
        for name in list.get_mut() {
            if let Some(v) = self.name_text(name, span.clone(), false) {
                *name = v;
            }
        }
    }

    /// `value` (written at `span`, exactly as a string when `exact`) with its references
    /// filled in; `None` when it has none or one is wrong (reported).
    fn name_text(&mut self, value: &str, span: Range<usize>, exact: bool) -> Option<String> {
        if !value.contains("${") {
            return None;
        }
        let at = |cx: &Self, offset: usize, len: usize| {
            if exact {
                cx.within(span.clone(), value, offset, len)
            } else {
                span.clone()
            }
        };
        match Template::parse(value, &self.vars, &self.secrets) {
            Err(e) => {
                let sub = at(self, e.offset, e.len);
                self.err(sub, e.message);
                None
            }
            Ok(t) if t.has_secrets() => {
                let offset = value.find("${secrets.").unwrap_or(0);
                let len = value[offset..]
                    .find('}')
                    .map_or(value.len() - offset, |c| c + 1);
                let sub = at(self, offset, len);
                self.err(
                    sub,
                    "a name (of a table, column, slot...) cannot hold a secret: names are shown on screen and in the journal",
                );
                None
            }
            Ok(t) => Some(t.display()),
        }
    }

    /// [`Ctx::shell_template`] of an optional string.
    pub(super) fn opt_shell_template(&mut self, s: &Option<SStr>) -> Option<Template> {
        s.as_ref().map(|s| self.shell_template(s))
    }

    /// [`Ctx::sql_template`] of an optional string.
    pub(super) fn opt_sql_template(&mut self, s: &Option<SStr>) -> Option<Template> {
        s.as_ref().map(|s| self.sql_template(s))
    }

    /// Reports `name` unless it is one of `conns`; `what` says who names it.
    pub(super) fn connection(
        &mut self,
        name: &SStr,
        conns: &BTreeMap<String, Connection>,
        what: &str,
    ) {
        if !conns.contains_key(name.get_ref()) {
            let known = if conns.is_empty() {
                "no [connections.NAME] section is defined".to_string()
            } else {
                format!("known: {}", names(conns))
            };
            self.err(
                name.span(),
                format!(
                    "{what} names unknown connection `{}` ({known})",
                    name.get_ref()
                ),
            );
        }
    }

    /// The connection a SQL action runs on: its `on` (checked), else the only connection;
    /// `at` is where to report that `on` is needed, `what` names the action.
    pub(super) fn sql_connection(
        &mut self,
        on: Option<&SStr>,
        conns: &BTreeMap<String, Connection>,
        at: Range<usize>,
        what: &str,
    ) -> String {
        match on {
            Some(c) => {
                self.connection(c, conns, what);
                c.get_ref().clone()
            }
            None if conns.len() == 1 => conns.keys().next().cloned().unwrap_or_default(),
            None => {
                let why = if conns.is_empty() {
                    "no [connections.NAME] is defined".to_string()
                } else {
                    format!("there are {} connections: {}", conns.len(), names(conns))
                };
                self.err(at, format!("{what} needs `on = \"CONNECTION\"` ({why})"));
                String::new()
            }
        }
    }
}

/// Where each byte of a TOML string's value is written in its source `raw` (the string as
/// written, quotes included): one source offset per value byte (the bytes of an escape all
/// point at its backslash), then the offset after the last. `None` when `raw` does not
/// decode to `value`.
fn string_offsets(raw: &str, value: &str) -> Option<Vec<usize>> {
    let (open, multi, literal) = if raw.starts_with("\"\"\"") {
        (3, true, false)
    } else if raw.starts_with("'''") {
        (3, true, true)
    } else if raw.starts_with('"') {
        (1, false, false)
    } else if raw.starts_with('\'') {
        (1, false, true)
    } else {
        return None;
    };
    let b = raw.as_bytes();
    let mut i = open;
    // A newline right after the opening delimiter of a multi-line string is not part of it.
    if multi {
        if b[i..].starts_with(b"\r\n") {
            i += 2;
        } else if b.get(i) == Some(&b'\n') {
            i += 1;
        }
    }
    let mut out: Vec<usize> = Vec::with_capacity(value.len() + 1);
    let mut decoded: Vec<u8> = Vec::with_capacity(value.len());
    while decoded.len() < value.len() && i < b.len() {
        if literal || b[i] != b'\\' {
            decoded.push(b[i]);
            out.push(i);
            i += 1;
            continue;
        }
        let mut buf = [0u8; 4];
        let (bytes, used): (&[u8], usize) = match b.get(i + 1)? {
            b'b' => (b"\x08", 2),
            b't' => (b"\t", 2),
            b'n' => (b"\n", 2),
            b'f' => (b"\x0c", 2),
            b'r' => (b"\r", 2),
            b'e' => (b"\x1b", 2),
            b'"' => (b"\"", 2),
            b'\\' => (b"\\", 2),
            e @ (b'x' | b'u' | b'U') => {
                let n = match e {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = raw.get(i + 2..i + 2 + n)?;
                let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                (c.encode_utf8(&mut buf).as_bytes(), 2 + n)
            }
            c if multi && c.is_ascii_whitespace() => {
                // A line-ending backslash: the newline and the white space after it go.
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                (&[], j - i)
            }
            _ => return None,
        };
        for byte in bytes {
            decoded.push(*byte);
            out.push(i);
        }
        i += used;
    }
    out.push(i);
    (decoded == value.as_bytes()).then_some(out)
}

/// A control character, or a format character that shows as nothing (zero-width spaces and
/// joiners, bidirectional marks and overrides, the byte-order mark).
pub(super) fn untypable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// The connection names, comma-separated.
fn names(conns: &BTreeMap<String, Connection>) -> String {
    conns.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Where an optional key's value is written, if it is.
pub(super) fn span_of<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

/// An optional key's value, without its place.
pub(super) fn value_of<T: Clone>(v: &Option<Spanned<T>>) -> Option<T> {
    v.as_ref().map(|x| x.get_ref().clone())
}

/// `", "`-separated, or `none`.
pub(super) fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Which of the optional keys named are written in `spec`, in the order named:
/// `written!(step; run, sql)` is `["sql"]` for a step with only `sql`.
macro_rules! written {
    ($spec:expr; $($key:ident),+ $(,)?) => {
        [$((stringify!($key), $spec.$key.is_some())),+]
            .into_iter()
            .filter_map(|(key, given)| given.then_some(key))
            .collect::<Vec<&'static str>>()
    };
}
pub(super) use written;

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn ctx(source: &str) -> Ctx<'_> {
        Ctx::new("f.toml", source, BTreeMap::new(), Vec::new())
    }

    #[test_case("on = \"x\"", "\"x\"", "on = \"x\""; "plain key")]
    #[test_case("{ a = 1, on  =  \"x\" }", "\"x\"", "on  =  \"x\""; "inside an inline table")]
    #[test_case("[\"x\"]", "\"x\"", "\"x\""; "no key before the value")]
    fn entry_spans_key_and_value(source: &str, value: &str, want: &str) {
        let start = source.rfind(value).unwrap();
        let span = ctx(source).entry(start..start + value.len());
        assert_eq!(&source[span], want);
    }
}
