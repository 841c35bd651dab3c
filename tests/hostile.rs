//! A hostile network, for real: every fault is a misbehaving server on loopback, and each
//! ends in the documented status, a message that helps, within the time budget.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;

fn quick_client(emu: &Emulator, timeout_ms: u64, retries: u32) -> TestClient {
    let mut setup = Setup::new(emu);
    setup.timeout_ms = Some(timeout_ms);
    setup.max_retries = Some(retries);
    setup.build().unwrap()
}

#[test]
fn a_response_cut_mid_body() {
    let emu = emulator();
    let c = quick_client(&emu, 2_000, 0);
    // An error cut short is still an error, described from what arrived.
    emu.push_fault(Fault::truncate(
        400,
        r#"{"errors": ["The request is invalid because of reasons"]}"#,
        20,
    ));
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_REJECTED, "{r:?}");
    assert!(
        r.msg().starts_with("purge all of resource 1: HTTP 400: "),
        "{}",
        r.msg()
    );
    // A success whose body is cut short is still a success: the status was in hand.
    emu.push_fault(Fault::truncate(201, "0123456789", 3));
    assert!(c.purge_all(2).ok());
    // And the next call, on a fresh connection, works.
    assert!(c.purge_all(3).ok());
}

#[test]
fn a_stalled_server_times_out_on_every_attempt() {
    let emu = emulator();
    let c = quick_client(&emu, 400, 1);
    emu.push_fault(Fault::stall().times(2));
    let t = Instant::now();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{r:?}");
    assert!(r.msg().contains("after 2 attempts"), "{}", r.msg());
    // Two attempts of 0.4 s and a backoff of at most 0.5 s.
    assert!(
        t.elapsed() < Duration::from_millis(2_000),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_trickling_server_cannot_stretch_the_timeout() {
    let emu = emulator();
    let c = quick_client(&emu, 800, 0);
    // A byte every 100 ms: the headers alone take seconds.
    emu.push_fault(Fault::trickle(201, "", Duration::from_millis(100)));
    let t = Instant::now();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{r:?}");
    assert!(
        t.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn garbage_instead_of_http() {
    let emu = emulator();
    let c = quick_client(&emu, 2_000, 2);
    emu.push_fault(Fault::garbage("HELLO THERE\r\n\r\n"));
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_PROTOCOL, "{r:?}");
    assert!(r.msg().contains("not valid HTTP"), "{}", r.msg());
    assert_eq!(
        emu.requests().len(),
        1,
        "a response that is not HTTP is not retried"
    );
}

#[test]
fn non_json_error_bodies_are_quoted() {
    let emu = emulator();
    let c = quick_client(&emu, 2_000, 0);
    emu.push_fault(Fault::respond(418, "I'm a teapot\n\u{1b}[31mred\u{1b}[0m"));
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_REJECTED);
    assert_eq!(
        r.msg(),
        "purge all of resource 1: HTTP 418: \"I'm a teapot\\n\\u{1b}[31mred\\u{1b}[0m\""
    );
}

#[test]
fn an_oversized_body_is_capped() {
    let emu = emulator();
    let c = quick_client(&emu, 10_000, 0);
    let before = rss_kib();
    emu.push_fault(Fault::oversized(500, 200 * 1024 * 1024));
    let t = Instant::now();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_SERVER, "{r:?}");
    assert!(r.msg().len() < 1_000, "{}", r.msg().len());
    // 200 MiB were offered; the client read its cap and hung up.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB");
    assert!(c.purge_all(2).ok());
}

#[test]
fn chunked_transfer_encoding() {
    let emu = emulator();
    let c = quick_client(&emu, 2_000, 0);
    emu.push_fault(Fault::chunked(
        400,
        r#"{"errors": {"paths": ["A path should start with /."]}}"#,
        3,
    ));
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_REJECTED);
    assert!(
        r.msg()
            .ends_with("HTTP 400: paths: A path should start with /."),
        "{}",
        r.msg()
    );
    emu.push_fault(Fault::chunked(201, "{}", 1));
    assert!(c.purge_all(2).ok());
}

#[test]
fn keep_alive_connections_closed_while_idle() {
    let emu = emulator();
    // No retries: the stale pooled connection must not cost the caller an error.
    let c = quick_client(&emu, 2_000, 0);
    for id in 1..=5 {
        emu.push_fault(Fault::close_after());
        assert!(c.purge_all(id).ok(), "call {id}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.purge_all(6).ok());
}

#[test]
fn connections_dropped_after_the_request_was_sent() {
    let emu = emulator();
    let c = quick_client(&emu, 2_000, 2);
    emu.push_fault(Fault::drop_connection().times(2));
    assert!(c.purge_all(1).ok());
    emu.push_fault(Fault::drop_connection().times(3));
    // Another resource: a second purge-all of resource 1 would wait for its pacer slot.
    let r = c.purge_all(2);
    assert_eq!(r.status, GCDN_ERR_NETWORK, "{r:?}");
    assert!(
        r.msg().contains("closed") && r.msg().contains("after 3 attempts"),
        "{}",
        r.msg()
    );
}

/// A server that accepts and closes at once, before reading a byte of the request.
#[test]
fn connections_dropped_before_the_request_was_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for conn in listener.incoming().take(3) {
            drop(conn.unwrap());
        }
    });
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.base_url = Some(format!("http://127.0.0.1:{port}"));
    setup.max_retries = Some(2);
    setup.timeout_ms = Some(2_000);
    let c = setup.build().unwrap();
    let t = Instant::now();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_NETWORK, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
    server.join().unwrap();
}

/// A redirect to another host: never followed, so the key never reaches it.
#[test]
fn a_redirect_never_takes_the_key_elsewhere() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let target = format!(
        "http://127.0.0.1:{}/cdn/resources/1/purge",
        elsewhere.local_addr().unwrap().port()
    );
    let emu = emulator();
    let c = quick_client(&emu, 2_000, 2);
    // One resource each: a second purge-all of one resource would wait for its pacer slot.
    for (id, status) in [(1, 301), (2, 302), (3, 307), (4, 308)] {
        emu.push_fault(Fault::respond(status, "").with_header("Location", &target));
        let r = c.purge_all(id);
        assert_eq!(r.status, GCDN_ERR_PROTOCOL, "{r:?}");
        assert!(r.msg().contains("does not follow"), "{}", r.msg());
    }
    std::thread::sleep(Duration::from_millis(100));
    match elsewhere.accept() {
        Ok((mut s, _)) => {
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            panic!(
                "the client went to the redirect target: {}",
                String::from_utf8_lossy(&buf)
            );
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }
}

/// An HTTP/1.0 server that answers and closes, with no Content-Length.
#[test]
fn a_close_delimited_response() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        s.write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{\"message\": \"JSON parse error - Expecting value\"}")
            .unwrap();
    });
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.base_url = Some(format!("http://127.0.0.1:{port}"));
    let c = setup.build().unwrap();
    let r = c.purge_all(1);
    server.join().unwrap();
    assert_eq!(r.status, GCDN_ERR_REJECTED, "{r:?}");
    assert!(
        r.msg()
            .ends_with("HTTP 400: JSON parse error - Expecting value"),
        "{}",
        r.msg()
    );
}
