//! `cutover notify RUNBOOK --test`: sends one `test` event to every `[[notify]]` hook of the
//! runbook, as a run would (JSON on stdin, `CUTOVER_NOTIFY_*`, its timeout and retries,
//! masked), and says for each whether it got through.
//!
//! Exit: 0 every hook took it, 1 one did not, 2 invalid (runbook, secrets, no hook, no `--test`).

use std::path::PathBuf;

use cutover_engine::notify::{self, Hook, RunFacts, watch::Note};
use cutover_model::runbook::Runbook;
use cutover_model::runbook::notify::NotifyKind;
use cutover_model::secrets::{self, Masker};

use crate::exit::{Exit, Failure, Outcome};
use crate::say;

/// The command line of `cutover notify`.
#[derive(Debug, clap::Args)]
pub struct NotifyArgs {
    /// The runbook whose `[[notify]]` hooks are tried.
    pub runbook: PathBuf,
    /// Send a `test` event to every hook.
    #[arg(long)]
    pub test: bool,
    /// Override or add a `[vars]` entry.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = crate::cli::parse_var)]
    pub vars: Vec<(String, String)>,
}

/// Runs the command; returns the exit code.
pub fn main(args: NotifyArgs) -> Outcome {
    match prepare(&args) {
        Ok((rb, hooks, masker, env)) => {
            let rt = crate::serve::client_runtime("cutover notify", Exit::CheckFailed)?;
            Ok(rt.block_on(test(&rb, &hooks, &masker, env)))
        }
        Err(why) => Err(Failure::new(
            Exit::Invalid,
            format!("cutover notify: {why}"),
        )),
    }
}

type Prepared = (Runbook, Vec<Hook>, Masker, Vec<(String, String)>);

fn prepare(args: &NotifyArgs) -> Result<Prepared, String> {
    if !args.test {
        return Err("give --test to send a test event to every [[notify]] hook".into());
    }
    let rb = crate::cli::load_runbook(&args.runbook, &args.vars).map_err(|e| e.to_string())?;
    if rb.notify.is_empty() {
        return Err(format!(
            "{}: the runbook has no [[notify]] hook",
            args.runbook.display()
        ));
    }
    let secrets = secrets::read_secrets(&rb.secrets).map_err(|e| e.to_string())?;
    let masker = Masker::new(secrets.values().cloned());
    let hooks = Hook::all(&rb.notify, &secrets);
    let env = cutover_model::runbook::shell::process_env(&rb, &secrets);
    Ok((rb, hooks, masker, env))
}

async fn test(rb: &Runbook, hooks: &[Hook], masker: &Masker, env: Vec<(String, String)>) -> Exit {
    let run = RunFacts {
        name: rb.name.clone(),
        journal: String::new(),
        env,
    };
    let note = Note {
        kind: NotifyKind::Test,
        step: None,
        message: format!(
            "a test event from cutover notify --test for runbook {}",
            rb.name
        ),
        at: chrono::Utc::now(),
    };
    let mut failed = 0;
    for hook in hooks {
        match notify::send(hook, &note, &run, masker).await {
            Ok(tries) => say::out(&format!(
                "✔ notify hook {}: delivered{}",
                hook.number,
                if tries > 1 {
                    format!(" (on try {tries})")
                } else {
                    String::new()
                }
            )),
            Err(why) => {
                failed += 1;
                say::out(&format!("✘ {why}"))
            }
        };
    }
    Exit::unless(failed == 0, Exit::CheckFailed)
}
