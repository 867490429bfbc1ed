//! The syntax of a connection string: a libpq conninfo string (`key=value` pairs, values
//! quoted with `'…'` or escaped with `\`) or a `postgres://` URL, read the way the run reads
//! it (`cutover-pg` parses with the driver after [`check`] has passed): the same pairs, the
//! same options, the same values. `cutover check` reports what the run would refuse; the run
//! refuses it with the same words.
//!
//! A DSN that does not parse cannot have its password found and masked, so messages never
//! repeat its text, nor any value in it (only the option's name).
//!
//! `${secrets.NAME}` in a DSN is known only at run time: [`check_with_unknown`] checks around
//! it (a value holding a secret is not judged; a DSN whose structure depends on one is left
//! to the run).

/// The options the driver reads, and how each value is checked.
const DRIVER: &[(&str, Value)] = &[
    ("user", Value::Any),
    ("password", Value::Any),
    ("dbname", Value::Any),
    ("options", Value::Any),
    ("application_name", Value::Any),
    ("host", Value::Any),
    ("hostaddr", Value::IpList),
    ("port", Value::PortList),
    ("connect_timeout", Value::Int),
    ("tcp_user_timeout", Value::Int),
    ("keepalives", Value::Unsigned),
    ("keepalives_idle", Value::Int),
    ("keepalives_interval", Value::Int),
    ("keepalives_retries", Value::U32),
    ("sslnegotiation", Value::OneOf(&["postgres", "direct"])),
    (
        "target_session_attrs",
        Value::OneOf(&["any", "read-write", "read-only"]),
    ),
    (
        "channel_binding",
        Value::OneOf(&["disable", "prefer", "require"]),
    ),
    ("load_balance_hosts", Value::OneOf(&["disable", "random"])),
];

/// Every `sslmode` libpq knows, as written in a DSN: each one `cutover-pg` connects with.
pub const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// The libpq options cutover reads itself (TLS, the password file...).
const OURS: &[(&str, Value)] = &[
    ("sslmode", Value::OneOf(SSL_MODES)),
    ("sslrootcert", Value::Any),
    ("sslcert", Value::Any),
    ("sslkey", Value::Any),
    ("passfile", Value::Any),
    ("fallback_application_name", Value::Any),
    ("sslsni", Value::Any),
    ("gssencmode", Value::Any),
    ("sslcompression", Value::Any),
];

/// What an option's value must be.
#[derive(Debug, Clone, Copy)]
enum Value {
    Any,
    /// A signed 64-bit integer (seconds; 0 or less means none).
    Int,
    /// An unsigned 64-bit integer.
    Unsigned,
    /// An unsigned 32-bit integer.
    U32,
    /// A comma-separated list of ports (an empty one is 5432).
    PortList,
    /// A comma-separated list of IP addresses.
    IpList,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

/// What is wrong with a DSN, in words that do not repeat its text; `None` when the run can
/// read it.
pub fn syntax_error(dsn: &str) -> Option<String> {
    check(dsn).err()
}

/// Checks `dsn` as the run reads it.
pub fn check(dsn: &str) -> Result<(), String> {
    check_with_unknown(dsn, "")
}

/// Checks `dsn`, where `marker` stands for each value known only at run time (a secret): a
/// key or value holding it is not judged, and a DSN that parses once the marker is a word
/// (`x`) or a pair (`x=x`) is not refused for its shape (the secret may be a whole DSN, or
/// several pairs).
pub fn check_with_unknown(dsn: &str, marker: &str) -> Result<(), String> {
    let unknown = |s: &str| !marker.is_empty() && s.contains(marker);
    let pairs = match params(dsn) {
        Ok(p) => p,
        Err(e) => {
            let could_parse = unknown(dsn)
                && ["x", "x=x"]
                    .iter()
                    .any(|word| params(&dsn.replace(marker, word)).is_ok());
            return if could_parse { Ok(()) } else { Err(e) };
        }
    };
    let mut hosts = None;
    let mut addrs = None;
    let mut ports = None;
    for (key, value) in &pairs {
        if unknown(key) {
            continue;
        }
        if key == "service" {
            return Err("`service` (a pg_service.conf entry) is not supported: write its host, port, dbname and user in the DSN".into());
        }
        let Some(rule) = rule(key) else {
            let lower = key.to_ascii_lowercase();
            let hint = if rule(&lower).is_some() {
                format!(" (options are lower case: `{lower}`)")
            } else {
                String::new()
            };
            return Err(format!("unknown option `{key}`{hint}"));
        };
        if unknown(value) {
            continue;
        }
        value_ok(rule, value).map_err(|why| format!("invalid value for option `{key}`: {why}"))?;
        if key == "gssencmode" && value == "require" {
            return Err(
                "gssencmode=require is not supported (cutover has no GSSAPI encryption); use sslmode instead".into(),
            );
        }
        let n = value.split(',').count();
        match key.as_str() {
            "host" => hosts = Some(n),
            "hostaddr" => addrs = Some(n),
            "port" => ports = Some(n),
            _ => {}
        }
    }
    if let (Some(h), Some(a)) = (hosts, addrs)
        && h != a
    {
        return Err(format!(
            "host names {h} hosts and hostaddr {a} addresses: give one address per host"
        ));
    }
    let many = hosts.or(addrs);
    if let (Some(p), Some(h)) = (ports, many)
        && p > 1
        && p != h
    {
        return Err(format!(
            "port lists {p} ports for {h} hosts: give one port, or one per host"
        ));
    }
    Ok(())
}

/// The keys of `dsn` that are no option and may be a misspelt password (as the DSN gives
/// them), skipping any that holds `marker` (a value known only at run time; none when
/// empty); none when it does not parse. Their values are never shown ([`hide_values_of`]);
/// another unknown key's (`USER=app`) is, so the line shows what to fix.
pub fn unknown_options(dsn: &str, marker: &str) -> Vec<String> {
    let Ok(pairs) = params(dsn) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = pairs
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            (marker.is_empty() || !k.contains(marker)) && rule(k).is_none() && secret_like(k)
        })
        .collect();
    keys.dedup();
    keys
}

/// Whether an unknown key may hold a secret: it names one (`pass`, `pw`, `secret`, `token`,
/// `key`, `cred`, `auth`), or is `password` with a letter or three wrong (`passwrd`,
/// `pasword`, `pssword`).
fn secret_like(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["pass", "pw", "secret", "token", "key", "cred", "auth"]
        .iter()
        .any(|w| k.contains(w))
        || super::diag::edit_distance("password", &k) <= 3
}

/// Values of unknown options at least this long are also masked wherever they appear in a
/// quoted line, as written in the DSN (a shorter one would mask common words).
const MIN_HIDDEN_VALUE: usize = 6;

/// `text` (a runbook line quoted in a message, holding `dsn`) with the value of each
/// unknown option of `dsn` ([`unknown_options`]) replaced by [`crate::secrets::MASK`]:
/// after `key=` (conninfo: quoted, or up to white space or the TOML string's closing `"`;
/// URL: up to the next `&`), and the value as the DSN means it wherever it appears.
pub fn hide_values_of(dsn: &str, marker: &str, text: &str) -> String {
    if !is_url(dsn) && params(dsn).is_err() {
        return hide_after_secret_keys(text);
    }
    let keys = unknown_options(dsn, marker);
    if keys.is_empty() {
        return text.to_string();
    }
    let value = if is_url(dsn) {
        r#"[^&\s"\#]+"#
    } else {
        // A backslash is doubled in a TOML string: any run of them escapes what follows
        // (when that over-reaches, more is masked, never less).
        r#"'(?:[^'\\]|\\+.)*'?|(?:\\+.|[^\s\\"])+"#
    };
    let mut out = text.to_string();
    for key in &keys {
        let pattern = format!(r"(^|[^\w]){}(\s*=\s*)(?:{value})", regex::escape(key));
        if let Ok(re) = regex::Regex::new(&pattern) {
            out = re
                .replace_all(&out, |c: &regex::Captures<'_>| {
                    format!("{}{key}{}{}", &c[1], &c[2], crate::secrets::MASK)
                })
                .into_owned();
        }
    }
    let values = params(dsn)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| keys.contains(k) && v.chars().count() >= MIN_HIDDEN_VALUE)
        .map(|(_, v)| v);
    crate::secrets::Masker::new(values).mask(&out).into_owned()
}

/// `text` (a quoted line holding a conninfo string that does not parse) with everything
/// after a key that names a secret (`password=`, `passwrd=`) hidden, to the end of the
/// string: a password written unquoted with spaces (`password=correct horse battery`) is
/// what stops the parse, and the words after its first are the password's too.
fn hide_after_secret_keys(text: &str) -> String {
    let Ok(key) = regex::Regex::new(r"(?:^|[^\w])(\w+)\s*=\s*") else {
        return text.to_string();
    };
    let secret = |k: &str| match rule(k) {
        Some(_) => k == "password" || k == "sslpassword",
        None => secret_like(k),
    };
    let Some(from) = key
        .captures_iter(text)
        .find(|c| secret(&c[1]))
        .and_then(|c| c.get(0))
        .map(|m| m.end())
    else {
        return text.to_string();
    };
    // To the string's closing quote (a TOML string escapes a quote with a backslash).
    let rest = &text[from..];
    let mut end = rest.len();
    let mut escaped = false;
    for (i, ch) in rest.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    format!("{}{}{}", &text[..from], crate::secrets::MASK, &rest[end..])
}

/// The rule for option `key`, if it is one.
fn rule(key: &str) -> Option<Value> {
    DRIVER
        .iter()
        .chain(OURS)
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

/// Whether `value` suits `rule`; what it should be when not (never the value itself).
fn value_ok(rule: Value, value: &str) -> Result<(), String> {
    let ok = match rule {
        Value::Any => true,
        Value::Int => value.parse::<i64>().is_ok(),
        Value::Unsigned => value.parse::<u64>().is_ok(),
        Value::U32 => value.parse::<u32>().is_ok(),
        Value::PortList => value
            .split(',')
            .all(|p| p.is_empty() || p.parse::<u16>().is_ok()),
        Value::IpList => value
            .split(',')
            .all(|a| a.parse::<std::net::IpAddr>().is_ok()),
        Value::OneOf(words) => words.contains(&value),
    };
    if ok {
        return Ok(());
    }
    Err(match rule {
        Value::Int | Value::Unsigned | Value::U32 => "a whole number".to_string(),
        Value::PortList => "a port number (1-65535), or several separated by commas".into(),
        Value::IpList => "an IP address, or several separated by commas".into(),
        Value::OneOf(words) => format!("one of {}", words.join(", ")),
        Value::Any => String::new(),
    })
}

/// Whether `dsn` is a URL rather than a conninfo string.
pub fn is_url(dsn: &str) -> bool {
    let t = dsn.trim_start();
    t.starts_with("postgres://") || t.starts_with("postgresql://")
}

/// The `key = value` pairs of a DSN, values unquoted and unescaped (conninfo) or
/// percent-decoded (URL: the user, password, hosts, ports and database as the options they
/// stand for).
pub fn params(dsn: &str) -> Result<Vec<(String, String)>, String> {
    if is_url(dsn) {
        url_params(dsn.trim_start())
    } else {
        conninfo_params(dsn)
    }
}

/// `key = value` pairs separated by white space, as libpq reads them. An error never echoes
/// what may be a secret (a "key" that is really a stray value is shown as `?`).
pub fn conninfo_params(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = it.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            it.next();
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.next() != Some('=') {
            return Err(if key.is_empty() {
                format!(
                    "parameter {} of the conninfo string does not start with a keyword (write key=value pairs separated by spaces)",
                    pairs.len() + 1
                )
            } else {
                format!(
                    "parameter {} of the conninfo string has no `=`: write key=value pairs separated by spaces, and quote a value that holds a space (password='a b')",
                    pairs.len() + 1
                )
            });
        }
        if key.is_empty() {
            return Err(format!(
                "parameter {} of the conninfo string does not start with a keyword (write key=value pairs separated by spaces)",
                pairs.len() + 1
            ));
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let value = conninfo_value(&mut it, &key)?;
        pairs.push((key, value));
    }
}

/// The value after `key =` in a conninfo string: quoted (`'a b'`, `\\` escapes) or up to
/// the next white space.
fn conninfo_value(
    it: &mut std::iter::Peekable<std::str::Chars<'_>>,
    key: &str,
) -> Result<String, String> {
    let mut value = String::new();
    if it.peek() == Some(&'\'') {
        it.next();
        loop {
            match it.next() {
                None => {
                    return Err(format!(
                        "the value of `{}` in the conninfo string opens a quote that never closes",
                        shown_key(key)
                    ));
                }
                Some('\\') => {
                    if let Some(c) = it.next() {
                        value.push(c);
                    }
                }
                Some('\'') => break,
                Some(c) => value.push(c),
            }
        }
        return Ok(value);
    }
    while let Some(&c) = it.peek() {
        if c.is_whitespace() {
            break;
        }
        it.next();
        if c == '\\' {
            if let Some(c2) = it.next() {
                value.push(c2);
            }
        } else {
            value.push(c);
        }
    }
    Ok(value)
}

/// A key as it may be shown: a word of letters, digits and `_`, else `?` (a "key" that is
/// really a stray value, a password, is never echoed).
fn shown_key(key: &str) -> String {
    if !key.is_empty()
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        key.to_string()
    } else {
        "?".to_string()
    }
}

/// A `postgres://[user[:password]@][host[:port][,...]][/dbname][?key=value&...]` URL, read as
/// sloppily as libpq (and the driver) read it.
fn url_params(url: &str) -> Result<Vec<(String, String)>, String> {
    if url.contains(char::is_whitespace) {
        return Err("a postgres:// URL cannot contain spaces (percent-encode them as %20)".into());
    }
    let mut s = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .unwrap_or(url);
    let mut pairs = Vec::new();
    if let Some(at) = s.find('@') {
        let creds = &s[..at];
        s = &s[at + 1..];
        let (user, password) = match creds.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (creds, None),
        };
        pairs.push(("user".to_string(), decode(user, "the user name")?));
        if let Some(p) = password {
            pairs.push((
                "password".to_string(),
                String::from_utf8_lossy(&percent_decode(p)).into_owned(),
            ));
        }
    }
    let host_end = s.find(['/', '?']).unwrap_or(s.len());
    let host = &s[..host_end];
    s = &s[host_end..];
    if !host.is_empty() {
        url_hosts(host, &mut pairs)?;
    }
    if let Some(path) = s.strip_prefix('/') {
        let end = path.find('?').unwrap_or(path.len());
        let db = &path[..end];
        if !db.is_empty() {
            pairs.push(("dbname".to_string(), decode(db, "the database name")?));
        }
        s = &path[end..];
    }
    if let Some(query) = s.strip_prefix('?') {
        for part in query.split('&') {
            if part.is_empty() {
                continue;
            }
            let Some((k, v)) = part.split_once('=') else {
                return Err(
                    "a URL query parameter has no `=` (write ?key=value&key=value)".to_string(),
                );
            };
            let key = decode(k, "a parameter name")?;
            let value = if key == "host" {
                host_param(v)?
            } else {
                decode(v, "a parameter value")?
            };
            pairs.push((key, value));
        }
    }
    Ok(pairs)
}

/// The `host[:port]` list of a URL (`[v6]:port` too), as `host` and `port` pairs.
fn url_hosts(host: &str, pairs: &mut Vec<(String, String)>) -> Result<(), String> {
    for chunk in host.split(',') {
        let (h, port) = if let Some(inner) = chunk.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                return Err("invalid value for option `host`: a `[` opens an IPv6 address that `]` never closes".into());
            };
            let rest = &inner[close + 1..];
            let port = match rest.strip_prefix(':') {
                Some(p) => Some(p),
                None if rest.is_empty() => None,
                None => {
                    return Err("invalid value for option `host`: after `[address]` only `:port` may follow".into());
                }
            };
            (&inner[..close], port)
        } else {
            match chunk.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (chunk, None),
            }
        };
        pairs.push(("host".to_string(), host_param(h)?));
        pairs.push((
            "port".to_string(),
            decode(port.unwrap_or("5432"), "a port")?,
        ));
    }
    Ok(())
}

/// A host as the URL gives it: a socket directory (starting with `/`) may be any bytes,
/// a host name must be UTF-8.
fn host_param(s: &str) -> Result<String, String> {
    let bytes = percent_decode(s);
    if bytes.first() == Some(&b'/') {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes)
        .map_err(|_| "a host name in the URL is not UTF-8 once percent-decoded".to_string())
}

/// `s` percent-decoded, which must give UTF-8 (`what` names it for the message).
fn decode(s: &str, what: &str) -> Result<String, String> {
    String::from_utf8(percent_decode(s))
        .map_err(|_| format!("{what} in the URL is not UTF-8 once percent-decoded"))
}

/// Decodes `%XX` escapes (invalid ones are kept as written).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(hi), Some(lo)) = (hex(b.get(i + 1)), hex(b.get(i + 2)))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The value of a hexadecimal digit.
fn hex(b: Option<&u8>) -> Option<u8> {
    char::from(*b?)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
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
            "password=",
            "postgres://u:p%40ss@db/orders?sslmode=require",
            "postgresql://db:5433,db2:5434/x?target_session_attrs=read-write",
            "postgres://[::1]:5432/x",
            "postgres://%2Fvar%2Frun%2Fpostgresql/x",
            "host=a,b port=5432,5433 connect_timeout=5",
            "host=a,b port=5432",
            "",
        ] {
            assert_eq!(syntax_error(ok), None, "{ok}");
        }
        for (bad, want) in [
            ("host=db password='hunter2", "never closes"),
            (
                "host=db hunter2",
                "parameter 2 of the conninfo string has no `=`",
            ),
            ("host=db PASSWORD=x", "options are lower case: `password`"),
            ("host=db passwrd=hunter2", "unknown option `passwrd`"),
            ("host=db port=abc", "option `port`: a port number"),
            ("postgres://u@db:notaport/x", "option `port`"),
            ("host=db sslmode=bogus", "one of disable, allow"),
            ("host=db gssencmode=require", "no GSSAPI"),
            ("host=a,b port=1,2,3", "one port, or one per host"),
            ("host=a hostaddr=1.2.3.4,1.2.3.5", "one address per host"),
            ("hostaddr=db.example", "an IP address"),
            ("postgres://u:p w@db/x", "spaces"),
            ("postgres://db/x?oops", "has no `=`"),
            ("postgres://[::1/x", "never closes"),
            ("postgres://db/%ff", "not UTF-8"),
            ("=x", "does not start with a keyword"),
            ("service=ledger", "pg_service.conf"),
        ] {
            let e = syntax_error(bad).unwrap_or_else(|| panic!("{bad} should be refused"));
            assert!(e.contains(want), "{bad}: {e}");
            assert!(!e.contains("hunter2"), "{bad}: the value is echoed: {e}");
        }
    }

    #[test]
    fn the_value_of_an_unknown_option_is_never_shown() {
        // A misspelt `password` is an unknown option: its value is masked in the quoted line,
        // whatever the error reported for the DSN.
        for (dsn, line, want) in [
            (
                "host=127.0.0.1 dbname=pw user=pwuser passwrd=WrongPassWord123",
                r#"source = { dsn = "host=127.0.0.1 dbname=pw user=pwuser passwrd=WrongPassWord123" }"#,
                r#"source = { dsn = "host=127.0.0.1 dbname=pw user=pwuser passwrd=••••" }"#,
            ),
            (
                "host=db passwd = 'Wrong Pass\\'s' port=x",
                r#"dsn = "host=db passwd = 'Wrong Pass\\'s' port=x""#,
                r#"dsn = "host=db passwd = •••• port=x""#,
            ),
            (
                "postgres://u@db/pw?passwrd=Wr%6Fng&sslmode=disable",
                r#"dsn = "postgres://u@db/pw?passwrd=Wr%6Fng&sslmode=disable""#,
                r#"dsn = "postgres://u@db/pw?passwrd=••••&sslmode=disable""#,
            ),
            (
                "host=db pw=abc",
                "dsn = 'host=db pw=abc'",
                "dsn = 'host=db pw=••••",
            ),
        ] {
            assert!(check(dsn).is_err(), "{dsn}");
            assert_eq!(hide_values_of(dsn, "", line), want, "{dsn}");
        }
        // A conninfo that does not parse because a password holds unquoted spaces: every
        // word after `password=` may be the password's, and all are hidden.
        for (dsn, line, want) in [
            (
                "host=db password=correct horse battery dbname=x",
                r#"dsn = "host=db password=correct horse battery dbname=x" # ok"#,
                r#"dsn = "host=db password=••••" # ok"#,
            ),
            (
                "host=db passwrd = correct \\\"horse battery",
                r#"dsn = "host=db passwrd = correct \\\"horse battery""#,
                r#"dsn = "host=db passwrd = ••••""#,
            ),
            (
                "host=db sslpassword=a b",
                "dsn = 'host=db sslpassword=a b'",
                "dsn = 'host=db sslpassword=••••",
            ),
        ] {
            assert!(check(dsn).is_err(), "{dsn}");
            assert_eq!(hide_values_of(dsn, "", line), want, "{dsn}");
        }
        // An unknown key that names no secret keeps its value: the line shows what to fix.
        let line = r#"dsn = "host=db-old dbname=orders USER=app""#;
        assert_eq!(
            hide_values_of("host=db-old dbname=orders USER=app", "", line),
            line
        );
        for typo in [
            "pasword",
            "pssword",
            "PASSWRD",
            "paswd",
            "sslpassword2",
            "apikey",
        ] {
            assert!(secret_like(typo), "{typo}");
        }
        for other in ["USER", "dbnme", "hots", "sslmod"] {
            assert!(!secret_like(other), "{other}");
        }
        // The value, as the DSN means it, is masked wherever else it is on the line.
        assert_eq!(
            hide_values_of("x_pw=hunter2-long", "", "x_pw=hunter2-long # hunter2-long"),
            "x_pw=•••• # ••••"
        );
        // Known options stay, and so does a line whose DSN has no unknown option.
        let line = r#"dsn = "host=db port=55410 password=${secrets.PW}""#;
        assert_eq!(hide_values_of("host=db port=55410", "", line), line);
        assert_eq!(
            unknown_options("host=db passwrd=x \u{E000}=y user=u", "\u{E000}"),
            ["passwrd"]
        );
    }

    #[test]
    fn values_known_only_at_run_time_are_not_judged() {
        let m = "\u{E000}";
        for dsn in [
            "host=db password=\u{E000}",
            "host=db port=\u{E000}",
            "\u{E000}",
            "host=db \u{E000}",
            "postgres://u:\u{E000}@db:\u{E000}/x",
        ] {
            assert_eq!(check_with_unknown(dsn, m), Ok(()), "{dsn:?}");
        }
        // What is wrong whatever the secret holds is still wrong.
        for dsn in [
            "host=db port=x password=\u{E000}",
            "postgres://u@db:x/y password=\u{E000}",
            "host=db password='\u{E000}",
        ] {
            assert!(check_with_unknown(dsn, m).is_err(), "{dsn:?}");
        }
    }
}
