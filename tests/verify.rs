//! Verification at the edge through the C ABI: the real library, the emulator's API (purges
//! confirmed by its purge statuses), and a raw-socket edge on loopback that answers as told.

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
