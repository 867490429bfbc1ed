//! The run so far, as a terminal that attaches mid-run needs it: every event that says where
//! the run stands, with the bulky kinds kept bounded — each step's newest output (as many lines
//! as the cockpit keeps), the last hour of lag samples, the latest progress of each wait and
//! each reconcile check, the last notices. Replayed in order, it draws the same screen as the
//! terminal that watched all along.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use cutover_model::protocol::Event;

/// Lines of output kept per step (the cockpit keeps as many).
pub const OUTPUT_LINES: usize = 10_000;
/// Bytes of output kept for all steps together (the cockpit keeps as many).
pub const OUTPUT_BYTES: usize = 64 * 1024 * 1024;
/// Lag samples kept (an hour at one per second).
pub const LAG_SAMPLES: usize = 3_600;
/// Notices kept (the status line shows the last).
pub const NOTICES: usize = 20;

/// One kept event and its place in the run.
type Kept = (u64, Arc<Event>);

/// One step's kept output.
#[derive(Debug, Default)]
struct StepOutput {
    events: VecDeque<(u64, Arc<Event>, usize, usize)>,
    lines: usize,
    /// Lines no longer kept (older than the kept ones): a snapshot says so on the step's first
    /// kept output, so the terminal numbers its lines as they came.
    dropped: u64,
}

impl StepOutput {
    /// Drops the oldest kept output event; the bytes it held.
    fn shed(&mut self) -> usize {
        match self.events.pop_front() {
            Some((_, _, l, b)) => {
                self.lines -= l;
                self.dropped += l as u64;
                b
            }
            None => 0,
        }
    }
}

/// The run so far, bounded.
#[derive(Debug, Default)]
pub struct History {
    next: u64,
    /// Events that always stay: the run's structure and decisions.
    core: Vec<Kept>,
    output: BTreeMap<usize, StepOutput>,
    output_bytes: usize,
    /// Bytes of output kept for all steps together (`None`: [`OUTPUT_BYTES`]).
    output_cap: Option<usize>,
    lag: VecDeque<Kept>,
    notices: VecDeque<Kept>,
    /// The latest progress per wait step or reconcile check.
    latest: BTreeMap<String, Kept>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty history keeping at most `cap` bytes of output (`None`: [`OUTPUT_BYTES`]): a
    /// fleet's engine serves many members, and shares one budget out among them.
    pub fn with_output_cap(cap: Option<usize>) -> Self {
        History {
            output_cap: cap,
            ..Self::default()
        }
    }

    /// Bytes of output kept at most.
    fn cap(&self) -> usize {
        self.output_cap.unwrap_or(OUTPUT_BYTES)
    }

    /// Takes one event, in the order the engine sent it.
    pub fn push(&mut self, ev: Arc<Event>) {
        let seq = self.next;
        self.next += 1;
        match ev.as_ref() {
            Event::Output { index, text, .. } => {
                let (index, bytes) = (*index, text.len());
                let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count().max(1);
                let step = self.output.entry(index).or_default();
                step.events.push_back((seq, ev, lines, bytes));
                step.lines += lines;
                self.output_bytes += bytes;
                while step.lines > OUTPUT_LINES && step.events.len() > 1 {
                    self.output_bytes -= step.shed();
                }
                self.shed_output(index);
            }
            Event::LagSample { .. } => {
                self.lag.push_back((seq, ev));
                if self.lag.len() > LAG_SAMPLES {
                    self.lag.pop_front();
                }
            }
            Event::Notice { .. } => {
                self.notices.push_back((seq, ev));
                if self.notices.len() > NOTICES {
                    self.notices.pop_front();
                }
            }
            Event::WaitProgress { index, .. } => {
                self.latest.insert(format!("wait {index}"), (seq, ev));
            }
            Event::ReconcileProgress { progress } => {
                self.latest
                    .insert(format!("reconcile {}", progress.name), (seq, ev));
            }
            // Asked for by one terminal, for its own pop-up.
            Event::RollbackPlan { .. } => {}
            _ => self.core.push((seq, ev)),
        }
    }

    /// Keeps all output under its cap ([`OUTPUT_BYTES`] unless told otherwise): the oldest of
    /// the other steps goes first.
    fn shed_output(&mut self, busy: usize) {
        let cap = self.cap();
        let order: Vec<usize> = self
            .output
            .keys()
            .copied()
            .filter(|i| *i != busy)
            .chain(std::iter::once(busy))
            .collect();
        for i in order {
            let Some(step) = self.output.get_mut(&i) else {
                continue;
            };
            while self.output_bytes > cap && step.events.len() > 1 {
                self.output_bytes -= step.shed();
            }
            if self.output_bytes <= cap {
                return;
            }
        }
    }

    /// The kept events, in the order they happened.
    pub fn snapshot(&self) -> Vec<Event> {
        let mut all: Vec<&Kept> = self
            .core
            .iter()
            .chain(self.lag.iter())
            .chain(self.notices.iter())
            .chain(self.latest.values())
            .collect();
        let outputs: Vec<Kept> = self
            .output
            .values()
            .flat_map(|s| s.events.iter().map(|(q, e, _, _)| (*q, e.clone())))
            .collect();
        all.extend(outputs.iter());
        all.sort_by_key(|(seq, _)| *seq);
        let mut untold: BTreeMap<usize, u64> =
            self.output.iter().map(|(i, s)| (*i, s.dropped)).collect();
        all.into_iter()
            .map(|(_, e)| {
                let mut e = e.as_ref().clone();
                if let Event::Output { index, skipped, .. } = &mut e {
                    *skipped += untold.remove(index).unwrap_or(0);
                }
                e
            })
            .collect()
    }

    /// Events kept (for tests and measurements).
    pub fn len(&self) -> usize {
        self.core.len()
            + self.lag.len()
            + self.notices.len()
            + self.latest.len()
            + self.output.values().map(|s| s.events.len()).sum::<usize>()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::lag::LagSample;
    use cutover_model::protocol::{Level, Stream};

    fn output(index: usize, lines: usize) -> Arc<Event> {
        Arc::new(Event::Output {
            index,
            stream: Stream::Stdout,
            text: "line\n".repeat(lines),
            at: None,
            skipped: 0,
        })
    }

    #[test]
    fn a_history_told_a_smaller_cap_keeps_no_more_output() {
        let cap = 64 * 1024;
        let mut h = History::with_output_cap(Some(cap));
        for step in 0..3 {
            for _ in 0..100 {
                h.push(output(step, 200));
            }
        }
        let kept: usize = h
            .snapshot()
            .iter()
            .filter_map(|e| match e {
                Event::Output { text, .. } => Some(text.len()),
                _ => None,
            })
            .sum();
        assert!(kept <= cap, "{kept} bytes kept");
        assert!(kept > cap / 2, "the cap is used, not starved: {kept}");
    }

    #[test]
    fn bulky_events_stay_bounded_and_order_is_kept() {
        let mut h = History::new();
        h.push(Arc::new(Event::Ready { next: 0 }));
        for _ in 0..300 {
            h.push(output(0, 100));
        }
        for _ in 0..(LAG_SAMPLES + 10) {
            h.push(Arc::new(Event::LagSample {
                sample: LagSample::default(),
                keep: false,
            }));
        }
        for i in 0..(NOTICES + 5) {
            h.push(Arc::new(Event::Notice {
                level: Level::Info,
                message: format!("n{i}"),
            }));
        }
        h.push(Arc::new(Event::Ready { next: 1 }));
        let snap = h.snapshot();
        let out_lines: usize = snap
            .iter()
            .filter_map(|e| match e {
                Event::Output { text, .. } => {
                    Some(memchr::memchr_iter(b'\n', text.as_bytes()).count())
                }
                _ => None,
            })
            .sum();
        assert_eq!(out_lines, OUTPUT_LINES);
        // The lines no longer kept are told on the first kept output, so numbering holds.
        let skipped: Vec<u64> = snap
            .iter()
            .filter_map(|e| match e {
                Event::Output { skipped, .. } => Some(*skipped),
                _ => None,
            })
            .collect();
        assert_eq!(skipped[0], 300 * 100 - OUTPUT_LINES as u64);
        assert!(skipped[1..].iter().all(|s| *s == 0));
        let lag = snap
            .iter()
            .filter(|e| matches!(e, Event::LagSample { .. }))
            .count();
        assert_eq!(lag, LAG_SAMPLES);
        assert!(matches!(snap.first(), Some(Event::Ready { next: 0 })));
        assert!(matches!(snap.last(), Some(Event::Ready { next: 1 })));
        let notices: Vec<&str> = snap
            .iter()
            .filter_map(|e| match e {
                Event::Notice { message, .. } => Some(message.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(notices.len(), NOTICES);
        assert_eq!(notices.last(), Some(&"n24"));
    }
}
