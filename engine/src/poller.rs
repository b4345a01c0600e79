//! A level-triggered `epoll(7)` set and an `eventfd(2)` waker: the readiness core of a worker.
//!
//! Level-triggered on purpose: a worker drains a UDP socket with `recvmmsg` and stops after a
//! short batch without paying for the extra `EAGAIN` call that edge-triggered polling needs;
//! whatever arrived meanwhile makes the next `epoll_wait` return at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Readable interest.
pub(crate) const READ: u32 = libc::EPOLLIN as u32;
/// Writable interest.
pub(crate) const WRITE: u32 = libc::EPOLLOUT as u32;

/// One ready file descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    /// The token it was registered with.
    pub(crate) token: u64,
    /// Readable (or hung up / in error: reading tells which).
    pub(crate) readable: bool,
    /// Writable.
    pub(crate) writable: bool,
}

/// An epoll instance with a reusable event buffer.
pub(crate) struct Poller {
    ep: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Poller {
    /// Creates an epoll set that reports up to `capacity` events per wait.
    pub(crate) fn new(capacity: usize) -> io::Result<Self> {
        // SAFETY: plain syscall; the returned fd is owned from here on.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            ep: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    fn ctl(&self, op: i32, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest,
            u64: token,
        };
        // SAFETY: `ev` is valid for the call; the kernel copies it.
        if unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Adds `fd` with `interest` ([`READ`], [`WRITE`] or both) under `token`.
    pub(crate) fn add(&self, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest, token)
    }

    /// Changes the interest of a registered `fd`.
    pub(crate) fn modify(&self, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, interest, token)
    }

    /// Removes `fd` from the set.
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `timeout` and returns what is ready.
    pub(crate) fn wait(&mut self, timeout: Duration, out: &mut Vec<Ready>) -> io::Result<()> {
        out.clear();
        // Rounded up: a deadline 0.4 ms away must not turn into a busy poll.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: the buffer holds `len` events and outlives the call.
        let n = unsafe {
            libc::epoll_wait(
                self.ep.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        for ev in &self.events[..n as usize] {
            let bits = ev.events;
            let err = bits & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            out.push(Ready {
                token: ev.u64,
                readable: bits & READ != 0 || err,
                writable: bits & WRITE != 0,
            });
        }
        Ok(())
    }
}

/// Wakes a worker blocked in [`Poller::wait`] from another thread.
pub(crate) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A non-blocking eventfd.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the returned fd is owned from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The descriptor to register for [`READ`].
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Makes the poller holding this waker return.
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Clears the wake-up (after the poller reported it).
    pub(crate) fn reset(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our eventfd.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waker_wakes_and_resets() {
        let mut p = Poller::new(8).unwrap();
        let w = Waker::new().unwrap();
        p.add(w.raw_fd(), READ, 7).unwrap();
        let mut ready = Vec::new();
        p.wait(Duration::from_millis(0), &mut ready).unwrap();
        assert!(ready.is_empty());
        w.wake();
        p.wait(Duration::from_millis(1000), &mut ready).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].token, 7);
        w.reset();
        p.wait(Duration::from_millis(0), &mut ready).unwrap();
        assert!(ready.is_empty(), "level-triggered and reset");
    }
}
