//! The engine's one way out: every event is journaled (and fsynced) first when it is a
//! journaled kind, then sent to the front end.

use chrono::Utc;
use tokio::sync::mpsc;

use super::{EngineError, Runner};
use crate::journal::Journal;
use cutover_model::protocol::{Event, Level, OperatorAction};
use cutover_model::secrets::Masker;

/// Journal + event channel: every journaled event is fsynced before it is sent, and no event
/// leaves with a secret in it.
pub(super) struct Io<'a> {
    journal: &'a mut Journal,
    events: &'a mpsc::Sender<Event>,
    masker: &'a Masker,
}

impl<'a> Io<'a> {
    /// Events go to `journal` (those that are journaled) and then to `events`, masked by
    /// `masker`.
    pub(super) fn new(
        journal: &'a mut Journal,
        events: &'a mpsc::Sender<Event>,
        masker: &'a Masker,
    ) -> Self {
        Io {
            journal,
            events,
            masker,
        }
    }

    /// Masks `ev`, journals it (when it is a journaled kind), then reports it.
    pub(super) async fn emit(&mut self, ev: Event) -> Result<(), EngineError> {
        let ev = crate::masking::mask_event(self.masker, ev);
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

    /// Shows `lines` (each ending in `\n`) as step `index`'s output, masked.
    pub(super) async fn show_lines(
        &mut self,
        index: usize,
        mut lines: String,
    ) -> Result<(), EngineError> {
        self.masker.mask_lines(&mut lines);
        self.io
            .emit(Event::Output {
                index,
                stream: cutover_model::protocol::Stream::Stdout,
                text: lines,
                at: Some(chrono::Utc::now()),
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
