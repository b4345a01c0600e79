//! Sockets and framing for ferrosip.
//!
//! Binding SO_REUSEPORT sockets (socket2), batched UDP receive/send, Content-Length framing of
//! streams (RFC 3261 §18.3), and the eBPF `SK_REUSEPORT` program that steers each datagram to
//! the worker owning its Call-ID. No executor lives here: the engine drives these.
#![warn(missing_docs)]

pub mod callid;
pub mod sock;
pub mod steer;
pub mod udp;
