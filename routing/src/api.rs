//! The seam between the engine (sockets, workers) and routing (what to do with a message).
//!
//! The engine owns sockets and calls `crate::sip::Router::handle` with an [`Inbound`]; routing
//! answers with [`Transmit`]s that the engine sends. Nothing here does I/O.

use std::net::SocketAddr;

pub use ferrosip_parser::Proto;

/// Identifies a stream connection (TCP/TLS/WS) within the whole process.
/// The engine mints them; routing only hands them back in [`Transmit::conn`].
pub type ConnId = u64;

/// One socket this worker listens on (a `listen=` / `-l` entry after binding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSocket {
    /// Transport of the socket.
    pub proto: Proto,
    /// The bound address.
    pub addr: SocketAddr,
    /// `listen=... advertise host:port`: what goes into Via/Record-Route instead of `addr`.
    pub advertise: Option<(String, Option<u16>)>,
}

/// Facts about the worker a `crate::sip::Router` runs in.
#[derive(Clone, Debug)]
pub struct WorkerEnv {
    /// This worker's index, `0..workers`.
    pub worker: usize,
    /// Number of workers.
    pub workers: usize,
    /// Every socket the process listens on (the same list in every worker).
    pub sockets: Vec<LocalSocket>,
}

/// A message as received from the network.
#[derive(Clone, Copy, Debug)]
pub struct Inbound<'a> {
    /// The bytes of one SIP message (a whole datagram, or one framed stream message).
    pub data: &'a [u8],
    /// The peer that sent it.
    pub src: SocketAddr,
    /// The local socket it arrived on (index into [`WorkerEnv::sockets`]).
    pub local: usize,
    /// Transport it arrived over.
    pub proto: Proto,
    /// The stream connection it arrived on, if any.
    pub conn: Option<ConnId>,
}

/// A message routing wants sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Transport to send over.
    pub proto: Proto,
    /// Destination address.
    pub dst: SocketAddr,
    /// Local socket to send from (index into [`WorkerEnv::sockets`]); `None`: the first socket of
    /// `proto` with the destination's address family.
    pub local: Option<usize>,
    /// For streams: the connection to use if it is still open (replies go back on the
    /// connection the request came on, RFC 3261 §18.2.2); otherwise one to `dst` is used or opened.
    pub conn: Option<ConnId>,
    /// For streams: send only on an open connection (to `dst` or `conn`), never open a new
    /// one; without one the message is dropped (Kamailio `set_reply_no_connect()` /
    /// `set_forward_no_connect()`).
    pub no_connect: bool,
    /// The serialized message.
    pub data: Vec<u8>,
}
