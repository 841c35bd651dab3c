//! The façade's public types (start configuration, TLS identity, faults, recorded requests)
//! and the state every connection shares ([`Shared`]: the [model](crate::model)'s account,
//! the queued faults, the recorded requests, the stderr logger). Below `api` and `control`,
//! above `model` and `wire`.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::edgecache::EdgeCache;
use crate::model::{Account, Limits, RetryAfterMode};
use crate::wire::lock;

/// At most this many recorded requests are kept; the oldest are forgotten first. This only
/// bounds memory in long soak runs: no test comes close.
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
    /// How long an accepted purge stays `In progress` (default zero; see
    /// [`Emulator::set_purge_status_delay`](crate::Emulator::set_purge_status_delay)).
    pub purge_status_delay: Duration,
    /// Also serve an edge (plain HTTP on 127.0.0.1, this port; `0`: an ephemeral one; see
    /// [`Emulator::edge_url`](crate::Emulator::edge_url)). Default `None`: no edge.
    pub edge_port: Option<u16>,
}

/// The server's TLS identity for HTTPS mode: a certificate chain (leaf first) and its
/// private key, both PEM. The leaf must be valid for `localhost`, the host name of
/// [`Emulator::base_url`](crate::Emulator::base_url) in HTTPS mode. See the `testca` module
/// (cargo feature `testca`) for throwaway ones.
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
            purge_status_delay: Duration::ZERO,
            edge_port: None,
        }
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
    /// When the whole request had arrived (to check when, and how far apart, requests came).
    pub received: std::time::Instant,
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

/// Recorded requests with the sequence number of the first one, so that an answer sent
/// after a delay finds its record even if older ones were trimmed meanwhile.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) records: VecDeque<Recorded>,
    first_seq: u64,
}

impl Log {
    pub(crate) fn push(&mut self, r: Recorded) -> u64 {
        if self.records.len() >= MAX_RECORDED {
            self.records.pop_front();
            self.first_seq += 1;
        }
        self.records.push_back(r);
        self.first_seq + self.records.len() as u64 - 1
    }

    pub(crate) fn set_status(&mut self, seq: u64, status: u16) {
        if let Some(i) = seq.checked_sub(self.first_seq) {
            if let Some(r) = self.records.get_mut(i as usize) {
                r.status = status;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.first_seq += self.records.len() as u64;
        self.records.clear();
    }
}

/// What the routing shares between connections: the account, the faults, the records.
pub(crate) struct Shared {
    pub(crate) initial: Config,
    pub(crate) base_url: String,
    /// `http://127.0.0.1:PORT` of the edge, when there is one.
    pub(crate) edge_url: Option<String>,
    account: Mutex<Account>,
    /// Always locked after `account` when both are.
    edge: Mutex<EdgeCache>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    log: Mutex<Log>,
    logging: AtomicBool,
    logger: OnceLock<SyncSender<String>>,
    pub(crate) recording: AtomicBool,
}

impl Shared {
    pub(crate) fn new(initial: Config, base_url: String, edge_url: Option<String>) -> Shared {
        Shared {
            account: Mutex::new(Shared::fresh(&initial)),
            initial,
            base_url,
            edge_url,
            edge: Mutex::default(),
            faults: Mutex::default(),
            log: Mutex::default(),
            logging: AtomicBool::new(false),
            logger: OnceLock::new(),
            recording: AtomicBool::new(true),
        }
    }

    fn fresh(c: &Config) -> Account {
        let mut account = Account::new(&c.seed_resources, c.limits.clone(), c.retry_after);
        account.purge_delay = c.purge_status_delay;
        account
    }

    pub(crate) fn account(&self) -> MutexGuard<'_, Account> {
        lock(&self.account)
    }

    /// The edge's cache (lock `account` first when both are needed).
    pub(crate) fn edge(&self) -> MutexGuard<'_, EdgeCache> {
        lock(&self.edge)
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    pub(crate) fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    pub(crate) fn reset(&self) {
        let mut account = self.account();
        *account = Shared::fresh(&self.initial);
        *self.edge() = EdgeCache::default();
        drop(account);
        lock(&self.faults).clear();
        self.log().clear();
    }

    /// Takes one use of the first fault matching the request, if any.
    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut faults[i];
        fault.times -= 1;
        if fault.times == 0 {
            faults.remove(i).map(|f| f.action)
        } else {
            Some(fault.action.clone())
        }
    }

    pub(crate) fn set_logging(&self, on: bool) {
        if on {
            self.logger.get_or_init(spawn_logger);
        }
        self.logging.store(on, Ordering::Relaxed);
    }

    /// Logs one line to stderr without ever blocking a connection thread: the line is
    /// handed to the logger thread, and dropped if it is behind (e.g. stderr is a pipe
    /// nobody reads).
    pub(crate) fn log_line(&self, line: impl FnOnce() -> String) {
        if self.logging.load(Ordering::Relaxed) {
            if let Some(tx) = self.logger.get() {
                let _ = tx.try_send(line());
            }
        }
    }
}

/// Starts the thread that writes log lines to stderr.
fn spawn_logger() -> SyncSender<String> {
    let (tx, rx) = sync_channel::<String>(4096);
    let spawned = std::thread::Builder::new()
        .name("gcdn-emulator-log".into())
        .spawn(move || {
            for line in rx {
                let _ = writeln!(io::stderr().lock(), "{line}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("gcdn-emulator: cannot spawn the log thread: {e}");
    }
    tx
}
