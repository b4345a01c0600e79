//! One type over the four machines, for the per-worker [`TxTable`](crate::TxTable)
//! (RFC 3261 §17).

use std::time::Instant;

use crate::client_invite::ClientInviteTx;
use crate::client_non_invite::ClientNonInviteTx;
use crate::output::{Disposition, Transmit, TxEvent};
use crate::server_invite::ServerInviteTx;
use crate::server_non_invite::ServerNonInviteTx;

/// The four transaction kinds of RFC 3261 §17 (Figures 5-8).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxKind {
    /// §17.1.1, Figure 5 (RFC 6026 Figure 4).
    ClientInvite,
    /// §17.1.2, Figure 6.
    ClientNonInvite,
    /// §17.2.1, Figure 7 (RFC 6026 Figure 5).
    ServerInvite,
    /// §17.2.2, Figure 8.
    ServerNonInvite,
}

/// Any transaction machine (RFC 3261 §17). The shared operations — timers, transport
/// errors and the three polls — are forwarded; kind-specific inputs go through the variants.
#[derive(Debug)]
pub enum Transaction {
    /// INVITE client transaction.
    ClientInvite(ClientInviteTx),
    /// Non-INVITE client transaction.
    ClientNonInvite(ClientNonInviteTx),
    /// INVITE server transaction.
    ServerInvite(ServerInviteTx),
    /// Non-INVITE server transaction.
    ServerNonInvite(ServerNonInviteTx),
}

macro_rules! each {
    ($self:expr, $t:ident => $e:expr) => {
        match $self {
            Transaction::ClientInvite($t) => $e,
            Transaction::ClientNonInvite($t) => $e,
            Transaction::ServerInvite($t) => $e,
            Transaction::ServerNonInvite($t) => $e,
        }
    };
}

impl Transaction {
    /// Which of the four machines this is.
    #[must_use]
    pub fn kind(&self) -> TxKind {
        match self {
            Self::ClientInvite(_) => TxKind::ClientInvite,
            Self::ClientNonInvite(_) => TxKind::ClientNonInvite,
            Self::ServerInvite(_) => TxKind::ServerInvite,
            Self::ServerNonInvite(_) => TxKind::ServerNonInvite,
        }
    }

    /// Fires the timers due at `now` (RFC 3261 §17); spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        each!(self, t => t.handle_timeout(now));
    }

    /// The transport failed for this transaction (RFC 3261 §17.1.4, §17.2.4).
    pub fn handle_transport_error(&mut self, now: Instant) -> Disposition {
        each!(self, t => t.handle_transport_error(now))
    }

    /// Next event for the TU (step 1 of the call order).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        each!(self, t => t.poll_event())
    }

    /// Next message to send, appended to `buf` (step 2 of the call order).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        each!(self, t => t.poll_transmit(now, buf))
    }

    /// Earliest deadline (step 3 of the call order).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, t => t.poll_timeout())
    }

    /// `true` once `Terminated`.
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        each!(self, t => t.is_terminated())
    }

    /// The state's RFC name.
    #[must_use]
    pub fn state_name(&self) -> &'static str {
        each!(self, t => t.state_name())
    }
}
