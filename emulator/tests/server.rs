//! The HTTP/1.1 server itself: connections, framing, keep-alive, shutdown.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{Conn, KEY};
use gcdn_emulator::{Config, Emulator, Fault, Limits};

fn start(seed: impl IntoIterator<Item = i64>) -> Emulator {
    Emulator::start(Config {
        seed_resources: seed.into_iter().collect(),
        limits: Limits::unlimited_rate(),
        ..Config::default()
    })
    .unwrap()
}

fn auth() -> String {
    format!("apikey {KEY}")
}

/// Regression: tiny_http's worker pool could leave a freshly accepted keep-alive connection
/// unserved for seconds when several arrived at once. Every connection has its own thread
/// from the moment it is accepted, so every answer comes at once.
#[test]
fn simultaneous_keep_alive_connections_are_all_served_at_once() {
    const THREADS: usize = 16;
    let emu = start(1..=THREADS as i64);
    let addr = emu.addr();
    let barrier = Barrier::new(THREADS);
    for round in 0..5 {
        std::thread::scope(|s| {
            for id in 1..=THREADS {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let t = Instant::now();
                    let mut c = Conn::open(addr);
                    for i in 0..20 {
                        let r = c.api(
                            "POST",
                            &format!("/cdn/resources/{id}/purge"),
                            r#"{"urls": ["/a"]}"#,
                        );
                        assert_eq!(r.status, 201);
                        let took = t.elapsed();
                        assert!(
                            took < Duration::from_secs(1),
                            "round {round}, connection {id}, request {i}: {took:?}"
                        );
                    }
                });
            }
        });
        // One more, on top of 16 idle keep-alive connections just closed by their clients.
        let t = Instant::now();
        assert_eq!(
            Conn::open(addr).api("GET", "/cdn/resources/1", "").status,
            200
        );
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    assert_eq!(emu.requests().len(), 5 * (THREADS * 20 + 1));
}

/// Idle keep-alive connections hold nothing up: with many open, new ones are served at once.
#[test]
fn many_idle_connections_do_not_block_new_ones() {
    let emu = start([1]);
    let mut idle: Vec<Conn> = (0..64).map(|_| Conn::open(emu.addr())).collect();
    for c in &mut idle {
        assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);
    }
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            Conn::open(emu.addr())
                .api("GET", "/cdn/resources/1", "")
                .status,
            200
        );
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // And the idle ones are still usable.
    for c in &mut idle {
        assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);
    }
}

#[test]
fn connection_close_is_honoured() {
    let emu = start([1]);
    let mut c = Conn::open(emu.addr());
    let auth = auth();
    let r = c.request(
        "GET",
        "/cdn/resources/1",
        &[("Authorization", &auth), ("Connection", "close")],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.read_to_eof().is_empty());
}

/// No client speaks HTTP/1.0 or sends chunked request bodies: both are refused, and the
/// connection closed, rather than half supported.
#[test]
fn http10_and_chunked_request_bodies_are_refused() {
    let emu = start([1]);
    for (raw, status) in [
        ("GET /cdn/resources/1 HTTP/1.0\r\n\r\n", 505),
        (
            "POST /cdn/resources/1/purge HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
    ] {
        let mut c = Conn::open(emu.addr());
        c.stream().write_all(raw.as_bytes()).unwrap();
        let r = c.read_response(false);
        assert_eq!(r.status, status, "{raw}");
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.read_to_eof().is_empty());
    }
    assert!(emu.requests().is_empty());
}

#[test]
fn head_has_no_body() {
    let emu = start([1]);
    let mut c = Conn::open(emu.addr());
    let auth = auth();
    let r = c.request("HEAD", "/cdn/resources/1", &[("Authorization", &auth)], "");
    assert_eq!(r.status, 404);
    assert!(r.header("content-length").is_some());
    // The next answer starts right away: no body bytes were sent.
    assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);
}

#[test]
fn no_content_has_no_length() {
    let emu = start([]);
    emu.add_resource(gcdn_emulator::Resource::inactive(4));
    let mut c = Conn::open(emu.addr());
    let r = c.api("DELETE", "/cdn/resources/4", "");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(c.api("GET", "/cdn/resources/4", "").status, 404);
}

#[test]
fn malformed_requests_get_400_and_close() {
    let emu = start([1]);
    for raw in [
        &b"NONSENSE\r\n\r\n"[..],
        b"GET /cdn/resources/1 HTTP/1.1\r\nbad header\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    ] {
        let mut c = Conn::open(emu.addr());
        c.stream().write_all(raw).unwrap();
        let r = c.read_response(false);
        assert_eq!(r.status, 400, "{raw:?}");
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.read_to_eof().is_empty());
    }
    let mut c = Conn::open(emu.addr());
    let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
    huge.resize(70 << 10, b'a');
    c.stream().write_all(&huge).unwrap();
    assert_eq!(c.read_response(false).status, 431);
    assert!(
        emu.requests().is_empty(),
        "malformed requests are not recorded"
    );
}

#[test]
fn a_client_closing_mid_request_is_harmless() {
    let emu = start([1]);
    for raw in [
        &b"GET /cdn/resources/1 HTTP/1.1\r\nHost"[..],
        b"POST /cdn/resources/1/purge HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"urls\"",
    ] {
        let mut s = TcpStream::connect(emu.addr()).unwrap();
        s.write_all(raw).unwrap();
    }
    assert_eq!(
        Conn::open(emu.addr())
            .api("GET", "/cdn/resources/1", "")
            .status,
        200
    );
    assert_eq!(emu.requests().len(), 1);
}

/// Dropping the emulator does not wait for slow faults: it closes their connections.
#[test]
fn drop_is_prompt_whatever_the_connections_are_doing() {
    let emu = start([1]);
    emu.push_fault(Fault::stall());
    emu.push_fault(Fault::delay(Duration::from_secs(60)));
    emu.push_fault(Fault::trickle(200, "x".repeat(100), Duration::from_secs(1)));
    emu.push_fault(Fault::oversized(200, 1 << 40));
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut c = Conn::open(emu.addr());
        c.send_raw("GET", "/cdn/resources/1", &[("Authorization", &auth())], "");
        busy.push(c);
    }
    // Every fault taken before the idle connection asks.
    while emu.requests().len() < 4 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    // An idle keep-alive connection and one that never sent a byte.
    let mut idle = Conn::open(emu.addr());
    assert_eq!(idle.api("GET", "/cdn/resources/1", "").status, 200);
    let silent = Conn::open(emu.addr());
    // Let every fault get going (the oversized one fills the socket buffers).
    while emu.requests().len() < 5 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(idle.read_to_eof().is_empty());
    drop(silent);
    for (i, mut c) in busy.into_iter().enumerate() {
        // Whatever was sent before, the stream ends (the oversized one may end in a reset).
        let t = Instant::now();
        let _ = c.try_read_to_eof();
        assert!(t.elapsed() < Duration::from_secs(5), "connection {i}");
    }
}

#[test]
fn drop_with_nothing_connected_is_prompt() {
    let t = Instant::now();
    for _ in 0..20 {
        drop(start([]));
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
