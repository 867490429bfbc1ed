//! The engine's one way out: every event is journaled (and fsynced) first when it is a
//! journaled kind, then sent to the front end.
//!
//! No loop can make the journal grow without bound: a record identical to one of the last
//! few written (a refused sign-off asked again and again, the same notice in a loop) is sent
//! to the front end but journaled once; how many times it repeated is journaled as a notice
//! before the next different record (and every [`REPEATS_FLUSH`] repeats).

use std::collections::VecDeque;

use chrono::Utc;
use tokio::sync::mpsc;

use super::{EngineError, Runner, StepParts};
use crate::journal::Journal;
use crate::metrics_file::run::RunMetrics;
use crate::notify::Notifier;
use cutover_model::protocol::{Event, Level, OperatorAction};
use cutover_model::secrets::Masker;

/// Distinct records remembered to recognise a repeat (a loop of up to this many records).
const REPEATS_WINDOW: usize = 4;

/// Repeats counted before the count is journaled even if the loop goes on.
pub(super) const REPEATS_FLUSH: u64 = 10_000;

/// The last records journaled, and the repeats of them that were not.
#[derive(Default)]
struct Repeats {
    recent: VecDeque<String>,
    skipped: u64,
}

impl Repeats {
    /// Whether `record` repeats one of the last few journaled; remembers it if not.
    fn repeats(&mut self, record: String) -> bool {
        if self.recent.contains(&record) {
            self.skipped += 1;
            return true;
        }
        if self.recent.len() == REPEATS_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
        false
    }

    /// The notice that says how many repeats were not journaled (and forgets them).
    fn take_notice(&mut self) -> Option<Event> {
        let n = std::mem::take(&mut self.skipped);
        (n > 0).then(|| Event::Notice {
            level: Level::Info,
            message: format!(
                "{} of the records above journaled once (the same records came {n} more time{})",
                self.recent.len(),
                if n == 1 { "" } else { "s" }
            ),
        })
    }
}

/// Journal + event channel: every journaled event is fsynced before it is sent, and no event
/// leaves with a secret in it.
pub(super) struct Io<'a> {
    journal: &'a mut Journal,
    events: &'a mpsc::Sender<Event>,
    masker: &'a Masker,
    repeats: Repeats,
    /// The `--metrics-file` writer: sees every event after it is masked.
    metrics: Option<RunMetrics>,
    /// The `[[notify]]` hooks: see every event after it is masked.
    pub(super) notifier: Option<Notifier>,
}

impl<'a> Io<'a> {
    /// Events go to `journal` (those that are journaled) and then to `events`, masked by
    /// `masker`.
    pub(super) fn new(
        journal: &'a mut Journal,
        events: &'a mpsc::Sender<Event>,
        masker: &'a Masker,
        metrics: Option<RunMetrics>,
    ) -> Self {
        Io {
            journal,
            events,
            masker,
            repeats: Repeats::default(),
            metrics,
            notifier: None,
        }
    }

    /// The front end's channel, for a task of the engine's own that reports what is never
    /// journaled (a step's progress figures) without going through the runner.
    pub(super) fn sender(&self) -> mpsc::Sender<Event> {
        self.events.clone()
    }

    /// Masks `ev`, journals it (when it is a journaled kind), then reports it.
    pub(super) async fn emit(&mut self, ev: Event) -> Result<(), EngineError> {
        let ev = crate::masking::mask_event(self.masker, ev);
        if ev.journaled() {
            let record = serde_json::to_string(&ev).unwrap_or_default();
            if self.repeats.repeats(record) {
                if self.repeats.skipped >= REPEATS_FLUSH
                    && let Some(notice) = self.repeats.take_notice()
                {
                    self.journal.append(&notice)?;
                }
            } else {
                if let Some(notice) = self.repeats.take_notice() {
                    self.journal.append(&notice)?;
                }
                self.journal.append(&ev)?;
            }
        }
        let mut failed: Vec<String> = self
            .metrics
            .as_mut()
            .and_then(|m| m.see(&ev))
            .into_iter()
            .collect();
        if let Some(n) = &mut self.notifier {
            n.see(&ev);
            failed.extend(n.take_reports());
        }
        // A front end that went away is not an engine error: the journal has the record.
        let _ = self.events.send(ev).await;
        self.report(failed).await
    }

    /// Journals and shows each failure of the run's side channels (a metrics file that
    /// cannot be written, said once per run of failures; a notify hook that failed).
    async fn report(&mut self, failed: Vec<String>) -> Result<(), EngineError> {
        for message in failed {
            let notice = Event::Notice {
                level: Level::Warn,
                message: self.masker.mask(&message).into_owned(),
            };
            self.journal.append(&notice)?;
            let _ = self.events.send(notice).await;
        }
        Ok(())
    }

    /// The end of the run: the notes still queued are sent (within
    /// [`crate::notify::FLUSH_WITHIN`]) and their failures journaled.
    pub(super) async fn close(&mut self) -> Result<(), EngineError> {
        let failed = match &mut self.notifier {
            Some(n) => n.finish().await,
            None => Vec::new(),
        };
        self.report(failed).await
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
        lines: String,
    ) -> Result<(), EngineError> {
        self.parts().show_lines(index, lines).await
    }

    /// Reports something worth saying that is not a step event.
    pub(super) async fn notice(
        &mut self,
        level: Level,
        message: impl Into<String>,
    ) -> Result<(), EngineError> {
        self.parts().notice(level, message).await
    }
}

impl StepParts<'_, '_> {
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
                skipped: 0,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(text: &str) -> String {
        serde_json::to_string(&Event::Notice {
            level: Level::Warn,
            message: text.into(),
        })
        .unwrap()
    }

    #[test]
    fn a_loop_of_records_is_journaled_once_with_its_count() {
        let mut r = Repeats::default();
        assert!(!r.repeats(notice("asked")));
        assert!(!r.repeats(notice("refused")));
        for _ in 0..1000 {
            assert!(r.repeats(notice("asked")));
            assert!(r.repeats(notice("refused")));
        }
        let Some(Event::Notice { message, .. }) = r.take_notice() else {
            panic!("a count is journaled");
        };
        assert!(message.contains("2000 more times"), "{message}");
        assert!(r.take_notice().is_none(), "counted once");
        // A new record is journaled; the window slides.
        for i in 0..REPEATS_WINDOW {
            assert!(!r.repeats(notice(&format!("new {i}"))));
        }
        assert!(!r.repeats(notice("asked")), "forgotten after the window");
    }
}
