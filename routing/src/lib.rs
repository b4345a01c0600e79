//! Kamailio-style routing for ferrosip.
//!
//! `cfg` turns a `kamailio.cfg`-dialect file into a compiled `cfg::Script` (preprocessor, parser,
//! checker, compiler, interpreter); `sip` and `modules` carry out what the script asks of a
//! SIP message (stateless forwarding, local replies, header edits, sanity checks). The engine
//! feeds `sip::Router::handle` one received message at a time and sends what it returns.
//! This crate does no I/O of its own.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod cfg;
pub mod names;
pub mod rpc;
pub mod sip;
