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
        let ev = mask_event(self.masker, ev);
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

/// Every text of `ev` masked: the last line of defence for what the engine's parts put into
/// events (a server's error message quoting a password, a reconcile value, a probe's error).
/// Output (masked as it is read, and the bulk of all events) and the run's opening records
/// (built from masked parts, and holding hashes that must stay exact) pass as they are.
fn mask_event(masker: &Masker, ev: Event) -> Event {
    if matches!(
        ev,
        Event::Output { .. } | Event::RunStarted { .. } | Event::RunbookText { .. }
    ) {
        return ev;
    }
    let Ok(mut value) = serde_json::to_value(&ev) else {
        return ev;
    };
    if !mask_strings(masker, &mut value, None) {
        return ev;
    }
    serde_json::from_value(value).unwrap_or(ev)
}

/// Masks every string in `v` except the values of `*sha256` keys; whether anything changed.
fn mask_strings(masker: &Masker, v: &mut serde_json::Value, key: Option<&str>) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) if !key.is_some_and(|k| k.ends_with("sha256")) => match masker.mask(s) {
            std::borrow::Cow::Owned(m) => {
                *s = m;
                true
            }
            std::borrow::Cow::Borrowed(_) => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, i| mask_strings(masker, i, None) | changed),
        Value::Object(map) => map.iter_mut().fold(false, |changed, (k, i)| {
            mask_strings(masker, i, Some(k)) | changed
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::protocol::Level;

    #[test]
    fn every_text_of_an_event_is_masked_but_hashes_stay() {
        let m = Masker::new(["hunter2", "abc"]);
        let ev = Event::Notice {
            level: Level::Warn,
            message: "ERROR: password hunter2 rejected".into(),
        };
        match mask_event(&m, ev) {
            Event::Notice { message, .. } => assert_eq!(message, "ERROR: password •••• rejected"),
            other => panic!("{other:?}"),
        }
        let ev = Event::Operator {
            step: None,
            action: cutover_model::protocol::OperatorAction::AcceptChangedRunbook {
                old_sha256: "abc123".into(),
                new_sha256: "123abc".into(),
            },
            by: "dba".into(),
            at: chrono::Utc::now(),
        };
        assert_eq!(mask_event(&m, ev.clone()), ev);
    }
}
