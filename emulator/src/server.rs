//! The server: an accept loop, one thread per connection (started at once on accept),
//! a request loop on each connection, dispatch of API and control requests, and the faults
//! that misbehave on the wire.
//!
//! Stopping ([`Server::stop`]) sets the shutdown flag, wakes the accept loop with a
//! connection of its own, shuts down (`shutdown(2)`, both ways) every open connection
//! through the clone kept in the [`Registry`], and joins every thread. A connection thread
//! blocked reading, writing or sleeping (a delay, a trickle, a stall) sees that at once.

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::http::{self, Connection, Framing, ReadError};
use crate::state::Shared;
use crate::{api, control, lock, FaultAction, Recorded};

/// An answer, before it is written.
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

    /// A fault's answer: a non-empty body without a `Content-Type` is labelled JSON if it
    /// is JSON, else plain text.
    pub fn labelled(status: u16, body: Vec<u8>, mut headers: Vec<(String, String)>) -> Reply {
        let has_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if !body.is_empty() && !has_type {
            let is_json = serde_json::from_slice::<serde_json::Value>(&body).is_ok();
            let content_type = if is_json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            headers.push(("Content-Type".into(), content_type.into()));
        }
        Reply {
            status,
            body,
            headers,
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

/// The open connections, each by a clone of its socket, so that stopping can close them.
#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, TcpStream>>,
}

impl Registry {
    fn close_all(&self) {
        for sock in lock(&self.conns).values() {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}

/// A connection's place in the [`Registry`]; dropping it closes the socket for good.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let sock = lock(&self.registry.conns).remove(&self.id);
        if let Some(sock) = sock {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}

/// A running server; [`Server::stop`] (or dropping it) stops it.
pub(crate) struct Server {
    shared: Arc<Shared>,
    registry: Arc<Registry>,
    /// The accept loop; it returns the connection threads still to join.
    accept: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl Server {
    /// Serves `listener`, over TLS if `tls` is given.
    pub fn start(
        shared: Arc<Shared>,
        listener: TcpListener,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Server> {
        let registry = Arc::new(Registry::default());
        let (sh, reg) = (Arc::clone(&shared), Arc::clone(&registry));
        let accept = std::thread::Builder::new()
            .name("gcdn-emulator-accept".into())
            .spawn(move || accept_loop(&listener, &sh, &reg, tls.as_ref()))?;
        Ok(Server {
            shared,
            registry,
            accept: Some(accept),
        })
    }

    /// Stops accepting, closes every open connection and joins every thread.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.begin_shutdown();
        // The accept loop checks the flag after each accept: give it one.
        while !accept.is_finished() {
            let _ = TcpStream::connect_timeout(&self.shared.addr, Duration::from_millis(500));
            let waited = Instant::now();
            while !accept.is_finished() && waited.elapsed() < Duration::from_millis(200) {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let threads = accept.join().unwrap_or_default();
        // Every connection was registered before the accept loop ended.
        self.registry.close_all();
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
    shared: &Arc<Shared>,
    registry: &Arc<Registry>,
    tls: Option<&Arc<ServerConfig>>,
) -> Vec<JoinHandle<()>> {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.shutting_down() {
            return threads;
        }
        let sock = match accepted {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted.
                shared.log_line(|| format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let Ok(clone) = sock.try_clone() else {
            continue;
        };
        next_id += 1;
        lock(&registry.conns).insert(next_id, clone);
        let registered = Registered {
            registry: Arc::clone(registry),
            id: next_id,
        };
        let (sh, tls) = (Arc::clone(shared), tls.cloned());
        let spawned = std::thread::Builder::new()
            .name("gcdn-emulator-conn".into())
            .spawn(move || {
                let _registered = registered;
                connection(&sh, sock, tls);
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

fn connection(shared: &Shared, sock: TcpStream, tls: Option<Arc<ServerConfig>>) {
    match tls {
        None => serve(shared, sock),
        // The handshake happens on the first read.
        Some(config) => match ServerConnection::new(config) {
            Ok(conn) => serve(shared, StreamOwned::new(conn, sock)),
            Err(e) => shared.log_line(|| format!("TLS: {e}")),
        },
    }
}

/// What happens to the connection after a request.
enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close it cleanly.
    Close,
    /// Close it at once.
    Abort,
}

/// One connection: its buffered reader (the stream itself, for writing, inside) and a
/// buffer for building responses, so that each is a single write.
struct Conn<S> {
    io: BufReader<S>,
    out: Vec<u8>,
}

impl<S: Transport> Conn<S> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let w = self.io.get_mut();
        w.write_all(bytes)?;
        w.flush()
    }

    /// Writes `reply` in one go (without the body for `HEAD`).
    fn reply(&mut self, reply: &Reply, head: bool, connection: Connection) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let has_body = http::status_has_body(reply.status);
        let framing = if has_body {
            Framing::Length(reply.body.len() as u64)
        } else {
            Framing::NoBody
        };
        http::write_head(&mut out, reply.status, &reply.headers, framing, connection);
        if has_body && !head {
            out.extend_from_slice(&reply.body);
        }
        let sent = self.send(&out);
        self.out = out;
        sent
    }

    /// Reads and discards until the peer closes or the emulator stops.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.io.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

fn serve<S: Transport>(shared: &Shared, stream: S) {
    let mut conn = Conn {
        io: BufReader::with_capacity(16 << 10, stream),
        out: Vec::with_capacity(1024),
    };
    loop {
        let next = match http::read_request(&mut conn.io) {
            Ok(_) if shared.shutting_down() => Next::Abort,
            Ok(rq) => handle(shared, &mut conn, rq),
            Err(ReadError::Closed) => Next::Abort,
            Err(ReadError::Bad(status, text)) => {
                let reply = Reply::labelled(status, text.as_bytes().to_vec(), Vec::new());
                match conn.reply(&reply, false, Connection::Close) {
                    Ok(()) => Next::Close,
                    Err(_) => Next::Abort,
                }
            }
        };
        match next {
            Next::KeepAlive => {}
            Next::Close => {
                conn.io.get_mut().finish();
                return;
            }
            Next::Abort => return,
        }
    }
}

/// Answers one request: a control request, or an API request (recorded, then either
/// handled or misbehaved upon by the first matching fault).
fn handle<S: Transport>(shared: &Shared, conn: &mut Conn<S>, rq: http::Request) -> Next {
    let connection = match (rq.keep_alive, rq.http10) {
        (false, _) => Connection::Close,
        (true, true) => Connection::KeepAlive,
        (true, false) => Connection::Default,
    };
    let after = if rq.keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    };
    let head = rq.method == "HEAD";
    let body = match String::from_utf8(rq.body) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let incoming = Incoming {
        method: rq.method,
        path: rq.target,
        headers: rq.headers,
        body,
    };
    // Sends `reply`, then goes on as `then` says.
    let answer =
        |conn: &mut Conn<S>, reply: &Reply, then: Next| match conn.reply(reply, head, connection) {
            Ok(()) => then,
            Err(_) => Next::Abort,
        };

    if control::is_control(&incoming.path) {
        let reply = control::handle(shared, &incoming);
        shared.log_line(|| format!("{} {} {}", incoming.method, incoming.path, reply.status));
        return answer(conn, &reply, after);
    }

    let seq = shared.recording().then(|| {
        shared.log().push(Recorded {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            headers: incoming.headers.clone(),
            body: incoming.body.clone(),
            status: 0,
        })
    });
    // Records the status sent (0: none) and logs the request with `what` happened.
    let sent = |status: u16, what: &str| {
        if let Some(seq) = seq {
            shared.log().set_status(seq, status);
        }
        shared.log_line(|| format!("{} {} {what}", incoming.method, incoming.path));
    };

    let fault = shared.state().take_fault(&incoming.method, &incoming.path);
    let Some(fault) = fault else {
        let reply = api::handle(shared, &incoming);
        sent(reply.status, &reply.status.to_string());
        return answer(conn, &reply, after);
    };
    match fault {
        FaultAction::Respond {
            status,
            body,
            headers,
        } => {
            let reply = Reply::labelled(status, body.into_bytes(), headers);
            sent(status, &status.to_string());
            answer(conn, &reply, after)
        }
        FaultAction::Delay(d) => {
            if !shared.sleep(d) {
                return Next::Abort;
            }
            let reply = api::handle(shared, &incoming);
            sent(reply.status, &reply.status.to_string());
            answer(conn, &reply, after)
        }
        FaultAction::Drop => {
            sent(0, "dropped");
            Next::Abort
        }
        FaultAction::Truncate {
            status,
            body,
            cut_after,
        } => {
            let reply = Reply::labelled(status, body.into_bytes(), Vec::new());
            sent(status, &format!("{status} truncated"));
            let mut out = Vec::new();
            let framing = Framing::Length(reply.body.len() as u64);
            http::write_head(&mut out, status, &reply.headers, framing, connection);
            out.extend_from_slice(&reply.body[..cut_after.min(reply.body.len())]);
            let _ = conn.send(&out);
            Next::Abort
        }
        FaultAction::Trickle {
            status,
            body,
            interval,
        } => {
            let reply = Reply::labelled(status, body.into_bytes(), Vec::new());
            sent(status, &format!("{status} trickled"));
            let mut out = Vec::new();
            let framing = Framing::Length(reply.body.len() as u64);
            http::write_head(&mut out, status, &reply.headers, framing, connection);
            out.extend_from_slice(&reply.body);
            for (i, byte) in out.iter().enumerate() {
                if i > 0 && !shared.sleep(interval) {
                    return Next::Abort;
                }
                if conn.send(std::slice::from_ref(byte)).is_err() {
                    return Next::Abort;
                }
            }
            after
        }
        FaultAction::Stall => {
            sent(0, "stalled");
            conn.drain();
            Next::Abort
        }
        FaultAction::Chunked {
            status,
            body,
            chunk,
        } => {
            let reply = Reply::labelled(status, body.into_bytes(), Vec::new());
            sent(status, &format!("{status} chunked"));
            let mut out = Vec::new();
            http::write_head(
                &mut out,
                status,
                &reply.headers,
                Framing::Chunked,
                connection,
            );
            http::write_chunked(&mut out, &reply.body, chunk);
            match conn.send(&out) {
                Ok(()) => after,
                Err(_) => Next::Abort,
            }
        }
        FaultAction::Oversized { status, bytes } => {
            sent(status, &format!("{status} oversized"));
            let headers = [("Content-Type".into(), "text/plain; charset=utf-8".into())];
            let mut out = Vec::new();
            http::write_head(
                &mut out,
                status,
                &headers,
                Framing::Length(bytes),
                connection,
            );
            // Generated as it is sent: 64 KiB pieces, the head going out with the first.
            const PIECE: u64 = 64 << 10;
            let piece = vec![b'x'; PIECE as usize];
            let first = bytes.min(PIECE) as usize;
            out.extend_from_slice(&piece[..first]);
            let w = conn.io.get_mut();
            if w.write_all(&out).is_err() {
                return Next::Abort;
            }
            let mut left = bytes - first as u64;
            while left > 0 {
                let n = left.min(PIECE) as usize;
                if shared.shutting_down() || w.write_all(&piece[..n]).is_err() {
                    return Next::Abort;
                }
                left -= n as u64;
            }
            match conn.io.get_mut().flush() {
                Ok(()) => after,
                Err(_) => Next::Abort,
            }
        }
        FaultAction::CloseAfter => {
            let reply = api::handle(shared, &incoming);
            sent(reply.status, &format!("{} then closed", reply.status));
            match answer(conn, &reply, Next::Close) {
                Next::Abort => Next::Abort,
                _ => Next::Close,
            }
        }
        FaultAction::Garbage(bytes) => {
            sent(0, "garbage");
            let _ = conn.send(&bytes);
            Next::Abort
        }
    }
}
