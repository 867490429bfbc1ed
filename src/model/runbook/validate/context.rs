//! [`Ctx`]: the diagnostics collected against one runbook file, and the lookups every
//! section shares to report them at the right place.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::runbook::Connection;
use crate::runbook::diag::Diagnostic;
use crate::runbook::spec::SStr;
use crate::runbook::template::Template;

/// Collects diagnostics against one source text.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) source: &'a str,
    pub(super) errors: Vec<Diagnostic>,
    pub(super) vars: BTreeMap<String, String>,
    pub(super) secrets: Vec<String>,
}

impl Ctx<'_> {
    pub(super) fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.errors
            .push(Diagnostic::at(self.file, self.source, span, msg));
    }

    /// Span of a table given as `Spanned`, narrowed to its first line (the header or `{`).
    pub(super) fn head(&self, span: Range<usize>) -> Range<usize> {
        let end = self.source[span.start.min(self.source.len())..]
            .find('\n')
            .map_or(span.end, |i| (span.start + i).min(span.end));
        span.start..end
    }

    /// 1-based line of a byte offset.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.source[..offset.min(self.source.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// A scalar value as written in the file, without quotes.
    pub(super) fn written(&self, span: Range<usize>) -> &str {
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
        match Template::parse(s.get_ref(), &self.vars, &self.secrets) {
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

    pub(super) fn opt_template(&mut self, s: &Option<SStr>) -> Option<Template> {
        s.as_ref().map(|s| self.template(s))
    }

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
                format!(
                    "known: {}",
                    conns.keys().cloned().collect::<Vec<_>>().join(", ")
                )
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
}

/// Resolves the connection of a SQL action: explicit `on`, else the only connection.
pub(super) fn sql_connection(
    cx: &mut Ctx<'_>,
    on: Option<&SStr>,
    conns: &BTreeMap<String, Connection>,
    at: Range<usize>,
    what: &str,
) -> String {
    match on {
        Some(c) => {
            cx.connection(c, conns, what);
            c.get_ref().clone()
        }
        None if conns.len() == 1 => conns.keys().next().cloned().unwrap_or_default(),
        None => {
            let why = if conns.is_empty() {
                "no [connections.NAME] is defined".to_string()
            } else {
                format!(
                    "there are {} connections: {}",
                    conns.len(),
                    conns.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            cx.err(at, format!("{what} needs `on = \"CONNECTION\"` ({why})"));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn ctx(source: &str) -> Ctx<'_> {
        Ctx {
            file: "f.toml",
            source,
            errors: Vec::new(),
            vars: BTreeMap::new(),
            secrets: Vec::new(),
        }
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
