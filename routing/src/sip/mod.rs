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
//! Configuration read here (Kamailio names and defaults):
//! - core: `alias` (extra `myself` names, `host[:port]`, no port = any port), `server_header`
//!   (default `Server: ferrosip`), `server_signature` (default yes), `sip_warning` (default no:
//!   a `Warning: 392` debugging header on local replies); listen addresses and `advertise` come
//!   from [`crate::api::WorkerEnv::sockets`];
//! - `modparam("maxfwd", "max_limit", 70)`: highest Max-Forwards passed on;
//! - `modparam("sanity", ...)`: `default_checks` (3047), `uri_checks` (7), `proxy_require`
//!   (empty: every Proxy-Require gets 420), `autodrop` (1: a failed check stops the script),
//!   `noreply` (0).
//!
//! Return codes follow Kamailio: positive true, negative false, 0 stops the script.
//! `forward()` returns 1 when queued, a negative value on failure (kept for `sl_reply_error`),
//! and 0 after answering 483 (Max-Forwards 0, RFC 3261 §16.6 step 3, unless
//! `mf_process_maxfwd_header` ran) or 482 (loop, §16.3 step 4). Stateless branches are
//! `z9hG4bK<16 hex: transaction hash>.<8 hex: loop hash>` (§16.11): the transaction part
//! hashes the received top branch and sent-by when the branch carries the magic cookie, else
//! the top Via, tags, Call-ID, CSeq number and R-URI; the loop part hashes the outgoing R-URI,
//! Call-ID, From-tag, CSeq number, Route and Proxy-Require. A Via of ours with the same loop
//! part means a loop.
//!
//! Known limits: name resolution (for non-literal destinations) blocks the worker, with a
//! small per-router cache (`resolve.rs`); no RFC 3263 NAPTR/SRV. A listen socket bound to a
//! wildcard address should be given an `advertise` address, or our Via carries `0.0.0.0`.
//! `onsend_route` runs once per forwarded copy after `request_route` has finished (not during
//! `forward()`), so `drop` there cancels that copy.

mod acc;
mod auth;
mod counters;
mod ctx;
mod dialog;
mod hash;
mod htable;
mod kcore;
mod process;
mod registrar;
mod reply;
mod resolve;
mod router;
mod rr;
mod sanity;
mod stats;
mod text;
mod textopsx;
mod tm;
mod tm_fns;

pub use acc::AccCfg;
pub use counters::{ScriptCounter, ScriptCounters, MAX_COUNTERS};
pub use dialog::ProfileBoard;
pub(crate) use htable::unix_now;
pub use process::ProcessState;
pub use router::Router;
pub use stats::{Stats, RX_CLASSES, RX_METHODS, RX_REPLY_METHODS, SL_CODES};
pub use tm::TmStats;

#[cfg(test)]
mod acc_tests;
#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod ctx_tests;
#[cfg(test)]
mod htable_tests;
#[cfg(test)]
mod router_tests;
#[cfg(test)]
mod tm_tests;
