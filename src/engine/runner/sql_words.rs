//! The command of a SQL text's last statement (`CREATE TABLE`, `UPDATE`), read past strings,
//! quoted identifiers, dollar quotes and comments: PostgreSQL reports a row count for some
//! commands only, and tokio-postgres keeps the count, not the command tag.

/// Commands whose completion carries a row count (PostgreSQL's `CommandComplete` tags with a
/// number); for any other command, `0` is no count at all.
const COUNTED: &[&str] = &[
    "INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "WITH", "COPY", "FETCH", "MOVE", "TABLE",
    "VALUES",
];

/// Words kept for the command tag: `CREATE TABLE`, `ALTER SUBSCRIPTION`, `DROP INDEX`...
const TWO_WORDS: &[&str] = &["CREATE", "ALTER", "DROP", "COMMENT", "REFRESH"];

/// The leading keyword(s) of the last statement of `sql`, upper-cased; `None` for a text with
/// no statement.
pub(super) fn last_command(sql: &str) -> Option<String> {
    let mut words: Option<Vec<String>> = None;
    let mut current: Vec<String> = Vec::new();
    let mut word = String::new();
    let b = sql.as_bytes();
    let mut i = 0;
    let flush = |word: &mut String, current: &mut Vec<String>| {
        if !word.is_empty() && current.len() < 2 {
            current.push(word.to_ascii_uppercase());
        }
        word.clear();
    };
    while i < b.len() {
        let c = b[i];
        let skip_to = |from: usize, end: &str| {
            sql[from..]
                .find(end)
                .map_or(sql.len(), |p| from + p + end.len())
        };
        match c {
            b'\'' | b'"' => {
                flush(&mut word, &mut current);
                // A quoted value ends the command words; '' and "" are escapes.
                current.push(String::new());
                i = past_quoted(sql, i);
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                flush(&mut word, &mut current);
                i = skip_to(i, "\n");
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                flush(&mut word, &mut current);
                i = skip_to(i + 2, "*/");
                continue;
            }
            b'$' if word.is_empty() => {
                let rest = &sql[i + 1..];
                if let Some(end) = rest.find('$')
                    && rest[..end]
                        .bytes()
                        .all(|x| x.is_ascii_alphanumeric() || x == b'_')
                {
                    let tag = &sql[i..i + end + 2];
                    flush(&mut word, &mut current);
                    current.push(String::new());
                    i = skip_to(i + tag.len(), tag);
                    continue;
                }
            }
            b';' => {
                flush(&mut word, &mut current);
                if current.first().is_some_and(|w| !w.is_empty()) {
                    words = Some(std::mem::take(&mut current));
                }
                current.clear();
            }
            c if c.is_ascii_alphabetic() || (c == b'_' && !word.is_empty()) => word.push(c as char),
            _ => flush(&mut word, &mut current),
        }
        i += 1;
    }
    flush(&mut word, &mut current);
    if current.first().is_some_and(|w| !w.is_empty()) {
        words = Some(current);
    }
    command_tag(&words?)
}

/// The index just past the quoted value that opens at `open` (`'…'` or `"…"`, where a doubled
/// quote is an escape), or the text's end when it never closes.
fn past_quoted(sql: &str, open: usize) -> usize {
    let c = sql.as_bytes()[open];
    let q = c as char;
    let mut j = open + 1;
    loop {
        match sql[j.min(sql.len())..].find(q) {
            Some(p) if sql.as_bytes().get(j + p + 1) == Some(&c) => j += p + 2,
            Some(p) => return j + p + 1,
            None => return sql.len(),
        }
    }
}

/// `CREATE TABLE` from `["CREATE", "TABLE"]`, `UPDATE` from `["UPDATE", "T"]`.
fn command_tag(words: &[String]) -> Option<String> {
    let first = words.first()?.clone();
    let second = words.get(1).filter(|w| !w.is_empty());
    Some(match second {
        Some(s) if TWO_WORDS.contains(&first.as_str()) => format!("{first} {s}"),
        _ => first,
    })
}

/// Whether `command`'s completion carries a row count.
pub(super) fn counts_rows(command: &str) -> bool {
    let first = command.split(' ').next().unwrap_or("");
    COUNTED.contains(&first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_statement_s_command_past_strings_and_comments() {
        for (sql, command) in [
            ("create table t (a int)", Some("CREATE TABLE")),
            (
                "update t set a = 1; -- done;\n alter subscription s enable",
                Some("ALTER SUBSCRIPTION"),
            ),
            ("delete from t where note = 'a;b'; /* ; */", Some("DELETE")),
            ("do $body$ begin perform 1; end $body$;", Some("DO")),
            ("  ;  -- nothing\n", None),
            ("VACUUM (ANALYZE) t", Some("VACUUM")),
        ] {
            assert_eq!(last_command(sql).as_deref(), command, "{sql:?}");
        }
        assert!(counts_rows("UPDATE"));
        assert!(!counts_rows("CREATE TABLE"));
    }
}
