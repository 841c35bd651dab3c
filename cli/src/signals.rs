//! Ctrl-C: SIGINT (and SIGTERM) fire the run's cancel token, so a wait stops at once and
//! nothing more is sent; the report of what was done is still printed.
//!
//! The signals are blocked in every thread and taken by one thread with `sigwait`, so the
//! token is fired from ordinary code, never from an async-signal handler.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use gcdn::engine::CancelToken;

/// The signal that stopped the run, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// Block SIGINT and SIGTERM in this thread (and so in every thread started after) and start
/// the thread that waits for them. Call first thing in `main`.
pub fn install(token: Arc<CancelToken>) {
    // SAFETY: plain libc calls on a sigset_t we own; pthread_sigmask only changes this
    // thread's mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let spawned = std::thread::Builder::new()
        .name("gcdn-signals".into())
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is an initialised sigset_t; `sig` is a valid out-pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                CAUGHT.store(sig, Ordering::SeqCst);
                token.cancel();
            }
        });
    if spawned.is_err() {
        // No thread: let the signals act as usual (terminate) rather than be ignored.
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// Whether a signal stopped the run.
pub fn interrupted() -> bool {
    CAUGHT.load(Ordering::SeqCst) != 0
}
