//! The control transports: Kamailio's `jsonrpcs` (JSON-RPC over a FIFO and a unix datagram
//! socket) and `ctl` (BINRPC over a unix stream socket, what `kamcmd` uses), each on its own
//! thread, never on a worker. Commands are answered by [`RpcEnv`] from process state and the
//! figures the workers publish.
//!
//! Paths: a relative name is placed in the runtime directory (`-Y DIR`, `runtime_dir=`;
//! default `/run/kamailio`, created when missing). Defaults, as in Kamailio:
//! `modparam("jsonrpcs", "fifo_name", "kamailio_rpc.fifo")`,
//! `modparam("jsonrpcs", "dgram_socket", "kamailio_rpc.sock")`,
//! `modparam("jsonrpcs", "transport", 6)` (bit 2 FIFO, bit 4 datagram; bit 1, HTTP through
//! xhttp, is not supported and is ignored with a notice), `fifo_reply_dir` `/tmp/`,
//! `fifo_mode` 0660, `dgram_mode` 0660, `modparam("ctl", "binrpc", "unix:kamailio_ctl")`
//! (repeatable; only `unix:`/`unixs:` stream sockets), `ctl` `mode` 0600. The paths are
//! created at start (an existing socket or FIFO there is replaced; anything else there, or a
//! path that cannot be created, stops the start with a message) and removed at a clean exit.
//!
//! Limits: a request is at most 64 KiB ([`MAX_REQUEST`]; a FIFO buffer over that is dropped,
//! a larger BINRPC packet or datagram gets an error reply); at most [`MAX_CONNS`] `ctl`
//! connections at once (more are closed at once); a `ctl` connection idle for
//! [`IDLE_LIMIT`] is closed; a reply write waits at most [`WRITE_LIMIT`] (a FIFO reply also
//! waits that long for its reader to open the reply FIFO). `reply_name` must be a plain file
//! name (no `/`).

pub(crate) mod binrpc;
pub(crate) mod jsonrpc;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrosip_routing::cfg::{Config, ParamValue};
use ferrosip_routing::rpc::{RpcEnv, RpcError};

/// Largest request accepted on any transport (bytes).
pub(crate) const MAX_REQUEST: usize = 64 * 1024;
/// Most `ctl` connections served at once.
pub(crate) const MAX_CONNS: usize = 16;
/// A `ctl` connection with no request for this long is closed.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(300);
/// Longest wait to write one reply.
pub(crate) const WRITE_LIMIT: Duration = Duration::from_secs(5);
/// How often the transport threads look at the stop flag.
const TICK: Duration = Duration::from_millis(200);

/// Kamailio's default runtime directory.
pub(crate) const DEFAULT_RUNTIME_DIR: &str = "/run/kamailio";

/// The running control transports.
pub(crate) struct Control {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    paths: Vec<PathBuf>,
}

/// The current thread's Linux thread id.
pub(crate) fn gettid() -> u64 {
    // SAFETY: gettid(2) has no preconditions and cannot fail.
    u64::try_from(unsafe { libc::gettid() }).unwrap_or(0)
}

fn param_str(cfg: &Config, module: &str, name: &str) -> Option<String> {
    match cfg.modparam(module, name)? {
        ParamValue::Str(s) => Some(s.clone()),
        ParamValue::Int(i) => Some(i.to_string()),
    }
}

fn param_int(cfg: &Config, module: &str, name: &str) -> Option<i64> {
    match cfg.modparam(module, name)? {
        ParamValue::Int(i) => Some(*i),
        ParamValue::Str(s) => s.trim().parse().ok(),
    }
}

/// The runtime directory: `-Y`, else `runtime_dir=` (or `rundir=`/`run_dir=`), else
/// `/run/kamailio`.
pub(crate) fn runtime_dir(cli: Option<&Path>, cfg: &Config) -> PathBuf {
    if let Some(d) = cli {
        return d.to_path_buf();
    }
    cfg.core
        .other
        .iter()
        .rev()
        .find(|(n, _)| matches!(n.as_str(), "runtime_dir" | "rundir" | "run_dir"))
        .and_then(|(_, v)| match v {
            ParamValue::Str(s) if !s.is_empty() => Some(PathBuf::from(s)),
            _ => None,
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNTIME_DIR))
}

/// Whether the configuration loads a control transport.
pub(crate) fn wanted(cfg: &Config) -> bool {
    cfg.modules.iter().any(|m| m == "jsonrpcs" || m == "ctl")
}

fn in_dir(dir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// Makes room for a socket or FIFO at `path`: an old socket/FIFO is removed, anything else
/// is an error.
fn clear_path(path: &Path, fifo: bool) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            let t = m.file_type();
            if (fifo && t.is_fifo()) || (!fifo && t.is_socket()) {
                std::fs::remove_file(path)
                    .map_err(|e| format!("cannot remove old {}: {e}", path.display()))
            } else {
                Err(format!(
                    "{} exists and is not a {}",
                    path.display(),
                    if fifo { "FIFO" } else { "socket" }
                ))
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot use {}: {e}", path.display())),
    }
}

fn chmod(path: &Path, mode: i64) -> Result<(), String> {
    let mode = u32::try_from(mode & 0o7777).unwrap_or(0o600);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))
}

impl Control {
    /// Creates every configured socket and FIFO and starts their threads. Nothing is started
    /// (and nothing left behind) when one path cannot be created.
    pub(crate) fn start(cfg: &Config, dir: &Path, env: Arc<RpcEnv>) -> Result<Self, String> {
        let mut c = Self {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            paths: Vec::new(),
        };
        match c.start_all(cfg, dir, &env) {
            Ok(()) => Ok(c),
            Err(e) => {
                c.stop();
                Err(e)
            }
        }
    }

    fn start_all(&mut self, cfg: &Config, dir: &Path, env: &Arc<RpcEnv>) -> Result<(), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the runtime directory {}: {e}", dir.display()))?;
        let has = |m: &str| cfg.modules.iter().any(|x| x == m);
        if has("jsonrpcs") {
            let transport = param_int(cfg, "jsonrpcs", "transport").unwrap_or(6);
            if transport & 1 != 0 {
                tracing::warn!("jsonrpcs: the HTTP transport (transport bit 1) is not supported");
            }
            let pretty = param_int(cfg, "jsonrpcs", "pretty_format").unwrap_or(0) != 0;
            if transport & 2 != 0 {
                let name = param_str(cfg, "jsonrpcs", "fifo_name")
                    .unwrap_or_else(|| "kamailio_rpc.fifo".into());
                let path = in_dir(dir, &name);
                let reply_dir = PathBuf::from(
                    param_str(cfg, "jsonrpcs", "fifo_reply_dir").unwrap_or_else(|| "/tmp/".into()),
                );
                let mode = param_int(cfg, "jsonrpcs", "fifo_mode").unwrap_or(0o660);
                self.start_fifo(path, mode, reply_dir, pretty, env)?;
            }
            if transport & 4 != 0 {
                let name = param_str(cfg, "jsonrpcs", "dgram_socket")
                    .unwrap_or_else(|| "kamailio_rpc.sock".into());
                let path = in_dir(dir, &name);
                let mode = param_int(cfg, "jsonrpcs", "dgram_mode").unwrap_or(0o660);
                self.start_dgram(path, mode, pretty, env)?;
            }
        }
        if has("ctl") {
            let mut specs: Vec<String> = cfg
                .modparams
                .iter()
                .filter(|(m, n, _)| m == "ctl" && n == "binrpc")
                .map(|(_, _, v)| match v {
                    ParamValue::Str(s) => s.clone(),
                    ParamValue::Int(i) => i.to_string(),
                })
                .collect();
            if specs.is_empty() {
                specs.push("unix:kamailio_ctl".into());
            }
            let mode = param_int(cfg, "ctl", "mode").unwrap_or(0o600);
            for spec in specs {
                let name = spec
                    .strip_prefix("unix:")
                    .or_else(|| spec.strip_prefix("unixs:"))
                    .or_else(|| (!spec.contains(':')).then_some(spec.as_str()))
                    .ok_or_else(|| {
                        format!(
                            "modparam(\"ctl\", \"binrpc\", \"{spec}\"): only unix: stream sockets are supported"
                        )
                    })?;
                self.start_ctl(in_dir(dir, name), mode, env)?;
            }
        }
        Ok(())
    }

    fn spawn(
        &mut self,
        name: &str,
        env: &Arc<RpcEnv>,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), String> {
        let env = env.clone();
        let desc = name.to_string();
        let h = std::thread::Builder::new()
            .name(name.replace(' ', "-").to_ascii_lowercase())
            .spawn(move || {
                env.add_proc(gettid(), desc);
                f();
            })
            .map_err(|e| format!("cannot start the {name} thread: {e}"))?;
        self.threads.push(h);
        Ok(())
    }

    fn start_ctl(&mut self, path: PathBuf, mode: i64, env: &Arc<RpcEnv>) -> Result<(), String> {
        clear_path(&path, false)?;
        let l = UnixListener::bind(&path)
            .map_err(|e| format!("ctl: cannot create {}: {e}", path.display()))?;
        self.paths.push(path.clone());
        chmod(&path, mode)?;
        l.set_nonblocking(true)
            .map_err(|e| format!("ctl: {}: {e}", path.display()))?;
        tracing::warn!("ctl: BINRPC on unix:{}", path.display());
        let (stop, e) = (self.stop.clone(), env.clone());
        self.spawn("ctl handler", env, move || ctl_loop(&l, &e, &stop))
    }

    fn start_dgram(
        &mut self,
        path: PathBuf,
        mode: i64,
        pretty: bool,
        env: &Arc<RpcEnv>,
    ) -> Result<(), String> {
        clear_path(&path, false)?;
        let s = UnixDatagram::bind(&path)
            .map_err(|e| format!("jsonrpcs: cannot create {}: {e}", path.display()))?;
        self.paths.push(path.clone());
        chmod(&path, mode)?;
        s.set_read_timeout(Some(TICK))
            .and_then(|()| s.set_write_timeout(Some(WRITE_LIMIT)))
            .map_err(|e| format!("jsonrpcs: {}: {e}", path.display()))?;
        tracing::warn!("jsonrpcs: datagram socket {}", path.display());
        let (stop, e) = (self.stop.clone(), env.clone());
        self.spawn("JSONRPCS DATAGRAM", env, move || {
            dgram_loop(&s, &e, pretty, &stop)
        })
    }

    fn start_fifo(
        &mut self,
        path: PathBuf,
        mode: i64,
        reply_dir: PathBuf,
        pretty: bool,
        env: &Arc<RpcEnv>,
    ) -> Result<(), String> {
        clear_path(&path, true)?;
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("jsonrpcs: bad FIFO path {}", path.display()))?;
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(format!(
                "jsonrpcs: cannot create the FIFO {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        self.paths.push(path.clone());
        chmod(&path, mode)?;
        // Opened for reading and writing: reads never see end-of-file between writers.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| format!("jsonrpcs: cannot open the FIFO {}: {e}", path.display()))?;
        tracing::warn!("jsonrpcs: FIFO {}", path.display());
        let (stop, e) = (self.stop.clone(), env.clone());
        self.spawn("JSONRPCS FIFO", env, move || {
            fifo_loop(f, &reply_dir, &e, pretty, &stop);
        })
    }

    /// Stops the threads and removes the sockets and FIFOs.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        for p in self.paths.drain(..) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits up to `TICK` for `fd` to be ready for `events`.
fn wait_fd(fd: i32, events: i16, limit: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n > 0
}

fn ctl_loop(l: &UnixListener, env: &Arc<RpcEnv>, stop: &Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        if !wait_fd(l.as_raw_fd(), libc::POLLIN, TICK) {
            continue;
        }
        let Ok((conn, _)) = l.accept() else { continue };
        if active.load(Ordering::Relaxed) >= MAX_CONNS {
            tracing::warn!("ctl: {MAX_CONNS} connections open, refusing another");
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (env, stop, act) = (env.clone(), stop.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("ctl-conn".into())
            .spawn(move || {
                ctl_conn(conn, &env, &stop);
                act.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Serves one `ctl` connection: requests in turn until it closes, errs or idles.
fn ctl_conn(mut conn: UnixStream, env: &RpcEnv, stop: &AtomicBool) {
    if conn.set_nonblocking(false).is_err()
        || conn.set_read_timeout(Some(TICK)).is_err()
        || conn.set_write_timeout(Some(WRITE_LIMIT)).is_err()
    {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) && last.elapsed() < IDLE_LIMIT {
        match conn.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                last = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        loop {
            match binrpc::parse_request(&buf) {
                Ok(None) => break,
                Ok(Some((req, used))) => {
                    buf.drain(..used);
                    let result = env.call(&req.method, &req.params);
                    if conn
                        .write_all(&binrpc::encode_reply(&req.cookie, &result))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(bad) => {
                    tracing::debug!("ctl: bad request: {}", bad.reason);
                    if let Some(c) = &bad.cookie {
                        let e = RpcError::new(400, bad.reason.clone());
                        if conn.write_all(&binrpc::encode_error(c, &e)).is_err() {
                            return;
                        }
                    }
                    if bad.used == 0 {
                        return;
                    }
                    buf.drain(..bad.used.min(buf.len()));
                }
            }
        }
    }
}

fn dgram_loop(s: &UnixDatagram, env: &RpcEnv, pretty: bool, stop: &AtomicBool) {
    let mut buf = vec![0u8; MAX_REQUEST + 1];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = s.recv_from(&mut buf) else {
            continue;
        };
        let Some(to) = from.as_pathname().map(Path::to_path_buf) else {
            tracing::debug!("jsonrpcs: datagram from an unnamed socket, no reply possible");
            continue;
        };
        let text = if n > MAX_REQUEST {
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Request too large"},"id":null}"#
                .to_string()
        } else {
            jsonrpc::handle(env, &buf[..n], pretty).text
        };
        if let Err(e) = s.send_to(text.as_bytes(), &to) {
            tracing::debug!("jsonrpcs: cannot reply to {}: {e}", to.display());
            if e.raw_os_error() == Some(libc::EMSGSIZE) {
                let small = r#"{"jsonrpc":"2.0","error":{"code":500,"message":"Reply too large for a datagram"},"id":null}"#;
                let _ = s.send_to(small.as_bytes(), &to);
            }
        }
    }
}

fn fifo_loop(
    mut f: std::fs::File,
    reply_dir: &Path,
    env: &RpcEnv,
    pretty: bool,
    stop: &AtomicBool,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    while !stop.load(Ordering::Relaxed) {
        if !wait_fd(f.as_raw_fd(), libc::POLLIN, TICK) {
            continue;
        }
        match f.read(&mut chunk) {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => continue,
        }
        loop {
            match jsonrpc::split(&buf) {
                jsonrpc::Next::More => break,
                jsonrpc::Next::Garbage(n) => {
                    tracing::debug!("jsonrpcs: FIFO: {n} bytes that are not JSON dropped");
                    buf.drain(..n.min(buf.len()));
                }
                jsonrpc::Next::Doc(doc, n) => {
                    buf.drain(..n.min(buf.len()));
                    let r = jsonrpc::handle_value(env, &doc, pretty);
                    match r.reply_name.as_deref() {
                        Some(name) if !name.is_empty() && !name.contains('/') => {
                            if let Err(e) = fifo_reply(&reply_dir.join(name), &r.text) {
                                tracing::warn!("jsonrpcs: reply FIFO {name}: {e}");
                            }
                        }
                        Some(name) => tracing::warn!("jsonrpcs: bad reply_name {name:?}"),
                        None => tracing::debug!("jsonrpcs: FIFO request without reply_name"),
                    }
                }
            }
        }
        if buf.len() > MAX_REQUEST {
            tracing::warn!("jsonrpcs: FIFO request over {MAX_REQUEST} bytes dropped");
            buf.clear();
        }
    }
}

/// Writes a reply into the client's FIFO (which it has opened for reading, or will shortly)
/// and closes it, which ends the client's read.
fn fifo_reply(path: &Path, text: &str) -> Result<(), String> {
    let end = Instant::now() + WRITE_LIMIT;
    let mut f = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => break f,
            // ENXIO: no reader yet.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_fifo() {
        return Err("not a FIFO".into());
    }
    let mut data = text.as_bytes().to_vec();
    data.push(b'\n');
    let mut off = 0;
    while off < data.len() {
        match f.write(&data[off..]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() || !wait_fd(f.as_raw_fd(), libc::POLLOUT, left) {
                    return Err("reader too slow".into());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}
