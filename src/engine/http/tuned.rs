//! The transport tuning that reaches into `ureq::unversioned` (feature `tuned-transport`, on
//! by default): a caching resolver, the TCP connection itself ([`Tcp`]: timeouts set only
//! when they change, reads and writes resumed after a signal, a one-call check before each
//! reuse), and a wrapper that sends a request head with its body ([`OneWrite`]). ureq may change `unversioned` in any minor
//! release; all of it stays in this file, and with `--no-default-features` the library builds
//! on a plain `ureq::Agent` instead.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    RustlsConnector, ShutdownHandle, Transport as UreqTransport,
};
use zeroize::Zeroize;

/// What the tuned agent leaves behind for the [`super::Transport`] to use.
pub(super) struct Tuning {
    /// The resolver's cache, to forget names whose addresses could not be reached.
    dns_cache: Arc<Mutex<Vec<Resolved>>>,
}

/// An agent with the caching resolver and the connector chain of ureq's `DefaultConnector`
/// for this build (an HTTP CONNECT proxy, TCP, rustls; no SOCKS: like ureq without its
/// `socks-proxy` feature, a SOCKS proxy from the environment is not used), with [`Tcp`] in
/// place of ureq's TCP and [`OneWrite`] on top.
pub(super) fn agent(config: Config) -> (ureq::Agent, Tuning) {
    let resolve = Resolve::default();
    let dns_cache = Arc::clone(&resolve.cache);
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(Tcp)
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
}

impl HeadWithBody {
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
        if self.next_is_head {
            self.next_is_head = false;
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
        self.flush(timeout)?;
        self.next_is_head = true;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.flush(timeout)?;
        self.next_is_head = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        // Output still held means a request was cut short: never reuse such a connection.
        self.held.is_empty() && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// The most a socket timeout handed down may be shorter than the time left (see [`steady`]).
const MAX_SLACK: Duration = Duration::from_millis(10);

/// The TCP connection, made and driven here rather than by ureq's `TcpConnector`, for three
/// reasons:
/// - the check before reuse ([`TcpSocket::is_open`]) is one non-blocking peek, one system
///   call, where ureq's probe takes three (switch to non-blocking, read, switch back);
/// - a read or a write interrupted by a signal (EINTR: Linux does not restart a socket call
///   that has a timeout, even under `SA_RESTART`) is resumed for the time left, writes
///   included (std's `write_all` would restart one with its whole timeout again);
/// - the socket's timeouts are set (`setsockopt`) only when they change: the time left of a
///   request's budget differs by microseconds at every read and write, and ureq would set
///   it each time, two calls per request ([`steady`]).
///
/// Connecting goes through the resolved addresses in turn as ureq's does, each with a share
/// of the budget, moving on after a refusal or an unreachable address.
#[derive(Debug)]
struct Tcp;

impl<In: UreqTransport> Connector<In> for Tcp {
    type Out = Either<In, TcpSocket>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        // A connection made before (a CONNECT proxy's tunnel) is used as it is.
        if let Some(chained) = chained {
            return Ok(Some(Either::A(chained)));
        }
        let config = details.config;
        let stream = Arc::new(connect_tcp(&details.addrs, details.timeout)?);
        if config.no_delay() {
            stream.set_nodelay(true)?;
        }
        // Agent::shutdown() shuts it down through this handle.
        (details.register_shutdown)(Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>)?;
        Ok(Some(Either::B(TcpSocket {
            stream,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            read_timeout: None,
            write_timeout: None,
            checked: false,
        })))
    }
}

/// Connects to the first of `addrs` that accepts within `timeout`. With several addresses,
/// each but the last gets half of the time left (at least 10 ms); a refusal or an
/// unreachable address moves on to the next at once.
fn connect_tcp(
    addrs: &[SocketAddr],
    timeout: NextTimeout,
) -> std::result::Result<TcpStream, ureq::Error> {
    use std::io::ErrorKind;
    let started = Instant::now();
    let budget = timeout.not_zero().map(|t| *t);
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = match budget {
            None => TcpStream::connect(addr),
            Some(budget) => {
                let left = budget.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                let share = if i + 1 == addrs.len() {
                    left
                } else {
                    (left / 2).max(Duration::from_millis(10)).min(left)
                };
                // std retries the wait for the connection (poll) when a signal interrupts
                // it, for the time left.
                TcpStream::connect_timeout(addr, share)
            }
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                last = Some(ureq::Error::Timeout(ureq::Timeout::Connect));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::HostUnreachable
                        | ErrorKind::NetworkUnreachable
                        | ErrorKind::NetworkDown
                        | ErrorKind::AddrNotAvailable
                ) =>
            {
                last = Some(ureq::Error::Io(e));
            }
            Err(e) => return Err(ureq::Error::Io(e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        ureq::Error::Io(std::io::Error::new(
            ErrorKind::ConnectionRefused,
            "Connection refused",
        ))
    }))
}

/// A TCP connection (see [`Tcp`]).
#[derive(Debug)]
struct TcpSocket {
    /// Shared (weakly) with the agent, to shut it down. All I/O goes through `&TcpStream`.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The timeouts the socket has for reads and for writes, as last set.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// `is_open` was asked since the last read or write.
    checked: bool,
}

/// The timeout to give the socket for a wait of at most `left`: the value it has (`last`)
/// when that is no longer than the time left and at most two slacks shorter, else the time
/// left less one slack (so that the next requests' budgets, a few microseconds apart, find
/// it again). The slack is `min(left/64, 10 ms)`.
fn steady(last: Option<Duration>, left: Duration) -> Duration {
    let slack = (left / 64).min(MAX_SLACK);
    match last {
        Some(l) if l <= left && left - l <= 2 * slack => l,
        _ => left - slack,
    }
}

/// One read or write on a socket: `op` again until it succeeds, fails for real, or `budget`
/// (from `started`; `None`: no timeout) is spent. `set` gives the socket its timeout, only
/// when it changes (`applied` is what it has). `op` is run again when a signal interrupted
/// it, and when the socket's timeout, a little shorter than the budget ([`steady`]), fired
/// before the budget was spent: either way nothing was transferred (a call that transferred
/// some bytes returns their count), so it can be resumed. Every wait is for the time left:
/// the call ends neither early nor late.
fn resumed<T>(
    started: Instant,
    budget: Option<Duration>,
    applied: &mut Option<Duration>,
    mut set: impl FnMut(Option<Duration>) -> std::io::Result<()>,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    use std::io::ErrorKind;
    loop {
        let (given, left) = match budget {
            Some(budget) => {
                let left = budget.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(ErrorKind::TimedOut.into());
                }
                (
                    Some(steady(*applied, left).max(Duration::from_micros(1))),
                    left,
                )
            }
            None => (None, Duration::MAX),
        };
        if given != *applied {
            set(given)?;
            *applied = given;
        }
        match op() {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                    && given.is_some_and(|g| g < left) => {}
            other => return other,
        }
    }
}

fn io_error(e: std::io::Error, timeout: NextTimeout) -> ureq::Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            ureq::Error::Timeout(timeout.reason)
        }
        _ => ureq::Error::Io(e),
    }
}

impl UreqTransport for TcpSocket {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        self.checked = false;
        let started = Instant::now();
        let budget = timeout.not_zero().map(|t| *t);
        let TcpSocket {
            stream,
            buffers,
            write_timeout,
            ..
        } = self;
        let output = &buffers.output()[..amount];
        let mut sent = 0;
        while sent < amount {
            let n = resumed(
                started,
                budget,
                write_timeout,
                |t| stream.set_write_timeout(t),
                || (&**stream).write(&output[sent..]),
            )
            .map_err(|e| io_error(e, timeout))?;
            if n == 0 {
                return Err(ureq::Error::Io(std::io::ErrorKind::WriteZero.into()));
            }
            sent += n;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        self.checked = false;
        let budget = timeout.not_zero().map(|t| *t);
        let TcpSocket {
            stream,
            buffers,
            read_timeout,
            ..
        } = self;
        let input = buffers.input_append_buf();
        let n = resumed(
            Instant::now(),
            budget,
            read_timeout,
            |t| stream.set_read_timeout(t),
            || (&**stream).read(input),
        )
        .map_err(|e| io_error(e, timeout))?;
        buffers.input_appended(n);
        Ok(n > 0)
    }

    /// Whether the connection may carry another request: the peer has not closed it and
    /// sent nothing unasked (bytes past the last response: a late or stray answer, which
    /// the next request would read as its own). One system call: a non-blocking peek.
    ///
    /// ureq asks as a connection goes back to the pool, right after reading the response,
    /// and again as it takes it out for the next request. The second check finds whatever the
    /// first would have (bytes past the response, a close) and more (bytes that came since),
    /// so the first, the one right after I/O, is skipped. The second is never skipped: a
    /// connection with unread bytes or a closed peer must not carry another request, or a
    /// late answer to the last one would be read as this one's (tests/hostile.rs,
    /// `a_late_response_*`). Kept here, on the socket, not in a layer above: the layers
    /// (TLS, a CONNECT proxy's tunnel, [`HeadWithBody`] over the proxy connection and over the
    /// tunnel) each pass the question down once per question of the pool.
    fn is_open(&mut self) -> bool {
        if !std::mem::replace(&mut self.checked, true) {
            return true;
        }
        peek_is_quiet(&self.stream)
    }
}

/// A non-blocking peek at `stream`: true when nothing is waiting and the peer has not
/// closed (the peek would block).
#[cfg(unix)]
fn peek_is_quiet(stream: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    loop {
        // SAFETY: the descriptor is open (owned by `stream`), the buffer is one valid byte.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            // 0: closed by the peer; 1: bytes nobody asked for.
            return false;
        }
        match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock => return true,
            std::io::ErrorKind::Interrupted => continue,
            _ => return false,
        }
    }
}

/// Elsewhere: switch to non-blocking, peek, switch back (as ureq's probe does).
#[cfg(not(unix))]
fn peek_is_quiet(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8];
    let quiet =
        matches!(stream.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && quiet
}

#[cfg(test)]
mod tests;
