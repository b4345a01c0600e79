//! Per-worker figures published for the control interface (ARCHITECTURE decision 8: counters
//! per worker, summed on demand).
//!
//! Each worker owns one [`WorkerSlot`] and overwrites it with its current counters after every
//! batch it handles ([`WorkerBoard::publish`]: relaxed atomic stores, no lock, no allocation).
//! The control thread reads and sums the slots; a figure is at most one batch old.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sip::Router;

/// The figures one worker publishes, by index into [`WorkerSlot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Fig {
    /// `Stats::rx_requests`.
    RxRequests,
    /// `Stats::rx_replies`.
    RxReplies,
    /// `Stats::bad_requests`.
    BadRequests,
    /// `Stats::bad_replies`.
    BadReplies,
    /// `Stats::fwd_requests`.
    FwdRequests,
    /// `Stats::fwd_replies`.
    FwdReplies,
    /// `Stats::local_replies` (sl).
    SlReplies,
    /// `Stats::dropped_replies`.
    DropReplies,
    /// `Stats::drops`.
    Drops,
    /// `Stats::send_errors`.
    SendErrors,
    /// `Stats::acks_absorbed`.
    AcksAbsorbed,
    /// `TmStats::server_created`.
    TmServer,
    /// `TmStats::client_created`.
    TmClient,
    /// `TmStats::refused_full`.
    TmRefused,
    /// `TmStats::relayed_replies`.
    TmRelayed,
    /// `TmStats::local_replies`.
    TmLocal,
    /// `TmStats::matched_replies`.
    TmMatched,
    /// `TmStats::timeouts`.
    TmTimeouts,
    /// `TmStats::retransmissions`.
    TmRetrans,
    /// Final responses of server transactions, 2xx.
    Tm2xx,
    /// 3xx.
    Tm3xx,
    /// 4xx.
    Tm4xx,
    /// 5xx.
    Tm5xx,
    /// 6xx.
    Tm6xx,
    /// Live transactions (a gauge).
    TmLive,
    /// Dialogs created.
    DlgCreated,
    /// Dialogs confirmed.
    DlgConfirmed,
    /// Dialogs ended by a BYE.
    DlgEnded,
    /// Dialogs ended by a failure response.
    DlgFailed,
    /// Dialogs expired.
    DlgExpired,
    /// Live dialogs (a gauge).
    DlgLive,
    /// Messages the worker handled (its event loop's count).
    Handled,
}

/// Number of [`Fig`] values.
pub const FIGS: usize = Fig::Handled as usize + 1;

/// One worker's published figures and its thread id.
#[derive(Debug)]
pub struct WorkerSlot {
    vals: [AtomicU64; FIGS],
    tid: AtomicU64,
}

impl Default for WorkerSlot {
    fn default() -> Self {
        Self {
            vals: std::array::from_fn(|_| AtomicU64::new(0)),
            tid: AtomicU64::new(0),
        }
    }
}

/// Every worker's slot (one per worker, fixed at start).
#[derive(Debug)]
pub struct WorkerBoard {
    slots: Box<[WorkerSlot]>,
}

impl WorkerBoard {
    /// A board for `workers` workers, all figures 0.
    pub fn new(workers: usize) -> Self {
        Self {
            slots: (0..workers.max(1)).map(|_| WorkerSlot::default()).collect(),
        }
    }

    /// Number of worker slots.
    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// Worker `w` runs on thread `tid` (shown by `core.psx`).
    pub fn set_tid(&self, w: usize, tid: u64) {
        if let Some(s) = self.slots.get(w) {
            s.tid.store(tid, Ordering::Relaxed);
        }
    }

    /// Worker `w`'s thread id (0 before it started).
    pub fn tid(&self, w: usize) -> u64 {
        self.slots
            .get(w)
            .map_or(0, |s| s.tid.load(Ordering::Relaxed))
    }

    /// Stores one figure of worker `w`.
    pub fn set(&self, w: usize, f: Fig, v: u64) {
        if let Some(s) = self.slots.get(w) {
            s.vals[f as usize].store(v, Ordering::Relaxed);
        }
    }

    /// One figure of worker `w`.
    pub fn get(&self, w: usize, f: Fig) -> u64 {
        self.slots
            .get(w)
            .map_or(0, |s| s.vals[f as usize].load(Ordering::Relaxed))
    }

    /// One figure summed over the workers.
    pub fn sum(&self, f: Fig) -> u64 {
        (0..self.slots.len())
            .map(|w| self.get(w, f))
            .fold(0, u64::wrapping_add)
    }

    /// Publishes worker `w`'s router counters (called by the worker after each batch).
    pub fn publish(&self, w: usize, router: &Router, handled: u64) {
        let s = router.stats();
        let t = router.tm_stats();
        let d = router.dialog_stats();
        let figs = [
            (Fig::RxRequests, s.rx_requests),
            (Fig::RxReplies, s.rx_replies),
            (Fig::BadRequests, s.bad_requests),
            (Fig::BadReplies, s.bad_replies),
            (Fig::FwdRequests, s.fwd_requests),
            (Fig::FwdReplies, s.fwd_replies),
            (Fig::SlReplies, s.local_replies),
            (Fig::DropReplies, s.dropped_replies),
            (Fig::Drops, s.drops),
            (Fig::SendErrors, s.send_errors),
            (Fig::AcksAbsorbed, s.acks_absorbed),
            (Fig::TmServer, t.server_created),
            (Fig::TmClient, t.client_created),
            (Fig::TmRefused, t.refused_full),
            (Fig::TmRelayed, t.relayed_replies),
            (Fig::TmLocal, t.local_replies),
            (Fig::TmMatched, t.matched_replies),
            (Fig::TmTimeouts, t.timeouts),
            (Fig::TmRetrans, t.retransmissions),
            (Fig::Tm2xx, t.finals[0]),
            (Fig::Tm3xx, t.finals[1]),
            (Fig::Tm4xx, t.finals[2]),
            (Fig::Tm5xx, t.finals[3]),
            (Fig::Tm6xx, t.finals[4]),
            (Fig::TmLive, router.transactions() as u64),
            (Fig::DlgCreated, d.created),
            (Fig::DlgConfirmed, d.confirmed),
            (Fig::DlgEnded, d.ended),
            (Fig::DlgFailed, d.failed),
            (Fig::DlgExpired, d.expired),
            (Fig::DlgLive, router.live_dialogs() as u64),
            (Fig::Handled, handled),
        ];
        for (f, v) in figs {
            self.set(w, f, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_workers_and_ignores_bad_indexes() {
        let b = WorkerBoard::new(3);
        b.set(0, Fig::RxRequests, 2);
        b.set(2, Fig::RxRequests, 5);
        b.set(7, Fig::RxRequests, 100);
        assert_eq!(b.sum(Fig::RxRequests), 7);
        assert_eq!(b.get(9, Fig::RxRequests), 0);
        b.set_tid(1, 42);
        assert_eq!(b.tid(1), 42);
        assert_eq!(b.workers(), 3);
    }
}
