//! `${vars.x}` / `${secrets.x}` interpolation, rendered twice: once to execute, once to show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secrets::MASK;

/// One piece of a string written in a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    /// Text taken as written.
    Literal(String),
    /// `${vars.NAME}`, already resolved at load time.
    Var(String, String),
    /// `${secrets.NAME}`, resolved at run time and never shown.
    Secret(String),
}

/// A runbook string after parsing its `${...}` references.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Template {
    /// The pieces in order.
    pub segments: Vec<Segment>,
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
    /// Parses `s`, resolving vars from `vars` and checking that secrets are declared.
    ///
    /// `$${` is an escape for a literal `${` (useful in shell commands).
    pub fn parse(
        s: &str,
        vars: &BTreeMap<String, String>,
        secrets: &[String],
    ) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        let bytes = s.as_bytes();
        while i < s.len() {
            if s[i..].starts_with("$${") {
                lit.push_str("${");
                i += 3;
                continue;
            }
            if s[i..].starts_with("${") {
                let Some(close) = s[i..].find('}') else {
                    return Err(TemplateError {
                        offset: i,
                        len: s.len() - i,
                        message: "unclosed `${`: write `${vars.NAME}` or `${secrets.NAME}` (`$${` for a literal `${`)".into(),
                    });
                };
                let inner = &s[i + 2..i + close];
                let len = close + 1;
                let (ns, name) = inner.split_once('.').unwrap_or(("", inner));
                match ns {
                    "vars" => match vars.get(name) {
                        Some(v) => {
                            if !lit.is_empty() {
                                segments.push(Segment::Literal(std::mem::take(&mut lit)));
                            }
                            segments.push(Segment::Var(name.to_string(), v.clone()));
                        }
                        None => {
                            return Err(TemplateError {
                                offset: i,
                                len,
                                message: format!(
                                    "`${{{inner}}}` does not resolve: no `{name}` in [vars]{}",
                                    known(vars.keys())
                                ),
                            });
                        }
                    },
                    "secrets" => {
                        if secrets.iter().any(|k| k == name) {
                            if !lit.is_empty() {
                                segments.push(Segment::Literal(std::mem::take(&mut lit)));
                            }
                            segments.push(Segment::Secret(name.to_string()));
                        } else {
                            return Err(TemplateError {
                                offset: i,
                                len,
                                message: format!(
                                    "`${{{inner}}}` does not resolve: no `{name}` in [secrets]{}",
                                    known(secrets.iter())
                                ),
                            });
                        }
                    }
                    _ => {
                        return Err(TemplateError {
                            offset: i,
                            len,
                            message: format!(
                                "`${{{inner}}}` is not a runbook reference: use `${{vars.NAME}}` or `${{secrets.NAME}}` (write `$${{` for a literal `${{`, e.g. a shell variable)"
                            ),
                        });
                    }
                }
                i += len;
                continue;
            }
            let ch_len = utf8_len(bytes[i]);
            lit.push_str(&s[i..i + ch_len]);
            i += ch_len;
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(Template { segments })
    }

    /// The string to execute, with secret values filled in from `secrets`.
    pub fn render(&self, secrets: &BTreeMap<String, String>) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(t) | Segment::Var(_, t) => t.as_str(),
                Segment::Secret(name) => secrets.get(name).map_or("", String::as_str),
            })
            .collect()
    }

    /// The string to show: every secret replaced by the mask.
    pub fn display(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(t) | Segment::Var(_, t) => t.as_str(),
                Segment::Secret(_) => MASK,
            })
            .collect()
    }

    /// Whether the string references any secret.
    pub fn has_secrets(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Secret(_)))
    }
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
        BTreeMap::from([("host".to_string(), "app01".to_string())])
    }

    #[test]
    fn renders_and_masks() {
        let t = Template::parse(
            "ssh ${vars.host} pw=${secrets.PW} héllo $${HOME}",
            &vars(),
            &["PW".to_string()],
        )
        .unwrap();
        let s = BTreeMap::from([("PW".to_string(), "hunter2".to_string())]);
        assert_eq!(t.render(&s), "ssh app01 pw=hunter2 héllo ${HOME}");
        assert_eq!(t.display(), "ssh app01 pw=•••• héllo ${HOME}");
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
}
