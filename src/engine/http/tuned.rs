//! The transport tuning that reaches into `ureq::unversioned` (feature `tuned-transport`, on
//! by default): a caching resolver, a layer on the TCP socket that keeps its timeouts steady
//! and skips the probe of a connection in steady use ([`Quiet`]), and a wrapper that sends a
//! request head with its body ([`OneWrite`]). ureq may change `unversioned` in any minor
//! release; all of it stays in this file, and with `--no-default-features` the library builds
//! on a plain `ureq::Agent` instead.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, NextTimeout, RustlsConnector,
    TcpConnector, Transport as UreqTransport,
};
use zeroize::Zeroize;

/// What the tuned agent leaves behind for the [`super::Transport`] to use.
pub(super) struct Tuning {
    /// The resolver's cache, to forget names whose addresses could not be reached.
    dns_cache: Arc<Mutex<Vec<Resolved>>>,
}

/// An agent with the caching resolver and the connector chain of ureq's `DefaultConnector`
/// for this build (an HTTP CONNECT proxy, TCP, rustls; no SOCKS: like ureq without its
/// `socks-proxy` feature, a SOCKS proxy from the environment is not used), with [`Quiet`]
/// between TCP and TLS and [`OneWrite`] on top.
pub(super) fn agent(config: Config) -> (ureq::Agent, Tuning) {
    let resolve = Resolve::default();
    let dns_cache = Arc::clone(&resolve.cache);
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(Quiet)
            .chain(RustlsConnector::default())
            .chain(OneWrite);
    let agent = ureq::Agent::with_parts(config, connector, resolve);
    (agent, Tuning { dns_cache })
}

impl Tuning {
    /// No connection could be made: forget looked-up host names (see [`Resolve`]).
    pub(super) fn forget_names(&self) {
        Resolve::forget_names(&self.dns_cache);
    }
}

/// How long a host name's looked-up addresses are used again: libcurl's default too.
const DNS_CACHE_TTL: Duration = Duration::from_secs(60);

/// ureq looks the host up before every request, even one that then goes out on a pooled
/// connection, and its resolver runs every lookup that has a timeout on a new thread: a
/// thread spawned per call. This resolver takes an IP address as it is and reuses a host
/// name's addresses for [`DNS_CACHE_TTL`]; lookups themselves are ureq's.
#[derive(Debug, Default)]
struct Resolve {
    lookup: DefaultResolver,
    /// A few entries: the API host, a proxy. Shared with the [`Transport`], which forgets
    /// looked-up names when connecting to their addresses fails.
    cache: Arc<Mutex<Vec<Resolved>>>,
}

impl Resolve {
    /// Forget every looked-up host name (addresses given as IPs stay): the next request
    /// looks them up again, e.g. after a DNS failover left the cached addresses dead.
    fn forget_names(cache: &Mutex<Vec<Resolved>>) {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|e| e.looked_up.is_none());
    }
}

#[derive(Debug)]
struct Resolved {
    scheme: String,
    authority: String,
    family: ureq::config::IpFamily,
    /// When a host name was looked up; `None` for an IP address, which never goes stale.
    looked_up: Option<Instant>,
    addrs: ResolvedSocketAddrs,
}

impl Resolver for Resolve {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return self.lookup.resolve(uri, config, timeout);
        };
        let family = config.ip_family();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let found = cache.iter().position(|e| {
                e.scheme == scheme && e.authority == authority.as_str() && e.family == family
            });
            if let Some(i) = found {
                match cache[i].looked_up {
                    Some(at) if at.elapsed() >= DNS_CACHE_TTL => drop(cache.remove(i)),
                    _ => return Ok(cache[i].addrs.clone()),
                }
            }
        }
        let port = match (authority.port_u16(), scheme) {
            (Some(port), _) => port,
            (None, "https") => 443,
            (None, "http") => 80,
            _ => return self.lookup.resolve(uri, config, timeout),
        };
        let host = authority.host();
        let (addrs, looked_up) = match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => {
                let mut addrs = self.empty();
                for addr in family.keep_wanted(std::iter::once(SocketAddr::new(ip, port))) {
                    addrs.push(addr);
                }
                if addrs.is_empty() {
                    return Err(ureq::Error::HostNotFound);
                }
                (addrs, None)
            }
            // Looked up outside the lock: a slow DNS server holds up no other call.
            Err(_) => (
                self.lookup.resolve(uri, config, timeout)?,
                Some(Instant::now()),
            ),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= 4 {
            cache.remove(0);
        }
        cache.push(Resolved {
            scheme: scheme.to_owned(),
            authority: authority.as_str().to_owned(),
            family,
            looked_up,
            addrs: addrs.clone(),
        });
        Ok(addrs)
    }
}

/// ureq sends a request's head and its body with two writes: two TCP segments (two TLS
/// records) per POST, and a server woken up twice. [`OneWrite`] wraps every connection, TLS
/// included, so that a request's head is held until what follows it, the body or the wait
/// for the response, and goes out in the same write.
#[derive(Debug)]
struct OneWrite;

impl<In: UreqTransport> Connector<In> for OneWrite {
    type Out = HeadWithBody;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<HeadWithBody>, ureq::Error> {
        Ok(chained.map(|inner| HeadWithBody {
            inner: Box::new(inner),
            held: Vec::new(),
            next_is_head: true,
            probed: false,
            requests: 0,
            last_read: None,
        }))
    }
}

#[derive(Debug)]
struct HeadWithBody {
    inner: Box<dyn UreqTransport>,
    /// Output not sent yet: a request head.
    held: Vec<u8>,
    /// Nothing was sent since the last wait for input: the next output starts a request.
    next_is_head: bool,
    /// `is_open` was asked since the last I/O.
    probed: bool,
    /// Requests sent on this connection.
    requests: u32,
    /// When the last wait for input that got some began.
    last_read: Option<Instant>,
}

impl HeadWithBody {
    /// Notes when a wait for input that got some began.
    fn read(
        &mut self,
        started: Instant,
        got: std::result::Result<bool, ureq::Error>,
    ) -> std::result::Result<bool, ureq::Error> {
        if let Ok(true) = got {
            self.last_read = Some(started);
        }
        got
    }

    fn flush(&mut self, timeout: NextTimeout) -> std::result::Result<(), ureq::Error> {
        let mut sent = 0;
        while sent < self.held.len() {
            let output = self.inner.buffers().output();
            let n = output.len().min(self.held.len() - sent);
            output[..n].copy_from_slice(&self.held[sent..sent + n]);
            self.inner.transmit_output(n, timeout)?;
            sent += n;
        }
        // It holds the Authorization header: wipe it, not just forget it.
        self.held.zeroize();
        Ok(())
    }
}

impl UreqTransport for HeadWithBody {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.probed = false;
        if self.next_is_head {
            self.next_is_head = false;
            self.requests = self.requests.saturating_add(1);
            let head = &self.inner.buffers().output()[..amount];
            self.held.extend_from_slice(head);
            return Ok(());
        }
        let held = self.held.len();
        let output = self.inner.buffers().output();
        if held == 0 {
            self.inner.transmit_output(amount, timeout)
        } else if held + amount <= output.len() {
            output.copy_within(..amount, held);
            output[..held].copy_from_slice(&self.held);
            self.held.zeroize();
            self.inner.transmit_output(held + amount, timeout)
        } else {
            let body = output[..amount].to_vec();
            self.flush(timeout)?;
            self.inner.buffers().output()[..amount].copy_from_slice(&body);
            self.inner.transmit_output(amount, timeout)
        }
    }

    fn maybe_await_input(
        &mut self,
        timeout: NextTimeout,
    ) -> std::result::Result<bool, ureq::Error> {
        self.probed = false;
        self.flush(timeout)?;
        self.next_is_head = true;
        let started = Instant::now();
        let got = self.inner.maybe_await_input(timeout);
        self.read(started, got)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.probed = false;
        self.flush(timeout)?;
        self.next_is_head = true;
        let started = Instant::now();
        let got = self.inner.await_input(timeout);
        self.read(started, got)
    }

    fn is_open(&mut self) -> bool {
        // Output still held means a request was cut short: never reuse such a connection.
        if !self.held.is_empty() {
            return false;
        }
        // ureq probes a connection (non-blocking read: three syscalls) as it goes back to
        // the pool, right after reading the response, and again as it takes it out for the
        // next request. The second probe finds whatever the first would have (bytes past
        // the response, a close), so the first, the one right after I/O, is skipped.
        if !std::mem::replace(&mut self.probed, true) {
            return true;
        }
        // In steady use, the second is skipped too.
        if self.requests >= 2 && self.last_read.is_some_and(|at| at.elapsed() < STEADY_USE) {
            return true;
        }
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// A connection is "in steady use" when the server has already kept it open past one answer
/// and it was read from this recently: ureq's probe before reusing it is skipped ([`OneWrite`]
/// sees the requests). ureq probes a pooled connection before reuse (switch to non-blocking,
/// one-byte read, switch back: three system calls). In steady use, a server that closes it
/// anyway (a keep-alive timeout under a second) makes the request on it fail as a closed
/// connection before any answer: a transient network error, which the client retries on a new
/// connection. A connection idle for longer, or on its first reuse, is probed as before.
const STEADY_USE: Duration = Duration::from_secs(1);

/// The most a socket timeout handed down may be shorter than the time left (see [`steady`]).
const MAX_SLACK: Duration = Duration::from_millis(10);

/// Sits right on the TCP socket, beneath TLS. ureq's TCP transport sets the socket's send or
/// receive timeout (`setsockopt`) whenever the timeout it is handed differs from the last
/// one, and the time left of the per-attempt budget differs by microseconds at every write
/// and read: two calls per request. [`steady`] hands down the last value again while it is
/// no longer than the time left and at most `2 × min(budget/64, 10 ms)` shorter. A read whose
/// socket timeout fires before the budget is spent is resumed for exactly the rest, so reads
/// end neither early nor late. A write (which cannot be resumed: part of it may have gone
/// out) gives up at most that much early, and only when the server takes nothing for the
/// whole budget.
#[derive(Debug)]
struct Quiet;

impl<In: UreqTransport> Connector<In> for Quiet {
    type Out = QuietTransport<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<QuietTransport<In>>, ureq::Error> {
        Ok(chained.map(|inner| QuietTransport {
            inner,
            read_timeout: None,
            write_timeout: None,
        }))
    }
}

#[derive(Debug)]
struct QuietTransport<T> {
    inner: T,
    /// The timeouts last handed to `inner` for a read and for a write.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// `timeout` as handed to the transport beneath: the value `last` handed before when it is
/// no longer than the time left and at most two slacks shorter, else the time left less one
/// slack (so that the next requests' budgets, a few microseconds apart, find it again).
fn steady(last: &mut Option<Duration>, timeout: NextTimeout) -> NextTimeout {
    if timeout.after.is_not_happening() || timeout.after.is_zero() {
        *last = None;
        return timeout;
    }
    let left = *timeout.after;
    let slack = (left / 64).min(MAX_SLACK);
    let given = match *last {
        Some(l) if l <= left && left - l <= 2 * slack => l,
        _ => left - slack,
    };
    *last = Some(given);
    NextTimeout {
        after: UreqDuration::Exact(given),
        ..timeout
    }
}

impl<T: UreqTransport> UreqTransport for QuietTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        let timeout = steady(&mut self.write_timeout, timeout);
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        let started = Instant::now();
        let given = steady(&mut self.read_timeout, timeout);
        match self.inner.await_input(given) {
            // The socket's timeout fired before the budget ran out: wait out the rest.
            Err(ureq::Error::Timeout(_)) if given.after < timeout.after => {
                let rest = timeout.after.saturating_sub(started.elapsed());
                if rest.is_zero() {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                self.read_timeout = Some(rest);
                self.inner.await_input(NextTimeout {
                    after: UreqDuration::Exact(rest),
                    ..timeout
                })
            }
            other => other,
        }
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &Resolve, uri: &str) -> Vec<SocketAddr> {
        let uri: Uri = uri.parse().unwrap();
        r.resolve(&uri, &Config::default(), NextTimeout::default())
            .unwrap()
            .to_vec()
    }

    /// A connection that records what each write sent.
    #[derive(Debug)]
    struct Wire {
        buffers: ureq::unversioned::transport::LazyBuffers,
        writes: Writes,
        probes: Probes,
    }

    impl UreqTransport for Wire {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(
            &mut self,
            amount: usize,
            _: NextTimeout,
        ) -> std::result::Result<(), ureq::Error> {
            let sent = self.buffers.output()[..amount].to_vec();
            self.writes.lock().unwrap().push(sent);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> std::result::Result<bool, ureq::Error> {
            Ok(true)
        }
        fn is_open(&mut self) -> bool {
            self.probes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            true
        }
    }

    type Shared<T> = std::sync::Arc<T>;
    type Writes = Shared<Mutex<Vec<Vec<u8>>>>;
    type Probes = Shared<std::sync::atomic::AtomicUsize>;

    fn wire() -> (HeadWithBody, Writes, Probes) {
        let wire = Wire {
            buffers: ureq::unversioned::transport::LazyBuffers::new(64, 64),
            writes: Shared::default(),
            probes: Shared::default(),
        };
        let (writes, probes) = (wire.writes.clone(), wire.probes.clone());
        let t = HeadWithBody {
            inner: Box::new(wire),
            held: Vec::new(),
            next_is_head: true,
            probed: false,
            requests: 0,
            last_read: None,
        };
        (t, writes, probes)
    }

    #[test]
    fn a_connection_is_probed_before_reuse_until_in_steady_use() {
        let (mut t, _, probes) = wire();
        let probes = || probes.load(std::sync::atomic::Ordering::Relaxed);
        send(&mut t, b"DELETE /1 HTTP/1.1\r\n\r\n");
        t.await_input(NextTimeout::default()).unwrap();
        // Back to the pool right after the response: not probed; out of it: probed (the
        // server has not yet kept it open past an answer).
        assert!(t.is_open());
        assert_eq!(probes(), 0);
        assert!(t.is_open());
        assert_eq!(probes(), 1);
        send(&mut t, b"DELETE /2 HTTP/1.1\r\n\r\n");
        t.maybe_await_input(NextTimeout::default()).unwrap();
        // In steady use: neither probe.
        assert!(t.is_open());
        assert!(t.is_open());
        assert_eq!(probes(), 1);
        // Idle for longer than STEADY_USE: probed on the way out of the pool again.
        t.last_read = Some(Instant::now() - STEADY_USE);
        assert!(t.is_open());
        assert_eq!(probes(), 2);
        // A wait for input that got none (the peer closed) is not use.
        t.inner = Box::new(Closed(ureq::unversioned::transport::LazyBuffers::new(
            64, 64,
        )));
        send(&mut t, b"DELETE /3 HTTP/1.1\r\n\r\n");
        t.await_input(NextTimeout::default()).unwrap();
        t.is_open();
        assert!(!t.is_open(), "probed: closed");
    }

    /// A connection whose peer has closed: reads get nothing, probes say closed.
    #[derive(Debug)]
    struct Closed(ureq::unversioned::transport::LazyBuffers);

    impl UreqTransport for Closed {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.0
        }
        fn transmit_output(
            &mut self,
            _: usize,
            _: NextTimeout,
        ) -> std::result::Result<(), ureq::Error> {
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> std::result::Result<bool, ureq::Error> {
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            false
        }
    }

    fn send(t: &mut HeadWithBody, bytes: &[u8]) {
        t.buffers().output()[..bytes.len()].copy_from_slice(bytes);
        t.transmit_output(bytes.len(), NextTimeout::default())
            .unwrap();
    }

    #[test]
    fn a_request_head_goes_out_with_its_body() {
        let (mut t, writes, _) = wire();
        let sent = |w: &[&[u8]]| w.iter().map(|b| b.to_vec()).collect::<Vec<_>>();
        // POST: head and body in one write; a second body part goes out by itself.
        send(&mut t, b"POST / HTTP/1.1\r\n\r\n");
        assert!(writes.lock().unwrap().is_empty());
        assert!(!t.is_open(), "a connection holding output is never reused");
        send(&mut t, b"{\"urls\":[]}");
        send(&mut t, b"more");
        assert_eq!(
            *writes.lock().unwrap(),
            sent(&[b"POST / HTTP/1.1\r\n\r\n{\"urls\":[]}", b"more"])
        );
        // DELETE: the head goes out when the response is awaited.
        t.await_input(NextTimeout::default()).unwrap();
        send(&mut t, b"DELETE /1 HTTP/1.1\r\n\r\n");
        assert_eq!(writes.lock().unwrap().len(), 2);
        t.maybe_await_input(NextTimeout::default()).unwrap();
        assert_eq!(writes.lock().unwrap()[2], b"DELETE /1 HTTP/1.1\r\n\r\n");
        assert!(t.is_open());
        // A body too big to share the output buffer with the head: two writes, in order.
        let head = [b'h'; 40];
        let body = [b'b'; 60];
        send(&mut t, &head);
        send(&mut t, &body);
        assert_eq!(writes.lock().unwrap()[3..], sent(&[&head, &body]));
    }

    #[test]
    fn ip_addresses_need_no_lookup() {
        let r = Resolve::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8080/cdn"),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(resolve(&r, "http://[::1]/"), ["[::1]:80".parse().unwrap()]);
        assert_eq!(
            resolve(&r, "https://10.0.0.1"),
            ["10.0.0.1:443".parse().unwrap()]
        );
        assert_eq!(
            resolve(&r, "http://10.0.0.1"),
            ["10.0.0.1:80".parse().unwrap()]
        );
        // Kept for the next request, never stale.
        assert_eq!(r.cache.lock().unwrap().len(), 4);
        assert!(r
            .cache
            .lock()
            .unwrap()
            .iter()
            .all(|e| e.looked_up.is_none()));
        assert_eq!(
            resolve(&r, "http://10.0.0.1"),
            ["10.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(r.cache.lock().unwrap().len(), 4);
    }

    #[test]
    fn host_names_are_looked_up_once_then_cached() {
        let r = Resolve::default();
        let first = resolve(&r, "http://localhost:8080/a");
        assert!(!first.is_empty());
        assert!(first
            .iter()
            .all(|a| a.port() == 8080 && a.ip().is_loopback()));
        assert_eq!(r.cache.lock().unwrap().len(), 1);
        assert_eq!(resolve(&r, "http://localhost:8080/b"), first);
        assert_eq!(r.cache.lock().unwrap().len(), 1);
        resolve(&r, "http://localhost:8081/");
        assert_eq!(r.cache.lock().unwrap().len(), 2);
    }

    fn budget(d: Duration) -> NextTimeout {
        NextTimeout {
            after: UreqDuration::Exact(d),
            ..NextTimeout::default()
        }
    }

    fn given(t: NextTimeout) -> Duration {
        *t.after
    }

    #[test]
    fn socket_timeouts_stay_put_while_the_budget_barely_moves() {
        let mut last = None;
        let s = Duration::from_secs(30);
        let us = Duration::from_micros;
        let first = given(steady(&mut last, budget(s - us(40))));
        assert_eq!(first, s - us(40) - MAX_SLACK);
        // The next requests' budgets, microseconds apart either way: the same value again.
        for left in [s - us(35), s - us(90), s, s - MAX_SLACK + us(1)] {
            assert_eq!(given(steady(&mut last, budget(left))), first, "{left:?}");
        }
        // Never longer than the time left: a shorter budget gets a new value.
        let short = first - us(1);
        let g = given(steady(&mut last, budget(short)));
        assert!(g <= short && short - g <= MAX_SLACK, "{g:?}");
        // Nor far shorter: a much longer budget gets a new value too.
        let g = given(steady(&mut last, budget(Duration::from_secs(60))));
        assert_eq!(g, Duration::from_secs(60) - MAX_SLACK);
        // Small budgets: the slack is a 64th of them.
        let g = given(steady(&mut last, budget(Duration::from_millis(64))));
        assert_eq!(g, Duration::from_millis(63));
        // No timeout, or none left: handed down as it is.
        let none = steady(&mut last, NextTimeout::default());
        assert!(none.after.is_not_happening());
        assert_eq!(last, None);
        assert!(steady(&mut last, budget(Duration::ZERO)).after.is_zero());
    }

    /// A socket beneath [`QuietTransport`]: records the timeouts it is handed, times out
    /// reads as scripted, counts probes.
    #[derive(Debug, Default)]
    struct Socket {
        buffers: Option<ureq::unversioned::transport::LazyBuffers>,
        reads: Vec<Duration>,
        writes: Vec<Duration>,
        time_out_reads: usize,
        probes: usize,
    }

    impl UreqTransport for Socket {
        fn buffers(&mut self) -> &mut dyn Buffers {
            self.buffers
                .get_or_insert_with(|| ureq::unversioned::transport::LazyBuffers::new(64, 64))
        }
        fn transmit_output(
            &mut self,
            _: usize,
            timeout: NextTimeout,
        ) -> std::result::Result<(), ureq::Error> {
            self.writes.push(*timeout.after);
            Ok(())
        }
        fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
            self.reads.push(*timeout.after);
            if self.time_out_reads > 0 {
                self.time_out_reads -= 1;
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            Ok(true)
        }
        fn is_open(&mut self) -> bool {
            self.probes += 1;
            true
        }
    }

    fn quiet() -> QuietTransport<Socket> {
        QuietTransport {
            inner: Socket::default(),
            read_timeout: None,
            write_timeout: None,
        }
    }

    #[test]
    fn a_read_woken_early_by_the_socket_waits_out_exactly_the_rest() {
        let mut t = quiet();
        let s = Duration::from_secs(5);
        t.await_input(budget(s)).unwrap();
        // The next read's budget is a little longer than the value handed down: the socket
        // times out first, and the read goes on for the rest of the budget, no more.
        t.inner.time_out_reads = 1;
        assert!(t.await_input(budget(s + MAX_SLACK)).unwrap());
        let r = &t.inner.reads;
        assert_eq!(r.len(), 3);
        assert_eq!(r[1], r[0], "first handed the steady value");
        assert!(r[2] <= s + MAX_SLACK && r[2] > r[1], "then the rest: {r:?}");
        // Timed out for real: the budget's own reason, once the budget is spent.
        t.inner.time_out_reads = 2;
        let err = t.await_input(budget(s + MAX_SLACK)).unwrap_err();
        assert!(matches!(err, ureq::Error::Timeout(_)), "{err:?}");
        // Writes: steady too, never longer than the budget.
        t.transmit_output(1, budget(s)).unwrap();
        t.transmit_output(1, budget(s - Duration::from_micros(3)))
            .unwrap();
        let w = &t.inner.writes;
        assert!(
            w[0] == w[1] && w[0] <= s - Duration::from_micros(3),
            "{w:?}"
        );
    }
}
