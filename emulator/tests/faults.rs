//! Faults: respond, delay, drop.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{api, Conn, KEY};
use gcdn_emulator::{Config, Emulator, Fault, FaultAction};
use serde_json::json;

fn start() -> Emulator {
    Emulator::start(Config {
        seed_resources: vec![1, 2],
        ..Config::default()
    })
    .unwrap()
}

#[test]
fn respond_fault_in_order_with_filters_and_times() {
    let emu = start();
    emu.push_fault(
        Fault::respond(503, r#"{"errors": ["busy"]}"#)
            .on("POST", "/cdn/resources/1/purge")
            .times(2)
            .with_header("Retry-After", "1"),
    );
    emu.push_fault(Fault::respond(500, "oops").with_header("Content-Type", "text/html"));
    let mut c = Conn::open(emu.addr());
    let purge = r#"{"urls": ["/a"]}"#;
    // Another resource does not match the first fault but matches the catch-all second one.
    let r = c.api("POST", "/cdn/resources/2/purge", purge);
    assert_eq!(r.status, 500);
    assert_eq!(r.body, "oops");
    assert_eq!(r.header("content-type"), Some("text/html"));
    for _ in 0..2 {
        let r = c.api("POST", "/cdn/resources/1/purge", purge);
        assert_eq!(r.status, 503);
        assert_eq!(r.json(), json!({"errors": ["busy"]}));
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // All used up: normal handling, on the same keep-alive connection.
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", purge).status, 201);
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 503, 503, 201]);
}

#[test]
fn faults_apply_before_auth() {
    let emu = start();
    emu.push_fault(Fault::respond(502, ""));
    emu.push_fault(Fault::respond(502, "<html>bad gateway</html>"));
    let mut c = Conn::open(emu.addr());
    let r = c.request("GET", "/cdn/resources/1", &[], "");
    assert_eq!(r.status, 502);
    assert_eq!(r.body, "");
    assert_eq!(r.header("content-type"), None);
    let r = c.request("GET", "/cdn/resources/1", &[], "");
    assert_eq!(r.body, "<html>bad gateway</html>");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
}

#[test]
fn method_filter_is_case_insensitive() {
    let emu = start();
    emu.push_fault(Fault::respond(418, "").method("get"));
    assert_eq!(
        api(&emu, "DELETE", "/cdn/resources/1", "").status,
        400,
        "active"
    );
    assert_eq!(api(&emu, "GET", "/cdn/resources/1", "").status, 418);
}

#[test]
fn delay_does_not_block_other_connections() {
    let emu = start();
    emu.push_fault(Fault::delay(Duration::from_millis(700)).on("GET", "/cdn/resources/1"));
    let addr = emu.addr();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let slow = s.spawn(move || {
            let r = Conn::open(addr).api("GET", "/cdn/resources/1", "");
            (r.status, t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        // While the delayed request waits, many others are answered at once.
        for _ in 0..20 {
            let t = Instant::now();
            assert_eq!(
                Conn::open(addr).api("GET", "/cdn/resources/2", "").status,
                200
            );
            assert!(t.elapsed() < Duration::from_millis(300));
        }
        let pending = emu.requests().iter().filter(|r| r.status == 0).count();
        assert_eq!(pending, 1, "the delayed request is recorded, unanswered");
        let (status, elapsed) = slow.join().unwrap();
        assert_eq!(status, 200);
        assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    });
    assert_eq!(emu.requests()[0].status, 200);
}

#[test]
fn delayed_request_sees_the_state_after_the_delay() {
    let emu = start();
    emu.push_fault(Fault::delay(Duration::from_millis(300)));
    let addr = emu.addr();
    std::thread::scope(|s| {
        let slow = s.spawn(move || Conn::open(addr).api("GET", "/cdn/resources/1", ""));
        std::thread::sleep(Duration::from_millis(100));
        emu.remove_resource(1);
        assert_eq!(slow.join().unwrap().status, 404);
    });
}

/// The client gets no byte at all: a clean EOF, not a 500 or a truncated answer.
#[test]
fn drop_closes_the_connection_without_a_byte() {
    let emu = start();
    emu.push_fault(Fault::drop_connection().on("POST", "/cdn/resources/1/purge"));
    let mut c = Conn::open(emu.addr());
    let auth = format!("apikey {KEY}");
    c.send_raw(
        "POST",
        "/cdn/resources/1/purge",
        &[("Authorization", &auth)],
        r#"{"urls": ["/a"]}"#,
    );
    let t = Instant::now();
    let rest = c.read_to_eof();
    assert!(rest.is_empty(), "got {:?}", String::from_utf8_lossy(&rest));
    assert!(t.elapsed() < Duration::from_secs(5));

    let recs = emu.requests();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].status, 0);
    assert_eq!(recs[0].body, r#"{"urls": ["/a"]}"#);

    // The server is fine afterwards, and the dropped purge did not count.
    let mut c = Conn::open(emu.addr());
    for _ in 0..2 {
        assert_eq!(
            c.api("POST", "/cdn/resources/1/purge", r#"{"urls": ["/a"]}"#)
                .status,
            201
        );
    }
}

#[test]
fn drop_on_a_keep_alive_connection_after_answers() {
    let emu = start();
    let mut c = Conn::open(emu.addr());
    assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);
    // A second connection, open and idle, must survive.
    let mut other = Conn::open(emu.addr());
    assert_eq!(other.api("GET", "/cdn/resources/2", "").status, 200);
    emu.push_fault(Fault::new(FaultAction::Drop));
    c.send_raw(
        "GET",
        "/cdn/resources/1",
        &[("Authorization", "apikey test-key")],
        "",
    );
    assert!(c.read_to_eof().is_empty());
    assert_eq!(other.api("GET", "/cdn/resources/2", "").status, 200);
}

#[test]
fn drop_with_a_raw_socket() {
    use std::io::Write;
    let emu = start();
    emu.push_fault(Fault::drop_connection());
    let mut s = TcpStream::connect(emu.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /cdn/resources/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    // Ok(0) is EOF; a reset would also mean "closed", but never a byte of answer.
    match s.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "got {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}
