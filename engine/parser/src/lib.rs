//! Zero-copy SIP message parser and message model (RFC 3261 §7, §20, §25).
//!
//! What it does: [`parse`] turns one received message (a UDP datagram, or one message cut
//! from a stream by [`frame`]) into a [`Message`], a borrowed view of the buffer whose header
//! index and routing-relevant typed headers (Via, From, To, Call-ID, CSeq, Max-Forwards,
//! Content-Length) live in a per-message [`bumpalo::Bump`] arena (a response's From, To and
//! Vias below the topmost are parsed on first access, see [`Message`]). Malformed input is a
//! [`ParseError`] that maps to the response to send ([`ParseError::status`],
//! [`ParseError::reason`]); no input makes it panic. [`Edits`] rewrites a message for
//! forwarding without re-encoding it.
//!
//! What it doesn't do: no I/O, no clock, no transaction or dialog logic, no allocation
//! outside the arena while parsing, and no SDP or multipart body parsing. Anything that must
//! outlive the receive buffer (transaction keys...) the caller copies out.
//!
//! The RFC 4475 torture messages and the RFC 5118 IPv6 messages are its conformance suite
//! (`tests/torture.rs`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod manual;

mod chars;
mod edits;
mod error;
mod framing;
mod header;
mod message;
mod method;
mod nameaddr;
mod proto;
mod uri;
mod via;

pub use edits::{EditError, Edits};
pub use error::ParseError;
pub use framing::{frame, Framing};
pub use header::{Header, HeaderName};
pub use message::{parse, Message, StartLine};
pub use method::{Method, Version};
pub use nameaddr::{parse_cseq, parse_name_addr, parse_name_addr_list, CSeq, NameAddr};
pub use proto::Proto;
pub use uri::{parse_uri, Scheme, Uri};
pub use via::{parse_via, Via};

/// The most header lines one message may have. Each costs an arena slot and a scan, and a
/// peer could otherwise send thousands of tiny headers to burn CPU and memory per datagram;
/// real messages carry 10–40 (RFC 4475's longest, §3.1.1.7, has fewer than 40). Beyond it,
/// [`ParseError::TooManyHeaders`].
pub const MAX_HEADERS: usize = 128;

/// The most Via values one message may have. Each hop adds one, and RFC 3261 §16.6 step 3's
/// Max-Forwards of 70 bounds a legitimate path; we allow that plus slack. Beyond it,
/// [`ParseError::TooManyVias`] (a peer could otherwise make every response walk a huge
/// list).
pub const MAX_VIAS: usize = 80;

/// The largest message accepted: the largest UDP payload (RFC 3261 §18.1.1 leaves streams
/// unbounded, but an unbounded Content-Length would let a peer make us buffer without
/// limit). Beyond it, [`ParseError::TooLarge`] (513, RFC 3261 §21.5.13).
pub const MAX_MESSAGE: usize = 65535;
