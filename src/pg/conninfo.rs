//! Splitting a DSN into what `tokio_postgres::Config` understands and the libpq options it
//! does not (`sslmode=verify-full`, `sslrootcert`, `passfile`, ...), which we handle ourselves.
//!
//! Both forms are accepted: `key=value` conninfo strings (values optionally single-quoted,
//! backslash escapes) and `postgres://` / `postgresql://` URLs (the options in the query string).

/// Options taken out of the DSN before `tokio_postgres` parses the rest.
pub const OURS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "passfile",
    "fallback_application_name",
    "sslsni",
    "gssencmode",
    "sslcompression",
];

/// A DSN with our options taken out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    /// The DSN without our options, in the form it was written (conninfo or URL).
    pub rest: String,
    /// Our options, in order of appearance (a later repeat wins when read with [`Split::get`]).
    pub ours: Vec<(String, String)>,
}

impl Split {
    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.ours
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `dsn` is a URL rather than a conninfo string.
pub fn is_url(dsn: &str) -> bool {
    let t = dsn.trim_start();
    t.starts_with("postgres://") || t.starts_with("postgresql://")
}

/// Splits `dsn`; errors describe what is malformed (never quoting a value).
pub fn split(dsn: &str) -> Result<Split, String> {
    if is_url(dsn) {
        split_url(dsn)
    } else {
        split_conninfo(dsn)
    }
}

fn split_url(dsn: &str) -> Result<Split, String> {
    let (base, query) = match dsn.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (dsn, None),
    };
    let mut out = Split::default();
    let mut kept = Vec::new();
    for part in query.unwrap_or_default().split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!(
                "invalid URL query parameter `{}`: expected key=value",
                percent_decode(part.split('=').next().unwrap_or_default())
            )
        })?;
        let key = percent_decode(k);
        if OURS.contains(&key.as_str()) {
            out.ours.push((key, percent_decode(v)));
        } else {
            kept.push(part);
        }
    }
    out.rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(out)
}

/// Decodes `%XX` escapes (invalid ones are kept as written).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `key = value` pairs the way libpq does (the runbook check's parser, so a DSN that
/// passes `cutover check` is read the same here).
pub fn parse_conninfo(dsn: &str) -> Result<Vec<(String, String)>, String> {
    cutover_model::runbook::dsn::conninfo_params(dsn)
}

fn split_conninfo(dsn: &str) -> Result<Split, String> {
    let mut out = Split::default();
    let mut kept = Vec::new();
    for (k, v) in parse_conninfo(dsn)? {
        if OURS.contains(&k.as_str()) {
            out.ours.push((k, v));
        } else {
            kept.push(format!("{k}={}", cutover_model::ident::conninfo_value(&v)));
        }
    }
    out.rest = kept.join(" ");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_keeps_the_rest_and_takes_ours() {
        let s = split(
            "host=db  dbname = 'my db' password='it\\'s' sslmode=verify-full sslrootcert=/x/ca.pem",
        )
        .unwrap();
        assert_eq!(s.rest, "host=db dbname='my db' password='it\\'s'");
        assert_eq!(s.get("sslmode"), Some("verify-full"));
        assert_eq!(s.get("sslrootcert"), Some("/x/ca.pem"));
        let cfg: tokio_postgres::Config = s.rest.parse().unwrap();
        assert_eq!(cfg.get_dbname(), Some("my db"));
        assert_eq!(cfg.get_password(), Some(&b"it's"[..]));
    }

    #[test]
    fn url_keeps_the_rest_and_takes_ours() {
        let s = split("postgres://u:p%40ss@db:5433/orders?sslmode=verify%2Dca&application_name=x&passfile=%2Ftmp%2Fpw")
            .unwrap();
        assert_eq!(
            s.rest,
            "postgres://u:p%40ss@db:5433/orders?application_name=x"
        );
        assert_eq!(s.get("sslmode"), Some("verify-ca"));
        assert_eq!(s.get("passfile"), Some("/tmp/pw"));
        let s = split("postgresql://db/orders?sslmode=require").unwrap();
        assert_eq!(s.rest, "postgresql://db/orders");
    }

    #[test]
    fn malformed_input_is_explained() {
        assert!(split("host").unwrap_err().contains("has no `=`"));
        assert!(
            split("password='abc")
                .unwrap_err()
                .contains("opens a quote that never closes")
        );
        assert!(
            split("postgres://db/x?oops")
                .unwrap_err()
                .contains("key=value")
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }
}
