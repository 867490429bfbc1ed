//! A `[secrets]` entry, `NAME = { env = "VAR" }`, read so that a secret written in the file
//! in its place never reaches an error's text.
//!
//! serde's own errors quote what they found (`invalid type: integer 987654321, expected …`),
//! and a runbook that holds `PW = 987654321` holds the secret itself. Every way of writing
//! something other than `{ env = "NAME" }` is refused here with words that say what it was,
//! never what it said.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use toml::Spanned;

use super::spec::SStr;

/// Said after what was found in a secret's place: its presence in a TOML error's text tells
/// [`super::Diagnostic::of_toml`] to mask the value on the quoted line.
pub const NOT_SHOWN: &str = "(not shown: it may be the secret itself)";

/// What a secret's entry must be, as said in an error.
const SECRET_EXPECTED: &str = "`{ env = \"ENV_VAR\" }` naming the environment variable that holds the secret (never the secret itself)";

/// `NAME = { env = "VAR" }`
#[derive(Debug)]
pub struct SecretSpec {
    /// The environment variable holding the secret.
    pub env: SStr,
}

impl SecretSpec {
    /// Why this value is likely the secret itself rather than a name of the variable that
    /// holds it: a name no environment variable has. `None`: it is a name.
    pub fn not_a_name(&self) -> Option<&'static str> {
        let env = self.env.get_ref().trim();
        let is_name = env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !env.starts_with(|c: char| c.is_ascii_digit());
        if !env.is_empty() && !is_name {
            Some(
                "a name with characters no environment variable name has (only letters, digits and _, not first a digit)",
            )
        } else {
            None
        }
    }

    /// What is said of secret `name` when [`SecretSpec::not_a_name`] says `why`.
    pub fn not_a_name_message(name: &str, why: &str) -> String {
        format!(
            "secret `{name}`: expected `{{ env = \"CUTOVER_{name}\" }}` naming the environment variable that holds it, found {why} {NOT_SHOWN}"
        )
    }
}

/// `what` was found where a secret's entry or its `env` belongs: said without its value.
fn unseen<E: de::Error>(what: &str, expected: &dyn de::Expected) -> E {
    E::invalid_type(Unexpected::Other(&format!("{what} {NOT_SHOWN}")), expected)
}

/// The visitor for both a secret's entry (`entry`) and its `env` (`!entry`): every value
/// that is not what it takes is refused unseen.
struct Unseen {
    /// Reading the entry (`{ env = … }`), not the name inside it.
    entry: bool,
}

/// What [`Unseen`] read: the entry's `env`, or the name itself.
enum Read {
    Entry(SStr),
    Name(String),
}

impl<'de> Visitor<'de> for Unseen {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.entry {
            f.write_str(SECRET_EXPECTED)
        } else {
            f.write_str("the name of the environment variable that holds the secret")
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Read, E> {
        if self.entry {
            Err(unseen("a string", &self))
        } else {
            Ok(Read::Name(v.to_string()))
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Read, E> {
        Err(unseen("true or false", &self))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Read, E> {
        Err(unseen("a number", &self))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Read, E> {
        Err(unseen("a number", &self))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Read, E> {
        Err(unseen("a number", &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Read, A::Error> {
        Err(unseen("an array", &self))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        if !self.entry {
            return Err(unseen("a table", &self));
        }
        let mut env = None;
        while let Some(key) = map.next_key::<String>()? {
            if key.starts_with("$__toml_private") {
                // How the toml crate hands over a date-time: its value is not read.
                return Err(unseen("a date-time", &self));
            }
            if key != "env" || env.is_some() {
                return Err(de::Error::unknown_field(&key, &["env"]));
            }
            let name: Spanned<EnvName> = map.next_value()?;
            let span = name.span();
            env = Some(Spanned::new(span, name.into_inner().0));
        }
        env.map(Read::Entry)
            .ok_or_else(|| de::Error::missing_field("env"))
    }
}

/// The text of `env`, refused unseen when it is not a string.
struct EnvName(String);

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(Unseen { entry: false })? {
            Read::Name(name) => Ok(EnvName(name)),
            Read::Entry(_) => Err(de::Error::custom("a name was expected")),
        }
    }
}

impl<'de> Deserialize<'de> for SecretSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(Unseen { entry: true })? {
            Read::Entry(env) => Ok(SecretSpec { env }),
            Read::Name(_) => Err(de::Error::custom(SECRET_EXPECTED)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        #[allow(dead_code)]
        secrets: std::collections::BTreeMap<String, SecretSpec>,
    }

    /// Attack: every kind of TOML value written in a secret's place, or in its `env`, is
    /// refused with words that say what it was and never show it.
    #[test]
    fn no_value_written_in_a_secrets_place_is_ever_quoted() {
        for (value, what) in [
            ("\"hunter2-987654\"", "a string"),
            ("987654", "a number"),
            ("987654.25", "a number"),
            ("-987654", "a number"),
            ("true", "true or false"),
            ("[\"hunter2-987654\"]", "an array"),
            ("[987654]", "an array"),
            ("1987-06-05T04:03:02Z", "a date-time"),
            ("1987-06-05", "a date-time"),
            ("{ env = 987654 }", "a number"),
            ("{ env = [\"hunter2-987654\"] }", "an array"),
            ("{ env = { x = \"hunter2-987654\" } }", "a table"),
        ] {
            let e = toml::from_str::<File>(&format!("[secrets]\nPW = {value}\n"))
                .expect_err(value)
                .to_string();
            let message = e.lines().last().unwrap_or_default();
            assert!(
                message.contains(&format!("{what} (not shown")),
                "{value}: {message}"
            );
            assert!(!message.contains("987654"), "{value}: {message}");
            assert!(!message.contains("1987"), "{value}: {message}");
        }
    }

    #[test]
    fn a_name_is_read_with_its_place() {
        let text = "[secrets]\nPW = { env = \"CUTOVER_PW\" }\n";
        let f: File = toml::from_str(text).expect("a name");
        let env = &f.secrets["PW"].env;
        assert_eq!(env.get_ref(), "CUTOVER_PW");
        assert_eq!(&text[env.span()], "\"CUTOVER_PW\"");
        let e = toml::from_str::<File>("[secrets]\nPW = { nev = \"X\" }\n")
            .expect_err("unknown key")
            .to_string();
        assert!(e.contains("unknown field `nev`, expected `env`"), "{e}");
        let e = toml::from_str::<File>("[secrets]\nPW = {}\n")
            .expect_err("no env")
            .to_string();
        assert!(e.contains("missing field `env`"), "{e}");
    }
}
