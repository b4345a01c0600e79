//! From `listen=` / `-l` to bound sockets: one SO_REUSEPORT socket per worker and address,
//! and the steering program that makes each datagram land on the worker owning its call.

use crate::cli::{Cli, SteeringMode};
use ferrosip_parser::Proto;
use ferrosip_routing::api::LocalSocket;
use ferrosip_routing::cfg::{Config, ListenSpec};
use ferrosip_transports::sock;
use ferrosip_transports::steer::Steering;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;

/// Default SIP port (RFC 3261 §19.1.2).
const SIP_PORT: u16 = 5060;

/// What to bind, before binding.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Number of workers.
    pub(crate) workers: usize,
    /// One entry per (transport, address).
    pub(crate) entries: Vec<LocalSocket>,
}

/// Sockets bound for every worker.
pub(crate) struct Bound {
    /// Every listen socket (the same list each worker's router sees).
    pub(crate) sockets: Vec<LocalSocket>,
    /// `per_worker[w]` = the sockets of worker `w`, each with its index in `sockets`.
    pub(crate) per_worker: Vec<Vec<(usize, socket2::Socket)>>,
}

/// How steering ended up.
pub(crate) enum SteerState {
    /// One program per UDP listen address.
    Bpf(#[allow(dead_code)] Vec<Steering>),
    /// The user-space hand-off, and why.
    Mesh(String),
    /// One worker: every datagram is already where it belongs.
    Single,
}

/// Works out workers and listen addresses from the command line and the config.
pub(crate) fn plan(cli: &Cli, cfg: &Config) -> Result<Plan, String> {
    let workers = match cli.workers {
        Some(n) => usize::from(n),
        None => cfg.core.children.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
    }
    .max(1);
    let specs: Vec<ListenSpec> = if cli.listen.is_empty() {
        cfg.core.listen.clone()
    } else {
        cli.listen
            .iter()
            .map(|l| ListenSpec::parse(l).map_err(|e| format!("-l {l}: {e}")))
            .collect::<Result<_, _>>()?
    };
    let default_port = cfg.core.port.unwrap_or(SIP_PORT);
    let mut entries = Vec::new();
    let specs = if specs.is_empty() {
        vec![ListenSpec::parse("*").map_err(|e| format!("default listen: {e}"))?]
    } else {
        specs
    };
    for spec in &specs {
        let protos: Vec<Proto> = match spec.proto {
            Some(p) => vec![p],
            None if cfg.core.disable_tcp => vec![Proto::Udp],
            None => vec![Proto::Udp, Proto::Tcp],
        };
        let port = spec.port.unwrap_or(default_port);
        for ip in resolve_host(&spec.host)? {
            for &proto in &protos {
                match proto {
                    Proto::Udp => {}
                    Proto::Tcp if cfg.core.disable_tcp => continue,
                    Proto::Tcp => {}
                    other => {
                        return Err(format!(
                            "listen {}:{}: transport {other} is not supported yet",
                            spec.host, port
                        ))
                    }
                }
                let entry = LocalSocket {
                    proto,
                    addr: SocketAddr::new(ip, port),
                    advertise: spec.advertise.clone(),
                };
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
        }
    }
    if entries.is_empty() {
        return Err(
            "nothing to listen on (every listen address is TCP and TCP is disabled)".into(),
        );
    }
    Ok(Plan { workers, entries })
}

/// Resolves a listen host: an IP literal, `*` (every local IPv4 address, like Kamailio), or a
/// name looked up once at start.
fn resolve_host(host: &str) -> Result<Vec<IpAddr>, String> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h == "*" || h == "0.0.0.0" {
        let ips = local_ipv4_addresses();
        return if ips.is_empty() {
            Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
        } else {
            Ok(ips)
        };
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs: Vec<IpAddr> = (h, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve listen address {host}: {e}"))?
        .map(|a| a.ip())
        .collect();
    match addrs.first() {
        Some(ip) => Ok(vec![*ip]),
        None => Err(format!("listen address {host} resolves to nothing")),
    }
}

/// The IPv4 addresses of the machine's interfaces (`getifaddrs(3)`).
fn local_ipv4_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut cur = ifap;
        while !cur.is_null() {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let ip = IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out
}

/// Binds every planned address once per worker. Port 0 is resolved on the first bind so that
/// all workers share the port the kernel chose.
pub(crate) fn bind_all(plan: &Plan) -> std::io::Result<Bound> {
    let mut sockets = Vec::new();
    let mut per_worker: Vec<Vec<(usize, socket2::Socket)>> =
        (0..plan.workers).map(|_| Vec::new()).collect();
    for entry in &plan.entries {
        let mut addr = entry.addr;
        let idx = sockets.len();
        for w in per_worker.iter_mut() {
            let s = match entry.proto {
                Proto::Udp => sock::bind_udp(addr),
                _ => sock::bind_tcp_listener(addr),
            }
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}:{}: {e}", entry.proto, addr)))?;
            addr = sock::local_addr(&s)?;
            w.push((idx, s));
        }
        sockets.push(LocalSocket {
            proto: entry.proto,
            addr,
            advertise: entry.advertise.clone(),
        });
    }
    Ok(Bound {
        sockets,
        per_worker,
    })
}

/// Loads and attaches the steering program for every UDP address, as the mode asks.
pub(crate) fn steer(
    bound: &Bound,
    workers: usize,
    mode: SteeringMode,
) -> Result<SteerState, String> {
    if mode == SteeringMode::Mesh {
        return Ok(SteerState::Mesh("--steering=mesh".into()));
    }
    if workers == 1 {
        return Ok(SteerState::Single);
    }
    let mut progs = Vec::new();
    for (idx, s) in bound.sockets.iter().enumerate() {
        if s.proto != Proto::Udp {
            continue;
        }
        let attempt = (|| {
            let prog = Steering::load(workers)?;
            for (w, socks) in bound.per_worker.iter().enumerate() {
                let sock = socks
                    .iter()
                    .find(|(i, _)| *i == idx)
                    .map(|(_, s)| s)
                    .expect("bind_all binds every address for every worker");
                if w == 0 {
                    prog.attach(sock.as_fd())?;
                }
                prog.set_worker_socket(w, sock.as_fd())?;
            }
            Ok::<_, ferrosip_transports::steer::SteerError>(prog)
        })();
        match attempt {
            Ok(p) => progs.push(p),
            Err(e) if mode == SteeringMode::Auto => return Ok(SteerState::Mesh(e.to_string())),
            Err(e) => {
                return Err(format!(
                    "--steering=bpf: cannot load the steering program: {e}"
                ))
            }
        }
    }
    Ok(SteerState::Bpf(progs))
}
