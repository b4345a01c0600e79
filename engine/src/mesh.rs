//! Messages between workers (STYLE L12): small, owned, typed, and rare. In BPF mode almost no
//! datagram crosses; in the fallback mode the worker that received a datagram hands it to the
//! worker that owns its Call-ID.

use std::net::SocketAddr;

/// Capacity of each worker-to-worker channel; a full channel drops (and counts) the message
/// rather than stall the sender.
pub(crate) const MESH_CAPACITY: usize = 4096;

/// A message from one worker to another.
#[derive(Debug)]
pub(crate) enum CoreMsg {
    /// A datagram received by another worker whose call this worker owns.
    Datagram {
        /// The datagram.
        data: Vec<u8>,
        /// Its source.
        src: SocketAddr,
        /// Index of the listen socket it arrived on.
        local: usize,
    },
    /// A framed message from a stream connection another worker owns, whose call this
    /// worker owns (ARCHITECTURE.md §3: it crosses the mesh once; replies go back through
    /// the connection's owner).
    Stream {
        /// The message.
        data: Vec<u8>,
        /// The connection's peer.
        src: SocketAddr,
        /// Index of the listen socket the connection belongs to.
        local: usize,
        /// The connection.
        conn: u64,
    },
    /// Bytes to write on a stream connection this worker owns.
    StreamSend {
        /// The connection's peer.
        dst: SocketAddr,
        /// The framed message.
        data: Vec<u8>,
    },
}
