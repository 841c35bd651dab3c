//! The C ABI end to end: the real library's exported functions against a real emulator on
//! loopback. Every status code is produced here for real.

mod common;

use std::ffi::{c_char, CStr};
use std::ptr;
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;

const ACTIVE_REFUSAL: &str = "Deletion of this instance is currently not possible as it is in an active state. Please deactivate it before attempting the deletion request again.";

#[test]
fn purges_send_what_the_api_documents() {
    let emu = emulator();
    let c = client(&emu);
    assert!(c.purge_urls(3, &["/a.jpg", "/b.css?v=2"]).ok());
    assert!(c.purge_patterns(3, &["/images/*", "/videos"]).ok());
    assert!(c.purge_all(4).ok());
    let seen = emu.requests();
    assert_eq!(seen.len(), 3);
    let bodies: Vec<_> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.json().unwrap()))
        .collect();
    assert_eq!(
        bodies[0],
        (
            "POST",
            "/cdn/resources/3/purge",
            serde_json::json!({"urls": ["/a.jpg", "/b.css?v=2"]})
        )
    );
    assert_eq!(
        bodies[1],
        (
            "POST",
            "/cdn/resources/3/purge",
            serde_json::json!({"paths": ["/images/*", "/videos"]})
        )
    );
    assert_eq!(
        bodies[2],
        (
            "POST",
            "/cdn/resources/4/purge",
            serde_json::json!({"paths": []})
        )
    );
    for r in &seen {
        assert_eq!(r.status, 201);
        assert_eq!(r.header("authorization"), Some("APIKey test-key"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.header("user-agent"),
            Some(concat!("gcdn/", env!("CARGO_PKG_VERSION")))
        );
    }
}

#[test]
fn deactivate_then_delete() {
    let emu = emulator();
    let c = client(&emu);
    assert!(c.deactivate(5).ok());
    assert!(!emu.resource(5).unwrap().active);
    assert!(c.delete(5, 0).ok());
    assert!(emu.resource(5).is_none());
    let seen = emu.requests();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].body.as_str()),
        ("PATCH", r#"{"active":false}"#)
    );
    assert_eq!((seen[1].method.as_str(), seen[1].status), ("DELETE", 204));
    assert!(seen[1].body.is_empty());
}

#[test]
fn delete_of_an_active_resource_quotes_the_api() {
    let emu = emulator();
    let c = client(&emu);
    let r = c.delete(6, 0);
    assert_eq!(r.status, GCDN_ERR_REJECTED);
    assert_eq!(
        r.msg(),
        format!("delete resource 6: HTTP 400: {ACTIVE_REFUSAL}")
    );
    assert!(emu.resource(6).is_some());
    // With the flag it deactivates first, in one call.
    assert!(c.delete(6, GCDN_DELETE_DEACTIVATE_FIRST).ok());
    assert!(emu.resource(6).is_none());
}

#[test]
fn documented_refusals_come_back_in_the_apis_words() {
    let emu = emulator();
    let c = client(&emu);
    for (id, refusal) in [
        (30, Refusal::Primary),
        (31, Refusal::Streaming),
        (32, Refusal::Custom),
    ] {
        emu.add_resource(Resource::inactive(id).refusing(refusal));
        let r = c.delete(id, 0);
        assert_eq!(r.status, GCDN_ERR_REJECTED, "{r:?}");
        assert!(r.msg().contains(refusal.message()), "{}", r.msg());
    }
}

#[test]
fn missing_resources() {
    let emu = emulator();
    let c = client(&emu);
    let r = c.delete(999, 0);
    assert_eq!(r.status, GCDN_ERR_NOT_FOUND, "{r:?}");
    assert!(
        r.msg().starts_with("delete resource 999: HTTP 404"),
        "{}",
        r.msg()
    );
    assert!(c.delete(999, GCDN_DELETE_MISSING_OK).ok());
    assert!(c
        .delete(999, GCDN_DELETE_MISSING_OK | GCDN_DELETE_DEACTIVATE_FIRST)
        .ok());
    assert_eq!(c.purge_urls(999, &["/a"]).status, GCDN_ERR_NOT_FOUND);
    assert_eq!(c.deactivate(999).status, GCDN_ERR_NOT_FOUND);
    // A 404 is an answer, never retried: one request per call.
    assert_eq!(emu.requests().len(), 5);
}

#[test]
fn wrong_key_is_unauthorized_and_never_echoed() {
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.key = Some("wrong-key-5f2a9c".into());
    let c = setup.build().unwrap();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_UNAUTHORIZED);
    assert!(r.msg().contains("HTTP 401"), "{}", r.msg());
    assert!(!r.msg().contains("wrong-key-5f2a9c"));
    // Even a server that echoes the key back does not get it into a message.
    emu.push_fault(Fault::respond(
        403,
        r#"{"errors": ["key wrong-key-5f2a9c is not allowed"]}"#,
    ));
    // Another resource: a second purge-all of resource 1 would wait for its slot (and read
    // the account's limits first, which would meet the fault).
    let r = c.purge_all(2);
    assert_eq!(r.status, GCDN_ERR_UNAUTHORIZED);
    assert!(!r.msg().contains("wrong-key-5f2a9c"), "{}", r.msg());
    assert!(r.msg().contains("[REDACTED]"), "{}", r.msg());
}

#[test]
fn long_lists_are_deduplicated_and_chunked() {
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    // Paced 1 per ms: the emulator's unlimited rate is not believed from its limits answer.
    let mut setup = Setup::new(&emu);
    setup.intervals_ms = Some((1, 1));
    let c = setup.build().unwrap();
    let urls: Vec<String> = (0..250).map(|i| format!("/file-{}.js", i % 230)).collect();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    assert!(c.purge_urls(1, &refs).ok());
    let sent: Vec<Vec<String>> = purges(&emu)
        .iter()
        .map(|r| serde_json::from_value(r.json().unwrap()["urls"].clone()).unwrap())
        .collect();
    assert_eq!(
        sent.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 30]
    );
    let flat: Vec<String> = sent.concat();
    let expected: Vec<String> = (0..230).map(|i| format!("/file-{i}.js")).collect();
    assert_eq!(flat, expected, "first-occurrence order, each once");

    emu.clear_requests();
    let patterns: Vec<String> = (0..25).map(|i| format!("/dir{i}/*")).collect();
    let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
    assert!(c.purge_patterns(1, &refs).ok());
    let sizes: Vec<usize> = purges(&emu)
        .iter()
        .map(|r| r.json().unwrap()["paths"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [10, 10, 5]);
}

#[test]
fn a_bulk_purge_that_fails_part_way_says_how_far_it_got() {
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    let c = client(&emu);
    // The second request is refused.
    emu.push_fault(Fault::respond(201, "").on("POST", "/cdn/resources/1/purge"));
    emu.push_fault(
        Fault::respond(
            400,
            r#"{"errors": {"urls": {"7": ["This field may not be blank."]}}}"#,
        )
        .on("POST", "/cdn/resources/1/purge"),
    );
    let urls: Vec<String> = (0..250).map(|i| format!("/u{i}")).collect();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let r = c.purge_urls(1, &refs);
    assert_eq!(r.status, GCDN_ERR_REJECTED);
    assert_eq!(
        r.msg(),
        "purge by URL of resource 1 stopped at request 2 of 3 (URLs 101-200 of the 250 unique); \
         100 URLs were purged by the 1 request(s) before it: HTTP 400: urls[7]: This field may not be blank."
    );
    assert_eq!(purges(&emu).len(), 2, "nothing is sent after the failure");
}

#[test]
fn invalid_input_is_refused_and_nothing_is_sent() {
    let emu = emulator();
    let c = client(&emu);
    let cases: Vec<(Outcome, &str)> = vec![
        (c.purge_urls(1, &[]), "no URLs given"),
        (c.purge_patterns(1, &[]), "no patterns given"),
        (
            c.purge_urls(0, &["/a"]),
            "resource id must be a positive integer, got 0",
        ),
        (c.purge_all(-3), "got -3"),
        (c.deactivate(0), "positive"),
        (c.delete(-1, 0), "positive"),
        (c.delete(1, 1 << 7), "unknown delete flags 0x80"),
        (
            c.purge_urls(1, &["/ok", "https://cdn.example.com/img/a.png?x=1"]),
            "use \"/img/a.png?x=1\"",
        ),
        (
            c.purge_urls(1, &["relative.js"]),
            "must be a path starting with \"/\"",
        ),
        (c.purge_urls(1, &["/a", ""]), "URL 1 is empty"),
        (
            c.purge_urls(1, &["/a\r\nX-Injected: 1"]),
            "control character",
        ),
        (
            c.purge_patterns(1, &["/a/*/b"]),
            "only as its last character",
        ),
        (c.purge_patterns(1, &["*.jpg"]), "must be a path"),
    ];
    for (r, needle) in &cases {
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT, "{r:?}");
        assert!(r.msg().contains(needle), "{:?} lacks {needle:?}", r.msg());
    }
    // Pointers: NULL client, NULL array with a count, NULL item, invalid UTF-8.
    unsafe {
        let a = cstr("/a");
        let bad = [0xffu8, 0xfe, 0];
        let list = [a.as_ptr(), ptr::null()];
        let bad_list = [bad.as_ptr().cast::<c_char>()];
        let r = call(|e| gcdn_purge_all(ptr::null(), 1, e));
        assert_eq!(
            (r.status, r.msg()),
            (GCDN_ERR_INVALID_ARGUMENT, "client is NULL")
        );
        let r = call(|e| gcdn_purge_urls(c.ptr(), 1, ptr::null(), 3, e));
        assert!(r.msg().contains("array is NULL"), "{r:?}");
        let r = call(|e| gcdn_purge_urls(c.ptr(), 1, list.as_ptr(), 2, e));
        assert_eq!(r.msg(), "URL 1 is NULL");
        let r = call(|e| gcdn_purge_patterns(c.ptr(), 1, bad_list.as_ptr(), 1, e));
        assert_eq!(r.msg(), "pattern 0 is not valid UTF-8");
        let r = call(|e| gcdn_purge_urls(c.ptr(), 1, list.as_ptr(), GCDN_MAX_ITEMS + 1, e));
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
        let r = call(|e| gcdn_delete_resource(ptr::null(), 1, 0, e));
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
        let r = call(|e| gcdn_deactivate_resource(ptr::null(), 1, e));
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
        // error_out may be NULL.
        assert_eq!(
            gcdn_purge_all(ptr::null(), 1, ptr::null_mut()),
            GCDN_ERR_INVALID_ARGUMENT
        );
        assert_eq!(gcdn_purge_all(c.ptr(), 1, ptr::null_mut()), GCDN_OK);
    }
    assert_eq!(
        emu.requests().len(),
        1,
        "only the last, valid call was sent"
    );
}

#[test]
fn options_and_client_creation_refuse_bad_settings() {
    unsafe {
        let o = gcdn_options_new();
        for url in [
            "http://api.gcore.com",
            "http://10.1.2.3:80",
            "ftp://x",
            "https://u:p@h",
            "",
        ] {
            let u = cstr(url);
            let r = call(|e| gcdn_options_set_base_url(o, u.as_ptr(), e));
            assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT, "{url}");
        }
        let r = call(|e| gcdn_options_set_base_url(o, ptr::null(), e));
        assert_eq!(r.msg(), "base_url is NULL");
        let r = call(|e| gcdn_options_set_base_url(ptr::null_mut(), cstr("https://x").as_ptr(), e));
        assert_eq!(r.msg(), "options is NULL");
        assert_eq!(
            call(|e| gcdn_options_set_timeout_ms(o, 0, e)).status,
            GCDN_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            call(|e| gcdn_options_set_max_retries(o, 1000, e)).status,
            GCDN_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            call(|e| gcdn_options_set_purge_intervals_ms(o, 0, 1, e)).status,
            GCDN_ERR_INVALID_ARGUMENT
        );
        let ua = cstr("bad\r\nua");
        assert_eq!(
            call(|e| gcdn_options_set_user_agent_suffix(o, ua.as_ptr(), e)).status,
            GCDN_ERR_INVALID_ARGUMENT
        );
        let missing = cstr("/nonexistent/ca.pem");
        assert!(call(|e| gcdn_options_set_ca_file(o, missing.as_ptr(), e)).ok());
        let mut client: *mut gcdn_client = ptr::null_mut();
        let key = cstr("k");
        let r = call(|e| gcdn_client_new(key.as_ptr(), o, &mut client, e));
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
        assert!(r.msg().contains("cannot read the CA file"), "{}", r.msg());
        assert!(client.is_null());
        gcdn_options_free(o);

        for bad_key in ["", "abc\r\nX-Evil: 1", "tab\tkey"] {
            let k = cstr(bad_key);
            let r = call(|e| gcdn_client_new(k.as_ptr(), ptr::null(), &mut client, e));
            assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT, "{bad_key:?}");
            assert!(client.is_null());
        }
        let r = call(|e| gcdn_client_new(key.as_ptr(), ptr::null(), ptr::null_mut(), e));
        assert_eq!(r.msg(), "client_out is NULL");
        // NULL frees are no-ops.
        gcdn_options_free(ptr::null_mut());
        gcdn_client_free(ptr::null_mut());
        gcdn_string_free(ptr::null_mut());
    }
}

#[test]
fn server_errors_are_retried_then_reported() {
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.max_retries = Some(2);
    let c = setup.build().unwrap();
    // Two failures, then the real answer: one call succeeds after backoff.
    emu.push_fault(Fault::respond(503, "").times(2));
    assert!(c.purge_all(1).ok());
    assert_eq!(emu.requests().len(), 3);
    // Three failures exhaust two retries.
    emu.clear_requests();
    emu.push_fault(Fault::respond(502, "<html>bad gateway</html>").times(3));
    let r = c.purge_all(2);
    assert_eq!(r.status, GCDN_ERR_SERVER);
    assert_eq!(
        r.msg(),
        "purge all of resource 2: HTTP 502: \"<html>bad gateway</html>\" (after 3 attempts)"
    );
    assert_eq!(emu.requests().len(), 3);
}

#[test]
fn retry_after_is_honoured_on_a_server_error() {
    let emu = emulator();
    let c = client(&emu);
    emu.push_fault(Fault::respond(503, "").with_header("Retry-After", "1"));
    let t = Instant::now();
    assert!(c.purge_all(1).ok());
    assert!(
        t.elapsed() >= Duration::from_millis(990),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn rate_limits_are_waited_out_not_fought() {
    // The client paces a long list to the configured interval from its first request: the
    // API never has to refuse one (before the pacer, the second request met a 429 first).
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits {
            url_requests: 1,
            url_window: Duration::from_millis(400),
            ..Limits::default()
        },
        ..Config::default()
    });
    let mut setup = Setup::new(&emu);
    setup.intervals_ms = Some((450, 450));
    setup.max_retries = Some(0);
    let c = setup.build().unwrap();
    let urls: Vec<String> = (0..500).map(|i| format!("/{i}")).collect();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let t = Instant::now();
    let r = c.purge_urls(1, &refs);
    assert!(r.ok(), "{r:?}");
    let statuses: Vec<u16> = purges(&emu).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201; 5], "paced from the start: no refusal");
    assert!(t.elapsed() >= Duration::from_millis(4 * 450));
}

#[test]
fn retry_after_on_429_in_both_forms() {
    for mode in [RetryAfterMode::Seconds, RetryAfterMode::HttpDate] {
        let emu = emulator_with(Config {
            seed_resources: vec![1],
            retry_after: mode,
            limits: Limits {
                all_window: Duration::from_millis(1500),
                ..Limits::default()
            },
            ..Config::default()
        });
        // The client's own pacing (10 ms) lets the second purge go; the API (another client
        // shares the window) refuses it, and Retry-After (1-2 s) is what the client waits.
        let mut setup = Setup::new(&emu);
        setup.intervals_ms = Some((10, 10));
        let c = setup.build().unwrap();
        assert!(c.purge_all(1).ok());
        let t = Instant::now();
        let r = c.purge_all(1);
        assert!(r.ok(), "{mode:?}: {r:?}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{mode:?}: {:?}",
            t.elapsed()
        );
        let statuses: Vec<u16> = purges(&emu).iter().map(|r| r.status).collect();
        assert_eq!(statuses.first(), Some(&201));
        assert_eq!(statuses.last(), Some(&201));
        assert!(statuses.contains(&429));
    }
}

#[test]
fn rate_limited_when_the_wait_budget_is_spent() {
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.wait_ms = Some(0);
    let c = setup.build().unwrap();
    assert!(c.purge_patterns(1, &["/a"]).ok());
    // The client's own pacer knows the window is full: nothing is sent.
    let t = Instant::now();
    let r = c.purge_patterns(1, &["/b"]);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED);
    assert!(
        r.msg().starts_with(
            "purge by pattern of resource 1: the next pattern purge slot opens in 61.2 s, past \
             the rate-limit wait budget of 0 ms"
        ),
        "{}",
        r.msg()
    );
    assert!(r.msg().contains("max_rate_limit_wait"), "{}", r.msg());
    assert!(r.msg().ends_with("; nothing was sent"), "{}", r.msg());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "gives up at once, without sleeping"
    );
    assert_eq!(purges(&emu).len(), 1);
    // A 429 the pacer could not foresee (another client used the window) with no budget to
    // wait it out.
    emu.push_fault(Fault::respond(429, "").on("POST", "/cdn/resources/2/purge"));
    let r = c.purge_patterns(2, &["/b"]);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED);
    assert!(r.msg().contains("HTTP 429"), "{}", r.msg());
    assert!(r.msg().contains("max_rate_limit_wait"), "{}", r.msg());
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(purges(&emu).len(), 2);
}

#[test]
fn network_errors() {
    // Bind, learn the port, close: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.base_url = Some(format!("http://127.0.0.1:{port}"));
    setup.max_retries = Some(1);
    let c = setup.build().unwrap();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_NETWORK, "{r:?}");
    assert!(r.msg().contains("after 2 attempts"), "{}", r.msg());

    // A dropped connection is retried; the retry succeeds.
    let c = client(&emu);
    emu.push_fault(Fault::drop_connection());
    assert!(c.purge_all(2).ok());
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 201]);
}

#[test]
fn a_delete_cut_off_in_transit_then_gone_counts_as_deleted() {
    let emu = emulator();
    let c = client(&emu);
    emu.add_resource(Resource::inactive(40));
    emu.push_fault(Fault::drop_connection().on("DELETE", "/cdn/resources/40"));
    assert!(c.delete(40, 0).ok());
    // The same 404 without an uncertain attempt before it is NOT_FOUND.
    assert_eq!(c.delete(40, 0).status, GCDN_ERR_NOT_FOUND);
}

#[test]
fn timeouts() {
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.timeout_ms = Some(300);
    setup.max_retries = Some(1);
    let c = setup.build().unwrap();
    emu.push_fault(Fault::delay(Duration::from_secs(2)).times(2));
    let t = Instant::now();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{r:?}");
    assert!(
        t.elapsed() < Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );

    // A call timeout bounds the whole call, waits included.
    let c = client(&emu);
    let mut bounded: *mut gcdn_client = ptr::null_mut();
    let r = call(|e| unsafe { gcdn_client_with_call_timeout_ms(c.ptr(), 400, &mut bounded, e) });
    assert!(r.ok());
    let bounded = TestClient(bounded);
    emu.push_fault(Fault::respond(503, "").with_header("Retry-After", "30"));
    let t = Instant::now();
    let r = bounded.purge_all(3);
    assert_eq!(r.status, GCDN_ERR_SERVER, "{r:?}");
    assert!(r.msg().contains("call timeout"), "{}", r.msg());
    assert!(t.elapsed() < Duration::from_secs(2));
    emu.push_fault(Fault::delay(Duration::from_secs(2)));
    let t = Instant::now();
    assert_eq!(bounded.purge_all(4).status, GCDN_ERR_TIMEOUT);
    assert!(t.elapsed() < Duration::from_millis(1500));
    let mut unused: *mut gcdn_client = ptr::null_mut();
    let r = call(|e| unsafe { gcdn_client_with_call_timeout_ms(c.ptr(), 0, &mut unused, e) });
    assert!(unused.is_null());
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
}

#[test]
fn redirects_are_not_followed() {
    let emu = emulator();
    let c = client(&emu);
    emu.push_fault(
        Fault::respond(302, "").with_header("Location", "https://elsewhere.example/steal"),
    );
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_PROTOCOL);
    assert!(
        r.msg()
            .contains("redirect to \"https://elsewhere.example/steal\""),
        "{}",
        r.msg()
    );
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn a_panic_comes_back_as_a_status() {
    let r = call(|e| unsafe { gcdn_debug_panic(e) });
    assert_eq!(r.status, GCDN_ERR_PANIC);
    assert!(
        r.msg().contains("gcdn_debug_panic was called"),
        "{}",
        r.msg()
    );
    // And the library works on after it.
    let emu = emulator();
    assert!(client(&emu).purge_all(1).ok());
}

#[test]
fn static_strings() {
    let s = |code| {
        unsafe { CStr::from_ptr(gcdn_status_str(code)) }
            .to_str()
            .unwrap()
    };
    assert_eq!(s(GCDN_OK), "ok");
    assert_eq!(s(GCDN_ERR_NOT_FOUND), "not found");
    assert_eq!(s(GCDN_ERR_CANCELLED), "cancelled");
    assert_eq!(s(-1), "unknown status");
    assert_eq!(s(i32::MAX), "unknown status");
    let v = unsafe { CStr::from_ptr(gcdn_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn one_client_many_threads() {
    let emu = emulator_with(Config {
        seed_resources: (1..=8).collect(),
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    // Paced 1 per ms: the emulator's unlimited rate is not believed from its limits answer.
    let mut setup = Setup::new(&emu);
    setup.intervals_ms = Some((1, 1));
    let c = setup.build().unwrap();
    let per_thread = 100;
    std::thread::scope(|s| {
        for t in 1..=8i64 {
            let c = &c;
            s.spawn(move || {
                for i in 0..per_thread {
                    let url = format!("/t{t}/{i}");
                    let r = c.purge_urls(t, &[&url]);
                    assert!(r.ok(), "{r:?}");
                }
            });
        }
    });
    let seen = purges(&emu);
    assert_eq!(seen.len(), 8 * per_thread);
    for t in 1..=8i64 {
        for i in 0..per_thread {
            let body = format!(r#"{{"urls":["/t{t}/{i}"]}}"#);
            assert!(
                seen.iter()
                    .any(|r| r.path == format!("/cdn/resources/{t}/purge") && r.body == body),
                "missing {body}"
            );
        }
    }
}

#[test]
fn cancelling_stops_a_rate_limit_wait_at_once() {
    let emu = emulator();
    let c = client(&emu);
    let token = gcdn_cancel_new();
    let mut derived: *mut gcdn_client = ptr::null_mut();
    assert!(call(|e| unsafe { gcdn_client_with_cancel(c.ptr(), token, &mut derived, e) }).ok());
    let derived = TestClient(derived);
    assert!(derived.purge_all(1).ok());
    struct Token(*mut gcdn_cancel);
    unsafe impl Send for Token {}
    let firing = Token(token);
    let firer = std::thread::spawn(move || {
        let firing = firing;
        std::thread::sleep(Duration::from_millis(200));
        unsafe { gcdn_cancel_fire(firing.0) };
    });
    // The second purge-all within the minute waits 61.2 s for its slot in the pacer.
    let t = Instant::now();
    let r = derived.purge_all(1);
    firer.join().unwrap();
    assert_eq!(r.status, GCDN_ERR_CANCELLED, "{r:?}");
    assert_eq!(
        r.msg(),
        "purge all of resource 1: the call was cancelled while waiting for the next pattern \
         purge slot"
    );
    assert_eq!(purges(&emu).len(), 1, "nothing sent to be refused");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // A fired token stops later calls before anything is sent; the token may be freed first.
    unsafe { gcdn_cancel_free(token) };
    let before = emu.requests().len();
    let r = derived.purge_urls(2, &["/x"]);
    assert_eq!(
        (r.status, r.msg()),
        (
            GCDN_ERR_CANCELLED,
            "purge by URL of resource 2: the call was cancelled"
        )
    );
    assert_eq!(emu.requests().len(), before);
    // The client it came from is not affected.
    assert!(c.purge_urls(2, &["/x"]).ok());
    // NULLs.
    let mut out: *mut gcdn_client = ptr::null_mut();
    let r = call(|e| unsafe { gcdn_client_with_cancel(c.ptr(), ptr::null(), &mut out, e) });
    assert_eq!(
        (r.status, r.msg()),
        (GCDN_ERR_INVALID_ARGUMENT, "cancel is NULL")
    );
    unsafe {
        gcdn_cancel_fire(ptr::null());
        gcdn_cancel_free(ptr::null_mut());
    }
}

#[test]
fn the_accounts_own_limits_set_the_pacing() {
    // An account allowed 5 URL purges a minute (the documented 2 would make the third wait a
    // minute): no interval is configured, so at its second request the client reads
    // /cdn/clients/me/limits ("5/m"), once, and sends all five at once, without a 429.
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits {
            url_requests: 5,
            ..Limits::default()
        },
        ..Config::default()
    });
    let mut setup = Setup::new(&emu);
    setup.wait_ms = Some(2_000);
    let c = setup.build().unwrap();
    let urls: Vec<String> = (0..400).map(|i| format!("/{i}")).collect();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let t = Instant::now();
    let r = c.purge_urls(1, &refs);
    assert!(r.ok(), "{r:?}");
    assert!(c.purge_urls(1, &refs[..1]).ok());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let limits = emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/cdn/clients/me/limits")
        .count();
    assert_eq!(limits, 1, "read once per client");
    let statuses: Vec<u16> = purges(&emu).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201; 5]);
    // The sixth is past the window: with a 2 s budget it fails at once, nothing sent.
    let r = c.purge_urls(1, &["/six"]);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
    assert!(
        r.msg()
            .starts_with("purge by URL of resource 1: the next URL purge slot opens in 6"),
        "{}",
        r.msg()
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(purges(&emu).len(), 5);
}

#[test]
fn without_the_accounts_limits_the_documented_ones_hold() {
    let emu = emulator();
    emu.push_fault(Fault::respond(503, "").on("GET", "/cdn/clients/me/limits"));
    let mut setup = Setup::new(&emu);
    setup.wait_ms = Some(5_000);
    let c = setup.build().unwrap();
    assert!(c.purge_all(1).ok());
    // The documented 1 purge-all a minute: a 61.2 s wait does not fit a 5 s budget.
    let t = Instant::now();
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
    assert_eq!(
        r.msg(),
        "purge all of resource 1: the next pattern purge slot opens in 61.2 s, past the \
         rate-limit wait budget of 5 s (0 ms already waited); raise max_rate_limit_wait to wait \
         longer; nothing was sent"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(purges(&emu).len(), 1);
}

#[test]
fn reading_the_accounts_limits_stays_within_the_call_timeout() {
    let emu = emulator();
    emu.push_fault(Fault::delay(Duration::from_secs(6)).on("GET", "/cdn/clients/me/limits"));
    let c = client(&emu);
    let mut bounded: *mut gcdn_client = ptr::null_mut();
    assert!(
        call(|e| unsafe { gcdn_client_with_call_timeout_ms(c.ptr(), 1_000, &mut bounded, e) }).ok()
    );
    let bounded = TestClient(bounded);
    assert!(bounded.purge_all(1).ok());
    let t = Instant::now();
    let r = bounded.purge_all(1);
    assert!(!r.ok());
    assert!(
        t.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_gateway_timeout_then_gone_counts_as_deleted() {
    let emu = emulator();
    let c = client(&emu);
    // The gateway passed the DELETE on (the resource is gone) but answered 504.
    emu.add_resource(Resource::inactive(41));
    emu.push_fault(Fault::respond(504, "").on("DELETE", "/cdn/resources/41"));
    emu.remove_resource(41);
    assert!(c.delete(41, 0).ok());
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [504, 404]);
}

#[test]
fn a_delete_that_never_connected_then_finds_nothing_is_not_found() {
    // Nothing listens at first: the first attempt is refused before anything is sent. The
    // emulator comes up on that port in time for the retry, which finds no resource 4242.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        emulator_with(Config {
            port,
            ..Config::default()
        })
    });
    let setup = Setup {
        key: Some("test-key".into()),
        base_url: Some(format!("http://127.0.0.1:{port}")),
        timeout_ms: Some(5_000),
        max_retries: Some(3),
        wait_ms: None,
        intervals_ms: None,
        coalesce: None,
    };
    let c = setup.build().unwrap();
    let r = c.delete(4242, 0);
    let emu = late.join().unwrap();
    assert_eq!(r.status, GCDN_ERR_NOT_FOUND, "{r:?}");
    assert_eq!(emu.requests().len(), 1);
}
