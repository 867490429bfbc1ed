//! `cutover drill --fleet N`: a fleet rehearsed on disposable clusters. N drill pairs are
//! built (each with its replication and write load), a fleet file names them as members
//! `m1`…`mN` (`m1` the canary) with each pair's vars, and the drill's runbook runs over them
//! as `run --fleet` runs it: in the lanes cockpit, or `--headless`. The pairs belong to this
//! process: leaving the lanes stops the fleet's engine (its members' runs end as aborts) before
//! everything is removed. Everything is removed at the end, and on SIGINT, SIGTERM or SIGHUP
//! during the set-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cutover_drill::harness::PgBin;
use cutover_drill::{Drill, DrillOptions};

use crate::cli::DrillArgs;
use crate::drill::{Signals, say};
use crate::drill_plan::DrillPlan;
use crate::exit::{self, Exit, Outcome};
use crate::headless::HeadlessOptions;
use cutover_pg::conn::with_causes;

/// Builds `n` pairs, runs the fleet on them (in the lanes with `theme`, else headless),
/// removes them; the fleet's exit.
pub fn run(
    start: Instant,
    args: &DrillArgs,
    n: u32,
    bin: PgBin,
    plan: &DrillPlan,
    theme: Option<cutover_cockpit::tui::theme::Theme>,
) -> Outcome {
    let rt = crate::serve::client_runtime("cutover drill", Exit::Failed)?;
    let built = rt.block_on(build(start, args, n, &bin, &plan.dir));
    let (drills, members) = match built {
        Ok(b) => b,
        Err((message, exit)) => {
            say(start, &message);
            return Ok(exit);
        }
    };
    let fleet = plan.dir.join("fleet.toml");
    let exit = match std::fs::write(&fleet, fleet_file(&members)) {
        Ok(()) => {
            say(
                start,
                &format!("fleet of {n} pairs · fleet file {}", fleet.display()),
            );
            let fleet_args = crate::fleet_run::FleetArgs {
                runbook: plan.runbook.clone(),
                fleet: fleet.clone(),
                overrides: args.vars.iter().cloned().collect(),
                accept_changed_runbook: false,
                accept_changed_vars: false,
                journal: Some(plan.dir.join("fleet.jsonl")),
                resume: false,
            };
            let opts = HeadlessOptions {
                json: args.json,
                assume_yes: args.assume_yes,
                ..HeadlessOptions::default()
            };
            match theme {
                Some(theme) => lanes(start, fleet_args, theme),
                // Said here: the clean-up lines below follow it.
                None => exit::said(crate::fleet_run::run(fleet_args, opts)),
            }
        }
        Err(e) => {
            say(start, &format!("cannot write {}: {e}", fleet.display()));
            Exit::Failed
        }
    };
    // The pairs and their loads go inside the runtime they were built in.
    rt.block_on(async move { drop(drills) });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    say(
        start,
        "the fleet's clusters and loads are stopped and removed",
    );
    Ok(exit)
}

/// The drill's fleet in the lanes; once they are left, the fleet's engine is stopped (the
/// clusters its members run against are about to go).
fn lanes(
    start: Instant,
    args: crate::fleet_run::FleetArgs,
    theme: cutover_cockpit::tui::theme::Theme,
) -> Exit {
    let journal = args.journal.clone().unwrap_or_default();
    let journal = std::path::absolute(&journal).unwrap_or(journal);
    // Said here: the line about the stopped engine follows it.
    let exit = exit::said(crate::fleet_serve::start_and_attach(args, theme, true));
    if crate::fleet_serve::stop_engine_of(&journal) {
        say(
            start,
            "the fleet's engine is stopped: a drill's fleet ends with its terminal",
        );
    }
    exit
}

/// The pairs, one after the other (a signal removes what was built), and each member's vars.
async fn build(
    start: Instant,
    args: &DrillArgs,
    n: u32,
    bin: &PgBin,
    dir: &Path,
) -> Result<(Vec<Drill>, Vec<(String, BTreeMap<String, String>)>), (String, Exit)> {
    let mut signals = Signals::install()
        .map_err(|e| (format!("cannot install signal handlers: {e}"), Exit::Failed))?;
    let mut drills = Vec::new();
    let mut members = Vec::new();
    for i in 1..=n {
        let name = format!("m{i}");
        let log_dir: PathBuf = dir.join(&name);
        std::fs::create_dir_all(&log_dir).map_err(|e| {
            (
                format!("cannot create {}: {e}", log_dir.display()),
                Exit::Invalid,
            )
        })?;
        let opts = DrillOptions {
            rows: args.rows,
            tps: args.tps,
            log_dir,
        };
        let mut progress = |m: &str| say(start, &format!("[{name}] {m}"));
        let drill = tokio::select! {
            r = Drill::setup(bin, &opts, &mut progress) => r,
            (what, exit) = signals.any() => {
                return Err((format!("{what} during set-up; everything was removed"), exit));
            }
        };
        let drill = drill.map_err(|e| {
            (
                format!("[{name}] set-up failed: {}", with_causes(&e)),
                Exit::Failed,
            )
        })?;
        let vars = drill.vars().await.map_err(|e| {
            (
                format!(
                    "[{name}] cannot read the drill's settings: {}",
                    with_causes(&e)
                ),
                Exit::Failed,
            )
        })?;
        drills.push(drill);
        members.push((name, vars));
    }
    Ok((drills, members))
}

/// The fleet file: `m1` the canary, every member at once, a failure halting the rest. Values
/// are written as TOML basic strings (a JSON string is one: the same escapes).
fn fleet_file(members: &[(String, BTreeMap<String, String>)]) -> String {
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut t = format!(
        "concurrency = {}\ncanary = [\"m1\"]\nhalt = \"first_failure\"\n",
        members.len().max(1)
    );
    for (name, vars) in members {
        let vars: Vec<String> = vars
            .iter()
            .map(|(k, v)| format!("{k} = {}", quote(v)))
            .collect();
        t.push_str(&format!(
            "\n[[member]]\nname = {}\nvars = {{ {} }}\n",
            quote(name),
            vars.join(", ")
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fleet file written for the drill reads back as the same members and vars, hostile
    /// values (quotes, backslashes, controls) included.
    #[test]
    fn the_fleet_file_reads_back_whole() {
        let mut vars = BTreeMap::new();
        vars.insert(
            "workdir".to_string(),
            "/tmp/a \"b\"\\c\u{1b}[31m".to_string(),
        );
        vars.insert(
            "source_dsn".to_string(),
            "host=127.0.0.1 port=5 user=x".to_string(),
        );
        let members = vec![("m1".to_string(), vars.clone()), ("m2".to_string(), vars)];
        let f =
            cutover_model::fleet::Fleet::parse("fleet.toml", &fleet_file(&members)).expect("valid");
        assert_eq!(f.canary, ["m1"]);
        assert_eq!(f.concurrency, 2);
        assert_eq!(f.members[1].vars["workdir"], "/tmp/a \"b\"\\c\u{1b}[31m");
    }
}
