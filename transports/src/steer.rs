//! Call steering: every UDP datagram of a call goes to the worker that owns its Call-ID.
//!
//! All workers bind the same address with `SO_REUSEPORT`. An eBPF `SK_REUSEPORT` program
//! (`transports/bpf/steer.bpf.c`, compiled by `build.rs`) reads the Call-ID of each datagram
//! (long or compact form, any letter case, in the first [`WINDOW`] bytes of the payload, before
//! the blank line that ends the headers) and selects the socket of worker
//! [`owner_of`]`(call_id, N)`. Where it finds no Call-ID it selects nothing and the kernel
//! falls back to its 4-tuple hash, so the receiving worker must hand such a message to its
//! owner itself, computing the same [`owner_of`].
//!
//! Where the program is not built ([`available`] is false) or cannot be loaded
//! ([`Steering::load`] fails), the engine runs in the fallback mode: the kernel spreads by
//! 4-tuple and workers hand messages over using [`owner_of`].
//!
//! The loader is self-contained: a small ELF reader and the raw `bpf(2)` syscall; no libbpf.
//!
//! Use, for N workers: bind N UDP sockets to one address with `SO_REUSEPORT`, then
//! [`Steering::load`]`(N)`, [`Steering::attach`] to one socket of the group (it applies to the
//! whole group), and [`Steering::set_worker_socket`]`(i, socket_i)` for each worker.

mod elf;
mod sys;
#[cfg(test)]
mod tests;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Bytes of UDP payload the program searches for the Call-ID header.
pub const WINDOW: usize = 2048;

/// Largest number of worker sockets the program can select among (size of its socket map).
pub const MAX_WORKERS: usize = 256;

/// FNV-1a 32-bit offset basis.
const FNV_BASIS: u32 = 2_166_136_261;
/// FNV-1a 32-bit prime.
const FNV_PRIME: u32 = 16_777_619;

/// `SO_ATTACH_REUSEPORT_EBPF` (asm-generic value, shared by x86 and arm).
const SO_ATTACH_REUSEPORT_EBPF: libc::c_int = 52;

/// The hash the steering program computes over a Call-ID value: FNV-1a 32-bit, finished
/// with murmur3's `fmix32` so that the top bits (which pick the owner) depend on every byte:
/// plain FNV-1a spreads SIPp's sequential `N-pid@ip` Call-IDs up to 6% off even over two
/// workers.
///
/// `call_id` is the header value as the program sees it: leading and trailing SP/HTAB
/// removed, no CR/LF.
#[must_use]
pub fn call_id_hash(call_id: &[u8]) -> u32 {
    let mut h = call_id.iter().fold(FNV_BASIS, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(FNV_PRIME)
    });
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The worker, in `0..workers`, that owns the call with this Call-ID value: the same choice
/// the steering program makes, `(hash * workers) >> 32`. With `workers == 0` it returns 0.
///
/// Leading and trailing SP/HTAB around `call_id` are ignored, as the program ignores them.
#[must_use]
pub fn owner_of(call_id: &[u8], workers: usize) -> usize {
    let h = u64::from(call_id_hash(trim_blanks(call_id)));
    let n = workers as u64;
    // (h * n) >> 32 < n, so it fits back into usize.
    usize::try_from((h * n) >> 32).unwrap_or(0)
}

/// Strips SP and HTAB at both ends.
fn trim_blanks(v: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !blank(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !blank(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// Whether the steering program was compiled into this build (clang was found by
/// `build.rs`). When false, [`Steering::load`] always fails with [`SteerError::NotBuilt`].
#[must_use]
pub fn available() -> bool {
    OBJECT.is_some()
}

#[cfg(not(ferrosip_no_bpf))]
const OBJECT: Option<&[u8]> = Some(include_bytes!(concat!(env!("OUT_DIR"), "/steer.bpf.o")));
#[cfg(ferrosip_no_bpf)]
const OBJECT: Option<&[u8]> = None;

/// Why call steering could not be set up. The engine then runs in the fallback mode.
#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    /// The program was not compiled into this build (no clang when it was built).
    #[error("eBPF call steering not built (clang was missing at build time)")]
    NotBuilt,
    /// A system call failed (no privilege, no BPF support, socket not in a reuseport group...).
    #[error("{what}: {source}")]
    Syscall {
        /// The operation that failed.
        what: &'static str,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },
    /// The kernel's verifier rejected the program; the text is the tail of its log.
    #[error("eBPF verifier rejected the steering program:\n{0}")]
    Verifier(String),
    /// The compiled object could not be understood by the loader.
    #[error("bad eBPF object: {0}")]
    Elf(String),
    /// The number of workers, or a worker index, is outside what the program supports.
    #[error("worker count or index {0} out of range (1..={MAX_WORKERS} workers)")]
    Workers(usize),
}

fn syscall(what: &'static str) -> impl FnOnce(io::Error) -> SteerError {
    move |source| SteerError::Syscall { what, source }
}

/// Counters of the loaded program, from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Total time spent in the program, in nanoseconds (counted only while run-time
    /// statistics are enabled, see [`enable_run_stats`]).
    pub run_time_ns: u64,
    /// Number of runs counted (same condition).
    pub run_cnt: u64,
    /// Instructions the verifier processed to accept the program.
    pub verified_insns: u32,
}

/// Turns on the kernel's BPF run-time accounting (like `sysctl kernel.bpf_stats_enabled=1`)
/// for as long as the returned descriptor stays open. It costs a little on every BPF run.
pub fn enable_run_stats() -> Result<OwnedFd, SteerError> {
    sys::enable_run_time_stats().map_err(syscall("enabling BPF run-time statistics"))
}

/// The loaded steering program and its maps. Dropping it closes the descriptors; sockets it
/// was attached to keep the program until they close.
#[derive(Debug)]
pub struct Steering {
    prog: OwnedFd,
    socks: OwnedFd,
    _cfg: OwnedFd,
    _scratch: OwnedFd,
    workers: usize,
}

/// Size of the verifier log buffer used to explain a rejection (the kernel keeps the tail).
const VERIFIER_LOG_SIZE: usize = 1 << 26;
/// How much of the log's end a [`SteerError::Verifier`] carries.
const VERIFIER_LOG_TAIL: usize = 4096;

impl Steering {
    /// Loads the steering program for `workers` worker sockets (1..=[`MAX_WORKERS`]):
    /// creates its maps, sets the worker count and passes the program to the verifier.
    ///
    /// Fails with [`SteerError::NotBuilt`] when the program is not compiled in,
    /// [`SteerError::Syscall`] when BPF is unavailable or not permitted, and
    /// [`SteerError::Verifier`] (with the end of the verifier log) when it is rejected.
    pub fn load(workers: usize) -> Result<Self, SteerError> {
        if workers == 0 || workers > MAX_WORKERS {
            return Err(SteerError::Workers(workers));
        }
        let object = OBJECT.ok_or(SteerError::NotBuilt)?;
        let mut obj = elf::parse(object, "sk_reuseport").map_err(SteerError::Elf)?;

        let mut fds: Vec<OwnedFd> = Vec::with_capacity(obj.maps.len());
        for m in &obj.maps {
            let fd = sys::map_create(
                &m.name,
                m.map_type,
                m.key_size,
                m.value_size,
                m.max_entries,
                m.map_flags,
            )
            .map_err(syscall("creating a BPF map"))?;
            fds.push(fd);
        }
        for &(at, map) in &obj.relocs {
            let fd = fds
                .get(map)
                .ok_or_else(|| SteerError::Elf("relocation to a missing map".into()))?
                .as_raw_fd();
            let insn = obj
                .insns
                .get_mut(at)
                .ok_or_else(|| SteerError::Elf("relocation outside the program".into()))?;
            insn[1] = (insn[1] & 0x0f) | (sys::PSEUDO_MAP_FD << 4);
            insn[4..8].copy_from_slice(&fd.to_le_bytes());
        }

        let mut take = |name: &str| -> Result<OwnedFd, SteerError> {
            let i = obj
                .maps
                .iter()
                .position(|m| m.name == name)
                .ok_or_else(|| SteerError::Elf(format!("object has no map {name:?}")))?;
            obj.maps.remove(i);
            Ok(fds.remove(i))
        };
        let socks = take("socks")?;
        let cfg = take("cfg")?;
        let scratch = take("scratch")?;

        let n = u32::try_from(workers).map_err(|_| SteerError::Workers(workers))?;
        sys::map_update(cfg.as_raw_fd(), &0u32.to_ne_bytes(), &n.to_ne_bytes())
            .map_err(syscall("setting the worker count"))?;

        let license = CString::new(obj.license.clone())
            .map_err(|_| SteerError::Elf("bad license string".into()))?;
        let prog = load_prog(&obj.insns, &license)?;
        Ok(Self {
            prog,
            socks,
            _cfg: cfg,
            _scratch: scratch,
            workers,
        })
    }

    /// Attaches the program to the reuseport group of `fd` (`SO_ATTACH_REUSEPORT_EBPF`). The
    /// socket must be bound with `SO_REUSEPORT`; attaching to one socket of a group applies to
    /// the whole group.
    pub fn attach(&self, fd: BorrowedFd<'_>) -> Result<(), SteerError> {
        let prog: libc::c_int = self.prog.as_raw_fd();
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_ATTACH_REUSEPORT_EBPF,
                std::ptr::addr_of!(prog).cast::<libc::c_void>(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(syscall(
                "attaching the steering program (SO_ATTACH_REUSEPORT_EBPF)",
            )(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Puts `fd` in slot `worker` of the program's socket map: datagrams whose Call-ID that
    /// worker owns are delivered to `fd`. The socket must already be bound, with
    /// `SO_REUSEPORT`, in the group the program is attached to. Replacing a slot is allowed;
    /// closing a socket empties its slot (its calls then fall back to the kernel hash).
    pub fn set_worker_socket(&self, worker: usize, fd: BorrowedFd<'_>) -> Result<(), SteerError> {
        if worker >= self.workers {
            return Err(SteerError::Workers(worker));
        }
        let key = u32::try_from(worker).map_err(|_| SteerError::Workers(worker))?;
        let raw = u64::try_from(fd.as_raw_fd()).map_err(|_| SteerError::Syscall {
            what: "adding a worker socket",
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?;
        sys::map_update(
            self.socks.as_raw_fd(),
            &key.to_ne_bytes(),
            &raw.to_ne_bytes(),
        )
        .map_err(syscall("adding a worker socket to the steering map"))
    }

    /// Number of workers the program steers among.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The program's descriptor (for inspection tools).
    #[must_use]
    pub fn prog_fd(&self) -> BorrowedFd<'_> {
        self.prog.as_fd()
    }

    /// The kernel's counters for the program: run time and count (while run-time statistics
    /// are enabled) and the verifier's instruction count.
    pub fn run_stats(&self) -> Result<RunStats, SteerError> {
        let c = sys::prog_info(self.prog.as_raw_fd()).map_err(syscall("reading program info"))?;
        Ok(RunStats {
            run_time_ns: c.run_time_ns,
            run_cnt: c.run_cnt,
            verified_insns: c.verified_insns,
        })
    }
}

/// Passes the program to the verifier. Without a log first (cheap); after a rejection again
/// with one, to say why. With `FERROSIP_BPF_LOG=<path>` set, the load is always logged and
/// the whole verifier log written to that file (for working on the program).
fn load_prog(insns: &[[u8; 8]], license: &CString) -> Result<OwnedFd, SteerError> {
    let dump = std::env::var_os("FERROSIP_BPF_LOG");
    let logged = |log: &mut Vec<u8>| {
        let r = sys::prog_load(
            sys::PROG_TYPE_SK_REUSEPORT,
            "ferrosip_steer",
            insns,
            license,
            sys::LOG_LEVEL1,
            log,
        );
        if let Some(path) = &dump {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            // Best effort: a developer's aid only.
            let _ = std::fs::write(path, &log[..end]);
        }
        r
    };
    let first = if dump.is_some() {
        let mut log = vec![0u8; VERIFIER_LOG_SIZE];
        match logged(&mut log) {
            Ok(fd) => return Ok(fd),
            Err(e) if log.first().is_some_and(|&b| b != 0) => {
                return Err(SteerError::Verifier(log_tail(&log, &e)))
            }
            Err(e) => e,
        }
    } else {
        match sys::prog_load(
            sys::PROG_TYPE_SK_REUSEPORT,
            "ferrosip_steer",
            insns,
            license,
            0,
            &mut [],
        ) {
            Ok(fd) => return Ok(fd),
            Err(e) => e,
        }
    };
    let mut log = vec![0u8; VERIFIER_LOG_SIZE];
    match logged(&mut log) {
        Ok(fd) => Ok(fd),
        Err(_) if log.first().is_some_and(|&b| b != 0) => {
            Err(SteerError::Verifier(log_tail(&log, &first)))
        }
        Err(_) => Err(syscall("loading the BPF program")(first)),
    }
}

/// The readable end of a verifier log, with the load error.
fn log_tail(log: &[u8], err: &io::Error) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let text = text.trim_end();
    let mut start = text.len().saturating_sub(VERIFIER_LOG_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    if text.is_empty() {
        format!("{err} (no verifier log)")
    } else {
        format!("{err}\n{}", &text[start..])
    }
}
