//! What a drill runs, once its world is built: the runbook with the drill's vars, the engine,
//! and the fault injector. Shared by the headless drill (in this process) and the cockpit
//! drill (in the detached engine process, see `serve.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use cutover_drill::Drill;
use cutover_drill::fault::{self, Fault, FaultTarget};
use cutover_engine::{Engine, EngineOptions, JournalChoice};
use cutover_model::protocol::Operator;
use cutover_model::runbook::{LoadError, Runbook};
use cutover_pg::conn::with_causes;

use crate::cli::FaultArg;

/// A drill, decided in the foreground (everything that can be refused was refused there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillPlan {
    /// Rows in pgbench_accounts.
    pub rows: u64,
    /// Write load in transactions per second.
    pub tps: u32,
    /// The work directory (journal, logs, runbook copy).
    pub dir: PathBuf,
    /// The runbook to run.
    pub runbook: PathBuf,
    /// The journal.
    pub journal: PathBuf,
    /// The fault to inject.
    pub fault: Option<FaultArg>,
    /// `--var` overrides, after the drill's own.
    pub vars: Vec<(String, String)>,
    /// `--keep`.
    pub keep: bool,
    /// The PostgreSQL server binaries.
    pub bindir: PathBuf,
    /// `--share-group`.
    pub share_group: Option<String>,
    /// Who started it.
    pub operator: Operator,
}

/// Why a drill could not be armed.
#[derive(Debug)]
pub enum NotArmed {
    /// The runbook is invalid (exit 2).
    Invalid(String),
    /// Something failed (exit 4).
    Failed(String),
}

/// The armed drill: its engine, and the injector when a fault was asked for.
pub struct Armed {
    /// The run's engine.
    pub engine: Engine,
    /// The fault injector's task.
    pub injector: Option<tokio::task::JoinHandle<()>>,
}

impl DrillPlan {
    /// The drill's diagnostics log.
    pub fn log(&self) -> PathBuf {
        crate::log::default_path(&self.journal)
    }

    /// Loads the runbook with the drill's vars, prepares the engine, starts the diagnostics
    /// log and the fault injector; `say` hears what is worth telling the operator.
    pub async fn arm(&self, drill: &Drill, say: &mut dyn FnMut(&str)) -> Result<Armed, NotArmed> {
        let mut vars = drill.vars().await.map_err(|e| {
            NotArmed::Failed(format!(
                "cannot read the drill's settings: {}",
                with_causes(&e)
            ))
        })?;
        let fault = self.fault.map(Fault::from);
        if fault == Some(Fault::StepFail) {
            let (k, v) = fault::BREAK_STEP_VAR;
            vars.insert(k.to_string(), v.to_string());
        }
        let overrides: BTreeMap<String, String> =
            vars.into_iter().chain(self.vars.iter().cloned()).collect();
        let rb = match Runbook::load(&self.runbook, &overrides) {
            Ok(rb) => rb,
            Err(e @ (LoadError::Invalid(_) | LoadError::Io { .. })) => {
                return Err(NotArmed::Invalid(e.to_string()));
            }
        };
        let engine = Engine::prepare(
            rb,
            EngineOptions {
                journal: JournalChoice::New(self.journal.clone()),
                accept_changed_runbook: false,
                accept_changed_vars: false,
                operator: self.operator.clone(),
                metrics_file: None,
                also_masked: Vec::new(),
            },
        )
        .map_err(|e| NotArmed::Failed(format!("cannot start the run: {e}")))?;
        if let Some(why) = crate::log::init(&self.log(), engine.masker()) {
            say(&why);
        }
        let injector = match (fault, drill.pair()) {
            (Some(f), Some(pair)) => {
                say(&format!("fault {f:?} will be injected mid-drill"));
                let su = cutover_drill::harness::cluster::SUPERUSER;
                Some(fault::spawn(
                    f,
                    FaultTarget {
                        source_dsn: cutover_drill::setup::dsn(&pair.source, su),
                        target_dsn: cutover_drill::setup::dsn(&pair.target, su),
                        subscription: pair.subscription.clone(),
                        journal: self.journal.clone(),
                        log: self.dir.join("load.log"),
                    },
                ))
            }
            _ => None,
        };
        Ok(Armed { engine, injector })
    }
}
