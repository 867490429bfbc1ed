//! Secrets: reading them from the environment and masking them everywhere text leaves the engine.

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex::Regex;

/// What a secret (or a DSN password) is replaced with.
pub const MASK: &str = "••••";

/// A secret that the environment does not provide.
#[derive(Debug, thiserror::Error)]
#[error(
    "secret `{name}` is read from the environment variable {env}, which is not set (export {env}=... before starting cutover)"
)]
pub struct MissingSecret {
    /// The secret's name in `[secrets]`.
    pub name: String,
    /// The environment variable.
    pub env: String,
}

/// Reads every `[secrets]` entry from the environment.
pub fn read_secrets(
    decl: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, MissingSecret> {
    decl.iter()
        .map(|(name, env)| match std::env::var(env) {
            Ok(v) => Ok((name.clone(), v)),
            Err(_) => Err(MissingSecret {
                name: name.clone(),
                env: env.clone(),
            }),
        })
        .collect()
}

/// Replaces secret values and DSN passwords with [`MASK`].
#[derive(Debug, Clone)]
pub struct Masker {
    values: Vec<String>,
    conninfo_pw: Regex,
    url_pw: Regex,
}

impl Default for Masker {
    fn default() -> Self {
        Self::new(std::iter::empty::<String>())
    }
}

impl Masker {
    /// A masker for these secret values (empty values are ignored).
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| !v.is_empty())
            .collect();
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Masker {
            values,
            // `password=secret` or `password='se cret'` in a libpq conninfo string.
            conninfo_pw: Regex::new(r"(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']+)")
                .expect("static regex"),
            // `postgres://user:secret@host` in a URL.
            url_pw: Regex::new(r"(?i)\b(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)")
                .expect("static regex"),
        }
    }

    /// Masks secret values and anything that looks like a DSN password.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), MASK));
            }
        }
        if self.conninfo_pw.is_match(&out) {
            out = Cow::Owned(
                self.conninfo_pw
                    .replace_all(&out, format!("${{1}}{MASK}"))
                    .into_owned(),
            );
        }
        if self.url_pw.is_match(&out) {
            out = Cow::Owned(
                self.url_pw
                    .replace_all(&out, format!("${{1}}{MASK}${{3}}"))
                    .into_owned(),
            );
        }
        out
    }

    /// Masks in place.
    pub fn mask_string(&self, s: &mut String) {
        if let Cow::Owned(m) = self.mask(s) {
            *s = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_values_and_dsn_passwords() {
        let m = Masker::new(["hunter2", "hunter2-long"]);
        assert_eq!(m.mask("pw hunter2-long and hunter2"), "pw •••• and ••••");
        assert_eq!(
            m.mask("host=db password=abc dbname=x"),
            "host=db password=•••• dbname=x"
        );
        assert_eq!(
            m.mask("host=db password='a b' dbname=x"),
            "host=db password=•••• dbname=x"
        );
        assert_eq!(
            m.mask("postgres://migrator:s3cr%40t@db-new/orders"),
            "postgres://migrator:••••@db-new/orders"
        );
        assert_eq!(m.mask("nothing here"), "nothing here");
    }
}
