//! A hostile network, for real: every fault is a misbehaving server on loopback, and each
//! ends in the documented status, a message that helps, within the time budget.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;
use raw::{Answer, RawServer};

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

/// A connection the server kept open past one answer, then closed within a second of the
/// next: the check before every reuse (src/engine/http/tuned.rs, `TcpSocket::is_open`) finds
/// the close, and the request goes out on a new connection, with no retry needed.
#[test]
fn a_connection_in_steady_use_closed_within_the_second() {
    let emu = emulator();
    // No retries: a request sent on the closed connection would fail.
    let c = quick_client(&emu, 2_000, 0);
    assert!(c.purge_all(1).ok());
    emu.push_fault(Fault::close_after());
    assert!(c.purge_all(2).ok(), "answered, then closed by the server");
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    let r = c.purge_all(3);
    assert!(r.ok(), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Nothing was sent on the closed connection: no purge twice.
    let paths: Vec<String> = emu.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(c.purge_all(4).ok());
}

/// The same close, found after the connection sat idle for more than a second: the probe
/// before reuse catches it, and no retry is needed.
#[test]
fn a_connection_in_steady_use_closed_then_idle_is_probed() {
    let emu = emulator();
    let c = quick_client(&emu, 2_000, 0);
    assert!(c.purge_all(1).ok());
    emu.push_fault(Fault::close_after());
    assert!(c.purge_all(2).ok());
    std::thread::sleep(Duration::from_millis(1_200));
    let r = c.purge_all(3);
    assert!(
        r.ok(),
        "no retries allowed, so the probe must have caught the close: {r:?}"
    );
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
    let server = RawServer::repeat(Answer::Hang, 3);
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.base_url = Some(server.base_url());
    setup.max_retries = Some(2);
    setup.timeout_ms = Some(2_000);
    let c = setup.build().unwrap();
    let t = Instant::now();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_NETWORK, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
    server.join();
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
    let server = RawServer::start(vec![Answer::raw(
        "HTTP/1.0 400 Bad Request\r\nContent-Type: application/json\r\n",
        "{\"message\": \"JSON parse error - Expecting value\"}",
    )]);
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.base_url = Some(server.base_url());
    let c = setup.build().unwrap();
    let r = c.purge_all(1);
    server.join();
    assert_eq!(r.status, GCDN_ERR_REJECTED, "{r:?}");
    assert!(
        r.msg()
            .ends_with("HTTP 400: JSON parse error - Expecting value"),
        "{}",
        r.msg()
    );
}

/// `url` through `gcdn_options_set_base_url`, then `gcdn_client_new` with `key`: one of the
/// two must refuse it (every message is scanned for secrets by `call`). The refusal.
fn refused_base_url(key: &str, url: &str) -> Outcome {
    unsafe {
        let o = gcdn_options_new();
        let u = cstr(url);
        let set = call(|e| gcdn_options_set_base_url(o, u.as_ptr(), e));
        let outcome = if set.ok() {
            let k = cstr(key);
            let mut client: *mut gcdn_client = std::ptr::null_mut();
            let r = call(|e| gcdn_client_new(k.as_ptr(), o, &mut client, e));
            if !client.is_null() {
                gcdn_client_free(client);
            }
            r
        } else {
            set
        };
        gcdn_options_free(o);
        assert_eq!(
            outcome.status, GCDN_ERR_INVALID_ARGUMENT,
            "{url}: {outcome:?}"
        );
        outcome
    }
}

/// The key in the base URL, every way it can get there: refused, and never quoted back.
#[test]
fn a_base_url_holding_the_key_is_refused_without_quoting_it() {
    let k = URL_KEY;
    let host = "127.0.0.1:9";
    for url in [
        format!("https://{k}@{host}"),
        format!("https://apikey:{k}@{host}"),
        format!("https://{host}/gcore/{k}"),
        format!("https://{host}/?apikey={k}"),
        format!("https://{host}/{}", percent_all(k, true)),
        format!("https://{host}/{}", percent_all(k, false)),
        format!("https://{host}/x/{}", percent_reserved(k)),
        format!("https://{host}/#{k}"),
        format!("http://api.example.com/{k}"),
        format!("https://{host}/a b/{k}"),
    ] {
        let r = refused_base_url(k, &url);
        assert!(r.msg().contains("base URL"), "{url}: {}", r.msg());
        assert!(!r.msg().contains("uRl$"), "{url}: {}", r.msg());
    }
    // A URL password is never quoted, whoever's it is.
    let r = refused_base_url(k, &format!("https://user:{URL_PASSWORD}@{host}"));
    assert!(r.msg().contains("user information"), "{}", r.msg());
    // Special characters of every kind in the key do not defeat it either; a `/` in a
    // password does not end the user information (`gcdn_options_set_base_url`, which has no
    // key to redact, shows none of it).
    for key in [SPECIAL_KEY, QUOTE_KEY] {
        for url in [
            format!("https://apikey:{key}@{host}"),
            format!("https://{key}@{host}/x"),
        ] {
            let r = refused_base_url(key, &url);
            assert!(
                !r.msg().contains("s3cr") && !r.msg().contains("qu"),
                "{}",
                r.msg()
            );
        }
        refused_base_url(key, &format!("https://{host}/{}", percent_reserved(key)));
        refused_base_url(key, &format!("https://{host}/{}", percent_all(key, false)));
    }
}

/// URLs and patterns that carry the key are refused, and the message (with its "use this
/// path" hint, which quotes the item again) never quotes the key, nor part of it at a cut.
#[test]
fn items_holding_the_key_are_refused_without_quoting_it() {
    let emu = emulator_with(Config {
        api_key: SPECIAL_KEY.into(),
        seed_resources: vec![1],
        ..Config::default()
    });
    let c = quick_client(&emu, 2_000, 0);
    let long = "a".repeat(100);
    for item in [
        format!("/a?token={SPECIAL_KEY}\t"),
        format!("https://cdn.example.com/a?apikey={SPECIAL_KEY}"),
        format!(
            "https://cdn.example.com/a?apikey={}",
            percent_reserved(SPECIAL_KEY)
        ),
        // The key across the cut of a quoted item (120 characters).
        format!("/{long}?token={SPECIAL_KEY}\t"),
        format!("/{long}x?t={}\t", percent_all(SPECIAL_KEY, true)),
    ] {
        let r = c.purge_urls(1, &["/ok", &item]);
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT, "{r:?}");
        assert!(r.msg().starts_with("URL 1 "), "{}", r.msg());
        assert!(!r.msg().contains("s3cr$"), "{}", r.msg());
        assert!(!r.msg().contains("%73%33%63%72"), "{}", r.msg());
        let r = c.purge_patterns(1, &[item.as_str()]);
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT, "{r:?}");
    }
    let r = c.purge_patterns(1, &[format!("/x/{SPECIAL_KEY}*/y").as_str()]);
    assert!(r.msg().contains("last character"), "{}", r.msg());
    let hint = c.purge_urls(
        1,
        &[format!("https://cdn.example.com/a?apikey={SPECIAL_KEY}").as_str()],
    );
    assert!(
        hint.msg().contains("use \"/a?apikey=[REDACTED]\""),
        "{}",
        hint.msg()
    );
    assert!(emu.requests().is_empty(), "a refused item was sent");

    // A key a quoted message escapes (`"` and `\`) is found in its escaped form.
    let emu = emulator_with(Config {
        api_key: QUOTE_KEY.into(),
        seed_resources: vec![1],
        ..Config::default()
    });
    let c = quick_client(&emu, 2_000, 0);
    let r = c.purge_urls(1, &[format!("https://h/a?k={QUOTE_KEY}").as_str()]);
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT, "{r:?}");
    assert!(!r.msg().contains("k3y-55"), "{}", r.msg());
    assert!(emu.requests().is_empty());
}

/// A redirect whose `Location` carries the key percent-encoded (any case, any mix) or a URL
/// password: not followed, and quoted without either.
#[test]
fn a_redirect_location_with_the_key_encoded_is_redacted() {
    let emu = emulator_with(Config {
        api_key: SPECIAL_KEY.into(),
        // One resource per case: a second purge-all of one would wait for its pacer slot.
        seed_resources: (1..=10).collect(),
        ..Config::default()
    });
    let c = quick_client(&emu, 2_000, 0);
    let half = SPECIAL_KEY.len() / 2;
    for (id, location) in (1..).zip([
        format!(
            "https://elsewhere.example/cb?k={}",
            percent_all(SPECIAL_KEY, true)
        ),
        format!(
            "https://elsewhere.example/cb?k={}",
            percent_all(SPECIAL_KEY, false)
        ),
        format!(
            "https://elsewhere.example/cb?k={}",
            percent_reserved(SPECIAL_KEY)
        ),
        format!(
            "https://elsewhere.example/cb?k={}{}",
            percent_reserved(&SPECIAL_KEY[..half]),
            percent_all(&SPECIAL_KEY[half..], false)
        ),
        format!("https://user:{URL_PASSWORD}@elsewhere.example/"),
    ]) {
        emu.push_fault(Fault::respond(302, "").with_header("Location", &location));
        let r = c.purge_all(id);
        assert_eq!(r.status, GCDN_ERR_PROTOCOL, "{r:?}");
        assert!(r.msg().contains("does not follow"), "{}", r.msg());
        assert!(r.msg().contains("elsewhere.example"), "{}", r.msg());
        assert!(!r.msg().contains("%73%33"), "{}", r.msg());
    }
}

/// Error bodies that carry the key JSON-escaped (`\u0024`, `\/`) or percent-encoded, in a
/// JSON shape the client quotes as text, in one it reads, and as plain text.
#[test]
fn an_error_body_with_the_key_escaped_is_redacted() {
    let emu = emulator_with(Config {
        api_key: SPECIAL_KEY.into(),
        // One resource per case: a second purge-all of one would wait for its pacer slot.
        seed_resources: (1..=10).collect(),
        ..Config::default()
    });
    let c = quick_client(&emu, 2_000, 0);
    let escaped = json_u_escaped(SPECIAL_KEY);
    assert!(escaped.contains("\\u0024") && escaped.contains("\\/"));
    for (id, body) in (1..).zip([
        format!(r#"{{"token": "{escaped}", "ok": false}}"#),
        format!(r#"{{"errors": ["bad key {escaped}"]}}"#),
        format!(
            r#"{{"detail": "bad key \"{}\""}}"#,
            percent_reserved(SPECIAL_KEY)
        ),
        format!("denied for key={}", percent_all(SPECIAL_KEY, true)),
    ]) {
        emu.push_fault(Fault::respond(400, body.as_str()));
        let r = c.purge_all(id);
        assert_eq!(r.status, GCDN_ERR_REJECTED, "{r:?}");
        assert!(r.msg().contains("[REDACTED]"), "{body}: {}", r.msg());
        assert!(!r.msg().contains("s3cr"), "{}", r.msg());
    }
    // The quote key JSON-escaped as any encoder writes it.
    let emu = emulator_with(Config {
        api_key: QUOTE_KEY.into(),
        seed_resources: vec![1],
        ..Config::default()
    });
    let c = quick_client(&emu, 2_000, 0);
    let json = serde_json::json!({ "token": QUOTE_KEY }).to_string();
    emu.push_fault(Fault::respond(401, json.as_str()));
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_UNAUTHORIZED, "{r:?}");
    assert!(!r.msg().contains("k3y-55"), "{}", r.msg());
}

/// A raw server that puts the key, encoded, in its reason phrase, a header and the body.
#[test]
fn a_raw_answer_with_the_key_encoded_everywhere() {
    let body = format!("{{\"k\": \"{}\"}}", json_u_escaped(SPECIAL_KEY));
    let head = format!(
        "HTTP/1.1 418 {}\r\nContent-Type: text/plain\r\nX-Key: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        percent_reserved(SPECIAL_KEY),
        percent_all(SPECIAL_KEY, false),
        body.len()
    );
    let server = RawServer::start(vec![Answer::Bytes(format!("{head}{body}").into_bytes())]);
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.key = Some(SPECIAL_KEY.into());
    setup.base_url = Some(server.base_url());
    setup.max_retries = Some(0);
    let c = setup.build().unwrap();
    let r = c.purge_all(1);
    server.join();
    assert_eq!(r.status, GCDN_ERR_REJECTED, "{r:?}");
    assert!(!r.msg().contains("s3cr"), "{}", r.msg());
}

/// Every raw hostile answer of `raw::cases` (the `gcdn` command meets the same ones, in
/// cli/tests/hostile.rs): a purge-all, a URL purge and a delete end in the case's status,
/// with a message that says so and no key, never GCDN_ERR_PANIC.
#[test]
fn every_raw_hostile_answer_ends_in_its_status() {
    let emu = emulator();
    for case in raw::cases(SPECIAL_KEY) {
        // Enough answers for every attempt of the three calls.
        let server = RawServer::repeat(case.answer.clone(), 64);
        let mut setup = Setup::new(&emu);
        setup.key = Some(SPECIAL_KEY.into());
        setup.base_url = Some(server.base_url());
        setup.max_retries = Some(1);
        setup.timeout_ms = Some(5_000);
        setup.wait_ms = Some(2_000);
        let c = setup.build().unwrap();
        let t = Instant::now();
        for (what, r) in [
            ("purge all", c.purge_all(1)),
            ("purge URLs", c.purge_urls(2, &["/a.js"])),
            ("delete", c.delete(3, 0)),
        ] {
            let name = case.name;
            assert_eq!(r.status, case.status, "{name}, {what}: {r:?}");
            assert!(r.msg().contains(case.says), "{name}, {what}: {}", r.msg());
            assert!(!r.msg().contains("s3cr"), "{name}, {what}: {}", r.msg());
        }
        // Refused at once: no wait for a window that never reopens.
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{}: {:?}",
            case.name,
            t.elapsed()
        );
    }
}

/// `Retry-After: 18446744073709551615` (u64::MAX seconds) on a 429 from the emulator: the
/// pacer's deferral overflowed `Instant` (GCDN_ERR_PANIC). Refused at once, saying how long.
#[test]
fn a_huge_retry_after_is_refused_at_once_not_a_panic() {
    let emu = emulator();
    let c = quick_client(&emu, 5_000, 1);
    for (id, value) in [(1, "18446744073709551615"), (2, "99999999999999999999999")] {
        emu.push_fault(Fault::respond(429, "").with_header("Retry-After", value));
        let t = Instant::now();
        let r = c.purge_urls(id, &["/a.js"]);
        assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
        // The wait it would take: the far end of the clock (100 years), in whole seconds.
        let opens: u64 = r
            .msg()
            .split("slot opens in ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}", r.msg()));
        assert!(opens > 3_000_000_000, "{}", r.msg());
        assert!(
            r.msg().contains("past the rate-limit wait budget"),
            "{}",
            r.msg()
        );
        // At once: the budget is 150 s.
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        // The key stays deferred: the next purge on it is refused at once, unsent.
        let before = emu.requests().len();
        let r = c.purge_urls(id, &["/b.js"]);
        assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
        assert_eq!(emu.requests().len(), before, "nothing was sent");
    }
    // An unpaced call (a delete) meets it too.
    emu.push_fault(Fault::respond(429, "").with_header("Retry-After", "18446744073709551615"));
    let r = c.delete(3, 0);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
    assert!(
        r.msg().contains("only after 18446744073709551615 s more"),
        "{}",
        r.msg()
    );
    // Other resources are not held up.
    assert!(c.purge_urls(4, &["/a.js"]).ok());
}

// ---------------------------------------------------------------------------------------
// Bytes a server sends late must never answer the next request
// ---------------------------------------------------------------------------------------

/// One request as the raw server read it: the connection it came on (0, 1, ... in the order
/// they were accepted), its method and path.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    conn: usize,
    method: String,
    path: String,
}

/// What the late-bytes server does on its first connection after the answer to the request
/// numbered `after` (1-based) on it.
struct Late {
    after: usize,
    /// The answer to that request (the real one: the client should take it).
    answer: &'static str,
    /// A second, complete response nobody asked for.
    stale: &'static str,
    /// Sent this long after the answer; `None`: when the test says so (see `LateServer::go`).
    delay: Option<Duration>,
}

/// A keep-alive HTTP/1.1 server on loopback that answers every request as the API would
/// (POST: 201, empty body; DELETE: 404, the resource does not exist; anything else: 404),
/// except that on its first connection, after the answer to request `late.after`, it writes
/// a stale response nobody asked for. A client that reuses that connection reads the stale
/// bytes as its answer; one that checks it first opens a new connection and gets the real
/// answer.
struct LateServer {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    go: std::sync::mpsc::Sender<()>,
    sent: std::sync::mpsc::Receiver<()>,
}

impl LateServer {
    fn start(late: Late) -> LateServer {
        use std::sync::{mpsc, Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (sent_tx, sent_rx) = mpsc::channel::<()>();
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut late = Some((late, go_rx, sent_tx));
            for (conn, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let log = Arc::clone(&log);
                let late = late.take();
                std::thread::spawn(move || serve_late(conn, stream, log, late));
            }
        });
        LateServer {
            port,
            seen,
            go: go_tx,
            sent: sent_rx,
        }
    }

    fn client(&self) -> TestClient {
        let emu = emulator();
        let mut setup = Setup::new(&emu);
        setup.base_url = Some(format!("http://127.0.0.1:{}", self.port));
        // No retries: a request that met the stale bytes gets no second chance to hide it.
        setup.max_retries = Some(0);
        setup.timeout_ms = Some(3_000);
        setup.build().unwrap()
    }

    /// For `delay: None`: write the stale bytes now, and return once they are written.
    fn send_stale_now(&self) {
        self.go.send(()).unwrap();
        self.sent
            .recv_timeout(Duration::from_secs(5))
            .expect("the server wrote the stale bytes");
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type LateParts = (
    Late,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
);

fn serve_late(
    conn: usize,
    mut s: std::net::TcpStream,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    late: Option<LateParts>,
) {
    // Each write goes out at once: Nagle's algorithm would hold the stale bytes back until
    // the client's next segment (its next request) acknowledged the answer before them.
    s.set_nodelay(true).unwrap();
    let mut input = Vec::new();
    let mut buf = [0u8; 4096];
    let mut requests = 0;
    loop {
        // One request: the head, then Content-Length bytes of body.
        let (head_len, body_len) = loop {
            if let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&input[..end]).to_ascii_lowercase();
                let body = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                break (end + 4, body);
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => input.extend_from_slice(&buf[..n]),
            }
        };
        while input.len() < head_len + body_len {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => input.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&input[..head_len]).into_owned();
        input.drain(..head_len + body_len);
        let mut words = head.split_whitespace();
        let method = words.next().unwrap_or("").to_owned();
        let path = words.next().unwrap_or("").to_owned();
        seen.lock().unwrap().push(Seen {
            conn,
            method: method.clone(),
            path,
        });
        requests += 1;
        let real = match method.as_str() {
            "POST" => "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".to_owned(),
            _ => {
                let body = r#"{"message": "Not found."}"#;
                format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
        };
        match &late {
            Some((late, go, sent)) if requests == late.after => {
                if s.write_all(late.answer.as_bytes()).is_err() {
                    return;
                }
                match late.delay {
                    Some(d) => std::thread::sleep(d),
                    None => {
                        if go.recv().is_err() {
                            return;
                        }
                    }
                }
                let _ = s.write_all(late.stale.as_bytes());
                let _ = sent.send(());
            }
            _ => {
                if s.write_all(real.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

const STALE_201: &str = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
const STALE_204: &str = "HTTP/1.1 204 No Content\r\n\r\n";

/// Two calls on one connection (so it is "in steady use"), the second answered and then
/// followed by `late.stale`; then a DELETE of a resource that does not exist. It must get
/// the server's real answer, 404, not the stale bytes' success.
fn stale_bytes_never_answer(late: Late, second: impl Fn(&TestClient) -> Outcome) {
    let delay = late.delay;
    let server = LateServer::start(late);
    let c = server.client();
    assert!(c.purge_all(1).ok(), "first call");
    let r = second(&c);
    assert!(
        r.ok(),
        "second call, answered before the stale bytes: {r:?}"
    );
    match delay {
        // The stale bytes arrive (100 ms after the answer), then 200 ms pass.
        Some(d) => std::thread::sleep(d + Duration::from_millis(200)),
        // They arrive just before the next request.
        None => {
            server.send_stale_now();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let r = c.delete(7, 0);
    assert_eq!(
        r.status,
        GCDN_ERR_NOT_FOUND,
        "the DELETE was answered by the stale bytes: {r:?} (server saw {:?})",
        server.seen()
    );
    let seen = server.seen();
    let delete = seen.last().unwrap();
    assert_eq!(delete.method, "DELETE", "{seen:?}");
    assert_eq!(delete.path, "/cdn/resources/7", "{seen:?}");
    assert_ne!(
        delete.conn, 0,
        "sent on the connection with stale bytes: {seen:?}"
    );
    // And the client goes on working.
    assert!(c.purge_all(3).ok());
}

#[test]
fn a_late_response_after_a_201_with_an_empty_body_never_answers_the_next_request() {
    stale_bytes_never_answer(
        Late {
            after: 2,
            answer: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            stale: STALE_201,
            delay: Some(Duration::from_millis(100)),
        },
        |c| c.purge_all(2),
    );
}

#[test]
fn a_late_response_after_a_body_with_content_length_never_answers_the_next_request() {
    stale_bytes_never_answer(
        Late {
            after: 2,
            answer: "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"paths\": [\"/\"]}",
            stale: STALE_201,
            delay: Some(Duration::from_millis(100)),
        },
        |c| c.purge_all(2),
    );
}

#[test]
fn a_late_response_after_a_204_never_answers_the_next_request() {
    stale_bytes_never_answer(
        Late {
            after: 2,
            answer: "HTTP/1.1 204 No Content\r\n\r\n",
            stale: STALE_204,
            delay: Some(Duration::from_millis(100)),
        },
        // A DELETE of a resource that exists: 204.
        |c| c.delete(2, 0),
    );
}

#[test]
fn a_late_response_after_a_chunked_body_never_answers_the_next_request() {
    stale_bytes_never_answer(
        Late {
            after: 2,
            answer: "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            stale: STALE_201,
            delay: Some(Duration::from_millis(100)),
        },
        |c| c.purge_all(2),
    );
}

#[test]
fn a_late_response_arriving_just_before_reuse_never_answers_the_next_request() {
    stale_bytes_never_answer(
        Late {
            after: 2,
            answer: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            stale: STALE_201,
            delay: None,
        },
        |c| c.purge_all(2),
    );
}

/// The same on a connection's first reuse (one call before, not yet "in steady use").
#[test]
fn a_late_response_on_a_first_reuse_never_answers_the_next_request() {
    let server = LateServer::start(Late {
        after: 1,
        answer: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        stale: STALE_201,
        delay: Some(Duration::from_millis(100)),
    });
    let c = server.client();
    assert!(c.purge_all(1).ok());
    std::thread::sleep(Duration::from_millis(300));
    let r = c.delete(7, 0);
    assert_eq!(r.status, GCDN_ERR_NOT_FOUND, "{r:?} {:?}", server.seen());
}

/// The stale bytes come in the same write as the answer (read with it, into the client's
/// buffer, where no peek at the socket sees them).
#[test]
fn a_late_response_in_the_answers_own_write_never_answers_the_next_request() {
    stale_bytes_never_answer(
        Late {
            after: 2,
            answer: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            stale: "",
            delay: Some(Duration::from_millis(100)),
        },
        |c| c.purge_all(2),
    );
}
