//! The wire layer: an accept loop on `std::net`, a thread per connection (started at once
//! on accept), request heads parsed by `httparse`, answers written by hand so that faults
//! can misbehave on the raw socket. It knows nothing of the API: each request goes to the
//! [`Handler`] it was started with, which says what to send ([`Answer`]).
//!
//! HTTP/1.1 only, as the clients speak it: a head of at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] fields (`431` otherwise), a body framed by `Content-Length` only (a
//! `Transfer-Encoding` is `501`, over [`MAX_BODY`] is `413`), keep-alive unless the request
//! says `Connection: close`. A malformed request gets `400` and the connection is closed.
//!
//! Stopping ([`Server::stop`]) sets the [`Stop`] flag, wakes the accept loop with a
//! connection of its own, shuts down (`shutdown(2)`, both ways) every open connection, and
//! joins every thread. A connection thread blocked reading, writing or sleeping sees that at once.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// Largest request head (request line and header fields).
pub(crate) const MAX_HEAD: usize = 64 << 10;
/// Most header fields in a request.
pub(crate) const MAX_HEADERS: usize = 128;
/// Largest request body.
pub(crate) const MAX_BODY: usize = 16 << 20;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole emulator down with a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request, its body read.
pub(crate) struct Incoming {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// In the order received, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Lossily decoded as UTF-8.
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

    /// The query string (empty if none).
    pub fn query(&self) -> &str {
        self.path.split_once('?').map_or("", |(_, q)| q)
    }
}

/// A body: bytes, or pieces generated as they are sent (never held in memory), with a
/// `Content-Length` if `len` is given, else chunked.
pub(crate) enum Body {
    Bytes(Vec<u8>),
    Stream {
        len: Option<u64>,
        pieces: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    },
}

/// An answer, before it is written.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    /// An answer without a body.
    pub fn empty(status: u16) -> Reply {
        Reply::labelled(status, Vec::new(), Vec::new())
    }

    /// A JSON answer.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        let headers = vec![("Content-Type".into(), "application/json".into())];
        Reply::labelled(status, value.to_string().into_bytes(), headers)
    }

    /// A non-empty body without a `Content-Type` is labelled JSON if it is JSON, else plain text.
    pub fn labelled(status: u16, body: Vec<u8>, mut headers: Vec<(String, String)>) -> Reply {
        let typed = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if !body.is_empty() && !typed {
            let json = serde_json::from_slice::<serde_json::Value>(&body).is_ok();
            let t = if json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            headers.push(("Content-Type".into(), t.into()));
        }
        let body = Body::Bytes(body);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn with_header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.to_owned(), value));
        self
    }

    fn bytes(&self) -> &[u8] {
        match &self.body {
            Body::Bytes(b) => b,
            Body::Stream { .. } => &[],
        }
    }
}

/// What the wire layer does with a request.
pub(crate) enum Answer {
    /// Send it; keep the connection unless the request said `Connection: close`.
    Reply(Reply),
    /// Send it (nothing announcing a close), then close the connection cleanly.
    ReplyThenClose(Reply),
    /// Send the head (full `Content-Length`) and only this many body bytes, then close.
    Truncate(Reply, usize),
    /// Send the whole answer one byte per interval.
    Trickle(Reply, Duration),
    /// Send nothing; read and discard until the client closes or the emulator stops.
    Stall,
    /// Close without a byte.
    Drop,
    /// Send these bytes, then close.
    Raw(Vec<u8>),
}

/// What the wire layer calls for each request.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Decides the answer (it may sleep on `stop`).
    fn handle(&self, rq: Incoming, stop: &Stop) -> Answer;
    /// A line for the request log (accept and TLS errors).
    fn log(&self, line: String);
}

/// The shutdown flag, and sleeps that end when it is set.
#[derive(Default)]
pub(crate) struct Stop {
    flag: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub fn stopping(&self) -> bool {
        *lock(&self.flag)
    }

    fn set(&self) {
        *lock(&self.flag) = true;
        self.wake.notify_all();
    }

    /// Sleeps `d`, or less if the emulator stops meanwhile: returns `false` then.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = lock(&self.flag);
        loop {
            let now = Instant::now();
            if *stopped || now >= deadline {
                return !*stopped;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The open connections, each by a clone of its socket, so that stopping can close them.
type Registry = Mutex<HashMap<u64, TcpStream>>;

/// A connection's place in the registry; dropping it closes the socket for good.
struct Registered(Arc<Registry>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(sock) = lock(&self.0).remove(&self.1) {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}

/// A running server; [`Server::stop`] (or dropping it) stops it.
pub(crate) struct Server {
    addr: std::net::SocketAddr,
    stop: Arc<Stop>,
    registry: Arc<Registry>,
    /// The accept loop; it returns the connection threads still to join.
    accept: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl Server {
    /// Serves `listener` (over TLS if `tls` is given) with `handler`.
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<ServerConfig>>,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(Stop::default());
        let registry = Arc::new(Registry::default());
        let (st, reg) = (Arc::clone(&stop), Arc::clone(&registry));
        let accept = std::thread::Builder::new()
            .name("gcdn-emulator-accept".into())
            .spawn(move || accept_loop(&listener, &st, &reg, &handler, tls.as_ref()))?;
        Ok(Server {
            addr,
            stop,
            registry,
            accept: Some(accept),
        })
    }

    /// Stops accepting, closes every open connection and joins every thread.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.stop.set();
        // The accept loop checks the flag after each accept: give it one.
        while !accept.is_finished() {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
            let waited = Instant::now();
            while !accept.is_finished() && waited.elapsed() < Duration::from_millis(200) {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let threads = accept.join().unwrap_or_default();
        // Every connection was registered before the accept loop ended.
        for sock in lock(&self.registry).values() {
            let _ = sock.shutdown(Shutdown::Both);
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: &TcpListener,
    stop: &Arc<Stop>,
    registry: &Arc<Registry>,
    handler: &Arc<dyn Handler>,
    tls: Option<&Arc<ServerConfig>>,
) -> Vec<JoinHandle<()>> {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    loop {
        let accepted = listener.accept();
        if stop.stopping() {
            return threads;
        }
        let sock = match accepted {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted.
                handler.log(format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let Ok(clone) = sock.try_clone() else {
            continue;
        };
        next_id += 1;
        lock(registry).insert(next_id, clone);
        let registered = Registered(Arc::clone(registry), next_id);
        let (st, h, tls) = (Arc::clone(stop), Arc::clone(handler), tls.cloned());
        let spawned = std::thread::Builder::new()
            .name("gcdn-emulator-conn".into())
            .spawn(move || {
                let _registered = registered;
                match tls.map(ServerConnection::new) {
                    None => serve(&*h, &st, sock),
                    // The handshake happens on the first read.
                    Some(Ok(conn)) => serve(&*h, &st, StreamOwned::new(conn, sock)),
                    Some(Err(e)) => h.log(format!("TLS: {e}")),
                }
            });
        // On failure the closure, and with it the socket and its registration, is dropped.
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => eprintln!("gcdn-emulator: cannot spawn a connection thread: {e}"),
        }
        threads.retain(|t| !t.is_finished());
    }
}

/// A connection's byte stream: plain TCP or TLS over it.
trait Transport: Read + Write {
    /// Ends the stream cleanly before the socket is closed (TLS: `close_notify`).
    fn finish(&mut self) {}
}

impl Transport for TcpStream {}

impl Transport for StreamOwned<ServerConnection, TcpStream> {
    fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// Why no request could be read.
enum ReadError {
    /// The peer closed the connection (between requests or in the middle of one), or it failed.
    Closed,
    /// Answer this status and text, then close the connection.
    Bad(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Closed
    }
}

/// Reads one request; `buf` keeps what was read past it.
fn read_request(io: &mut impl Read, buf: &mut Vec<u8>) -> Result<(Incoming, bool), ReadError> {
    let mut chunk = [0u8; 16 << 10];
    loop {
        if !buf.is_empty() {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut rq = httparse::Request::new(&mut fields);
            match rq.parse(buf) {
                Ok(httparse::Status::Complete(n)) => {
                    if rq.version != Some(1) {
                        return Err(ReadError::Bad(505, "only HTTP/1.1 is supported"));
                    }
                    let headers: Vec<(String, String)> = rq
                        .headers
                        .iter()
                        .map(|h| {
                            let v = String::from_utf8_lossy(h.value).trim().to_owned();
                            (h.name.to_ascii_lowercase(), v)
                        })
                        .collect();
                    let incoming = Incoming {
                        method: rq.method.unwrap_or_default().to_owned(),
                        path: rq.path.unwrap_or_default().to_owned(),
                        headers,
                        body: String::new(),
                    };
                    buf.drain(..n);
                    return read_body(io, buf, incoming);
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                    return Err(ReadError::Bad(431, "request head too large"))
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ReadError::Bad(431, "too many header fields"))
                }
                Err(_) => return Err(ReadError::Bad(400, "malformed request")),
            }
        }
        match io.read(&mut chunk)? {
            0 => return Err(ReadError::Closed),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn read_body(
    io: &mut impl Read,
    buf: &mut Vec<u8>,
    mut rq: Incoming,
) -> Result<(Incoming, bool), ReadError> {
    if rq.header("transfer-encoding").is_some() {
        return Err(ReadError::Bad(
            501,
            "request bodies must have a Content-Length",
        ));
    }
    let mut length = None;
    for (_, v) in rq.headers.iter().filter(|(n, _)| n == "content-length") {
        let n = Some(v)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or(ReadError::Bad(400, "invalid Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(ReadError::Bad(400, "conflicting Content-Length"));
        }
        length = Some(n);
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return Err(ReadError::Bad(413, "request body too large"));
    }
    while buf.len() < length {
        let have = buf.len();
        buf.resize(length, 0);
        match io.read(&mut buf[have..])? {
            0 => return Err(ReadError::Closed),
            n => buf.truncate(have + n),
        }
    }
    rq.body = String::from_utf8_lossy(&buf[..length]).into_owned();
    buf.drain(..length);
    let close = rq
        .header("connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    Ok((rq, !close))
}

fn serve<S: Transport>(handler: &dyn Handler, stop: &Stop, mut io: S) {
    let mut buf = Vec::new();
    loop {
        let (rq, keep_alive) = match read_request(&mut io, &mut buf) {
            Ok(_) if stop.stopping() => return,
            Ok(rq) => rq,
            Err(ReadError::Closed) => return,
            Err(ReadError::Bad(status, text)) => {
                let reply = Reply::labelled(status, text.as_bytes().to_vec(), Vec::new());
                if write_reply(&mut io, stop, reply, false, true).is_ok() {
                    io.finish();
                }
                return;
            }
        };
        let head_only = rq.method == "HEAD";
        let close = !keep_alive;
        let sent = match handler.handle(rq, stop) {
            Answer::Reply(reply) => write_reply(&mut io, stop, reply, head_only, close),
            Answer::ReplyThenClose(reply) => {
                if write_reply(&mut io, stop, reply, head_only, false).is_ok() {
                    io.finish();
                }
                return;
            }
            Answer::Truncate(reply, cut) => {
                let keep = reply.bytes().len().saturating_sub(cut);
                let mut out = Vec::new();
                let _ = write_reply(&mut out, stop, reply, false, close);
                out.truncate(out.len() - keep);
                let _ = io.write_all(&out).and_then(|()| io.flush());
                return;
            }
            Answer::Trickle(reply, interval) => {
                let mut out = Vec::new();
                let _ = write_reply(&mut out, stop, reply, head_only, close);
                let mut sent = Ok(());
                for (i, byte) in out.iter().enumerate() {
                    if i > 0 && !stop.sleep(interval) {
                        return;
                    }
                    sent = io
                        .write_all(std::slice::from_ref(byte))
                        .and_then(|()| io.flush());
                    if sent.is_err() {
                        break;
                    }
                }
                sent
            }
            Answer::Stall => {
                let mut scratch = [0u8; 4096];
                while matches!(io.read(&mut scratch), Ok(n) if n > 0) {}
                return;
            }
            Answer::Drop => return,
            Answer::Raw(bytes) => {
                let _ = io.write_all(&bytes).and_then(|()| io.flush());
                return;
            }
        };
        if sent.is_err() {
            return;
        }
        if close {
            io.finish();
            return;
        }
    }
}

/// Writes `reply`: a byte body in one write, a stream piece by piece.
fn write_reply(
    io: &mut impl Write,
    stop: &Stop,
    reply: Reply,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let status = reply.status;
    // RFC 9110, sections 15.2, 15.3.5, 15.4.5.
    let has_body = !(100..200).contains(&status) && status != 204 && status != 304;
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut out = Vec::with_capacity(256);
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in &reply.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let length = match &reply.body {
        Body::Bytes(b) => Some(b.len() as u64),
        Body::Stream { len, .. } => *len,
    };
    match length {
        _ if !has_body => {}
        Some(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        None => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let body = if has_body && !head_only {
        reply.body
    } else {
        Body::Bytes(Vec::new())
    };
    match body {
        Body::Bytes(b) => {
            out.extend_from_slice(&b);
            io.write_all(&out)?;
        }
        Body::Stream { pieces, .. } => {
            io.write_all(&out)?;
            for piece in pieces.filter(|p| !p.is_empty()) {
                if stop.stopping() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                if length.is_none() {
                    write!(io, "{:x}\r\n", piece.len())?;
                    io.write_all(&piece)?;
                    io.write_all(b"\r\n")?;
                } else {
                    io.write_all(&piece)?;
                }
            }
            if length.is_none() {
                io.write_all(b"0\r\n\r\n")?;
            }
        }
    }
    io.flush()
}
