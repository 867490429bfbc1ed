//! A step's output as the cockpit keeps it: the tail only, bounded, with a scroll position.

use std::collections::VecDeque;

use crate::engine::event::{Line, Stream};

/// Lines kept per step; older lines are dropped (the full output is in the step's output file).
pub const OUTPUT_CAP: usize = 10_000;

/// The kept tail of one step's output.
#[derive(Debug, Clone)]
pub struct OutputBuffer {
    lines: VecDeque<Line>,
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
            lines: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
        }
    }

    /// Appends lines, dropping the oldest beyond the cap.
    pub fn extend(&mut self, lines: impl IntoIterator<Item = Line>) {
        for l in lines {
            if self.lines.len() == self.cap {
                self.lines.pop_front();
                self.dropped += 1;
            }
            self.lines.push_back(l);
        }
    }

    /// Appends one marker line (e.g. between attempts).
    pub fn marker(&mut self, text: impl Into<String>) {
        self.extend([Line {
            stream: Stream::Stdout,
            text: text.into(),
        }]);
    }

    /// Lines kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines dropped from the front so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The `height` lines visible when scrolled `scroll` lines up from the bottom.
    pub fn window(&self, height: usize, scroll: usize) -> impl Iterator<Item = &Line> {
        let end = self.lines.len().saturating_sub(scroll);
        let start = end.saturating_sub(height);
        self.lines.range(start..end)
    }

    /// The largest useful scroll offset for a view `height` lines tall.
    pub fn max_scroll(&self, height: usize) -> usize {
        self.lines.len().saturating_sub(height)
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

    fn line(i: usize) -> Line {
        Line {
            stream: Stream::Stdout,
            text: i.to_string(),
        }
    }

    #[test]
    fn keeps_the_tail_and_counts_dropped() {
        let mut b = OutputBuffer::with_cap(3);
        b.extend((1..=5).map(line));
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped(), 2);
        let v: Vec<_> = b.window(10, 0).map(|l| l.text.clone()).collect();
        assert_eq!(v, ["3", "4", "5"]);
    }

    #[test]
    fn window_scrolls_from_the_bottom() {
        let mut b = OutputBuffer::with_cap(100);
        b.extend((1..=10).map(line));
        let v: Vec<_> = b.window(3, 2).map(|l| l.text.clone()).collect();
        assert_eq!(v, ["6", "7", "8"]);
        assert_eq!(b.max_scroll(3), 7);
        let v: Vec<_> = b.window(3, 7).map(|l| l.text.clone()).collect();
        assert_eq!(v, ["1", "2", "3"]);
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
