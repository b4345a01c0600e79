//! Binding listen sockets with SO_REUSEPORT (socket2), one per worker and listen address.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Receive buffer asked for on UDP sockets. Bursts of SIP traffic overflow the kernel's default
/// (208 KiB) and show up as `RcvbufErrors` (bench-anchor RESULTS.md §6); the kernel caps the
/// request at `net.core.rmem_max` (and doubles it for bookkeeping).
pub const UDP_RCVBUF: usize = 4 << 20;

/// Send buffer asked for on UDP sockets.
pub const UDP_SNDBUF: usize = 4 << 20;

/// Backlog of TCP listeners.
pub const TCP_BACKLOG: i32 = 1024;

/// Sets an `int` socket option (`setsockopt(2)`) that socket2 has no setter for.
pub fn set_int_option(
    fd: std::os::fd::BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid fd and a pointer to a c_int that lives across the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn new_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Binds a non-blocking UDP socket with SO_REUSEPORT on `addr`, with large socket buffers.
///
/// Every worker binds its own socket on the same address; the kernel (or the steering program,
/// see [`crate::steer`]) chooses which socket receives each datagram. Sends from any of them
/// carry the same source address, so peers see one proxy.
pub fn bind_udp(addr: SocketAddr) -> io::Result<Socket> {
    let sock = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    // Best effort: a smaller buffer than asked for is not an error.
    let _ = sock.set_recv_buffer_size(UDP_RCVBUF);
    let _ = sock.set_send_buffer_size(UDP_SNDBUF);
    sock.bind(&SockAddr::from(addr))?;
    Ok(sock)
}

/// Binds a non-blocking TCP listener with SO_REUSEPORT on `addr`.
pub fn bind_tcp_listener(addr: SocketAddr) -> io::Result<Socket> {
    let sock = new_socket(addr, Type::STREAM, Protocol::TCP)?;
    sock.bind(&SockAddr::from(addr))?;
    sock.listen(TCP_BACKLOG)?;
    Ok(sock)
}

/// The address a socket is bound to (resolves port 0 to the port the kernel chose).
pub fn local_addr(sock: &Socket) -> io::Result<SocketAddr> {
    sock.local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
}
