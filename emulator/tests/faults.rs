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

fn send_get(c: &mut Conn, path: &str) {
    let auth = format!("apikey {KEY}");
    c.send_raw("GET", path, &[("Authorization", &auth)], "");
}

/// Splits a raw response into its head (each line ending in CRLF, without the blank line)
/// and what follows.
fn split_head(raw: &[u8]) -> (String, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    (
        String::from_utf8(raw[..end + 2].to_vec()).unwrap(),
        raw[end + 4..].to_vec(),
    )
}

#[test]
fn truncate_announces_the_full_body_then_closes() {
    let emu = start();
    let body = r#"{"errors": ["cut short"]}"#;
    emu.push_fault(Fault::truncate(400, body, 5).on("GET", "/cdn/resources/1"));
    let mut c = Conn::open(emu.addr());
    send_get(&mut c, "/cdn/resources/1");
    let (head, rest) = split_head(&c.read_to_eof());
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{head}"
    );
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert_eq!(rest, &body.as_bytes()[..5]);
    assert_eq!(emu.requests()[0].status, 400);

    // cut_after beyond the body sends it whole, and still closes.
    emu.push_fault(Fault::truncate(200, "abc", 10));
    let mut c = Conn::open(emu.addr());
    send_get(&mut c, "/cdn/resources/1");
    assert_eq!(split_head(&c.read_to_eof()).1, b"abc");
}

#[test]
fn trickle_sends_one_byte_per_interval_and_keeps_the_connection() {
    let emu = start();
    let interval = Duration::from_millis(5);
    emu.push_fault(Fault::trickle(201, "", interval));
    let mut c = Conn::open(emu.addr());
    let t = Instant::now();
    let auth = format!("apikey {KEY}");
    let r = c.request("GET", "/cdn/resources/1", &[("Authorization", &auth)], "");
    let took = t.elapsed();
    assert_eq!(r.status, 201);
    assert_eq!(r.body, "");
    // "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n" is 43 bytes: 42 pauses.
    assert!(took >= interval * 42, "{took:?}");
    assert_eq!(emu.requests()[0].status, 201);
    assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);

    // The bytes really come one by one: the first arrives long before the last is sent.
    emu.push_fault(Fault::trickle(
        200,
        "x".repeat(50),
        Duration::from_millis(100),
    ));
    let mut c = Conn::open(emu.addr());
    send_get(&mut c, "/cdn/resources/1");
    let t = Instant::now();
    assert_eq!(c.read_exact(1).unwrap(), b"H");
    assert!(t.elapsed() < Duration::from_millis(500));
    assert_eq!(c.read_exact(1).unwrap(), b"T");
    assert!(t.elapsed() >= Duration::from_millis(100));
}

#[test]
fn stall_sends_nothing_and_holds_up_nothing() {
    let emu = start();
    emu.push_fault(Fault::stall().on("GET", "/cdn/resources/1"));
    let mut stalled = TcpStream::connect(emu.addr()).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    use std::io::Write;
    write!(
        stalled,
        "GET /cdn/resources/1 HTTP/1.1\r\nAuthorization: apikey {KEY}\r\n\r\n"
    )
    .unwrap();
    // Others are served meanwhile.
    for _ in 0..10 {
        assert_eq!(api(&emu, "GET", "/cdn/resources/2", "").status, 200);
    }
    let mut buf = [0u8; 16];
    let err = stalled.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    // The stalled request may be recorded after the others: its connection is read by its
    // own thread.
    let stalled_record = emu
        .requests()
        .into_iter()
        .find(|r| r.path == "/cdn/resources/1")
        .expect("the stalled request is recorded");
    assert_eq!(stalled_record.status, 0);
    // The client gives up and closes; the server thread ends with it (the emulator's drop
    // below would hang otherwise, as would the next test).
    drop(stalled);
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn stall_ends_when_the_emulator_stops() {
    let emu = start();
    emu.push_fault(Fault::stall());
    let mut c = Conn::open(emu.addr());
    send_get(&mut c, "/cdn/resources/1");
    while emu.requests().is_empty() {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    drop(emu);
    assert!(c.read_to_eof().is_empty());
}

#[test]
fn chunked_answer() {
    let emu = start();
    emu.push_fault(Fault::chunked(400, r#"{"errors": ["x"]}"#, 3));
    let mut c = Conn::open(emu.addr());
    let r = c.api("GET", "/cdn/resources/1", "");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.json(), json!({"errors": ["x"]}));
    assert_eq!(emu.requests()[0].status, 400);
    // Still in step on the same connection.
    assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);

    // The chunks on the wire.
    emu.push_fault(Fault::chunked(200, "abcdefg", 3));
    let mut c = Conn::open(emu.addr());
    let auth = format!("apikey {KEY}");
    c.send_raw(
        "GET",
        "/cdn/resources/1",
        &[("Authorization", &auth), ("Connection", "close")],
        "",
    );
    let (head, rest) = split_head(&c.read_to_eof());
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert_eq!(rest, b"3\r\nabc\r\n3\r\ndef\r\n1\r\ng\r\n0\r\n\r\n");
}

#[test]
fn oversized_body_is_streamed_and_stops_when_the_client_leaves() {
    let emu = start();
    emu.push_fault(Fault::oversized(500, 200_000));
    let mut c = Conn::open(emu.addr());
    let r = c.api("GET", "/cdn/resources/1", "");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("content-length"), Some("200000"));
    assert_eq!(r.body.len(), 200_000);
    assert!(r.body.bytes().all(|b| b == b'x'));
    assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);

    // 50 GB: the client reads a little, then hangs up; the server just stops.
    emu.push_fault(Fault::oversized(500, 50_000_000_000));
    let mut c = Conn::open(emu.addr());
    send_get(&mut c, "/cdn/resources/1");
    let head = c.read_exact(200).unwrap();
    assert!(String::from_utf8_lossy(&head).contains("Content-Length: 50000000000\r\n"));
    drop(c);
    assert_eq!(api(&emu, "GET", "/cdn/resources/1", "").status, 200);
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200, 500, 200]);
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn close_after_answers_normally_then_closes() {
    let emu = start();
    emu.push_fault(Fault::close_after().on("GET", "/cdn/resources/1"));
    let mut c = Conn::open(emu.addr());
    let r = c.api("GET", "/cdn/resources/1", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), None, "nothing announces the close");
    assert_eq!(r.json()["id"], 1);
    assert!(c.read_to_eof().is_empty());
    assert_eq!(emu.requests()[0].status, 200);
}

#[test]
fn garbage_is_sent_raw_then_closed() {
    let emu = start();
    emu.push_fault(Fault::garbage("HELLO\r\n\r\n"));
    let mut c = Conn::open(emu.addr());
    send_get(&mut c, "/cdn/resources/1");
    assert_eq!(c.read_to_eof(), b"HELLO\r\n\r\n");
    assert_eq!(emu.requests()[0].status, 0);
    assert_eq!(
        Fault::garbage(vec![0u8, 255]).action,
        FaultAction::Garbage(vec![0, 255])
    );
}
