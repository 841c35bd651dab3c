//! The Redis rate store (src/engine/ratestore.rs) against a real redis-server started here,
//! and against loopback listeners that misbehave (never answer, answer garbage).

#[path = "common/redis_server.rs"]
mod redis_server;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gcdn::engine::pacer::{Go, Pacer};
use gcdn::engine::ratestore::*;
use proptest::prelude::*;
use redis_server::{free_port, RedisServer};

const KEY: &str = "ratestore-api-key-77f1";
const PW: &str = "redis-pw-Zq81x";

fn urls(resource_id: i64) -> PaceKey {
    PaceKey {
        resource_id,
        kind: PaceKind::Urls,
    }
}

fn win(n: u32, ms: u64) -> Window {
    Window {
        requests: n,
        per: Duration::from_millis(ms),
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn at(slot: Slot) -> Duration {
    match slot {
        Slot::At(d) => d,
        Slot::TooFar(d) => panic!("not reserved: too far ({d:?})"),
    }
}

#[test]
fn helper_starts_and_stops_a_real_server() {
    let mut server = RedisServer::start();
    assert!(server.ping());
    assert!(server.raw("CONFIG GET save").contains("save"));
    server.kill();
    assert!(!server.ping(), "killed server still answers");

    let locked = RedisServer::with_password("helper-pw-31");
    assert!(locked.ping());
    assert!(locked.raw("PING").contains("PONG"));
}

#[test]
fn window_rule_n_per_w_plus_margin() {
    let server = RedisServer::start();
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let w = win(2, 400);
    let m = ms(margin(w));
    let big = Duration::from_secs(10);
    // Two at once, then each pair one window (plus margin) after the pair before.
    let slots: Vec<u64> = (0..6)
        .map(|_| ms(at(store.take(urls(1), w, big).unwrap())))
        .collect();
    let step = 400 + m;
    let expect = [0, 0, step, step, 2 * step, 2 * step];
    for (got, want) in slots.iter().zip(expect) {
        // The takes themselves take a few ms of the server's clock.
        assert!(
            *got + 60 >= want && *got <= want,
            "slots {slots:?}, expected about {expect:?}"
        );
    }
    // Another resource, another kind: a schedule of its own.
    assert_eq!(ms(at(store.take(urls(2), w, big).unwrap())), 0);
    let patterns = PaceKey {
        resource_id: 1,
        kind: PaceKind::Patterns,
    };
    assert_eq!(ms(at(store.take(patterns, w, big).unwrap())), 0);
}

#[test]
fn too_far_reserves_nothing() {
    let server = RedisServer::start();
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let w = win(1, 1_000);
    assert_eq!(
        at(store.take(urls(1), w, Duration::ZERO).unwrap()),
        Duration::ZERO
    );
    let Slot::TooFar(d) = store.take(urls(1), w, Duration::from_millis(200)).unwrap() else {
        panic!("a slot 1 s away was reserved under a 200 ms budget");
    };
    assert!(
        d > Duration::from_millis(800) && d <= Duration::from_millis(1_100),
        "{d:?}"
    );
    // The refused take left no trace: the next one gets the same slot, not one after it.
    let next = at(store.take(urls(1), w, Duration::from_secs(5)).unwrap());
    assert!(
        next <= d && next + Duration::from_millis(100) >= d,
        "{next:?} vs {d:?}"
    );
}

#[test]
fn defer_pushes_the_schedule_for_everyone() {
    let server = RedisServer::start();
    let a = RedisStore::new(&server.url(0), KEY).unwrap();
    let b = RedisStore::new(&server.url(0), KEY).unwrap();
    let w = win(2, 300);
    a.defer(urls(5), w, Duration::from_millis(900)).unwrap();
    let d = at(b.take(urls(5), w, Duration::from_secs(5)).unwrap());
    assert!(
        d >= Duration::from_millis(850) && d <= Duration::from_millis(900),
        "{d:?}"
    );
    // A shorter defer later does not pull it back.
    a.defer(urls(5), w, Duration::from_millis(10)).unwrap();
    let d2 = at(b.take(urls(5), w, Duration::from_secs(5)).unwrap());
    assert!(d2 + Duration::from_millis(100) >= d, "{d2:?} < {d:?}");
}

#[test]
fn keys_carry_a_hash_of_the_api_key_and_expire_when_idle() {
    let server = RedisServer::start();
    let store = RedisStore::new(&server.url(3), KEY).unwrap();
    let w = win(1, 500);
    store.take(urls(9), w, Duration::ZERO).unwrap();
    let key = store.redis_key(urls(9));
    assert_eq!(key, format!("gcdn:v1:{}:9:urls", account_hash(KEY)));
    let keys = server.raw("SELECT 3\r\nKEYS *");
    assert!(keys.contains(&key), "{keys}");
    assert!(!keys.contains(KEY), "the API key is in a Redis key: {keys}");
    let pttl = server.raw(&format!("SELECT 3\r\nPTTL {key}"));
    let pttl: i64 = pttl.rsplit(':').next().unwrap().trim().parse().unwrap();
    let bound = 2 * 500 + ms(margin(w)) as i64;
    assert!(pttl > 0 && pttl <= bound, "PTTL {pttl} not in (0, {bound}]");
    std::thread::sleep(Duration::from_millis(bound as u64 + 100));
    assert!(
        !server.raw("SELECT 3\r\nKEYS *").contains(&key),
        "key did not expire"
    );
    // Another API key, another schedule.
    let other = RedisStore::new(&server.url(3), "another-key-0000").unwrap();
    store.take(urls(9), w, Duration::ZERO).unwrap();
    assert_eq!(
        at(other.take(urls(9), w, Duration::ZERO).unwrap()),
        Duration::ZERO
    );
}

#[test]
fn skewed_local_clocks_still_agree() {
    let server = RedisServer::start();
    let ahead = RedisStore::new(&server.url(0), KEY).unwrap();
    let behind = RedisStore::new(&server.url(0), KEY).unwrap();
    ahead.set_local_clock_offset_ms(3_600_000);
    behind.set_local_clock_offset_ms(-3_600_000);
    let w = win(1, 300);
    let step = 300 + ms(margin(w));
    let big = Duration::from_secs(10);
    let started = Instant::now();
    // Each slot lies between (the moment its EVAL went + its wait) and (the moment its answer
    // came + its wait): however slow an EVAL, slot i must be the first slot + i × step.
    let mut got = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { &ahead } else { &behind };
        let before = started.elapsed();
        let d = at(store.take(urls(1), w, big).unwrap());
        got.push((ms(before + d), ms(started.elapsed() + d)));
    }
    // One first slot fits every range (5 ms for the millisecond clocks' rounding).
    let shifted = |i: usize, t: u64| t as i64 - (i as u64 * step) as i64;
    let earliest = got
        .iter()
        .enumerate()
        .map(|(i, r)| shifted(i, r.0))
        .max()
        .unwrap();
    let latest = got
        .iter()
        .enumerate()
        .map(|(i, r)| shifted(i, r.1))
        .min()
        .unwrap();
    assert!(
        earliest <= latest + 5,
        "slots {got:?} (ms from the start) are not {step} ms apart"
    );
    // The offsets were in force: each store saw the server's clock two hours apart.
    let (a, b) = (
        ahead.server_clock_skew_ms().unwrap(),
        behind.server_clock_skew_ms().unwrap(),
    );
    assert!((a + 3_600_000).abs() < 1_000, "{a}");
    assert!((b - 3_600_000).abs() < 1_000, "{b}");
}

#[test]
fn threads_of_two_stores_never_exceed_the_window() {
    let server = RedisServer::start();
    let stores = [
        Arc::new(RedisStore::new(&server.url(0), KEY).unwrap()),
        Arc::new(RedisStore::new(&server.url(0), KEY).unwrap()),
    ];
    let w = win(2, 200);
    let started = Instant::now();
    let times = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = stores[t % 2].clone();
            let times = times.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    let d = at(store.take(urls(1), w, Duration::from_secs(30)).unwrap());
                    times.lock().unwrap().push(started.elapsed() + d);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut times = times.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 24);
    // Any 3 consecutive slots span more than one window: never 3 in 200 ms.
    for three in times.windows(3) {
        assert!(
            three[2] - three[0] >= Duration::from_millis(200),
            "{three:?}"
        );
    }
    // And no time is lost: 24 slots at 2 per (200 ms + margin) end near 11 windows.
    let bound = 11 * (200 + ms(margin(w)));
    let last = ms(*times.last().unwrap());
    assert!(
        last >= bound - 5 && last <= bound + 300,
        "{last} vs {bound}"
    );
}

/// A slot's request that went out late (the other process's slot was reserved meanwhile)
/// moves the next slot: started late and answered, it counts at its answer, and the other
/// store's start waits for that. Then the same on the in-flight lease: a process that
/// started a request and died holds the window until its lease ends, not for ever.
#[test]
fn a_slot_started_late_moves_the_next_one_and_a_lease_ends() {
    let server = RedisServer::start();
    let a = RedisStore::new(&server.url(0), KEY).unwrap();
    let b = RedisStore::new(&server.url(0), KEY).unwrap();
    let w = win(1, 500);
    let span = w.per + margin(w);
    let big = Duration::from_secs(30);
    let (slot, first) = a.take_ticket(urls(1), w, big).unwrap();
    assert_eq!(at(slot), Duration::ZERO);
    let t0 = Instant::now();
    let (slot, second) = b.take_ticket(urls(1), w, big).unwrap();
    let wait = at(slot);
    assert!(
        wait > span - Duration::from_millis(100) && wait <= span,
        "{wait:?}"
    );
    // `first` goes 300 ms late.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        a.start(urls(1), w, first.unwrap(), big, big).unwrap(),
        Go::Now
    );
    a.finish(urls(1), w, first.unwrap()).unwrap();
    let answered = t0.elapsed();
    std::thread::sleep(wait.saturating_sub(t0.elapsed()));
    match b.start(urls(1), w, second.unwrap(), big, big).unwrap() {
        // One span after `first`'s answer (less the time this thread took to ask), and
        // never more than a span from now.
        Go::Later(more) => assert!(
            t0.elapsed() + more >= answered + span - Duration::from_millis(5) && more <= span,
            "{more:?} more, first answered at {answered:?}"
        ),
        other => panic!("{other:?}"),
    }
    // A released slot is free again: `second` gives its slot up, and the next is a span
    // after `first`'s answer.
    b.release(urls(1), w, second.unwrap()).unwrap();
    let (slot, _) = b.take_ticket(urls(1), w, Duration::ZERO).unwrap();
    assert!(matches!(slot, Slot::TooFar(d) if d <= span), "{slot:?}");

    // In flight under a 1 s lease, never finished: counted as now until the lease ends.
    let (_, dead) = a.take_ticket(urls(2), w, big).unwrap();
    let started = Instant::now();
    let lease = Duration::from_secs(1);
    assert_eq!(
        a.start(urls(2), w, dead.unwrap(), big, lease).unwrap(),
        Go::Now
    );
    std::thread::sleep(Duration::from_millis(500));
    let taken = b.take_ticket(urls(2), w, Duration::ZERO).unwrap();
    let asked = started.elapsed();
    match taken {
        // While the lease lasts, the slot in flight counts as now: a whole span to wait.
        (Slot::TooFar(d), None) if asked < lease - Duration::from_millis(100) => {
            assert!(d >= span - Duration::from_millis(100), "{d:?} at {asked:?}")
        }
        (Slot::TooFar(_), None) => {}
        other => panic!("{other:?}"),
    }
    std::thread::sleep(
        (lease + span + Duration::from_millis(50)).saturating_sub(started.elapsed()),
    );
    let (slot, _) = b.take_ticket(urls(2), w, Duration::ZERO).unwrap();
    assert_eq!(slot, Slot::At(Duration::ZERO), "the lease ended");
}

#[cfg(feature = "rate-store-tls")]
#[test]
fn rediss_verifies_the_server_certificate() {
    use gcdn_emulator::testca;
    let (ca, cert, key) = testca::make_ca_and_localhost_cert();
    let server = RedisServer::start_tls(&cert, &key, &ca);
    let url = server.url(0);
    assert!(url.starts_with("rediss://localhost:"));
    // Trusting the test CA: slots as over plain TCP.
    let store = RedisStore::new(&url, KEY)
        .unwrap()
        .with_ca_pem(ca.into_bytes())
        .unwrap();
    assert_eq!(store.describe(), url);
    let w = win(1, 300);
    assert_eq!(
        at(store.take(urls(1), w, Duration::ZERO).unwrap()),
        Duration::ZERO
    );
    assert!(
        at(store.take(urls(1), w, Duration::from_secs(5)).unwrap()) >= Duration::from_millis(250)
    );
    // The bundled roots do not know the test CA: refused, not used in clear.
    let e = RedisStore::new(&url, KEY).unwrap().ping().unwrap_err();
    eprintln!("untrusted: {e}");
    assert!(e.message.starts_with(&format!("rate store {url}")), "{e}");
    // Another CA: refused too.
    let (other_ca, _, _) = testca::make_ca_and_localhost_cert();
    let e = RedisStore::new(&url, KEY)
        .unwrap()
        .with_ca_pem(other_ca.into_bytes())
        .unwrap()
        .ping()
        .unwrap_err();
    eprintln!("other CA: {e}");
    // Plain redis:// to a TLS port: an error, quickly.
    let plain = RedisStore::new(&format!("redis://127.0.0.1:{}/0", server.port), KEY).unwrap();
    let t = Instant::now();
    assert!(plain.take(urls(1), w, Duration::ZERO).is_err());
    assert!(t.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

fn assert_clean(message: &str) {
    for secret in [PW, KEY, "s3cret"] {
        assert!(!message.contains(secret), "secret in message: {message}");
    }
}

#[test]
fn unreachable_store_fails_fast_and_names_itself() {
    let port = free_port();
    let store = RedisStore::new(&format!("redis://:{PW}@127.0.0.1:{port}/0"), KEY).unwrap();
    let t = Instant::now();
    let e = store
        .take(urls(1), win(1, 100), Duration::ZERO)
        .unwrap_err();
    assert!(t.elapsed() < CONNECT_TIMEOUT + Duration::from_millis(200));
    assert!(
        e.message.starts_with(&format!(
            "rate store redis://127.0.0.1:{port}/0: cannot connect"
        )),
        "{e}"
    );
    assert_clean(&e.message);
    // Held off for RETRY_AFTER: the next call fails at once, saying so.
    let t = Instant::now();
    let e = store
        .take(urls(1), win(1, 100), Duration::ZERO)
        .unwrap_err();
    // The message says no connection was tried; the bound only that nothing waited (a
    // connect or a sleep of its own would be CONNECT_TIMEOUT or RETRY_AFTER).
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert!(e.message.contains("not tried again"), "{e}");
    assert_clean(&e.message);
}

#[test]
fn wrong_or_missing_password_is_said_without_the_password() {
    let server = RedisServer::with_password(PW);
    let wrong = format!("redis://:s3cret-nope@127.0.0.1:{}/0", server.port);
    let e = RedisStore::new(&wrong, KEY).unwrap().ping().unwrap_err();
    eprintln!("wrong password: {e}");
    assert!(
        e.message
            .contains("authentication failed: the password in the URL was refused"),
        "{e}"
    );
    assert_clean(&e.message);
    let none = format!("redis://127.0.0.1:{}/0", server.port);
    let e = RedisStore::new(&none, KEY)
        .unwrap()
        .take(urls(1), win(1, 100), Duration::ZERO)
        .unwrap_err();
    assert!(e.message.contains("requires a password"), "{e}");
    let user = format!("redis://nobody:s3cret-nope@127.0.0.1:{}/0", server.port);
    let e = RedisStore::new(&user, KEY).unwrap().ping().unwrap_err();
    assert!(e.message.contains("authentication failed"), "{e}");
    assert_clean(&e.message);
    // The right one works.
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    assert_eq!(
        store.describe(),
        format!("redis://127.0.0.1:{}/0", server.port)
    );
    assert_eq!(
        at(store.take(urls(1), win(1, 100), Duration::ZERO).unwrap()),
        Duration::ZERO
    );
}

/// A listener that accepts and then does `behave` with each connection, until dropped.
struct Hostile {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Hostile {
    fn start(behave: fn(std::net::TcpStream)) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            // Bounded: at most 20 connections, then the thread ends (and the port closes).
            for stream in listener.incoming().take(20).flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || behave(stream));
            }
        });
        Hostile { port, accepted }
    }

    fn store(&self) -> RedisStore {
        RedisStore::new(&format!("redis://:{PW}@127.0.0.1:{}/0", self.port), KEY).unwrap()
    }
}

fn silent(mut s: std::net::TcpStream) {
    // Read what comes, answer nothing, for at most 5 s.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

#[test]
fn a_store_that_never_answers_fails_within_the_timeouts() {
    let hostile = Hostile::start(silent);
    // With a password: AUTH during the connect gets no answer (connect timeout).
    let t = Instant::now();
    let e = hostile
        .store()
        .take(urls(1), win(1, 100), Duration::ZERO)
        .unwrap_err();
    let took = t.elapsed();
    assert!(
        took < CONNECT_TIMEOUT + Duration::from_millis(300),
        "{took:?}"
    );
    eprintln!("silent: {e}");
    assert!(e.message.contains("no answer within"), "{e}");
    assert_clean(&e.message);
    // Without: the connect is quick, the script's answer never comes (I/O timeout).
    let bare = RedisStore::new(&format!("redis://127.0.0.1:{}/0", hostile.port), KEY).unwrap();
    let t = Instant::now();
    let e = bare.take(urls(1), win(1, 100), Duration::ZERO).unwrap_err();
    let took = t.elapsed();
    assert!(
        took >= IO_TIMEOUT && took < IO_TIMEOUT * 2 + Duration::from_millis(200),
        "{took:?}"
    );
    assert!(e.message.contains("no answer within"), "{e}");
    assert!(hostile.accepted.load(Ordering::SeqCst) >= 2);
}

#[test]
fn a_store_that_answers_garbage_is_an_error_not_a_slot() {
    fn junk(mut s: std::net::TcpStream) {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\x00\xff\r\n");
        silent(s);
    }
    fn wrong_shape(mut s: std::net::TcpStream) {
        let mut buf = [0u8; 4096];
        // Answer every read with a well-formed reply of the wrong shape: [7, -5, 1].
        for _ in 0..4 {
            if !matches!(s.read(&mut buf), Ok(n) if n > 0) {
                return;
            }
            let _ = s.write_all(b"*3\r\n:7\r\n:-5\r\n:1\r\n");
        }
    }
    fn huge(mut s: std::net::TcpStream) {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        // Claims a 4 GB bulk string, then stalls.
        let _ = s.write_all(b"$4000000000\r\nabc");
        silent(s);
    }
    for (name, behave) in [
        ("junk", junk as fn(std::net::TcpStream)),
        ("wrong shape", wrong_shape),
        ("huge", huge),
    ] {
        let hostile = Hostile::start(behave);
        let bare = RedisStore::new(&format!("redis://127.0.0.1:{}/0", hostile.port), KEY).unwrap();
        let t = Instant::now();
        let e = bare
            .take(urls(1), win(1, 100), Duration::ZERO)
            .expect_err(name);
        eprintln!("{name}: {e}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{name}: {:?}",
            t.elapsed()
        );
        assert!(
            e.message.starts_with("rate store redis://127.0.0.1:"),
            "{name}: {e}"
        );
        assert_clean(&e.message);
    }
}

/// Bytes the streaming listeners below managed to write (each test its own counter).
static STREAMED_BULK: AtomicUsize = AtomicUsize::new(0);
static STREAMED_ARRAY: AtomicUsize = AtomicUsize::new(0);
static STREAMED_AUTH: AtomicUsize = AtomicUsize::new(0);

/// Read the request, write `head`, then `chunk` again and again as fast as the client takes
/// it (at most 1 GB), counting into `sent`, until the client hangs up.
fn stream(mut s: std::net::TcpStream, head: &[u8], chunk: &[u8], sent: &AtomicUsize) {
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    if s.write_all(head).is_err() {
        return;
    }
    while sent.load(Ordering::SeqCst) < 1 << 30 {
        match s.write(chunk) {
            Ok(n) if n > 0 => {
                sent.fetch_add(n, Ordering::SeqCst);
            }
            _ => return,
        }
    }
}

/// Wait until `sent` stops growing (the client hung up), and return it.
fn settled(sent: &AtomicUsize) -> usize {
    let mut last = sent.load(Ordering::SeqCst);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the client still reads: {last} bytes");
}

#[test]
fn a_store_that_streams_without_end_is_cut_off_within_the_bound() {
    fn bulk(s: std::net::TcpStream) {
        // A 1 GB bulk string, sent as fast as it is read.
        stream(s, b"$1000000000\r\n", &[b'a'; 16 * 1024], &STREAMED_BULK);
    }
    fn array(s: std::net::TcpStream) {
        // An array of 2^31 - 1 integers: each element small, together without end.
        stream(
            s,
            b"*2147483647\r\n",
            &b":1\r\n".repeat(4096),
            &STREAMED_ARRAY,
        );
    }
    fn auth(s: std::net::TcpStream) {
        // The answer to AUTH, during the connect.
        stream(s, b"+", &[b'O'; 16 * 1024], &STREAMED_AUTH);
    }
    let bound = CONNECT_TIMEOUT + IO_TIMEOUT * 2;
    for (name, behave, sent, with_password) in [
        (
            "bulk",
            bulk as fn(std::net::TcpStream),
            &STREAMED_BULK,
            false,
        ),
        ("array", array, &STREAMED_ARRAY, false),
        ("auth", auth, &STREAMED_AUTH, true),
    ] {
        let hostile = Hostile::start(behave);
        let store = if with_password {
            hostile.store()
        } else {
            RedisStore::new(&format!("redis://127.0.0.1:{}/0", hostile.port), KEY).unwrap()
        };
        let t = Instant::now();
        let e = store
            .take(urls(1), win(1, 100), Duration::ZERO)
            .expect_err(name);
        let took = t.elapsed();
        eprintln!("{name}: {e} after {took:?}");
        // Generous slack for a loaded machine; unbounded, it reads for many seconds.
        assert!(
            took < bound + Duration::from_millis(500),
            "{name}: {took:?}"
        );
        assert!(
            e.message
                .contains(&format!("longer than {MAX_REPLY_BYTES} bytes"))
                || e.message.contains("no whole answer within"),
            "{name}: {e}"
        );
        assert_clean(&e.message);
        // The connection is closed: the listener stops, having sent little more than the
        // cap plus what the sockets' buffers hold (a few MB on loopback), not a gigabyte.
        let total = settled(sent);
        assert!(total < 32 << 20, "{name}: the server sent {total} bytes");
        // And the store is held off, not stuck.
        let e = store
            .take(urls(1), win(1, 100), Duration::ZERO)
            .unwrap_err();
        assert!(e.message.contains("not tried again"), "{name}: {e}");
    }
}

#[test]
fn a_store_that_answers_drop_by_drop_meets_the_whole_operation_deadline() {
    fn drip(mut s: std::net::TcpStream) {
        // A never-ending array, one small element every 50 ms: each read is answered well
        // within the I/O timeout, the whole answer never comes.
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        if s.write_all(b"*1000000\r\n").is_err() {
            return;
        }
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until && s.write_all(b":1\r\n").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let hostile = Hostile::start(drip);
    let bare = RedisStore::new(&format!("redis://127.0.0.1:{}/0", hostile.port), KEY).unwrap();
    let t = Instant::now();
    let e = bare.take(urls(1), win(1, 100), Duration::ZERO).unwrap_err();
    let took = t.elapsed();
    eprintln!("drip: {e} after {took:?}");
    assert!(took >= IO_TIMEOUT * 2, "{took:?}");
    assert!(
        took < CONNECT_TIMEOUT + IO_TIMEOUT * 2 + Duration::from_millis(500),
        "{took:?}"
    );
    assert!(
        e.message.contains(&format!(
            "no whole answer within {} ms",
            (IO_TIMEOUT * 2).as_millis()
        )),
        "{e}"
    );
}

#[test]
fn a_store_that_comes_back_is_used_again() {
    let mut server = RedisServer::start();
    let port = server.port;
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let w = win(1, 300);
    assert_eq!(
        at(store.take(urls(1), w, Duration::ZERO).unwrap()),
        Duration::ZERO
    );
    server.kill();
    assert!(store.take(urls(1), w, Duration::from_secs(5)).is_err());
    let _back = RedisServer::start_on(port, None);
    std::thread::sleep(RETRY_AFTER + Duration::from_millis(50));
    // A fresh server: an empty schedule, reached through a new connection.
    assert_eq!(
        at(store.take(urls(1), w, Duration::ZERO).unwrap()),
        Duration::ZERO
    );
    assert!(
        at(store.take(urls(1), w, Duration::from_secs(5)).unwrap()) >= Duration::from_millis(250)
    );
}

// ---------------------------------------------------------------------------------------
// Fallback, through the client's pacer (src/engine/pacer.rs)
// ---------------------------------------------------------------------------------------

#[test]
fn the_pacer_falls_back_to_its_own_history_and_says_why() {
    let port = free_port();
    let redis: Arc<dyn SlotStore> =
        Arc::new(RedisStore::new(&format!("redis://:{PW}@127.0.0.1:{port}/0"), KEY).unwrap());
    let pacer = Pacer::with_store(redis);
    let w = win(1, 10_000);
    let (slot, fb) = pacer.take(urls(1), w, Duration::ZERO);
    assert_eq!(slot, Slot::At(Duration::ZERO));
    let fb = fb.expect("a fallback");
    assert_eq!(fb.store, format!("redis://127.0.0.1:{port}/0"));
    assert!(
        fb.error.message.contains("cannot connect"),
        "{:?}",
        fb.error
    );
    assert_clean(&fb.error.message);
    // The local history holds: the next slot is a window away.
    let (slot, fb) = pacer.take(urls(1), w, Duration::ZERO);
    assert!(matches!(slot, Slot::TooFar(_)), "{slot:?}");
    assert!(fb.is_some());
    assert!(pacer.defer(urls(1), w, Duration::from_millis(5)).is_some());
}

#[test]
fn a_fail_closed_pacer_refuses_and_recovers() {
    let mut server = RedisServer::with_password(PW);
    let port = server.port;
    let redis: Arc<dyn SlotStore> = Arc::new(RedisStore::new(&server.url(0), KEY).unwrap());
    let pacer = Pacer::with_store_fail_closed(redis);
    let w = win(1, 100);
    assert!(pacer.take_or_refuse(urls(1), w, Duration::ZERO).is_ok());
    server.kill();
    let fb = pacer
        .take_or_refuse(urls(1), w, Duration::from_secs(1))
        .unwrap_err();
    assert!(
        fb.error
            .message
            .starts_with(&format!("rate store redis://127.0.0.1:{port}/0")),
        "{:?}",
        fb.error
    );
    assert_clean(&fb.error.message);
    let _back = RedisServer::start_on(port, Some(PW));
    std::thread::sleep(RETRY_AFTER + Duration::from_millis(50));
    let (slot, fb) = pacer.take_or_refuse(urls(1), w, Duration::ZERO).unwrap();
    assert_eq!((slot, fb), (Slot::At(Duration::ZERO), None));
}

// ---------------------------------------------------------------------------------------
// Properties of what is parsed by hand: the store URL and the script's reply
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)))]

    #[test]
    fn url_parsing_never_panics_nor_echoes_the_password(
        scheme in prop_oneof![Just("redis".to_owned()), Just("REDIS".to_owned()), Just("rediss".to_owned()), "[a-z]{0,6}"],
        user in "[a-z%0-9]{0,6}",
        host in prop_oneof!["[a-z0-9.-]{0,12}", Just("[::1]".to_owned()), any::<String>()],
        port in prop_oneof![Just(String::new()), "[0-9]{1,6}".prop_map(|p| format!(":{p}")), ":[a-z]{0,3}"],
        path in prop_oneof![Just(String::new()), "/[0-9]{0,8}", "/[ -~]{0,8}", any::<String>()],
        // Unescaped `/?#@`, spaces and control characters included: none may show.
        pw in prop_oneof![Just("Pw-9f/8e?7d#6c@x".to_owned()), "Pw[ -~\t\r\n@/?#]{4,16}"],
    ) {
        let pw = pw.as_str();
        let url = format!("{scheme}://{user}:{pw}@{host}{port}{path}");
        match RedisUrl::parse(&url) {
            Ok(u) => {
                prop_assert!(u.has_password());
                prop_assert!(!u.to_string().contains(pw));
                let debug = format!("{u:?}");
                prop_assert!(!debug.contains(pw));
                prop_assert!(u.port > 0);
            }
            Err(e) => prop_assert!(!e.message.contains(pw), "{}", e.message),
        }
    }

    #[test]
    fn any_reply_is_a_checked_slot_or_an_error(reply in proptest::collection::vec(any::<i64>(), 0..6)) {
        match slot_of_reply(&reply) {
            Ok((slot, now)) => {
                prop_assert_eq!(reply.len(), 3);
                prop_assert!(now > 0);
                let d = match slot { Slot::At(d) | Slot::TooFar(d) => d };
                prop_assert!(d <= Duration::from_secs(30 * 86_400));
                prop_assert_eq!(matches!(slot, Slot::At(_)), reply[0] == 1);
            }
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }
}

proptest! {
    // Each case is a connection to a listener of its own: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)))]

    /// Whatever bytes a server answers with (then hanging up), a take is a checked slot or
    /// a clean error, within the bound; never a panic.
    #[test]
    fn any_bytes_from_the_server_are_a_slot_or_an_error(
        answer in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            (0i64..3, -2i64..100_000, -2i64..2_000_000_000_000i64).prop_map(|(a, b, c)| {
                format!("*3\r\n:{a}\r\n:{b}\r\n:{c}\r\n").into_bytes()
            }),
        ],
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = answer.clone();
        let server = std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(&sent);
            }
        });
        let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/0"), KEY).unwrap();
        let t = Instant::now();
        let r = store.take(urls(1), win(1, 100), Duration::from_secs(1));
        prop_assert!(t.elapsed() < CONNECT_TIMEOUT + IO_TIMEOUT * 2 + Duration::from_millis(500));
        server.join().unwrap();
        match r {
            Ok(slot) => {
                let d = match slot { Slot::At(d) | Slot::TooFar(d) => d };
                prop_assert!(d <= Duration::from_secs(30 * 86_400));
            }
            Err(e) => prop_assert!(e.message.starts_with(&format!("rate store redis://127.0.0.1:{port}/0: ")), "{}", e.message),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The C ABI setters
// ---------------------------------------------------------------------------------------

mod c_abi {
    use std::ffi::{c_char, CStr, CString};
    use std::ptr;

    use gcdn::ffi::*;

    fn status_and_message(f: impl FnOnce(*mut *mut c_char) -> i32) -> (i32, Option<String>) {
        let mut err: *mut c_char = ptr::null_mut();
        let status = f(&mut err);
        let message = (!err.is_null()).then(|| {
            let m = unsafe { CStr::from_ptr(err) }.to_str().unwrap().to_owned();
            unsafe { gcdn_string_free(err) };
            m
        });
        assert_eq!(status == GCDN_OK, message.is_none(), "{status} {message:?}");
        (status, message)
    }

    #[test]
    fn set_rate_store_checks_at_once_and_never_echoes_the_password() {
        unsafe {
            let o = gcdn_options_new();
            for good in [
                "redis://127.0.0.1:6379/0",
                "redis://:pw-1234@cache:6380/2",
                "redis://u:p%40w@[::1]",
            ] {
                let u = CString::new(good).unwrap();
                let (s, m) = status_and_message(|e| gcdn_options_set_rate_store(o, u.as_ptr(), e));
                assert_eq!(s, GCDN_OK, "{good}: {m:?}");
            }
            for bad in [
                "",
                "http://:S3cr3tPw@h",
                "redis://:S3cr3tPw@h:0",
                "redis://:S3cr3tPw@h/x",
                "redis://:S3cr3t/Pw@h/0?x=1",
                "redis://S3cr3tPw@h",
            ] {
                let u = CString::new(bad).unwrap();
                let (s, m) = status_and_message(|e| gcdn_options_set_rate_store(o, u.as_ptr(), e));
                assert_eq!(s, GCDN_ERR_INVALID_ARGUMENT, "{bad}");
                let m = m.unwrap();
                assert!(m.contains("rate store URL"), "{bad}: {m}");
                assert!(!m.contains("S3cr3t") && !m.contains("Pw@"), "{bad}: {m}");
            }
            let tls = CString::new("rediss://:S3cr3tPw@h").unwrap();
            let (s, m) = status_and_message(|e| gcdn_options_set_rate_store(o, tls.as_ptr(), e));
            if cfg!(feature = "rate-store-tls") {
                assert_eq!(s, GCDN_OK, "{m:?}");
            } else {
                assert_eq!(s, GCDN_ERR_INVALID_ARGUMENT);
                let m = m.unwrap();
                assert!(m.contains("rate-store-tls") && !m.contains("S3cr3t"), "{m}");
            }
            let (s, _) = status_and_message(|e| gcdn_options_set_rate_store(o, ptr::null(), e));
            assert_eq!(s, GCDN_ERR_INVALID_ARGUMENT);
            let (s, _) = status_and_message(|e| {
                gcdn_options_set_rate_store(ptr::null_mut(), c"redis://h".as_ptr(), e)
            });
            assert_eq!(s, GCDN_ERR_INVALID_ARGUMENT);
            for (v, want) in [
                (0, GCDN_OK),
                (1, GCDN_OK),
                (2, GCDN_ERR_INVALID_ARGUMENT),
                (-1, GCDN_ERR_INVALID_ARGUMENT),
            ] {
                let (s, _) =
                    status_and_message(|e| gcdn_options_set_rate_store_fail_closed(o, v, e));
                assert_eq!(s, want, "{v}");
            }
            gcdn_options_free(o);
        }
    }
}

/// `GCDN_RATE_STORE` when the options set none: checked by `gcdn_client_new`, quoted
/// without its password. (No other test of this binary builds a client, so setting the
/// variable here races with nothing.)
#[test]
fn the_environment_variable_is_checked_by_client_new() {
    use gcdn::engine::{Client, Options};
    std::env::set_var(ENV_RATE_STORE, "redis://:S3cr3t-env@h:0/0");
    let e = Client::new(Some(KEY), &Options::default()).unwrap_err();
    std::env::set_var(ENV_RATE_STORE, "redis://127.0.0.1:1/0");
    let ok = Client::new(Some(KEY), &Options::default());
    std::env::remove_var(ENV_RATE_STORE);
    assert!(e.message.contains("from GCDN_RATE_STORE"), "{e}");
    assert!(!e.message.contains("S3cr3t"), "{e}");
    assert!(
        ok.is_ok(),
        "nothing is sent, nor connected to, by client_new"
    );
}
