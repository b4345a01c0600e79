//! One worker per core: a glommio executor pinned with core_affinity, owning its sockets, its
//! router (compiled script, arena, counters) and its stream connections. Nothing here is shared
//! with other workers except through the mesh and the connection registry.

use crate::listen::Bound;
use crate::mesh::{CoreMsg, MESH_CAPACITY};
use crate::tcp::{self, ConnRegistry, Conns};
use ferrosip_parser::Proto;
use ferrosip_routing::api::{Inbound, Transmit, WorkerEnv};
use ferrosip_routing::cfg::Config;
use ferrosip_routing::sip::Router;
use ferrosip_transports::callid::find_call_id;
use ferrosip_transports::steer::owner_of;
use ferrosip_transports::udp::{send_batch, RecvBatch, RECV_BATCH};
use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};
use glommio::{LocalExecutorBuilder, Placement};
use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Memory glommio registers for its io_uring buffers per worker (it needs locked memory).
const IO_MEMORY: usize = 512 << 10;

/// How often a worker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// How long a stopping worker waits for queued stream writes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Per-worker counters, printed when the worker stops.
#[derive(Default, Debug, Clone)]
pub(crate) struct WorkerStats {
    /// Datagrams received from this worker's sockets.
    pub(crate) received: u64,
    /// Messages handed to this worker's router.
    pub(crate) handled: u64,
    /// Datagrams passed to their owner over the mesh.
    pub(crate) handed_off: u64,
    /// Datagrams received from other workers over the mesh.
    pub(crate) from_mesh: u64,
    /// Mesh messages dropped because the peer's channel was full.
    pub(crate) mesh_drops: u64,
    /// Datagrams sent.
    pub(crate) sent: u64,
    /// Sends that failed (socket buffer full, no route, no connection).
    pub(crate) send_failed: u64,
    /// Router counters.
    pub(crate) router: String,
}

impl fmt::Display for WorkerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received={} handled={} handed_off={} from_mesh={} mesh_drops={} sent={} send_failed={} {}",
            self.received,
            self.handled,
            self.handed_off,
            self.from_mesh,
            self.mesh_drops,
            self.sent,
            self.send_failed,
            self.router
        )
    }
}

/// Everything one worker owns, shared among its tasks (single thread: `Rc`/`RefCell`, and no
/// borrow is ever held across an `.await`).
pub(crate) struct Worker {
    me: std::rc::Weak<Worker>,
    pub(crate) id: usize,
    pub(crate) workers: usize,
    router: RefCell<Router>,
    /// UDP sockets by listen-socket index.
    udp: Vec<(usize, Rc<glommio::net::UdpSocket>)>,
    pub(crate) sockets: Vec<ferrosip_routing::api::LocalSocket>,
    senders: Option<Senders<CoreMsg>>,
    /// Mesh peer id of each worker.
    peer_ids: Vec<usize>,
    pub(crate) conns: RefCell<Conns>,
    pub(crate) registry: Arc<ConnRegistry>,
    pub(crate) stats: RefCell<WorkerStats>,
    out: RefCell<Vec<Transmit>>,
    pub(crate) tcp_lifetime: Duration,
    pub(crate) tcp_max_conns: usize,
}

/// Starts every worker thread; each returns its counters when it stops.
pub(crate) fn spawn_all(
    cfg: &Arc<Config>,
    bound: Bound,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> Result<Vec<std::thread::JoinHandle<Result<WorkerStats, String>>>, String> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mesh: MeshBuilder<CoreMsg, Full> = MeshBuilder::full(workers, MESH_CAPACITY);
    // glommio numbers mesh peers in the order they join; this maps worker ids onto them.
    let peers: Arc<Vec<AtomicUsize>> =
        Arc::new((0..workers).map(|_| AtomicUsize::new(usize::MAX)).collect());
    let registry = Arc::new(ConnRegistry::default());
    let sockets = bound.sockets.clone();
    let mut handles = Vec::with_capacity(workers);
    for (id, socks) in bound.per_worker.into_iter().enumerate() {
        let core = if cores.is_empty() {
            None
        } else {
            Some(cores[id % cores.len()])
        };
        let cfg = cfg.clone();
        let stop = stop.clone();
        let mesh = mesh.clone();
        let registry = registry.clone();
        let sockets = sockets.clone();
        let peers = peers.clone();
        let h = std::thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let ex = LocalExecutorBuilder::new(Placement::Unbound)
                    .name(&format!("worker-{id}"))
                    .io_memory(IO_MEMORY)
                    .make()
                    .map_err(|e| format!("cannot start executor: {e}"))?;
                ex.run(run_worker(
                    id, workers, cfg, sockets, socks, mesh, peers, registry, stop,
                ))
            })
            .map_err(|e| format!("cannot spawn worker {id}: {e}"))?;
        handles.push(h);
    }
    Ok(handles)
}

#[allow(clippy::too_many_arguments)]
async fn run_worker(
    id: usize,
    workers: usize,
    cfg: Arc<Config>,
    sockets: Vec<ferrosip_routing::api::LocalSocket>,
    socks: Vec<(usize, socket2::Socket)>,
    mesh: MeshBuilder<CoreMsg, Full>,
    peers: Arc<Vec<AtomicUsize>>,
    registry: Arc<ConnRegistry>,
    stop: Arc<AtomicBool>,
) -> Result<WorkerStats, String> {
    let (senders, mut receivers) = if workers > 1 {
        let (s, r) = mesh
            .join()
            .await
            .map_err(|_| "cannot join the worker mesh".to_string())?;
        peers[id].store(s.peer_id(), Ordering::Release);
        // Every worker must know every other's mesh peer id before the first hand-off.
        while peers
            .iter()
            .any(|p| p.load(Ordering::Acquire) == usize::MAX)
        {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        (Some(s), Some(r))
    } else {
        (None, None)
    };
    let peer_ids: Vec<usize> = peers.iter().map(|p| p.load(Ordering::Acquire)).collect();
    let env = WorkerEnv {
        worker: id,
        workers,
        sockets: sockets.clone(),
    };
    let router = Router::new(&cfg, env);
    let mut udp = Vec::new();
    let mut listeners = Vec::new();
    for (idx, s) in socks {
        match sockets[idx].proto {
            Proto::Udp => {
                // SAFETY: the fd comes from a socket we own and give up here; glommio takes it over.
                let g = unsafe { glommio::net::UdpSocket::from_raw_fd(s.into_raw_fd()) };
                udp.push((idx, Rc::new(g)));
            }
            _ => listeners.push((idx, s)),
        }
    }
    let worker = Rc::new_cyclic(|me| Worker {
        me: me.clone(),
        id,
        workers,
        router: RefCell::new(router),
        udp,
        sockets,
        senders,
        peer_ids,
        conns: RefCell::new(Conns::default()),
        registry,
        stats: RefCell::new(WorkerStats::default()),
        out: RefCell::new(Vec::with_capacity(64)),
        tcp_lifetime: Duration::from_secs(u64::from(cfg.core.tcp_connection_lifetime.max(1))),
        tcp_max_conns: (cfg.core.tcp_max_connections as usize / workers).max(16),
    });
    let mut tasks = Vec::new();
    for (idx, sock) in worker.udp.clone() {
        tasks.push(glommio::spawn_local(udp_loop(worker.clone(), idx, sock)));
    }
    for (idx, l) in listeners {
        tasks.push(glommio::spawn_local(tcp::accept_loop(
            worker.clone(),
            idx,
            l,
        )));
    }
    if let Some(r) = receivers.as_mut() {
        for (_, rx) in r.streams() {
            let w = worker.clone();
            tasks.push(glommio::spawn_local(async move {
                while let Some(msg) = rx.recv().await {
                    w.on_mesh(msg);
                }
            }));
        }
    }
    while !stop.load(Ordering::Relaxed) {
        glommio::timer::sleep(STOP_POLL).await;
    }
    // Stop receiving, then let queued stream writes go out.
    for t in tasks {
        drop(t.cancel());
    }
    let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
    while worker.conns.borrow().pending_writes() > 0 && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    let mut stats = worker.stats.borrow().clone();
    stats.router = format!("{:?}", worker.router.borrow().stats());
    Ok(stats)
}

/// Drains one UDP socket: wait until it is readable (one io_uring operation per wake-up), then
/// take every ready datagram with `recvmmsg` and send the results with `sendmmsg`.
async fn udp_loop(w: Rc<Worker>, idx: usize, sock: Rc<glommio::net::UdpSocket>) {
    let mut batch = RecvBatch::new();
    let mut probe = [0u8; 1];
    // SAFETY: the socket is owned by `sock`, which outlives this borrow (held by this task).
    let fd = unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) };
    loop {
        if sock.peek_from(&mut probe).await.is_err() {
            // A queued socket error (e.g. ICMP); the next peek returns data or waits.
            glommio::yield_if_needed().await;
        }
        loop {
            let n = match batch.recv(fd) {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!("udp receive error: {e}");
                    0
                }
            };
            if n == 0 {
                break;
            }
            w.stats.borrow_mut().received += n as u64;
            for i in 0..n {
                if let Some((data, src)) = batch.get(i) {
                    w.on_datagram(data, src, idx);
                }
            }
            w.flush();
            if n < RECV_BATCH {
                break;
            }
        }
    }
}

impl Worker {
    /// A strong handle to this worker, for tasks it spawns.
    pub(crate) fn rc(&self) -> Rc<Self> {
        self.me
            .upgrade()
            .expect("a worker is alive while its methods run")
    }

    /// A datagram from one of our sockets: hand it to its owner, or route it here.
    fn on_datagram(&self, data: &[u8], src: SocketAddr, local: usize) {
        if self.workers > 1 {
            if let Some(ci) = find_call_id(data) {
                let owner = owner_of(ci, self.workers);
                if owner != self.id {
                    self.hand_off(
                        owner,
                        CoreMsg::Datagram {
                            data: data.to_vec(),
                            src,
                            local,
                        },
                    );
                    return;
                }
            }
        }
        self.route(data, src, local, Proto::Udp, None);
    }

    /// Sends a message to another worker; counts it, or the drop when its channel is full.
    pub(crate) fn hand_off(&self, owner: usize, msg: CoreMsg) {
        let (Some(senders), Some(&peer)) = (&self.senders, self.peer_ids.get(owner)) else {
            return;
        };
        let mut st = self.stats.borrow_mut();
        match senders.try_send_to(peer, msg) {
            Ok(()) => st.handed_off += 1,
            Err(_) => st.mesh_drops += 1,
        }
    }

    fn on_mesh(&self, msg: CoreMsg) {
        match msg {
            CoreMsg::Datagram { data, src, local } => {
                self.stats.borrow_mut().from_mesh += 1;
                self.route(&data, src, local, Proto::Udp, None);
            }
            CoreMsg::StreamSend { dst, data } => {
                tcp::send_local_or_connect(self, dst, None, data);
            }
        }
        self.flush();
    }

    /// Runs one message through the router; its transmits are queued for [`Worker::flush`].
    pub(crate) fn route(
        &self,
        data: &[u8],
        src: SocketAddr,
        local: usize,
        proto: Proto,
        conn: Option<u64>,
    ) {
        if tracing::enabled!(target: "ferrosip::affinity", tracing::Level::TRACE) {
            let ci = find_call_id(data)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            tracing::trace!(target: "ferrosip::affinity", worker = self.id, call_id = %ci, "handled");
        }
        self.stats.borrow_mut().handled += 1;
        let inb = Inbound {
            data,
            src,
            local,
            proto,
            conn,
        };
        let mut out = self.out.borrow_mut();
        self.router.borrow_mut().handle(&inb, &mut out);
    }

    /// Sends everything the router queued: datagrams in one `sendmmsg` per socket, stream
    /// messages on their connections.
    pub(crate) fn flush(&self) {
        let mut out = std::mem::take(&mut *self.out.borrow_mut());
        if out.is_empty() {
            *self.out.borrow_mut() = out;
            return;
        }
        let mut sent = 0u64;
        let mut failed = 0u64;
        for (idx, sock) in &self.udp {
            let family_v4 = self.sockets[*idx].addr.is_ipv4();
            let mine = |t: &Transmit| {
                t.proto == Proto::Udp
                    && match t.local {
                        Some(l) if self.sockets.get(l).map(|s| s.proto) == Some(Proto::Udp) => {
                            l == *idx
                        }
                        _ => {
                            t.dst.is_ipv4() == family_v4
                                && self.first_udp(t.dst.is_ipv4()) == Some(*idx)
                        }
                    }
            };
            if !out.iter().any(&mine) {
                continue;
            }
            // SAFETY: `sock` is alive for the duration of this call.
            let fd = unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) };
            let r = send_batch(
                fd,
                out.iter().filter(|t| mine(t)).map(|t| (&t.data[..], t.dst)),
            );
            sent += r.sent as u64;
            failed += r.failed as u64;
        }
        for t in out.drain(..) {
            match t.proto {
                Proto::Udp => {
                    if self.first_udp(t.dst.is_ipv4()).is_none() {
                        failed += 1;
                    }
                }
                Proto::Tcp => tcp::send(self, t),
                _ => failed += 1,
            }
        }
        {
            let mut st = self.stats.borrow_mut();
            st.sent += sent;
            st.send_failed += failed;
        }
        let mut slot = self.out.borrow_mut();
        if slot.is_empty() {
            *slot = out;
        } else {
            slot.append(&mut out);
        }
    }

    /// Index of the first UDP socket of an address family.
    fn first_udp(&self, v4: bool) -> Option<usize> {
        self.udp
            .iter()
            .map(|(i, _)| *i)
            .find(|i| self.sockets[*i].addr.is_ipv4() == v4)
    }
}
