//! Design notes for the transaction layer (doc-only, like rustls `manual`).
//!
//! # Sans-IO shape (STYLE L1)
//! Each of the four RFC 3261 §17 machines takes inputs through `handle_*(now, ..)` and hands
//! back outputs through `poll_event`, `poll_transmit(now, buf)` and `poll_timeout`, in that
//! order (see the crate docs). Messages are opaque bytes built by the transaction user: the
//! machine stores the request (client) or the last response (server) and decides when to
//! (re)send them; `poll_transmit` appends them to the caller's buffer so a retransmission
//! allocates nothing.
//!
//! # States (STYLE L3)
//! Every machine is `enum State { Calling(Calling), .. }` of per-state structs; transitions
//! consume the state struct and return the next one. Per-state data lives in its struct
//! (Timer A/E/G intervals, the ACK bytes of `Completed`); what every state touches (config,
//! [`TimerTable`](crate::TimerTable), output queues) lives in a small context. Inputs that a
//! state does not accept are one match arm: a typed [`TxError`](crate::TxError) for TU
//! misuse, [`Disposition::Ignored`](crate::Disposition::Ignored) for stray peer input.
//!
//! # Timers (STYLE L2; RFC 3261 §17 Table 4, §16.6, RFC 6026 §8.11)
//! | timer | machine | value | reliable transport |
//! |---|---|---|---|
//! | A | client INVITE, Calling | T1, doubling, no cap | not started |
//! | B | client INVITE, Calling | 64·T1 (`fr_timer`) | same |
//! | C | proxy client INVITE | > 3 min, reset by 101-199 | same |
//! | D | client INVITE, Completed | ≥ 32 s | 0 → Terminated at once |
//! | E | client non-INVITE | T1 doubling to T2; T2 in Proceeding | not started |
//! | F | client non-INVITE | 64·T1 (`fr_timer`) | same |
//! | G | server INVITE, Completed | T1 doubling to T2 | not started |
//! | H | server INVITE, Completed | 64·T1 (`fr_timer`) | same |
//! | I | server INVITE, Confirmed | T4 | 0 |
//! | J | server non-INVITE, Completed | 64·T1 | 0 |
//! | K | client non-INVITE, Completed | T4 | 0 |
//! | L | server INVITE, Accepted (RFC 6026) | 64·T1 | same |
//! | M | client INVITE, Accepted (RFC 6026) | 64·T1 | same |
//!
//! Deadlines that would overflow `Instant` leave the timer unarmed instead of panicking.
//!
//! # Timer C (RFC 3261 §16.8)
//! Fired in `Calling` (no provisional): [`TimerCAction::Local408`](crate::TimerCAction) and
//! the machine terminates. Fired in `Proceeding`: [`TimerCAction::Cancel`](crate::TimerCAction);
//! the machine keeps waiting for the 487 but re-arms C as a 64·T1 guard, after which it
//! reports `Timeout` — RFC 3261 leaves that wait unbounded, we do not (STYLE L8).
//!
//! # ACK (RFC 3261 §17.1.1.3, RFC 6026)
//! The ACK for a 300-699 is built by the TU with [`AckParts`](crate::AckParts) when the
//! client INVITE machine asks (the `build_ack` closure of `handle_response`), and resent by
//! the machine for every retransmitted final. The ACK for a 2xx is end-to-end, not the
//! transaction's job: the client `Accepted` state forwards 2xx retransmissions to the TU and
//! the server `Accepted` state passes the ACK up ([`TxEvent::Ack`](crate::TxEvent::Ack)) and
//! absorbs INVITE retransmissions.
//!
//! # CANCEL (RFC 3261 §9)
//! CANCEL has its own non-INVITE server transaction (key method `CANCEL`). The engine finds
//! the INVITE's server transaction with the same branch/sent-by and method `INVITE` and calls
//! [`ServerInviteTx::handle_cancel`](crate::ServerInviteTx::handle_cancel), which returns the
//! 487 decision. A client may ask
//! [`ClientInviteTx::can_cancel`](crate::ClientInviteTx::can_cancel).
//!
//! # Table and timer queue (STYLE L8, ARCHITECTURE decision 4)
//! [`TxTable`](crate::TxTable) matches per §17.1.3/§17.2.3 (the RFC 2543 fallback is out of
//! scope), with an ahash keyed hasher seeded by the engine, a hard capacity and typed
//! refusals ([`InsertError`](crate::InsertError)): accept, refuse with 503, or route to the
//! existing transaction. [`Timers`](crate::Timers) keeps one deadline per handle.
//!
//! # Not done here
//! - The 200 ms automatic 100 Trying of §17.2.1 (a proxy sends 100 at once, §16.2).
//! - RFC 2543 transaction matching; transport fail-over to the next DNS target (§17.1.4 /
//!   RFC 3263) — the TU sees `TransportError` and decides.
//! - Parsing: the engine extracts status, method, branch and sent-by with `ferrosip-parser`.
