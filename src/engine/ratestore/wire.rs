//! The store's own connection to Redis (cargo feature `rate-store`): the `redis` crate packs
//! the commands, runs the scripts and parses the replies, through [`redis::ConnectionLike`];
//! the bytes go through here, so that a whole operation is bounded, not each read alone.
//!
//! The `redis` crate's sync `Connection` applies its timeout to each read: a hostile server
//! that keeps streaming (an endless bulk string, an endless array) is read, and buffered,
//! without end. Here every operation has a deadline (each read and write waits at most the
//! I/O timeout, and never past the deadline) and a cap on the bytes its replies may hold
//! ([`MAX_REPLY_BYTES`]); past either the connection is broken and the operation fails.
//!
//! A signal never fails an operation: Linux does not restart a socket read or write that has
//! a timeout when a signal handler runs, even one installed with `SA_RESTART` (the call fails
//! with EINTR), so every read, write and flush here is run again, for the time left before
//! the deadline. (Connecting is std's `connect_timeout`, which does the same; the host's name is
//! looked up by the deadline too: `engine/resolve.rs`.)

use std::io::{self, Read, Write};
use std::net::TcpStream;
#[cfg(feature = "rate-store-tls")]
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisResult, Value};

use super::RedisUrl;
use crate::engine::clock::instant_after;
use crate::engine::resolve;

/// The most the replies of one operation may hold, in bytes: ours are a few integers (the
/// script's answer) or a 40-character SHA-1 (SCRIPT LOAD), or a server's error line.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

enum Stream {
    Tcp(TcpStream),
    #[cfg(feature = "rate-store-tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            #[cfg(feature = "rate-store-tls")]
            Stream::Tls(s) => s.get_ref(),
        }
    }

    /// Both timeouts: over TLS a write may read (the handshake) and a read may write.
    fn set_timeouts(&self, wait: Duration) -> io::Result<()> {
        let tcp = self.tcp();
        tcp.set_read_timeout(Some(wait))?;
        tcp.set_write_timeout(Some(wait))
    }
}

/// Why an operation was cut short (for its message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The operation's deadline passed (the server is slow, or keeps streaming).
    Deadline(Duration),
    /// Its replies went past the operation's cap (this many bytes).
    TooLong(usize),
}

/// One connection, with the deadline and byte budget of the operation under way.
pub struct Wire {
    stream: Stream,
    parser: redis::Parser,
    db: i64,
    io_timeout: Duration,
    deadline: Instant,
    budget: Duration,
    read_left: usize,
    /// What `read_left` started at for the operation under way (for its message).
    read_cap: usize,
    open: bool,
    cut: Option<Cut>,
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl Wire {
    /// Connect to `url`'s server, with TLS when the URL says so (`tls`: the client config),
    /// then AUTH and SELECT: all of it within `connect_timeout` (name resolution aside).
    pub fn connect(
        url: &RedisUrl,
        #[cfg(feature = "rate-store-tls")] tls: Option<&Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<Wire, (redis::RedisError, Option<Cut>)> {
        let deadline = instant_after(Instant::now(), connect_timeout);
        let stream = open_stream(
            url,
            #[cfg(feature = "rate-store-tls")]
            tls,
            deadline,
        )
        .map_err(|e| (e, None))?;
        let mut wire = Wire {
            stream,
            parser: redis::Parser::new(),
            db: url.db,
            io_timeout,
            deadline,
            budget: connect_timeout,
            read_left: MAX_REPLY_BYTES,
            read_cap: MAX_REPLY_BYTES,
            open: true,
            cut: None,
        };
        let setup = (|| {
            if let Some(pw) = url.password.as_deref() {
                let mut auth = redis::cmd("AUTH");
                if let Some(user) = &url.username {
                    auth.arg(user);
                }
                auth.arg(pw).query::<()>(&mut wire)?;
            }
            if url.db != 0 {
                redis::cmd("SELECT").arg(url.db).query::<()>(&mut wire)?;
            }
            Ok(())
        })();
        match setup {
            Ok(()) => Ok(wire),
            Err(e) => Err((e, wire.cut)),
        }
    }

    /// Start an operation: it may take `budget` from now and read `max_bytes`
    /// ([`MAX_REPLY_BYTES`] for pacing, more for the coalescing queue's batches).
    pub fn begin_capped(&mut self, budget: Duration, max_bytes: usize) {
        self.deadline = instant_after(Instant::now(), budget);
        self.budget = budget;
        self.read_left = max_bytes;
        self.read_cap = max_bytes;
        self.cut = None;
    }

    /// Why the last operation was cut short, if it was.
    pub fn cut(&self) -> Option<Cut> {
        self.cut
    }

    /// How long the next wait may be, or the error if the deadline passed.
    fn wait_left(&mut self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.cut = Some(Cut::Deadline(self.budget));
            return Err(timed_out("the operation's deadline passed"));
        }
        Ok(left.min(self.io_timeout))
    }

    fn send(&mut self, bytes: &[u8]) -> RedisResult<()> {
        let result = (|| {
            let mut written = 0;
            while written < bytes.len() {
                let wait = self.wait_left()?;
                self.stream.set_timeouts(wait)?;
                let n = match &mut self.stream {
                    Stream::Tcp(s) => s.write(&bytes[written..]),
                    #[cfg(feature = "rate-store-tls")]
                    Stream::Tls(s) => s.write(&bytes[written..]),
                };
                let n = match n {
                    // Nothing was written: again, for the time left.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    n => n?,
                };
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
                written += n;
            }
            // Over TLS the records written above go out here (small: one command).
            loop {
                let wait = self.wait_left()?;
                self.stream.set_timeouts(wait)?;
                match match &mut self.stream {
                    Stream::Tcp(s) => s.flush(),
                    #[cfg(feature = "rate-store-tls")]
                    Stream::Tls(s) => s.flush(),
                } {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    done => return done,
                }
            }
        })();
        result.map_err(|e| {
            self.open = false;
            if is_timeout(&e) && self.deadline <= Instant::now() + Duration::from_millis(1) {
                self.cut.get_or_insert(Cut::Deadline(self.budget));
            }
            e.into()
        })
    }

    fn recv(&mut self) -> RedisResult<Value> {
        let Wire {
            stream,
            parser,
            io_timeout,
            deadline,
            budget,
            read_left,
            read_cap,
            cut,
            ..
        } = self;
        let mut reader = Bounded {
            stream,
            io_timeout: *io_timeout,
            deadline: *deadline,
            budget: *budget,
            left: read_left,
            cap: *read_cap,
            cut,
        };
        let value = parser.parse_value(&mut reader);
        if value.is_err() {
            // The stream is out of step (or dead): never reused.
            self.open = false;
        }
        value
    }
}

/// TCP (and TLS, set up at the first write) to `url`'s host, connected before `deadline`.
fn open_stream(
    url: &RedisUrl,
    #[cfg(feature = "rate-store-tls")] tls: Option<&Arc<rustls::ClientConfig>>,
    deadline: Instant,
) -> RedisResult<Stream> {
    let mut last = None;
    let mut tcp = None;
    for addr in resolve::lookup(&url.host, url.port, deadline, &|| false)? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = Some(timed_out("connect timeout"));
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match (tcp, last) {
        (Some(tcp), _) => tcp,
        (None, Some(e)) => return Err(e.into()),
        (None, None) => return Err(io::Error::other("the host resolves to no address").into()),
    };
    tcp.set_nodelay(true)?;
    Ok(if url.tls {
        #[cfg(feature = "rate-store-tls")]
        {
            let config = tls.ok_or_else(|| io::Error::other("no TLS configuration"))?;
            let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| io::Error::other(format!("TLS server name: {e}")))?;
            let conn =
                rustls::ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        }
        #[cfg(not(feature = "rate-store-tls"))]
        return Err(io::Error::other("rediss:// needs the cargo feature rate-store-tls").into());
    } else {
        Stream::Tcp(tcp)
    })
}

/// The reads of one operation: each waits at most the I/O timeout and never past the
/// deadline, and together they read at most the operation's cap ([`MAX_REPLY_BYTES`] unless
/// [`Wire::begin_capped`] says otherwise).
struct Bounded<'a> {
    stream: &'a mut Stream,
    io_timeout: Duration,
    deadline: Instant,
    budget: Duration,
    left: &'a mut usize,
    cap: usize,
    cut: &'a mut Option<Cut>,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if *self.left == 0 {
            *self.cut = Some(Cut::TooLong(self.cap));
            return Err(io::Error::other(format!(
                "the reply is longer than {} bytes",
                self.cap
            )));
        }
        let max = buf.len().min(*self.left);
        // The I/O timeout counts from the first try: a read resumed after a signal waits
        // for what is left of it (and of the deadline), no more.
        let io_deadline = Instant::now() + self.io_timeout;
        loop {
            let now = Instant::now();
            let left = self.deadline.saturating_duration_since(now);
            if left.is_zero() {
                *self.cut = Some(Cut::Deadline(self.budget));
                return Err(timed_out("the operation's deadline passed"));
            }
            let io_left = io_deadline.saturating_duration_since(now);
            if io_left.is_zero() {
                return Err(timed_out("no answer within the I/O timeout"));
            }
            self.stream.set_timeouts(left.min(io_left))?;
            let n = match &mut *self.stream {
                Stream::Tcp(s) => s.read(&mut buf[..max]),
                #[cfg(feature = "rate-store-tls")]
                Stream::Tls(s) => s.read(&mut buf[..max]),
            };
            match n {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // A wait cut short by the deadline, not by the I/O timeout.
                    if is_timeout(&e) && left < io_left {
                        *self.cut = Some(Cut::Deadline(self.budget));
                    }
                    return Err(e);
                }
                Ok(n) => {
                    *self.left -= n;
                    return Ok(n);
                }
            }
        }
    }
}

impl ConnectionLike for Wire {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.send(cmd)?;
        self.recv()
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.send(cmd)?;
        let mut values = Vec::with_capacity(count);
        for i in 0..offset + count {
            let value = self.recv()?;
            if i >= offset {
                values.push(value);
            }
        }
        Ok(values)
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}
