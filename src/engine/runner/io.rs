//! The engine's one way out: every event is journaled (and fsynced) first when it is a
//! journaled kind, then sent to the front end.

use chrono::Utc;
use tokio::sync::mpsc;

use super::{EngineError, Runner};
use crate::journal::Journal;
use cutover_model::protocol::{Event, Level, OperatorAction};

/// Journal + event channel: every journaled event is fsynced before it is sent.
pub(super) struct Io<'a> {
    journal: &'a mut Journal,
    events: &'a mpsc::Sender<Event>,
}

impl<'a> Io<'a> {
    /// Events go to `journal` (those that are journaled) and then to `events`.
    pub(super) fn new(journal: &'a mut Journal, events: &'a mpsc::Sender<Event>) -> Self {
        Io { journal, events }
    }

    /// Journals `ev` (when it is a journaled kind), then reports it.
    pub(super) async fn emit(&mut self, ev: Event) -> Result<(), EngineError> {
        if ev.journaled() {
            self.journal.append(&ev)?;
        }
        // A front end that went away is not an engine error: the journal has the record.
        let _ = self.events.send(ev).await;
        Ok(())
    }
}

impl Runner<'_> {
    /// Journals and reports something the operator did (about `step`, when it concerns one).
    pub(super) async fn operator_action(
        &mut self,
        step: Option<&str>,
        action: OperatorAction,
    ) -> Result<(), EngineError> {
        self.io
            .emit(Event::Operator {
                step: step.map(str::to_string),
                action,
                by: self.operator.user.clone(),
                at: Utc::now(),
            })
            .await
    }

    /// Reports something worth saying that is not a step event.
    pub(super) async fn notice(
        &mut self,
        level: Level,
        message: impl Into<String>,
    ) -> Result<(), EngineError> {
        self.io
            .emit(Event::Notice {
                level,
                message: message.into(),
            })
            .await
    }
}
