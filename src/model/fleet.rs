//! A fleet file: one runbook run over many databases (shards, tenants), each a member with its
//! own vars and secrets, plus the rules that tie the members together: how many run at once,
//! which run first alone (the canary), and what a failure does to members not yet started.
//!
//! ```toml
//! concurrency = 8
//! canary = ["shard-01"]
//! halt = "first_failure"        # or "never"
//!
//! [[member]]
//! name = "shard-01"
//! vars = { source_dsn = "host=src1 dbname=app", target_dsn = "host=dst1 dbname=app" }
//! secrets = { PW = { env = "SHARD01_PW" } }
//! ```
//!
//! [`Fleet::parse`] checks the file alone; [`Fleet::runbooks`] checks the runbook once per
//! member, with that member's vars and secrets. Every error names the file, line and column
//! (and the member).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::protocol::RunOutcome;

use crate::runbook::diag::{Diagnostic, Diagnostics};
use crate::runbook::spec::SecretSpec;
use crate::runbook::{LoadError, Runbook};

/// The most members a fleet may have.
pub const MAX_MEMBERS: usize = 10_000;
/// The longest member name: it names the member's journal and its lane on screen.
pub const MAX_NAME: usize = 64;

/// The largest fleet file read: a few lines per member.
pub const MAX_FLEET_BYTES: u64 = 16 * 1024 * 1024;

/// Why a fleet file could not be loaded: it could not be read, or it is not a valid fleet file.
pub type FleetError = crate::file::TextError;

/// What a member's failure does to the members not yet started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    /// No member starts after one failed (members in flight run on).
    FirstFailure,
    /// Every member runs whatever the others do.
    Never,
}

/// One database the runbook runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (letters, digits, `.`, `_`, `-`): its lane, its journal's name.
    pub name: String,
    /// `${vars.x}` for this member, over the runbook's `[vars]`.
    pub vars: BTreeMap<String, String>,
    /// The environment variable each of the runbook's `[secrets]` is read from for this
    /// member (by reference, never the value).
    pub secrets: BTreeMap<String, String>,
    /// Where its name is in the fleet file (bytes).
    pub span: std::ops::Range<usize>,
}

/// A validated fleet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// The file as the user named it.
    pub file: String,
    /// Members in flight at once (at least 1).
    pub concurrency: usize,
    /// Members that run to the end first, alone, before the others wait for the operator's go.
    pub canary: Vec<String>,
    /// What a failure does to members not yet started.
    pub halt: Halt,
    /// The members, in the file's order.
    pub members: Vec<Member>,
    /// The file's text, to locate what the runbook check finds about a member.
    source: String,
}

/// One line of the fleet journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetRecord {
    /// The fleet run began (or was resumed).
    FleetStarted {
        /// When.
        ts: chrono::DateTime<chrono::Utc>,
        /// The runbook's path.
        runbook: String,
        /// The fleet file's path.
        fleet: String,
        /// The members, in the file's order.
        members: Vec<String>,
        /// Whether this session resumed an earlier one.
        resumed: bool,
    },
    /// A member's run began (or was resumed from its journal).
    MemberStarted {
        /// When.
        ts: chrono::DateTime<chrono::Utc>,
        /// The member.
        member: String,
        /// Its own journal.
        journal: String,
        /// Whether it resumed its journal.
        resumed: bool,
    },
    /// A member's run ended.
    MemberFinished {
        /// When.
        ts: chrono::DateTime<chrono::Utc>,
        /// The member.
        member: String,
        /// How its run ended; `None`: its engine failed before an outcome.
        outcome: Option<RunOutcome>,
        /// Its exit code.
        exit: u8,
    },
    /// Every canary completed and the operator said go for the rest.
    CanaryGo {
        /// When.
        ts: chrono::DateTime<chrono::Utc>,
        /// Who said go (headless: `--assume-yes`).
        by: String,
    },
    /// No more members start.
    Halted {
        /// When.
        ts: chrono::DateTime<chrono::Utc>,
        /// Why.
        reason: String,
        /// The members that never started.
        not_started: Vec<String>,
    },
    /// The fleet run ended.
    FleetFinished {
        /// When.
        ts: chrono::DateTime<chrono::Utc>,
        /// The process's exit code: the worst member's.
        exit: u8,
    },
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetSpec {
    concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    canary: Vec<Spanned<String>>,
    halt: Option<Spanned<String>>,
    #[serde(default)]
    member: Vec<Spanned<MemberSpec>>,
}

/// One `[[member]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberSpec {
    name: Spanned<String>,
    #[serde(default)]
    vars: BTreeMap<Spanned<String>, Spanned<crate::runbook::spec::VarValue>>,
    #[serde(default)]
    secrets: BTreeMap<Spanned<String>, Spanned<crate::runbook::spec::SecretSpec>>,
}

/// Collects located errors while a fleet file is checked.
struct Errors<'a> {
    file: &'a str,
    source: &'a str,
    found: Vec<Diagnostic>,
}

impl Errors<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        self.found
            .push(Diagnostic::at(self.file, self.source, span, message));
    }
}

impl Fleet {
    /// Reads and checks a fleet file (a regular file of at most 16 MiB, UTF-8).
    pub fn load(path: &Path) -> Result<Fleet, FleetError> {
        let (shown, source) = crate::file::read_text(path, MAX_FLEET_BYTES, "fleet file")?;
        Self::parse(&shown, &source).map_err(FleetError::Invalid)
    }

    /// Checks fleet file text; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<Fleet, Diagnostics> {
        let spec: FleetSpec = toml::from_str(source).map_err(|e| {
            let syntax = source.parse::<toml::Table>().is_err();
            Diagnostics(vec![Diagnostic::of_toml(file, source, &e, syntax)])
        })?;
        let mut errs = Errors {
            file,
            source,
            found: Vec::new(),
        };
        let concurrency = concurrency(&mut errs, spec.concurrency.as_ref());
        let halt = halt(&mut errs, spec.halt.as_ref());
        let members = members(&mut errs, &spec.member);
        let canary = canary(&mut errs, &spec.canary, &members);
        if !errs.found.is_empty() {
            return Err(Diagnostics(errs.found));
        }
        Ok(Fleet {
            file: file.to_string(),
            concurrency,
            canary,
            halt,
            members,
            source: source.to_string(),
        })
    }

    /// Every environment variable any member reads a secret from: each member's runbook's
    /// `[secrets]` (as the fleet file overrides them), and the runbook's own declarations,
    /// which an override replaces. All members run in one process, so each member's step
    /// inherits all of them: each member masks the values of all of them.
    pub fn secret_envs(&self, runbook_source: &str, books: &[(String, Runbook)]) -> Vec<String> {
        let declared = toml::from_str::<toml::Table>(runbook_source)
            .ok()
            .and_then(|t| t.get("secrets").and_then(toml::Value::as_table).cloned())
            .unwrap_or_default();
        let mut envs: Vec<String> = declared
            .values()
            .filter_map(|v| v.get("env").and_then(toml::Value::as_str).map(String::from))
            .chain(
                books
                    .iter()
                    .flat_map(|(_, rb)| rb.secrets.values().cloned()),
            )
            .collect();
        envs.sort();
        envs.dedup();
        envs
    }

    /// The runbook at `path` as each member runs it: loaded with the member's vars (over
    /// `overrides`, as `--var` gives them) and its secrets' environment variables. Every
    /// member's errors are returned, each message naming the member.
    pub fn runbooks(
        &self,
        path: &Path,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, Runbook)>, LoadError> {
        let (shown, source) = Runbook::read_source(path)?;
        self.runbooks_of(&shown, &source, overrides)
    }

    /// [`Fleet::runbooks`] of a runbook already read: `source`, shown as `shown`.
    pub fn runbooks_of(
        &self,
        shown: &str,
        source: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, Runbook)>, LoadError> {
        let mut found = Vec::new();
        // The runbook's own errors, each with the members it holds for (said once).
        let mut runbook_errors: Vec<(Diagnostic, Vec<&str>)> = Vec::new();
        let mut books = Vec::new();
        for m in &self.members {
            let mut vars = overrides.clone();
            vars.extend(m.vars.clone());
            match Runbook::parse(shown, source, &vars) {
                Ok(mut rb) => {
                    for (name, env) in &m.secrets {
                        match rb.secrets.get_mut(name) {
                            Some(e) => *e = env.clone(),
                            None => found.push(Diagnostic::at(
                                &self.file,
                                &self.source,
                                m.span.clone(),
                                format!(
                                    "member {}: secret {name} is not in the runbook's [secrets] (it has: {})",
                                    m.name,
                                    listed(rb.secrets.keys())
                                ),
                            )),
                        }
                    }
                    books.push((m.name.clone(), rb));
                }
                Err(d) => {
                    for d in d.0 {
                        match runbook_errors.iter_mut().find(|(seen, _)| *seen == d) {
                            Some((_, members)) => members.push(&m.name),
                            None => runbook_errors.push((d, vec![&m.name])),
                        }
                    }
                }
            }
        }
        found.extend(runbook_errors.into_iter().map(|(mut d, members)| {
            d.message = format!("{}: {}", members_named(&members), d.message);
            d
        }));
        if found.is_empty() {
            Ok(books)
        } else {
            Err(LoadError::Invalid(Diagnostics(found)))
        }
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// `a, b, c`, or `none`.
fn listed<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&str> = names.map(String::as_str).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// `concurrency`: 1 unless given; at least 1 and at most [`MAX_MEMBERS`].
fn concurrency(errs: &mut Errors<'_>, given: Option<&Spanned<i64>>) -> usize {
    let Some(c) = given else { return 1 };
    match usize::try_from(*c.get_ref()) {
        Ok(n) if (1..=MAX_MEMBERS).contains(&n) => n,
        _ => {
            errs.at(
                c.span(),
                format!(
                    "concurrency must be from 1 to {MAX_MEMBERS} (members in flight at once), not {}",
                    c.get_ref()
                ),
            );
            1
        }
    }
}

/// `halt`: `first_failure` (the default) or `never`.
fn halt(errs: &mut Errors<'_>, given: Option<&Spanned<String>>) -> Halt {
    match given.map(|h| (h, h.get_ref().as_str())) {
        None | Some((_, "first_failure")) => Halt::FirstFailure,
        Some((_, "never")) => Halt::Never,
        Some((h, other)) => {
            errs.at(
                h.span(),
                format!(
                    "halt must be \"first_failure\" or \"never\", not {:?}",
                    crate::text::plain(other)
                ),
            );
            Halt::FirstFailure
        }
    }
}

/// Whether `name` may name a member: 1 to [`MAX_NAME`] letters, digits, `.`, `_`, `-`, not
/// starting with `.` or `-` (it becomes a file name and a lane on screen).
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a member's name may not be blank".into());
    }
    if name.len() > MAX_NAME {
        return Some(format!("a member's name is at most {MAX_NAME} characters"));
    }
    if name.starts_with(['.', '-'])
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some(format!(
            "member name {:?}: use letters, digits, '.', '_' and '-' (not first: '.' or '-'); it names the member's journal",
            crate::text::plain(name)
        ));
    }
    None
}

/// The `[[member]]` tables: at least one, each named once.
fn members(errs: &mut Errors<'_>, given: &[Spanned<MemberSpec>]) -> Vec<Member> {
    if given.is_empty() {
        errs.at(
            0..0,
            "a fleet needs at least one [[member]] (with a name and its vars)",
        );
    }
    if given.len() > MAX_MEMBERS {
        errs.at(
            given[MAX_MEMBERS].span(),
            format!("a fleet has at most {MAX_MEMBERS} members"),
        );
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for m in given {
        let spec = m.get_ref();
        let name = spec.name.get_ref().trim().to_string();
        if let Some(why) = name_problem(&name) {
            errs.at(spec.name.span(), why);
        } else if let Some(first) = seen.get(&name) {
            let line = errs.source[..*first].matches('\n').count() + 1;
            errs.at(
                spec.name.span(),
                format!("member {name} is named twice (first on line {line})"),
            );
        } else {
            seen.insert(name.clone(), spec.name.span().start);
        }
        out.push(Member {
            name,
            vars: spec
                .vars
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().0.clone()))
                .collect(),
            secrets: spec
                .secrets
                .iter()
                .map(|(k, v)| {
                    let env = v.get_ref().env.get_ref().clone();
                    if let Some(why) = v.get_ref().not_a_name() {
                        let message = SecretSpec::not_a_name_message(k.get_ref(), why);
                        let d = Diagnostic::at(errs.file, errs.source, v.span(), message);
                        errs.found.push(d.hiding(env.trim()));
                    }
                    (k.get_ref().clone(), env)
                })
                .collect(),
            span: spec.name.span(),
        });
    }
    out
}

/// `canary`: names of members, each once.
fn canary(errs: &mut Errors<'_>, given: &[Spanned<String>], members: &[Member]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in given {
        let name = c.get_ref().trim();
        if !members.iter().any(|m| m.name == name) {
            errs.at(
                c.span(),
                format!(
                    "canary {:?} is not a member of the fleet (members: {})",
                    crate::text::plain(name),
                    listed(members.iter().map(|m| &m.name).take(10))
                ),
            );
        } else if out.iter().any(|o| o == name) {
            errs.at(c.span(), format!("canary {name} is named twice"));
        } else {
            out.push(name.to_string());
        }
    }
    out
}

/// The fleet cockpit's picture: lanes, phase, commands.
pub mod lane;

/// `member s1`, or `members s1, s2, s3` (at most five named, then how many in all): whom a
/// runbook error holds for, said once however many members share it.
fn members_named(members: &[&str]) -> String {
    const NAMED: usize = 5;
    match members {
        [one] => format!("member {one}"),
        all if all.len() <= NAMED => format!("members {}", all.join(", ")),
        all => format!(
            "members {} … ({} in all)",
            all[..NAMED].join(", "),
            all.len()
        ),
    }
}

#[cfg(test)]
mod tests;
