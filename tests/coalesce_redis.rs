//! The coalescing queue in Redis (src/engine/ratestore/coalesce.rs) against a real
//! redis-server: several callers (threads with stores of their own) queue, one leads and
//! publishes; a leader that dies is replaced after its lease; keys expire; the queue is
//! capped; a restarted Redis; a hostile server's garbage is an error.

#[path = "common/redis_server.rs"]
mod redis_server;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gcdn::engine::ratestore::coalesce::*;
use gcdn::engine::ratestore::*;
use redis_server::RedisServer;

const KEY: &str = "coalesce-api-key-51a0";

fn urls(resource_id: i64) -> PaceKey {
    PaceKey {
        resource_id,
        kind: PaceKind::Urls,
    }
}

fn part(lease_ms: u64) -> Part {
    Part {
        window: Window {
            requests: 1,
            per: Duration::from_millis(300),
        },
        max_items: 100,
        lease: Duration::from_millis(lease_ms),
        ttl: Duration::from_secs(20),
    }
}

const OK: Outcome = Outcome::Ok {
    http_status: 201,
    attempts: 1,
    rate_limited: 0,
    items: 2,
};

const SEC: Duration = Duration::from_secs(1);

/// A caller whose requests are recorded (`sent`), taking slots from the store's pacer as the
/// library's send does; waits are plain sleeps up to a deadline.
struct Recorder<'a> {
    store: &'a RedisStore,
    pace: PaceKey,
    window: Window,
    sent: Arc<Mutex<Vec<Vec<String>>>>,
    until: Instant,
    fail: Option<i32>,
}

impl Caller for Recorder<'_> {
    fn allowance(&self) -> Duration {
        self.until.saturating_duration_since(Instant::now())
    }
    fn wait(&mut self, d: Duration) -> Result<(), Stop> {
        if Instant::now() + d > self.until {
            return Err(Stop {
                status: 9,
                message: "deadline".into(),
            });
        }
        std::thread::sleep(d);
        Ok(())
    }
    fn send(&mut self, items: &[&str]) -> Result<(u16, u32, u32), SendFailed> {
        // The slot, as purge::send takes it: it must be (about) now.
        match self.store.take(self.pace, self.window, SEC).unwrap() {
            Slot::At(d) => std::thread::sleep(d),
            Slot::TooFar(d) => panic!("too far: {d:?}"),
        }
        self.sent
            .lock()
            .unwrap()
            .push(items.iter().map(|s| s.to_string()).collect());
        match self.fail {
            None => Ok((201, 1, 0)),
            Some(status) => Err(SendFailed {
                status,
                message: "HTTP 503: down".into(),
                nothing_sent: false,
            }),
        }
    }
}

fn recorder<'a>(store: &'a RedisStore, sent: &Arc<Mutex<Vec<Vec<String>>>>) -> Recorder<'a> {
    Recorder {
        store,
        pace: urls(1),
        window: part(1000).window,
        sent: sent.clone(),
        until: Instant::now() + Duration::from_secs(30),
        fail: None,
    }
}

#[test]
fn eight_callers_in_a_few_requests_each_told_of_its_own_items() {
    let server = RedisServer::start();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let ends: Vec<Ended> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|c| {
                let url = server.url(0);
                let sent = &sent;
                s.spawn(move || {
                    let store = RedisStore::new(&url, KEY).unwrap();
                    let items: Vec<String> = (0..5).map(|i| format!("/c{c}/{i}")).collect();
                    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
                    purge(
                        &store,
                        urls(1),
                        &refs,
                        part(2000),
                        &mut recorder(&store, sent),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sent = sent.lock().unwrap().clone();
    for e in &ends {
        assert!(matches!(e, Ended::Purged { .. }), "{e:?}");
    }
    // Every item in exactly one request; the first goes alone at once, the rest share.
    let all: Vec<&String> = sent.iter().flatten().collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (40, 40), "{sent:?}");
    assert!(sent.len() <= 3, "{} requests: {sent:?}", sent.len());
    // Nothing left behind but what expires.
    let q = Queue::new(&RedisStore::new(&server.url(0), KEY).unwrap(), urls(1)).key("q");
    assert!(server.raw(&format!("LLEN {q}")).contains(":0"));
}

#[test]
fn a_failed_shared_request_is_each_callers_error_and_nobody_is_told_ok() {
    let server = RedisServer::start();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let q = Queue::new(&store, urls(1));
    // Another caller's items wait in the queue; this one leads and its request fails.
    let other = q.enqueue(&["/o1", "/shared"], SEC * 20).unwrap().unwrap();
    let mut r = recorder(&store, &sent);
    r.fail = Some(5);
    let end = purge(&store, urls(1), &["/mine", "/shared"], part(2000), &mut r);
    let Ended::Failed {
        status,
        callers,
        purged,
        ..
    } = end
    else {
        panic!("{end:?}")
    };
    assert_eq!((status, callers), (5, 2));
    assert!(purged.is_empty());
    // The other caller reads the same failure for its items.
    let (alive, published) = q.poll(&other, SEC * 20).unwrap();
    assert!(alive);
    assert_eq!(published.len(), 1, "{published:?}");
    let mut items = published[0].items.clone();
    items.sort();
    assert_eq!(items, ["/o1", "/shared"]);
    assert!(matches!(
        published[0].outcome,
        Outcome::Failed { status: 5, .. }
    ));
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[test]
fn a_leader_that_dies_after_claiming_is_replaced_after_the_lease() {
    let server = RedisServer::start();
    let a = RedisStore::new(&server.url(0), KEY).unwrap();
    let b = RedisStore::new(&server.url(0), KEY).unwrap();
    let qa = Queue::new(&a, urls(1));
    let w = part(0).window;
    let lease = Duration::from_millis(800);
    let ticket = qa.enqueue(&["/x", "/y"], SEC * 20).unwrap().unwrap();
    assert_eq!(
        qa.lead("aaaaaaaaaaaaaaaa", w, lease, SEC * 20, SEC)
            .unwrap(),
        Lead::Go(Duration::ZERO)
    );
    let batch = qa
        .claim("aaaaaaaaaaaaaaaa", 100, lease, SEC * 20)
        .unwrap()
        .unwrap();
    assert_eq!(batch.items.len(), 2);
    let claimed = Instant::now();
    // "a" dies here (never publishes). "b" waits for the lease, then leads and gets them.
    let qb = Queue::new(&b, urls(1));
    match qb
        .lead("bbbbbbbbbbbbbbbb", w, lease, SEC * 20, SEC)
        .unwrap()
    {
        Lead::Held(d) => assert!(d <= lease, "{d:?}"),
        other => panic!("{other:?}"),
    }
    loop {
        match qb
            .lead("bbbbbbbbbbbbbbbb", w, lease, SEC * 20, SEC * 5)
            .unwrap()
        {
            Lead::Held(_) => std::thread::sleep(Duration::from_millis(20)),
            Lead::Go(_) => break,
            other => panic!("{other:?}"),
        }
        assert!(
            claimed.elapsed() < Duration::from_secs(5),
            "never re-queued"
        );
    }
    assert!(
        claimed.elapsed() + Duration::from_millis(50) >= lease,
        "re-queued before the lease ended: {:?}",
        claimed.elapsed()
    );
    let again = qb
        .claim("bbbbbbbbbbbbbbbb", 100, lease, SEC * 20)
        .unwrap()
        .unwrap();
    let mut items: Vec<&str> = again.items.iter().map(|i| i.0.as_str()).collect();
    items.sort();
    assert_eq!(items, ["/x", "/y"]);
    assert!(qb
        .publish("bbbbbbbbbbbbbbbb", &again, &OK, SEC * 20)
        .unwrap());
    // The dead leader's late error (its claim is gone) tells nobody anything.
    assert!(!qa
        .publish(
            "aaaaaaaaaaaaaaaa",
            &batch,
            &Outcome::Failed {
                status: 5,
                message: "late".into()
            },
            SEC * 20
        )
        .unwrap());
    let (_, got) = qa.poll(&ticket, SEC * 20).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].outcome, OK);
}

#[test]
fn every_key_has_a_ttl_and_the_queue_is_capped() {
    let server = RedisServer::start();
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let q = Queue::new(&store, urls(7));
    let w = part(0).window;
    let t1 = q.enqueue(&["/a", "/b"], SEC * 20).unwrap().unwrap();
    let _t2 = q.enqueue(&["/b"], SEC * 20).unwrap().unwrap();
    assert_eq!(
        q.lead("cccccccccccccccc", w, SEC * 3, SEC * 20, SEC)
            .unwrap(),
        Lead::Go(Duration::ZERO)
    );
    let batch = q
        .claim("cccccccccccccccc", 1, SEC * 3, SEC * 20)
        .unwrap()
        .unwrap();
    assert_eq!(batch.items.len(), 1);
    assert!(q
        .publish("cccccccccccccccc", &batch, &OK, SEC * 20)
        .unwrap());
    let keys = server.raw("KEYS *");
    let ours: Vec<&str> = keys.lines().filter(|l| l.starts_with("gcdn:")).collect();
    assert!(ours.len() >= 4, "{keys}");
    assert!(!keys.contains(KEY), "the API key in a key name: {keys}");
    for k in ours {
        let pttl: i64 = server
            .raw(&format!("PTTL {k}"))
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap();
        assert!(pttl > 0 && pttl <= 23_000, "{k}: PTTL {pttl}");
    }
    // Withdrawn: "/b" still wanted by t2, so it stays; t1's ticket is forgotten.
    let withdrawn = q.withdraw(&t1, &["/a", "/b"]).unwrap();
    assert!(withdrawn.len() <= 1, "{withdrawn:?}");
    // The cap: past MAX_QUEUE pending items an enqueue is refused whole.
    let many: Vec<String> = (0..MAX_QUEUE).map(|i| format!("/m/{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let q_len = || -> usize {
        server
            .raw(&format!("LLEN {}", q.key("q")))
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap()
    };
    let mut refused = 0;
    for chunk in refs.chunks(1000) {
        if q.enqueue(chunk, SEC * 20).unwrap().is_none() {
            refused += 1;
        }
    }
    assert_eq!(refused, 1, "the chunk past the cap, whole");
    let room = MAX_QUEUE - q_len();
    // Items already pending join them (another waiter), the queue does not grow.
    assert!(q.enqueue(&refs[..room], SEC * 20).unwrap().is_some());
    assert_eq!(q_len(), MAX_QUEUE - room);
    let fresh: Vec<String> = (0..room).map(|i| format!("/f/{i}")).collect();
    let fresh: Vec<&str> = fresh.iter().map(String::as_str).collect();
    assert!(q.enqueue(&fresh, SEC * 20).unwrap().is_some());
    assert_eq!(q_len(), MAX_QUEUE);
    assert_eq!(q.enqueue(&["/one-more"], SEC * 20).unwrap(), None);
    assert_eq!(q_len(), MAX_QUEUE);
}

#[test]
fn a_restarted_redis_loses_the_ticket_and_the_caller_queues_again() {
    let mut server = RedisServer::start();
    let port = server.port;
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let q = Queue::new(&store, urls(1));
    let ticket = q.enqueue(&["/r"], SEC * 20).unwrap().unwrap();
    server.kill();
    assert!(q.poll(&ticket, SEC * 20).is_err(), "a dead server answered");
    let _back = RedisServer::start_on(port, None);
    std::thread::sleep(RETRY_AFTER + Duration::from_millis(50));
    let (alive, got) = q.poll(&ticket, SEC * 20).unwrap();
    assert!(!alive && got.is_empty());
    // purge() sees the same and goes through: its items queued again and sent.
    let sent = Arc::new(Mutex::new(Vec::new()));
    let end = purge(
        &store,
        urls(1),
        &["/r"],
        part(2000),
        &mut recorder(&store, &sent),
    );
    assert!(matches!(end, Ended::Purged { .. }), "{end:?}");
    assert_eq!(*sent.lock().unwrap(), vec![vec!["/r".to_string()]]);
}

#[test]
fn garbage_from_a_hostile_server_is_an_error_never_an_item() {
    for reply in [
        &b"*4\r\n$1\r\n1\r\n$2\r\n99\r\n$5\r\nnope!\r\n$16\r\n0123456789abcdef\r\n"[..],
        b"*3\r\n$1\r\n1\r\n$2\r\n99\r\n$2\r\n/a\r\n",
        b"*1\r\n$1\r\n7\r\n",
        b"*4\r\n$1\r\n1\r\n$2\r\n99\r\n$3\r\n/a\x01\r\n$16\r\n0123456789abcdef\r\n",
        b":1\r\n",
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = reply.to_vec();
        std::thread::spawn(move || {
            for s in listener.incoming().take(3) {
                let Ok(mut s) = s else { return };
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf);
                let _ = s.write_all(&reply);
            }
        });
        let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/0"), KEY).unwrap();
        let q = Queue::new(&store, urls(1));
        let r = q.claim("dddddddddddddddd", 100, SEC, SEC * 20);
        let e = r.expect_err("garbage was a batch");
        assert!(e.message.contains("rate store redis://127.0.0.1"), "{e}");
    }
    // A server that streams without end is cut off at the cap, within the timeouts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"*999999999\r\n");
            let chunk = b"$16\r\n0123456789abcdef\r\n".repeat(1000);
            while s.write_all(&chunk).is_ok() {}
        }
    });
    let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/0"), KEY).unwrap();
    let started = Instant::now();
    let e = Queue::new(&store, urls(1))
        .poll(&gcdn_ticket(&store), SEC)
        .unwrap_err();
    assert!(
        started.elapsed() < CONNECT_TIMEOUT + IO_TIMEOUT * 2 + SEC,
        "{e}"
    );
    assert!(
        e.message.contains("longer than") || e.message.contains("no whole answer"),
        "{e}"
    );
}

/// A ticket to poll with (enqueue fails on a hostile server, so one made on a real one).
fn gcdn_ticket(_store: &RedisStore) -> Ticket {
    let server = RedisServer::start();
    let real = RedisStore::new(&server.url(0), KEY).unwrap();
    Queue::new(&real, urls(99))
        .enqueue(&["/t"], SEC)
        .unwrap()
        .unwrap()
}
