//! A terminal's live events on their way to it, bounded in bytes.
//!
//! The run's broadcast keeps an event until every terminal has taken it. A session used to take
//! its next event only between writes to its terminal, so a terminal that stops reading (a
//! stalled SSH session, `watch --json | less` left open) made the engine hold up to
//! [`crate::server::QUEUE`] events of a flood for it — up to 64 MiB of output. Now, while the
//! session waits on a write ([`Live::while_writing`]), it goes on taking events off the
//! broadcast and holds them itself, up to [`QUEUE_BYTES`]; past that it lets go of the
//! broadcast and the terminal is sent a fresh snapshot once the write is done (as one that fell
//! [`crate::server::QUEUE`] events behind is). A terminal that keeps up costs nothing more:
//! its events come straight from the broadcast, with no task or queue between.

use std::collections::VecDeque;
use std::sync::Arc;

use cutover_model::protocol::Event;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// Bytes of live events (output text, and [`OTHER_BYTES`] for any other event) a session holds
/// for its terminal before the terminal counts as fallen behind.
pub(crate) const QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// What an event other than output counts for: more than most of them take.
const OTHER_BYTES: usize = 512;

/// Events other than output held past the budget at most, where output is left out instead
/// ([`Overflow::SkipOutput`]): beyond them, the terminal is behind all the same.
const OTHER_MAX: usize = 4096;

/// What a terminal whose session holds [`QUEUE_BYTES`] for it and gets more is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// A fresh snapshot: nothing more is taken for it until then (a run's terminal).
    Resync,
    /// Every event but the output that does not fit, which is counted where it was left out
    /// (a fleet's `watch --json`, which has no snapshot to resume from: it still gets each
    /// member's end).
    SkipOutput,
}

/// Output left out for a terminal, in one place of its stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LeftOut {
    /// Output events.
    pub(crate) events: u64,
    /// The lines they held (what a reader counts).
    pub(crate) lines: u64,
}

impl LeftOut {
    fn add(&mut self, ev: &Event) {
        if let Event::Output { text, skipped, .. } = ev {
            self.events += 1;
            self.lines += crate::tail::lines_of(text) + skipped;
        }
    }
}

/// One thing held for a terminal.
#[derive(Debug)]
enum Held {
    Event(Arc<Event>),
    /// This output was left out here.
    Skipped(LeftOut),
}

/// What `ev` counts for against [`QUEUE_BYTES`].
fn weight(ev: &Event) -> usize {
    match ev {
        Event::Output { text, .. } => text.len() + OTHER_BYTES,
        _ => OTHER_BYTES,
    }
}

/// The next live event for a terminal.
#[derive(Debug)]
pub(crate) enum Next {
    /// The next event, in order.
    Event(Arc<Event>),
    /// The terminal fell at least this many events behind: it needs a snapshot.
    Behind(u64),
    /// The broadcast closed: no more events.
    Closed,
    /// With [`Overflow::SkipOutput`]: this output was left out here.
    Skipped(LeftOut),
    /// With [`Live::try_recv`]: nothing yet.
    Empty,
}

/// One terminal's live events: the broadcast, and what was taken off it during a write.
pub(crate) struct Live {
    /// `None` once the terminal fell behind (its slots in the broadcast are let go: then
    /// `behind` > 0) or the broadcast closed (then the held events are the last).
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    held: VecDeque<Held>,
    bytes: usize,
    overflow: Overflow,
    /// Events the terminal will not be sent (0: it is not behind).
    behind: u64,
    budget: usize,
}

impl Live {
    /// Live events from `rx`, holding at most `budget` bytes of them during writes.
    pub(crate) fn new(rx: broadcast::Receiver<Arc<Event>>, budget: usize) -> Self {
        Live::with_overflow(rx, budget, Overflow::Resync)
    }

    /// [`new`](Self::new), saying what becomes of what does not fit.
    pub(crate) fn with_overflow(
        rx: broadcast::Receiver<Arc<Event>>,
        budget: usize,
        overflow: Overflow,
    ) -> Self {
        Live {
            rx: Some(rx),
            held: VecDeque::new(),
            bytes: 0,
            overflow,
            behind: 0,
            budget,
        }
    }

    /// The next event: those held first, then the broadcast's. Cancel-safe.
    pub(crate) async fn recv(&mut self) -> Next {
        if let Some(next) = self.ready() {
            return next;
        }
        let Some(rx) = self.rx.as_mut() else {
            return Next::Closed;
        };
        let got = rx.recv().await;
        self.took(got)
    }

    /// [`recv`](Self::recv) without waiting: [`Next::Empty`] when nothing is there yet.
    pub(crate) fn try_recv(&mut self) -> Next {
        if let Some(next) = self.ready() {
            return next;
        }
        let Some(rx) = self.rx.as_mut() else {
            return Next::Closed;
        };
        match rx.try_recv() {
            Ok(ev) => self.took(Ok(ev)),
            Err(TryRecvError::Lagged(n)) => self.took(Err(RecvError::Lagged(n))),
            Err(TryRecvError::Closed) => self.took(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => Next::Empty,
        }
    }

    /// What is due before the broadcast: the fall behind, a held event.
    fn ready(&mut self) -> Option<Next> {
        if self.behind > 0 {
            return Some(Next::Behind(self.behind));
        }
        match self.held.pop_front() {
            Some(Held::Event(ev)) => {
                self.bytes -= weight(&ev);
                Some(Next::Event(ev))
            }
            Some(Held::Skipped(n)) => Some(Next::Skipped(n)),
            None => None,
        }
    }

    /// One result from the broadcast, as the terminal's next.
    fn took(&mut self, got: Result<Arc<Event>, RecvError>) -> Next {
        match got {
            Ok(ev) => Next::Event(ev),
            Err(RecvError::Lagged(n)) => {
                self.fall(n);
                Next::Behind(self.behind)
            }
            Err(RecvError::Closed) => {
                self.rx = None;
                Next::Closed
            }
        }
    }

    /// Runs `write` (a write to the terminal), taking events off the broadcast while it waits.
    pub(crate) async fn while_writing<F: std::future::Future>(&mut self, write: F) -> F::Output {
        let mut write = std::pin::pin!(write);
        loop {
            let taking = self.rx.is_some();
            tokio::select! {
                biased;
                out = &mut write => return out,
                got = async { Some(self.rx.as_mut()?.recv().await) }, if taking => {
                    if let Some(got) = got {
                        self.hold(got);
                    }
                }
            }
        }
    }

    /// Keeps one result taken during a write: past the budget, the terminal is behind.
    fn hold(&mut self, got: Result<Arc<Event>, RecvError>) {
        match got {
            Ok(ev) => {
                let w = weight(&ev);
                // One event larger than the whole budget still goes to a terminal that keeps up.
                let fits = self.bytes + w <= self.budget || self.held.is_empty();
                let output = matches!(ev.as_ref(), Event::Output { .. });
                match self.overflow {
                    _ if fits => self.keep(ev, w),
                    Overflow::SkipOutput if output => match self.held.back_mut() {
                        Some(Held::Skipped(left)) => left.add(&ev),
                        _ => {
                            let mut left = LeftOut::default();
                            left.add(&ev);
                            self.held.push_back(Held::Skipped(left));
                        }
                    },
                    Overflow::SkipOutput if self.held.len() < OTHER_MAX => self.keep(ev, w),
                    _ => self.fall(1),
                }
            }
            // As when taken between writes: behind, or closed.
            Err(e) => {
                self.took(Err(e));
            }
        }
    }

    fn keep(&mut self, ev: Arc<Event>, w: usize) {
        self.bytes += w;
        self.held.push_back(Held::Event(ev));
    }

    /// The terminal fell behind by `n` events besides those held: all are let go, and so is
    /// the broadcast (it keeps nothing more for this terminal).
    fn fall(&mut self, n: u64) {
        self.behind = self.held.len() as u64 + n.max(1);
        self.held.clear();
        self.bytes = 0;
        self.rx = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::protocol::Stream;

    fn output(bytes: usize) -> Arc<Event> {
        Arc::new(Event::Output {
            index: 0,
            stream: Stream::Stdout,
            text: "x".repeat(bytes),
            at: None,
            skipped: 0,
        })
    }

    fn len_of(next: Next) -> usize {
        match next {
            Next::Event(ev) => match ev.as_ref() {
                Event::Output { text, .. } => text.len(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    /// A write that is done once `go` is told.
    async fn stalled_write(go: tokio::sync::oneshot::Receiver<()>) -> &'static str {
        let _ = go.await;
        "written"
    }

    #[tokio::test]
    async fn events_taken_during_a_write_come_first_and_in_order() {
        let (tx, rx) = broadcast::channel(16);
        let mut live = Live::new(rx, 1_000_000);
        let (go, wait) = tokio::sync::oneshot::channel();
        for n in 1..=3 {
            tx.send(output(n)).unwrap();
        }
        let sender = async {
            tokio::task::yield_now().await;
            go.send(()).unwrap();
        };
        let (written, ()) = tokio::join!(live.while_writing(stalled_write(wait)), sender);
        assert_eq!(written, "written");
        // Taken off the broadcast during the write.
        assert!(tx.is_empty());
        tx.send(output(4)).unwrap();
        for n in 1..=4 {
            assert_eq!(len_of(live.recv().await), n);
        }
        assert!(matches!(live.try_recv(), Next::Empty));
        drop(tx);
        assert!(matches!(live.recv().await, Next::Closed));
    }

    #[tokio::test]
    async fn a_terminal_that_stops_reading_holds_no_more_than_the_budget() {
        let (tx, rx) = broadcast::channel(1024);
        let budget = 100 * 1024;
        let mut live = Live::new(rx, budget);
        let (go, wait) = tokio::sync::oneshot::channel();
        // The write does not end while 200 events of 4 KiB come: eight times the budget.
        let flood = async {
            for _ in 0..200 {
                let _ = tx.send(output(4096));
                tokio::task::yield_now().await;
            }
            // The broadcast holds nothing for the stalled terminal.
            assert!(tx.is_empty());
            go.send(()).unwrap();
        };
        let (written, ()) = tokio::join!(live.while_writing(stalled_write(wait)), flood);
        assert_eq!(written, "written");
        assert!(live.bytes <= budget && live.held.is_empty());
        // Told at once that it fell behind, by more than it could hold.
        match live.recv().await {
            Next::Behind(n) => assert!(n > 20, "{n}"),
            other => panic!("{other:?}"),
        }
        // It let go of the broadcast: what comes now is not kept for it.
        assert_eq!(tx.receiver_count(), 0);
    }

    #[tokio::test]
    async fn past_the_budget_output_is_counted_out_and_the_rest_kept() {
        let (tx, rx) = broadcast::channel(1024);
        let mut live = Live::with_overflow(rx, 10 * 1024, Overflow::SkipOutput);
        let (go, wait) = tokio::sync::oneshot::channel();
        let flood = async {
            for i in 0..20 {
                tx.send(output(1024)).unwrap();
                if i == 15 {
                    tx.send(Arc::new(Event::Ready { next: 7 })).unwrap();
                }
                tokio::task::yield_now().await;
            }
            go.send(()).unwrap();
        };
        tokio::join!(live.while_writing(stalled_write(wait)), flood);
        let mut got = Vec::new();
        loop {
            match live.try_recv() {
                Next::Event(ev) => {
                    got.push(format!("{:?}", ev.as_ref()).chars().take(12).collect())
                }
                Next::Skipped(left) => {
                    // Each event is one unfinished line of 1 KiB.
                    assert_eq!(left.lines, left.events);
                    got.push(format!("skipped {}", left.events));
                }
                Next::Empty => break,
                other => panic!("{other:?}"),
            }
        }
        // Six of 1.5 KiB (1 KiB of text, and what any event counts for) fit in 10 KiB; the rest
        // of the output is counted out in its place, around the event that is not output.
        assert_eq!(got.len(), 9, "{got:?}");
        assert!(got[..6].iter().all(|g| g.starts_with("Output")), "{got:?}");
        assert_eq!(
            got[6..],
            ["skipped 10", "Ready { next", "skipped 4"],
            "{got:?}"
        );
        assert_eq!(tx.receiver_count(), 1, "it still follows the broadcast");
    }

    #[tokio::test]
    async fn one_event_larger_than_the_budget_still_goes_through() {
        let (tx, rx) = broadcast::channel(16);
        let mut live = Live::new(rx, 1000);
        let (go, wait) = tokio::sync::oneshot::channel();
        let sender = async {
            tx.send(output(5000)).unwrap();
            tokio::task::yield_now().await;
            go.send(()).unwrap();
        };
        tokio::join!(live.while_writing(stalled_write(wait)), sender);
        assert_eq!(len_of(live.recv().await), 5000);
    }
}
