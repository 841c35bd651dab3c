//! Ctrl-C: SIGINT (and SIGTERM) fire the run's cancel token, so a wait stops at once and
//! nothing more is sent; what was done is still printed.
//!
//! The signals are blocked in every thread and taken by one thread with `sigwait`, so the
//! token is fired from ordinary code, never from an async-signal handler. While the CLI sits
//! in a read that no token can stop (standard input, before anything is sent), or at a second
//! signal, the process ends at once with 128 + the signal.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use gcdn::engine::CancelToken;

/// The signal that stopped the run, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// Inside a read the cancel token cannot stop.
static BLOCKING: AtomicBool = AtomicBool::new(false);

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
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            let again = CAUGHT.swap(sig, Ordering::SeqCst) != 0;
            if again || BLOCKING.load(Ordering::SeqCst) {
                let _ = std::io::stderr().write_all(b"gcdn: interrupted\n");
                // SAFETY: ends the process without running destructors: nothing is half
                // sent here (a blocking read, or the user insisting).
                unsafe { libc::_exit(128 + sig) };
            }
            token.cancel();
        });
    if spawned.is_err() {
        // No thread: let the signals act as usual (terminate) rather than be ignored.
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// Run `f`, a read that no cancel token stops, so that a signal during it ends the process.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    BLOCKING.store(true, Ordering::SeqCst);
    if interrupted() {
        let _ = std::io::stderr().write_all(b"gcdn: interrupted\n");
        std::process::exit(exit_code().into());
    }
    let out = f();
    BLOCKING.store(false, Ordering::SeqCst);
    out
}

/// Whether a signal stopped the run.
pub fn interrupted() -> bool {
    CAUGHT.load(Ordering::SeqCst) != 0
}

/// 128 + the signal (130 for Ctrl-C).
pub fn exit_code() -> u8 {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => crate::exit::INTERRUPTED,
        sig => u8::try_from(128 + sig).unwrap_or(crate::exit::INTERRUPTED),
    }
}
