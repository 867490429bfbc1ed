//! A DSN's `${secrets.NAME}` filled in so that the secret stays one value: a password holding
//! a space, a quote, a backslash or `dbname=other` must not end the value early, nor add
//! options (`password=${secrets.PW}` with `secret dbname=postgres` connected to another
//! database). Where the reference stands decides how:
//!
//! - in a conninfo value (after `key=`, quoted or not): each backslash, quote and white-space
//!   character is escaped with a backslash, as libpq and the driver read it; an empty value
//!   right after `=` is `''`;
//! - in a URL (`postgres://user:${secrets.PW}@host/db`, `?password=${secrets.PW}`): every
//!   byte but the unreserved ones is percent-encoded;
//! - where a key would start (`dsn = "${secrets.DSN}"`, or after a pair): pasted as it is, a
//!   whole DSN or pairs of its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::dsn::is_url;
use super::template::{Segment, Template};

/// Where a reference stands in the DSN written before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Where a key starts: between pairs, or at the start.
    Key,
    /// Right after `key=` (white space allowed), before any of the value.
    ValueStart,
    /// Inside a value, quoted or not.
    Value,
    /// Inside a `postgres://` URL.
    Url,
}

/// The DSN to connect with: `dsn` with the secrets' values from `secrets` filled in as one
/// value each (see the module documentation).
pub fn fill(dsn: &Template, secrets: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for seg in &dsn.segments {
        match seg {
            Segment::Secret(name, _) => {
                let value = secrets.get(name).map_or("", String::as_str);
                match place(&out) {
                    Place::Key => out.push_str(value),
                    Place::ValueStart if value.is_empty() => out.push_str("''"),
                    Place::ValueStart | Place::Value => escape_into(&mut out, value),
                    Place::Url => percent_encode_into(&mut out, value),
                }
            }
            Segment::Literal(t) => out.push_str(t),
            Segment::Var(..) => {
                let one = Template {
                    segments: vec![seg.clone()],
                    lang: dsn.lang,
                };
                out.push_str(&one.render(secrets));
            }
        }
    }
    out
}

/// Where the text after `before` stands.
fn place(before: &str) -> Place {
    if before.is_empty() {
        return Place::Key;
    }
    if is_url(before) {
        return Place::Url;
    }
    #[derive(PartialEq)]
    enum S {
        Key,
        ValueStart,
        Unquoted,
        Quoted,
    }
    let mut s = S::Key;
    let mut it = before.chars();
    while let Some(c) = it.next() {
        s = match s {
            S::Key if c == '=' => S::ValueStart,
            S::Key => S::Key,
            S::ValueStart if c.is_whitespace() => S::ValueStart,
            S::ValueStart if c == '\'' => S::Quoted,
            S::ValueStart | S::Unquoted if c == '\\' => {
                it.next();
                S::Unquoted
            }
            S::ValueStart => S::Unquoted,
            S::Unquoted if c.is_whitespace() => S::Key,
            S::Unquoted => S::Unquoted,
            S::Quoted if c == '\\' => {
                it.next();
                S::Quoted
            }
            S::Quoted if c == '\'' => S::Key,
            S::Quoted => S::Quoted,
        };
    }
    match s {
        S::Key => Place::Key,
        S::ValueStart => Place::ValueStart,
        S::Unquoted | S::Quoted => Place::Value,
    }
}

/// `value` with each backslash, quote and white-space character escaped by a backslash.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        if c == '\\' || c == '\'' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
}

/// `value` percent-encoded, all but the unreserved characters of RFC 3986.
fn percent_encode_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::dsn::params;

    fn filled(dsn: &str, secret: &str) -> String {
        let t = Template::parse(dsn, &BTreeMap::new(), &["PW".to_string()]).unwrap();
        fill(
            &t,
            &BTreeMap::from([("PW".to_string(), secret.to_string())]),
        )
    }

    fn password_of(dsn: &str, secret: &str) -> Vec<(String, String)> {
        params(&filled(dsn, secret)).unwrap()
    }

    /// Asserts that `dsn` with `secret` filled in has the password `secret` and the database
    /// `app` (failures say `what`); its pairs.
    #[track_caller]
    fn has_the_secret_and_app(dsn: &str, secret: &str, what: &str) -> Vec<(String, String)> {
        let pairs = password_of(dsn, secret);
        let pw = pairs.iter().find(|(k, _)| k == "password").unwrap();
        assert_eq!(pw.1, secret, "{what}");
        let db = pairs.iter().find(|(k, _)| k == "dbname").unwrap();
        assert_eq!(db.1, "app", "{what}");
        pairs
    }

    #[test]
    fn a_secret_in_a_value_stays_that_value() {
        let hostile = [
            "secret dbname=postgres",
            "a\\b",
            "a'b c\\d$e#f\"g",
            "pa ss",
            "tab\there\nnewline",
            "",
            "'",
            "\\",
        ];
        for secret in hostile {
            for dsn in [
                "host=h password=${secrets.PW} dbname=app",
                "host=h password = ${secrets.PW} dbname=app",
                "host=h password='${secrets.PW}' dbname=app",
                "host=h dbname=app password=${secrets.PW}",
            ] {
                let pairs = has_the_secret_and_app(dsn, secret, &format!("{dsn} with {secret:?}"));
                assert_eq!(pairs.len(), 3, "{dsn} with {secret:?}: {pairs:?}");
            }
        }
    }

    #[test]
    fn a_secret_in_a_url_is_percent_encoded() {
        for secret in ["p@ss:w/rd?#&=x", "secret dbname=postgres", "é"] {
            for dsn in [
                "postgres://u:${secrets.PW}@h/app",
                "postgresql://u@h/app?password=${secrets.PW}",
            ] {
                has_the_secret_and_app(dsn, secret, dsn);
            }
        }
    }

    #[test]
    fn a_secret_where_a_key_starts_is_pasted_as_it_is() {
        assert_eq!(
            filled("${secrets.PW}", "host=h dbname=app"),
            "host=h dbname=app"
        );
        assert_eq!(
            filled("host=h ${secrets.PW}", "port=5433"),
            "host=h port=5433"
        );
        assert_eq!(
            filled("${secrets.PW}", "postgres://u:p@h/db"),
            "postgres://u:p@h/db"
        );
    }
}
