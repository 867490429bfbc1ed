//! `${vars.x}` / `${secrets.x}` interpolation, rendered twice: once to execute, once to show.
//!
//! In SQL (`sql`, `rollback_sql`, SQL waits and triggers, `[lag] sql`, `query` checks) a
//! reference never becomes SQL syntax: it goes in as a quoted literal (`'it''s'`, or
//! `E'…'` when the value holds a backslash), as a quoted identifier with `:ident`
//! (`${vars.table:ident}` → `"public"."orders"`), or, only when the runbook says so with
//! `:raw`, as the text itself (which `cutover check` points out). A reference written inside a
//! quoted string, a quoted identifier or a comment is refused: the value would be quoted
//! again, or not at all.
//!
//! In shell commands (`run`, `rollback`, `wait = { run = ... }`, `[lag] command`) the rule is
//! the same: a reference is one single-quoted word, `:raw` pastes the text, and a reference
//! inside shell quotes, a comment or a here-document is refused (see [`super::shell`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ident::{quote_qualified, sql_literal};
use crate::secrets::MASK;

/// The most a string may grow to once its `${vars...}` are filled in: a runbook string is a
/// command or a statement, and a reference repeated thousands of times over a large value
/// would exhaust memory before anything runs.
pub const MAX_EXPANDED: usize = 1024 * 1024;

/// What a reference's value becomes in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// The value as it is (DSNs, titles, names).
    Text,
    /// A SQL string literal.
    Literal,
    /// A SQL identifier, schema-qualified when the value has a dot.
    Ident,
    /// The value pasted into SQL or a shell command as it is (`:raw`).
    Raw,
    /// One shell word: the value in single quotes.
    Shell,
}

impl Form {
    fn apply(self, value: &str) -> String {
        match self {
            Form::Text | Form::Raw => value.to_string(),
            Form::Literal => sql_literal(value),
            Form::Ident => quote_qualified(value),
            Form::Shell => super::shell::quote(value),
        }
    }
}

/// One piece of a string written in a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    /// Text taken as written.
    Literal(String),
    /// `${vars.NAME}`, resolved at load time: its name, its value, and what it becomes.
    Var(String, String, Form),
    /// `${secrets.NAME}`, resolved at run time and never shown, and what it becomes.
    Secret(String, Form),
}

/// The language a string is written in, which decides what a reference becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Plain text: a DSN, a title, a table name. References are pasted as they are.
    #[default]
    Text,
    /// SQL: references are quoted (see the module documentation).
    Sql,
    /// A shell command: references are single-quoted words (see the module documentation).
    Shell,
}

/// A runbook string after parsing its `${...}` references.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Template {
    /// The pieces in order.
    pub segments: Vec<Segment>,
    /// What the string is written in.
    #[serde(default)]
    pub lang: Lang,
}

/// A reference that could not be parsed or resolved; `offset` is the byte offset within the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem inside the string's content.
    pub offset: usize,
    /// Byte length of the offending reference.
    pub len: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `s` as plain text, resolving vars from `vars` and checking that secrets are
    /// declared. `$${` is an escape for a literal `${` (useful in shell commands).
    pub fn parse(
        s: &str,
        vars: &BTreeMap<String, String>,
        secrets: &[String],
    ) -> Result<Template, TemplateError> {
        parse(s, vars, secrets, Lang::Text)
    }

    /// Parses `s` as SQL: like [`Template::parse`], and each reference becomes a literal, an
    /// identifier (`:ident`) or raw text (`:raw`), never SQL syntax by accident.
    pub fn parse_sql(
        s: &str,
        vars: &BTreeMap<String, String>,
        secrets: &[String],
    ) -> Result<Template, TemplateError> {
        let t = parse(s, vars, secrets, Lang::Sql)?;
        sql_context::check(s)?;
        Ok(t)
    }

    /// Parses `s` as a shell command: like [`Template::parse`], and each reference becomes
    /// one single-quoted word, or the text itself with `:raw`; a reference inside shell
    /// quotes, a comment or a here-document is refused.
    pub fn parse_shell(
        s: &str,
        vars: &BTreeMap<String, String>,
        secrets: &[String],
    ) -> Result<Template, TemplateError> {
        let t = parse(s, vars, secrets, Lang::Shell)?;
        super::shell::check(s)?;
        Ok(t)
    }

    /// The string to execute, with secret values filled in from `secrets`.
    pub fn render(&self, secrets: &BTreeMap<String, String>) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(t) => t.clone(),
                Segment::Var(_, v, form) => form.apply(v),
                Segment::Secret(name, form) => {
                    form.apply(secrets.get(name).map_or("", String::as_str))
                }
            })
            .collect()
    }

    /// The string to show: every secret replaced by the mask.
    pub fn display(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(t) => t.clone(),
                Segment::Var(_, v, form) => form.apply(v),
                Segment::Secret(_, Form::Literal | Form::Shell) => format!("'{MASK}'"),
                Segment::Secret(..) => MASK.to_string(),
            })
            .collect()
    }

    /// Whether the string references any secret.
    pub fn has_secrets(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Secret(..)))
    }

    /// Whether the string pastes a value into SQL or a shell command as it is (`:raw`), which
    /// `check` points out.
    pub fn has_raw(&self) -> bool {
        self.segments.iter().any(|s| {
            matches!(
                s,
                Segment::Var(_, _, Form::Raw) | Segment::Secret(_, Form::Raw)
            )
        })
    }
}

fn parse(
    s: &str,
    vars: &BTreeMap<String, String>,
    secrets: &[String],
    lang: Lang,
) -> Result<Template, TemplateError> {
    let mut segments = Vec::new();
    let mut lit = String::new();
    let mut expanded = 0usize;
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < s.len() {
        if s[i..].starts_with("$${") {
            lit.push_str("${");
            i += 3;
            continue;
        }
        if !s[i..].starts_with("${") {
            let ch_len = utf8_len(bytes[i]);
            lit.push_str(&s[i..i + ch_len]);
            expanded += ch_len;
            i += ch_len;
            continue;
        }
        let Some(close) = s[i..].find('}') else {
            return Err(TemplateError {
                offset: i,
                len: s.len() - i,
                message: "unclosed `${`: write `${vars.NAME}` or `${secrets.NAME}` (`$${` for a literal `${`)".into(),
            });
        };
        let len = close + 1;
        let at = |message: String| TemplateError {
            offset: i,
            len,
            message,
        };
        let inner = &s[i + 2..i + close];
        let (reference, form) = form_of(inner, lang).map_err(at)?;
        let segment = resolve(inner, reference, form, vars, secrets).map_err(at)?;
        if let Segment::Var(_, v, _) = &segment {
            expanded += v.len();
        }
        if expanded > MAX_EXPANDED {
            return Err(at(format!(
                "this string grows past {} KiB once its references are filled in: a runbook string is one command or statement (put bulk data in a file the step reads)",
                MAX_EXPANDED / 1024
            )));
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(std::mem::take(&mut lit)));
        }
        segments.push(segment);
        i += len;
    }
    if !lit.is_empty() {
        segments.push(Segment::Literal(lit));
    }
    Ok(Template { segments, lang })
}

/// The segment a reference `inner` (`vars.x`, `secrets.y`, with its form) stands for.
fn resolve(
    inner: &str,
    reference: &str,
    form: Form,
    vars: &BTreeMap<String, String>,
    secrets: &[String],
) -> Result<Segment, String> {
    let (ns, name) = reference.split_once('.').unwrap_or(("", reference));
    match ns {
        "vars" => match vars.get(name) {
            Some(v) => Ok(Segment::Var(name.to_string(), v.clone(), form)),
            None => Err(format!(
                "`${{{inner}}}` does not resolve: no `{name}` in [vars]{}",
                known(vars.keys())
            )),
        },
        "secrets" if secrets.iter().any(|k| k == name) => {
            Ok(Segment::Secret(name.to_string(), form))
        }
        "secrets" => Err(format!(
            "`${{{inner}}}` does not resolve: no `{name}` in [secrets]{}",
            known(secrets.iter())
        )),
        _ => Err(format!(
            "`${{{inner}}}` is not a runbook reference: use `${{vars.NAME}}` or `${{secrets.NAME}}` (write `$${{` for a literal `${{`, e.g. a shell variable)"
        )),
    }
}

/// Splits `vars.x:ident` into the reference and what it becomes in `lang`.
fn form_of(inner: &str, lang: Lang) -> Result<(&str, Form), String> {
    let (reference, suffix) = match inner.rsplit_once(':') {
        Some((r, f)) => (r, Some(f)),
        None => (inner, None),
    };
    match (lang, suffix) {
        (Lang::Text, None) => Ok((reference, Form::Text)),
        (Lang::Text, Some(f)) => Err(format!(
            "`:{f}` is for references in SQL and shell commands; here `${{{reference}}}` is pasted as it is"
        )),
        (Lang::Shell, None) => Ok((reference, Form::Shell)),
        (Lang::Shell, Some("raw")) => Ok((reference, Form::Raw)),
        (Lang::Shell, Some(f)) => Err(format!(
            "`:{f}` is not a way to use a value in a shell command: `${{{reference}}}` is one quoted word, `${{{reference}:raw}}` the text itself"
        )),
        (Lang::Sql, None) => Ok((reference, Form::Literal)),
        (Lang::Sql, Some("ident")) => Ok((reference, Form::Ident)),
        (Lang::Sql, Some("raw")) => Ok((reference, Form::Raw)),
        (Lang::Sql, Some(f)) => Err(format!(
            "`:{f}` is not a way to use a value in SQL: `${{{reference}}}` is a quoted literal, `${{{reference}:ident}}` a quoted identifier, `${{{reference}:raw}}` the text itself"
        )),
    }
}

/// Where a reference sits in SQL text: outside quotes and comments only.
mod sql_context {
    use super::TemplateError;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum State {
        Code,
        Quoted,
        Ident,
        Dollar(String),
        LineComment,
        BlockComment(u32),
    }

    /// Refuses a `${...}` inside a string literal, a dollar-quoted string, a quoted
    /// identifier or a comment of the SQL text `s`.
    pub(super) fn check(s: &str) -> Result<(), TemplateError> {
        let b = s.as_bytes();
        let mut state = State::Code;
        let mut i = 0;
        while i < b.len() {
            if b[i..].starts_with(b"$${") {
                i += 3;
                continue;
            }
            if b[i..].starts_with(b"${") {
                let len = super::reference_len(s, i);
                let place = match &state {
                    State::Code => {
                        i += len;
                        continue;
                    }
                    State::Quoted | State::Dollar(_) => "a quoted string",
                    State::Ident => "a quoted identifier",
                    State::LineComment | State::BlockComment(_) => "a comment",
                };
                let reference = &s[i..i + len];
                return Err(TemplateError {
                    offset: i,
                    len,
                    message: format!(
                        "{reference} is inside {place}: in SQL a reference is quoted by cutover (a value becomes a literal, `:ident` an identifier), so write it without quotes around it, e.g. note = {reference}"
                    ),
                });
            }
            let (next, step) = advance(&state, &b[i..], s, i);
            state = next;
            i += step;
        }
        Ok(())
    }

    /// The state after the text at `rest`, and how many bytes were consumed.
    fn advance(state: &State, rest: &[u8], s: &str, at: usize) -> (State, usize) {
        let c = rest[0];
        match state {
            State::Code => match c {
                b'\'' => (State::Quoted, 1),
                b'"' => (State::Ident, 1),
                b'-' if rest.get(1) == Some(&b'-') => (State::LineComment, 2),
                b'/' if rest.get(1) == Some(&b'*') => (State::BlockComment(1), 2),
                b'$' => match dollar_tag(&s[at..]) {
                    Some(tag) => {
                        let n = tag.len();
                        (State::Dollar(tag), n)
                    }
                    None => (State::Code, 1),
                },
                _ => (State::Code, 1),
            },
            State::Quoted => match c {
                b'\'' if rest.get(1) == Some(&b'\'') => (State::Quoted, 2),
                b'\\' => (State::Quoted, 2.min(rest.len())),
                b'\'' => (State::Code, 1),
                _ => (State::Quoted, 1),
            },
            State::Ident => match c {
                b'"' if rest.get(1) == Some(&b'"') => (State::Ident, 2),
                b'"' => (State::Code, 1),
                _ => (State::Ident, 1),
            },
            State::Dollar(tag) if rest.starts_with(tag.as_bytes()) => (State::Code, tag.len()),
            State::Dollar(tag) => (State::Dollar(tag.clone()), 1),
            State::LineComment if c == b'\n' => (State::Code, 1),
            State::LineComment => (State::LineComment, 1),
            State::BlockComment(depth) => {
                if rest.starts_with(b"*/") {
                    match depth {
                        1 => (State::Code, 2),
                        d => (State::BlockComment(d - 1), 2),
                    }
                } else if rest.starts_with(b"/*") {
                    (State::BlockComment(depth + 1), 2)
                } else {
                    (State::BlockComment(*depth), 1)
                }
            }
        }
    }

    /// `$tag$` (or `$$`) at the start of `s`, when it opens a dollar-quoted string.
    fn dollar_tag(s: &str) -> Option<String> {
        let rest = &s[1..];
        let end = rest.find('$')?;
        let tag = &rest[..end];
        let ok = tag.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !tag.starts_with(|c: char| c.is_ascii_digit());
        ok.then(|| format!("${tag}$"))
    }
}

/// Where the `:raw` references of the runbook string `s` are: byte offset and length of each.
pub fn raw_references(s: &str) -> Vec<(usize, usize)> {
    references_in(s, 0, s.len())
        .into_iter()
        .filter(|&(i, len)| s[i..i + len].ends_with(":raw}"))
        .collect()
}

/// The `${...}` references of the runbook string `s` that start in `s[from..to]` (`$${` is
/// an escaped `${`, not a reference): byte offset in `s` and [`reference_len`] of each.
pub(crate) fn references_in(s: &str, from: usize, to: usize) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        if b[i..].starts_with(b"$${") {
            i += 3;
        } else if b[i..].starts_with(b"${") {
            let len = reference_len(s, i);
            out.push((i, len));
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

/// The length of the reference starting at byte `i` of `s`: to its `}`, else (unclosed) to
/// the end of `s`.
pub(crate) fn reference_len(s: &str, i: usize) -> usize {
    s[i..].find('}').map_or(s.len() - i, |c| c + 1)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        " (it is empty)".to_string()
    } else {
        format!(" (known: {})", v.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("host".to_string(), "app01".to_string()),
            (
                "customer".to_string(),
                "'; drop table victim; --".to_string(),
            ),
            ("table".to_string(), "public.orders".to_string()),
            ("n".to_string(), "100000".to_string()),
        ])
    }

    /// The secrets: `PW` is `value`.
    fn pw(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("PW".to_string(), value.to_string())])
    }

    #[test]
    fn renders_and_masks() {
        let t = Template::parse(
            "ssh ${vars.host} pw=${secrets.PW} héllo $${HOME}",
            &vars(),
            &["PW".to_string()],
        )
        .unwrap();
        let s = pw("hunter2");
        assert_eq!(t.render(&s), "ssh app01 pw=hunter2 héllo ${HOME}");
        assert_eq!(t.display(), "ssh app01 pw=•••• héllo ${HOME}");
    }

    #[test]
    fn in_sql_a_value_is_a_literal_and_never_syntax() {
        let t = Template::parse_sql(
            "select * from ${vars.table:ident} where note = ${vars.customer} limit ${vars.n} -- x",
            &vars(),
            &[],
        )
        .unwrap();
        assert_eq!(
            t.render(&BTreeMap::new()),
            "select * from \"public\".\"orders\" where note = '''; drop table victim; --' limit '100000' -- x"
        );
        let raw = Template::parse_sql("select ${vars.n:raw}", &vars(), &[]).unwrap();
        assert_eq!(raw.render(&BTreeMap::new()), "select 100000");
        assert!(raw.has_raw() && !t.has_raw());
        let secret = Template::parse_sql("select ${secrets.PW}", &vars(), &["PW".into()]).unwrap();
        assert_eq!(secret.render(&pw("it's")), "select 'it''s'");
        assert_eq!(secret.display(), "select '••••'");
    }

    #[test]
    fn a_reference_inside_quotes_or_comments_is_refused_and_located() {
        for (sql, place) in [
            (
                "select 1 where note = '${vars.customer}'",
                "a quoted string",
            ),
            ("select \"${vars.table}\"", "a quoted identifier"),
            ("select $q$ ${vars.n} $q$", "a quoted string"),
            ("select 1 -- ${vars.n}\n", "a comment"),
            ("select /* a /* ${vars.n} */ */ 1", "a comment"),
        ] {
            let e = Template::parse_sql(sql, &vars(), &[]).unwrap_err();
            assert!(e.message.contains(place), "{sql}: {}", e.message);
            assert_eq!(&sql[e.offset..e.offset + 2], "${", "{sql}");
        }
        // Quotes closed again, escaped quotes and `$$` bodies that end are fine.
        for sql in [
            "select 'it''s', ${vars.n}",
            "select $$ a $$, ${vars.n}",
            "select \"a\"\"b\", ${vars.n}",
            "select 1 -- c\n, ${vars.n}",
        ] {
            Template::parse_sql(sql, &vars(), &[]).unwrap();
        }
    }

    #[test]
    fn forms_are_for_sql_only_and_named() {
        let e = Template::parse("echo ${vars.host:ident}", &vars(), &[]).unwrap_err();
        assert!(e.message.contains("for references in SQL"), "{}", e.message);
        let e = Template::parse_sql("select ${vars.n:int}", &vars(), &[]).unwrap_err();
        assert!(e.message.contains(":ident"), "{}", e.message);
    }

    #[test]
    fn a_string_that_would_explode_is_refused_at_the_reference() {
        let big = BTreeMap::from([("x".to_string(), "y".repeat(100 * 1024))]);
        let s = "${vars.x}".repeat(20_000);
        let e = Template::parse(&s, &big, &[]).unwrap_err();
        assert!(e.message.contains("KiB"), "{}", e.message);
        assert_eq!(e.offset, 10 * 9, "the eleventh reference crosses 1 MiB");
    }

    #[test]
    fn unresolved_reference_is_located() {
        let e = Template::parse("echo ${vars.nope}", &vars(), &[]).unwrap_err();
        assert_eq!((e.offset, e.len), (5, 12));
        assert!(e.message.contains("no `nope` in [vars]"), "{}", e.message);
    }

    #[test]
    fn shell_style_reference_is_rejected_with_hint() {
        let e = Template::parse("echo ${HOME}", &vars(), &[]).unwrap_err();
        assert!(e.message.contains("$${"), "{}", e.message);
    }

    #[test]
    fn in_a_shell_command_a_value_is_one_quoted_word_and_never_syntax() {
        let t = Template::parse_shell(
            "echo ${vars.customer} ${secrets.PW} ${vars.n:raw}",
            &vars(),
            &["PW".into()],
        )
        .unwrap();
        assert_eq!(
            t.render(&pw("it's")),
            r"echo ''\''; drop table victim; --' 'it'\''s' 100000"
        );
        assert_eq!(
            t.display(),
            r"echo ''\''; drop table victim; --' '••••' 100000"
        );
        assert!(t.has_raw());
        let e = Template::parse_shell("echo ${vars.n:ident}", &vars(), &[]).unwrap_err();
        assert!(e.message.contains("one quoted word"), "{}", e.message);
        let e = Template::parse_shell("echo \"${vars.n}\"", &vars(), &[]).unwrap_err();
        assert_eq!((e.offset, e.len), (6, 9));
        assert_eq!(
            raw_references("a ${vars.n:raw} $${x:raw} ${vars.n}"),
            [(2, 13)]
        );
    }
}
