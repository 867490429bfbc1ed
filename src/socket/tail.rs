//! What a terminal that keeps only a tail of each step's output is sent of a flood.
//!
//! The cockpit keeps a step's newest 10,000 lines. While a step floods output, its session
//! sends the first chunk at once and then gathers what comes for [`PACE`] (taking each event
//! from its queue as it comes, trimming past [`PENDING_MAX`]); of the gathered events, a
//! step's output that the newer lines of the same batch would push out of the terminal's tail
//! is not sent, and the first output sent for that step says how many lines were left out, so
//! the terminal's line numbers stay true. Every other event goes out as it
//! came, in order. The journal, the output file, `watch --json` and the history a late
//! terminal is sent keep every line; only what crosses this socket to this terminal shrinks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cutover_model::protocol::Event;

/// How long a session gathers live events after it sent a chunk of output to a tail-keeping
/// terminal: a sixth of the cockpit's frame interval, far below what an eye sees.
pub(crate) const PACE: Duration = Duration::from_millis(5);

/// Events gathered at most before they are trimmed (and, when still many, sent at once): the
/// session keeps taking events from its queue while it gathers, so it never falls behind for
/// gathering.
pub(crate) const PENDING_MAX: usize = 256;

/// The lines an output text adds on a terminal: one per `\n`, plus an unfinished last line.
pub(crate) fn lines_of(text: &str) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
    newlines + u64::from(!text.is_empty() && !text.ends_with('\n'))
}

/// An event on its way to a terminal and the lines of its step left out before it (0 for any
/// event but output).
pub(crate) type Gathered = (Arc<Event>, u64);

/// Which of `batch` a terminal keeping `tail` lines per step is sent, in order, each with the
/// lines of its step left out before it. A step's output is left out only when later output of
/// the same step in the batch already brings `tail` lines; what it carried is added to the next
/// output of that step that is sent.
pub(crate) fn trim(batch: &[Gathered], tail: usize) -> Vec<Gathered> {
    let tail = tail.max(1) as u64;
    let mut newer: HashMap<usize, u64> = HashMap::new();
    let mut left_out: HashMap<usize, u64> = HashMap::new();
    let mut send = vec![true; batch.len()];
    for (i, (ev, carried)) in batch.iter().enumerate().rev() {
        let Event::Output {
            index,
            text,
            skipped,
            ..
        } = ev.as_ref()
        else {
            continue;
        };
        let seen = newer.entry(*index).or_default();
        if *seen >= tail {
            send[i] = false;
            *left_out.entry(*index).or_default() += lines_of(text) + skipped + carried;
        } else {
            *seen += lines_of(text);
        }
    }
    batch
        .iter()
        .zip(send)
        .filter(|(_, s)| *s)
        .map(|((ev, carried), _)| {
            let before = match ev.as_ref() {
                Event::Output { index, .. } => left_out.remove(index).unwrap_or(0),
                _ => 0,
            };
            (ev.clone(), carried + before)
        })
        .collect()
}

/// What a tail-keeping terminal's session gathered while it waits to send.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    events: Vec<Gathered>,
}

impl Pending {
    /// Takes one event; past [`PENDING_MAX`] what is gathered is trimmed to `tail` at once.
    /// True when it is still that many after trimming: send it now.
    pub(crate) fn push(&mut self, ev: Arc<Event>, tail: usize) -> bool {
        self.events.push((ev, 0));
        if self.events.len() < PENDING_MAX {
            return false;
        }
        self.events = trim(&self.events, tail);
        self.events.len() >= PENDING_MAX / 2
    }

    /// What is to be sent, trimmed to `tail`; nothing stays gathered.
    pub(crate) fn take(&mut self, tail: usize) -> Vec<Gathered> {
        let events = std::mem::take(&mut self.events);
        trim(&events, tail)
    }

    /// Forgets what was gathered (a snapshot that holds it is sent instead).
    pub(crate) fn clear(&mut self) {
        self.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::protocol::Stream;

    fn out(index: usize, from: usize, to: usize) -> Gathered {
        let ev = Event::Output {
            index,
            stream: Stream::Stdout,
            text: (from..to).map(|i| format!("{i}\n")).collect(),
            at: None,
            skipped: 0,
        };
        (Arc::new(ev), 0)
    }

    /// Positions in `batch` of what `trim` sends, with the lines left out before each.
    fn sent(batch: &[Gathered], tail: usize) -> Vec<(usize, u64)> {
        trim(batch, tail)
            .into_iter()
            .map(|(ev, n)| {
                let at = batch.iter().position(|(e, _)| Arc::ptr_eq(e, &ev));
                (at.unwrap(), n)
            })
            .collect()
    }

    /// An event that is not output.
    fn other(next: usize) -> Gathered {
        (Arc::new(Event::Ready { next }), 0)
    }

    /// The numbers of the lines a terminal holds after the sent events: the newest `tail` of
    /// step `index`, each checked against the number its text says.
    fn held(batch: &[Gathered], sent: &[(usize, u64)], index: usize, tail: usize) -> Vec<u64> {
        let mut lines = Vec::new();
        let mut number = 0u64;
        for &(i, skipped) in sent {
            if let Event::Output { index: s, text, .. } = batch[i].0.as_ref()
                && *s == index
            {
                number += skipped;
                for l in text.lines() {
                    assert_eq!(l.parse::<u64>().unwrap(), number, "numbering");
                    lines.push(number);
                    number += 1;
                }
            }
        }
        lines.split_off(lines.len().saturating_sub(tail))
    }

    #[test]
    fn a_flood_sends_only_what_the_terminal_keeps_with_true_line_numbers() {
        let mut batch = vec![other(0)];
        for c in 0..100 {
            batch.push(out(0, c * 1000, (c + 1) * 1000));
        }
        batch.push(other(1));
        let sent = sent(&batch, 10_000);
        // The two other events and the last ten chunks: nothing more.
        assert_eq!(sent.len(), 12);
        assert_eq!(sent[0], (0, 0));
        assert_eq!(sent[1], (91, 90_000));
        assert!(sent[2..].iter().all(|&(_, s)| s == 0));
        assert_eq!(sent.last(), Some(&(101, 0)));
        let all: Vec<(usize, u64)> = (0..batch.len()).map(|i| (i, 0)).collect();
        assert_eq!(
            held(&batch, &sent, 0, 10_000),
            held(&batch, &all, 0, 10_000)
        );
    }

    #[test]
    fn another_steps_output_and_what_does_not_fill_the_tail_all_go() {
        let batch = vec![out(0, 0, 5), out(1, 0, 3), out(0, 5, 8), out(1, 3, 20)];
        let sent = sent(&batch, 10);
        // Step 0 holds 8 lines < 10: all sent; step 1's first chunk is pushed out by 17 newer.
        assert_eq!(sent, vec![(0, 0), (2, 0), (3, 3)]);
        assert_eq!(held(&batch, &sent, 1, 10), (10..20).collect::<Vec<_>>());
    }

    #[test]
    fn lines_already_left_out_carry_over_and_a_blank_tail_keeps_one() {
        let mut first = Event::Output {
            index: 0,
            stream: Stream::Stderr,
            text: "a\nb".into(),
            at: None,
            skipped: 7,
        };
        // 7 the engine said, 5 an earlier trim carried, 2 lines of its own.
        let batch = vec![(Arc::new(first.clone()), 5), out(0, 9, 10)];
        assert_eq!(lines_of("a\nb"), 2);
        assert_eq!(lines_of(""), 0);
        // A tail of 0 is taken as 1: the newest chunk always goes.
        assert_eq!(sent(&batch, 0), vec![(1, 14)]);
        // Kept, an event keeps what it carried.
        assert_eq!(sent(&batch, 100), vec![(0, 5), (1, 0)]);
        if let Event::Output { text, .. } = &mut first {
            text.clear();
        }
        assert_eq!(sent(&[(Arc::new(first), 0)], usize::MAX), vec![(0, 0)]);
    }

    /// Gathering trims as it goes: however long a flood, what waits stays under the bound,
    /// and what comes out numbers every line.
    #[test]
    fn what_is_gathered_stays_bounded_and_counted() {
        let mut pending = Pending::default();
        let mut sent_lines = 0u64;
        let mut left_out = 0u64;
        for c in 0..10_000 {
            let (ev, _) = out(0, c * 10, (c + 1) * 10);
            // Ten-line chunks trim to a dozen events: never so many that they go at once.
            assert!(!pending.push(ev, 100));
            assert!(pending.events.len() < PENDING_MAX);
        }
        for (ev, n) in pending.take(100) {
            if let Event::Output { text, .. } = ev.as_ref() {
                sent_lines += lines_of(text);
                left_out += n;
            }
        }
        assert_eq!(sent_lines + left_out, 100_000);
        assert!((100..=110).contains(&sent_lines), "{sent_lines}");
        assert!(pending.take(100).is_empty());
        // Events of no step's output are never trimmed: past the bound, they go at once.
        let mut others = Pending::default();
        let now: Vec<bool> = (0..PENDING_MAX)
            .map(|i| others.push(other(i).0, 100))
            .collect();
        assert_eq!(now.iter().filter(|n| **n).count(), 1);
        assert!(now[PENDING_MAX - 1]);
        others.clear();
        assert!(others.take(100).is_empty());
    }
}
