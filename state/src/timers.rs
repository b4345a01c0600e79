//! The per-worker timer queue keyed by `(TxHandle, deadline)` (STYLE L2; quinn
//! `drive_timer`): one entry per transaction, re-armed only when its `poll_timeout()` changes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::table::TxHandle;

/// Counters for the timer queue.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// `update` calls that changed a deadline (heap pushes).
    pub rearmed: u64,
    /// `update` calls that found the same deadline and did nothing (STYLE L2).
    pub unchanged: u64,
    /// Handles handed out by `pop_expired`.
    pub fired: u64,
    /// Superseded heap entries skipped.
    pub stale_skipped: u64,
    /// Updates refused because the handle index is beyond the configured capacity.
    pub refused: u64,
}

/// One worker's deadlines for all its transactions (RFC 3261 §17 timers, aggregated).
///
/// A binary heap with lazy deletion: `update` records the transaction's current deadline and
/// pushes a heap entry only when it changed; superseded entries are skipped on pop and the
/// heap is rebuilt when they outnumber live ones, so memory stays proportional to the
/// number of armed transactions.
#[derive(Debug)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TxHandle)>>,
    /// Current deadline per handle index: `(generation, deadline)`.
    armed: Vec<Option<(u32, Instant)>>,
    live: usize,
    capacity: usize,
    stats: TimerStats,
}

impl Timers {
    /// A queue for handles whose index is below `capacity` (the [`TxTable`](crate::TxTable)
    /// capacity).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            armed: Vec::new(),
            live: 0,
            capacity,
            stats: TimerStats::default(),
        }
    }

    /// Sets `h`'s deadline to the transaction's `poll_timeout()` (`None` disarms). Returns
    /// `true` when it changed; an unchanged deadline costs no heap work (STYLE L2).
    pub fn update(&mut self, h: TxHandle, deadline: Option<Instant>) -> bool {
        let idx = h.index() as usize;
        if idx >= self.capacity {
            self.stats.refused += 1;
            return false;
        }
        if self.armed.len() <= idx {
            self.armed.resize(idx + 1, None);
        }
        let Some(slot) = self.armed.get_mut(idx) else {
            return false;
        };
        let new = deadline.map(|d| (h.generation(), d));
        if *slot == new {
            self.stats.unchanged += 1;
            return false;
        }
        match (slot.is_some(), new.is_some()) {
            (false, true) => self.live += 1,
            (true, false) => self.live = self.live.saturating_sub(1),
            _ => {}
        }
        *slot = new;
        if let Some(d) = deadline {
            self.heap.push(Reverse((d, h)));
        }
        self.stats.rearmed += 1;
        self.maybe_compact();
        true
    }

    /// Disarms `h` (on removal from the table).
    pub fn remove(&mut self, h: TxHandle) {
        let idx = h.index() as usize;
        if let Some(slot) = self.armed.get_mut(idx) {
            if slot.is_some_and(|(g, _)| g == h.generation()) {
                *slot = None;
                self.live = self.live.saturating_sub(1);
            }
        }
    }

    fn is_current(&self, d: Instant, h: TxHandle) -> bool {
        self.armed.get(h.index() as usize).copied().flatten() == Some((h.generation(), d))
    }

    /// The earliest live deadline: what the engine arms its one runtime timer with.
    #[must_use]
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((d, h))) = self.heap.peek().copied() {
            if self.is_current(d, h) {
                return Some(d);
            }
            self.heap.pop();
            self.stats.stale_skipped += 1;
        }
        None
    }

    /// Pops one transaction whose deadline is `<= now` (and disarms it): call its
    /// `handle_timeout(now)`, run the polls, then `update` it with its new `poll_timeout()`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<TxHandle> {
        let d = self.next_deadline()?;
        if d > now {
            return None;
        }
        let Reverse((_, h)) = self.heap.pop()?;
        if let Some(slot) = self.armed.get_mut(h.index() as usize) {
            *slot = None;
        }
        self.live = self.live.saturating_sub(1);
        self.stats.fired += 1;
        Some(h)
    }

    /// Number of armed transactions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.live
    }

    /// `true` when nothing is armed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> TimerStats {
        self.stats
    }

    /// Heap entries including stale ones (for tests of the compaction bound).
    #[must_use]
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    fn maybe_compact(&mut self) {
        if self.heap.len() <= 2 * self.live + 64 {
            return;
        }
        let armed = &self.armed;
        self.heap.retain(|Reverse((d, h))| {
            armed.get(h.index() as usize).copied().flatten() == Some((h.generation(), *d))
        });
    }
}
