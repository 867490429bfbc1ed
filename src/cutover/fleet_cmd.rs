//! `cutover check RUNBOOK --fleet FLEET.toml`: the fleet file checked, and the runbook checked
//! once per member with that member's vars and secrets; with `--connect`, each member's
//! preflight against its own servers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cutover_model::fleet::{Fleet, Halt};

use crate::exit::{self, Exit, Failure, Outcome};
use crate::say;

/// Checks the fleet file at `fleet` and each runbook of `files` for every member; every
/// error is printed located (`file:line:col`, the member named).
pub fn check(
    files: &[PathBuf],
    fleet: &Path,
    connect: bool,
    overrides: &BTreeMap<String, String>,
) -> Outcome {
    let fleet = match Fleet::load(fleet) {
        Ok(f) => f,
        Err(e) => return Err(Failure::new(Exit::Invalid, e.to_string())),
    };
    let mut ok = true;
    for f in files {
        match fleet.runbooks(f, overrides) {
            Ok(books) => {
                let steps = books.first().map_or(0, |(_, rb)| rb.steps.len());
                if !say::out(&format!(
                    "{}: ok for {}",
                    f.display(),
                    described(&fleet, steps)
                )) {
                    return Err(Failure::new(
                        Exit::Invalid,
                        "cutover: cannot write the result to stdout",
                    ));
                }
                if connect {
                    ok &= preflight_each(f, &books);
                }
            }
            Err(e) => {
                ok = false;
                say::err(&e.to_string());
            }
        }
    }
    Ok(Exit::unless(ok, Exit::Invalid))
}

/// Each member's preflight against its own servers (its vars, its secrets' variables), its
/// lines prefixed with the member; whether every member is ready.
fn preflight_each(runbook: &Path, books: &[(String, cutover_model::runbook::Runbook)]) -> bool {
    let mut ready = true;
    for (name, rb) in books {
        let args = crate::preflight_cmd::PreflightArgs {
            runbook: runbook.to_path_buf(),
            vars: Vec::new(),
            approvals: Vec::new(),
            journal: None,
            metrics_file: None,
            json: false,
        };
        // Said here, with the member first as its other lines: the next member's follow.
        let prefix = format!("[{name}] ");
        let outcome = crate::preflight_cmd::of_runbook(rb, &args, &prefix)
            .map_err(|f| exit::Failure::new(f.exit, format!("{prefix}{}", f.message)));
        ready &= exit::said(outcome) == Exit::Ok;
    }
    ready
}

/// `every member of fleet.toml (3 members, 17 steps each; canary shard-01; 2 at a time;
/// a failure stops new members)`.
fn described(fleet: &Fleet, steps: usize) -> String {
    let n = fleet.members.len();
    let canary = if fleet.canary.is_empty() {
        "no canary".to_string()
    } else {
        format!("canary {}", fleet.canary.join(", "))
    };
    let halt = match fleet.halt {
        Halt::FirstFailure => "a failure stops new members",
        Halt::Never => "a failure stops nothing else",
    };
    format!(
        "every member of {} ({} member{}, {} step{} each; {canary}; {} at a time; {halt})",
        fleet.file,
        n,
        if n == 1 { "" } else { "s" },
        steps,
        if steps == 1 { "" } else { "s" },
        fleet.concurrency
    )
}
