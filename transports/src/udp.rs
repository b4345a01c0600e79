//! Batched UDP I/O: drain every ready datagram with one `recvmmsg(2)` and send a batch with one
//! `sendmmsg(2)`.
//!
//! Measured here (bench-anchor RESULTS.md §6): a relay using one future and one io_uring
//! submission per datagram costs 1.4–1.6× the CPU of plain syscalls, while `recvmmsg`/`sendmmsg`
//! sit on the floor. The engine waits for readability once per wake-up and then drains the
//! socket with [`RecvBatch::recv`] until it would block.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Largest UDP payload accepted (RFC 768 length field; RFC 3261 §18.1.1 allows up to 65,535).
pub const MAX_DATAGRAM: usize = 65_535;

/// Datagrams drained per `recvmmsg` call.
pub const RECV_BATCH: usize = 32;

/// The size of the address buffer each received datagram's source is written to.
const SOCKADDR_LEN: u32 = std::mem::size_of::<libc::sockaddr_storage>() as u32;

/// Datagrams sent per `sendmmsg` call.
pub const SEND_BATCH: usize = 64;

/// `UDP_SEGMENT` (linux/udp.h, Linux 4.18): a send's `cmsg` level `SOL_UDP` option giving the
/// size every datagram of a generic segmentation offload (GSO) send is cut to.
const UDP_SEGMENT: libc::c_int = 103;

/// `UDP_GRO` (linux/udp.h, Linux 5.0): the socket option that lets a socket receive a GSO
/// send whole, and the `cmsg` type that gives the segment size on receive.
const UDP_GRO: libc::c_int = 104;

/// Most datagrams one GSO send may carry (the kernel's `UDP_MAX_SEGMENTS`).
pub const GSO_MAX_SEGMENTS: usize = 64;

/// Largest datagram sent as part of a GSO run: a GSO segment may not exceed the route's MTU
/// (the kernel refuses the send with `EINVAL`), so only runs of datagrams that fit an
/// Ethernet MTU with IPv6 and UDP headers are cut by the kernel; larger ones go one by one and
/// may be IP-fragmented as usual.
pub const GSO_MAX_SEGMENT: usize = 1_400;

/// Most payload bytes of one GSO send (65,535 minus IPv6 and UDP headers, rounded down).
const GSO_MAX_BYTES: usize = 65_000;

/// Bytes of control buffer per received datagram: room for one `cmsghdr` with an `int`.
const CMSG_BUF: usize = 32;

/// Receive buffers for one batch of datagrams, with the `recvmmsg` message headers that point
/// into them built once: a call only resets the address lengths the previous call used
/// (rebuilding and zeroing 32 headers per call cost ~800 instructions per wake-up, callgrind).
///
/// With [`RecvBatch::enable_gro`] a received entry may hold several datagrams that a peer sent
/// with one GSO send (the kernel keeps them together up to the socket); the batch cuts them
/// apart again, so [`RecvBatch::get`] always yields single datagrams.
pub struct RecvBatch {
    /// Message headers: entry `i` points at `iovs[i]` and `addrs[i]`.
    hdrs: Vec<libc::mmsghdr>,
    /// Entry `i` points at `bufs[i]`; only read by the kernel, through `hdrs`.
    _iovs: Vec<libc::iovec>,
    bufs: Vec<Box<[u8]>>,
    addrs: Vec<libc::sockaddr_storage>,
    /// Control buffers (8-byte aligned), one per entry; used only with GRO on.
    ctrl: Vec<[u64; CMSG_BUF / 8]>,
    /// Entries filled by the last receive.
    count: usize,
    /// With GRO on: every datagram of the last receive as (entry, offset, length).
    segs: Vec<(u32, u32, u32)>,
    gro: bool,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` point only into heap memory this value owns
// (`bufs`, `addrs`, `iovs`, `ctrl`), which is never reallocated after `new`; moving the value
// to another thread moves that ownership with it.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// Allocates [`RECV_BATCH`] buffers of [`MAX_DATAGRAM`] bytes (2 MiB): make one per worker
    /// and keep it.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let mut bufs: Vec<Box<[u8]>> = (0..RECV_BATCH)
            .map(|_| vec![0u8; MAX_DATAGRAM].into_boxed_slice())
            .collect();
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let mut addrs: Vec<libc::sockaddr_storage> =
            vec![unsafe { MaybeUninit::zeroed().assume_init() }; RECV_BATCH];
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let hdrs = iovs
            .iter_mut()
            .zip(addrs.iter_mut())
            .map(|(iov, addr)| {
                // SAFETY: mmsghdr is plain old data; all-zero is valid and every field used is
                // set here.
                let mut h: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
                h.msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen = SOCKADDR_LEN;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Self {
            hdrs,
            _iovs: iovs,
            bufs,
            addrs,
            ctrl: vec![[0u64; CMSG_BUF / 8]; RECV_BATCH],
            count: 0,
            segs: Vec::new(),
            gro: false,
        }
    }

    /// Turns on generic receive offload (`UDP_GRO`, Linux ≥ 5.0) for `fd` and makes this batch
    /// read the segment size the kernel reports with each entry. A run of equal-sized
    /// datagrams that a peer sent with one GSO send ([`send_batch_gso`]) then crosses the
    /// kernel's receive path once instead of once per datagram. Errors when the kernel does
    /// not know the option; the batch is unchanged then.
    pub fn enable_gro(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        crate::sock::set_int_option(fd, libc::SOL_UDP, UDP_GRO, 1)?;
        for (h, c) in self.hdrs.iter_mut().zip(self.ctrl.iter_mut()) {
            h.msg_hdr.msg_control = c.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = CMSG_BUF as _;
        }
        self.segs.reserve(RECV_BATCH * GSO_MAX_SEGMENTS);
        self.gro = true;
        Ok(())
    }

    /// Receives up to [`RECV_BATCH`] entries without blocking. Returns how many datagrams
    /// arrived (0 when none is ready): with GRO on, an entry may hold several.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        // The kernel wrote the address length (and message length and flags) of the entries
        // the last call filled; the others are as `new` left them.
        for h in self.hdrs.iter_mut().take(self.count) {
            h.msg_hdr.msg_namelen = SOCKADDR_LEN;
            h.msg_hdr.msg_flags = 0;
            if self.gro {
                h.msg_hdr.msg_controllen = CMSG_BUF as _;
            }
        }
        self.count = 0;
        self.segs.clear();
        // SAFETY: every header points at a live buffer, address slot and (with GRO) control
        // buffer owned by `self`, built in `new` and never moved (see the `Send` impl); the
        // kernel writes at most the sizes given there.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                RECV_BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        self.count = n as usize;
        if !self.gro {
            return Ok(self.count);
        }
        for i in 0..self.count {
            let h = &self.hdrs[i];
            let len = h.msg_len as usize;
            let seg = gro_segment_size(&h.msg_hdr).filter(|&s| s > 0 && s < len);
            match seg {
                Some(s) => {
                    let mut off = 0;
                    while off < len {
                        let l = s.min(len - off);
                        self.segs.push((i as u32, off as u32, l as u32));
                        off += l;
                    }
                }
                None => self.segs.push((i as u32, 0, len as u32)),
            }
        }
        Ok(self.segs.len())
    }

    /// Whether the last [`RecvBatch::recv`] filled every entry (the socket may hold more);
    /// a short batch means it is drained.
    pub fn full(&self) -> bool {
        self.count == RECV_BATCH
    }

    /// Number of datagrams from the last [`RecvBatch::recv`].
    pub fn len(&self) -> usize {
        if self.gro {
            self.segs.len()
        } else {
            self.count
        }
    }

    /// Whether the last receive returned nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Datagram `i` of the last receive and its source address (`None` for a source that is not
    /// IPv4/IPv6).
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let (entry, off, len) = if self.gro {
            let &(e, o, l) = self.segs.get(i)?;
            (e as usize, o as usize, l as usize)
        } else {
            if i >= self.count {
                return None;
            }
            (i, 0, self.hdrs.get(i)?.msg_len as usize)
        };
        let src = sockaddr_to_std(self.addrs.get(entry)?)?;
        Some((self.bufs.get(entry)?.get(off..off + len)?, src))
    }
}

/// The segment size of a received GSO entry, from its `UDP_GRO` control message.
fn gro_segment_size(m: &libc::msghdr) -> Option<usize> {
    // SAFETY: `m` is a header the kernel just filled: its control pointer and length describe
    // the control buffer it wrote, which the CMSG macros walk within those bounds.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    None
}

/// Converts a kernel socket address to a std one.
fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in, which it is large enough for.
            let sin: &libc::sockaddr_in = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6, which it is large enough for.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Converts a std socket address to a kernel one; returns the storage and its length.
fn std_to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            (
                ss,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            (
                ss,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// The first `n` entries of `arr` as a slice.
///
/// # Safety
/// Entries `0..n` must have been written.
unsafe fn written<T>(arr: &mut [MaybeUninit<T>], n: usize) -> &mut [T] {
    // SAFETY: the caller promises 0..n are initialised; MaybeUninit<T> has T's layout.
    unsafe { std::slice::from_raw_parts_mut(arr.as_mut_ptr().cast(), n) }
}

/// One non-blocking `sendmmsg(2)` of `hdrs`: how many headers the kernel took, or -1.
///
/// # Safety
/// Every header must point at names, iovecs, data and control bytes that stay alive and
/// readable for the call; the kernel only reads them.
unsafe fn sendmmsg_nb(fd: BorrowedFd<'_>, hdrs: &mut [libc::mmsghdr]) -> libc::c_int {
    // SAFETY: the caller's promise covers what the headers point at; the length is the slice's.
    unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            hdrs.len() as u32,
            libc::MSG_DONTWAIT,
        )
    }
}

/// Outcome of [`send_batch`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    /// Datagrams dropped (socket buffer full, unreachable destination, ...).
    pub failed: usize,
}

/// Sends many datagrams from one socket with as few `sendmmsg` calls as possible.
pub fn send_batch<'a, I>(fd: BorrowedFd<'_>, msgs: I) -> SendReport
where
    I: IntoIterator<Item = (&'a [u8], SocketAddr)>,
{
    let mut report = SendReport::default();
    let mut iter = msgs.into_iter().peekable();
    // Fixed-size scratch on the stack: a flush happens on every wake-up, so no allocation here.
    // Left uninitialised: only the first `len` entries are written and passed to the kernel
    // (zeroing all of them cost a 13.5 KB memset per flush, most wake-ups send one or two).
    let mut addrs: [MaybeUninit<(libc::sockaddr_storage, libc::socklen_t)>; SEND_BATCH] =
        [const { MaybeUninit::uninit() }; SEND_BATCH];
    let mut iovs: [MaybeUninit<libc::iovec>; SEND_BATCH] =
        [const { MaybeUninit::uninit() }; SEND_BATCH];
    let mut all_hdrs: [MaybeUninit<libc::mmsghdr>; SEND_BATCH] =
        [const { MaybeUninit::uninit() }; SEND_BATCH];
    while iter.peek().is_some() {
        let mut len = 0;
        for (data, dst) in iter.by_ref().take(SEND_BATCH) {
            addrs[len].write(std_to_sockaddr(&dst));
            iovs[len].write(libc::iovec {
                iov_base: data.as_ptr() as *mut _,
                iov_len: data.len(),
            });
            len += 1;
        }
        for i in 0..len {
            // SAFETY: entries 0..len of `addrs` were written just above.
            let (addr, addr_len) = unsafe { addrs[i].assume_init_mut() };
            // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
            let mut h: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
            h.msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = *addr_len;
            h.msg_hdr.msg_iov = iovs[i].as_mut_ptr();
            h.msg_hdr.msg_iovlen = 1;
            all_hdrs[i].write(h);
        }
        // SAFETY: entries 0..len were initialised in the loop above.
        let hdrs = unsafe { written(&mut all_hdrs, len) };
        let mut off = 0;
        while off < hdrs.len() {
            // SAFETY: the headers point into `addrs`, `iovs` and the caller's slices, all alive
            // for the duration of the call.
            let n = unsafe { sendmmsg_nb(fd, &mut hdrs[off..]) };
            if n <= 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The datagram at `off` could not be sent: count it and go on with the rest.
                report.failed += 1;
                off += 1;
            } else {
                report.sent += n as usize;
                off += n as usize;
            }
        }
    }
    report
}

/// Most `iovec`s handed to one `sendmmsg` by [`send_batch_gso`] (kept at 4 KiB of stack; the
/// rest of a larger batch follows in the next call).
const GSO_MAX_IOVS: usize = 256;

/// Whether [`send_batch_gso`] may still ask the kernel for segmentation offload on a socket:
/// the first time the kernel refuses a GSO send (no `UDP_SEGMENT` in an old kernel, a device
/// without checksum offload, a segment larger than the route's MTU), the run is sent again
/// datagram by datagram and GSO stays off for this socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// GSO sends are still tried.
    pub enabled: bool,
}

impl Default for Gso {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Sends datagrams like [`send_batch`], but hands each run of consecutive datagrams to the
/// same destination whose sizes are equal (the last may be shorter) to the kernel as one
/// generic segmentation offload send (`UDP_SEGMENT`, Linux ≥ 4.18; at most
/// [`GSO_MAX_SEGMENTS`] datagrams of at most [`GSO_MAX_SEGMENT`] bytes). The kernel's send
/// path then runs once per run instead of once per datagram, and a receiver with
/// [`RecvBatch::enable_gro`] takes the run whole; any other receiver gets the datagrams one by
/// one, exactly as sent. Nothing is reordered: callers that want longer runs order `msgs`
/// so that equal-sized datagrams to one destination are consecutive.
pub fn send_batch_gso<'a, I>(fd: BorrowedFd<'_>, msgs: I, gso: &mut Gso) -> SendReport
where
    I: IntoIterator<Item = (&'a [u8], SocketAddr)>,
{
    if !gso.enabled {
        return send_batch(fd, msgs);
    }
    let mut iter = msgs.into_iter().peekable();
    let mut report = SendReport::default();
    let mut addrs: [MaybeUninit<(libc::sockaddr_storage, libc::socklen_t)>; SEND_BATCH] =
        [const { MaybeUninit::uninit() }; SEND_BATCH];
    // All scratch is left uninitialised (a flush happens on every wake-up and most send one
    // or two datagrams): only the entries a batch uses are written and read.
    let mut ctrl: [MaybeUninit<[u64; 4]>; SEND_BATCH] =
        [const { MaybeUninit::uninit() }; SEND_BATCH];
    let mut iovs: [MaybeUninit<libc::iovec>; GSO_MAX_IOVS] =
        [const { MaybeUninit::uninit() }; GSO_MAX_IOVS];
    let mut all_hdrs: [MaybeUninit<libc::mmsghdr>; SEND_BATCH] =
        [const { MaybeUninit::uninit() }; SEND_BATCH];
    // Each header's run: (first iovec, datagrams, destination).
    let mut runs: [MaybeUninit<(usize, usize, SocketAddr)>; SEND_BATCH] =
        [const { MaybeUninit::uninit() }; SEND_BATCH];
    while iter.peek().is_some() {
        let mut nh = 0;
        let mut niov = 0;
        while nh < SEND_BATCH && niov < GSO_MAX_IOVS {
            let Some((d0, a0)) = iter.next() else {
                break;
            };
            iovs[niov].write(libc::iovec {
                iov_base: d0.as_ptr() as *mut _,
                iov_len: d0.len(),
            });
            let mut cnt = 1;
            let mut bytes = d0.len();
            if gso.enabled && !d0.is_empty() && d0.len() <= GSO_MAX_SEGMENT {
                while cnt < GSO_MAX_SEGMENTS && niov + cnt < GSO_MAX_IOVS {
                    let Some(&(d, a)) = iter.peek() else {
                        break;
                    };
                    if a != a0
                        || d.is_empty()
                        || d.len() > d0.len()
                        || bytes + d.len() > GSO_MAX_BYTES
                    {
                        break;
                    }
                    iter.next();
                    iovs[niov + cnt].write(libc::iovec {
                        iov_base: d.as_ptr() as *mut _,
                        iov_len: d.len(),
                    });
                    cnt += 1;
                    bytes += d.len();
                    if d.len() < d0.len() {
                        break; // only the last segment may be shorter
                    }
                }
            }
            let (addr, addr_len) = addrs[nh].write(std_to_sockaddr(&a0));
            // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
            let mut h: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
            h.msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = *addr_len;
            h.msg_hdr.msg_iov = iovs[niov].as_mut_ptr();
            h.msg_hdr.msg_iovlen = cnt as _;
            if cnt > 1 {
                let buf = ctrl[nh].write([0; 4]);
                write_segment_cmsg(&mut h.msg_hdr, buf, d0.len() as u16);
            }
            all_hdrs[nh].write(h);
            runs[nh].write((niov, cnt, a0));
            nh += 1;
            niov += cnt;
        }
        // SAFETY: entries 0..nh were initialised in the loop above.
        let hdrs = unsafe { written(&mut all_hdrs, nh) };
        let mut off = 0;
        while off < hdrs.len() {
            // SAFETY: the headers point into `addrs`, `iovs`, `ctrl` and the caller's slices,
            // all alive for the duration of the call.
            let n = unsafe { sendmmsg_nb(fd, &mut hdrs[off..]) };
            if n > 0 {
                for r in &runs[off..off + n as usize] {
                    // SAFETY: entries 0..nh of `runs` were written with their headers.
                    report.sent += unsafe { r.assume_init_ref() }.1;
                }
                off += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // SAFETY: as above; `off` < nh.
            let (first, cnt, dst) = unsafe { runs[off].assume_init() };
            let refused = matches!(
                err.raw_os_error(),
                Some(libc::EINVAL | libc::EIO | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
            );
            if cnt > 1 && refused {
                // The kernel does not do GSO here: this run one by one, and no more runs.
                gso.enabled = false;
                let run = (first..first + cnt).map(|k| {
                    // SAFETY: iovecs first..first+cnt were written for this run and point at
                    // the caller's slices, which outlive this call.
                    let v = unsafe { iovs[k].assume_init_ref() };
                    // SAFETY: base and length come from one of the caller's live slices.
                    let d =
                        unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) };
                    (d, dst)
                });
                let r = send_batch(fd, run);
                report.sent += r.sent;
                report.failed += r.failed;
            } else {
                report.failed += cnt;
            }
            off += 1;
        }
    }
    report
}

/// Points `m`'s control data at `buf`, holding one `UDP_SEGMENT` message with `size`.
fn write_segment_cmsg(m: &mut libc::msghdr, buf: &mut [u64; 4], size: u16) {
    m.msg_control = buf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    m.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as _;
    // SAFETY: `buf` (32 bytes, 8-aligned) holds CMSG_SPACE(2) = 24 bytes; CMSG_FIRSTHDR
    // returns its start, and the data written stays inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(m);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sock::{bind_udp, local_addr};
    use std::os::fd::AsFd;

    #[test]
    fn batch_round_trip() {
        let a = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let baddr = local_addr(&b).unwrap();
        let aaddr = local_addr(&a).unwrap();
        let payloads: Vec<Vec<u8>> = (0..100).map(|i| format!("msg {i}").into_bytes()).collect();
        let report = send_batch(a.as_fd(), payloads.iter().map(|p| (p.as_slice(), baddr)));
        assert_eq!(
            report,
            SendReport {
                sent: 100,
                failed: 0
            }
        );
        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 100 && std::time::Instant::now() < deadline {
            let n = batch.recv(b.as_fd()).unwrap();
            for i in 0..n {
                let (data, src) = batch.get(i).unwrap();
                assert_eq!(src, aaddr);
                got.push(data.to_vec());
            }
        }
        assert_eq!(got, payloads);
        assert_eq!(
            batch.recv(b.as_fd()).unwrap(),
            0,
            "nothing left: would block"
        );
    }

    /// Receives until `want` datagrams arrived or 5 s passed; also returns how many
    /// `recvmmsg` entries carried them.
    fn recv_all(batch: &mut RecvBatch, fd: BorrowedFd<'_>, want: usize) -> (Vec<Vec<u8>>, usize) {
        let mut got = Vec::new();
        let mut entries = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < want && std::time::Instant::now() < deadline {
            let n = batch.recv(fd).unwrap();
            entries += batch.count;
            for i in 0..n {
                got.push(batch.get(i).unwrap().0.to_vec());
            }
        }
        (got, entries)
    }

    #[test]
    fn gso_runs_arrive_as_the_datagrams_sent_with_and_without_gro() {
        let a = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let plain = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let gro = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let (pa, ga) = (local_addr(&plain).unwrap(), local_addr(&gro).unwrap());
        // Runs of equal sizes, a shorter last one, a size change, two destinations and a
        // datagram too large for a GSO segment, in an order the runs must keep.
        let mut msgs: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        for i in 0..150 {
            msgs.push((
                format!("INVITE {i:04} {}", "x".repeat(300)).into_bytes(),
                ga,
            ));
        }
        msgs.push((b"short".to_vec(), ga));
        for i in 0..10 {
            msgs.push((format!("to-plain {i:02}").into_bytes(), pa));
        }
        msgs.push((vec![b'L'; GSO_MAX_SEGMENT + 1], ga));
        msgs.push((vec![b'L'; GSO_MAX_SEGMENT + 1], ga));
        for i in 0..70 {
            msgs.push((format!("ACK {i:04}").into_bytes(), ga));
        }
        let refs: Vec<(&[u8], SocketAddr)> = msgs.iter().map(|(d, a)| (d.as_slice(), *a)).collect();
        let mut rg = RecvBatch::new();
        let gro_on = rg.enable_gro(gro.as_fd()).is_ok();
        let mut gso = Gso::default();
        let report = send_batch_gso(a.as_fd(), refs.iter().copied(), &mut gso);
        assert_eq!(
            report,
            SendReport {
                sent: refs.len(),
                failed: 0
            }
        );
        let want_g: Vec<Vec<u8>> = msgs
            .iter()
            .filter(|m| m.1 == ga)
            .map(|m| m.0.clone())
            .collect();
        let want_p: Vec<Vec<u8>> = msgs
            .iter()
            .filter(|m| m.1 == pa)
            .map(|m| m.0.clone())
            .collect();
        let (got_g, entries) = recv_all(&mut rg, gro.as_fd(), want_g.len());
        assert_eq!(
            got_g, want_g,
            "the GRO receiver gets every datagram, in order"
        );
        let (got_p, plain_entries) = recv_all(&mut RecvBatch::new(), plain.as_fd(), want_p.len());
        assert_eq!(
            got_p, want_p,
            "a receiver without GRO gets the datagrams one by one"
        );
        assert_eq!(plain_entries, want_p.len());
        if gso.enabled && gro_on {
            // 150 INVITEs + "short" = 3 runs (64, 64, 23), 2 large singles, 70 ACKs = 2 runs.
            assert_eq!(entries, 7, "each GSO run crossed the kernel as one entry");
        }
    }

    /// The kernel refuses a GSO send on a socket that sends without UDP checksums
    /// (`SO_NO_CHECK`, Linux's `udp_send_skb`: `EINVAL`), while it still sends plain
    /// datagrams there: the refused run must go out datagram by datagram, in order, with
    /// GSO switched off for the rest of the batch and for later calls.
    #[test]
    fn a_refused_gso_run_is_sent_one_by_one_and_gso_stays_off() {
        let a = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let ba = local_addr(&b).unwrap();
        crate::sock::set_int_option(a.as_fd(), libc::SOL_SOCKET, libc::SO_NO_CHECK, 1).unwrap();
        // Two runs: five INVITEs with "single" as their shorter last segment, then four
        // ACKs. The refusal comes on the first; the second is already in the same
        // `sendmmsg` batch with its segmentation request and is refused too.
        let mut msgs: Vec<Vec<u8>> = Vec::new();
        for i in 0..5 {
            msgs.push(format!("INVITE {i:04} {}", "x".repeat(200)).into_bytes());
        }
        msgs.push(b"single".to_vec());
        for i in 0..4 {
            msgs.push(format!("ACK {i:04}").into_bytes());
        }
        let mut gso = Gso::default();
        let report = send_batch_gso(a.as_fd(), msgs.iter().map(|m| (m.as_slice(), ba)), &mut gso);
        assert_eq!(
            report,
            SendReport {
                sent: msgs.len(),
                failed: 0
            }
        );
        assert!(!gso.enabled, "the refusal switched GSO off");
        let (got, entries) = recv_all(&mut RecvBatch::new(), b.as_fd(), msgs.len());
        assert_eq!(got, msgs, "every datagram arrived once, in order");
        assert_eq!(entries, msgs.len());
        // Later calls send plainly from the start.
        let again = [b"one".as_slice(), b"two".as_slice()];
        let report = send_batch_gso(a.as_fd(), again.iter().map(|m| (*m, ba)), &mut gso);
        assert_eq!(report, SendReport { sent: 2, failed: 0 });
        let (got, _) = recv_all(&mut RecvBatch::new(), b.as_fd(), 2);
        assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn sockaddr_conversion_round_trips() {
        for s in ["127.0.0.1:5060", "[::1]:5061", "[2001:db8::1]:1"] {
            let a: SocketAddr = s.parse().unwrap();
            let (ss, _) = std_to_sockaddr(&a);
            assert_eq!(sockaddr_to_std(&ss), Some(a));
        }
    }
}
