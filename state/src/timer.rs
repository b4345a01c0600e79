//! Per-transaction timer table (STYLE L2; RFC 3261 §17 Table 4, §16.6, RFC 6026 §8.11).

use std::time::{Duration, Instant};

/// The RFC timers a transaction can run, one slot each in a [`TimerTable`].
///
/// RFC 3261 §17.1.1.2 (A, B, D), §17.1.2.2 (E, F, K), §17.2.1 (G, H, I), §17.2.2 (J),
/// §16.6 step 11 / §16.8 (C) and RFC 6026 §8.11 (L, M).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxTimer {
    /// INVITE request retransmit (client, UDP), doubling from T1 with no cap.
    A,
    /// INVITE transaction timeout (client), 64·T1.
    B,
    /// Proxy INVITE transaction timeout (client), > 3 min, reset by 101-199.
    C,
    /// Wait time for response retransmits (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmit (client, UDP), doubling from T1 capped at T2.
    E,
    /// Non-INVITE transaction timeout (client), 64·T1.
    F,
    /// INVITE final response retransmit (server, UDP), doubling from T1 capped at T2.
    G,
    /// Wait time for ACK receipt (server INVITE, Completed), 64·T1.
    H,
    /// Wait time for ACK retransmits (server INVITE, Confirmed), T4.
    I,
    /// Wait time for non-INVITE request retransmits (server, Completed), 64·T1.
    J,
    /// Wait time for response retransmits (client non-INVITE, Completed), T4.
    K,
    /// Wait time for accepted INVITE request retransmits (server, Accepted), 64·T1.
    L,
    /// Wait time for retransmission of 2xx to INVITE (client, Accepted), 64·T1.
    M,
}

impl TxTimer {
    /// Number of timer kinds.
    pub const COUNT: usize = 13;
    const ALL: [Self; Self::COUNT] = [
        Self::A,
        Self::B,
        Self::C,
        Self::D,
        Self::E,
        Self::F,
        Self::G,
        Self::H,
        Self::I,
        Self::J,
        Self::K,
        Self::L,
        Self::M,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`TxTimer`] (STYLE L2, like quinn's `TimerTable`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerTable([Option<Instant>; TxTimer::COUNT]);

impl TimerTable {
    /// Arms `timer` at `now + after`. A deadline that would overflow `Instant` is treated as
    /// "never" (the timer stays unarmed) rather than panicking.
    pub fn set(&mut self, timer: TxTimer, now: Instant, after: Duration) {
        if let Some(slot) = self.0.get_mut(timer.index()) {
            *slot = now.checked_add(after);
        }
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: TxTimer) {
        if let Some(slot) = self.0.get_mut(timer.index()) {
            *slot = None;
        }
    }

    /// Disarms every timer (on `Terminated`).
    pub fn stop_all(&mut self) {
        self.0 = [None; TxTimer::COUNT];
    }

    /// The deadline of `timer`, if armed.
    #[must_use]
    pub fn get(&self, timer: TxTimer) -> Option<Instant> {
        self.0.get(timer.index()).copied().flatten()
    }

    /// The earliest armed deadline (the machine's `poll_timeout`).
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer whose deadline is `<= now` (ties go to the
    /// earlier letter, e.g. A before B).
    pub fn pop_expired(&mut self, now: Instant) -> Option<TxTimer> {
        let mut best: Option<(Instant, TxTimer)> = None;
        for t in TxTimer::ALL {
            if let Some(at) = self.get(t) {
                if at <= now && best.map_or(true, |(b, _)| at < b) {
                    best = Some((at, t));
                }
            }
        }
        let (_, t) = best?;
        self.stop(t);
        Some(t)
    }
}
