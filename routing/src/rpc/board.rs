//! Per-worker figures published for the control interface (ARCHITECTURE decision 8: counters
//! per worker, summed on demand).
//!
//! Each worker owns one [`WorkerSlot`] and overwrites it with its current counters after every
//! batch it handles ([`WorkerBoard::publish`]: relaxed atomic stores, no lock, no allocation).
//! The control thread reads and sums the slots; a figure is at most one batch old.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sip::{Router, RX_CLASSES, RX_METHODS, RX_REPLY_METHODS, SL_CODES};

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
    /// `Stats::rx_other_methods`.
    RxOtherMethods,
    /// `Stats::sl_failures`.
    SlFailures,
    /// `Stats::sl_err_replies`.
    SlErrReplies,
    /// Messages the worker handled (its event loop's count).
    Handled,
}

/// Number of [`Fig`] values.
pub const FIGS: usize = Fig::Handled as usize + 1;

/// The per-method and per-code figures (arrays of [`crate::sip::Stats`]), stored in a
/// worker's slot after the [`Fig`] ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// `Stats::rx_methods[i]` (`core:rcv_requests_<method>`).
    RxMethod(usize),
    /// `Stats::rx_classes[i]` (`core:rcv_replies_<class>`).
    RxClass(usize),
    /// `Stats::rx_reply_methods[m][class]` (`core:rcv_replies_<class + 1>xx_<method>`).
    RxReplyMethod(usize, usize),
    /// `Stats::sl_codes[i]` (`sl:<code>_replies`).
    SlCode(usize),
}

const RX_METHOD_AT: usize = FIGS;
const RX_CLASS_AT: usize = RX_METHOD_AT + RX_METHODS.len();
const RX_REPLY_METHOD_AT: usize = RX_CLASS_AT + RX_CLASSES.len();
const SL_CODE_AT: usize = RX_REPLY_METHOD_AT + 6 * RX_REPLY_METHODS.len();
/// Number of figures in a worker slot: the [`Fig`] ones, then the [`Detail`] ones.
const SLOT_FIGS: usize = SL_CODE_AT + SL_CODES.len();

impl Detail {
    /// The figure's index in a worker slot; `None` when out of range.
    fn index(self) -> Option<usize> {
        let (at, i, n) = match self {
            Self::RxMethod(i) => (RX_METHOD_AT, i, RX_METHODS.len()),
            Self::RxClass(i) => (RX_CLASS_AT, i, RX_CLASSES.len()),
            Self::RxReplyMethod(m, c) if c < 6 => {
                (RX_REPLY_METHOD_AT, m * 6 + c, 6 * RX_REPLY_METHODS.len())
            }
            Self::RxReplyMethod(..) => return None,
            Self::SlCode(i) => (SL_CODE_AT, i, SL_CODES.len()),
        };
        (i < n).then_some(at + i)
    }
}

/// One worker's published figures and its thread id.
#[derive(Debug)]
pub struct WorkerSlot {
    vals: [AtomicU64; SLOT_FIGS],
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
        self.sum_at(f as usize)
    }

    /// Stores one per-method or per-code figure of worker `w` (ignored when out of range).
    pub fn set_detail(&self, w: usize, d: Detail, v: u64) {
        if let (Some(s), Some(i)) = (self.slots.get(w), d.index()) {
            s.vals[i].store(v, Ordering::Relaxed);
        }
    }

    /// One per-method or per-code figure summed over the workers (0 when out of range).
    pub fn sum_detail(&self, d: Detail) -> u64 {
        d.index().map_or(0, |i| self.sum_at(i))
    }

    fn sum_at(&self, i: usize) -> u64 {
        self.slots
            .iter()
            .map(|s| s.vals[i].load(Ordering::Relaxed))
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
            (Fig::RxOtherMethods, s.rx_other_methods),
            (Fig::SlFailures, s.sl_failures),
            (Fig::SlErrReplies, s.sl_err_replies),
            (Fig::Handled, handled),
        ];
        let Some(slot) = self.slots.get(w) else {
            return;
        };
        for (f, v) in figs {
            slot.vals[f as usize].store(v, Ordering::Relaxed);
        }
        let detail = s
            .rx_methods
            .iter()
            .chain(&s.rx_classes)
            .chain(s.rx_reply_methods.iter().flatten())
            .chain(&s.sl_codes);
        for (a, v) in slot.vals[RX_METHOD_AT..].iter().zip(detail) {
            a.store(*v, Ordering::Relaxed);
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
        b.set_detail(0, Detail::RxReplyMethod(7, 5), 4);
        b.set_detail(1, Detail::RxReplyMethod(7, 5), 1);
        b.set_detail(1, Detail::RxReplyMethod(0, 6), 9);
        b.set_detail(1, Detail::SlCode(SL_CODES.len()), 9);
        assert_eq!(b.sum_detail(Detail::RxReplyMethod(7, 5)), 5);
        assert_eq!(b.sum_detail(Detail::SlCode(0)), 0);
        assert_eq!(b.sum_detail(Detail::RxMethod(RX_METHODS.len())), 0);
        assert_eq!(b.sum(Fig::Handled), 0);
    }
}
