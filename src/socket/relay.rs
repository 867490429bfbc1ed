//! A terminal's live events on their way to it, bounded in bytes.
//!
//! The run's broadcast keeps an event until every terminal has taken it. A session takes its
//! next event only between writes to its terminal, so a terminal that stops reading (a stalled
//! SSH session, `watch --json | less` left open) used to hold up to [`crate::server::QUEUE`]
//! events of a flood — up to 64 MiB of output — in the engine. A relay task takes each event off the
//! broadcast as it comes and queues it for the session; past [`QUEUE_BYTES`] of unsent events it
//! stops and lets go of the broadcast, and the session sends its terminal a fresh snapshot
//! instead (as it does for a terminal that fell [`crate::server::QUEUE`] events behind).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cutover_model::protocol::Event;
use tokio::sync::{broadcast, mpsc};

/// Bytes of live events (output text, and [`OTHER_BYTES`] for any other event) queued for one
/// terminal before it counts as fallen behind.
pub(crate) const QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// What an event other than output counts for: more than most of them take.
const OTHER_BYTES: usize = 512;

/// What `ev` counts for in a relay's queue.
fn weight(ev: &Event) -> usize {
    match ev {
        Event::Output { text, .. } => text.len() + OTHER_BYTES,
        _ => OTHER_BYTES,
    }
}

/// The next live event for a terminal.
#[derive(Debug)]
pub(crate) enum Live {
    /// The next event, in order.
    Event(Arc<Event>),
    /// The terminal fell this many events behind: what was queued is gone; it needs a snapshot.
    Behind(u64),
    /// The engine is gone and every event it emitted was taken.
    Closed,
}

/// What the relay task and the session share.
#[derive(Debug, Default)]
struct Queued {
    bytes: AtomicUsize,
    events: AtomicUsize,
    /// The relay stopped: the terminal fell behind.
    behind: AtomicBool,
    /// Events the terminal will not be sent besides the queued ones: the one that did not fit,
    /// or those the broadcast dropped before the relay took them.
    dropped: AtomicUsize,
}

/// One terminal's queue of live events, filled by a task of its own.
pub(crate) struct Relay {
    rx: mpsc::UnboundedReceiver<Arc<Event>>,
    queued: Arc<Queued>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// Starts taking `live`'s events, queuing at most `budget` bytes of them.
    pub(crate) fn start(live: broadcast::Receiver<Arc<Event>>, budget: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        let task = tokio::spawn(take(live, tx, queued.clone(), budget));
        Relay { rx, queued, task }
    }

    /// The next live event; cancel-safe (nothing is taken unless it is returned).
    pub(crate) async fn recv(&mut self) -> Live {
        if self.queued.behind.load(Ordering::Acquire) {
            return self.behind();
        }
        match self.rx.recv().await {
            Some(ev) => {
                self.queued.bytes.fetch_sub(weight(&ev), Ordering::AcqRel);
                self.queued.events.fetch_sub(1, Ordering::AcqRel);
                Live::Event(ev)
            }
            None if self.queued.behind.load(Ordering::Acquire) => self.behind(),
            None => Live::Closed,
        }
    }

    /// The terminal fell behind: how many events it will not be sent (the queued ones, the one
    /// that did not fit, those the broadcast dropped).
    fn behind(&mut self) -> Live {
        let queued = self.queued.events.load(Ordering::Acquire);
        let dropped = self.queued.dropped.load(Ordering::Acquire);
        Live::Behind((queued + dropped) as u64)
    }
}

/// The relay task: moves each event from `live` to `tx` until the session is gone, the engine
/// is, or the queue would pass `budget` bytes (then it stops, dropping `live`: the broadcast
/// keeps nothing more for this terminal).
async fn take(
    mut live: broadcast::Receiver<Arc<Event>>,
    tx: mpsc::UnboundedSender<Arc<Event>>,
    queued: Arc<Queued>,
    budget: usize,
) {
    loop {
        let ev = match live.recv().await {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                queued.dropped.store(n, Ordering::Release);
                break;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let w = weight(&ev);
        let full = queued.bytes.load(Ordering::Acquire) + w > budget;
        // One event larger than the whole budget still goes to a terminal that keeps up.
        if full && queued.events.load(Ordering::Acquire) > 0 {
            queued.dropped.store(1, Ordering::Release);
            break;
        }
        queued.bytes.fetch_add(w, Ordering::AcqRel);
        queued.events.fetch_add(1, Ordering::AcqRel);
        if tx.send(ev).is_err() {
            return;
        }
    }
    queued.behind.store(true, Ordering::Release);
    // `tx` goes now: a session waiting on an empty queue wakes to find the terminal behind.
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

    /// Waits until the relay task has taken every event the broadcast holds (or stopped).
    async fn settled(tx: &broadcast::Sender<Arc<Event>>) {
        for _ in 0..1000 {
            if tx.is_empty() {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("the relay left {} events in the broadcast", tx.len());
    }

    #[tokio::test]
    async fn events_come_in_order_while_they_fit() {
        let (tx, rx) = broadcast::channel(16);
        let mut relay = Relay::start(rx, 10_000);
        for n in 1..=3 {
            tx.send(output(n)).unwrap();
        }
        for n in 1..=3 {
            match relay.recv().await {
                Live::Event(ev) => {
                    let Event::Output { text, .. } = ev.as_ref() else {
                        panic!("{ev:?}")
                    };
                    assert_eq!(text.len(), n);
                }
                other => panic!("{other:?}"),
            }
        }
        drop(tx);
        assert!(matches!(relay.recv().await, Live::Closed));
    }

    #[tokio::test]
    async fn a_terminal_that_stops_reading_holds_no_more_than_the_budget() {
        let (tx, rx) = broadcast::channel(1024);
        let budget = 100 * 1024;
        let mut relay = Relay::start(rx, budget);
        // Nobody reads: 200 events of 4 KiB, eight times the budget.
        for _ in 0..200 {
            tx.send(output(4096)).unwrap();
        }
        settled(&tx).await;
        // The broadcast holds nothing for the stalled terminal, and its queue is within budget.
        assert!(tx.is_empty());
        assert!(relay.queued.bytes.load(Ordering::Acquire) <= budget);
        assert!(relay.queued.behind.load(Ordering::Acquire));
        // Reading again, it is told at once that it fell behind, by more than the queue held.
        match relay.recv().await {
            Live::Behind(n) => assert!(n > 20, "{n}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn one_event_larger_than_the_budget_still_goes_through() {
        let (tx, rx) = broadcast::channel(16);
        let mut relay = Relay::start(rx, 1000);
        tx.send(output(5000)).unwrap();
        assert!(matches!(relay.recv().await, Live::Event(_)));
        tx.send(output(10)).unwrap();
        assert!(matches!(relay.recv().await, Live::Event(_)));
    }
}
