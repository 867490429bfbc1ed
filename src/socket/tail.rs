//! What a terminal that keeps only a tail of each step's output is sent of a flood.
//!
//! The cockpit keeps a step's newest 10,000 lines. While a step floods output, its session
//! sends the first chunk at once and then gathers what comes for [`PACE`]; of the gathered
//! events, a step's output that the newer lines of the same batch would push out of the
//! terminal's tail is not sent, and the first output sent for that step says how many lines
//! were left out, so the terminal's line numbers stay true. Every other event goes out as it
//! came, in order. The journal, the output file, `watch --json` and the history a late
//! terminal is sent keep every line; only what crosses this socket to this terminal shrinks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cutover_model::protocol::Event;

/// How long a session gathers live events after it sent a chunk of output to a tail-keeping
/// terminal: a sixth of the cockpit's frame interval (and what the broadcast queue holds
/// for it meanwhile), far below what an eye sees.
pub(crate) const PACE: Duration = Duration::from_millis(5);

/// Live events taken from the queue at most in one gathering (the queue holds 1,024).
pub(crate) const GATHER_MAX: usize = 1024;

/// The lines an output text adds on a terminal: one per `\n`, plus an unfinished last line.
fn lines_of(text: &str) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
    newlines + u64::from(!text.is_empty() && !text.ends_with('\n'))
}

/// Which of `batch` a terminal keeping `tail` lines per step is sent, in order: each as its
/// position in `batch` and the lines skipped before it (for an output event: this step's lines
/// left out since the last one sent; 0 for all else). A step's output is left out only when
/// later output of the same step in the batch already brings `tail` lines.
pub(crate) fn trim(batch: &[Arc<Event>], tail: usize) -> Vec<(usize, u64)> {
    let tail = tail.max(1) as u64;
    let mut newer: HashMap<usize, u64> = HashMap::new();
    let mut left_out: HashMap<usize, u64> = HashMap::new();
    let mut send = vec![true; batch.len()];
    for (i, ev) in batch.iter().enumerate().rev() {
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
            *left_out.entry(*index).or_default() += lines_of(text) + skipped;
        } else {
            *seen += lines_of(text);
        }
    }
    send.iter()
        .enumerate()
        .filter(|(_, s)| **s)
        .map(|(i, _)| {
            let skipped = match batch[i].as_ref() {
                Event::Output { index, .. } => left_out.remove(index).unwrap_or(0),
                _ => 0,
            };
            (i, skipped)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::protocol::Stream;

    fn out(index: usize, from: usize, to: usize) -> Arc<Event> {
        Arc::new(Event::Output {
            index,
            stream: Stream::Stdout,
            text: (from..to).map(|i| format!("{i}\n")).collect(),
            at: None,
            skipped: 0,
        })
    }

    /// The lines a terminal holds after the sent events, newest `tail` of step `index`, and
    /// the number it gives the first of them.
    fn held(batch: &[Arc<Event>], sent: &[(usize, u64)], index: usize, tail: usize) -> Vec<u64> {
        let mut lines = Vec::new();
        let mut number = 0u64;
        for &(i, skipped) in sent {
            if let Event::Output { index: s, text, .. } = batch[i].as_ref()
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
        let mut batch = vec![Arc::new(Event::Ready { next: 0 })];
        for c in 0..100 {
            batch.push(out(0, c * 1000, (c + 1) * 1000));
        }
        batch.push(Arc::new(Event::Ready { next: 1 }));
        let sent = trim(&batch, 10_000);
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
        let sent = trim(&batch, 10);
        // Step 0 holds 8 lines < 10: all sent; step 1's first chunk is pushed out by 17 newer.
        assert_eq!(sent, vec![(0, 0), (2, 0), (3, 3)]);
        assert_eq!(held(&batch, &sent, 1, 10), (10..20).collect::<Vec<_>>());
    }

    #[test]
    fn skipped_lines_already_counted_carry_over_and_a_blank_tail_keeps_one() {
        let mut first = Event::Output {
            index: 0,
            stream: Stream::Stderr,
            text: "a\nb".into(),
            at: None,
            skipped: 7,
        };
        let batch = vec![Arc::new(first.clone()), out(0, 9, 10)];
        assert_eq!(lines_of("a\nb"), 2);
        assert_eq!(lines_of(""), 0);
        // A tail of 0 is taken as 1: the newest chunk always goes.
        assert_eq!(trim(&batch, 0), vec![(1, 9)]);
        if let Event::Output { text, .. } = &mut first {
            text.clear();
        }
        assert_eq!(trim(&[Arc::new(first)], usize::MAX), vec![(0, 0)]);
    }
}
