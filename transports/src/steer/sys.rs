//! The few `bpf(2)` commands the loader needs, issued through `libc::syscall(SYS_bpf)`.
//! Attribute layouts follow `union bpf_attr` and `struct bpf_prog_info` in `<linux/bpf.h>`;
//! the kernel zero-extends a shorter attribute, so each struct stops at its last used field.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_ENABLE_STATS: libc::c_int = 32;

/// `BPF_PROG_TYPE_SK_REUSEPORT`.
pub(crate) const PROG_TYPE_SK_REUSEPORT: u32 = 21;
/// `BPF_ANY`: create or replace a map element.
const BPF_ANY: u64 = 0;
/// `BPF_PSEUDO_MAP_FD`: `src_reg` of an `ld_imm64` whose immediate is a map fd.
pub(crate) const PSEUDO_MAP_FD: u8 = 1;
/// `BPF_LOG_LEVEL1`: log the verifier's walk (wanted after a rejection).
pub(crate) const LOG_LEVEL1: u32 = 1;

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

#[repr(C)]
#[derive(Default)]
struct EnableStatsAttr {
    stats_type: u32,
}

/// `struct bpf_prog_info` up to `verified_insns` (offsets 192, 200 and 216 there).
#[repr(C)]
struct ProgInfo {
    head: [u8; 192],
    run_time_ns: u64,
    run_cnt: u64,
    recursion_misses: u64,
    verified_insns: u32,
    _pad: u32,
}

/// Runs one `bpf(2)` command. The attribute is passed by pointer with its exact size.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    let size = libc::c_uint::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` prefix of `union bpf_attr`
    // of `size` bytes; every pointer inside it refers to memory that outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            size,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn fd_of(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    // The kernel accepts [A-Za-z0-9_.] and needs a NUL within 16 bytes.
    for (o, b) in out
        .iter_mut()
        .zip(
            name.bytes()
                .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.'),
        )
        .take(15)
    {
        *o = b;
    }
    out
}

/// `BPF_MAP_CREATE`.
pub(crate) fn map_create(
    name: &str,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags,
        map_name: name16(name),
        ..MapCreateAttr::default()
    };
    fd_of(bpf(BPF_MAP_CREATE, &mut attr)?)
}

/// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`.
pub(crate) fn map_update(map: RawFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: u32::try_from(map).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags: BPF_ANY,
        ..MapElemAttr::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// `BPF_PROG_LOAD`. `log` is the verifier log buffer (empty for none); on return it holds
/// the NUL-terminated log the kernel wrote.
pub(crate) fn prog_load(
    prog_type: u32,
    name: &str,
    insns: &[[u8; 8]],
    license: &std::ffi::CStr,
    log_level: u32,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name16(name),
        ..ProgLoadAttr::default()
    };
    if !log.is_empty() {
        attr.log_level = log_level;
        attr.log_size =
            u32::try_from(log.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    fd_of(bpf(BPF_PROG_LOAD, &mut attr)?)
}

/// Run-time counters of a loaded program (`struct bpf_prog_info`).
pub(crate) struct ProgCounters {
    pub(crate) run_time_ns: u64,
    pub(crate) run_cnt: u64,
    pub(crate) verified_insns: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program.
pub(crate) fn prog_info(prog: RawFd) -> io::Result<ProgCounters> {
    let mut info = ProgInfo {
        head: [0u8; 192],
        run_time_ns: 0,
        run_cnt: 0,
        recursion_misses: 0,
        verified_insns: 0,
        _pad: 0,
    };
    let mut attr = InfoAttr {
        bpf_fd: u32::try_from(prog).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        info_len: u32::try_from(std::mem::size_of::<ProgInfo>())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        info: std::ptr::addr_of_mut!(info) as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(ProgCounters {
        run_time_ns: info.run_time_ns,
        run_cnt: info.run_cnt,
        verified_insns: info.verified_insns,
    })
}

/// `BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)`: run-time accounting stays on while the returned
/// descriptor is open.
pub(crate) fn enable_run_time_stats() -> io::Result<OwnedFd> {
    let mut attr = EnableStatsAttr { stats_type: 0 };
    fd_of(bpf(BPF_ENABLE_STATS, &mut attr)?)
}
