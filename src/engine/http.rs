//! The HTTP layer: one pooled, keep-alive `ureq` agent, requests with the key attached, and
//! every transport failure sorted into a status class.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::{self, Method, Uri};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout,
    Transport as UreqTransport,
};
use ureq::AsSendBody;
use zeroize::{Zeroize, Zeroizing};

use super::error::{quote, Error, Result, Status};

/// The most of a response body the client reads. Error bodies are a few hundred bytes; a
/// server that sends more is cut off here and memory stays bounded.
pub const BODY_CAP: usize = 64 * 1024;

/// A response, body read up to [`BODY_CAP`].
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// `Retry-After` of a response that is not a 2xx.
    pub retry_after: Option<String>,
    /// `Location` of a response that is not a 2xx.
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// A request that got no usable HTTP answer.
#[derive(Debug)]
pub struct Fault {
    pub status: Status,
    pub message: String,
    /// Whether another attempt could succeed (connection resets, refusals, timeouts).
    pub transient: bool,
    /// Whether the request may have reached the server before the failure (so it may have
    /// been carried out): false only when no connection was ever made.
    pub maybe_sent: bool,
}

pub struct Transport {
    agent: ureq::Agent,
    /// The resolver's cache, to forget names whose addresses could not be reached.
    dns_cache: Arc<Mutex<Vec<Resolved>>>,
    /// `APIKey <key>`, wiped when the client is dropped.
    authorization: Zeroizing<String>,
    /// Made once: ureq would otherwise check and copy the agent's user agent every request.
    user_agent: http::HeaderValue,
    timeout: Duration,
}

impl Transport {
    /// `use_env_proxy`: honour `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`. Only for `https://`
    /// base URLs, where a proxy sees a TLS tunnel; a plain-HTTP (loopback) base URL never
    /// goes through a proxy, which would see the key in clear.
    pub fn new(
        api_key: &str,
        timeout: Duration,
        user_agent: &str,
        ca_file: Option<&std::path::Path>,
        use_env_proxy: bool,
    ) -> Result<Transport> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = ca_file {
            tls = tls.root_certs(RootCerts::new_with_certs(&load_ca_file(path)?));
        }
        let mut config = ureq::Agent::config_builder();
        if !use_env_proxy {
            config = config.proxy(None);
        }
        let config = config
            // Status codes are answers to decode, not transport errors.
            .http_status_as_error(false)
            // A redirect is returned as it is, never followed: the key must not go elsewhere.
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent(user_agent)
            .accept("application/json")
            .tls_config(tls.build())
            .max_idle_connections_per_host(32)
            .build();
        let mut authorization = Zeroizing::new(String::with_capacity(7 + api_key.len()));
        authorization.push_str("APIKey ");
        authorization.push_str(api_key);
        let resolve = Resolve::default();
        let dns_cache = Arc::clone(&resolve.cache);
        Ok(Transport {
            agent: ureq::Agent::with_parts(
                config,
                DefaultConnector::new().chain(OneWrite),
                resolve,
            ),
            dns_cache,
            authorization,
            user_agent: http::HeaderValue::from_str(user_agent)
                .map_err(|e| Error::invalid(format!("bad user agent: {e}")))?,
            timeout,
        })
    }

    /// The agent's own per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One attempt: send, then read status, `Retry-After`, `Location` and up to [`BODY_CAP`]
    /// of the body. `timeout` covers the whole exchange.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        json_body: Option<&[u8]>,
        timeout: Duration,
    ) -> std::result::Result<Reply, Fault> {
        self.send_capped(method, url, json_body, timeout, BODY_CAP)
    }

    /// [`Transport::send`], reading at most `cap` bytes of the body (listings need more
    /// than [`BODY_CAP`]).
    pub fn send_capped(
        &self,
        method: Method,
        url: &str,
        json_body: Option<&[u8]>,
        timeout: Duration,
        cap: usize,
    ) -> std::result::Result<Reply, Fault> {
        let bad_request = |e: &dyn std::fmt::Display| Fault {
            status: Status::InvalidArgument,
            message: format!("could not build the request: {e}"),
            transient: false,
            maybe_sent: false,
        };
        // Built in place, not with http's request builder: no parsing of constant headers.
        let mut request = http::Request::new(());
        *request.method_mut() = method;
        *request.uri_mut() = url.parse().map_err(|e| bad_request(&e))?;
        let mut authorization =
            http::HeaderValue::from_str(&self.authorization).map_err(|e| bad_request(&e))?;
        authorization.set_sensitive(true);
        let headers = request.headers_mut();
        headers.insert(http::header::AUTHORIZATION, authorization);
        headers.insert(http::header::USER_AGENT, self.user_agent.clone());
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        if json_body.is_some() {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        // No body, no `Content-Length: 0` (nor ureq's bookkeeping of an empty body).
        let result = match json_body {
            Some(body) => self.run(request.map(|()| body), timeout),
            None => self.run(request, timeout),
        };
        let mut response = result.map_err(|e| {
            let fault = fault_of(e);
            if !fault.maybe_sent {
                Resolve::forget_names(&self.dns_cache);
            }
            fault
        })?;
        let status = response.status().as_u16();
        let header = |name: http::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        // Only a failure is described from its headers.
        let (retry_after, location) = if (200..300).contains(&status) {
            (None, None)
        } else {
            (
                header(http::header::RETRY_AFTER),
                header(http::header::LOCATION),
            )
        };
        let mut body = Vec::new();
        // Read at most the cap. A body cut short, or one that goes on past the cap, still
        // leaves the status in hand: a 2xx is a success whatever its body does, and an
        // error is described from what arrived.
        let mut reader = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(cap as u64);
        let _ = reader.read_to_end(&mut body);
        Ok(Reply {
            status,
            retry_after,
            location,
            body,
        })
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

impl Connector<Box<dyn UreqTransport>> for OneWrite {
    type Out = HeadWithBody;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn UreqTransport>>,
    ) -> std::result::Result<Option<HeadWithBody>, ureq::Error> {
        Ok(chained.map(|inner| HeadWithBody {
            inner,
            held: Vec::new(),
            next_is_head: true,
            probed: false,
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
        self.probed = false;
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
        self.probed = false;
        self.flush(timeout)?;
        self.next_is_head = true;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.probed = false;
        self.flush(timeout)?;
        self.next_is_head = true;
        self.inner.await_input(timeout)
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
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl Transport {
    fn run(
        &self,
        request: http::Request<impl AsSendBody>,
        timeout: Duration,
    ) -> std::result::Result<http::Response<ureq::Body>, ureq::Error> {
        if timeout == self.timeout {
            self.agent.run(request)
        } else {
            let request = self
                .agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .build();
            self.agent.run(request)
        }
    }
}

fn load_ca_file(path: &std::path::Path) -> Result<Vec<Certificate<'static>>> {
    let shown = quote(&path.display().to_string(), 300);
    let pem = std::fs::read(path)
        .map_err(|e| Error::invalid(format!("cannot read the CA file {shown}: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::invalid(format!(
                    "the CA file {shown} is not valid PEM: {e}"
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "the CA file {shown} holds no PEM certificate"
        )));
    }
    Ok(certs)
}

/// Sort a transport error into a status, a message, and whether to try again.
fn fault_of(error: ureq::Error) -> Fault {
    use std::io::ErrorKind;
    let (status, transient, message) = match &error {
        ureq::Error::Timeout(what) => (Status::Timeout, true, format!("timed out ({what})")),
        ureq::Error::HostNotFound => (Status::Network, true, "host not found (DNS)".into()),
        ureq::Error::ConnectionFailed => (Status::Network, true, "connection failed".into()),
        ureq::Error::Tls(what) => (Status::Network, false, format!("TLS error: {what}")),
        ureq::Error::Io(io) => {
            let text = io.to_string();
            if is_tls_failure(io) {
                (Status::Network, false, format!("TLS error: {text}"))
            } else {
                match io.kind() {
                    ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                        (Status::Timeout, true, format!("timed out: {text}"))
                    }
                    ErrorKind::ConnectionRefused => {
                        (Status::Network, true, format!("connection refused: {text}"))
                    }
                    ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::NotConnected => (
                        Status::Network,
                        true,
                        format!("the connection was closed before a response arrived: {text}"),
                    ),
                    _ => (Status::Network, true, format!("network error: {text}")),
                }
            }
        }
        ureq::Error::Protocol(p) => (
            Status::Protocol,
            false,
            format!("the server's response is not valid HTTP: {p}"),
        ),
        ureq::Error::BadUri(u) => (Status::InvalidArgument, false, format!("bad URL: {u}")),
        other => (Status::Protocol, false, other.to_string()),
    };
    // Failures before any connection existed: the request cannot have been sent.
    let never_connected = matches!(
        &error,
        ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect)
    ) || matches!(&error, ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused);
    Fault {
        status,
        message,
        transient,
        maybe_sent: !never_connected,
    }
}

/// rustls reports certificate and handshake failures as I/O errors wrapping its own error.
fn is_tls_failure(io: &std::io::Error) -> bool {
    let Some(inner) = io.get_ref() else {
        return false;
    };
    let type_name = format!("{inner:?}");
    type_name.contains("Certificate")
        || type_name.contains("AlertReceived")
        || type_name.contains("InvalidMessage")
        || type_name.contains("PeerIncompatible")
        || type_name.contains("HandshakeNotComplete")
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
            Ok(false)
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
        };
        (t, writes, probes)
    }

    #[test]
    fn a_connection_is_probed_once_between_requests() {
        let (mut t, _, probes) = wire();
        let probes = || probes.load(std::sync::atomic::Ordering::Relaxed);
        send(&mut t, b"DELETE /1 HTTP/1.1\r\n\r\n");
        t.await_input(NextTimeout::default()).unwrap();
        // Back to the pool right after the response: not probed; out of it: probed.
        assert!(t.is_open());
        assert_eq!(probes(), 0);
        assert!(t.is_open());
        assert_eq!(probes(), 1);
        send(&mut t, b"DELETE /2 HTTP/1.1\r\n\r\n");
        t.maybe_await_input(NextTimeout::default()).unwrap();
        assert!(t.is_open());
        assert!(t.is_open());
        assert!(t.is_open());
        assert_eq!(probes(), 3);
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
}
