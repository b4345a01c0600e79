//! SIGTERM/SIGINT handling: the signals are blocked in every thread and taken synchronously by
//! the main thread with `sigwait(3)`, so no handler runs in the middle of a worker's work.

use std::mem::MaybeUninit;

fn stop_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset only writes into it.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread; threads spawned afterwards
/// inherit the mask. Call before starting the workers.
pub(crate) fn block_stop_signals() {
    let set = stop_set();
    // SAFETY: pthread_sigmask reads a valid set; the old mask is not needed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for SIGTERM or SIGINT (SIGHUP is ignored: no reload yet) and returns its name.
pub(crate) fn wait_for_stop() -> &'static str {
    let set = stop_set();
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait reads a valid set and writes the signal number into `sig`.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc != 0 {
            continue;
        }
        match sig {
            libc::SIGTERM => return "SIGTERM",
            libc::SIGINT => return "SIGINT",
            _ => tracing::warn!("SIGHUP received: configuration reload is not supported; ignored"),
        }
    }
}
