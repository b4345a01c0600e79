//! ferrosip-bench: the SIP load generator of ferrosip.
//!
//! Scenarios `uac`, `uas`, `register` (digest auth), `options` and `message` over UDP or TCP,
//! SIPp-compatible flags, one glommio worker per core (`-n`) with its own socket and share of
//! the rate, RFC 3261 retransmission timers on UDP, HDR latency histograms per request kind,
//! a live progress line on a terminal, a summary table, `--json` and a self-contained HTML
//! `--report`, and `--find-max` to search the highest sustainable rate.
//!
//! What it doesn't do: media (RTP), SIPp XML scenario files, TLS/SCTP, or any network
//! access beyond the sockets it opens to the given peer.
#![warn(missing_docs)]

pub mod cli;
pub mod digest;
pub mod report;
pub mod sip;
pub mod stats;
pub mod uac;
pub mod uas;
pub mod users;
pub mod worker;
