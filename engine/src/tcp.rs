//! SIP over TCP (RFC 3261 §18): per-worker listeners and non-blocking connections on the
//! worker's epoll set, Content-Length framing (§18.3), bounded header size, message size, write
//! queue and connection count, idle timeout, and connection reuse for sends (§18.2.2: responses
//! go back on the connection the request came on).
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

/// Bytes queued for writing on one connection before further messages to it are dropped
/// (and counted): a peer that stops reading must not make us buffer without bound.
pub(crate) const MAX_WRITE_QUEUE: usize = 4 << 20;

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
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    woff: usize,
    connecting: bool,
    writing: bool,
    last: Instant,
}

impl Conn {
    fn pending(&self) -> usize {
        self.wbuf.len() - self.woff
    }

    /// Writes as much of the queue as the socket takes.
    fn write_some(&mut self) -> io::Result<()> {
        while self.woff < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.woff..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.woff += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.woff == self.wbuf.len() {
            self.wbuf.clear();
            self.woff = 0;
        }
        Ok(())
    }
}

/// One worker's stream connections (a slab indexed by epoll token).
#[derive(Default)]
pub(crate) struct Conns {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    by_peer: HashMap<SocketAddr, usize>,
    chunk: Vec<u8>,
    /// Connections refused because the worker's bound was reached.
    pub(crate) refused: u64,
    /// Messages dropped: write queue full, or connection failed.
    pub(crate) dropped: u64,
}

impl Conns {
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

/// Closes a connection and forgets it everywhere.
fn close(w: &mut Worker, slot: usize) {
    let Some(c) = w.conns.slots.get_mut(slot).and_then(Option::take) else {
        return;
    };
    let _ = w.poller.delete(c.stream.as_raw_fd());
    w.conns.free.push(slot);
    w.conns.by_id.remove(&c.id);
    if w.conns.by_peer.get(&c.peer) == Some(&slot) {
        w.conns.by_peer.remove(&c.peer);
        w.registry.remove(&c.peer, w.id);
    }
    if c.pending() > 0 {
        w.conns.dropped += 1;
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
    let Some(c) = w.conns.get_mut(slot) else {
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
    let res = c.write_some();
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
    let mut buf = std::mem::take(&mut c.rbuf);
    buf.extend_from_slice(&chunk[..n]);
    w.conns.chunk = chunk;
    let mut start = 0;
    let mut fatal = false;
    loop {
        match frame(&buf[start..], MAX_HEADER) {
            Ok(Framing::Complete(len)) if len <= MAX_MESSAGE => {
                let msg = &buf[start..start + len];
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
    buf.drain(..start);
    if buf.len() > MAX_MESSAGE {
        tracing::info!(
            "tcp connection {peer}: incomplete message over {MAX_MESSAGE} bytes, closing"
        );
        fatal = true;
    }
    w.flush();
    match w.conns.get_mut(slot) {
        Some(c) if c.id == id && !fatal => c.rbuf = buf,
        Some(c) if c.id == id => close(w, slot),
        _ => {}
    }
}

/// Queues bytes on a connection and writes what the socket takes now.
fn queue(w: &mut Worker, slot: usize, data: &[u8]) {
    let Some(c) = w.conns.get_mut(slot) else {
        return;
    };
    if c.pending() + data.len() > MAX_WRITE_QUEUE {
        w.conns.dropped += 1;
        return;
    }
    c.wbuf.extend_from_slice(data);
    c.last = Instant::now();
    if c.connecting {
        return;
    }
    if c.write_some().is_err() {
        close(w, slot);
        return;
    }
    if c.pending() > 0 && !c.writing {
        c.writing = true;
        let fd = c.stream.as_raw_fd();
        let _ = w.poller.modify(fd, READ | WRITE, CONN_BASE + slot as u64);
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
        for c in w.conns.slots.iter_mut().flatten() {
            if !c.connecting && c.pending() > 0 {
                let _ = c.write_some();
                pending |= c.pending() > 0;
            }
        }
        if !pending {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
