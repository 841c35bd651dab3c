//! Request intake: worker threads, recording, faults, answering.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{api, control, lock, sock, Config, Fault, FaultAction, Limits, Log, Recorded};
use crate::{Resource, RetryAfterMode};

/// Largest request body read; the rest is ignored.
const MAX_BODY: u64 = 16 << 20;

/// The purge types, each with its own rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PurgeKind {
    Url,
    Pattern,
    All,
}

/// Mutable emulated-account state.
pub(crate) struct State {
    pub resources: HashMap<i64, Resource>,
    pub faults: VecDeque<Fault>,
    /// Acceptance times of the purges in the current window, oldest first.
    pub windows: HashMap<(i64, PurgeKind), VecDeque<Instant>>,
    pub limits: Limits,
    pub retry_after: RetryAfterMode,
}

impl State {
    fn initial(config: &Config) -> State {
        State {
            resources: config
                .seed_resources
                .iter()
                .map(|&id| (id, Resource::new(id)))
                .collect(),
            faults: VecDeque::new(),
            windows: HashMap::new(),
            limits: config.limits.clone(),
            retry_after: config.retry_after,
        }
    }

    /// Takes one use of the first fault matching the request, if any.
    fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let i = self.faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut self.faults[i];
        fault.times -= 1;
        if fault.times == 0 {
            self.faults.remove(i).map(|f| f.action)
        } else {
            Some(fault.action.clone())
        }
    }
}

/// Everything the worker threads share.
pub(crate) struct Shared {
    pub initial: Config,
    pub addr: SocketAddr,
    state: Mutex<State>,
    log: Mutex<Log>,
    logging: AtomicBool,
    logger: OnceLock<SyncSender<String>>,
    recording: AtomicBool,
    shutdown: Mutex<bool>,
    shutdown_cv: Condvar,
    delayed: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub fn new(initial: Config, addr: SocketAddr) -> Shared {
        Shared {
            state: Mutex::new(State::initial(&initial)),
            initial,
            addr,
            log: Mutex::new(Log::default()),
            logging: AtomicBool::new(false),
            logger: OnceLock::new(),
            recording: AtomicBool::new(true),
            shutdown: Mutex::new(false),
            shutdown_cv: Condvar::new(),
            delayed: Mutex::new(Vec::new()),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    pub fn reset(&self) {
        *self.state() = State::initial(&self.initial);
        self.log().clear();
    }

    pub fn set_logging(&self, on: bool) {
        if on {
            self.logger.get_or_init(spawn_logger);
        }
        self.logging.store(on, Ordering::Relaxed);
    }

    /// Logs one line to stderr without ever blocking a worker: the line is handed to the
    /// logger thread, and dropped if it is behind (e.g. stderr is a pipe nobody reads).
    fn log_line(&self, line: impl FnOnce() -> String) {
        if self.logging.load(Ordering::Relaxed) {
            if let Some(tx) = self.logger.get() {
                let _ = tx.try_send(line());
            }
        }
    }

    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    pub fn begin_shutdown(&self) {
        *lock(&self.shutdown) = true;
        self.shutdown_cv.notify_all();
    }

    fn shutting_down(&self) -> bool {
        *lock(&self.shutdown)
    }

    /// Sleeps `d`, or less if the emulator is being dropped.
    fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut down = lock(&self.shutdown);
        while !*down {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            down = self
                .shutdown_cv
                .wait_timeout(down, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub fn take_delayed(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *lock(&self.delayed))
    }
}

/// Starts the thread that writes log lines to stderr. It ends when the emulator is dropped.
fn spawn_logger() -> SyncSender<String> {
    let (tx, rx) = sync_channel::<String>(4096);
    let spawned = std::thread::Builder::new()
        .name("gcdn-emulator-log".into())
        .spawn(move || {
            for line in rx {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("gcdn-emulator: cannot spawn the log thread: {e}");
    }
    tx
}

/// An answer, before it is turned into a tiny_http response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// An answer without a body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A JSON answer.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            body: value.to_string().into_bytes(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        }
    }

    pub fn with_header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.to_owned(), value));
        self
    }
}

/// An incoming request, its body already read.
pub(crate) struct Incoming {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Incoming {
    /// The first header called `name` (which must be lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query string.
    pub fn route(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(p, _)| p)
    }
}

/// Body of a worker thread: answers requests until the emulator is dropped.
pub(crate) fn worker(server: &tiny_http::Server, shared: &std::sync::Arc<Shared>) {
    loop {
        match server.recv() {
            Ok(rq) => serve(shared, rq),
            Err(_) if shared.shutting_down() => return,
            // An accept error: tiny_http's accept thread has stopped; keep serving what is queued.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve(shared: &std::sync::Arc<Shared>, mut rq: tiny_http::Request) {
    let mut raw = Vec::new();
    let _ = rq.as_reader().take(MAX_BODY).read_to_end(&mut raw);
    let body = match String::from_utf8(raw) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let incoming = Incoming {
        method: rq.method().as_str().to_owned(),
        path: rq.url().to_owned(),
        headers: rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect(),
        body,
    };

    if control::is_control(&incoming.path) {
        let reply = control::handle(shared, &incoming);
        finish(shared, rq, &incoming, None, reply);
        return;
    }

    let seq = shared.recording.load(Ordering::Relaxed).then(|| {
        shared.log().push(Recorded {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            headers: incoming.headers.clone(),
            body: incoming.body.clone(),
            status: 0,
        })
    });

    let fault = shared.state().take_fault(&incoming.method, &incoming.path);
    match fault {
        None => {
            let reply = api::handle(shared, &incoming);
            finish(shared, rq, &incoming, seq, reply);
        }
        Some(FaultAction::Respond {
            status,
            body,
            headers,
        }) => {
            let mut reply = Reply {
                status,
                body: body.into_bytes(),
                headers,
            };
            let has_type = reply
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
            if !reply.body.is_empty() && !has_type {
                let is_json = serde_json::from_slice::<serde_json::Value>(&reply.body).is_ok();
                let content_type = if is_json {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                reply
                    .headers
                    .push(("Content-Type".into(), content_type.into()));
            }
            finish(shared, rq, &incoming, seq, reply);
        }
        Some(FaultAction::Delay(d)) => {
            let worker_shared = std::sync::Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name("gcdn-emulator-delay".into())
                .spawn(move || {
                    worker_shared.sleep(d);
                    let reply = api::handle(&worker_shared, &incoming);
                    finish(&worker_shared, rq, &incoming, seq, reply);
                });
            let mut delayed = lock(&shared.delayed);
            delayed.retain(|h| !h.is_finished());
            match spawned {
                Ok(h) => delayed.push(h),
                // Could not spawn: the request (moved into the closure) is dropped, which
                // tiny_http answers with a 500.
                Err(e) => eprintln!("gcdn-emulator: cannot spawn a delay thread: {e}"),
            }
        }
        Some(FaultAction::Drop) => {
            let peer = rq.remote_addr().copied();
            // Taking the writer stops tiny_http from answering (it sends a 500 for a request
            // dropped unanswered); dropping the writer unused writes nothing.
            let writer = rq.into_writer();
            if let Some(peer) = peer {
                sock::shutdown_server_side(shared.addr, Some(peer));
            }
            drop(writer);
            shared.log_line(|| format!("{} {} dropped", incoming.method, incoming.path));
        }
    }
}

/// Sends `reply`, records its status and logs the request.
fn finish(
    shared: &Shared,
    rq: tiny_http::Request,
    incoming: &Incoming,
    seq: Option<u64>,
    reply: Reply,
) {
    let status = reply.status;
    if let Some(seq) = seq {
        shared.log().set_status(seq, status);
    }
    shared.log_line(|| format!("{} {} {}", incoming.method, incoming.path, status));
    let len = reply.body.len();
    let mut response = tiny_http::Response::new(
        tiny_http::StatusCode(status),
        Vec::new(),
        std::io::Cursor::new(reply.body),
        Some(len),
        None,
    );
    for (name, value) in &reply.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    let _ = rq.respond(response);
}
