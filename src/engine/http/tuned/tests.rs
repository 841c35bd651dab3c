//! The tests of `tuned.rs`.

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
    };
    (t, writes, probes)
}

#[test]
fn a_connection_holding_output_is_never_reused() {
    let (mut t, _, probes) = wire();
    let probes = || probes.load(std::sync::atomic::Ordering::Relaxed);
    send(&mut t, b"DELETE /1 HTTP/1.1\r\n\r\n");
    t.await_input(NextTimeout::default()).unwrap();
    // Nothing held: the socket is asked, every time.
    assert!(t.is_open());
    assert!(t.is_open());
    assert_eq!(probes(), 2);
    // A head held (a request cut short before its body): never reused.
    send(&mut t, b"POST /2 HTTP/1.1\r\n\r\n");
    assert!(!t.is_open());
    // A connection whose peer closed is found out.
    t.inner = Box::new(Closed(ureq::unversioned::transport::LazyBuffers::new(
        64, 64,
    )));
    send(&mut t, b"{}");
    t.await_input(NextTimeout::default()).unwrap();
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

#[test]
fn socket_timeouts_stay_put_while_the_budget_barely_moves() {
    let s = Duration::from_secs(30);
    let us = Duration::from_micros;
    let first = steady(None, s - us(40));
    assert_eq!(first, s - us(40) - MAX_SLACK);
    // The next requests' budgets, microseconds apart either way: the same value again.
    for left in [s - us(35), s - us(90), s, s - MAX_SLACK + us(1)] {
        assert_eq!(steady(Some(first), left), first, "{left:?}");
    }
    // Never longer than the time left: a shorter budget gets a new value.
    let short = first - us(1);
    let g = steady(Some(first), short);
    assert!(g <= short && short - g <= MAX_SLACK, "{g:?}");
    // Nor far shorter: a much longer budget gets a new value too.
    let g = steady(Some(g), Duration::from_secs(60));
    assert_eq!(g, Duration::from_secs(60) - MAX_SLACK);
    // Small budgets: the slack is a 64th of them.
    assert_eq!(
        steady(Some(g), Duration::from_millis(64)),
        Duration::from_millis(63)
    );
}

/// Runs `resumed` on a scripted socket call: each outcome in turn, the timeouts it was
/// given recorded, `sleep` slept per call (the socket's wait).
fn scripted(
    budget: Option<Duration>,
    applied: &mut Option<Duration>,
    outcomes: Vec<std::io::Result<usize>>,
    sleep: Duration,
) -> (std::io::Result<usize>, Vec<Option<Duration>>, usize) {
    let mut set = Vec::new();
    let mut outcomes = outcomes.into_iter();
    let mut calls = 0;
    let r = resumed(
        Instant::now(),
        budget,
        applied,
        |t| {
            set.push(t);
            Ok(())
        },
        || {
            calls += 1;
            std::thread::sleep(sleep);
            outcomes.next().expect("no more calls scripted")
        },
    );
    (r, set, calls)
}

fn interrupted() -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Interrupted.into())
}

#[test]
fn a_call_interrupted_by_a_signal_is_resumed_for_the_time_left() {
    let s = Duration::from_secs(5);
    let mut applied = None;
    let (r, set, calls) = scripted(
        Some(s),
        &mut applied,
        vec![interrupted(), interrupted(), Ok(3)],
        Duration::from_millis(1),
    );
    assert_eq!(r.unwrap(), 3);
    assert_eq!(calls, 3);
    // Set once: the time left 2 ms later is still within the slack of it.
    assert_eq!(set.len(), 1, "{set:?}");
    let first = set[0].unwrap();
    assert!(
        first <= s - MAX_SLACK && first > s - MAX_SLACK - Duration::from_millis(5),
        "{first:?}"
    );
    // A short budget: the timeout set again, shorter, for what is left.
    let mut applied = None;
    let budget = Duration::from_millis(64);
    let (r, set, _) = scripted(
        Some(budget),
        &mut applied,
        vec![interrupted(), Ok(1)],
        Duration::from_millis(30),
    );
    assert_eq!(r.unwrap(), 1);
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(
        set[1].unwrap() <= budget - Duration::from_millis(30),
        "{set:?}"
    );
    // Interrupted past the budget: a timeout, not EINTR, and no call after it.
    let mut applied = None;
    let (r, _, calls) = scripted(
        Some(Duration::from_millis(10)),
        &mut applied,
        vec![interrupted(), Ok(1)],
        Duration::from_millis(15),
    );
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(calls, 1);
    // Without a timeout too: a signal never ends the call.
    let (r, set, _) = scripted(
        None,
        &mut applied,
        vec![interrupted(), Ok(2)],
        Duration::ZERO,
    );
    assert_eq!(r.unwrap(), 2);
    assert_eq!(set, [None]);
    // Other errors end it at once.
    let (r, _, calls) = scripted(
        Some(s),
        &mut applied,
        vec![Err(std::io::ErrorKind::ConnectionReset.into()), Ok(1)],
        Duration::ZERO,
    );
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(calls, 1);
}

#[test]
fn a_call_woken_early_by_the_socket_waits_out_exactly_the_rest() {
    let s = Duration::from_secs(5);
    // The socket keeps the timeout of an earlier, slightly shorter budget: it fires
    // first, and the call goes on for the rest of this budget, no more.
    let mut applied = Some(s - MAX_SLACK);
    let timed_out = || Err(std::io::ErrorKind::WouldBlock.into());
    let (r, set, calls) = scripted(
        Some(s + MAX_SLACK),
        &mut applied,
        vec![timed_out(), Ok(4)],
        Duration::ZERO,
    );
    assert_eq!(r.unwrap(), 4);
    assert_eq!(calls, 2);
    assert!(set.is_empty(), "the steady value, already set: {set:?}");
    // Timed out for real: once the budget is spent.
    let mut applied = None;
    let budget = Duration::from_millis(30);
    let (r, _, calls) = scripted(
        Some(budget),
        &mut applied,
        vec![timed_out(), timed_out(), timed_out(), timed_out()],
        Duration::from_millis(12),
    );
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert!((2..=3).contains(&calls), "{calls}");
}

/// The check as a connection goes back to the pool (the first after I/O) is skipped, the
/// one as it comes out (the second) never is: on a real socket, with bytes that came
/// after the response.
#[test]
fn the_check_on_the_way_out_of_the_pool_is_never_skipped() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut t = TcpSocket {
        stream: Arc::new(stream),
        buffers: LazyBuffers::new(1024, 1024),
        read_timeout: None,
        write_timeout: None,
        checked: false,
    };
    let budget = NextTimeout {
        after: ureq::unversioned::transport::time::Duration::Exact(Duration::from_secs(5)),
        ..NextTimeout::default()
    };
    for round in 0..3 {
        t.buffers().output()[..4].copy_from_slice(b"ping");
        t.transmit_output(4, budget).unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        server.write_all(b"pong").unwrap();
        assert!(t.await_input(budget).unwrap());
        let n = t.buffers().input().len();
        t.buffers().input_consume(n);
        // Back to the pool: not asked. Out of it: asked, and quiet.
        assert!(t.is_open(), "round {round}");
        assert!(t.is_open(), "round {round}");
    }
    // Bytes after the last response, then back to the pool and out again: found.
    t.buffers().output()[..4].copy_from_slice(b"ping");
    t.transmit_output(4, budget).unwrap();
    let mut got = [0u8; 4];
    server.read_exact(&mut got).unwrap();
    server.write_all(b"pong").unwrap();
    assert!(t.await_input(budget).unwrap());
    let n = t.buffers().input().len();
    t.buffers().input_consume(n);
    server.write_all(b"late").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    t.is_open();
    assert!(!t.is_open(), "the late bytes were not seen");
}

/// The check before reuse, on real sockets: quiet, bytes waiting, closed.
#[test]
fn the_check_before_reuse_sees_unread_bytes_and_a_close() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    assert!(peek_is_quiet(&client));
    server.write_all(b"H").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while peek_is_quiet(&client) {
        assert!(Instant::now() < deadline, "the byte never showed");
    }
    // Peeked, not read: still there, and still seen.
    assert!(!peek_is_quiet(&client));
    let mut b = [0u8];
    (&client).read_exact(&mut b).unwrap();
    assert!(peek_is_quiet(&client));
    drop(server);
    while peek_is_quiet(&client) {
        assert!(Instant::now() < deadline, "the close never showed");
    }
}
