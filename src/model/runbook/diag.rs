//! Located runbook errors, printed like a compiler: `file:line:col: message` and the line quoted.

use std::fmt;
use std::ops::Range;

/// One error in a runbook (or theme) file, located by line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// The offending line's text.
    pub source_line: String,
    /// How many characters to underline (at least 1).
    pub width: usize,
}

impl Diagnostic {
    /// Builds a diagnostic for a byte range of `source`.
    pub fn at(file: &str, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let col = source[line_start..start].chars().count() + 1;
        // The quoted line is shown on a terminal and may hold a DSN password: it is made
        // plain and masked (the caret still points at the column counted in the file).
        let raw = source[line_start..line_end].trim_end_matches('\r');
        let shown = |text: &str| {
            crate::secrets::Masker::default()
                .mask(&crate::text::plain(text))
                .into_owned()
        };
        let source_line = shown(raw);
        let end = span.end.clamp(start, line_end);
        // As wide as what it underlines is shown: a masked password's length stays unsaid.
        let width = shown(&source[start..end]).chars().count().max(1);
        Diagnostic {
            file: file.to_string(),
            line,
            col,
            message: message.into(),
            source_line,
            width,
        }
    }

    /// A diagnostic with no useful location (line 1, column 1).
    pub fn whole_file(file: &str, source: &str, message: impl Into<String>) -> Self {
        Self::at(file, source, 0..0, message)
    }

    /// The same with every occurrence of `value` on the quoted line masked (a value that may
    /// be a secret).
    pub fn hiding(self, value: &str) -> Self {
        let masker = crate::secrets::Masker::new([value]);
        self.hidden_by(|line| masker.mask(line).into_owned())
    }

    /// The same with the quoted line made what `hide` makes of it (values that may be secrets
    /// masked). The underline keeps its start and covers what it covered, as wide as that is
    /// once hidden: as wide as the value, it would tell a secret's length.
    pub fn hidden_by(mut self, hide: impl FnOnce(&str) -> String) -> Self {
        let start = self.col.saturating_sub(1);
        let after: String = self.source_line.chars().skip(start + self.width).collect();
        let line = hide(&self.source_line);
        let len = line.chars().count();
        let end = if line.ends_with(&after) {
            len - after.chars().count()
        } else {
            len
        };
        self.width = end.saturating_sub(start).max(1);
        self.source_line = line;
        self
    }

    /// A TOML reading error `e` of `source` (`syntax`: plain TOML did not parse) at its
    /// place, in runbook words. A secret written as a string in place of `{ env = "…" }`
    /// shows masked on the quoted line.
    pub fn of_toml(file: &str, source: &str, e: &toml::de::Error, syntax: bool) -> Self {
        let span = e.span().unwrap_or(0..0);
        let text = source.get(span.clone()).unwrap_or("");
        let d = Self::at(file, source, span, toml_message(e.message(), text, syntax));
        if e.message().contains(super::secret_spec::NOT_SHOWN) {
            d.hiding(text.trim().trim_matches(|c| c == '"' || c == '\''))
        } else {
            d
        }
    }

    /// `bytes`, which are not UTF-8: the `what` (`runbook`, `fleet file`) said at the line and
    /// column of the first byte that is not, with the valid start of its line shown.
    pub fn not_utf8(file: &str, bytes: &[u8], what: &str) -> Self {
        let valid = std::str::from_utf8(bytes)
            .err()
            .map_or(bytes.len(), |e| e.valid_up_to());
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        Self::at(
            file,
            before,
            valid..valid,
            format!("the {what} is not valid UTF-8 (byte {valid})"),
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        let lead: String = self
            .source_line
            .chars()
            .take(self.col - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad} | {lead}{}", "^".repeat(self.width))
    }
}

/// All the errors found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Rewrites a message from the TOML parser or serde into words an operator can act on.
///
/// `text` is the source text the span points into; `syntax` says whether the file is not TOML at
/// all (as opposed to TOML that does not fit the runbook format).
pub fn toml_message(raw: &str, text: &str, syntax: bool) -> String {
    let msg = raw.trim().replace('\n', " ");
    if syntax {
        if msg.starts_with("duplicate key") {
            let key = text.trim().trim_matches('"');
            return if key.is_empty() {
                "duplicate key: this table already sets it; keep only one".to_string()
            } else {
                format!("duplicate key `{key}`: this table already sets it; keep only one")
            };
        }
        return format!("TOML syntax error: {msg}");
    }
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let (got, allowed) = split_expected(rest);
        return format!(
            "unknown key `{got}`{}; allowed here: {}",
            did_you_mean(&got, &allowed),
            allowed.join(", ")
        );
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let (got, allowed) = split_expected(rest);
        let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        return format!(
            "unknown value \"{got}\"{}; write one of {}",
            did_you_mean(&got, &allowed),
            quoted.join(", ")
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let key = rest.trim_matches('`');
        if key == "runbook" {
            return "the file has no [runbook] table: start it with `[runbook]` and `name = \"...\"`"
                .to_string();
        }
        return format!(
            "missing required key `{key}`: add `{key} = {}`",
            example(key)
        );
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((found, expected)) = rest.rsplit_once(", expected ")
        {
            return wrong_type(found, expected, text);
        }
    }
    // serde reads an array into a table's fields by position, and says so when the lengths
    // differ: an array where a table belongs.
    if let Some(rest) = msg.strip_prefix("invalid length ")
        && let Some((_, expected)) = rest.split_once(", expected ")
        && let Some((table, _)) = expected.rsplit_once(" with ")
        && table.starts_with("struct ")
    {
        return wrong_type("sequence", table, text);
    }
    msg
}

/// `` `x`, expected one of `a`, `b` `` into `x` and `[a, b]`.
fn split_expected(rest: &str) -> (String, Vec<String>) {
    let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let allowed = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    (got.trim_matches('`').to_string(), allowed)
}

/// ` (did you mean `x`?)` when one allowed word is close to what was written.
pub fn did_you_mean<S: AsRef<str>>(got: &str, allowed: &[S]) -> String {
    let got = got.to_lowercase();
    allowed
        .iter()
        .map(AsRef::as_ref)
        .map(|a| {
            let prefix = a.len() >= 3
                && got.len() >= 2
                && (got.starts_with(a) || a.starts_with(got.as_str()));
            let d = if prefix { 1 } else { edit_distance(&got, a) };
            (d, a)
        })
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map_or_else(String::new, |(_, a)| format!(" (did you mean `{a}`?)"))
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// An example value for a required key.
fn example(key: &str) -> &'static str {
    match key {
        "name" => "\"...\"",
        "id" => "\"freeze-writes\"",
        "kind" => "\"checksum\"",
        "when" => "{ step_failed = \"freeze-writes\" }",
        "env" => "\"CUTOVER_SOURCE_PASSWORD\"",
        "dsn" => "\"host=db-new dbname=orders\"",
        "method" => "\"logical\"",
        "start" => "\"2026-12-05T02:00:00Z\"",
        "minutes" => "90",
        _ => "...",
    }
}

/// What serde calls a Rust type, in the words of the runbook format.
fn expected_words(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "an array such as [\"a\", \"b\"]",
        "struct WindowSpec" => "`{ start = \"2026-12-05T02:00:00Z\", minutes = 90 }`",
        "struct ExpectSpec" => "an inline table such as `{ exit = 0 }`",
        "struct WaitSpec" => "an inline table such as `{ run = \"...\", every = \"2s\" }`",
        "struct WhenSpec" => "an inline table such as `{ lag_above = \"256MB\", for = \"60s\" }`",
        "struct ConnectionSpec" => "a table with `dsn = \"...\"`",
        "struct MetaSpec" => "a table with `name = \"...\"`",
        e if e.starts_with("struct ") => "a table",
        e => e,
    }
}

/// `invalid type: string "90", expected u32` in runbook words, with the fix when it is obvious.
fn wrong_type(found: &str, expected: &str, text: &str) -> String {
    let want = expected_words(expected);
    let numeric = want.contains("number");
    let looks_like_datetime = text
        .trim()
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit())
        && text.contains('-');
    let found_words = if found == "map" && looks_like_datetime {
        "a TOML date-time".to_string()
    } else if found == "map" {
        "a table".to_string()
    } else if found == "sequence" {
        "an array".to_string()
    } else {
        found.replace('`', "")
    };
    let hint = if found.starts_with("string") && numeric {
        let inner = text.trim().trim_matches(|c| c == '"' || c == '\'');
        format!(": write {inner} without quotes")
    } else if want == "a string" && !found.starts_with("string") && found != "sequence" {
        format!(": put it in quotes, \"{}\"", text.trim())
    } else {
        String::new()
    };
    format!("wrong type: expected {want}, found {found_words}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_utf8_is_located_at_its_first_bad_byte() {
        let d = Diagnostic::not_utf8("f.toml", b"a = 1\nname = \"x\xff\"\n", "runbook");
        assert_eq!((d.line, d.col), (2, 10), "{d}");
        assert_eq!(d.message, "the runbook is not valid UTF-8 (byte 15)");
        assert_eq!(d.source_line, "name = \"x");
        let first = Diagnostic::not_utf8("f.toml", b"\xfe", "runbook");
        assert_eq!((first.line, first.col), (1, 1));
    }

    #[test_case::test_case("unknown field `timout`, expected one of `id`, `timeout`", "", false,
        "unknown key `timout` (did you mean `timeout`?); allowed here: id, timeout"; "unknown key")]
    #[test_case::test_case("unknown variant `hash`, expected `count` or `checksum`", "", false,
        "unknown value \"hash\"; write one of \"count\", \"checksum\""; "unknown variant")]
    #[test_case::test_case("missing field `id`", "", false,
        "missing required key `id`: add `id = \"freeze-writes\"`"; "missing key")]
    #[test_case::test_case("invalid type: string \"90\", expected u32", "\"90\"", false,
        "wrong type: expected a whole number, 0 or more, found string \"90\": write 90 without quotes"; "quoted number")]
    #[test_case::test_case("invalid type: map, expected a string", "2026-12-05T02:00:00Z", false,
        "wrong type: expected a string, found a TOML date-time: put it in quotes, \"2026-12-05T02:00:00Z\""; "datetime")]
    #[test_case::test_case("invalid length 2, expected struct ExpectSpec with 5 elements", "[1, \"ok\"]", false,
        "wrong type: expected an inline table such as `{ exit = 0 }`, found an array"; "array for a table")]
    #[test_case::test_case("invalid length 1, expected struct ZoneSpec with 3 elements", "[1]", false,
        "wrong type: expected a table, found an array"; "array for an unnamed table")]
    #[test_case::test_case("duplicate key", "run", true,
        "duplicate key `run`: this table already sets it; keep only one"; "duplicate key")]
    #[test_case::test_case("invalid basic string, expected `\"`", "", true,
        "TOML syntax error: invalid basic string, expected `\"`"; "syntax")]
    fn toml_messages_read_well(raw: &str, text: &str, syntax: bool, want: &str) {
        assert_eq!(toml_message(raw, text, syntax), want);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    /// A password on the quoted line is masked, and the underline is as wide as the masked
    /// text: the width of the value would tell the password's length.
    #[test]
    fn an_underlined_password_is_as_wide_as_its_mask() {
        for password in ["hunter2", "a-much-longer-password-than-that"] {
            let src = format!("dsn = \"host=db password={password}\"\n");
            let d = Diagnostic::at("f.toml", &src, 6..src.len() - 1, "nope");
            assert!(!d.to_string().contains(password), "{d}");
            let shown_from_col = d.source_line.chars().count() - (d.col - 1);
            assert_eq!(d.width, shown_from_col, "{d}");
        }
    }

    #[test]
    fn locates_line_and_column() {
        let src = "a = 1\nbad = \"x\"\n";
        let d = Diagnostic::at("f.toml", src, 6..9, "nope");
        assert_eq!((d.line, d.col, d.width), (2, 1, 3));
        assert_eq!(
            d.to_string(),
            "f.toml:2:1: nope\n  |\n2 | bad = \"x\"\n  | ^^^"
        );
    }
}
