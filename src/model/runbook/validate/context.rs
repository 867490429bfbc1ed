//! [`Ctx`]: the diagnostics collected against one runbook file, and the lookups every
//! section shares to report them at the right place.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use crate::runbook::Connection;
use crate::runbook::diag::{Diagnostic, Diagnostics};
use crate::runbook::spec::SStr;
use crate::runbook::template::{Lang, Template};

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

    /// Reports `msg` at `span`.
    pub(super) fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.errors
            .push(Diagnostic::at(self.file, self.source, span, msg));
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
        if t.has_raw() {
            self.notes.push(Diagnostic::at(
                self.file,
                self.source,
                s.span(),
                "a `:raw` reference pastes its value into SQL as it is: make sure no one but the runbook's author can set it",
            ));
        }
        t
    }

    /// `s` as a template in `lang`, its errors reported.
    fn template_in(&mut self, s: &SStr, lang: Lang) -> Template {
        let parsed = match lang {
            Lang::Text => Template::parse(s.get_ref(), &self.vars, &self.secrets),
            Lang::Sql => Template::parse_sql(s.get_ref(), &self.vars, &self.secrets),
        };
        match parsed {
            Ok(t) => t,
            Err(e) => {
                let span = s.span();
                // Offsets inside the string map onto the file when the string is written
                // without escapes on one line (the usual case); otherwise point at the string.
                let raw = &self.source[span.clone()];
                let quote = raw
                    .chars()
                    .next()
                    .map_or(0, |c| usize::from(c == '"' || c == '\''));
                let inner = &raw[quote.min(raw.len())..];
                let sub = if inner.get(e.offset..e.offset + e.len)
                    == s.get_ref().get(e.offset..e.offset + e.len)
                {
                    let start = span.start + quote + e.offset;
                    start..start + e.len
                } else {
                    span
                };
                self.err(sub, e.message);
                Template::default()
            }
        }
    }

    /// [`Ctx::template`] for an optional key.
    pub(super) fn opt_template(&mut self, s: &Option<SStr>) -> Option<Template> {
        s.as_ref().map(|s| self.template(s))
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
