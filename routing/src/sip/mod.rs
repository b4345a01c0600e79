//! The message side of routing: what script functions do to a SIP message, and the
//! per-worker [`Router`] pipeline (parse, run routes, forward, reply).
//!
//! One [`Router`] per worker. For each received message ([`crate::api::Inbound`]) it resets a
//! per-message arena, parses the message in place, and then:
//! - requests: answers parse errors with `400 <reason>` (RFC 4475 §3.1.2), other SIP versions
//!   with 505 (RFC 3261 §8.2.2 / RFC 4475 §3.1.2.16) and unknown R-URI schemes with 416 (RFC
//!   4475 §3.3.2); absorbs ACKs to its own stateless replies; runs `request_route`, whose
//!   functions act through the [`crate::names::Host`] context (stateless `forward()` per
//!   RFC 3261 §16.11, `sl_send_reply` per §8.2.6, maxfwd, sanity, textops, flags, xlog); then
//!   `onsend_route` for each forwarded copy;
//! - responses: drops those whose top Via is not ours, runs `reply_route`, removes our Via and
//!   sends the response to the next Via (§18.2.2, RFC 3581 §4).
//!
//! Outgoing requests are the received bytes with an edit list applied (STYLE L14), never a
//! re-encoding. Nothing panics on any input; every bad input is answered or counted in
//! [`Stats`].
//!
//! Known limits: name resolution (for non-literal destinations) blocks the worker, with a
//! small per-router cache (`resolve.rs`); no RFC 3263 NAPTR/SRV.

mod ctx;
mod hash;
mod reply;
mod resolve;
mod router;
mod sanity;
mod stats;
mod text;

pub use router::Router;
pub use stats::Stats;

#[cfg(test)]
mod ctx_tests;
#[cfg(test)]
mod router_tests;
