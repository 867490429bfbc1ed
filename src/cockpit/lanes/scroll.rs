//! Scrolling that keeps failures on screen. The lanes are in [`FleetView::sorted`] order, so
//! the trouble lanes ([`LaneState::is_trouble`]) come first. With more lanes than rows, they
//! are pinned at the top (at most half the rows; beyond that they scroll among themselves)
//! and the rest scroll under them. A region that cannot show all its lanes gives its last row
//! to a marker (`↑ 5 more · ↓ 12 more`). The cursor's lane is always shown.
//!
//! [`FleetView::sorted`]: cutover_model::fleet::lane::FleetView::sorted
//! [`LaneState::is_trouble`]: cutover_model::fleet::lane::LaneState::is_trouble

/// Below this many rows nothing is pinned: one region scrolls.
const PIN_MIN_ROWS: usize = 4;

/// How far each region is scrolled (lanes hidden above its first shown lane).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offsets {
    /// The pinned (trouble) region.
    pub pinned: usize,
    /// The rest (or the whole list when nothing is pinned).
    pub rest: usize,
}

/// One region of the list: a run of consecutive lanes in screen order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The index (in screen order) of the region's first lane.
    pub first: usize,
    /// How many lanes the region holds.
    pub len: usize,
    /// Lanes hidden above: the first shown is `first + top`.
    pub top: usize,
    /// Lanes shown.
    pub shown: usize,
    /// Whether the region's last row is a marker (some of its lanes are hidden).
    pub marker: bool,
}

impl Region {
    /// Lanes hidden below the shown ones.
    pub fn below(&self) -> usize {
        self.len.saturating_sub(self.top + self.shown)
    }

    /// The rows the region takes.
    pub fn rows(&self) -> usize {
        self.shown + usize::from(self.marker)
    }

    /// The screen-order indices of the lanes shown.
    pub fn lanes(&self) -> std::ops::Range<usize> {
        let start = self.first + self.top;
        start..start + self.shown
    }

    fn contains(&self, i: usize) -> bool {
        i >= self.first && i < self.first + self.len
    }

    /// Scrolls as little as possible so that lane `i` (if in this region) is shown, then keeps
    /// the offset in range.
    fn follow(mut self, i: Option<usize>) -> Region {
        if let Some(i) = i.filter(|i| self.contains(*i)) {
            let at = i - self.first;
            if at < self.top {
                self.top = at;
            } else if self.shown > 0 && at >= self.top + self.shown {
                self.top = at + 1 - self.shown;
            }
        }
        self.top = self.top.min(self.len.saturating_sub(self.shown));
        self
    }
}

/// A region of `len` lanes from `first` in `rows` rows, scrolled by `top`.
fn region(first: usize, len: usize, rows: usize, top: usize) -> Region {
    let (shown, marker) = if len <= rows {
        (len, false)
    } else if rows >= 2 {
        (rows - 1, true)
    } else {
        (rows, false)
    };
    Region {
        first,
        len,
        top,
        shown,
        marker,
    }
}

/// The list's regions for `total` lanes of which the first `trouble` are trouble, in `rows`
/// rows, the cursor on lane `cursor`, scrolled by `prev` before; and the offsets after.
/// Scrolls as little as possible; never shows more than `rows` rows.
pub fn window(
    trouble: usize,
    total: usize,
    rows: usize,
    cursor: Option<usize>,
    prev: Offsets,
) -> (Vec<Region>, Offsets) {
    let trouble = trouble.min(total);
    if total <= rows || trouble == 0 || rows < PIN_MIN_ROWS {
        let r = region(0, total, rows, prev.rest).follow(cursor);
        return (
            vec![r],
            Offsets {
                pinned: 0,
                rest: r.top,
            },
        );
    }
    let pinned_rows = trouble.min(rows / 2);
    let pinned = region(0, trouble, pinned_rows, prev.pinned).follow(cursor);
    let rest = region(trouble, total - trouble, rows - pinned.rows(), prev.rest).follow(cursor);
    (
        vec![pinned, rest],
        Offsets {
            pinned: pinned.top,
            rest: rest.top,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(regions: &[Region]) -> Vec<usize> {
        regions.iter().flat_map(|r| r.lanes()).collect()
    }

    #[test]
    fn everything_fits_in_one_region() {
        let (r, o) = window(2, 5, 10, Some(4), Offsets::default());
        assert_eq!(shown(&r), [0, 1, 2, 3, 4]);
        assert_eq!(o, Offsets::default());
        assert!(!r[0].marker);
    }

    #[test]
    fn trouble_stays_pinned_while_the_rest_scrolls_to_the_cursor() {
        let (r, o) = window(3, 50, 20, Some(49), Offsets::default());
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].lanes(), 0..3);
        assert!(!r[0].marker);
        let rows: usize = r.iter().map(Region::rows).sum();
        assert!(rows <= 20);
        assert!(r[1].lanes().contains(&49));
        assert_eq!(r[1].below(), 0);
        assert!(r[1].marker);
        assert_eq!(o.rest, r[1].top);
    }

    #[test]
    fn many_failures_take_half_the_rows_and_scroll_among_themselves() {
        let (r, _) = window(30, 50, 20, Some(25), Offsets::default());
        assert_eq!(r[0].rows(), 10);
        assert!(r[0].marker);
        assert!(r[0].lanes().contains(&25));
        assert_eq!(r[1].top, 0);
        assert_eq!(r.iter().map(Region::rows).sum::<usize>(), 20);
    }

    #[test]
    fn scrolls_as_little_as_it_can() {
        let (_, o) = window(0, 50, 10, Some(20), Offsets::default());
        assert_eq!(o.rest, 12);
        let (_, again) = window(0, 50, 10, Some(15), o);
        assert_eq!(again, o, "a shown cursor does not scroll");
        let (_, up) = window(0, 50, 10, Some(3), o);
        assert_eq!(up.rest, 3);
    }

    #[test]
    fn tiny_heights_never_show_more_rows_than_they_have() {
        for rows in 0..6 {
            for cursor in [None, Some(0), Some(49)] {
                let (r, _) = window(
                    5,
                    50,
                    rows,
                    cursor,
                    Offsets {
                        pinned: 9,
                        rest: 99,
                    },
                );
                assert!(r.iter().map(Region::rows).sum::<usize>() <= rows);
            }
        }
    }
}
