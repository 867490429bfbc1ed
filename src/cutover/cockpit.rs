//! The cockpit in this process: the engine on its own task, the cockpit on the terminal, the
//! two joined by channels.

use std::time::Duration;

use tokio::sync::mpsc;

use cutover_cockpit::tui::{self, EngineLink, theme::Theme};
use cutover_engine::{Engine, EngineError};
use cutover_model::protocol::RunOutcome;

/// How long the engine gets to wind down once the cockpit has left (a running step is
/// cancelled and journaled first).
const ENGINE_GRACE: Duration = Duration::from_secs(15);

/// Why the cockpit session stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum CockpitError {
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The engine task died.
    #[error("the engine task failed: {0}")]
    EngineTask(String),
}

/// How the cockpit session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The run's outcome (None: the engine had not finished when the cockpit left).
    pub outcome: Option<RunOutcome>,
    /// The journal's path, for the resume hint.
    pub journal: String,
}

/// Runs `engine` under the cockpit until the operator leaves. The terminal is restored
/// before this returns (or panics).
pub async fn run(engine: Engine, theme: Theme) -> Result<Ending, CockpitError> {
    let journal = engine.journal_path().display().to_string();
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    // Output events carry up to ~80 KiB each: 256 of them bound what waits for a stalled screen.
    let (ev_tx, ev_rx) = mpsc::channel(256);
    let engine_task = tokio::spawn(engine.run(cmd_rx, ev_tx));
    let link = EngineLink {
        commands: cmd_tx,
        events: ev_rx,
    };
    let result = tui::run(link, theme).await;
    // The command channel is closed now: an engine still running aborts (cancelling its step).
    let outcome = match tokio::time::timeout(ENGINE_GRACE, engine_task).await {
        Ok(Ok(Ok(o))) => Some(o),
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Err(e)) => return Err(CockpitError::EngineTask(e.to_string())),
        Err(_) => None,
    };
    result?;
    Ok(Ending { outcome, journal })
}
