//! Verification at the edge, and prefetch, through the C ABI: the real library, the emulator's
//! API (purges confirmed by its purge statuses), and either a raw-socket edge on loopback that
//! answers as told (hangs, garbage) or the emulator's own edge, which caches by the resource's
//! cache key and is emptied by the purges the API accepted.

mod common;

use std::ffi::CStr;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;

/// An edge: for each connection, reads the head, records it, answers by path: `/stale*` a HIT
/// cached in 2000, `/hang*` nothing for 30 s, `/garbage*` bytes that are not HTTP, else MISS.
fn edge() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.lock().unwrap().push(head.clone());
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let reply: &[u8] = if path.starts_with("/stale") {
                    b"HTTP/1.1 200 OK\r\nCache: HIT\r\nX-Cached-Since: 2000-01-01T00:00:00+00:00\r\nX-ID: ed-7\r\n\r\n"
                } else if path.starts_with("/hang") {
                    std::thread::sleep(Duration::from_secs(30));
                    b""
                } else if path.starts_with("/garbage") {
                    b"\x00\x01 not http at all\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nCache: MISS\r\nX-ID: ed-7\r\n\r\n"
                };
                let _ = (&s).write_all(reply);
            });
        }
    });
    (url, heads)
}

unsafe fn s(p: *const std::ffi::c_char) -> Option<String> {
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

#[test]
fn stale_fresh_and_error_probes_are_reported_and_stale_fails_the_run() {
    let emu = emulator();
    let c = client(&emu);
    let (edge_url, heads) = edge();
    unsafe {
        let job = gcdn_job_new();
        let urls = [
            cstr("/fresh.js"),
            cstr("/stale.js?v=2"),
            cstr("/hang.js"),
            cstr("/garbage.js"),
        ];
        let ptrs: Vec<_> = urls.iter().map(|u| u.as_ptr()).collect();
        assert!(call(|e| gcdn_job_add_urls(job, 3, ptrs.as_ptr(), ptrs.len(), e)).ok());
        let run = gcdn_run_new();
        assert!(call(|e| gcdn_run_set_verify(run, 1, e)).ok());
        assert!(call(|e| gcdn_run_set_wait_ms(run, 20_000, e)).ok());
        let edge = cstr(&edge_url);
        assert!(call(|e| gcdn_run_add_edge(run, edge.as_ptr(), e)).ok());
        // Refused: plain HTTP to a host that is not loopback; the run stays as it was.
        let bad = cstr("http://example.com");
        let r = call(|e| gcdn_run_add_edge(run, bad.as_ptr(), e));
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
        assert!(r.msg().contains("loopback"), "{}", r.msg());
        assert_eq!(
            call(|e| gcdn_run_add_edge(run, ptr::null(), e)).status,
            GCDN_ERR_INVALID_ARGUMENT
        );

        let mut report: *mut gcdn_report = ptr::null_mut();
        let began = Instant::now();
        let r = call(|e| gcdn_job_run(c.ptr(), job, run, &mut report, e));
        let took = began.elapsed();
        assert_eq!(r.status, GCDN_ERR_STALE, "{}", r.msg());
        assert!(r.msg().contains("stale at the edge"), "{}", r.msg());
        // The hanging probe ends at its 10 s timeout, well before the edge's 30 s.
        assert!(took < Duration::from_secs(28), "{took:?}");
        assert!(!report.is_null());
        assert_eq!(gcdn_report_verified_count(report), 4);
        assert_eq!(gcdn_report_total(report, GCDN_TOTAL_VERIFIED_FRESH), 1);
        assert_eq!(gcdn_report_total(report, GCDN_TOTAL_VERIFIED_STALE), 1);
        assert_eq!(gcdn_report_total(report, GCDN_TOTAL_VERIFIED_ERROR), 2);
        let mut by_url = std::collections::HashMap::new();
        for i in 0..4 {
            let url = s(gcdn_report_verified_url(report, i)).unwrap();
            assert_eq!(gcdn_report_verified_resource_id(report, i), 3);
            by_url.insert(url, (gcdn_report_verified_result(report, i), i));
        }
        let (stale, i) = by_url["https://cdn3.example.com/stale.js?v=2"];
        assert_eq!(stale, GCDN_VERIFY_STALE);
        assert_eq!(
            s(gcdn_report_verified_cache(report, i)).as_deref(),
            Some("HIT")
        );
        assert_eq!(
            s(gcdn_report_verified_edge(report, i)).as_deref(),
            Some("ed-7")
        );
        assert_eq!(
            s(gcdn_report_verified_cached_since(report, i)).as_deref(),
            Some("2000-01-01T00:00:00+00:00")
        );
        assert_eq!(
            by_url["https://cdn3.example.com/fresh.js"].0,
            GCDN_VERIFY_FRESH
        );
        let (hang, i) = by_url["https://cdn3.example.com/hang.js"];
        assert_eq!(hang, GCDN_VERIFY_ERROR);
        assert!(s(gcdn_report_verified_message(report, i))
            .unwrap()
            .contains("timed out"));
        let (garbage, i) = by_url["https://cdn3.example.com/garbage.js"];
        assert_eq!(garbage, GCDN_VERIFY_ERROR);
        assert!(s(gcdn_report_verified_message(report, i))
            .unwrap()
            .contains("not HTTP"));
        assert_eq!(gcdn_report_verified_url(report, 4), ptr::null());

        let mut json: *mut std::ffi::c_char = ptr::null_mut();
        assert!(call(|e| gcdn_report_json(report, &mut json, e)).ok());
        let v: serde_json::Value = serde_json::from_str(&s(json).unwrap()).unwrap();
        gcdn_string_free(json);
        assert_eq!(v["version"], 1);
        assert_eq!(v["totals"]["verified_stale"], 1);
        assert_eq!(v["verified"].as_array().unwrap().len(), 4);
        assert_eq!(v["prefetched"], serde_json::json!([]));
        gcdn_report_free(report);
        gcdn_run_free(run);
        gcdn_job_free(job);
    }
    // At the edge: the URL's host in Host, and never the key.
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 4);
    for h in heads.iter() {
        assert!(h.starts_with("HEAD /"), "{h}");
        assert!(h.contains("Host: cdn3.example.com\r\n"), "{h}");
        assert!(!h.to_ascii_lowercase().contains("authorization"), "{h}");
        assert!(!h.contains(emu.api_key()), "{h}");
    }
}

// ---- Against the emulator's edge ----------------------------------------------------------

/// An emulator with its edge; resources 1..=20 (`cdn{id}.example.com`).
fn emulator_and_edge() -> gcdn_emulator::Emulator {
    emulator_with(gcdn_emulator::Config {
        seed_resources: (1..=20).collect(),
        edge_port: Some(0),
        ..gcdn_emulator::Config::default()
    })
}

/// `GET path` at the emulator's edge with `host` in `Host`: the `Cache` header.
fn edge_get(emu: &gcdn_emulator::Emulator, host: &str, path: &str) -> String {
    use std::io::Read;
    let addr = emu.edge_url().unwrap().replace("http://", "");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .lines()
        .find_map(|l| l.strip_prefix("Cache: "))
        .unwrap_or_else(|| panic!("no Cache header: {answer}"))
        .to_owned()
}

/// A run's outcome: the status, the message and the report's JSON form.
struct Ran {
    status: i32,
    msg: String,
    json: serde_json::Value,
}

/// Runs `urls` of resource `id` through the C ABI with verify (wait 20 s) at the emulator's
/// edge, `exact` and `verify_limit` as given; the report is read, then freed.
fn run_verify(
    emu: &gcdn_emulator::Emulator,
    id: i64,
    urls: &[&str],
    exact: bool,
    limit: Option<u32>,
) -> Ran {
    let c = client(emu);
    unsafe {
        let job = gcdn_job_new();
        let owned: Vec<_> = urls.iter().map(|u| cstr(u)).collect();
        let ptrs: Vec<_> = owned.iter().map(|u| u.as_ptr()).collect();
        assert!(call(|e| gcdn_job_add_urls(job, id, ptrs.as_ptr(), ptrs.len(), e)).ok());
        let run = gcdn_run_new();
        assert!(call(|e| gcdn_run_set_verify(run, 1, e)).ok());
        assert!(call(|e| gcdn_run_set_wait_ms(run, 20_000, e)).ok());
        assert!(call(|e| gcdn_run_set_exact(run, i32::from(exact), e)).ok());
        if let Some(n) = limit {
            assert!(call(|e| gcdn_run_set_verify_limit(run, n, e)).ok());
        }
        let edge = cstr(&emu.edge_url().unwrap());
        assert!(call(|e| gcdn_run_add_edge(run, edge.as_ptr(), e)).ok());
        let mut report: *mut gcdn_report = ptr::null_mut();
        let r = call(|e| gcdn_job_run(c.ptr(), job, run, &mut report, e));
        assert!(!report.is_null(), "{}", r.msg());
        let mut json: *mut std::ffi::c_char = ptr::null_mut();
        assert!(call(|e| gcdn_report_json(report, &mut json, e)).ok());
        let v: serde_json::Value = serde_json::from_str(&s(json).unwrap()).unwrap();
        gcdn_string_free(json);
        gcdn_report_free(report);
        gcdn_run_free(run);
        gcdn_job_free(job);
        Ran {
            status: r.status,
            msg: r.msg().to_owned(),
            json: v,
        }
    }
}

/// The `verified` entries by URL: (result, cache, cached_since, edge).
fn verdicts(v: &serde_json::Value) -> std::collections::BTreeMap<String, [String; 4]> {
    let text = |x: &serde_json::Value| x.as_str().unwrap_or("null").to_owned();
    v["verified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let got = [&e["result"], &e["cache"], &e["cached_since"], &e["edge"]].map(text);
            (text(&e["url"]), got)
        })
        .collect()
}

#[test]
fn fresh_after_a_url_purge_is_a_miss_and_probes_carry_no_key() {
    let emu = emulator_and_edge();
    for p in ["/a.js", "/b.css?x=1"] {
        assert_eq!(edge_get(&emu, "cdn3.example.com", p), "MISS");
        assert_eq!(edge_get(&emu, "cdn3.example.com", p), "HIT");
    }
    emu.clear_edge_requests();
    let ran = run_verify(&emu, 3, &["/a.js", "/b.css?x=1"], false, None);
    assert_eq!(ran.status, GCDN_OK, "{}", ran.msg);
    let got = verdicts(&ran.json);
    for url in [
        "https://cdn3.example.com/a.js",
        "https://cdn3.example.com/b.css?x=1",
    ] {
        let [result, cache, since, edge] = &got[url];
        assert_eq!(
            (result.as_str(), cache.as_str()),
            ("fresh", "MISS"),
            "{url}"
        );
        assert!(since.ends_with("+00:00"), "{since}");
        assert_eq!(edge, gcdn_emulator::EDGE_ID);
    }
    assert_eq!(ran.json["totals"]["verified_fresh"], 2);
    // At the edge's listener: two HEAD probes with the URL's host, and never the key.
    let probes = emu.edge_requests();
    assert_eq!(probes.len(), 2, "{probes:?}");
    for p in &probes {
        assert_eq!(p.method, "HEAD");
        assert_eq!(p.host, "cdn3.example.com");
        assert_eq!(p.header("authorization"), None);
        for (name, value) in &p.headers {
            assert!(!value.contains(emu.api_key()), "{name}: {value}");
        }
    }
}

#[test]
fn fresh_after_a_pattern_purge_is_a_bypass() {
    let emu = emulator_and_edge();
    assert_eq!(edge_get(&emu, "cdn4.example.com", "/img/a.png"), "MISS");
    // Someone purged /img/* (the object is dropped, its next answer BYPASS); this run purges
    // the URL, which is no longer cached, and probes it.
    assert!(client(&emu).purge_patterns(4, &["/img/*"]).ok());
    let ran = run_verify(&emu, 4, &["/img/a.png"], false, None);
    assert_eq!(ran.status, GCDN_OK, "{}", ran.msg);
    let [result, cache, ..] = &verdicts(&ran.json)["https://cdn4.example.com/img/a.png"];
    assert_eq!((result.as_str(), cache.as_str()), ("fresh", "BYPASS"));
    // The probe filled the cache again.
    assert_eq!(edge_get(&emu, "cdn4.example.com", "/img/a.png"), "HIT");
}

#[test]
fn stale_through_an_edge_told_to_ignore_a_purge() {
    let emu = emulator_and_edge();
    let long_ago = std::time::UNIX_EPOCH + Duration::from_secs(946_684_800); // 2000-01-01
    emu.edge_store(5, "/app.js", long_ago);
    emu.edge_store(5, "/other.js", long_ago);
    emu.edge_ignore_purges(&["/app.js"]);
    let ran = run_verify(&emu, 5, &["/app.js", "/other.js"], false, None);
    assert_eq!(ran.status, GCDN_ERR_STALE, "{}", ran.msg);
    assert!(ran.msg.contains("stale at the edge"), "{}", ran.msg);
    let got = verdicts(&ran.json);
    let [result, cache, since, edge] = &got["https://cdn5.example.com/app.js"];
    assert_eq!(
        [result, cache, since, edge].map(String::as_str),
        [
            "stale",
            "HIT",
            "2000-01-01T00:00:00+00:00",
            gcdn_emulator::EDGE_ID
        ]
    );
    assert_eq!(got["https://cdn5.example.com/other.js"][0], "fresh");
    assert_eq!(ran.json["totals"]["verified_stale"], 1);
    // The purge itself was accepted and confirmed.
    assert_eq!(ran.json["requests"][0]["outcome"], "purged");
}

#[test]
fn exact_on_a_resource_that_ignores_query_strings_stays_stale() {
    let emu = emulator_and_edge();
    let iqs = serde_json::json!({"ignoreQueryString": {"enabled": true, "value": true}});
    emu.add_resource(gcdn_emulator::Resource::new(30).options(iqs));
    // The edge cached /app.js?v=1 under the key /app.js, a minute ago.
    let before = std::time::SystemTime::now() - Duration::from_secs(60);
    emu.edge_store(30, "/app.js?v=1", before);
    assert_eq!(emu.edge_objects()[0].key, "/app.js");

    // `exact` sends /app.js?v=2 as given: it names no cached object, the edge still HITs.
    let ran = run_verify(&emu, 30, &["/app.js?v=2"], true, None);
    assert_eq!(ran.status, GCDN_ERR_STALE, "{}", ran.msg);
    assert_eq!(ran.json["rewritten"], serde_json::json!([]));
    let sent = purges(&emu);
    assert_eq!(
        sent[0].json().unwrap(),
        serde_json::json!({"urls": ["/app.js?v=2"]})
    );
    let [result, cache, ..] = &verdicts(&ran.json)["https://cdn30.example.com/app.js?v=2"];
    assert_eq!((result.as_str(), cache.as_str()), ("stale", "HIT"));

    // Without it, the item goes in its cache-key form, /app.js, and the edge misses.
    let ran = run_verify(&emu, 30, &["/app.js?v=2"], false, None);
    assert_eq!(ran.status, GCDN_OK, "{}", ran.msg);
    assert_eq!(ran.json["rewritten"][0]["as"], "/app.js");
    assert_eq!(
        purges(&emu)[1].json().unwrap(),
        serde_json::json!({"urls": ["/app.js"]})
    );
    // The URL probed is the one purged.
    let [result, cache, ..] = &verdicts(&ran.json)["https://cdn30.example.com/app.js"];
    assert_eq!((result.as_str(), cache.as_str()), ("fresh", "MISS"));
}

#[test]
fn verify_limit_probes_urls_evenly_chosen() {
    let emu = emulator_and_edge();
    let urls: Vec<String> = (0..10).map(|i| format!("/f{i}.js")).collect();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let ran = run_verify(&emu, 6, &refs, false, Some(3));
    assert_eq!(ran.status, GCDN_OK, "{}", ran.msg);
    assert_eq!(ran.json["verified"].as_array().unwrap().len(), 3);
    let mut probed: Vec<String> = emu.edge_requests().into_iter().map(|r| r.path).collect();
    probed.sort();
    // The first, the middle and the last of the ten.
    assert_eq!(probed, ["/f0.js", "/f4.js", "/f9.js"]);
}

#[test]
fn prefetch_after_purge_is_paced_per_resource_and_warms_the_edge() {
    let emu = emulator_and_edge();
    let window = Duration::from_millis(600);
    emu.set_limits(gcdn_emulator::Limits {
        prefetch_window: window,
        ..gcdn_emulator::Limits::default()
    });
    let c = client(&emu);
    let many: Vec<String> = (0..150).map(|i| format!("/big/{i}.iso")).collect();
    unsafe {
        let job = gcdn_job_new();
        for (id, list) in [(7, many.clone()), (8, vec!["/one.iso".to_owned()])] {
            let owned: Vec<_> = list.iter().map(|u| cstr(u)).collect();
            let ptrs: Vec<_> = owned.iter().map(|u| u.as_ptr()).collect();
            assert!(call(|e| gcdn_job_add_urls(job, id, ptrs.as_ptr(), ptrs.len(), e)).ok());
        }
        let run = gcdn_run_new();
        assert!(call(|e| gcdn_run_set_prefetch(run, 1, e)).ok());
        assert!(call(|e| gcdn_run_set_wait_ms(run, 20_000, e)).ok());
        let mut report: *mut gcdn_report = ptr::null_mut();
        let r = call(|e| gcdn_job_run(c.ptr(), job, run, &mut report, e));
        assert_eq!(r.status, GCDN_OK, "{}", r.msg());
        // Reported per request: resource 7's 150 paths in two, resource 8's in one.
        assert_eq!(gcdn_report_prefetched_count(report), 3);
        let mut seen = Vec::new();
        for i in 0..3 {
            assert_eq!(
                gcdn_report_prefetched_outcome(report, i),
                GCDN_OUTCOME_PURGED
            );
            assert_eq!(gcdn_report_prefetched_http_status(report, i), 201);
            seen.push((
                gcdn_report_prefetched_resource_id(report, i),
                gcdn_report_prefetched_items(report, i),
            ));
        }
        seen.sort_unstable();
        assert_eq!(seen, [(7, 50), (7, 100), (8, 1)]);
        gcdn_report_free(report);
        gcdn_run_free(run);
        gcdn_job_free(job);
    }
    // At the server: three prefetches accepted (the emulator's window answers 429 to one
    // that comes too early: the pacer's margin keeps that away, and a retry would still end
    // in three accepted), resource 7's two a full window apart, each after the purges.
    let all = emu.requests();
    let last_purge = all
        .iter()
        .filter(|r| r.path.ends_with("/purge"))
        .map(|r| r.received)
        .max()
        .unwrap();
    let prefetches: Vec<_> = all
        .iter()
        .filter(|r| r.path.ends_with("/prefetch") && r.status == 201)
        .collect();
    assert_eq!(prefetches.len(), 3);
    assert!(prefetches.iter().all(|r| r.received > last_purge));
    let of7: Vec<_> = prefetches
        .iter()
        .filter(|r| r.path == "/cdn/resources/7/prefetch")
        .collect();
    let gap = of7[1].received.duration_since(of7[0].received);
    assert!(gap >= window - Duration::from_millis(50), "{gap:?}");
    // A following GET at the edge is a HIT.
    assert_eq!(edge_get(&emu, "cdn7.example.com", "/big/149.iso"), "HIT");
    assert_eq!(edge_get(&emu, "cdn8.example.com", "/one.iso"), "HIT");
}
