//! Signals are harmless: a call blocked in a read of a slow server, HTTP or Redis, while a
//! signal arrives every millisecond (Go's preemption and profiler, Python's handlers and
//! timers, SIGCHLD), neither fails nor ends early, with handlers installed with and without
//! `SA_RESTART` (Linux does not restart a socket call that has a timeout in either case).
//!
//! In-process (the C ABI, and the Redis store through the Rust API): `setitimer(ITIMER_REAL)`
//! every millisecond, its SIGALRM handed on to the thread making the call (the kernel gives a
//! process's signal to any thread that does not block it: the servers of the test block it).
//! The `gcdn` command: a preloaded storm (tests/c/signal_storm.c) signals every thread of it.
//! Its own test binary: the timer's signals go to the whole process.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;

/// One storm at a time: the timer and the handler are the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// The thread the storm is for, and the signals it took.
static TARGET: AtomicI32 = AtomicI32::new(0);
static TAKEN: AtomicUsize = AtomicUsize::new(0);

fn gettid() -> i32 {
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

extern "C" fn on_alarm(_: libc::c_int) {
    let target = TARGET.load(Ordering::SeqCst);
    if target != 0 && gettid() != target {
        // Taken by another thread: on to the one in the call.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), target, libc::SIGALRM) };
    } else {
        TAKEN.fetch_add(1, Ordering::SeqCst);
    }
}

fn alarm_mask(how: libc::c_int) {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        assert_eq!(libc::pthread_sigmask(how, &set, std::ptr::null_mut()), 0);
    }
}

/// `f` with SIGALRM blocked on this thread: threads it starts (servers) inherit the mask.
fn alarm_blocked<T>(f: impl FnOnce() -> T) -> T {
    alarm_mask(libc::SIG_BLOCK);
    let r = f();
    alarm_mask(libc::SIG_UNBLOCK);
    r
}

/// A SIGALRM every millisecond for this thread while alive (`restart`: the handler has
/// `SA_RESTART`).
struct Storm {
    started: Instant,
    _one: std::sync::MutexGuard<'static, ()>,
}

impl Storm {
    fn start(restart: bool) -> Storm {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        TARGET.store(gettid(), Ordering::SeqCst);
        TAKEN.store(0, Ordering::SeqCst);
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()), 0);
            let ms = libc::timeval {
                tv_sec: 0,
                tv_usec: 1_000,
            };
            let every = libc::itimerval {
                it_interval: ms,
                it_value: ms,
            };
            assert_eq!(
                libc::setitimer(libc::ITIMER_REAL, &every, std::ptr::null_mut()),
                0
            );
        }
        Storm {
            started: Instant::now(),
            _one: one,
        }
    }

    /// Signals this thread took so far.
    fn taken(&self) -> usize {
        TAKEN.load(Ordering::SeqCst)
    }

    /// At least one signal every 5 ms of the storm so far (a loaded machine delays some).
    fn assert_stormy(&self) {
        let ms = self.started.elapsed().as_millis() as usize;
        assert!(
            self.taken() >= ms / 5,
            "{} signals in {ms} ms: the storm did not reach the call",
            self.taken()
        );
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        unsafe {
            let off: libc::itimerval = std::mem::zeroed();
            libc::setitimer(libc::ITIMER_REAL, &off, std::ptr::null_mut());
        }
        // The handler stays: a signal still on its way must not end the process.
        TARGET.store(0, Ordering::SeqCst);
    }
}

/// An HTTP/1.1 server on loopback that answers slowly: `wait` after each request, half of
/// the answer, `wait` again, the rest (POST: 201; DELETE: 404; anything else: 404), or
/// nothing at all for `stall`.
fn slow_http(wait: Duration, stall: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().take(50).flatten() {
            std::thread::spawn(move || serve_slowly(s, wait, stall));
        }
    });
    port
}

fn serve_slowly(mut s: TcpStream, wait: Duration, stall: bool) {
    s.set_nodelay(true).unwrap();
    let mut input = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let (head, body) = loop {
            if let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&input[..end]).to_ascii_lowercase();
                let body: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                break (end + 4, body);
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => input.extend_from_slice(&buf[..n]),
            }
        };
        while input.len() < head + body {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => input.extend_from_slice(&buf[..n]),
            }
        }
        let post = input.starts_with(b"POST ");
        input.drain(..head + body);
        if stall {
            std::thread::sleep(Duration::from_secs(10));
            return;
        }
        let answer = if post {
            "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".to_owned()
        } else {
            let body = r#"{"message": "Not found."}"#;
            format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let (first, rest) = answer.as_bytes().split_at(answer.len() / 2);
        std::thread::sleep(wait);
        if s.write_all(first).is_err() {
            return;
        }
        std::thread::sleep(wait);
        if s.write_all(rest).is_err() {
            return;
        }
    }
}

fn http_client(port: u16, timeout_ms: u64) -> TestClient {
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.base_url = Some(format!("http://127.0.0.1:{port}"));
    setup.timeout_ms = Some(timeout_ms);
    // No retries: a call a signal broke would show, not be retried away.
    setup.max_retries = Some(0);
    setup.build().unwrap()
}

fn http_calls_under_a_storm(restart: bool) {
    let wait = Duration::from_millis(150);
    let c = alarm_blocked(|| http_client(slow_http(wait, false), 5_000));
    let storm = Storm::start(restart);
    // Each answer takes 300 ms, in two parts: the call sits in reads through ~300 signals.
    for (i, id) in [1, 2, 3].into_iter().enumerate() {
        let t = Instant::now();
        let r = c.purge_all(id);
        assert!(r.ok(), "purge {i} (restart {restart}): {r:?}");
        assert!(t.elapsed() >= wait * 2, "{:?}", t.elapsed());
    }
    // The right answer, not just some answer.
    let r = c.delete(7, 0);
    assert_eq!(r.status, GCDN_ERR_NOT_FOUND, "restart {restart}: {r:?}");
    storm.assert_stormy();
}

#[test]
fn http_calls_complete_under_a_signal_storm_with_sa_restart() {
    http_calls_under_a_storm(true);
}

#[test]
fn http_calls_complete_under_a_signal_storm_without_sa_restart() {
    http_calls_under_a_storm(false);
}

/// A server that never answers: the call times out at its timeout, not before (a signal
/// does not end the wait) and not much after. "Not before" allows one tick of the kernel's
/// timer (10 ms at HZ=100): a socket timeout started mid-tick may fire up to a tick short,
/// which ureq's own reads (the build without `tuned-transport`) take as the end; the tuned
/// transport waits out the rest.
#[test]
fn a_timeout_under_a_signal_storm_is_neither_early_nor_late() {
    for restart in [false, true] {
        let c = alarm_blocked(|| http_client(slow_http(Duration::ZERO, true), 600));
        let storm = Storm::start(restart);
        let t = Instant::now();
        let r = c.purge_all(1);
        let took = t.elapsed();
        assert_eq!(r.status, GCDN_ERR_TIMEOUT, "restart {restart}: {r:?}");
        assert!(took >= Duration::from_millis(590), "ended early: {took:?}");
        assert!(took < Duration::from_millis(2_600), "ended late: {took:?}");
        storm.assert_stormy();
    }
}

#[cfg(feature = "rate-store")]
mod redis {
    use super::*;
    use gcdn::engine::ratestore::*;

    /// A Redis that answers every command with the slot script's "reserved, no wait" reply,
    /// slowly: `wait`, half of it, `wait`, the rest.
    fn slow_redis(wait: Duration) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in listener.incoming().take(20).flatten() {
                std::thread::spawn(move || {
                    s.set_nodelay(true).unwrap();
                    let mut buf = [0u8; 4096];
                    while matches!(s.read(&mut buf), Ok(n) if n > 0) {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis();
                        let reply = format!("*4\r\n:1\r\n:0\r\n:{now}\r\n:1\r\n");
                        let (first, rest) = reply.as_bytes().split_at(reply.len() / 2);
                        std::thread::sleep(wait);
                        if s.write_all(first).is_err() {
                            return;
                        }
                        std::thread::sleep(wait);
                        if s.write_all(rest).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn takes_under_a_storm(restart: bool) {
        // 2 × 120 ms per answer: within the I/O timeout (300 ms) and the operation's (600).
        let wait = Duration::from_millis(120);
        let port = alarm_blocked(|| slow_redis(wait));
        let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/0"), "signals-key").unwrap();
        let storm = Storm::start(restart);
        for id in 1..=3 {
            let key = PaceKey {
                resource_id: id,
                kind: PaceKind::Urls,
            };
            let window = Window {
                requests: 1,
                per: Duration::from_millis(100),
            };
            let t = Instant::now();
            let slot = store.take(key, window, Duration::ZERO);
            assert_eq!(
                slot.map_err(|e| e.message),
                Ok(Slot::At(Duration::ZERO)),
                "take {id} (restart {restart}) after {:?}",
                t.elapsed()
            );
        }
        storm.assert_stormy();
    }

    #[test]
    fn redis_takes_complete_under_a_signal_storm_with_sa_restart() {
        takes_under_a_storm(true);
    }

    #[test]
    fn redis_takes_complete_under_a_signal_storm_without_sa_restart() {
        takes_under_a_storm(false);
    }
}

// ---------------------------------------------------------------------------------------
// The `gcdn` command
// ---------------------------------------------------------------------------------------

/// target/<profile>/gcdn, beside this test's directory (`cargo build --workspace` makes it;
/// `make test-rust` builds the workspace first).
fn gcdn_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("gcdn");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        bin.display()
    );
    bin
}

/// tests/c/signal_storm.c, built as a preloadable library into a temporary directory.
fn storm_library(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/signal_storm.c");
    let lib = dir.join("libsignal_storm.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = std::process::Command::new(cc)
        .args([
            "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&lib)
        .arg(&src)
        .arg("-lpthread")
        .output()
        .expect("the C compiler runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lib
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gcdn-signals-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_command_completes_under_a_signal_storm() {
    let dir = temp_dir("cli");
    let storm = storm_library(&dir);
    let port = slow_http(Duration::from_millis(100), false);
    let base = format!("http://127.0.0.1:{port}");
    for restart in ["0", "1"] {
        // A purge (a job: worker threads), and a delete of a resource that does not exist.
        for (args, code, says) in [
            (&["purge", "--resource", "1", "/a", "/b"][..], 0, ""),
            (&["delete", "7"][..], 1, "HTTP 404"),
        ] {
            let counted = dir.join(format!("taken-{restart}-{}", args[0]));
            let out = std::process::Command::new(gcdn_binary())
                .args(args)
                .env("GCORE_API_KEY", "signals-api-key-1")
                .env("GCORE_BASE_URL", &base)
                .env_remove("GCDN_LOG")
                .env_remove("GCDN_RATE_STORE")
                .env("LD_PRELOAD", &storm)
                .env("GCDN_STORM_RESTART", restart)
                .env("GCDN_STORM_OUT", &counted)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(code),
                "gcdn {args:?} (SA_RESTART {restart}): {stderr}"
            );
            assert!(stderr.contains(says), "{stderr}");
            assert!(!stderr.contains("nterrupted"), "{stderr}");
            let taken: usize = std::fs::read_to_string(&counted)
                .expect("the storm reported")
                .trim()
                .parse()
                .unwrap();
            // At least 200 ms in reads (two half-answers of 100 ms each), a signal per ms.
            assert!(taken >= 40, "only {taken} signals reached gcdn {args:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
