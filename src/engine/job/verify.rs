//! Verification at the edge: after the purges are confirmed, ask the CDN for each URL purged
//! by URL and tell from its answer whether the edge serves a copy cached after the purge.
//!
//! - A probe is one `HEAD` of `https://<host><path>` (the host the user gave; for items given
//!   by resource id, the resource's cname), over its own connection: written here on a plain
//!   socket (rustls for TLS), with no `Authorization` header, ever. It never goes through the
//!   API's agent, so the API key cannot reach an edge by mistake.
//! - `edges`: the probes go to these addresses instead of the URL's host, with the URL's host
//!   in `Host` and as the TLS name. `https://host[:port]`, or `http://` to a loopback address
//!   (tests and local emulators; a plain-HTTP probe elsewhere could be read or changed on the
//!   way).
//! - Classification ([`classify`]): `fresh` when `Cache` is `MISS` or `BYPASS`, or a `HIT`
//!   whose `X-Cached-Since` is not earlier than the purge's `created` (one second of slack for
//!   the header's resolution); `stale` when a `HIT` was cached before the purge (or says not
//!   when); `error` when no answer came, the answer is not 2xx/3xx, or has no `Cache` header.
//! - Bounds: each probe has [`PROBE_TIMEOUT`] (and never outlives the run's deadline; the
//!   edge's name is looked up within it too, once a run: `engine/resolve.rs`), at most
//!   [`PROBES_AT_ONCE`] run at once, and at most `verify_limit` URLs of each resource are
//!   probed, evenly chosen ([`choose`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::engine::call::CallCtx;
use crate::engine::error::{quote, Error, Result};
use crate::engine::resolve;

/// URLs probed per resource unless the caller says otherwise.
pub const DEFAULT_VERIFY_LIMIT: usize = 100;
/// The wait for confirmation a verifying run uses when it was given none.
pub const DEFAULT_VERIFY_WAIT: Duration = Duration::from_secs(300);
/// The longest one probe may take (connect, TLS, request, answer's head).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Probes in flight at once.
pub const PROBES_AT_ONCE: usize = 4;
/// The most of an answer's head read; a longer head is an `error`.
pub const HEAD_CAP: usize = 16 * 1024;
/// The slack for `X-Cached-Since`'s one-second resolution.
pub const CACHED_SINCE_SLACK: Duration = Duration::from_secs(1);
/// How often a probe blocked in a read looks at the run's cancel.
const CANCEL_CHECK: Duration = Duration::from_millis(200);

/// `verified[].result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Fresh,
    Stale,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Fresh => "fresh",
            Verdict::Stale => "stale",
            Verdict::Error => "error",
        }
    }
}

/// One URL probed, and what the edge said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// `https://host/path?query`, as probed.
    pub url: String,
    pub resource_id: i64,
    pub result: Verdict,
    /// The `Cache` header.
    pub cache: Option<String>,
    /// The `X-Cached-Since` header, as sent.
    pub cached_since: Option<String>,
    /// The `X-ID` header: the edge that answered.
    pub edge: Option<String>,
    /// Why `stale` or `error`; the address probed when it was an `edges` one.
    pub message: Option<String>,
}

/// Where probes go instead of the URL's host (`edges`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// As given, for messages.
    pub url: String,
    pub tls: bool,
    /// Host name or IP address to connect to (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// Check an edge address: `https://host[:port][/]`, or `http://` to a loopback address
/// (`127.0.0.0/8`, `::1`, `localhost`). No path, query, user info or fragment.
pub fn parse_edge(url: &str) -> Result<Edge> {
    let bad = |why: &str| Error::invalid(format!("edge {} {why}", quote(url, 120)));
    if url.chars().any(char::is_control) {
        return Err(Error::invalid(
            "an edge address contains a control character",
        ));
    }
    // `get`: a character of several bytes may straddle where the scheme would end.
    let (tls, rest) = if url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        (true, &url[8..])
    } else if url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        (false, &url[7..])
    } else {
        return Err(bad(
            "must be https://host[:port] (or http:// to a loopback address)",
        ));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(bad("has a path, query or fragment: give the address alone"));
    }
    if authority.contains('@') {
        return Err(Error::invalid(
            "an edge address has user info (name:password@); an edge takes none",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(bad("has an unclosed '['"));
        };
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad("has junk after ']'"))?,
            ),
        };
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => {
            if tls {
                443
            } else {
                80
            }
        }
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad("has a bad port"))?,
    };
    let ip = host.parse::<IpAddr>().ok();
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ip.is_none() && !name_ok {
        return Err(bad("has an invalid host"));
    }
    if !tls {
        let loopback =
            ip.is_some_and(|ip| ip.is_loopback()) || host.eq_ignore_ascii_case("localhost");
        if !loopback {
            return Err(bad(
                "is plain http:// to a host that is not loopback: use https:// (a plain-HTTP \
                 probe could be read or changed on the way)",
            ));
        }
    }
    Ok(Edge {
        url: url.to_owned(),
        tls,
        host: host.to_owned(),
        port,
    })
}

/// What an edge answered: the status line and the three headers that matter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub cache: Option<String>,
    pub cached_since: Option<String>,
    pub x_id: Option<String>,
}

/// Sort an answer: see the module docs. `purged_at` is the purge's `created` (the server's
/// clock), or when the purge status had none, when the request was sent. The message says
/// why a result is not `fresh`.
pub fn classify(answer: &Answer, purged_at: SystemTime) -> (Verdict, Option<String>) {
    if !(200..400).contains(&answer.status) {
        return (
            Verdict::Error,
            Some(format!(
                "HTTP {}: the edge did not serve the URL",
                answer.status
            )),
        );
    }
    let Some(cache) = answer.cache.as_deref() else {
        return (
            Verdict::Error,
            Some("the answer has no Cache header (not a Gcore edge, or not cacheable)".into()),
        );
    };
    let word = cache.trim();
    if word.eq_ignore_ascii_case("MISS") || word.eq_ignore_ascii_case("BYPASS") {
        return (Verdict::Fresh, None);
    }
    if !word.eq_ignore_ascii_case("HIT") {
        return (
            Verdict::Error,
            Some(format!(
                "Cache: {} is none of HIT, MISS, BYPASS",
                quote(word, 40)
            )),
        );
    }
    let Some(since) = answer.cached_since.as_deref() else {
        return (
            Verdict::Stale,
            Some(
                "a HIT with no X-Cached-Since: nothing shows it was cached after the purge".into(),
            ),
        );
    };
    let Some(at) = super::listing::parse_time(since) else {
        return (
            Verdict::Stale,
            Some(format!(
                "a HIT whose X-Cached-Since {} cannot be read: nothing shows it was cached after \
                 the purge",
                quote(since, 60)
            )),
        );
    };
    let earliest = purged_at
        .checked_sub(CACHED_SINCE_SLACK)
        .unwrap_or(purged_at);
    if at >= earliest {
        (Verdict::Fresh, None)
    } else {
        (
            Verdict::Stale,
            Some(format!(
                "a HIT cached at {since}, before the purge ({})",
                super::listing::format_time(purged_at)
            )),
        )
    }
}

/// Which of `n` URLs to probe when at most `limit` may be: all of them, or `limit` spread
/// evenly over the list (first and last included when `limit` > 1), in order.
pub fn choose(n: usize, limit: usize) -> Vec<usize> {
    if n <= limit {
        return (0..n).collect();
    }
    match limit {
        0 => Vec::new(),
        1 => vec![0],
        _ => (0..limit).map(|i| i * (n - 1) / (limit - 1)).collect(),
    }
}

/// One URL to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub resource_id: i64,
    /// The host as the user gave it, or the resource's cname.
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
    pub purged_at: SystemTime,
}

/// How probes connect: TLS roots and the user agent. Holds no key.
pub struct Prober {
    tls: Arc<rustls::ClientConfig>,
    user_agent: String,
    timeout: Duration,
    /// Each (host, port) looked up once, its failure too: a silent DNS server costs the run
    /// one probe's timeout per host, not every probe's.
    lookups: Mutex<HashMap<(String, u16), Looked>>,
}

type Looked = std::result::Result<Vec<SocketAddr>, String>;

impl Prober {
    /// Trust `ca_file` when given (as the API's transport does), else the bundled roots.
    pub fn new(ca_file: Option<&Path>, user_agent: &str, timeout: Duration) -> Result<Prober> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                for cert in crate::engine::http::load_ca_file(path)? {
                    roots
                        .add(rustls::pki_types::CertificateDer::from(cert.der().to_vec()))
                        .map_err(|e| {
                            Error::invalid(format!("a CA certificate is unusable: {e}"))
                        })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Prober {
            tls: Arc::new(config),
            user_agent: user_agent.to_owned(),
            timeout,
            lookups: Mutex::new(HashMap::new()),
        })
    }

    /// Probe every target at every edge (or at its own host when there are none), at most
    /// [`PROBES_AT_ONCE`] at once, none past `ctx`'s deadline; in the order of `targets`, then
    /// `edges`.
    pub fn probe_all(&self, ctx: &CallCtx, targets: &[Target], edges: &[Edge]) -> Vec<Verified> {
        let per = edges.len().max(1);
        let total = targets.len() * per;
        let results: Mutex<Vec<Option<Verified>>> = Mutex::new(vec![None; total]);
        let next = AtomicUsize::new(0);
        let threads = PROBES_AT_ONCE.min(total);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let target = &targets[i / per];
                    let edge = edges.get(i % per);
                    let v = self.verify_one(ctx, target, edge);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(v);
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .flatten()
            .collect()
    }

    fn verify_one(&self, ctx: &CallCtx, t: &Target, edge: Option<&Edge>) -> Verified {
        let url = format!("https://{}{}", t.host, t.path);
        let mut v = Verified {
            url,
            resource_id: t.resource_id,
            result: Verdict::Error,
            cache: None,
            cached_since: None,
            edge: None,
            message: None,
        };
        let now = Instant::now();
        let mut end = now + self.timeout;
        if let Some(d) = ctx.deadline() {
            end = end.min(d);
        }
        let at = edge.map(|e| format!(" (at {})", e.url)).unwrap_or_default();
        if ctx.cancelled() || end <= now {
            v.message = Some(format!(
                "not probed{at}: the run {} first",
                if ctx.cancelled() {
                    "was cancelled"
                } else {
                    "ran out of time"
                }
            ));
            return v;
        }
        match self.probe(ctx, &t.host, &t.path, edge, end) {
            Ok(answer) => {
                let (result, why) = classify(&answer, t.purged_at);
                v.result = result;
                v.cache = answer.cache;
                v.cached_since = answer.cached_since;
                v.edge = answer.x_id;
                v.message = why
                    .map(|w| format!("{w}{at}"))
                    .or_else(|| edge.map(|e| format!("at {}", e.url)));
            }
            Err(why) => v.message = Some(format!("no answer{at}: {why}")),
        }
        v
    }

    /// One `HEAD` of `path` on `host` (at `edge` when given), its head read by `end`.
    pub fn probe(
        &self,
        ctx: &CallCtx,
        host: &str,
        path: &str,
        edge: Option<&Edge>,
        end: Instant,
    ) -> std::result::Result<Answer, String> {
        let (connect_host, port, tls) = match edge {
            Some(e) => (e.host.as_str(), e.port, e.tls),
            None => (host, 443, true),
        };
        let addrs = self.addresses(ctx, connect_host, port, end)?;
        let mut last = format!("no address for {connect_host}");
        let mut tcp = None;
        for addr in addrs {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("timed out connecting".into());
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        let tcp = tcp.ok_or(last)?;
        let _ = tcp.set_nodelay(true);
        let request = format!(
            "HEAD {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: */*\r\n\
             Connection: close\r\n\r\n",
            self.user_agent
        );
        let mut io = Deadlined { tcp, end, ctx };
        if tls {
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| format!("{host} is not a valid TLS name: {e}"))?;
            let conn = rustls::ClientConnection::new(Arc::clone(&self.tls), name)
                .map_err(|e| format!("TLS setup failed: {e}"))?;
            let mut stream = rustls::StreamOwned::new(conn, io);
            exchange(&mut stream, request.as_bytes())
        } else {
            exchange(&mut io, request.as_bytes())
        }
    }
}

impl Prober {
    /// `host`'s addresses at `port`, looked up by `end` the first time this run asks.
    fn addresses(&self, ctx: &CallCtx, host: &str, port: u16, end: Instant) -> Looked {
        let key = (host.to_owned(), port);
        let lookups = || self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = lookups().get(&key) {
            return found.clone();
        }
        let found = match resolve::lookup(host, port, end, &|| ctx.cancelled()) {
            Ok(addrs) => Ok(addrs),
            // A cancel says nothing of the host.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                return Err(format!("cannot resolve {host}: {e}"))
            }
            Err(e) => Err(format!("cannot resolve {host}: {e}")),
        };
        lookups().insert(key, found.clone());
        found
    }
}

/// A socket whose every read and write ends by `end` (and soon after a cancel).
struct Deadlined<'c> {
    tcp: TcpStream,
    end: Instant,
    ctx: &'c CallCtx,
}

impl Deadlined<'_> {
    fn arm(&self, write: bool) -> std::io::Result<()> {
        let left = self.end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out",
            ));
        }
        if self.ctx.cancelled() {
            return Err(std::io::Error::other("the run was cancelled"));
        }
        let slice = Some(left.min(CANCEL_CHECK));
        if write {
            self.tcp.set_write_timeout(slice)
        } else {
            self.tcp.set_read_timeout(slice)
        }
    }
}

/// A slice of the wait ran out, or a signal interrupted it (Linux does not restart a socket
/// call that has a timeout): wait again for the time left.
fn waiting(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            self.arm(false)?;
            match self.tcp.read(buf) {
                Err(e) if waiting(&e) => continue,
                other => return other,
            }
        }
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            self.arm(true)?;
            match self.tcp.write(buf) {
                Err(e) if waiting(&e) => continue,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

/// Send `request`, read the answer's head (at most [`HEAD_CAP`] bytes) and parse it.
fn exchange(
    stream: &mut (impl Read + Write),
    request: &[u8],
) -> std::result::Result<Answer, String> {
    let shown = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::TimedOut => "timed out".to_owned(),
        _ => e.to_string(),
    };
    stream.write_all(request).map_err(shown)?;
    stream.flush().map_err(shown)?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.read(&mut buf).map_err(shown)?;
        if n == 0 {
            return Err(if head.is_empty() {
                "the connection closed with no answer".into()
            } else {
                "the connection closed in the middle of the answer's head".into()
            });
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                let get = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(|v| v.trim().to_owned())
                };
                return Ok(Answer {
                    status: response.code.unwrap_or(0),
                    cache: get("Cache"),
                    cached_since: get("X-Cached-Since"),
                    x_id: get("X-ID"),
                });
            }
            Ok(httparse::Status::Partial) if head.len() < HEAD_CAP => {}
            Ok(httparse::Status::Partial) => {
                return Err(format!("the answer's head is longer than {HEAD_CAP} bytes"))
            }
            Err(e) => return Err(format!("the answer is not HTTP: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::call::CallSettings;
    use crate::engine::job::listing::parse_time;
    use std::io::BufRead;
    use std::net::TcpListener;

    fn answer(status: u16, cache: Option<&str>, since: Option<&str>) -> Answer {
        Answer {
            status,
            cache: cache.map(str::to_owned),
            cached_since: since.map(str::to_owned),
            x_id: Some("m9-up-e245".into()),
        }
    }

    #[test]
    fn answers_are_sorted_as_documented() {
        let purged = parse_time("2017-06-09T12:51:43.600+00:00").unwrap();
        let fresh = [
            answer(200, Some("MISS"), None),
            answer(200, Some("bypass"), None),
            answer(304, Some("HIT"), Some("2017-06-09T12:51:43+00:00")),
            answer(200, Some("HIT"), Some("2017-06-09T13:00:00+00:00")),
        ];
        for a in &fresh {
            assert_eq!(classify(a, purged), (Verdict::Fresh, None), "{a:?}");
        }
        // A purge created at a whole second: a copy cached within the second before it may
        // have been cached after it (both are cut to the second).
        let whole = parse_time("2017-06-09T12:51:43+00:00").unwrap();
        let a = answer(200, Some("HIT"), Some("2017-06-09T12:51:42+00:00"));
        assert_eq!(classify(&a, whole).0, Verdict::Fresh);
        assert_eq!(classify(&a, purged).0, Verdict::Stale);
        let stale = [
            answer(200, Some("HIT"), Some("2017-06-09T12:51:41+00:00")),
            answer(200, Some("HIT"), None),
            answer(200, Some("HIT"), Some("yesterday")),
        ];
        for a in &stale {
            let (v, why) = classify(a, purged);
            assert_eq!(v, Verdict::Stale, "{a:?}");
            assert!(why.is_some());
        }
        let error = [
            answer(404, Some("MISS"), None),
            answer(502, Some("HIT"), None),
            answer(200, None, None),
            answer(200, Some("EXPIRED"), None),
        ];
        for a in &error {
            assert_eq!(classify(a, purged).0, Verdict::Error, "{a:?}");
        }
    }

    #[test]
    fn the_chosen_are_spread_evenly() {
        assert_eq!(choose(3, 100), [0, 1, 2]);
        assert_eq!(choose(10, 1), [0]);
        assert_eq!(choose(10, 0), Vec::<usize>::new());
        assert_eq!(choose(10, 4), [0, 3, 6, 9]);
        let c = choose(1000, 100);
        assert_eq!(c.len(), 100);
        assert_eq!((c[0], c[99]), (0, 999));
        assert!(c.windows(2).all(|w| (9..=11).contains(&(w[1] - w[0]))));
    }

    #[test]
    fn edges_are_checked() {
        let e = parse_edge("https://m9-up-e245.fe.gc.onl").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port),
            (true, "m9-up-e245.fe.gc.onl", 443)
        );
        let e = parse_edge("http://127.0.0.1:8081/").unwrap();
        assert_eq!((e.tls, e.host.as_str(), e.port), (false, "127.0.0.1", 8081));
        let e = parse_edge("http://[::1]:9").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9));
        assert!(parse_edge("https://10.0.0.1:8443").is_ok());
        for (bad, why) in [
            ("http://example.com:80", "loopback"),
            ("http://10.0.0.1", "loopback"),
            ("ftp://x", "https://"),
            ("https://x/path", "path"),
            ("https://x:0", "port"),
            ("https://x:99999", "port"),
            ("https://bad_host", "invalid host"),
            ("https://[::1", "unclosed"),
            ("https:/\u{e9}x", "https://"),
            ("http:/\u{e9}", "https://"),
        ] {
            let e = parse_edge(bad).unwrap_err();
            assert!(e.message.contains(why), "{bad}: {}", e.message);
        }
        let e = parse_edge("https://user:hunter2@x").unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    /// A one-connection server: answers `reply` (raw bytes) after reading the request head,
    /// and hands back the head it read.
    fn server(reply: &'static [u8], delay: Duration) -> (u16, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            std::thread::sleep(delay);
            let _ = (&s).write_all(reply);
            std::thread::sleep(Duration::from_millis(100));
            head
        });
        (port, h)
    }

    fn ctx(timeout: Option<Duration>) -> CallCtx {
        CallCtx::new(
            &CallSettings {
                timeout,
                ..CallSettings::default()
            },
            Duration::from_secs(150),
            None,
        )
    }

    fn target() -> Target {
        Target {
            resource_id: 7,
            host: "cdn.example.com".into(),
            path: "/a.js?v=2".into(),
            purged_at: parse_time("2017-06-09T12:51:43+00:00").unwrap(),
        }
    }

    #[test]
    fn a_probe_carries_the_host_and_no_key() {
        let (port, h) = server(
            b"HTTP/1.1 200 OK\r\nCache: HIT\r\nX-Cached-Since: 2017-06-09T12:00:00+00:00\r\n\
              X-ID: ed-1\r\nContent-Length: 5\r\n\r\n",
            Duration::ZERO,
        );
        let p = Prober::new(None, "gcdn/test", PROBE_TIMEOUT).unwrap();
        let edge = parse_edge(&format!("http://127.0.0.1:{port}")).unwrap();
        let v = p.probe_all(&ctx(None), &[target()], &[edge]);
        let head = h.join().unwrap();
        assert!(head.starts_with("HEAD /a.js?v=2 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("Host: cdn.example.com\r\n"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].url, "https://cdn.example.com/a.js?v=2");
        assert_eq!(v[0].result, Verdict::Stale);
        assert_eq!(v[0].cache.as_deref(), Some("HIT"));
        assert_eq!(v[0].edge.as_deref(), Some("ed-1"));
    }

    /// A host is looked up once a run, its failure too: the second probe of a name that
    /// does not resolve fails at once with the same words.
    #[test]
    fn a_host_is_looked_up_once_a_run() {
        let p = Prober::new(None, "gcdn/test", Duration::from_secs(2)).unwrap();
        let c = ctx(None);
        let end = Instant::now() + Duration::from_secs(2);
        let first = p
            .probe(&c, "gcdn-test.invalid", "/a", None, end)
            .unwrap_err();
        let key = ("gcdn-test.invalid".to_owned(), 443);
        let kept = p.lookups.lock().unwrap().get(&key).cloned();
        // `.invalid` never resolves (RFC 6761), unless the resolver lies; then only the
        // entry is checked.
        if let Some(Err(why)) = kept {
            assert_eq!(why, first);
            assert!(
                first.starts_with("cannot resolve gcdn-test.invalid: "),
                "{first}"
            );
            let began = Instant::now();
            let again = p
                .probe(&c, "gcdn-test.invalid", "/b", None, end)
                .unwrap_err();
            assert_eq!(again, first);
            let took = began.elapsed();
            assert!(took < Duration::from_millis(500), "{took:?}");
        } else {
            assert!(kept.is_some(), "not kept: {first}");
        }
        // Loopback by address: found, and kept.
        let (port, h) = server(b"HTTP/1.1 200 OK\r\nCache: MISS\r\n\r\n", Duration::ZERO);
        let edge = parse_edge(&format!("http://127.0.0.1:{port}")).unwrap();
        let v = p.probe_all(&c, &[target()], &[edge]);
        h.join().unwrap();
        assert_eq!(v[0].result, Verdict::Fresh, "{v:?}");
        assert!(p
            .lookups
            .lock()
            .unwrap()
            .contains_key(&("127.0.0.1".to_owned(), port)));
    }

    #[test]
    fn a_hanging_or_garbage_edge_is_an_error_in_bounded_time() {
        let p = Prober::new(None, "gcdn/test", Duration::from_secs(2)).unwrap();
        let (port, h) = server(b"", Duration::from_secs(6));
        let edge = parse_edge(&format!("http://127.0.0.1:{port}")).unwrap();
        let began = Instant::now();
        let v = p.probe_all(&ctx(None), &[target()], &[edge]);
        let took = began.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(v[0].result, Verdict::Error);
        assert!(
            v[0].message.as_deref().unwrap().contains("timed out"),
            "{v:?}"
        );
        drop(h);

        let (port, h) = server(b"\x16\x03garbage\r\n\r\n", Duration::ZERO);
        let edge = parse_edge(&format!("http://127.0.0.1:{port}")).unwrap();
        let v = p.probe_all(&ctx(None), &[target()], &[edge]);
        h.join().unwrap();
        assert_eq!(v[0].result, Verdict::Error);
        assert!(
            v[0].message.as_deref().unwrap().contains("not HTTP"),
            "{v:?}"
        );
    }

    /// A signal every millisecond (a handler without `SA_RESTART`; Linux does not restart a
    /// socket call with a timeout either way) while the probe waits for a slow edge: the
    /// probe reads its answer, it does not fail with EINTR.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_probe_is_not_cut_short_by_signals() {
        use std::sync::atomic::AtomicBool;
        static TAKEN: AtomicUsize = AtomicUsize::new(0);
        extern "C" fn on_signal(_: libc::c_int) {
            TAKEN.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: a handler that only bumps an atomic, for a signal nothing else sends.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
        }
        let (port, h) = server(
            b"HTTP/1.1 200 OK\r\nCache: MISS\r\nContent-Length: 0\r\n\r\n",
            Duration::from_millis(400),
        );
        let p = Prober::new(None, "gcdn/test", PROBE_TIMEOUT).unwrap();
        let edge = parse_edge(&format!("http://127.0.0.1:{port}")).unwrap();
        // SAFETY: this thread's own id.
        let me = unsafe { libc::pthread_self() } as usize;
        let stop = Arc::new(AtomicBool::new(false));
        let storm = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // SAFETY: the test thread outlives the storm (joined below).
                    unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR2) };
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let end = Instant::now() + PROBE_TIMEOUT;
        let r = p.probe(&ctx(None), "cdn.example.com", "/a.js", Some(&edge), end);
        stop.store(true, Ordering::SeqCst);
        storm.join().unwrap();
        h.join().unwrap();
        let answer = r.expect("the probe read the answer through the signals");
        assert!(TAKEN.load(Ordering::SeqCst) > 10, "no storm");
        assert_eq!(answer.cache.as_deref(), Some("MISS"));
    }

    #[test]
    fn no_probe_outlives_the_run() {
        let p = Prober::new(None, "gcdn/test", PROBE_TIMEOUT).unwrap();
        let (port, h) = server(b"", Duration::from_secs(6));
        let edge = parse_edge(&format!("http://127.0.0.1:{port}")).unwrap();
        let began = Instant::now();
        let v = p.probe_all(&ctx(Some(Duration::from_secs(1))), &[target()], &[edge]);
        assert!(began.elapsed() < Duration::from_secs(5));
        assert_eq!(v[0].result, Verdict::Error);
        drop(h);
    }
}
