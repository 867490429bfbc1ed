//! References in shell commands (`run`, `rollback`, `wait = { run = ... }`, `[lag] command`):
//! how a value is quoted, and where in the command a reference may stand.
//!
//! The rule is SQL's: a value never becomes shell syntax. `${vars.x}` goes in as one word in
//! single quotes (`it's` → `'it'\''s'`), `${vars.x:raw}` goes in as the text itself (which
//! `cutover check` points out), and a reference written where the quotes cutover adds would
//! be wrong is refused: inside single or double quotes (the value would be quoted twice), in a
//! comment (a newline in the value would end the comment and run the rest), in a
//! here-document (the quotes would be written out), in an arithmetic expansion `$((…))` (a
//! quoted word is not a number there) or inside a shell `${…}` expansion.

use super::template::{TemplateError, reference_len, references_in};

/// `value` as one shell word: in single quotes, each `'` written as `'\''`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A var or secret name as an environment variable suffix: `SOME-name` → `SOME_NAME`
/// (the step's environment has `CUTOVER_VAR_<suffix>` and `CUTOVER_SECRET_<suffix>`).
pub fn env_suffix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The environment every process started for the runbook gets (steps, rollbacks, shell
/// waits, the lag command): `CUTOVER_RUNBOOK`, `CUTOVER_VAR_<NAME>` for each var and
/// `CUTOVER_SECRET_<NAME>` for each secret (`secrets`: their values).
pub fn process_env(
    rb: &super::Runbook,
    secrets: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut env = vec![("CUTOVER_RUNBOOK".to_string(), rb.path.clone())];
    for (k, v) in &rb.vars {
        env.push((format!("CUTOVER_VAR_{}", env_suffix(k)), v.clone()));
    }
    for (k, v) in secrets {
        env.push((format!("CUTOVER_SECRET_{}", env_suffix(k)), v.clone()));
    }
    env
}

/// Where a reference stands in a shell command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Commands: the top level, `$(…)`, `(…)` or `` `…` ``.
    Code(Opened),
    /// `'…'`.
    Single,
    /// `"…"`.
    Double,
    /// A shell parameter expansion `${…}` (written `$${…}` in a runbook).
    Param,
    /// `$((…))`, with the depth of the parentheses opened inside it.
    Arith(u32),
}

/// What opened a [`Frame::Code`], and so what closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opened {
    /// The command itself: nothing closes it.
    Top,
    /// `$(` or `(`: closed by `)`.
    Paren,
    /// `` ` ``: closed by `` ` ``.
    Backtick,
}

/// A here-document announced by `<<WORD` (or `<<-WORD`) whose body starts on the next line.
struct Heredoc {
    delimiter: String,
    strip_tabs: bool,
}

/// Refuses a plain reference (`${vars.x}`, `${secrets.x}`) of the shell command `s` that
/// stands where cutover's quoting would be wrong (see the module documentation). A `:raw`
/// reference may stand anywhere: it is pasted as written.
pub(super) fn check(s: &str) -> Result<(), TemplateError> {
    let b = s.as_bytes();
    let mut stack = vec![Frame::Code(Opened::Top)];
    let mut pending: Vec<Heredoc> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let top = *stack.last().unwrap_or(&Frame::Code(Opened::Top));
        let rest = &b[i..];
        // `$${` is the shell's own `${`.
        if rest.starts_with(b"$${") {
            if top != Frame::Single {
                stack.push(Frame::Param);
            }
            i += 3;
            continue;
        }
        if rest.starts_with(b"${") {
            let len = reference_len(s, i);
            let place = match top {
                Frame::Code(_) => None,
                Frame::Single | Frame::Double => Some(Place::Quotes),
                Frame::Param => Some(Place::Param),
                Frame::Arith(_) => Some(Place::Arith),
            };
            if let Some(place) = place {
                refuse(s, i, len, place)?;
            }
            i += len;
            continue;
        }
        let c = b[i];
        i += match top {
            Frame::Single => {
                if c == b'\'' {
                    stack.pop();
                }
                1
            }
            Frame::Double => in_double(&mut stack, c, rest),
            Frame::Param => in_param(&mut stack, c, rest),
            Frame::Arith(depth) => in_arith(&mut stack, depth, c, rest),
            Frame::Code(opened) => in_code(s, i, opened, &mut stack, &mut pending)?,
        };
    }
    Ok(())
}

/// One step inside `"…"`: the bytes it takes.
fn in_double(stack: &mut Vec<Frame>, c: u8, rest: &[u8]) -> usize {
    match c {
        b'\\' => 2,
        b'"' => {
            stack.pop();
            1
        }
        b'`' => {
            stack.push(Frame::Code(Opened::Backtick));
            1
        }
        b'$' => open_dollar(stack, rest),
        _ => 1,
    }
}

/// One step inside a shell `${…}`: the bytes it takes.
fn in_param(stack: &mut Vec<Frame>, c: u8, rest: &[u8]) -> usize {
    match c {
        b'\\' => 2,
        b'}' => {
            stack.pop();
            1
        }
        b'\'' => {
            stack.push(Frame::Single);
            1
        }
        b'"' => {
            stack.push(Frame::Double);
            1
        }
        b'`' => {
            stack.push(Frame::Code(Opened::Backtick));
            1
        }
        b'$' => open_dollar(stack, rest),
        _ => 1,
    }
}

/// One step inside `$((…))` at parenthesis depth `depth`: the bytes it takes.
fn in_arith(stack: &mut Vec<Frame>, depth: u32, c: u8, rest: &[u8]) -> usize {
    match c {
        b'(' => {
            stack.pop();
            stack.push(Frame::Arith(depth + 1));
            1
        }
        b')' if depth == 0 => {
            stack.pop();
            2
        }
        b')' => {
            stack.pop();
            stack.push(Frame::Arith(depth - 1));
            1
        }
        b'$' => open_dollar(stack, rest),
        _ => 1,
    }
}

/// One step in shell code opened by `opened`, at byte `i` of `s`: the bytes it takes (a
/// comment or here-document bodies whole, refusing a plain reference in them).
fn in_code(
    s: &str,
    i: usize,
    opened: Opened,
    stack: &mut Vec<Frame>,
    pending: &mut Vec<Heredoc>,
) -> Result<usize, TemplateError> {
    let (b, rest) = (s.as_bytes(), &s.as_bytes()[i..]);
    Ok(match b[i] {
        b'\\' => 2,
        b'\'' => {
            stack.push(Frame::Single);
            1
        }
        b'"' => {
            stack.push(Frame::Double);
            1
        }
        b'`' if opened == Opened::Backtick => {
            stack.pop();
            1
        }
        b'`' => {
            stack.push(Frame::Code(Opened::Backtick));
            1
        }
        b'(' => {
            stack.push(Frame::Code(Opened::Paren));
            1
        }
        b')' if opened == Opened::Paren => {
            stack.pop();
            1
        }
        b'$' => open_dollar(stack, rest),
        b'#' if word_start(b, i) => {
            let end = s[i..].find('\n').map_or(s.len(), |n| i + n);
            plain_reference_in(s, i, end, Place::Comment)?;
            end - i
        }
        b'<' if rest.starts_with(b"<<") && !rest.starts_with(b"<<<") => {
            let (doc, used) = heredoc(&s[i + 2..]);
            if let Some(doc) = doc {
                pending.push(doc);
            }
            2 + used
        }
        b'\n' if !pending.is_empty() => 1 + bodies(s, i + 1, std::mem::take(pending))?,
        _ => 1,
    })
}

/// Opens what a `$` at the start of `rest` opens (`$((`, `$(`); the bytes it takes.
fn open_dollar(stack: &mut Vec<Frame>, rest: &[u8]) -> usize {
    if rest.starts_with(b"$((") {
        stack.push(Frame::Arith(0));
        3
    } else if rest.starts_with(b"$(") {
        stack.push(Frame::Code(Opened::Paren));
        2
    } else {
        1
    }
}

/// Whether the byte at `i` starts a word (so a `#` there starts a comment).
fn word_start(b: &[u8], i: usize) -> bool {
    i == 0
        || matches!(
            b[i - 1],
            b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')'
        )
}

/// Whether the reference at `i` is `:raw`.
fn is_raw(s: &str, i: usize, len: usize) -> bool {
    s[i..i + len].ends_with(":raw}")
}

/// Where a plain reference cannot stand.
#[derive(Debug, Clone, Copy)]
enum Place {
    Quotes,
    Comment,
    Heredoc,
    Arith,
    Param,
}

/// The error for a plain reference at `i` (of `len` bytes) standing in `place`; nothing for
/// a `:raw` one.
fn refuse(s: &str, i: usize, len: usize, place: Place) -> Result<(), TemplateError> {
    if is_raw(s, i, len) {
        return Ok(());
    }
    let reference = &s[i..i + len];
    let inner = reference
        .trim_start_matches("${")
        .trim_end_matches('}')
        .to_string();
    let env = match inner.split_once('.') {
        Some(("vars", name)) => format!("\"$CUTOVER_VAR_{}\"", env_suffix(name)),
        Some(("secrets", name)) => format!("\"$CUTOVER_SECRET_{}\"", env_suffix(name)),
        _ => "the step's environment variable".to_string(),
    };
    let message = match place {
        Place::Quotes => format!(
            "{reference} is inside shell quotes: cutover quotes a value itself (it becomes one word, 'like this'), so quoting it again would put the quotes into the text; close the quotes around it (\"…\"{reference}\"…\") or use {env} inside them"
        ),
        Place::Comment => format!(
            "{reference} is inside a shell comment: a newline in the value would end the comment and run what follows; remove it, or write $${{…}} for the text"
        ),
        Place::Heredoc => format!(
            "{reference} is inside a here-document: the quotes cutover adds would be written out with the value; use {env} there"
        ),
        Place::Arith => format!(
            "{reference} is inside $((…)): a quoted word is not a number there; use {env} there, or {} to paste the text as it is",
            reference.replace('}', ":raw}")
        ),
        Place::Param => format!(
            "{reference} is inside a shell $${{…}} expansion, where cutover's quotes would be kept as text; use {env} there"
        ),
    };
    Err(TemplateError {
        offset: i,
        len,
        message,
    })
}

/// Refuses the first plain reference in `s[from..to]`, which is all in `place`.
fn plain_reference_in(s: &str, from: usize, to: usize, place: Place) -> Result<(), TemplateError> {
    for (i, len) in references_in(s, from, to) {
        refuse(s, i, len, place)?;
    }
    Ok(())
}

/// The here-document announced after a `<<` (`text` starts just after it): its delimiter
/// (quotes taken out) and whether tabs are stripped (`<<-`); and the bytes of `text` read.
fn heredoc(text: &str) -> (Option<Heredoc>, usize) {
    let b = text.as_bytes();
    let mut i = 0;
    let strip_tabs = b.first() == Some(&b'-');
    if strip_tabs {
        i += 1;
    }
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    let start = i;
    while i < b.len()
        && !matches!(
            b[i],
            b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')'
        )
    {
        i += 1;
    }
    let word: String = text[start..i]
        .chars()
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect();
    if word.is_empty() {
        return (None, i);
    }
    (
        Some(Heredoc {
            delimiter: word,
            strip_tabs,
        }),
        i,
    )
}

/// Reads the bodies of `docs`, one after the other, from `s[from..]`: refuses a plain
/// reference in them; the bytes read (through each closing delimiter line).
fn bodies(s: &str, from: usize, docs: Vec<Heredoc>) -> Result<usize, TemplateError> {
    let mut at = from;
    for doc in docs {
        loop {
            if at >= s.len() {
                return Ok(s.len() - from);
            }
            let end = s[at..].find('\n').map_or(s.len(), |n| at + n);
            let line = &s[at..end];
            let line = if doc.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            let next = (end + 1).min(s.len());
            if line == doc.delimiter {
                at = next;
                break;
            }
            plain_reference_in(s, at, end, Place::Heredoc)?;
            at = next;
        }
    }
    Ok(at - from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_makes_one_word() {
        assert_eq!(quote("a; touch PWNED"), "'a; touch PWNED'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(env_suffix("app-host"), "APP_HOST");
    }

    #[test]
    fn every_process_gets_the_vars_and_secrets_named_as_the_hints_say() {
        let rb = crate::runbook::Runbook::parse(
            "rb.toml",
            "[runbook]\nname = \"r\"\n[vars]\napp-host = \"a\"\n[[step]]\nid = \"s\"\nrun = \"true\"\n",
            &Default::default(),
        )
        .expect("valid");
        let secrets = std::collections::BTreeMap::from([("PW".to_string(), "p".to_string())]);
        let env = process_env(&rb, &secrets);
        for (k, v) in [
            ("CUTOVER_RUNBOOK", "rb.toml"),
            ("CUTOVER_VAR_APP_HOST", "a"),
            ("CUTOVER_SECRET_PW", "p"),
        ] {
            assert!(
                env.contains(&(k.to_string(), v.to_string())),
                "{k}: {env:?}"
            );
        }
    }

    #[test]
    fn references_where_a_word_goes_are_fine() {
        for cmd in [
            "echo ${vars.x}",
            "echo \"a\"${vars.x}\"b\"",
            "echo 'a'${vars.x}",
            "x=${vars.x}; echo \"$x\"",
            "echo \"now: $(cat ${vars.x})\"",
            "echo `cat ${vars.x}`",
            "(cd ${vars.x} && ls)",
            "echo it\\'s ${vars.x}",
            "echo $${HOME} ${vars.x}",
            "echo a#b ${vars.x}",
            "cat <<EOF\nplain\nEOF\necho ${vars.x}",
            "cat <<'EOF' > f\n'\"\nEOF\necho ${vars.x}",
            "echo $((1 + 2)) ${vars.x}",
            "echo \"${vars.x:raw}\" '${vars.x:raw}'",
            "# note\necho ${vars.x}",
        ] {
            check(cmd).unwrap_or_else(|e| panic!("{cmd}: {}", e.message));
        }
    }

    #[test]
    fn references_where_quotes_would_be_wrong_are_refused_and_located() {
        for (cmd, want) in [
            ("echo '${vars.x}'", "inside shell quotes"),
            ("echo \"a ${vars.x} b\"", "inside shell quotes"),
            ("echo \"$(echo \"${vars.x}\")\"", "inside shell quotes"),
            ("echo hi # ${vars.x}", "comment"),
            ("cat <<EOF\n${vars.x}\nEOF", "here-document"),
            ("cat <<-'E'\n\tx ${vars.x}\n\tE\necho", "here-document"),
            ("echo $(( ${vars.n} + 1 ))", "$((…))"),
            ("echo $${X:-${vars.x}}", "expansion"),
            ("echo \"${secrets.PW}\"", "CUTOVER_SECRET_PW"),
        ] {
            let e = check(cmd).expect_err(cmd);
            assert!(e.message.contains(want), "{cmd}: {}", e.message);
            assert_eq!(&cmd[e.offset..e.offset + 2], "${", "{cmd}");
        }
        let e = check("echo \"${vars.app-host}\"").expect_err("quoted");
        assert!(
            e.message.contains("\"$CUTOVER_VAR_APP_HOST\""),
            "{}",
            e.message
        );
    }
}
