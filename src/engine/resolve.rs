//! Host names looked up within the time left.
//!
//! std's lookup (`ToSocketAddrs`, the C library's `getaddrinfo`) has no timeout and cannot be
//! interrupted: a slow or silent DNS server holds the calling thread for as long as the
//! resolver's own retries last (30 s and more with a default `resolv.conf`), past any budget or
//! deadline. The API's requests go through ureq, whose resolver runs a lookup that has a
//! timeout on a thread of its own; the library's other sockets (the edge probes of
//! verification, the rate store's connection to Redis) look up here, the same way: an IP
//! address is taken as it is, with no thread; a name is looked up on a short-lived thread while
//! the caller waits for at most the time left (and stops waiting on a cancel). A lookup that
//! is given up on finishes on its thread, and its answer is dropped.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often a waiting caller looks at its cancel flag.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// The addresses of `host` (a name, an IPv4 address or an IPv6 address with or without
/// brackets) at `port`, looked up by `end`. `stopped` is asked every [`STOP_CHECK`] while a
/// name is looked up; when it says so, the wait ends with [`io::ErrorKind::Interrupted`]
/// and the message "cancelled". Past `end` the error is [`io::ErrorKind::TimedOut`].
pub(crate) fn lookup(
    host: &str,
    port: u16,
    end: Instant,
    stopped: &dyn Fn() -> bool,
) -> io::Result<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = bare.to_owned();
    lookup_with(host, end, stopped, move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect)
    })
}

/// [`lookup`]'s wait, around any lookup `find` (tests give a slow one).
fn lookup_with(
    host: &str,
    end: Instant,
    stopped: &dyn Fn() -> bool,
    find: impl FnOnce() -> io::Result<Vec<SocketAddr>> + Send + 'static,
) -> io::Result<Vec<SocketAddr>> {
    if Instant::now() >= end {
        return Err(timed_out(host));
    }
    // Room for the answer: the thread never blocks on a caller that stopped waiting.
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("gcdn-lookup".into())
        .spawn(move || {
            let _ = tx.send(find());
        })?;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out(host));
        }
        if stopped() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        match rx.recv_timeout(left.min(STOP_CHECK)) {
            Ok(found) => return found,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other(format!("looking up {host} failed")))
            }
        }
    }
}

fn timed_out(host: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("looking up {host} took longer than the time left"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn never() -> bool {
        false
    }

    #[test]
    fn an_ip_address_is_taken_as_it_is() {
        let end = Instant::now() + Duration::from_secs(1);
        let v4 = lookup("127.0.0.1", 6379, end, &never).unwrap();
        assert_eq!(v4, vec!["127.0.0.1:6379".parse().unwrap()]);
        let v6 = lookup("[::1]", 443, end, &never).unwrap();
        assert_eq!(v6, vec!["[::1]:443".parse().unwrap()]);
        let bare_v6 = lookup("::1", 443, end, &never).unwrap();
        assert_eq!(bare_v6, v6);
        // Even with no time left: an address needs no lookup.
        let past = Instant::now();
        assert!(lookup("10.0.0.1", 80, past, &never).is_ok());
    }

    #[test]
    fn a_name_is_looked_up() {
        let end = Instant::now() + Duration::from_secs(10);
        let found = lookup("localhost", 8080, end, &never).unwrap();
        assert!(!found.is_empty());
        assert!(found
            .iter()
            .all(|a| a.port() == 8080 && a.ip().is_loopback()));
    }

    #[test]
    fn a_slow_lookup_ends_at_the_deadline_not_when_the_resolver_gives_up() {
        let started = Instant::now();
        let end = started + Duration::from_millis(200);
        let err = lookup_with("slow.example", end, &never, || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(vec!["192.0.2.1:443".parse().unwrap()])
        })
        .unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(
            err.to_string(),
            "looking up slow.example took longer than the time left"
        );
        assert!(took >= Duration::from_millis(200), "{took:?}");
        // Far below the lookup's 5 s, with room for a loaded machine.
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[test]
    fn a_cancel_ends_the_wait() {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            flag.store(true, Ordering::SeqCst);
        });
        let started = Instant::now();
        let end = started + Duration::from_secs(30);
        let err = lookup_with("slow.example", end, &|| stop.load(Ordering::SeqCst), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(Vec::new())
        })
        .unwrap_err();
        setter.join().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted, "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_failed_lookup_says_why_and_a_dead_one_says_it_failed() {
        let end = Instant::now() + Duration::from_secs(5);
        let err = lookup_with("bad.example", end, &never, || {
            Err(io::Error::other("no such host"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "no such host");
        let err = lookup_with("dead.example", end, &never, || panic!("resolver died")).unwrap_err();
        assert_eq!(err.to_string(), "looking up dead.example failed");
    }

    #[test]
    fn no_time_left_is_refused_before_any_lookup() {
        let ran = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&ran);
        let err = lookup_with("late.example", Instant::now(), &never, move || {
            seen.store(true, Ordering::SeqCst);
            Ok(Vec::new())
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!ran.load(Ordering::SeqCst));
    }
}
