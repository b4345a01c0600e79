//! SIP over TCP (RFC 3261 §18): per-worker listeners and connections, Content-Length framing
//! (§18.3), bounded header size and connection count, idle timeout, and connection reuse for
//! sends (§18.2.2: responses go back on the connection the request came on).
//!
//! A connection lives on the worker that accepted or opened it. A send for a peer whose
//! connection another worker owns crosses the mesh once ([`CoreMsg::StreamSend`]); the
//! process-wide [`ConnRegistry`] says which worker that is.

use crate::mesh::CoreMsg;
use crate::worker::Worker;
use ferrosip_parser::{frame, Framing, Proto};
use ferrosip_routing::api::Transmit;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// Largest header section accepted on a stream before the connection is closed: a peer that
/// never sends the blank line must not make us buffer without bound.
pub(crate) const MAX_HEADER: usize = 16 * 1024;

/// Largest whole message (headers and body) accepted on a stream.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;

/// Messages queued for writing on one connection before further sends are dropped.
const WRITE_QUEUE: usize = 1024;

/// How long an outgoing connection attempt may take (Kamailio `tcp_connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

struct ConnHandle {
    peer: SocketAddr,
    tx: LocalSender<Vec<u8>>,
    queued: Rc<Cell<usize>>,
}

/// One worker's stream connections.
#[derive(Default)]
pub(crate) struct Conns {
    by_id: HashMap<u64, ConnHandle>,
    by_peer: HashMap<SocketAddr, u64>,
    /// Connections refused because the worker's bound was reached.
    pub(crate) refused: u64,
    /// Messages dropped: write queue full, or connection failed.
    pub(crate) dropped: u64,
}

impl Conns {
    /// Messages queued but not yet written, over all connections.
    pub(crate) fn pending_writes(&self) -> usize {
        self.by_id.values().map(|c| c.queued.get()).sum()
    }

    fn queue(&mut self, id: u64, data: Vec<u8>) -> bool {
        let Some(c) = self.by_id.get(&id) else {
            return false;
        };
        match c.tx.try_send(data) {
            Ok(()) => {
                c.queued.set(c.queued.get() + 1);
            }
            Err(_) => self.dropped += 1,
        }
        true
    }
}

/// Accepts connections on one listener until the task is cancelled.
pub(crate) async fn accept_loop(w: Rc<Worker>, idx: usize, sock: socket2::Socket) {
    // SAFETY: we own the listener's fd and hand it to glommio, which closes it on drop.
    let listener = unsafe { TcpListener::from_raw_fd(sock.into_raw_fd()) };
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("tcp accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        if w.conns.borrow().by_id.len() >= w.tcp_max_conns {
            w.conns.borrow_mut().refused += 1;
            tracing::warn!(
                "tcp connection from {peer} refused: {} connections",
                w.tcp_max_conns
            );
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (id, rx, queued) = register(&w, peer);
        glommio::spawn_local(run_conn(w.clone(), stream, idx, id, peer, rx, queued)).detach();
    }
}

fn register(w: &Worker, peer: SocketAddr) -> (u64, LocalReceiver<Vec<u8>>, Rc<Cell<usize>>) {
    let id = w.registry.mint();
    let (tx, rx) = local_channel::new_bounded(WRITE_QUEUE);
    let queued = Rc::new(Cell::new(0));
    let mut conns = w.conns.borrow_mut();
    conns.by_id.insert(
        id,
        ConnHandle {
            peer,
            tx,
            queued: queued.clone(),
        },
    );
    conns.by_peer.insert(peer, id);
    w.registry.set(peer, w.id);
    (id, rx, queued)
}

fn unregister(w: &Worker, id: u64) {
    let mut conns = w.conns.borrow_mut();
    if let Some(c) = conns.by_id.remove(&id) {
        if conns.by_peer.get(&c.peer) == Some(&id) {
            conns.by_peer.remove(&c.peer);
            w.registry.remove(&c.peer, w.id);
        }
    }
}

/// Reads, frames and routes messages from one connection while a writer task drains its queue;
/// closes it on EOF, a framing error, an oversized message or `tcp_connection_lifetime` idle.
async fn run_conn(
    w: Rc<Worker>,
    stream: TcpStream,
    local: usize,
    id: u64,
    peer: SocketAddr,
    rx: LocalReceiver<Vec<u8>>,
    queued: Rc<Cell<usize>>,
) {
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    let writer = glommio::spawn_local(async move {
        while let Some(buf) = rx.recv().await {
            queued.set(queued.get().saturating_sub(1));
            if let Err(e) = wr.write_all(&buf).await {
                tracing::debug!("tcp write to {peer} failed: {e}");
                break;
            }
        }
        let _ = wr.close().await;
    });
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    'conn: loop {
        let n = match glommio::timer::timeout(w.tcp_lifetime, async {
            rd.read(&mut chunk).await.map_err(Into::into)
        })
        .await
        {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("tcp connection {peer}: {e}");
                break;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match frame(&buf, MAX_HEADER) {
                Ok(Framing::Complete(len)) if len <= MAX_MESSAGE => {
                    w.route(&buf[..len], peer, local, Proto::Tcp, Some(id));
                    w.flush();
                    buf.drain(..len);
                }
                Ok(Framing::Complete(_)) => {
                    tracing::info!(
                        "tcp connection {peer}: message over {MAX_MESSAGE} bytes, closing"
                    );
                    break 'conn;
                }
                Ok(Framing::KeepAlive(len)) => {
                    // RFC 5626 §3.5.1: a double-CRLF ping gets a single-CRLF pong.
                    if len >= 4 {
                        w.conns.borrow_mut().queue(id, b"\r\n".to_vec());
                    }
                    buf.drain(..len);
                }
                Ok(Framing::Partial) => break,
                Err(e) => {
                    tracing::info!("tcp connection {peer}: {e}, closing");
                    break 'conn;
                }
            }
        }
        if buf.len() > MAX_MESSAGE {
            tracing::info!(
                "tcp connection {peer}: incomplete message over {MAX_MESSAGE} bytes, closing"
            );
            break;
        }
    }
    unregister(&w, id);
    // Dropping the last sender ends the writer once it has written what is queued.
    let _ = writer.await;
}

/// Sends a routed message over TCP.
pub(crate) fn send(w: &Worker, t: Transmit) {
    send_local_or_connect(w, t.dst, t.conn, t.data);
}

/// Sends on our connection `conn` or to `dst`; else passes the message to the worker that owns a
/// connection to `dst`; else opens one from this worker.
pub(crate) fn send_local_or_connect(w: &Worker, dst: SocketAddr, conn: Option<u64>, data: Vec<u8>) {
    {
        let mut conns = w.conns.borrow_mut();
        let id = conn
            .filter(|c| conns.by_id.contains_key(c))
            .or_else(|| conns.by_peer.get(&dst).copied());
        if let Some(id) = id {
            conns.queue(id, data);
            return;
        }
    }
    if let Some(owner) = w.registry.owner(&dst) {
        if owner != w.id {
            w.hand_off(owner, CoreMsg::StreamSend { dst, data });
            return;
        }
    }
    if w.conns.borrow().by_id.len() >= w.tcp_max_conns {
        w.conns.borrow_mut().dropped += 1;
        return;
    }
    let (id, rx, queued) = register(w, dst);
    w.conns.borrow_mut().queue(id, data);
    let local = w
        .sockets
        .iter()
        .position(|s| s.proto == Proto::Tcp && s.addr.is_ipv4() == dst.is_ipv4())
        .unwrap_or(0);
    let w = w.rc();
    glommio::spawn_local(async move {
        match glommio::timer::timeout(CONNECT_TIMEOUT, async {
            TcpStream::connect(dst).await.map_err(Into::into)
        })
        .await
        {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                run_conn(w, stream, local, id, dst, rx, queued).await;
            }
            Err(e) => {
                tracing::info!("tcp connect to {dst} failed: {e}");
                let lost = queued.get() as u64;
                w.conns.borrow_mut().dropped += lost;
                unregister(&w, id);
            }
        }
    })
    .detach();
}
