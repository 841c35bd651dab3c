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
    /// How long the request takes once its slot opened.
    takes: Duration,
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
        // The slot, as Client::deliver takes it: it must be (about) now.
        match self.store.take(self.pace, self.window, SEC).unwrap() {
            Slot::At(d) => std::thread::sleep(d),
            Slot::TooFar(d) => panic!("too far: {d:?}"),
        }
        self.sent
            .lock()
            .unwrap()
            .push(items.iter().map(|s| s.to_string()).collect());
        std::thread::sleep(self.takes);
        match self.fail {
            None => Ok((201, 1, 0)),
            Some(status) => Err(SendFailed {
                status,
                message: "HTTP 503: down".into(),
                nothing_sent: false,
                sender_stopped: false,
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
        takes: Duration::ZERO,
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

/// An integer reply of `raw`.
fn int(server: &RedisServer, command: &str) -> i64 {
    let reply = server.raw(command);
    reply
        .lines()
        .rev()
        .find_map(|l| l.trim().trim_start_matches(':').parse().ok())
        .unwrap_or_else(|| panic!("{command}: {reply:?}"))
}

/// The server's clock (`TIME`), in ms.
fn server_ms(server: &RedisServer) -> i64 {
    let t = server.raw("TIME");
    let n: Vec<i64> = t.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let &[s, us] = n.as_slice() else {
        panic!("TIME answered {t:?}")
    };
    s * 1000 + us / 1000
}

#[test]
fn a_sender_slower_than_its_lease_renews_it_and_nothing_is_sent_twice() {
    // The lease is 300 ms; the first request takes 1.5 s (five leases). The second caller
    // polls all along: without the heartbeat it would lead after one lease, put the claim
    // back and send "/slow" again.
    let server = RedisServer::start();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let lease = Duration::from_millis(300);
    let mut p = part(300);
    p.window.per = Duration::from_millis(100);
    let ends: Vec<Ended> = std::thread::scope(|s| {
        let slow = s.spawn(|| {
            let store = RedisStore::new(&server.url(0), KEY).unwrap();
            let mut r = recorder(&store, &sent);
            r.window = p.window;
            r.takes = lease * 5;
            purge(&store, urls(1), &["/slow"], p, &mut r)
        });
        // The second caller joins once the first request is on its way.
        let until = Instant::now() + Duration::from_secs(10);
        while sent.lock().unwrap().is_empty() {
            assert!(Instant::now() < until, "the first request never went");
            std::thread::sleep(Duration::from_millis(5));
        }
        let began = Instant::now();
        let other = s.spawn(|| {
            let store = RedisStore::new(&server.url(0), KEY).unwrap();
            let mut r = recorder(&store, &sent);
            r.window = p.window;
            purge(&store, urls(1), &["/other"], p, &mut r)
        });
        // While it goes, the claim's lease keeps ending a lease from the server's now.
        std::thread::sleep(lease * 2);
        let store = RedisStore::new(&server.url(0), KEY).unwrap();
        let q = Queue::new(&store, urls(1));
        let claims = server.raw(&format!("ZRANGE {} 0 -1 WITHSCORES", q.key("l")));
        let scores: Vec<i64> = claims
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|&n: &i64| (1_000_000_000_000..100_000_000_000_000).contains(&n))
            .collect();
        let now = server_ms(&server);
        assert_eq!(scores.len(), 1, "{claims}");
        assert!(
            scores[0] > now && scores[0] <= now + 300,
            "lease end {} vs server now {now} after {:?}",
            scores[0],
            began.elapsed()
        );
        [slow.join().unwrap(), other.join().unwrap()]
    })
    .into();
    for e in &ends {
        assert!(matches!(e, Ended::Purged { requests: 1, .. }), "{e:?}");
    }
    assert_eq!(
        *sent.lock().unwrap(),
        vec![vec!["/slow".to_string()], vec!["/other".to_string()]]
    );
}

#[test]
fn a_claim_takes_callers_whole() {
    let server = RedisServer::start();
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let q = Queue::new(&store, urls(3));
    let w = part(0).window;
    let tok = "dddddddddddddddd";
    let a = q.enqueue(&["/a1", "/a2"], SEC * 20).unwrap().unwrap();
    let b = q.enqueue(&["/b1", "/b2"], SEC * 20).unwrap().unwrap();
    let c = q.enqueue(&["/c1"], SEC * 20).unwrap().unwrap();
    let claim = |max: usize| -> Batch {
        assert!(matches!(
            q.lead(tok, w, SEC * 3, SEC * 20, SEC * 10).unwrap(),
            Lead::Go(_)
        ));
        q.claim(tok, max, SEC * 3, SEC * 20).unwrap().unwrap()
    };
    let names = |b: &Batch| -> Vec<String> { b.items.iter().map(|i| i.0.clone()).collect() };
    // Three per request: "b" (two) does not fit beside "a" (two); "c" does.
    let first = claim(3);
    assert_eq!(names(&first), ["/a1", "/a2", "/c1"]);
    assert_eq!(first.callers(), 2);
    assert!(q.publish(tok, &first, &OK, SEC * 20).unwrap());
    let second = claim(3);
    assert_eq!(names(&second), ["/b1", "/b2"]);
    assert!(q.publish(tok, &second, &OK, SEC * 20).unwrap());
    for (t, want) in [
        (&a, vec!["/a1", "/a2"]),
        (&b, vec!["/b1", "/b2"]),
        (&c, vec!["/c1"]),
    ] {
        let (_, got) = q.poll(t, SEC * 20).unwrap();
        assert_eq!(got.len(), 1, "one request carried each caller: {got:?}");
        assert_eq!(got[0].items, want);
    }
    // Callers chained by a shared item go together ("/y" is d's and e's) ...
    q.enqueue(&["/f"], SEC * 20).unwrap().unwrap();
    q.enqueue(&["/x", "/y"], SEC * 20).unwrap().unwrap();
    q.enqueue(&["/y", "/z"], SEC * 20).unwrap().unwrap();
    let chained = claim(3);
    assert_eq!(
        names(&chained),
        ["/f"],
        "the chain of three does not fit beside /f"
    );
    assert!(q.publish(tok, &chained, &OK, SEC * 20).unwrap());
    let chained = claim(3);
    assert_eq!(names(&chained), ["/x", "/y", "/z"]);
    assert!(q.publish(tok, &chained, &OK, SEC * 20).unwrap());
    // ... and a chain longer than a request goes in queue order (split, never stuck).
    q.enqueue(&["/p", "/q"], SEC * 20).unwrap().unwrap();
    q.enqueue(&["/q", "/r"], SEC * 20).unwrap().unwrap();
    assert_eq!(names(&claim(2)), ["/p", "/q"]);
    // The per-ticket lists leave with their tickets (and expire in any case).
    assert!(int(&server, &format!("PTTL {}", q.key("t"))) > 0);
}

/// Leases are decided on the server's clock alone: a claim's lease end is the server's `TIME`
/// plus the lease (the client sends only durations), and a claim whose end the server has
/// passed is put back at once, whatever the claiming process's clock says. So processes whose
/// clocks disagree (hosts apart) agree on leases.
#[test]
fn leases_are_the_servers_clock() {
    let server = RedisServer::start();
    let store = RedisStore::new(&server.url(0), KEY).unwrap();
    let q = Queue::new(&store, urls(4));
    let w = part(0).window;
    let lease = Duration::from_secs(20);
    q.enqueue(&["/t"], SEC * 60).unwrap().unwrap();
    assert!(matches!(
        q.lead("eeeeeeeeeeeeeeee", w, lease, SEC * 60, SEC).unwrap(),
        Lead::Go(_)
    ));
    let before = server_ms(&server);
    let batch = q
        .claim("eeeeeeeeeeeeeeee", 100, lease, SEC * 60)
        .unwrap()
        .unwrap();
    let after = server_ms(&server);
    let end = int(&server, &format!("ZSCORE {} {}", q.key("l"), batch.id));
    assert!(
        (before + 20_000..=after + 20_000).contains(&end),
        "lease end {end} not server TIME + 20 s ({before}..{after})"
    );
    let held = int(&server, &format!("PTTL {}", q.key("s")));
    assert!(
        held > 18_000 && held <= 20_000,
        "the leader's hold: {held} ms"
    );
    // The server's clock passes the lease end (as if it ran ahead of the claimer's): the
    // next lead puts the claim back at once, though 20 s have not passed anywhere else.
    server.raw(&format!("ZADD {} {} {}", q.key("l"), before - 1, batch.id));
    server.raw(&format!("DEL {}", q.key("s")));
    assert!(matches!(
        q.lead("ffffffffffffffff", w, lease, SEC * 60, SEC).unwrap(),
        Lead::Go(_)
    ));
    let again = q
        .claim("ffffffffffffffff", 100, lease, SEC * 60)
        .unwrap()
        .unwrap();
    assert_eq!(again.items[0].0, "/t");
}
