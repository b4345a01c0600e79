//! Zero-copy SIP message parser (RFC 3261 §7, §20, §25).
#![forbid(unsafe_code)]

mod proto;
pub use proto::Proto;
