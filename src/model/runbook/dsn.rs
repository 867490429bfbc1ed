//! The syntax of a connection string, checked when the runbook is validated: a libpq conninfo
//! string (`key=value` pairs, values quoted with `'…'` or escaped with `\`) or a
//! `postgres://` URL. A DSN that does not parse cannot have its password found and masked,
//! so it is refused early, with its location, without echoing it.

/// What is wrong with a DSN's syntax, in words that do not repeat its text.
pub fn syntax_error(dsn: &str) -> Option<String> {
    let t = dsn.trim();
    if t.starts_with("postgres://") || t.starts_with("postgresql://") {
        return url_error(t);
    }
    conninfo_error(t)
}

/// A URL: no whitespace, and a `user:password@` part with at most one `:` before the last `@`
/// is left to the driver; only what would make masking guess is refused.
fn url_error(url: &str) -> Option<String> {
    if url.contains(char::is_whitespace) {
        return Some("a postgres:// URL cannot contain spaces (percent-encode them as %20)".into());
    }
    None
}

/// A conninfo string: `key = value` pairs separated by whitespace.
fn conninfo_error(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut pair = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        pair += 1;
        let key_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let key = &s[key_start..i];
        if key.is_empty() {
            return Some(format!(
                "parameter {pair} of the conninfo string does not start with a keyword (write key=value pairs separated by spaces)"
            ));
        }
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return Some(format!(
                "`{key}` in the conninfo string has no `=` (write {key}=value)"
            ));
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        return Some(format!(
                            "the value of `{key}` in the conninfo string opens a quote that never closes"
                        ));
                    }
                    Some(b'\\') => i += 2,
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_dsns_pass_and_bad_ones_are_named_without_their_text() {
        for ok in [
            "host=db dbname=orders user=u password='a b' sslmode=require",
            "host=db password=Esc\\ aped",
            "password = 'it\\'s'",
            "postgres://u:p%40ss@db/orders?sslmode=require",
            "host=db password=${secrets.PW}",
        ] {
            assert_eq!(syntax_error(ok), None, "{ok}");
        }
        let e = syntax_error("host=db password='hunter2").expect("unterminated");
        assert!(e.contains("never closes") && !e.contains("hunter2"), "{e}");
        let e = syntax_error("host=db hunter2").expect("no =");
        assert!(e.contains("`hunter2`"), "the keyword is named: {e}");
        assert!(syntax_error("postgres://u:p w@db/x").is_some());
    }
}
