//! SIP over TCP (RFC 3261 §18): per-worker listeners and non-blocking connections on the
//! worker's epoll set, Content-Length framing (§18.3), bounded header size, message size, write
//! queues, receive buffers and connection count, idle timeout, and connection reuse for sends
//! (§18.2.2: responses go back on the connection the request came on).
//!
//! A worker's buffer memory is bounded as a whole ([`BufBudget`]), with Kamailio's knobs:
//! - `tcp_conn_wq_max` (bytes queued for writing on one connection, default 32 KiB): a write
//!   that would queue more closes the connection ("too slow", as Kamailio says) and counts the
//!   message as dropped;
//! - `tcp_wq_max` (bytes queued for writing in the process, default 10 MiB), shared out evenly
//!   over the workers: a write that would take the worker's total over its share is refused
//!   and counted, the connection stays (the slow peer is caught by the per-connection bound);
//! - `-M` (Kamailio's private memory per process, default 8 MiB): the sum of the worker's
//!   receive buffers (partial messages waiting for their end). Input that would take it over
//!   closes the connection it came on, as for an oversized message.
//!
//! Every bound hit is logged at info level with the peer's address.
//!
//! A connection lives on the worker that accepted or opened it. A send for a peer whose
//! connection another worker owns crosses the mesh once ([`CoreMsg::StreamSend`]); the
//! process-wide [`ConnRegistry`] says which worker that is.

use crate::mesh::CoreMsg;
use crate::poller::{Ready, READ, WRITE};
use crate::worker::{Worker, CONN_BASE};
use ferrosip_parser::{frame, Framing, Proto};
use ferrosip_transports::callid::find_call_id;
use ferrosip_transports::steer::owner_of;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Largest header section accepted on a stream before the connection is closed: a peer that
/// never sends the blank line must not make us buffer without bound.
pub(crate) const MAX_HEADER: usize = 16 * 1024;

/// Largest whole message (headers and body) accepted on a stream.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;

/// Bytes read per `read(2)`.
const READ_CHUNK: usize = 64 * 1024;

/// Which worker owns the connection to each peer, for the whole process. Written when a
/// connection opens or closes, read only when a worker has no connection of its own to a peer.
#[derive(Default)]
pub(crate) struct ConnRegistry {
    next_id: AtomicU64,
    by_peer: RwLock<HashMap<SocketAddr, usize>>,
}

impl ConnRegistry {
    fn mint(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
    fn owner(&self, peer: &SocketAddr) -> Option<usize> {
        self.by_peer.read().ok().and_then(|m| m.get(peer).copied())
    }
    fn set(&self, peer: SocketAddr, worker: usize) {
        if let Ok(mut m) = self.by_peer.write() {
            m.insert(peer, worker);
        }
    }
    fn remove(&self, peer: &SocketAddr, worker: usize) {
        if let Ok(mut m) = self.by_peer.write() {
            if m.get(peer) == Some(&worker) {
                m.remove(peer);
            }
        }
    }
}

struct Conn {
    stream: TcpStream,
    id: u64,
    peer: SocketAddr,
    local: usize,
    /// The start of a message whose end has not arrived (empty between messages).
    rbuf: Vec<u8>,
    /// Bytes waiting for the socket: `wbuf[woff..]` (empty, and unallocated, when the socket
    /// has taken everything).
    wbuf: Vec<u8>,
    woff: usize,
    connecting: bool,
    writing: bool,
    last: Instant,
}

/// Writes as much of `data` as the socket takes now; the bytes taken.
fn write_now(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl Conn {
    fn pending(&self) -> usize {
        self.wbuf.len() - self.woff
    }

    /// Writes as much of the queue as the socket takes; what leaves the queue leaves the
    /// worker's total.
    fn write_some(&mut self, budget: &mut BufBudget) -> io::Result<()> {
        let res = write_now(&mut self.stream, &self.wbuf[self.woff..]);
        let n = *res.as_ref().unwrap_or(&0);
        self.woff += n;
        budget.unqueue(n);
        if self.woff == self.wbuf.len() {
            // Drained: give the memory back (most messages never queue at all).
            self.wbuf = Vec::new();
            self.woff = 0;
        }
        res.map(|_| ())
    }
}

/// One worker's byte bounds on its TCP buffers, and what its connections hold against them
/// now. Every byte added to a connection's write queue or receive buffer is counted here and
/// uncounted when it is written, consumed, or its connection closes, so the totals are zero
/// whenever the worker has no connection.
#[derive(Debug)]
pub(crate) struct BufBudget {
    /// `tcp_conn_wq_max`: bytes one connection may have queued for writing.
    conn_wq_max: usize,
    /// This worker's share of `tcp_wq_max`: bytes all its connections may have queued.
    wq_max: usize,
    /// `-M` in bytes: what all its connections may hold in receive buffers.
    rbuf_max: usize,
    /// Bytes queued for writing now, all connections.
    wq_total: usize,
    /// Bytes held in receive buffers now, all connections.
    rbuf_total: usize,
}

impl BufBudget {
    /// Bounds: `conn_wq_max` per connection's write queue, `wq_max` for the worker's write
    /// queues together, `rbuf_max` for its receive buffers together (bytes).
    pub(crate) fn new(conn_wq_max: usize, wq_max: usize, rbuf_max: usize) -> Self {
        Self {
            conn_wq_max,
            wq_max,
            rbuf_max,
            wq_total: 0,
            rbuf_total: 0,
        }
    }

    /// Whether a connection with `pending` bytes queued may queue `len` more.
    fn conn_fits(&self, pending: usize, len: usize) -> bool {
        pending.saturating_add(len) <= self.conn_wq_max
    }

    /// Whether the worker's write queues may take `len` more bytes.
    fn wq_fits(&self, len: usize) -> bool {
        self.wq_total.saturating_add(len) <= self.wq_max
    }

    /// Counts `len` bytes added to a write queue.
    fn queue(&mut self, len: usize) {
        self.wq_total += len;
    }

    /// Uncounts `len` bytes that left a write queue (written, or their connection closed).
    fn unqueue(&mut self, len: usize) {
        debug_assert!(len <= self.wq_total, "write-queue total below zero");
        self.wq_total = self.wq_total.saturating_sub(len);
    }

    /// Whether the worker's receive buffers may hold `len` more bytes.
    fn rbuf_fits(&self, len: usize) -> bool {
        self.rbuf_total.saturating_add(len) <= self.rbuf_max
    }

    /// Counts `len` bytes kept in a receive buffer.
    fn hold(&mut self, len: usize) {
        self.rbuf_total += len;
    }

    /// Uncounts `len` bytes that left a receive buffer.
    fn release(&mut self, len: usize) {
        debug_assert!(len <= self.rbuf_total, "receive-buffer total below zero");
        self.rbuf_total = self.rbuf_total.saturating_sub(len);
    }

    /// Whether nothing is queued or held.
    fn is_empty(&self) -> bool {
        self.wq_total == 0 && self.rbuf_total == 0
    }
}

/// What became of a message handed to [`Conns::send`].
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// The socket took all of it.
    Written,
    /// All or part of it waits in the connection's queue: the connection needs write
    /// readiness.
    Queued,
    /// Not taken: the worker's write queues would pass its share of `tcp_wq_max`. Nothing of
    /// the message was written; the connection is fine.
    WorkerFull,
    /// The connection's queue would pass `tcp_conn_wq_max`: the peer reads too slowly, close
    /// the connection.
    TooSlow,
    /// Part of the message is written and the rest would take the worker's write queues over
    /// its share of `tcp_wq_max`: the stream cannot carry half a message and then the next
    /// one, close the connection.
    PartlyWritten,
    /// The socket failed: close the connection.
    Failed,
}

/// One worker's stream connections (a slab indexed by epoll token).
pub(crate) struct Conns {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    by_peer: HashMap<SocketAddr, usize>,
    chunk: Vec<u8>,
    /// The worker's buffer bounds and totals.
    budget: BufBudget,
    /// Connections refused because the worker's bound was reached.
    pub(crate) refused: u64,
    /// Messages dropped: write queue bound reached, connection closed with messages queued,
    /// or connection failed (the TCP send errors).
    pub(crate) dropped: u64,
}

impl Conns {
    /// No connections yet, buffers bounded by `budget`.
    pub(crate) fn new(budget: BufBudget) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            by_peer: HashMap::new(),
            chunk: Vec::new(),
            budget,
            refused: 0,
            dropped: 0,
        }
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }

    fn insert(&mut self, c: Conn) -> usize {
        let (id, peer) = (c.id, c.peer);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(c);
                s
            }
            None => {
                self.slots.push(Some(c));
                self.slots.len() - 1
            }
        };
        self.by_id.insert(id, slot);
        self.by_peer.insert(peer, slot);
        slot
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    /// Takes a connection out of the slab and its buffers out of the totals. Whether the
    /// connection was the one this worker knows its peer by comes back with it.
    fn remove(&mut self, slot: usize) -> Option<(Conn, bool)> {
        let c = self.slots.get_mut(slot).and_then(Option::take)?;
        self.free.push(slot);
        self.by_id.remove(&c.id);
        let by_peer = self.by_peer.get(&c.peer) == Some(&slot);
        if by_peer {
            self.by_peer.remove(&c.peer);
        }
        self.budget.unqueue(c.pending());
        self.budget.release(c.rbuf.len());
        if c.pending() > 0 {
            self.dropped += 1;
        }
        debug_assert!(
            self.len() > 0 || self.budget.is_empty(),
            "TCP buffer totals not zero without connections: {:?}",
            self.budget
        );
        Some((c, by_peer))
    }

    /// Sends `data` on the connection in `slot`, Kamailio's asynchronous way: when nothing
    /// is queued before it (and the connection is up), the socket takes what it can now and
    /// only the rest is queued. The first message of a connection still connecting is queued
    /// whole and, as Kamailio's first write, is not held to `tcp_conn_wq_max`.
    ///
    /// Bounds, in this order: what would be queued beyond `tcp_conn_wq_max` on the connection
    /// makes it [`Sent::TooSlow`]; beyond the worker's share of `tcp_wq_max` makes it
    /// [`Sent::WorkerFull`] when none of the message was written, else
    /// [`Sent::PartlyWritten`].
    fn send(&mut self, slot: usize, data: &[u8]) -> Sent {
        let Some(c) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return Sent::Failed;
        };
        let budget = &mut self.budget;
        c.last = Instant::now();
        let first = c.pending() == 0;
        let written = if first && !c.connecting {
            match write_now(&mut c.stream, data) {
                Ok(n) => n,
                Err(_) => return Sent::Failed,
            }
        } else {
            0
        };
        let rest = &data[written..];
        if rest.is_empty() {
            return Sent::Written;
        }
        let exempt = first && c.connecting;
        if !exempt && !budget.conn_fits(c.pending(), rest.len()) {
            return Sent::TooSlow;
        }
        if !budget.wq_fits(rest.len()) {
            return if written == 0 {
                Sent::WorkerFull
            } else {
                Sent::PartlyWritten
            };
        }
        if c.woff > 0 {
            // Keep only what is still unwritten, so the buffer is no larger than its count.
            c.wbuf.drain(..c.woff);
            c.woff = 0;
        }
        c.wbuf.extend_from_slice(rest);
        budget.queue(rest.len());
        Sent::Queued
    }

    /// Takes the partial message a connection holds out of its buffer and out of the
    /// worker's total (it returns through [`Conns::keep_partial`]).
    fn take_partial(&mut self, slot: usize) -> Vec<u8> {
        let Some(c) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return Vec::new();
        };
        let held = std::mem::take(&mut c.rbuf);
        self.budget.release(held.len());
        held
    }

    /// Gives a connection back the start of a message whose end has not arrived. False,
    /// keeping nothing, when the worker's receive buffers would pass `-M`.
    fn keep_partial(&mut self, slot: usize, partial: Vec<u8>) -> bool {
        if !self.budget.rbuf_fits(partial.len()) {
            return false;
        }
        let Some(c) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        self.budget.hold(partial.len());
        c.rbuf = partial;
        true
    }
}

/// Registers a new connection with the worker's epoll set and the registry.
fn add_conn(
    w: &mut Worker,
    stream: TcpStream,
    peer: SocketAddr,
    local: usize,
    connecting: bool,
) -> Option<usize> {
    let id = w.registry.mint();
    let fd = stream.as_raw_fd();
    let conn = Conn {
        stream,
        id,
        peer,
        local,
        rbuf: Vec::new(),
        wbuf: Vec::new(),
        woff: 0,
        connecting,
        writing: connecting,
        last: Instant::now(),
    };
    let slot = w.conns.insert(conn);
    let interest = if connecting { READ | WRITE } else { READ };
    if let Err(e) = w.poller.add(fd, interest, CONN_BASE + slot as u64) {
        tracing::warn!("epoll add for {peer}: {e}");
        close(w, slot);
        return None;
    }
    w.registry.set(peer, w.id);
    Some(slot)
}

/// Closes a connection and forgets it everywhere (every close goes through here, so its
/// buffers leave the worker's totals).
fn close(w: &mut Worker, slot: usize) {
    let Some((c, by_peer)) = w.conns.remove(slot) else {
        return;
    };
    let _ = w.poller.delete(c.stream.as_raw_fd());
    if by_peer {
        w.registry.remove(&c.peer, w.id);
    }
}

/// Accepts every pending connection on listener `idx`.
pub(crate) fn accept_all(w: &mut Worker, idx: usize) {
    loop {
        let Some((_, l)) = w.listeners.iter().find(|(i, _)| *i == idx) else {
            return;
        };
        let (stream, peer) = match l.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("tcp accept failed: {e}");
                return;
            }
        };
        if w.conns.len() >= w.tcp_max_conns {
            w.conns.refused += 1;
            tracing::warn!(
                "tcp connection from {peer} refused: {} connections",
                w.tcp_max_conns
            );
            continue;
        }
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        add_conn(w, stream, peer, idx, false);
    }
}

/// Readiness on a connection: read and route what arrived, finish a connect, write the queue.
pub(crate) fn on_conn_event(w: &mut Worker, slot: u64, r: Ready) {
    let slot = slot as usize;
    if r.writable && !on_writable(w, slot) {
        return;
    }
    if r.readable {
        on_readable(w, slot);
    }
}

/// Returns false when the connection was closed.
fn on_writable(w: &mut Worker, slot: usize) -> bool {
    let Conns { slots, budget, .. } = &mut w.conns;
    let Some(c) = slots.get_mut(slot).and_then(Option::as_mut) else {
        return false;
    };
    if c.connecting {
        match c.stream.take_error() {
            Ok(None) if c.stream.peer_addr().is_ok() => c.connecting = false,
            other => {
                let peer = c.peer;
                tracing::info!("tcp connect to {peer} failed: {other:?}");
                close(w, slot);
                return false;
            }
        }
    }
    let res = c.write_some(budget);
    let fd = c.stream.as_raw_fd();
    let done = c.pending() == 0;
    if res.is_err() {
        close(w, slot);
        return false;
    }
    if done {
        c.writing = false;
        let _ = w.poller.modify(fd, READ, CONN_BASE + slot as u64);
    }
    true
}

fn on_readable(w: &mut Worker, slot: usize) {
    let mut chunk = std::mem::take(&mut w.conns.chunk);
    chunk.resize(READ_CHUNK, 0);
    let Some(c) = w.conns.get_mut(slot) else {
        w.conns.chunk = chunk;
        return;
    };
    let (id, peer, local) = (c.id, c.peer, c.local);
    let n = match c.stream.read(&mut chunk) {
        Ok(0) => {
            w.conns.chunk = chunk;
            close(w, slot);
            return;
        }
        Ok(n) => n,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            w.conns.chunk = chunk;
            return;
        }
        Err(e) => {
            tracing::debug!("tcp connection {peer}: {e}");
            w.conns.chunk = chunk;
            close(w, slot);
            return;
        }
    };
    c.last = Instant::now();
    // A message begun earlier leaves the worker's total while it is framed; what is still
    // partial afterwards comes back, checked against `-M`. Without one, the messages are
    // framed in the read buffer itself and only a partial tail is copied.
    let mut held = w.conns.take_partial(slot);
    let fresh = held.is_empty();
    if !fresh {
        held.extend_from_slice(&chunk[..n]);
    }
    let data: &[u8] = if fresh { &chunk[..n] } else { &held };
    let mut start = 0;
    let mut fatal = false;
    loop {
        match frame(&data[start..], MAX_HEADER) {
            Ok(Framing::Complete(len)) if len <= MAX_MESSAGE => {
                let msg = &data[start..start + len];
                // The call's transactions live on the worker owning its Call-ID (§3).
                let owner = if w.workers > 1 {
                    find_call_id(msg).map(|ci| owner_of(ci, w.workers))
                } else {
                    None
                };
                match owner {
                    Some(o) if o != w.id => w.hand_off(
                        o,
                        CoreMsg::Stream {
                            data: msg.to_vec(),
                            src: peer,
                            local,
                            conn: id,
                        },
                    ),
                    _ => w.route(msg, peer, local, Proto::Tcp, Some(id)),
                }
                start += len;
            }
            Ok(Framing::Complete(_)) => {
                tracing::info!("tcp connection {peer}: message over {MAX_MESSAGE} bytes, closing");
                fatal = true;
                break;
            }
            Ok(Framing::KeepAlive(len)) => {
                // RFC 5626 §3.5.1: a double-CRLF ping gets a single-CRLF pong.
                if len >= 4 {
                    queue(w, slot, b"\r\n");
                }
                start += len;
            }
            Ok(Framing::Partial) => break,
            Err(e) => {
                tracing::info!("tcp connection {peer}: {e}, closing");
                fatal = true;
                break;
            }
        }
    }
    let rest = data.len() - start;
    if !fatal && rest > MAX_MESSAGE {
        tracing::info!(
            "tcp connection {peer}: incomplete message over {MAX_MESSAGE} bytes, closing"
        );
        fatal = true;
    }
    let partial = if fatal || rest == 0 {
        Vec::new()
    } else if fresh {
        chunk[n - rest..n].to_vec()
    } else {
        held.drain(..start);
        // The buffer grew by doubling: give back what the partial message does not use, so
        // that the bytes counted against `-M` are the bytes held.
        held.shrink_to_fit();
        held
    };
    w.conns.chunk = chunk;
    w.flush();
    // Routing may have closed the connection (a reply that overran its write queue), and
    // the slot may hold another one since.
    if w.conns.get_mut(slot).is_none_or(|c| c.id != id) {
        return;
    }
    if fatal {
        close(w, slot);
        return;
    }
    let len = partial.len();
    if !w.conns.keep_partial(slot, partial) {
        tracing::info!(
            "tcp connection {peer}: keeping {len} bytes of a partial message would take this \
             worker's TCP receive buffers over {} bytes (-M), closing",
            w.conns.budget.rbuf_max
        );
        close(w, slot);
    }
}

/// Sends bytes on a connection ([`Conns::send`]) and acts on the outcome: asks for write
/// readiness when some wait in the queue; drops and counts the message when the worker's
/// write queues are full (the connection stays); closes the connection, counting the
/// message, when its own queue is over `tcp_conn_wq_max` or the socket failed.
fn queue(w: &mut Worker, slot: usize, data: &[u8]) {
    let Some(peer) = w.conns.get_mut(slot).map(|c| c.peer) else {
        return;
    };
    match w.conns.send(slot, data) {
        Sent::Written => {}
        Sent::Queued => {
            let Some(c) = w.conns.get_mut(slot) else {
                return;
            };
            if !c.writing {
                c.writing = true;
                let fd = c.stream.as_raw_fd();
                let _ = w.poller.modify(fd, READ | WRITE, CONN_BASE + slot as u64);
            }
        }
        Sent::WorkerFull => {
            w.conns.dropped += 1;
            let b = &w.conns.budget;
            tracing::info!(
                "tcp connection {peer}: {} more bytes would take this worker's TCP write queues \
                 ({} bytes) over its share of tcp_wq_max ({} bytes), message dropped",
                data.len(),
                b.wq_total,
                b.wq_max
            );
        }
        Sent::TooSlow => {
            w.conns.dropped += 1;
            tracing::info!(
                "tcp connection {peer}: write queue over {} bytes (tcp_conn_wq_max), too slow, \
                 closing",
                w.conns.budget.conn_wq_max
            );
            close(w, slot);
        }
        Sent::PartlyWritten => {
            w.conns.dropped += 1;
            tracing::info!(
                "tcp connection {peer}: the rest of a partly written message would take this \
                 worker's TCP write queues over its share of tcp_wq_max ({} bytes), closing",
                w.conns.budget.wq_max
            );
            close(w, slot);
        }
        Sent::Failed => {
            w.conns.dropped += 1;
            tracing::debug!("tcp connection {peer}: write failed, closing");
            close(w, slot);
        }
    }
}

/// Sends on our connection `conn` or to `dst`; else passes the message to the worker that owns a
/// connection to `dst`; else opens one from this worker.
pub(crate) fn send_local_or_connect(
    w: &mut Worker,
    dst: SocketAddr,
    conn: Option<u64>,
    data: Vec<u8>,
) {
    let slot = conn
        .and_then(|id| w.conns.by_id.get(&id).copied())
        .or_else(|| w.conns.by_peer.get(&dst).copied());
    if let Some(slot) = slot {
        queue(w, slot, &data);
        return;
    }
    if let Some(owner) = w.registry.owner(&dst) {
        if owner != w.id {
            w.hand_off(owner, CoreMsg::StreamSend { dst, data });
            return;
        }
    }
    if w.conns.len() >= w.tcp_max_conns {
        w.conns.dropped += 1;
        return;
    }
    // A new connection queues its first message: no connection when it would not fit.
    if !w.conns.budget.wq_fits(data.len()) {
        w.conns.dropped += 1;
        tracing::info!(
            "tcp connect to {dst}: this worker's TCP write queues are full (its share of \
             tcp_wq_max, {} bytes), message dropped",
            w.conns.budget.wq_max
        );
        return;
    }
    let stream = match connect_nonblocking(dst) {
        Ok(s) => s,
        Err(e) => {
            tracing::info!("tcp connect to {dst} failed: {e}");
            w.conns.dropped += 1;
            return;
        }
    };
    let local = w
        .sockets
        .iter()
        .position(|s| s.proto == Proto::Tcp && s.addr.is_ipv4() == dst.is_ipv4())
        .unwrap_or(0);
    if let Some(slot) = add_conn(w, stream, dst, local, true) {
        queue(w, slot, &data);
    }
}

/// Sends on an open connection only (Kamailio `set_reply_no_connect()` /
/// `set_forward_no_connect()`): ours (`conn` or one to `dst`), else the one another worker
/// owns; without one the message is dropped and counted, never a new connection opened.
pub(crate) fn send_if_connected(w: &mut Worker, dst: SocketAddr, conn: Option<u64>, data: Vec<u8>) {
    let slot = conn
        .and_then(|id| w.conns.by_id.get(&id).copied())
        .or_else(|| w.conns.by_peer.get(&dst).copied());
    if let Some(slot) = slot {
        queue(w, slot, &data);
        return;
    }
    match w.registry.owner(&dst) {
        Some(owner) if owner != w.id => w.hand_off(owner, CoreMsg::StreamSend { dst, data }),
        _ => {
            tracing::debug!("tcp send to {dst} dropped: no connection and no_connect set");
            w.conns.dropped += 1;
        }
    }
}

fn connect_nonblocking(dst: SocketAddr) -> io::Result<TcpStream> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(dst),
        socket2::Type::STREAM,
        None,
    )?;
    s.set_nonblocking(true)?;
    s.set_nodelay(true)?;
    match s.connect(&dst.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from(s))
}

/// Closes connections idle for longer than `tcp_connection_lifetime`.
pub(crate) fn close_idle(w: &mut Worker, now: Instant) {
    let idle: Vec<usize> = w
        .conns
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            c.as_ref()
                .filter(|c| now.duration_since(c.last) > w.tcp_lifetime)
                .map(|_| i)
        })
        .collect();
    for slot in idle {
        close(w, slot);
    }
}

/// On shutdown: write what is queued, for at most `limit`.
pub(crate) fn drain_writes(w: &mut Worker, limit: Duration) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let mut pending = false;
        let Conns { slots, budget, .. } = &mut w.conns;
        for c in slots.iter_mut().flatten() {
            if !c.connecting && c.pending() > 0 {
                let _ = c.write_some(budget);
                pending |= c.pending() > 0;
            }
        }
        if !pending {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn budget_counts_and_bounds() {
        let mut b = BufBudget::new(100, 250, 50);
        assert!(b.conn_fits(0, 100) && !b.conn_fits(1, 100) && !b.conn_fits(usize::MAX, 1));
        assert!(b.wq_fits(250) && !b.wq_fits(251));
        b.queue(200);
        assert!(b.wq_fits(50) && !b.wq_fits(51));
        b.unqueue(150);
        assert!(b.wq_fits(200));
        b.unqueue(50);
        assert!(b.rbuf_fits(50) && !b.rbuf_fits(51));
        b.hold(30);
        assert!(b.rbuf_fits(20) && !b.rbuf_fits(21));
        assert!(!b.is_empty());
        b.release(30);
        assert!(b.is_empty());
    }

    /// A connected pair on loopback with small socket buffers: ours non-blocking, the
    /// peer's left to the test (it never reads unless told to).
    fn pair() -> (TcpStream, TcpStream) {
        use socket2::{Domain, Socket, Type};
        let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        l.set_recv_buffer_size(4096).unwrap();
        l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        l.listen(4).unwrap();
        let l = TcpListener::from(l);
        let ours = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        ours.set_send_buffer_size(4096).unwrap();
        ours.connect(&l.local_addr().unwrap().into()).unwrap();
        let (peer, _) = l.accept().unwrap();
        let ours = TcpStream::from(ours);
        ours.set_nonblocking(true).unwrap();
        (ours, peer)
    }

    fn conn(stream: TcpStream, id: u64) -> Conn {
        Conn {
            peer: stream.peer_addr().unwrap(),
            stream,
            id,
            local: 0,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            woff: 0,
            connecting: false,
            writing: false,
            last: Instant::now(),
        }
    }

    /// Sends `msg` until the outcome is not `Written`/`Queued` (bounded); returns it and the
    /// messages accepted before it.
    fn send_until_stopped(conns: &mut Conns, slot: usize, msg: &[u8]) -> (Sent, usize) {
        for i in 0..20_000 {
            match conns.send(slot, msg) {
                Sent::Written | Sent::Queued => {}
                other => return (other, i),
            }
        }
        panic!("a peer that never reads was never caught");
    }

    #[test]
    fn a_peer_that_does_not_read_is_too_slow() {
        let (ours, _peer) = pair();
        let mut conns = Conns::new(BufBudget::new(8192, 1 << 20, 1 << 20));
        let slot = conns.insert(conn(ours, 1));
        let msg = [b'x'; 1000];
        let (sent, n) = send_until_stopped(&mut conns, slot, &msg);
        assert_eq!(sent, Sent::TooSlow);
        assert!(n > 8, "the socket took some and the queue the rest ({n})");
        let pending = conns.get_mut(slot).unwrap().pending();
        // The refused message would have passed the bound; what is queued is counted.
        assert!(pending <= 8192 && pending + msg.len() > 8192, "{pending}");
        assert_eq!(conns.budget.wq_total, pending);
        let (_, by_peer) = conns.remove(slot).unwrap();
        assert!(by_peer);
        assert!(conns.budget.is_empty());
        assert_eq!(
            conns.dropped, 1,
            "the queued messages are lost with the connection"
        );
    }

    #[test]
    fn a_full_worker_refuses_without_writing_and_drains() {
        let (slow, mut slow_peer) = pair();
        let (fast, mut fast_peer) = pair();
        let mut conns = Conns::new(BufBudget::new(1 << 20, 16 * 1024, 1 << 20));
        let a = conns.insert(conn(slow, 1));
        let b = conns.insert(conn(fast, 2));
        let msg = [b'y'; 1000];
        let (sent, _) = send_until_stopped(&mut conns, a, &msg);
        assert_eq!(sent, Sent::WorkerFull);
        let pending = conns.get_mut(a).unwrap().pending();
        assert!(pending <= 16 * 1024 && pending + msg.len() > 16 * 1024);
        assert_eq!(conns.budget.wq_total, pending);
        // Refused again, nothing of it queued: the connection stays usable.
        assert_eq!(conns.send(a, &msg), Sent::WorkerFull);
        assert_eq!(conns.get_mut(a).unwrap().pending(), pending);
        // Another connection whose socket takes the message directly is not held up.
        assert_eq!(conns.send(b, b"hello"), Sent::Written);
        let mut got = [0u8; 5];
        fast_peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        // The slow peer reads everything: the queue drains and leaves the total.
        slow_peer
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 64 * 1024];
        while conns.get_mut(a).unwrap().pending() > 0 {
            assert!(Instant::now() < end, "the queue did not drain");
            let _ = slow_peer.read(&mut buf);
            let Conns { slots, budget, .. } = &mut conns;
            slots[a].as_mut().unwrap().write_some(budget).unwrap();
        }
        assert_eq!(conns.budget.wq_total, 0);
        assert!(conns.get_mut(a).unwrap().wbuf.capacity() == 0);
        conns.remove(a).unwrap();
        conns.remove(b).unwrap();
        assert!(conns.budget.is_empty());
        assert_eq!(conns.dropped, 0);
    }

    #[test]
    fn the_first_message_of_a_connecting_connection_may_exceed_the_connection_bound() {
        let (ours, _peer) = pair();
        let mut conns = Conns::new(BufBudget::new(100, 1 << 20, 1 << 20));
        let mut c = conn(ours, 1);
        c.connecting = true;
        let slot = conns.insert(c);
        assert_eq!(conns.send(slot, &[b'z'; 500]), Sent::Queued);
        assert_eq!(conns.send(slot, b"more"), Sent::TooSlow);
        assert_eq!(conns.budget.wq_total, 500);
        conns.remove(slot).unwrap();
        assert!(conns.budget.is_empty());
    }

    #[test]
    fn partial_messages_are_bounded_by_the_receive_budget() {
        let (s1, _p1) = pair();
        let (s2, _p2) = pair();
        let mut conns = Conns::new(BufBudget::new(1 << 20, 1 << 20, 100));
        let a = conns.insert(conn(s1, 1));
        let b = conns.insert(conn(s2, 2));
        assert!(conns.keep_partial(a, vec![1; 60]));
        assert!(!conns.keep_partial(b, vec![2; 60]));
        assert!(conns.get_mut(b).unwrap().rbuf.is_empty());
        assert!(conns.keep_partial(b, vec![2; 40]));
        // Taken out while it is framed, the buffer leaves the total.
        let held = conns.take_partial(a);
        assert_eq!(held.len(), 60);
        assert_eq!(conns.budget.rbuf_total, 40);
        assert!(conns.keep_partial(a, vec![1; 60]));
        conns.remove(a).unwrap();
        assert_eq!(conns.budget.rbuf_total, 40);
        conns.remove(b).unwrap();
        assert!(conns.budget.is_empty());
    }
}
