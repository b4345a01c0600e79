//! One worker per core: a glommio executor (pinned with core_affinity) that owns its socket
//! and its engine. UDP follows the engine's pattern: wait for readability with one
//! `peek_from`, then drain every ready datagram with `recvmmsg` and send with `sendmmsg` — no
//! future per datagram. TCP streams wait with `peek` and drain with non-blocking `recv`,
//! framed by Content-Length (RFC 3261 §18.3). A 1 ms tick starts calls, fires timers and,
//! once a second, sends the interval's counters and histograms to the main thread.

use crate::sip::{Dest, Outbox, Setup};
use crate::stats::{Counters, Hists, Report};
use crate::uac::Uac;
use crate::uas::Uas;
use ferrosip_parser::{frame, Framing, MAX_MESSAGE};
use ferrosip_transports::sock::set_int_option;
use ferrosip_transports::udp::{send_batch, send_batch_gso, Gso, RecvBatch};
use glommio::{LocalExecutorBuilder, Placement};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Memory glommio registers for io_uring buffers per worker (locked memory is scarce).
const IO_MEMORY: usize = 512 << 10;

/// The client's tick: call starts, timers and the stop check run this often.
const TICK: Duration = Duration::from_millis(1);

/// The server's tick (2xx retransmission scan, stop check): it has no pacing to do, so it
/// wakes up less.
const UAS_TICK: Duration = Duration::from_millis(5);

/// Most TCP connections one uas worker keeps.
pub const MAX_CONNS: usize = 4096;

/// Bytes read from a TCP connection per `recv`.
const READ_CHUNK: usize = 1 << 16;

/// Most bytes queued for one TCP connection that the kernel has not taken yet.
const MAX_CONN_PENDING: usize = 8 << 20;

/// How long a worker told to stop (signal) waits for calls in progress.
const STOP_DRAIN_US: u64 = 2_000_000;

/// The socket a worker gets.
#[derive(Debug)]
pub enum Io {
    /// A bound UDP socket.
    Udp(socket2::Socket),
    /// A connected TCP stream (client scenarios, `-t t1`).
    TcpClient(std::net::TcpStream),
    /// A listening TCP socket (uas, `-t t1`).
    TcpListener(socket2::Socket),
}

/// Either engine, behind one interface.
enum Engine {
    Uac(Uac),
    Uas(Uas),
}

impl Engine {
    fn parts(&mut self) -> (&mut Outbox, &mut Counters, &mut Hists) {
        match self {
            Self::Uac(u) => (&mut u.out, &mut u.counters, &mut u.hists),
            Self::Uas(u) => (&mut u.out, &mut u.counters, &mut u.hists),
        }
    }

    fn on_message(&mut self, data: &[u8], dest: Dest, now: u64) {
        match self {
            Self::Uac(u) => u.on_message(data, now),
            Self::Uas(u) => u.on_message(data, dest, now),
        }
    }

    fn tick(&mut self, now: u64) {
        match self {
            Self::Uac(u) => u.tick(now),
            Self::Uas(u) => u.tick(now),
        }
    }

    fn active(&self) -> u64 {
        match self {
            Self::Uac(u) => u.active(),
            Self::Uas(u) => u.active(),
        }
    }
}

/// A TCP connection's write side.
struct Conn {
    fd: RawFd,
    pending: Vec<u8>,
}

/// Sort key of a queued datagram in a GSO flush: rank, destination, size (largest first) and
/// queue position.
type SendKey = (u8, SocketAddr, std::cmp::Reverse<usize>, usize);

/// What the worker's tasks share (one thread; no borrow is held across an `.await`).
struct Shared {
    engine: RefCell<Engine>,
    udp: Option<RawFd>,
    /// Whether UDP sends still go out in GSO runs (`--no-gso` or a kernel refusal ends it).
    gso: Cell<Gso>,
    /// Scratch for ordering a flush into GSO runs: (rank, destination, length, index).
    order: RefCell<Vec<SendKey>>,
    conns: RefCell<Vec<Option<Conn>>>,
    start: Instant,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Sends everything the engine queued.
    fn flush(&self) {
        let mut e = self.engine.borrow_mut();
        let (out, counters, _) = e.parts();
        if out.msgs.is_empty() {
            return;
        }
        counters.send_failed += std::mem::take(&mut out.dropped);
        if let Some(fd) = self.udp {
            // SAFETY: the fd belongs to the glommio socket held by the receive task, which
            // lives as long as the worker.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let buf = &out.buf;
            let mut gso = self.gso.get();
            let r =
                if gso.enabled && out.msgs.len() > 1 {
                    // Lower ranks first (a call's messages keep their order), then by destination
                    // and size, so equal-sized datagrams to one peer form GSO runs.
                    let mut order = self.order.borrow_mut();
                    order.clear();
                    order.extend(out.msgs.iter().enumerate().filter_map(
                        |(i, (r, d, k))| match d {
                            Dest::Udp(a) => Some((*k, *a, std::cmp::Reverse(r.len()), i)),
                            Dest::Conn(_) => None,
                        },
                    ));
                    order.sort_unstable();
                    let msgs = order
                        .iter()
                        .map(|&(_, a, _, i)| (&buf[out.msgs[i].0.clone()], a));
                    send_batch_gso(fd, msgs, &mut gso)
                } else {
                    send_batch(
                        fd,
                        out.msgs.iter().filter_map(|(r, d, _)| match d {
                            Dest::Udp(a) => Some((&buf[r.clone()], *a)),
                            Dest::Conn(_) => None,
                        }),
                    )
                };
            self.gso.set(gso);
            counters.send_failed += r.failed as u64;
        } else {
            let mut conns = self.conns.borrow_mut();
            for (r, d, _) in &out.msgs {
                let idx = match d {
                    Dest::Conn(i) => *i,
                    Dest::Udp(_) => 0, // a TCP client has one connection
                };
                match conns.get_mut(idx).and_then(|c| c.as_mut()) {
                    Some(c) if c.pending.len() + r.len() <= MAX_CONN_PENDING => {
                        c.pending.extend_from_slice(&out.buf[r.clone()]);
                    }
                    _ => counters.send_failed += 1,
                }
            }
            for c in conns.iter_mut().flatten() {
                write_pending(c);
            }
        }
        out.clear();
    }

    /// Retries queued TCP writes.
    fn flush_conns(&self) {
        for c in self.conns.borrow_mut().iter_mut().flatten() {
            write_pending(c);
        }
    }
}

/// Writes as much of a connection's queue as the kernel takes now.
fn write_pending(c: &mut Conn) {
    let mut off = 0;
    while off < c.pending.len() {
        // SAFETY: the pointer and length describe live bytes of `c.pending`; the fd is owned by
        // the connection's reader task, which outlives its table entry.
        let n = unsafe {
            libc::send(
                c.fd,
                c.pending[off..].as_ptr().cast(),
                c.pending.len() - off,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n <= 0 {
            break;
        }
        off += n as usize;
    }
    c.pending.drain(..off);
}

/// Starts a worker thread. It ends by itself (calls done, duration over, or `stop` set) and
/// sends its last [`Report`] with `done` set.
pub fn spawn(
    setup: Setup,
    io: Io,
    stop: Arc<AtomicBool>,
    tx: Sender<Report>,
    start: Instant,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let core = if setup.pin {
        core_affinity::get_core_ids()
            .filter(|c| !c.is_empty())
            .map(|c| c[setup.worker % c.len()])
    } else {
        None
    };
    std::thread::Builder::new()
        .name(format!("bench-{}", setup.worker))
        .spawn(move || {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            let worker = setup.worker;
            let ex = match LocalExecutorBuilder::new(Placement::Unbound)
                .name(&format!("bench-{worker}"))
                .io_memory(IO_MEMORY)
                .make()
            {
                Ok(ex) => ex,
                Err(e) => {
                    eprintln!("worker {worker}: cannot start executor: {e}");
                    let _ = tx.send(Report {
                        worker,
                        second: 0,
                        counters: Counters::default(),
                        hists: Box::default(),
                        active: 0,
                        rate: 0.0,
                        offered: 0.0,
                        done: true,
                    });
                    return;
                }
            };
            ex.run(run(setup, io, stop, tx, start));
        })
}

async fn run(setup: Setup, io: Io, stop: Arc<AtomicBool>, tx: Sender<Report>, start: Instant) {
    let worker = setup.worker;
    let client = setup.scenario != crate::cli::Scenario::Uas;
    let duration_us = setup.duration.map(|d| (d * 1e6) as u64);
    let natural_drain = setup.timeout_us + 1_000_000;
    let setup_gso = setup.gso;
    let engine = if client {
        Engine::Uac(Uac::new(setup))
    } else {
        Engine::Uas(Uas::new(setup))
    };
    let udp_fd = match &io {
        Io::Udp(s) => Some(s.as_raw_fd()),
        _ => None,
    };
    let shared = Rc::new(Shared {
        engine: RefCell::new(engine),
        udp: udp_fd,
        gso: Cell::new(Gso { enabled: setup_gso }),
        order: RefCell::new(Vec::new()),
        conns: RefCell::new(Vec::new()),
        start,
    });
    let mut tasks = Vec::new();
    match io {
        Io::Udp(s) => {
            // SAFETY: we own the socket and give it to glommio, which closes it on drop.
            let g = unsafe { glommio::net::UdpSocket::from_raw_fd(s.into_raw_fd()) };
            tasks.push(glommio::spawn_local(udp_loop(shared.clone(), g, setup_gso)));
        }
        Io::TcpClient(s) => {
            let _ = s.set_nodelay(true);
            // SAFETY: as above, for the connected stream.
            let g = unsafe { glommio::net::TcpStream::from_raw_fd(s.into_raw_fd()) };
            shared.conns.borrow_mut().push(Some(Conn {
                fd: g.as_raw_fd(),
                pending: Vec::new(),
            }));
            tasks.push(glommio::spawn_local(tcp_reader(shared.clone(), g, 0)));
        }
        Io::TcpListener(s) => {
            // SAFETY: as above, for the listener.
            let l = unsafe { glommio::net::TcpListener::from_raw_fd(s.into_raw_fd()) };
            tasks.push(glommio::spawn_local(accept_loop(shared.clone(), l)));
        }
    }
    let mut second = 0usize;
    let mut next_report = 1_000_000u64;
    let mut stop_at: Option<(u64, u64)> = None; // (when, how long to drain)
    loop {
        glommio::timer::sleep(if client { TICK } else { UAS_TICK }).await;
        let now = shared.now();
        {
            let mut e = shared.engine.borrow_mut();
            e.tick(now);
            if stop_at.is_none() {
                let signalled = stop.load(Ordering::Relaxed);
                let over = duration_us.is_some_and(|d| now >= d);
                match &mut *e {
                    Engine::Uac(u) => {
                        if signalled {
                            u.stop();
                            stop_at = Some((now, STOP_DRAIN_US));
                        } else if u.finished() || over {
                            u.stop();
                            stop_at = Some((now, natural_drain));
                        }
                    }
                    Engine::Uas(_) => {
                        if signalled || over {
                            stop_at = Some((now, 0));
                        }
                    }
                }
            }
        }
        shared.flush();
        shared.flush_conns();
        let mut finished = false;
        if let Some((at, drain)) = stop_at {
            let mut e = shared.engine.borrow_mut();
            finished = match &mut *e {
                Engine::Uac(u) => {
                    if u.finished() {
                        true
                    } else if now >= at + drain {
                        u.abort_all();
                        true
                    } else {
                        false
                    }
                }
                Engine::Uas(_) => true,
            };
        }
        if now >= next_report || finished {
            let mut e = shared.engine.borrow_mut();
            let active = e.active();
            let (rate, offered) = match &mut *e {
                Engine::Uac(u) => (u.rate(), u.take_offered()),
                Engine::Uas(_) => (0.0, 0.0),
            };
            let (_, counters, hists) = e.parts();
            let report = Report {
                worker,
                second,
                counters: std::mem::take(counters),
                hists: Box::new(hists.clone()),
                active,
                rate,
                offered,
                done: finished,
            };
            hists.reset();
            let _ = tx.send(report);
            while next_report <= now {
                next_report += 1_000_000;
                second += 1;
            }
        }
        if finished {
            break;
        }
    }
    for t in tasks {
        drop(t.cancel());
    }
}

/// Waits for readability once, then drains the socket with `recvmmsg` until it would block.
/// With `gro`, a GSO run a peer sent arrives as one entry and is cut into its datagrams.
async fn udp_loop(shared: Rc<Shared>, sock: glommio::net::UdpSocket, gro: bool) {
    let mut batch = RecvBatch::new();
    let mut probe = [0u8; 1];
    // SAFETY: `sock` is owned by this task and outlives the borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) };
    if gro {
        if let Err(e) = batch.enable_gro(fd) {
            eprintln!("UDP_GRO not available ({e}): datagrams are received one by one");
        }
    }
    loop {
        if sock.peek_from(&mut probe).await.is_err() {
            // A queued socket error (ICMP port unreachable...): the next peek waits again.
            glommio::yield_if_needed().await;
        }
        loop {
            let n = batch.recv(fd).unwrap_or(0);
            if n == 0 {
                break;
            }
            let now = shared.now();
            {
                let mut e = shared.engine.borrow_mut();
                for i in 0..n {
                    if let Some((data, src)) = batch.get(i) {
                        e.on_message(data, Dest::Udp(src), now);
                    }
                }
            }
            shared.flush();
            if !batch.full() {
                break;
            }
        }
    }
}

/// Accepts TCP connections (uas) and starts a reader for each.
async fn accept_loop(shared: Rc<Shared>, l: glommio::net::TcpListener) {
    loop {
        let Ok(s) = l.accept().await else {
            glommio::timer::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = s.set_nodelay(true);
        let idx = {
            let mut conns = shared.conns.borrow_mut();
            let free = conns.iter().position(Option::is_none);
            let conn = Conn {
                fd: s.as_raw_fd(),
                pending: Vec::new(),
            };
            match free {
                Some(i) => {
                    conns[i] = Some(conn);
                    i
                }
                None if conns.len() < MAX_CONNS => {
                    conns.push(Some(conn));
                    conns.len() - 1
                }
                None => {
                    shared.engine.borrow_mut().parts().1.table_full += 1;
                    continue; // dropping `s` closes it
                }
            }
        };
        glommio::spawn_local(tcp_reader(shared.clone(), s, idx)).detach();
    }
}

/// Reads one TCP connection: wait with `peek`, drain with non-blocking `recv`, cut messages
/// by Content-Length, hand each to the engine.
async fn tcp_reader(shared: Rc<Shared>, s: glommio::net::TcpStream, idx: usize) {
    let fd = s.as_raw_fd();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut probe = [0u8; 1];
    'conn: loop {
        match s.peek(&mut probe).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            let old = buf.len();
            buf.resize(old + READ_CHUNK, 0);
            // SAFETY: the destination is the chunk just added to `buf`; the fd is `s`'s.
            let n = unsafe {
                libc::recv(
                    fd,
                    buf[old..].as_mut_ptr().cast(),
                    READ_CHUNK,
                    libc::MSG_DONTWAIT,
                )
            };
            buf.truncate(old + n.max(0) as usize);
            if n <= 0 {
                break;
            }
            let now = shared.now();
            let mut off = 0;
            {
                let mut e = shared.engine.borrow_mut();
                loop {
                    match frame(&buf[off..], MAX_MESSAGE) {
                        Ok(Framing::Complete(n)) => {
                            e.on_message(&buf[off..off + n], Dest::Conn(idx), now);
                            off += n;
                        }
                        Ok(Framing::KeepAlive(n)) => off += n,
                        Ok(Framing::Partial) => break,
                        Err(_) => {
                            e.parts().1.parse_errors += 1;
                            drop(e);
                            break 'conn;
                        }
                    }
                }
            }
            buf.drain(..off);
            if buf.len() > 2 * MAX_MESSAGE {
                break 'conn; // no message boundary in 128 KiB: not SIP
            }
            shared.flush();
        }
    }
    if let Some(c) = shared.conns.borrow_mut().get_mut(idx) {
        *c = None;
    }
}

/// Asks for `bytes` of receive and send buffer on a UDP socket beyond `net.core.rmem_max` /
/// `wmem_max` (SO_RCVBUFFORCE/SO_SNDBUFFORCE, which need CAP_NET_ADMIN); without the
/// capability the buffers stay as [`ferrosip_transports::sock::bind_udp`] set them. A load
/// generator descheduled for a few tens of ms at tens of thousands of datagrams per second
/// overflows a 4 MiB buffer, and every drop then costs a retransmission 500 ms later.
pub fn force_buffers(sock: &socket2::Socket, bytes: usize) {
    let v = libc::c_int::try_from(bytes / 2).unwrap_or(libc::c_int::MAX);
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // Without CAP_NET_ADMIN this fails and the buffers stay as they are (see above).
        let _ = set_int_option(sock.as_fd(), libc::SOL_SOCKET, opt, v);
    }
}

/// The local address to put in Via/Contact when binding to `ip` and talking to `remote`.
pub fn local_ip_for(remote: Option<SocketAddr>) -> std::net::IpAddr {
    if let Some(r) = remote {
        if let Ok(s) = std::net::UdpSocket::bind(if r.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }) {
            if s.connect(r).is_ok() {
                if let Ok(a) = s.local_addr() {
                    return a.ip();
                }
            }
        }
    }
    std::net::IpAddr::from([127, 0, 0, 1])
}
