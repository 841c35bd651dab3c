//! A local, faithful imitation of the parts of the Gcore CDN API that `gcdn` talks to.
//!
//! The emulator is a real HTTP/1.1 server bound to `127.0.0.1` (keep-alive, one thread per
//! connection, started as soon as the connection is accepted), speaking plain HTTP or, with
//! [`Config::tls`], HTTPS. Every test suite (Rust, C, Python, Go), the demo and the benchmarks run
//! against it: Rust tests in-process through [`Emulator`], the others through the
//! `gcdn-emulator` binary and its control API.
//!
//! # The imitated API
//!
//! Every request outside `/__emulator/` is an *API request*: it is recorded (see
//! [`Emulator::requests`]), then checked against the queued [faults](Fault), then answered:
//!
//! | Request | Answer |
//! |---|---|
//! | any, without `Authorization: apikey <key>` (scheme case-insensitive) | `401 {"errors": ["Invalid API key"]}` |
//! | `GET /cdn/resources/{id}` | `200` resource JSON, `404` |
//! | `PATCH /cdn/resources/{id}` `{"active": bool}` | `200` resource JSON, `404`, `400` |
//! | `DELETE /cdn/resources/{id}` | `204`, `404`, `400 {"errors": ["..."]}` (active, or a [`Refusal`]) |
//! | `POST /cdn/resources/{id}/purge` | `201` (empty body), `404`, `400` (documented shapes), `429` |
//! | `GET /cdn/clients/me/limits` | `200` with the configured [`Limits`] |
//! | anything else | `404 {"errors": ["Not found."]}` |
//!
//! The resource JSON is `{"id": 5, "active": true, "status": "active"|"suspended",
//! "cname": "cdn5.example.com"}`. The `400` bodies use the provider's example texts
//! verbatim where the specification gives one (see [`messages`]).
//!
//! Purge requests are rate limited per (resource, purge type) with a sliding window:
//! at most `*_requests` accepted requests per `*_window`. Only requests that pass validation
//! and the limiter count. Over the limit the answer is `429` with
//! `{"errors": ["Too many requests: ..."]}` and, depending on [`RetryAfterMode`], no
//! `Retry-After` header (the documented behaviour, and the default), a number of seconds, or
//! an HTTP date.
//!
//! # Faults
//!
//! Queued [`Fault`]s make the server misbehave the way real networks and servers do: wrong
//! answers ([`FaultAction::Respond`]), slow ones ([`FaultAction::Delay`],
//! [`FaultAction::Trickle`], [`FaultAction::Stall`]), broken ones ([`FaultAction::Drop`],
//! [`FaultAction::Truncate`], [`FaultAction::Garbage`], [`FaultAction::CloseAfter`]) and
//! unusual ones ([`FaultAction::Chunked`], [`FaultAction::Oversized`]).
//!
//! # HTTPS
//!
//! With [`Config::tls`] set the server speaks TLS (rustls, TLS 1.2 and 1.3) with the given
//! certificate, and [`Emulator::base_url`] is `https://localhost:PORT`. With the cargo
//! feature `testca`, the `testca` module makes a throwaway CA and a `localhost` certificate.
//!
//! # The control API
//!
//! Requests under `/__emulator/` need no authentication and are not recorded. They let
//! out-of-process tests do what [`Emulator`]'s methods do; see the crate's `README.md`.
//!
//! # Example
//!
//! ```no_run
//! use gcdn_emulator::{Config, Emulator, Fault};
//!
//! let emu = Emulator::start(Config { seed_resources: vec![5], ..Config::default() }).unwrap();
//! emu.push_fault(Fault::respond(503, r#"{"errors": ["busy"]}"#).on("POST", "/cdn/resources/5/purge"));
//! println!("{}", emu.base_url());
//! ```

#![warn(missing_docs)]

mod api;
mod control;
mod http;
mod server;
mod state;
#[cfg(feature = "testca")]
pub mod testca;
mod tls;

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

pub use api::messages;

/// At most this many recorded requests are kept; the oldest are forgotten first. This only
/// bounds memory in long benchmark runs: no test comes close.
pub const MAX_RECORDED: usize = 200_000;

/// How the emulator is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The only accepted API key (default `"test-key"`).
    pub api_key: String,
    /// Purge limits (default: the provider's documented defaults).
    pub limits: Limits,
    /// Whether and how a `429` carries `Retry-After` (default: it does not).
    pub retry_after: RetryAfterMode,
    /// Active resources that exist from the start (and again after a reset). Default: none.
    pub seed_resources: Vec<i64>,
    /// TCP port on 127.0.0.1; `0` (the default) picks an ephemeral one.
    pub port: u16,
    /// Speak HTTPS with this certificate instead of plain HTTP (default: plain HTTP).
    pub tls: Option<Tls>,
}

/// The server's TLS identity for HTTPS mode: a certificate chain (leaf first) and its
/// private key, both PEM. The leaf must be valid for `localhost`, the host name of
/// [`Emulator::base_url`] in HTTPS mode. See the `testca` module (cargo feature `testca`)
/// for throwaway ones.
#[derive(Clone, PartialEq, Eq)]
pub struct Tls {
    /// `CERTIFICATE` blocks, the server's own first.
    pub cert_chain_pem: String,
    /// The private key: a `PRIVATE KEY` (PKCS #8), `RSA PRIVATE KEY` or `EC PRIVATE KEY` block.
    pub key_pem: String,
}

impl Tls {
    /// A TLS identity from PEM texts.
    pub fn new(cert_chain_pem: impl Into<String>, key_pem: impl Into<String>) -> Tls {
        Tls {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
        }
    }

    /// Reads the certificate chain and the key from PEM files.
    pub fn from_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Tls> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        Ok(Tls::new(read(cert_chain.as_ref())?, read(key.as_ref())?))
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field(
                "cert_chain_pem",
                &format_args!("{} bytes", self.cert_chain_pem.len()),
            )
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_key: "test-key".to_owned(),
            limits: Limits::default(),
            retry_after: RetryAfterMode::None,
            seed_resources: Vec::new(),
            port: 0,
            tls: None,
        }
    }
}

/// Purge limits. The defaults are the provider's documented ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Accepted purge-by-URL requests per resource per `url_window` (default 2).
    pub url_requests: u32,
    /// Window of the purge-by-URL limit (default 60 s).
    pub url_window: Duration,
    /// Accepted purge-by-pattern requests per resource per `pattern_window` (default 1).
    pub pattern_requests: u32,
    /// Window of the purge-by-pattern limit (default 60 s).
    pub pattern_window: Duration,
    /// Accepted purge-all requests per resource per `all_window` (default 1).
    pub all_requests: u32,
    /// Window of the purge-all limit (default 60 s).
    pub all_window: Duration,
    /// Most URLs in one purge-by-URL request (default 100).
    pub max_urls: usize,
    /// Most patterns in one purge-by-pattern request (default 10).
    pub max_patterns: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            url_requests: 2,
            url_window: Duration::from_secs(60),
            pattern_requests: 1,
            pattern_window: Duration::from_secs(60),
            all_requests: 1,
            all_window: Duration::from_secs(60),
            max_urls: 100,
            max_patterns: 10,
        }
    }
}

impl Limits {
    /// Limits that never reject a purge for its rate (benchmarks): `u32::MAX` requests per window.
    pub fn unlimited_rate() -> Self {
        Limits {
            url_requests: u32::MAX,
            pattern_requests: u32::MAX,
            all_requests: u32::MAX,
            ..Limits::default()
        }
    }
}

/// Whether and how a `429` answer carries a `Retry-After` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfterMode {
    /// No `Retry-After`: what the provider documents (the default).
    #[default]
    None,
    /// `Retry-After: <seconds>`: seconds until the window admits a request, rounded up, at least 1.
    Seconds,
    /// `Retry-After: <HTTP-date>`: the moment the window admits a request, rounded up to a second.
    HttpDate,
}

impl std::str::FromStr for RetryAfterMode {
    type Err = String;

    /// `none`, `seconds` or `date` (also `http-date`), case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(RetryAfterMode::None),
            "seconds" => Ok(RetryAfterMode::Seconds),
            "date" | "http-date" | "httpdate" => Ok(RetryAfterMode::HttpDate),
            _ => Err(format!(
                "unknown Retry-After mode {s:?}: expected none, seconds or date"
            )),
        }
    }
}

/// Why a `DELETE` of an inactive resource is refused. Each maps to the provider's example
/// text (see [`messages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Primary resource of the common cache feature.
    Primary,
    /// Integrated with the Streaming service.
    Streaming,
    /// Has a custom configuration.
    Custom,
}

impl Refusal {
    /// The `errors` text of the `400` answer.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Primary => messages::PRIMARY_RESOURCE,
            Refusal::Streaming => messages::STREAMING_RESOURCE,
            Refusal::Custom => messages::CUSTOM_RESOURCE,
        }
    }

    /// Lower-case name used by the control API: `primary`, `streaming`, `custom`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Primary => "primary",
            Refusal::Streaming => "streaming",
            Refusal::Custom => "custom",
        }
    }

    /// Parses [`Refusal::as_str`]'s names (case-insensitively).
    pub fn parse(s: &str) -> Option<Refusal> {
        [Refusal::Primary, Refusal::Streaming, Refusal::Custom]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// A CDN resource of the emulated account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// Resource id.
    pub id: i64,
    /// `active` attribute; a `DELETE` is refused while it is `true`.
    pub active: bool,
    /// Makes a `DELETE` of the (inactive) resource fail with this reason.
    pub refusal: Option<Refusal>,
}

impl Resource {
    /// An active resource that can be deleted once deactivated.
    pub fn new(id: i64) -> Self {
        Resource {
            id,
            active: true,
            refusal: None,
        }
    }

    /// An inactive resource: a `DELETE` succeeds right away (unless refused).
    pub fn inactive(id: i64) -> Self {
        Resource {
            active: false,
            ..Resource::new(id)
        }
    }

    /// Sets the `active` attribute.
    pub fn active(mut self, active: bool) -> Self {
        self.active = active;
        self
    }

    /// Makes a `DELETE` fail with `refusal`.
    pub fn refusing(mut self, refusal: Refusal) -> Self {
        self.refusal = Some(refusal);
        self
    }
}

/// What a [`Fault`] does to a matching API request.
///
/// The request is always read in full first (and recorded). [`Recorded::status`] is the
/// status sent, or `0` when none is (`Drop`, `Stall`, `Garbage`). Bodies of `Respond`,
/// `Truncate`, `Trickle` and `Chunked` are labelled like `Respond`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status, body and headers instead of handling the request. A
    /// non-empty body without a `Content-Type` header is sent as `application/json` if it
    /// is JSON, else as `text/plain; charset=utf-8`.
    Respond {
        /// Status code.
        status: u16,
        /// Body, sent as is.
        body: String,
        /// Extra headers (e.g. `Retry-After`).
        headers: Vec<(String, String)>,
    },
    /// Wait this long, then handle the request normally. Other connections are served meanwhile.
    Delay(Duration),
    /// Read the request, then close the connection without sending a single byte.
    Drop,
    /// A response cut mid-body: the head with the full `Content-Length`, then only the
    /// first `cut_after` bytes of the body, then the connection is closed.
    Truncate {
        /// Status code.
        status: u16,
        /// The whole body, as announced by `Content-Length`.
        body: String,
        /// How many body bytes are actually sent.
        cut_after: usize,
    },
    /// A slow server: the whole response, head included, one byte every `interval`. The
    /// connection stays usable afterwards.
    Trickle {
        /// Status code.
        status: u16,
        /// Body.
        body: String,
        /// Pause between two bytes.
        interval: Duration,
    },
    /// A stalled server: nothing is ever sent, and the connection stays open until the
    /// client closes it or the emulator stops. Other connections are served meanwhile.
    Stall,
    /// An answer with `Transfer-Encoding: chunked` (no `Content-Length`), in chunks of
    /// `chunk` bytes (at least 1). The connection stays usable afterwards.
    Chunked {
        /// Status code.
        status: u16,
        /// Body.
        body: String,
        /// Bytes per chunk.
        chunk: usize,
    },
    /// A huge answer: `bytes` bytes of `x` (`text/plain`) with a correct `Content-Length`,
    /// generated as they are sent (never held in memory). The writer stops quietly if the
    /// client closes the connection.
    Oversized {
        /// Status code.
        status: u16,
        /// Body length.
        bytes: u64,
    },
    /// Handle the request normally and answer it as usual (nothing says the connection
    /// will close), then close the connection: a client's pooled keep-alive connection
    /// that the server closed while idle.
    CloseAfter,
    /// Send these raw bytes as the whole "response" (e.g. `HELLO\r\n\r\n`, not HTTP),
    /// then close the connection.
    Garbage(Vec<u8>),
}

/// A queued misbehaviour. Faults are checked in the order they were pushed; the first one
/// whose filters match an API request applies to it and uses up one of its `times`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Only requests with this method (case-insensitive); `None` matches any.
    pub method: Option<String>,
    /// Only requests whose path (including the query) starts with this; `None` matches any.
    pub path_prefix: Option<String>,
    /// How many matching requests it applies to (default 1).
    pub times: u32,
    /// What happens to them.
    pub action: FaultAction,
}

impl Fault {
    /// A fault with `action` matching any API request once.
    pub fn new(action: FaultAction) -> Self {
        Fault {
            method: None,
            path_prefix: None,
            times: 1,
            action,
        }
    }

    /// Answers `status` with `body` (labelled JSON if it is JSON, unless a `Content-Type` is added).
    pub fn respond(status: u16, body: impl Into<String>) -> Self {
        Fault::new(FaultAction::Respond {
            status,
            body: body.into(),
            headers: Vec::new(),
        })
    }

    /// Delays the request by `delay`, then handles it normally.
    pub fn delay(delay: Duration) -> Self {
        Fault::new(FaultAction::Delay(delay))
    }

    /// Closes the connection without an answer.
    pub fn drop_connection() -> Self {
        Fault::new(FaultAction::Drop)
    }

    /// Announces `body` in full, sends its first `cut_after` bytes, then closes.
    pub fn truncate(status: u16, body: impl Into<String>, cut_after: usize) -> Self {
        Fault::new(FaultAction::Truncate {
            status,
            body: body.into(),
            cut_after,
        })
    }

    /// Sends the whole answer one byte per `interval`.
    pub fn trickle(status: u16, body: impl Into<String>, interval: Duration) -> Self {
        Fault::new(FaultAction::Trickle {
            status,
            body: body.into(),
            interval,
        })
    }

    /// Never answers; keeps the connection open.
    pub fn stall() -> Self {
        Fault::new(FaultAction::Stall)
    }

    /// Answers with a chunked body, `chunk` bytes per chunk.
    pub fn chunked(status: u16, body: impl Into<String>, chunk: usize) -> Self {
        Fault::new(FaultAction::Chunked {
            status,
            body: body.into(),
            chunk,
        })
    }

    /// Answers with a body of `bytes` bytes.
    pub fn oversized(status: u16, bytes: u64) -> Self {
        Fault::new(FaultAction::Oversized { status, bytes })
    }

    /// Answers normally, then closes the connection.
    pub fn close_after() -> Self {
        Fault::new(FaultAction::CloseAfter)
    }

    /// Sends `bytes` instead of an HTTP response, then closes.
    pub fn garbage(bytes: impl Into<Vec<u8>>) -> Self {
        Fault::new(FaultAction::Garbage(bytes.into()))
    }

    /// Restricts the fault to `method` requests whose path starts with `path_prefix`.
    pub fn on(self, method: &str, path_prefix: &str) -> Self {
        self.method(method).path_prefix(path_prefix)
    }

    /// Restricts the fault to `method` requests.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    /// Restricts the fault to requests whose path (including the query) starts with `prefix`.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_owned());
        self
    }

    /// Applies the fault to `n` matching requests instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Adds a header to a [`FaultAction::Respond`] answer (no effect on other actions).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let FaultAction::Respond { headers, .. } = &mut self.action {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

/// An API request as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Path including the query string.
    pub path: String,
    /// Headers in the order received; names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (lossily decoded as UTF-8).
    pub body: String,
    /// Status answered; `0` while the answer is pending (delay) or if none was sent (drop,
    /// stall, garbage).
    pub status: u16,
}

impl Recorded {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// A running emulator. Dropping it stops the server, closes the connections still open
/// (without writing anything on them) and joins its threads.
pub struct Emulator {
    shared: Arc<state::Shared>,
    server: server::Server,
    https: bool,
}

impl Emulator {
    /// Binds `127.0.0.1:config.port` and starts serving (HTTPS if `config.tls` is set;
    /// an unusable certificate or key is an [`io::ErrorKind::InvalidInput`] error).
    pub fn start(config: Config) -> io::Result<Emulator> {
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let https = tls.is_some();
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(state::Shared::new(config, addr));
        let server = server::Server::start(Arc::clone(&shared), listener, tls)?;
        Ok(Emulator {
            shared,
            server,
            https,
        })
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` in HTTPS mode (the certificate
    /// is for `localhost`).
    pub fn base_url(&self) -> String {
        if self.https {
            format!("https://localhost:{}", self.shared.addr.port())
        } else {
            format!("http://{}", self.shared.addr)
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The accepted API key.
    pub fn api_key(&self) -> &str {
        &self.shared.initial.api_key
    }

    /// Adds or replaces a resource.
    pub fn add_resource(&self, r: Resource) {
        self.shared.state().resources.insert(r.id, r);
    }

    /// Removes a resource; returns it if it existed.
    pub fn remove_resource(&self, id: i64) -> Option<Resource> {
        self.shared.state().resources.remove(&id)
    }

    /// The resource `id`, as the API currently sees it.
    pub fn resource(&self, id: i64) -> Option<Resource> {
        self.shared.state().resources.get(&id).copied()
    }

    /// Queues a fault behind those already queued.
    pub fn push_fault(&self, f: Fault) {
        self.shared.state().faults.push_back(f);
    }

    /// The faults still queued, in the order they are checked (each with the uses it has left).
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.state().faults.iter().cloned().collect()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }

    /// Every API request received (control requests excluded), oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log().records.iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.log().clear();
    }

    /// The current limits.
    pub fn limits(&self) -> Limits {
        self.shared.state().limits.clone()
    }

    /// Replaces the limits. Requests already counted stay in their windows.
    pub fn set_limits(&self, l: Limits) {
        self.shared.state().limits = l;
    }

    /// Changes how `429` answers carry `Retry-After`.
    pub fn set_retry_after(&self, m: RetryAfterMode) {
        self.shared.state().retry_after = m;
    }

    /// Forgets every rate-limit window: the next purge of each type is accepted.
    pub fn clear_rate_limits(&self) {
        self.shared.state().windows.clear();
    }

    /// Back to the state right after start: seed resources only, no faults, no recorded
    /// requests, empty rate windows, limits and `Retry-After` mode from the start [`Config`].
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Logs one line per request (`METHOD path status`) to stderr. Off by default.
    pub fn set_logging(&self, on: bool) {
        self.shared.set_logging(on);
    }

    /// Turns recording of API requests on (the default) or off (long benchmarks).
    pub fn set_recording(&self, on: bool) {
        self.shared.set_recording(on);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.stop();
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

/// Recorded requests with the sequence number of the first one, so that an answer sent
/// after a delay finds its record even if older ones were trimmed meanwhile.
#[derive(Default)]
struct Log {
    records: VecDeque<Recorded>,
    first_seq: u64,
}

impl Log {
    fn push(&mut self, r: Recorded) -> u64 {
        if self.records.len() >= MAX_RECORDED {
            self.records.pop_front();
            self.first_seq += 1;
        }
        self.records.push_back(r);
        self.first_seq + self.records.len() as u64 - 1
    }

    fn set_status(&mut self, seq: u64, status: u16) {
        if let Some(i) = seq.checked_sub(self.first_seq) {
            if let Some(r) = self.records.get_mut(i as usize) {
                r.status = status;
            }
        }
    }

    fn clear(&mut self) {
        self.first_seq += self.records.len() as u64;
        self.records.clear();
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole emulator down with a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
