//! What the machines hand back to the driver: [`Transmit`], [`TxEvent`], [`Disposition`]
//! (RFC 3261 §17).

use std::collections::VecDeque;

use crate::error::{Misuse, PeerError};

/// A SIP status code, validated to be in 100..=699 (RFC 3261 §7.2, §21).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 487 Request Terminated, the answer to a cancelled INVITE (RFC 3261 §9.2).
    pub const REQUEST_TERMINATED: Self = Self(487);
    /// 408 Request Timeout, what a proxy acts on when Timer C fires before any provisional
    /// response (RFC 3261 §16.8).
    pub const REQUEST_TIMEOUT: Self = Self(408);
    /// 503 Service Unavailable, the answer when the transaction table is full
    /// (RFC 3261 §21.5.4).
    pub const SERVICE_UNAVAILABLE: Self = Self(503);

    /// `Some` for 100..=699 (RFC 3261 §7.2).
    #[must_use]
    pub fn new(code: u16) -> Option<Self> {
        (100..=699).contains(&code).then_some(Self(code))
    }

    pub(crate) fn from_peer(code: u16) -> Result<Self, PeerError> {
        Self::new(code).ok_or(PeerError::InvalidStatus(code))
    }

    pub(crate) fn from_tu(code: u16) -> Result<Self, Misuse> {
        Self::new(code).ok_or(Misuse::InvalidStatus(code))
    }

    /// The numeric code.
    #[must_use]
    pub fn code(self) -> u16 {
        self.0
    }

    /// 1xx, RFC 3261 §21.1.
    #[must_use]
    pub fn is_provisional(self) -> bool {
        self.0 < 200
    }

    /// 2xx, RFC 3261 §21.2.
    #[must_use]
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 300-699: the finals that the INVITE transaction ACKs itself (RFC 3261 §17.1.1.3).
    #[must_use]
    pub fn is_non2xx_final(self) -> bool {
        self.0 >= 300
    }
}

/// Which stored message a [`Transmit`] carries (RFC 3261 §17).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TransmitKind {
    /// The request of a client transaction (first send or Timer A/E retransmit).
    Request,
    /// The hop-by-hop ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
    Ack,
    /// A response of a server transaction (first send or retransmit).
    Response(StatusCode),
}

/// One datagram/segment to send: its bytes were appended to the caller's buffer by
/// `poll_transmit` (STYLE L1). The destination is the transaction's peer, which the engine
/// keeps next to the transaction (RFC 3261 §18.1.1 for requests, §18.2.2 for responses).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// What is being sent.
    pub kind: TransmitKind,
    /// `true` when the machine resends something it already sent (Timers A, E, G or an
    /// absorbed retransmission being answered), for counters.
    pub retransmission: bool,
    /// Number of bytes appended to the buffer.
    pub len: usize,
}

/// What Timer C asks the proxy to do when it fires (RFC 3261 §16.8).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TimerCAction {
    /// A provisional response was received: the proxy must CANCEL this branch (§9.1). The
    /// machine keeps waiting for the final response, bounded by a 64·T1 guard after which it
    /// reports [`TxEvent::Timeout`].
    Cancel,
    /// No provisional response: the proxy acts as though a 408 was received (§16.8); the
    /// machine terminates.
    Local408,
}

/// An event for the transaction user (RFC 3261 §17: "inform TU").
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxEvent {
    /// Client: pass the response just handled up to the TU (RFC 3261 §17.1.1.2, §17.1.2.2);
    /// also the 2xx retransmissions forwarded in `Accepted` (RFC 6026 §8.4).
    Response(StatusCode),
    /// Client: Timer B or F fired, or the Timer C guard ran out (RFC 3261 §17.1.1.2,
    /// §17.1.2.2); server INVITE: Timer H fired without an ACK (§17.2.1).
    Timeout,
    /// Proxy client INVITE: Timer C fired (RFC 3261 §16.8).
    TimerC(TimerCAction),
    /// The transport reported a failure sending for this transaction (RFC 3261 §17.1.4,
    /// §17.2.4).
    TransportError,
    /// Server INVITE: a CANCEL matched while in `Proceeding`; the TU should send 487
    /// (RFC 3261 §9.2) — or, for a proxy, cancel its branches (§16.10).
    Cancelled,
    /// Server INVITE in `Accepted`: an ACK for the 2xx matched; pass it to the TU, it is
    /// end-to-end (RFC 6026 §8.7, RFC 3261 §13.3.1.4).
    Ack,
    /// The machine reached `Terminated`; remove it from the table once its transmits are
    /// drained (RFC 3261 §17).
    Terminated,
}

/// What a peer input did, for counters and the accept/ignore decision (STYLE L8).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// It changed state and/or queued events for the TU.
    Delivered,
    /// A retransmission the transaction answered or swallowed itself (RFC 3261 §17.2.1
    /// "absorb").
    Absorbed,
    /// Not meaningful in this state (stray response, input after `Terminated`); dropped.
    Ignored,
}

/// A queued send: which stored message, or an owned superseded provisional.
#[derive(Debug)]
pub(crate) enum Pending {
    /// The stored request (client).
    Request { retransmission: bool },
    /// The stored ACK (client INVITE).
    Ack { retransmission: bool },
    /// The stored last response (server).
    LastResponse { retransmission: bool },
    /// Bytes no longer held by the state: a response replaced in storage before it was
    /// polled (server), or a message sent once just before `Terminated` (reliable transports).
    Owned(TransmitKind, Box<[u8]>),
}

/// The output queues shared by all machines.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub(crate) events: VecDeque<TxEvent>,
    pub(crate) sends: VecDeque<Pending>,
}

impl Outputs {
    /// A client machine got its final response: its request is never sent again, so its
    /// bytes (`request`) and any queued retransmission of it are dropped (memory per
    /// transaction, STYLE L8).
    pub(crate) fn release_request(&mut self, request: &mut Box<[u8]>) {
        if !request.is_empty() {
            *request = Box::default();
            self.sends.retain(|p| !matches!(p, Pending::Request { .. }));
        }
    }

    pub(crate) fn event(&mut self, e: TxEvent) {
        self.events.push_back(e);
    }

    pub(crate) fn send(&mut self, p: Pending) {
        // Coalesce identical retransmissions queued before the driver polled (e.g. several
        // timer firings in one handle_timeout): one resend is enough.
        if let Some(last) = self.sends.back() {
            let same = matches!(
                (last, &p),
                (Pending::Request { .. }, Pending::Request { .. })
                    | (Pending::Ack { .. }, Pending::Ack { .. })
                    | (Pending::LastResponse { .. }, Pending::LastResponse { .. })
            );
            if same {
                return;
            }
        }
        self.sends.push_back(p);
    }

    /// Before the stored response is replaced: an unpolled `LastResponse` becomes `Owned`.
    pub(crate) fn detach_last_response(&mut self, status: Option<StatusCode>, bytes: &[u8]) {
        for p in &mut self.sends {
            if matches!(p, Pending::LastResponse { .. }) {
                if let Some(s) = status {
                    *p = Pending::Owned(TransmitKind::Response(s), bytes.into());
                }
            }
        }
    }
}

/// Appends `bytes` to `buf` and describes it.
pub(crate) fn emit(
    buf: &mut Vec<u8>,
    kind: TransmitKind,
    retransmission: bool,
    bytes: &[u8],
) -> Transmit {
    buf.extend_from_slice(bytes);
    Transmit {
        kind,
        retransmission,
        len: bytes.len(),
    }
}

/// Hands over `bytes` (a message the machine does not keep): moved into an empty `buf`
/// instead of copied.
pub(crate) fn emit_owned(buf: &mut Vec<u8>, kind: TransmitKind, bytes: Box<[u8]>) -> Transmit {
    let len = bytes.len();
    if buf.is_empty() {
        *buf = bytes.into_vec();
    } else {
        buf.extend_from_slice(&bytes);
    }
    Transmit {
        kind,
        retransmission: false,
        len,
    }
}
