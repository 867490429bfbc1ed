//! A step's output as the cockpit keeps it: the tail only, bounded, with a scroll position.
//!
//! Output arrives in blocks (all the lines of one read); a block is kept as one string with
//! the offsets of its lines, so an output flood costs one allocation per block, not per line.

use std::cell::OnceCell;
use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use cutover_model::protocol::Stream;

/// Lines kept per step; older lines are dropped (the full output is in the step's output file).
pub const OUTPUT_CAP: usize = 10_000;

/// Bytes of output kept for all steps together: lines can be 16 KiB long, so the line cap
/// alone would let a few noisy steps hold gigabytes. Past this, the oldest output of other
/// steps goes first (it stays in their output files).
pub const OUTPUT_MEMORY_CAP: usize = 64 * 1024 * 1024;

/// Lines of one stream, as they arrived together.
#[derive(Debug, Clone)]
struct Block {
    stream: Stream,
    /// When the engine read it (`None` from an engine that does not say).
    at: Option<DateTime<Utc>>,
    /// The lines, each followed by `\n`.
    text: String,
    /// How many lines.
    lines: usize,
    /// Where each line starts in `text`: worked out the first time a line of the block is
    /// shown (most blocks of a flood are dropped unseen).
    starts: OnceCell<Vec<usize>>,
}

impl Block {
    /// A block of `text` (lines separated by `\n`; a missing last `\n` is added).
    fn new(stream: Stream, mut text: String, at: Option<DateTime<Utc>>) -> Self {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // memchr's count is vectorised: no work per line.
        let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count();
        Block {
            stream,
            at,
            text,
            lines,
            starts: OnceCell::new(),
        }
    }

    /// Line `i`, without its `\n`.
    fn line(&self, i: usize) -> &str {
        let starts = self.starts.get_or_init(|| {
            let mut starts = Vec::with_capacity(self.lines);
            starts.push(0);
            let last = self.text.len() - 1;
            starts.extend(memchr::memchr_iter(b'\n', &self.text.as_bytes()[..last]).map(|i| i + 1));
            starts
        });
        let from = starts[i];
        let to = starts.get(i + 1).copied().unwrap_or(self.text.len()) - 1;
        &self.text[from..to]
    }
}

/// Whether a line holds `needle`: case is ignored unless the needle has a capital letter
/// (as in `less`).
pub fn matcher(needle: &str) -> impl Fn(&str) -> bool + '_ {
    let exact = needle.chars().any(char::is_uppercase);
    let lower = needle.to_lowercase();
    move |line: &str| {
        if exact {
            line.contains(needle)
        } else {
            line.to_lowercase().contains(&lower)
        }
    }
}

/// One kept line as the screen shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown<'a> {
    /// Its number, counted from the step's first line (dropped lines included).
    pub number: u64,
    /// Which stream it came from.
    pub stream: Stream,
    /// The text, without its `\n`.
    pub text: &'a str,
    /// When it arrived, when the engine said.
    pub at: Option<DateTime<Utc>>,
}

/// The kept tail of one step's output.
#[derive(Debug, Clone)]
pub struct OutputBuffer {
    blocks: VecDeque<Block>,
    /// Lines of the first block that are already dropped.
    head: usize,
    /// Lines kept.
    len: usize,
    /// Bytes held by the kept blocks.
    bytes: usize,
    cap: usize,
    dropped: u64,
}

impl Default for OutputBuffer {
    fn default() -> Self {
        Self::with_cap(OUTPUT_CAP)
    }
}

impl OutputBuffer {
    /// A buffer keeping at most `cap` lines (at least 1).
    pub fn with_cap(cap: usize) -> Self {
        OutputBuffer {
            blocks: VecDeque::new(),
            head: 0,
            len: 0,
            bytes: 0,
            cap: cap.max(1),
            dropped: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the oldest block (memory is short); returns the bytes freed, 0 when there is at
    /// most one block left (the newest lines always stay).
    pub fn shed_oldest(&mut self) -> usize {
        if self.blocks.len() < 2 {
            return 0;
        }
        let Some(front) = self.blocks.pop_front() else {
            return 0;
        };
        let gone = front.lines - self.head;
        self.len -= gone;
        self.dropped += gone as u64;
        self.head = 0;
        self.bytes -= front.text.len();
        front.text.len()
    }

    /// Appends lines of one stream (`text` split at `\n`; an empty text adds nothing),
    /// dropping the oldest beyond the cap. Returns the number of lines added.
    pub fn push(&mut self, stream: Stream, text: String) -> usize {
        self.push_at(stream, text, None)
    }

    /// [`push`](Self::push) for lines read at `at`.
    pub fn push_at(&mut self, stream: Stream, text: String, at: Option<DateTime<Utc>>) -> usize {
        if text.is_empty() {
            return 0;
        }
        let block = Block::new(stream, text, at);
        let added = block.lines;
        self.len += added;
        self.bytes += block.text.len();
        self.blocks.push_back(block);
        while self.len > self.cap {
            let Some(front) = self.blocks.front() else {
                break;
            };
            let excess = self.len - self.cap;
            let left = front.lines - self.head;
            let gone = excess.min(left);
            self.len -= gone;
            self.dropped += gone as u64;
            if gone == left {
                if let Some(b) = self.blocks.pop_front() {
                    self.bytes -= b.text.len();
                }
                self.head = 0;
            } else {
                self.head += gone;
            }
        }
        added
    }

    /// Counts `n` lines that came before the next ones and were never sent here (the engine
    /// leaves out what the cap would drop at once): they number like dropped lines, and every
    /// line kept so far, older than they, is dropped too (what is kept is always the newest
    /// lines, with no gap).
    pub fn skip(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.dropped = self
            .dropped
            .saturating_add(self.len as u64)
            .saturating_add(n);
        self.blocks.clear();
        self.head = 0;
        self.len = 0;
        self.bytes = 0;
    }

    /// Appends one marker line (e.g. between attempts), shown at `at`.
    pub fn marker(&mut self, text: impl Into<String>, at: DateTime<Utc>) {
        self.push_at(Stream::Stdout, text.into(), Some(at));
    }

    /// Lines kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lines dropped from the front so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The `height` lines visible when scrolled `scroll` lines up from the bottom, oldest first.
    pub fn window(&self, height: usize, scroll: usize) -> impl Iterator<Item = (Stream, &str)> {
        self.shown(height, scroll).map(|l| (l.stream, l.text))
    }

    /// [`window`](Self::window) with each line's number and arrival time.
    pub fn shown(&self, height: usize, scroll: usize) -> impl Iterator<Item = Shown<'_>> {
        let end = self.len.saturating_sub(scroll);
        let start = end.saturating_sub(height);
        self.range(start, end)
    }

    /// Kept lines `start..end` (0 = the oldest kept).
    fn range(&self, start: usize, end: usize) -> impl Iterator<Item = Shown<'_>> {
        // Find the block holding line `start` from the back: the view is usually at the tail.
        let mut before = self.len;
        let mut at = self.blocks.len();
        while at > 0 && before > start {
            at -= 1;
            let kept = self.blocks[at].lines - if at == 0 { self.head } else { 0 };
            before -= kept;
        }
        let mut line = start - before + if at == 0 { self.head } else { 0 };
        let mut block = at;
        let dropped = self.dropped;
        (start..end).map_while(move |i| {
            while self.blocks.get(block)?.lines <= line {
                block += 1;
                line = 0;
            }
            let b = &self.blocks[block];
            line += 1;
            Some(Shown {
                number: dropped + i as u64,
                stream: b.stream,
                text: b.line(line - 1),
                at: b.at,
            })
        })
    }

    /// The kept line numbered `number` (counted from the step's first line), if still kept.
    pub fn position(&self, number: u64) -> Option<usize> {
        let i = number.checked_sub(self.dropped)?;
        (i < self.len as u64).then_some(i as usize)
    }

    /// The number of the nearest line holding `needle` strictly before (`older`) or after line
    /// `from`, or from the newest (older) / oldest end when `from` is `None`. Case is ignored
    /// unless the needle has a capital letter (as in `less`).
    pub fn find(&self, needle: &str, from: Option<u64>, older: bool) -> Option<u64> {
        if needle.is_empty() {
            return None;
        }
        let holds = matcher(needle);
        let hit = |l: &Shown<'_>| holds(l.text);
        // A line already dropped from the front: count from the oldest kept one.
        let from = from.map(|n| self.position(n).unwrap_or(0));
        if older {
            let end = from.unwrap_or(self.len);
            self.range(0, end).filter(hit).last().map(|l| l.number)
        } else {
            let start = from.map_or(0, |f| f + 1);
            self.range(start.min(self.len), self.len)
                .find(|l| hit(l))
                .map(|l| l.number)
        }
    }

    /// How many kept lines hold `needle`, and how many of those come after line `number`
    /// (the same matching as [`find`](Self::find)).
    pub fn count(&self, needle: &str, number: u64) -> (usize, usize) {
        let holds = matcher(needle);
        let mut total = 0;
        let mut after = 0;
        for l in self.range(0, self.len) {
            if holds(l.text) {
                total += 1;
                if l.number > number {
                    after += 1;
                }
            }
        }
        (total, after)
    }

    /// The largest useful scroll offset for a view `height` lines tall.
    pub fn max_scroll(&self, height: usize) -> usize {
        self.len.saturating_sub(height)
    }
}

/// Where the output view is: following the tail, or scrolled up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputView {
    /// Lines up from the bottom (0 = the tail).
    pub scroll: usize,
    /// Stick to the tail as lines arrive.
    pub follow: bool,
}

impl Default for OutputView {
    fn default() -> Self {
        OutputView {
            scroll: 0,
            follow: true,
        }
    }
}

impl OutputView {
    /// New lines arrived: a scrolled view stays on the same lines.
    pub fn on_lines(&mut self, added: usize) {
        if !self.follow {
            self.scroll = self.scroll.saturating_add(added);
        }
    }

    /// Scrolls up by `n`, leaving follow mode.
    pub fn up(&mut self, n: usize, max: usize) {
        self.follow = false;
        self.scroll = (self.scroll.min(max) + n).min(max);
    }

    /// Scrolls down by `n`; reaching the tail does not re-enable follow (press `f` or `G`).
    pub fn down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }

    /// To the oldest kept line.
    pub fn top(&mut self, max: usize) {
        self.follow = false;
        self.scroll = max;
    }

    /// To the tail, following.
    pub fn bottom(&mut self) {
        self.follow = true;
        self.scroll = 0;
    }

    /// Toggles follow mode (on: jump to the tail).
    pub fn toggle_follow(&mut self) {
        if self.follow {
            self.follow = false;
        } else {
            self.bottom();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: std::ops::RangeInclusive<usize>) -> String {
        range.map(|i| format!("{i}\n")).collect()
    }

    fn texts(b: &OutputBuffer, height: usize, scroll: usize) -> Vec<String> {
        b.window(height, scroll)
            .map(|(_, l)| l.to_string())
            .collect()
    }

    #[test]
    fn keeps_the_tail_and_counts_dropped() {
        let mut b = OutputBuffer::with_cap(3);
        assert_eq!(b.push(Stream::Stdout, lines(1..=5)), 5);
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped(), 2);
        assert_eq!(texts(&b, 10, 0), ["3", "4", "5"]);
        // Dropping reaches into the next block, then whole blocks go.
        b.push(Stream::Stderr, lines(6..=7));
        assert_eq!(texts(&b, 10, 0), ["5", "6", "7"]);
        b.push(Stream::Stdout, lines(8..=20));
        assert_eq!(texts(&b, 10, 0), ["18", "19", "20"]);
        assert_eq!((b.len(), b.dropped()), (3, 17));
        assert_eq!(b.blocks.len(), 1);
    }

    #[test]
    fn lines_the_engine_left_out_number_like_dropped_ones_and_push_out_older_ones() {
        let mut b = OutputBuffer::with_cap(3);
        b.push(Stream::Stdout, lines(1..=2));
        b.skip(0);
        assert_eq!((b.len(), b.dropped()), (2, 0));
        // Lines 3 to 9 were never sent: 1 and 2, older, cannot stay ahead of a gap.
        b.skip(7);
        assert_eq!((b.len(), b.dropped(), b.bytes()), (0, 9, 0));
        b.push(Stream::Stdout, lines(10..=11));
        assert_eq!(texts(&b, 10, 0), ["10", "11"]);
        let numbers: Vec<u64> = b.shown(10, 0).map(|l| l.number).collect();
        assert_eq!(numbers, [9, 10]);
    }

    #[test]
    fn window_scrolls_from_the_bottom_across_blocks() {
        let mut b = OutputBuffer::with_cap(100);
        b.push(Stream::Stdout, lines(1..=4));
        b.push(Stream::Stderr, lines(5..=5));
        b.push(Stream::Stdout, lines(6..=10));
        assert_eq!(texts(&b, 3, 2), ["6", "7", "8"]);
        assert_eq!(b.max_scroll(3), 7);
        assert_eq!(texts(&b, 3, 7), ["1", "2", "3"]);
        assert_eq!(texts(&b, 3, 5), ["3", "4", "5"]);
        assert_eq!(texts(&b, 20, 0).len(), 10);
        assert_eq!(texts(&b, 0, 0), Vec::<String>::new());
        let streams: Vec<Stream> = b.window(3, 4).map(|(s, _)| s).collect();
        assert_eq!(streams, [Stream::Stdout, Stream::Stderr, Stream::Stdout]);
    }

    #[test]
    fn window_matches_a_plain_line_list_for_every_position() {
        // Blocks of uneven sizes, a cap that cuts into blocks, empty lines, a text without its
        // last newline: every window equals the same slice of a plain list of lines.
        let mut b = OutputBuffer::with_cap(25);
        let mut all: Vec<String> = Vec::new();
        let mut n = 0;
        for size in [1, 7, 3, 12, 1, 9, 4] {
            let block: Vec<String> = (0..size)
                .map(|i| {
                    n += 1;
                    if i == 1 {
                        String::new()
                    } else {
                        format!("l{n}")
                    }
                })
                .collect();
            let mut text = block.join("\n");
            if size != 3 {
                text.push('\n');
            }
            b.push(Stream::Stdout, text);
            all.extend(block);
        }
        let kept = &all[all.len() - 25..];
        assert_eq!(b.len(), 25);
        assert_eq!(b.dropped(), (all.len() - 25) as u64);
        for height in [0, 1, 5, 25, 40] {
            for scroll in 0..=26 {
                let end = 25usize.saturating_sub(scroll);
                let want = &kept[end.saturating_sub(height)..end];
                assert_eq!(
                    texts(&b, height, scroll),
                    want,
                    "height {height}, scroll {scroll}"
                );
            }
        }
    }

    #[test]
    fn markers_and_empty_texts() {
        let mut b = OutputBuffer::with_cap(10);
        assert_eq!(b.push(Stream::Stdout, String::new()), 0);
        assert!(b.is_empty());
        b.marker("── attempt 2 ──", chrono::Utc::now());
        b.push(Stream::Stdout, "\n".into());
        assert_eq!(texts(&b, 5, 0), ["── attempt 2 ──", ""]);
    }

    #[test]
    fn scrolled_view_stays_anchored_and_follow_does_not() {
        let mut v = OutputView::default();
        v.on_lines(5);
        assert_eq!(v.scroll, 0);
        v.up(3, 100);
        assert!(!v.follow);
        v.on_lines(5);
        assert_eq!(v.scroll, 8);
        v.down(100);
        assert_eq!(v.scroll, 0);
        v.toggle_follow();
        assert!(v.follow);
    }
}
