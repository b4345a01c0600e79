//! One worker per core: a thread pinned with core_affinity running a level-triggered epoll loop
//! that owns its sockets, its router (compiled script, arena, counters) and its stream
//! connections. Nothing is shared with other workers except through the mesh (a bounded channel
//! and an eventfd per worker) and the connection registry.
//!
//! Per wake-up a worker drains each ready UDP socket with `recvmmsg`, routes every datagram, and
//! sends what routing produced with one `sendmmsg` per socket: no future, no allocation and no
//! extra system call per datagram (ARCHITECTURE.md §7).

use crate::listen::Bound;
use crate::mesh::{CoreMsg, MESH_CAPACITY};
use crate::poller::{Poller, Ready, Waker, READ};
use crate::tcp::{BufBudget, ConnRegistry, Conns};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use ferrosip_parser::Proto;
use ferrosip_routing::api::{Inbound, LocalSocket, Transmit, WorkerEnv};
use ferrosip_routing::cfg::Config;
use ferrosip_routing::rpc::WorkerBoard;
use ferrosip_routing::sip::{ProcessState, Router};
use ferrosip_transports::callid::find_call_id;
use ferrosip_transports::steer::owner_of;
use ferrosip_transports::udp::{send_batch, send_batch_gso, Gso, RecvBatch};
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Token of the worker's waker in its epoll set.
pub(crate) const WAKE_TOKEN: u64 = u64::MAX;

/// Tokens of stream connections start here (listen sockets use their index).
pub(crate) const CONN_BASE: u64 = 1 << 32;

/// Longest sleep in `epoll_wait`: bounds how late idle connections are closed.
const TICK: Duration = Duration::from_millis(500);

/// Transaction timers due within this much are fired together, up to this much early: at
/// 1,000 calls/s a worker holds thousands of distinct deadlines (retransmissions, 5 s wait
/// timers), and waking for each one would cost an `epoll_wait` round trip per timer. RFC 3261
/// timers are hundreds of milliseconds and up; Kamailio's timer ticks every 62.5 ms.
const TIMER_SLACK: Duration = Duration::from_millis(20);

/// How stale the counters the control interface reads may be. Publishing is a few hundred
/// relaxed stores (every figure and per-method counter); at load a wake-up carries one to three
/// datagrams, so publishing after each one cost about 2% of the worker's CPU (`perf`, stateless
/// relay at 1,000 calls/s). A worker with unpublished changes sleeps at most this long.
const PUBLISH_EVERY: Duration = Duration::from_millis(10);

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
    /// Router counters, rendered.
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

/// The channel into each worker, and the eventfd that wakes it.
pub(crate) struct Mesh {
    inboxes: Vec<Sender<CoreMsg>>,
    wakers: Vec<Arc<Waker>>,
}

impl Mesh {
    /// Wakes every worker (used to make them see the stop flag).
    pub(crate) fn wake_all(&self) {
        for w in &self.wakers {
            w.wake();
        }
    }
}

/// Everything one worker owns. Single-threaded: plain `&mut self`, no locks.
pub(crate) struct Worker {
    pub(crate) id: usize,
    /// The clock read once after each wake-up: every message of the batch is handled at this
    /// instant (one `clock_gettime` per wake-up instead of one per message; the transaction
    /// timers are tens of milliseconds and up).
    now: Instant,
    pub(crate) workers: usize,
    router: Router,
    pub(crate) sockets: Vec<LocalSocket>,
    /// UDP sockets by listen-socket index.
    udp: Vec<(usize, std::net::UdpSocket)>,
    /// TCP listeners by listen-socket index.
    pub(crate) listeners: Vec<(usize, std::net::TcpListener)>,
    pub(crate) poller: Poller,
    waker: Arc<Waker>,
    inbox: Receiver<CoreMsg>,
    mesh: Arc<Mesh>,
    pub(crate) conns: Conns,
    pub(crate) registry: Arc<ConnRegistry>,
    /// Where this worker publishes its counters for the control interface.
    board: Arc<WorkerBoard>,
    pub(crate) stats: WorkerStats,
    out: Vec<Transmit>,
    /// Receive buffers (taken out while their datagrams are routed).
    batch: Option<Box<RecvBatch>>,
    /// Whether UDP sends still hand runs of equal-sized datagrams to one destination to the
    /// kernel as one segmentation-offload send: off for all of this worker's sockets after
    /// the kernel's first refusal on any of them.
    gso: Gso,
    pub(crate) tcp_lifetime: Duration,
    pub(crate) tcp_max_conns: usize,
}

/// Starts every worker thread; each returns its counters when it stops. The returned mesh
/// wakes them.
#[allow(clippy::type_complexity)]
pub(crate) fn spawn_all(
    cfg: &Arc<Config>,
    bound: Bound,
    workers: usize,
    stop: Arc<AtomicBool>,
    process: &Arc<ProcessState>,
    board: &Arc<WorkerBoard>,
) -> Result<
    (
        Vec<std::thread::JoinHandle<Result<WorkerStats, String>>>,
        Arc<Mesh>,
    ),
    String,
> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let registry = Arc::new(ConnRegistry::default());
    let mut inboxes = Vec::new();
    let mut receivers = Vec::new();
    let mut wakers = Vec::new();
    for _ in 0..workers {
        let (tx, rx) = crossbeam_channel::bounded(MESH_CAPACITY);
        inboxes.push(tx);
        receivers.push(rx);
        wakers.push(Arc::new(Waker::new().map_err(|e| format!("eventfd: {e}"))?));
    }
    let mesh = Arc::new(Mesh { inboxes, wakers });
    let mut handles = Vec::with_capacity(workers);
    for ((id, socks), inbox) in bound.per_worker.into_iter().enumerate().zip(receivers) {
        let core = if cores.is_empty() {
            None
        } else {
            Some(cores[id % cores.len()])
        };
        let w = Worker::new(
            cfg,
            id,
            workers,
            &bound.sockets,
            socks,
            inbox,
            &mesh,
            &registry,
            process,
            board,
        )?;
        let stop = stop.clone();
        let h = std::thread::Builder::new()
            .name(format!("worker-{id}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                w.board.set_tid(w.id, crate::ctl::gettid());
                w.run(&stop)
            })
            .map_err(|e| format!("cannot spawn worker {id}: {e}"))?;
        handles.push(h);
    }
    Ok((handles, mesh))
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cfg: &Config,
        id: usize,
        workers: usize,
        sockets: &[LocalSocket],
        socks: Vec<(usize, socket2::Socket)>,
        inbox: Receiver<CoreMsg>,
        mesh: &Arc<Mesh>,
        registry: &Arc<ConnRegistry>,
        process: &Arc<ProcessState>,
        board: &Arc<WorkerBoard>,
    ) -> Result<Self, String> {
        let env = WorkerEnv {
            worker: id,
            workers,
            sockets: sockets.to_vec(),
        };
        let router = Router::with_process(cfg, env, process.clone());
        let sockets = sockets.to_vec();
        let poller = Poller::new(256).map_err(|e| format!("epoll: {e}"))?;
        let waker = mesh.wakers[id].clone();
        poller
            .add(waker.raw_fd(), READ, WAKE_TOKEN)
            .map_err(|e| format!("epoll: {e}"))?;
        let mut udp = Vec::new();
        let mut listeners = Vec::new();
        for (idx, s) in socks {
            poller
                .add(s.as_raw_fd(), READ, idx as u64)
                .map_err(|e| format!("epoll: {e}"))?;
            match sockets[idx].proto {
                Proto::Udp => udp.push((idx, std::net::UdpSocket::from(s))),
                _ => listeners.push((idx, std::net::TcpListener::from(s))),
            }
        }
        Ok(Self {
            id,
            now: Instant::now(),
            workers,
            router,
            sockets,
            udp,
            listeners,
            poller,
            waker,
            inbox,
            mesh: mesh.clone(),
            // Kamailio's tcp_conn_wq_max per connection, tcp_wq_max shared out over the
            // workers, and -M (private memory per process) for the receive buffers.
            conns: Conns::new(BufBudget::new(
                cfg.core.tcp_conn_wq_max as usize,
                cfg.core.tcp_wq_max as usize / workers,
                usize::try_from(cfg.core.pkg_mem_bytes()).unwrap_or(usize::MAX),
            )),
            registry: registry.clone(),
            board: board.clone(),
            stats: WorkerStats::default(),
            out: Vec::with_capacity(64),
            batch: Some(Box::new(RecvBatch::new())),
            gso: Gso::default(),
            // Kamailio's tcp_connection_lifetime (idle close) and tcp_max_connections, shared
            // out over the workers.
            tcp_lifetime: Duration::from_secs(u64::from(cfg.core.tcp_connection_lifetime.max(1))),
            tcp_max_conns: (cfg.core.tcp_max_connections as usize / workers).max(16),
        })
    }

    /// The event loop: until `stop` is set, wait for readiness and handle it.
    fn run(mut self, stop: &AtomicBool) -> Result<WorkerStats, String> {
        let mut ready: Vec<Ready> = Vec::with_capacity(256);
        let mut last_sweep = Instant::now();
        let mut last_publish = last_sweep;
        let mut unpublished = false;
        while !stop.load(Ordering::Relaxed) {
            // Sleep until the next transaction timer at the latest (RFC 3261 §17 timers); it
            // is never less than TIMER_SLACK away, see below. With counters not yet published,
            // sleep no longer than until they are due.
            let cap = if unpublished { PUBLISH_EVERY } else { TICK };
            let wait = self.router.next_timeout().map_or(cap, |d| {
                d.saturating_duration_since(Instant::now()).min(cap)
            });
            self.poller
                .wait(wait, &mut ready)
                .map_err(|e| format!("epoll_wait: {e}"))?;
            self.now = Instant::now();
            for r in ready.iter().copied() {
                match r.token {
                    WAKE_TOKEN => {
                        self.waker.reset();
                        self.drain_inbox();
                    }
                    t if t >= CONN_BASE => crate::tcp::on_conn_event(&mut self, t - CONN_BASE, r),
                    t => {
                        let idx = t as usize;
                        if self.sockets.get(idx).map(|s| s.proto) == Some(Proto::Udp) {
                            self.drain_udp(idx);
                        } else {
                            crate::tcp::accept_all(&mut self, idx);
                        }
                    }
                }
            }
            unpublished |= !ready.is_empty();
            // Everything due within TIMER_SLACK fires now, so the next deadline is at least
            // that far away and timer wake-ups are bounded to 1/TIMER_SLACK per second.
            let now = self.now;
            let due = now + TIMER_SLACK;
            if self.router.next_timeout().is_some_and(|d| d <= due) {
                self.router.handle_timeouts(due, &mut self.out);
                self.flush();
                unpublished = true;
            }
            // Publish the counters for the control interface (relaxed stores), at most every
            // PUBLISH_EVERY; the capped sleep above publishes the last changes of a burst.
            if unpublished && now.saturating_duration_since(last_publish) >= PUBLISH_EVERY {
                self.board
                    .publish(self.id, &self.router, self.stats.handled);
                last_publish = now;
                unpublished = false;
            }
            if now.saturating_duration_since(last_sweep) >= TICK {
                last_sweep = now;
                crate::tcp::close_idle(&mut self, last_sweep);
            }
        }
        crate::tcp::drain_writes(&mut self, Duration::from_secs(2));
        let mut stats = self.stats.clone();
        let r = self.router.stats().clone();
        let t = self.router.tm_stats();
        stats.router = format!(
            "rx_requests={} rx_replies={} bad_requests={} bad_replies={} fwd_requests={} \
             fwd_replies={} local_replies={} dropped_replies={} drops={} send_errors={} \
             acks_absorbed={} tcp_refused={} tcp_dropped={} tx_server={} tx_client={} \
             tx_refused_full={} tx_absorbed={} tx_relayed_replies={} tx_local_replies={} \
             tx_timeouts={} tx_cancels={} tx_retransmissions={} tx_failure_routes={} tx_live={}",
            r.rx_requests,
            r.rx_replies,
            r.bad_requests,
            r.bad_replies,
            r.fwd_requests,
            r.fwd_replies,
            r.local_replies,
            r.dropped_replies,
            r.drops,
            r.send_errors,
            r.acks_absorbed,
            self.conns.refused,
            self.conns.dropped,
            t.server_created,
            t.client_created,
            t.refused_full,
            t.absorbed,
            t.relayed_replies,
            t.local_replies,
            t.timeouts,
            t.cancels_sent,
            t.retransmissions,
            t.failure_routes,
            self.router.transactions()
        );
        Ok(stats)
    }

    /// Takes every ready datagram from one UDP socket (a short batch means it is drained).
    fn drain_udp(&mut self, idx: usize) {
        let Some(pos) = self.udp.iter().position(|(i, _)| *i == idx) else {
            return;
        };
        let Some(mut batch) = self.batch.take() else {
            return;
        };
        loop {
            let n = match batch.recv(self.udp[pos].1.as_fd()) {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!("udp receive error: {e}");
                    0
                }
            };
            if n == 0 {
                break;
            }
            self.stats.received += n as u64;
            for i in 0..n {
                if let Some((data, src)) = batch.get(i) {
                    self.on_datagram(data, src, idx);
                }
            }
            self.flush();
            if !batch.full() {
                break;
            }
        }
        self.batch = Some(batch);
    }

    /// A datagram from one of our sockets: hand it to its owner, or route it here.
    fn on_datagram(&mut self, data: &[u8], src: SocketAddr, local: usize) {
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

    /// Sends a message to another worker and wakes it; counts it, or the drop when its
    /// channel is full.
    pub(crate) fn hand_off(&mut self, owner: usize, msg: CoreMsg) {
        let Some(tx) = self.mesh.inboxes.get(owner) else {
            return;
        };
        match tx.try_send(msg) {
            Ok(()) => {
                self.stats.handed_off += 1;
                self.mesh.wakers[owner].wake();
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.mesh_drops += 1
            }
        }
    }

    fn drain_inbox(&mut self) {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                CoreMsg::Datagram { data, src, local } => {
                    self.stats.from_mesh += 1;
                    self.route(&data, src, local, Proto::Udp, None);
                }
                CoreMsg::Stream {
                    data,
                    src,
                    local,
                    conn,
                } => {
                    self.stats.from_mesh += 1;
                    self.route(&data, src, local, Proto::Tcp, Some(conn));
                }
                CoreMsg::StreamSend { dst, data } => {
                    crate::tcp::send_local_or_connect(self, dst, None, data);
                }
            }
        }
        self.flush();
    }

    /// Runs one message through the router; its transmits are queued for [`Worker::flush`].
    pub(crate) fn route(
        &mut self,
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
        self.stats.handled += 1;
        let inb = Inbound {
            data,
            src,
            local,
            proto,
            conn,
        };
        self.router.handle_at(&inb, self.now, &mut self.out);
    }

    /// Sends everything the router queued: datagrams with one `sendmmsg` per socket (runs of
    /// equal-sized datagrams to one destination as one GSO send), stream messages on their
    /// connections.
    pub(crate) fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        let (mut sent, mut failed) = (0u64, 0u64);
        let mut gso = self.gso;
        for (idx, sock) in &self.udp {
            let mut mine = out
                .iter()
                .filter(|t| self.udp_socket_for(t) == Some(*idx))
                .peekable();
            if mine.peek().is_none() {
                continue;
            }
            // Consecutive equal-sized datagrams to one peer (a batch of forwarded requests of
            // one size, say) go out as one GSO send; nothing is reordered. A flush of one
            // datagram (most of them at low rates) takes the plain path.
            let pairs = mine.map(|t| (&t.data[..], t.dst));
            let r = if out.len() > 1 {
                send_batch_gso(sock.as_fd(), pairs, &mut gso)
            } else {
                send_batch(sock.as_fd(), pairs)
            };
            sent += r.sent as u64;
            failed += r.failed as u64;
        }
        for t in out.drain(..) {
            match t.proto {
                Proto::Udp if self.udp_socket_for(&t).is_some() => {}
                Proto::Tcp if t.no_connect => {
                    crate::tcp::send_if_connected(self, t.dst, t.conn, t.data)
                }
                Proto::Tcp => crate::tcp::send_local_or_connect(self, t.dst, t.conn, t.data),
                _ => failed += 1,
            }
        }
        self.gso = gso;
        self.stats.sent += sent;
        self.stats.send_failed += failed;
        self.out = out;
    }

    /// The UDP socket a datagram leaves from: the one routing chose if it suits the
    /// destination's address family, else this worker's first UDP socket of that family.
    fn udp_socket_for(&self, t: &Transmit) -> Option<usize> {
        if t.proto != Proto::Udp {
            return None;
        }
        let v4 = t.dst.is_ipv4();
        let suits = |i: usize| {
            self.sockets
                .get(i)
                .is_some_and(|s| s.proto == Proto::Udp && s.addr.is_ipv4() == v4)
        };
        if let Some(l) = t.local {
            if suits(l) && self.udp.iter().any(|(i, _)| *i == l) {
                return Some(l);
            }
        }
        self.udp.iter().map(|(i, _)| *i).find(|i| suits(*i))
    }
}
