//! The purge job through the C ABI, against a real emulator: many resources and hosts,
//! duplicates and covered items, unmatched hosts and resources that cannot take the purge, a
//! 5xx mid-run and resuming from the report, cancel, deadline and a stopping callback mid-run,
//! dry runs, confirmation (successful, failed, never finished), progress events, pacing, and
//! hostile listings.

mod common;

use std::ffi::{c_char, c_void, CStr};
use std::ptr;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;
use gcdn_emulator::{Endpoint, ListingFault, PurgeState};
use serde_json::{json, Value};

// ---- Handles ----

struct TestJob(*mut gcdn_job);

impl Drop for TestJob {
    fn drop(&mut self) {
        unsafe { gcdn_job_free(self.0) };
    }
}

fn c_list(items: &[&str]) -> (Vec<std::ffi::CString>, Vec<*const c_char>) {
    let owned: Vec<std::ffi::CString> = items.iter().map(|s| cstr(s)).collect();
    let ptrs = owned.iter().map(|c| c.as_ptr()).collect();
    (owned, ptrs)
}

impl TestJob {
    fn new() -> TestJob {
        let j = gcdn_job_new();
        assert!(!j.is_null());
        TestJob(j)
    }
    fn urls(&self, rid: i64, items: &[&str]) -> Outcome {
        let (_o, p) = c_list(items);
        call(|e| unsafe { gcdn_job_add_urls(self.0, rid, p.as_ptr(), p.len(), e) })
    }
    fn patterns(&self, rid: i64, items: &[&str]) -> Outcome {
        let (_o, p) = c_list(items);
        call(|e| unsafe { gcdn_job_add_patterns(self.0, rid, p.as_ptr(), p.len(), e) })
    }
    fn all(&self, rid: i64) -> Outcome {
        call(|e| unsafe { gcdn_job_add_all(self.0, rid, e) })
    }
    fn full(&self, items: &[&str]) -> Outcome {
        let (_o, p) = c_list(items);
        call(|e| unsafe { gcdn_job_add_full_urls(self.0, p.as_ptr(), p.len(), e) })
    }
    fn count(&self) -> usize {
        unsafe { gcdn_job_item_count(self.0) }
    }
}

struct Run(*mut gcdn_run);

impl Drop for Run {
    fn drop(&mut self) {
        unsafe { gcdn_run_free(self.0) };
    }
}

impl Run {
    fn new() -> Run {
        let r = gcdn_run_new();
        assert!(!r.is_null());
        Run(r)
    }
    fn timeout_ms(self, ms: u64) -> Run {
        assert!(call(|e| unsafe { gcdn_run_set_timeout_ms(self.0, ms, e) }).ok());
        self
    }
    fn dry_run(self) -> Run {
        assert!(call(|e| unsafe { gcdn_run_set_dry_run(self.0, 1, e) }).ok());
        self
    }
    fn wait_ms(self, ms: u64) -> Run {
        assert!(call(|e| unsafe { gcdn_run_set_wait_ms(self.0, ms, e) }).ok());
        self
    }
    fn exact(self) -> Run {
        assert!(call(|e| unsafe { gcdn_run_set_exact(self.0, 1, e) }).ok());
        self
    }
    fn workers(self, n: u32) -> Run {
        assert!(call(|e| unsafe { gcdn_run_set_workers(self.0, n, e) }).ok());
        self
    }
    fn cancel(self, token: *const gcdn_cancel) -> Run {
        assert!(call(|e| unsafe { gcdn_run_set_cancel(self.0, token, e) }).ok());
        self
    }
    fn progress(self, rec: &mut Recorder) -> Run {
        let user = rec as *mut Recorder as *mut c_void;
        assert!(call(|e| unsafe { gcdn_run_set_progress(self.0, Some(record), user, e) }).ok());
        self
    }
}

struct Rep(*mut gcdn_report);

impl Drop for Rep {
    fn drop(&mut self) {
        unsafe { gcdn_report_free(self.0) };
    }
}

fn text(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
}

impl Rep {
    fn json(&self) -> Value {
        let mut out: *mut c_char = ptr::null_mut();
        assert!(call(|e| unsafe { gcdn_report_json(self.0, &mut out, e) }).ok());
        let s = text(out).unwrap();
        unsafe { gcdn_string_free(out) };
        for key in SECRETS {
            assert!(!s.contains(key), "the report holds a key: {s}");
        }
        serde_json::from_str(&s).unwrap()
    }
    fn remaining(&self) -> Option<TestJob> {
        let j = unsafe { gcdn_report_remaining(self.0) };
        (!j.is_null()).then(|| TestJob(j))
    }
    fn total(&self, which: i32) -> u64 {
        unsafe { gcdn_report_total(self.0, which) }
    }
    fn requests(&self) -> usize {
        unsafe { gcdn_report_request_count(self.0) }
    }
    fn outcome(&self, i: usize) -> i32 {
        unsafe { gcdn_report_request_outcome(self.0, i) }
    }
    fn items(&self, i: usize) -> Vec<String> {
        let n = unsafe { gcdn_report_request_item_count(self.0, i) };
        (0..n)
            .map(|j| text(unsafe { gcdn_report_request_item(self.0, i, j) }).unwrap())
            .collect()
    }
    /// (item, resource id, reason, by) of every left-out item, by accessors.
    fn skipped(&self) -> Vec<(String, i64, i32, Option<String>)> {
        let n = unsafe { gcdn_report_skipped_count(self.0) };
        (0..n)
            .map(|i| unsafe {
                (
                    text(gcdn_report_skipped_item(self.0, i)).unwrap(),
                    gcdn_report_skipped_resource_id(self.0, i),
                    gcdn_report_skipped_reason(self.0, i),
                    text(gcdn_report_skipped_by(self.0, i)),
                )
            })
            .collect()
    }
}

/// Run `job`; the report whenever one was written.
fn run(c: &TestClient, job: &TestJob, run: Option<&Run>) -> (Outcome, Option<Rep>) {
    let mut report: *mut gcdn_report = ptr::null_mut();
    let r = call(|e| unsafe {
        gcdn_job_run(
            c.ptr(),
            job.0,
            run.map_or(ptr::null(), |r| r.0),
            &mut report,
            e,
        )
    });
    for key in SECRETS {
        assert!(!r.msg().contains(key), "{}", r.msg());
    }
    let rep = (!report.is_null()).then(|| Rep(report));
    if let Some(rep) = &rep {
        assert_eq!(unsafe { gcdn_report_status(rep.0) }, r.status);
    }
    (r, rep)
}

// ---- Progress events ----

#[derive(Clone, Debug)]
#[allow(dead_code)]
struct Ev {
    kind: i32,
    request: i64,
    resource_id: i64,
    purge_kind: i32,
    items: usize,
    attempt: u32,
    http_status: i32,
    status: i32,
    wait_ms: u64,
    why: i32,
    completion: i32,
    message: Option<String>,
    requests: u64,
    purged: u64,
    failed: u64,
    not_sent: u64,
    items_purged: u64,
    sent: u64,
    confirmed: u64,
    thread: ThreadId,
}

type Hook = Box<dyn FnMut(&Ev)>;

#[derive(Default)]
struct Recorder {
    events: Vec<Ev>,
    /// Stop (return non-zero) at the first event of this kind.
    stop_at: Option<i32>,
    /// Called with each event (e.g. to push a fault or fire a token).
    hook: Option<Hook>,
}

unsafe extern "C" fn record(event: *const gcdn_event, user: *mut c_void) -> i32 {
    let rec = &mut *(user as *mut Recorder);
    let t = |w| gcdn_event_total(event, w);
    let ev = Ev {
        kind: gcdn_event_kind(event),
        request: gcdn_event_request(event),
        resource_id: gcdn_event_resource_id(event),
        purge_kind: gcdn_event_purge_kind(event),
        items: gcdn_event_item_count(event),
        attempt: gcdn_event_attempt(event),
        http_status: gcdn_event_http_status(event),
        status: gcdn_event_status(event),
        wait_ms: gcdn_event_wait_ms(event),
        why: gcdn_event_wait_reason(event),
        completion: gcdn_event_completion(event),
        message: text(gcdn_event_message(event)),
        requests: t(GCDN_TOTAL_REQUESTS),
        purged: t(GCDN_TOTAL_PURGED),
        failed: t(GCDN_TOTAL_FAILED),
        not_sent: t(GCDN_TOTAL_NOT_SENT),
        items_purged: t(GCDN_TOTAL_ITEMS_PURGED),
        sent: t(GCDN_TOTAL_SENT),
        confirmed: t(GCDN_TOTAL_CONFIRMED),
        thread: std::thread::current().id(),
    };
    if let Some(hook) = rec.hook.as_mut() {
        hook(&ev);
    }
    let stop = rec.stop_at == Some(ev.kind);
    rec.events.push(ev);
    i32::from(stop)
}

// ---- Fixtures ----

const WINDOW_MS: u64 = 300;

/// An emulator with resources 1-6 (`h{id}.example.com`; 2 also `www.two.example.com`),
/// resource 7 unable to purge by URL, 8 inactive, 9 deleted; windows of 1 request per
/// [`WINDOW_MS`].
fn fleet() -> Emulator {
    let emu = emulator_with(Config {
        limits: Limits {
            url_requests: 1,
            url_window: Duration::from_millis(WINDOW_MS),
            pattern_requests: 1,
            pattern_window: Duration::from_millis(WINDOW_MS),
            all_requests: 1,
            all_window: Duration::from_millis(WINDOW_MS),
            ..Limits::default()
        },
        ..Config::default()
    });
    for id in 1..=9 {
        let mut r = Resource::new(id);
        r.cname = format!("h{id}.example.com");
        match id {
            2 => r.secondary_hostnames = vec!["www.two.example.com".into()],
            7 => r.can_purge_by_urls = false,
            8 => r.active = false,
            9 => r.deleted = true,
            _ => {}
        }
        emu.add_resource(r);
    }
    emu
}

/// A client pacing by the emulator's windows, as its limits endpoint reports them.
fn paced_client(emu: &Emulator, retries: u32) -> TestClient {
    let mut s = Setup::new(emu);
    s.max_retries = Some(retries);
    s.timeout_ms = Some(3_000);
    s.build().unwrap()
}

/// The URL purges the emulator accepted, as (resource id, items).
fn accepted(emu: &Emulator) -> Vec<(i64, Vec<String>)> {
    purges(emu)
        .into_iter()
        .filter(|r| r.status == 201)
        .map(|r| {
            let id: i64 = r.path.split('/').nth(3).unwrap().parse().unwrap();
            let v = r.json().unwrap();
            let list = v["urls"].as_array().or(v["paths"].as_array()).unwrap();
            (
                id,
                list.iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn paths(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}.js")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---- Tests ----

#[test]
fn adding_validates_at_once_and_leaves_the_job_unchanged() {
    let job = TestJob::new();
    assert!(job.urls(1, &["/a", "/b"]).ok());
    let r = job.urls(1, &["/c", "https://h1.example.com/d"]);
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    assert!(r.msg().starts_with("URL 1 "), "{}", r.msg());
    let r = job.full(&["https://h1.example.com/a", "http://h1.example.com/b"]);
    assert!(r.msg().starts_with("full URL 1 "), "{}", r.msg());
    let r = job.full(&["https://user:hunter2pass@h1.example.com/a"]);
    assert!(!r.msg().contains("hunter2pass"), "{}", r.msg());
    assert_eq!(
        job.patterns(1, &["/a/*/b"]).status,
        GCDN_ERR_INVALID_ARGUMENT
    );
    assert_eq!(job.all(0).status, GCDN_ERR_INVALID_ARGUMENT);
    assert_eq!(job.urls(1, &[]).status, GCDN_ERR_INVALID_ARGUMENT);
    assert_eq!(job.count(), 2);
    // NULLs are refused, never a crash.
    let r = call(|e| unsafe { gcdn_job_add_all(ptr::null_mut(), 1, e) });
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    let r = call(|e| unsafe { gcdn_job_add_urls(job.0, 1, ptr::null(), 3, e) });
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    unsafe {
        gcdn_job_free(ptr::null_mut());
        gcdn_run_free(ptr::null_mut());
        gcdn_report_free(ptr::null_mut());
        assert!(gcdn_report_remaining(ptr::null()).is_null());
        assert_eq!(gcdn_report_request_count(ptr::null()), 0);
        assert!(gcdn_report_request_item(ptr::null(), 0, 0).is_null());
        assert_eq!(gcdn_event_kind(ptr::null()), 0);
    }
    // A run refused before anything is sent leaves report_out alone.
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let empty = TestJob::new();
    let (r, rep) = run(&c, &empty, None);
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    assert!(rep.is_none());
    let r = call(|e| unsafe { gcdn_job_run(c.ptr(), job.0, ptr::null(), ptr::null_mut(), e) });
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    let r = call(|e| unsafe { gcdn_run_set_workers(Run::new().0, 0, e) });
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    assert!(emu.requests().is_empty());
}

#[test]
fn many_resources_and_hosts_with_every_kind_of_left_out_item() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let job = TestJob::new();
    assert!(job
        .full(&[
            "https://nowhere.example.com/x.png",
            "https://H1.Example.com/a.png?v=1",
            "https://h1.example.com/a.png?v=1",
            "https://h1.example.com/img/b.png?v=2",
            "https://www.two.example.com/c.css",
            "https://h3.example.com/d.js",
            "https://h7.example.com/e.js",
            "https://h8.example.com/f.js",
            "https://h9.example.com/g.js",
            "https://h4.example.com/h.js",
        ])
        .ok());
    assert!(job.patterns(1, &["/img/*"]).ok());
    assert!(job.patterns(7, &["/p/*"]).ok());
    assert!(job.urls(3, &["/d.js", "/d2.js"]).ok());
    assert!(job.all(4).ok());
    let (r, rep) = run(&c, &job, None);
    let rep = rep.expect("a report");
    // The unmatched host is the first failure: NOT_FOUND; the rest still ran.
    assert_eq!(r.status, GCDN_ERR_NOT_FOUND, "{}", r.msg());
    assert!(r.msg().contains("no_resource"), "{}", r.msg());
    let v = rep.json();
    let sent: Vec<(i64, String, Vec<String>)> = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            assert_eq!(q["outcome"], "purged", "{q}");
            assert_eq!(q["status"], 0);
            assert_eq!(q["http_status"], 201);
            (
                q["resource_id"].as_i64().unwrap(),
                q["kind"].as_str().unwrap().to_owned(),
                serde_json::from_value(q["items"].clone()).unwrap(),
            )
        })
        .collect();
    let s = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        sent,
        [
            (1, "patterns".into(), s(&["/img/*"])),
            (1, "urls".into(), s(&["/a.png?v=1"])),
            (2, "urls".into(), s(&["/c.css"])),
            (3, "urls".into(), s(&["/d.js", "/d2.js"])),
            (4, "all".into(), vec![]),
            (7, "patterns".into(), s(&["/p/*"])),
        ]
    );
    assert_eq!(
        rep.skipped(),
        [
            (
                "https://nowhere.example.com/x.png".into(),
                0,
                GCDN_SKIP_NO_RESOURCE,
                None
            ),
            (
                "https://h1.example.com/a.png?v=1".into(),
                1,
                GCDN_SKIP_DUPLICATE,
                None
            ),
            (
                "https://h1.example.com/img/b.png?v=2".into(),
                1,
                GCDN_SKIP_COVERED,
                Some("/img/*".into())
            ),
            (
                "https://h7.example.com/e.js".into(),
                7,
                GCDN_SKIP_URL_PURGE_DISABLED,
                None
            ),
            (
                "https://h8.example.com/f.js".into(),
                8,
                GCDN_SKIP_INACTIVE,
                None
            ),
            (
                "https://h9.example.com/g.js".into(),
                9,
                GCDN_SKIP_INACTIVE,
                None
            ),
            (
                "https://h4.example.com/h.js".into(),
                4,
                GCDN_SKIP_COVERED,
                Some("all".into())
            ),
            ("/d.js".into(), 3, GCDN_SKIP_DUPLICATE, None),
        ]
    );
    assert_eq!(v["skipped"][0]["resource_id"], Value::Null);
    assert_eq!(v["skipped"][2]["by"], "/img/*");
    // Exactly what the report says went out, and nothing else.
    let mut seen: Vec<(i64, Vec<String>)> = accepted(&emu);
    let mut expected: Vec<(i64, Vec<String>)> =
        sent.into_iter().map(|(id, _, i)| (id, i)).collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(rep.total(GCDN_TOTAL_PURGED), 6);
    assert_eq!(rep.total(GCDN_TOTAL_ITEMS_PURGED), 7);
    assert_eq!(rep.total(GCDN_TOTAL_RATE_LIMITED), 0);
    // Skipped items are not "remaining": running them again would meet the same reason.
    assert!(rep.remaining().is_none());
}

#[test]
fn a_5xx_mid_run_is_reported_item_by_item_and_resumed() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let list = paths(350, "/a/");
    let job = TestJob::new();
    assert!(job.urls(1, &refs(&list)).ok());
    // The second purge request meets a 503 (pushed once the first is answered).
    let emu_ref = &emu as *const Emulator as usize;
    let mut rec = Recorder {
        hook: Some(Box::new(move |ev: &Ev| {
            if ev.kind == GCDN_EVENT_ANSWERED && ev.purged == 1 {
                let emu = unsafe { &*(emu_ref as *const Emulator) };
                emu.push_fault(
                    Fault::respond(503, r#"{"errors":["upstream down"]}"#)
                        .on("POST", "/cdn/resources/1/purge"),
                );
            }
        })),
        ..Recorder::default()
    };
    let r1 = Run::new().workers(1).progress(&mut rec);
    let (r, rep) = run(&c, &job, Some(&r1));
    let rep = rep.unwrap();
    assert_eq!(r.status, GCDN_ERR_SERVER, "{}", r.msg());
    assert!(
        r.msg()
            .contains("3 of 4 requests purged (250 items), 1 failed"),
        "{}",
        r.msg()
    );
    assert_eq!(rep.requests(), 4);
    let outcomes: Vec<i32> = (0..4).map(|i| rep.outcome(i)).collect();
    assert_eq!(
        outcomes,
        [
            GCDN_OUTCOME_PURGED,
            GCDN_OUTCOME_FAILED,
            GCDN_OUTCOME_PURGED,
            GCDN_OUTCOME_PURGED
        ]
    );
    unsafe {
        assert_eq!(gcdn_report_request_status(rep.0, 1), GCDN_ERR_SERVER);
        assert_eq!(gcdn_report_request_http_status(rep.0, 1), 503);
        assert_eq!(gcdn_report_request_attempts(rep.0, 1), 1);
        assert!(text(gcdn_report_request_message(rep.0, 1))
            .unwrap()
            .contains("upstream down"));
        assert!(gcdn_report_request_message(rep.0, 0).is_null());
    }
    assert_eq!(rep.items(1), list[100..200]);
    // What the emulator accepted is exactly what the report calls purged.
    let purged: Vec<String> = accepted(&emu).into_iter().flat_map(|(_, i)| i).collect();
    let mut expected: Vec<String> = [&list[..100], &list[200..]].concat();
    assert_eq!(purged, expected);
    // The remaining job is the failed request; a second run finishes it.
    let rest = rep.remaining().expect("something remains");
    assert_eq!(rest.count(), 100);
    let (r, rep2) = run(&c, &rest, None);
    assert!(r.ok(), "{}", r.msg());
    let rep2 = rep2.unwrap();
    assert_eq!(rep2.items(0), list[100..200]);
    assert!(rep2.remaining().is_none());
    let mut all: Vec<String> = accepted(&emu).into_iter().flat_map(|(_, i)| i).collect();
    all.sort();
    expected = list.clone();
    expected.sort();
    assert_eq!(all, expected);
}

#[test]
fn cancel_mid_run_writes_the_report() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let list = paths(500, "/c/");
    let job = TestJob::new();
    assert!(job.urls(2, &refs(&list)).ok());
    let token = gcdn_cancel_new();
    let fire = token as usize;
    let fired_at = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let fired = fired_at.clone();
    let mut rec = Recorder {
        hook: Some(Box::new(move |ev: &Ev| {
            if ev.kind == GCDN_EVENT_ANSWERED && ev.purged == 2 {
                // From another thread, as a user would.
                std::thread::spawn(move || unsafe { gcdn_cancel_fire(fire as *const gcdn_cancel) })
                    .join()
                    .unwrap();
                fired.lock().unwrap().get_or_insert_with(Instant::now);
            }
        })),
        ..Recorder::default()
    };
    let r1 = Run::new().cancel(token).progress(&mut rec);
    let (r, rep) = run(&c, &job, Some(&r1));
    let ended = Instant::now();
    unsafe { gcdn_cancel_free(token) };
    // Measured from the cancel: the run ends well before its 3 other slots (900 ms and more).
    let fired_at = fired_at.lock().unwrap().expect("the cancel fired");
    let after = ended - fired_at;
    assert!(
        after < Duration::from_millis(750),
        "{after:?} after the cancel"
    );
    let rep = rep.expect("a cancelled run writes its report");
    assert_eq!(r.status, GCDN_ERR_CANCELLED, "{}", r.msg());
    let purged = rep.total(GCDN_TOTAL_PURGED);
    assert!((2..5).contains(&purged), "{purged}");
    assert_eq!(rep.total(GCDN_TOTAL_NOT_SENT), 5 - purged);
    let v = rep.json();
    let last = &v["requests"][4];
    assert_eq!(last["outcome"], "not_sent");
    assert_eq!(last["status"], GCDN_ERR_CANCELLED);
    assert_eq!(accepted(&emu).len() as u64, purged);
    let rest = rep.remaining().unwrap();
    assert_eq!(rest.count() as u64, 500 - purged * 100);
}

#[test]
fn a_deadline_mid_run_writes_the_report() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let list = paths(600, "/d/");
    let job = TestJob::new();
    assert!(job.urls(3, &refs(&list)).ok());
    // 6 requests at one per 300 ms take 1.5 s or more: 700 ms ends it after two or three.
    let r1 = Run::new().timeout_ms(700);
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&r1));
    assert!(
        t.elapsed() < Duration::from_millis(700 + 2_000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{}", r.msg());
    let rep = rep.expect("a timed-out run writes its report");
    let purged = rep.total(GCDN_TOTAL_PURGED);
    assert!((1..6).contains(&purged), "{purged}");
    assert_eq!(rep.total(GCDN_TOTAL_NOT_SENT) + purged, 6);
    let v = rep.json();
    assert_eq!(v["requests"][5]["outcome"], "not_sent");
    assert_eq!(v["requests"][5]["status"], GCDN_ERR_TIMEOUT);
    assert_eq!(accepted(&emu).len() as u64, purged);
}

#[test]
fn a_dry_run_sends_no_purge_and_estimates() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let list = paths(450, "/e/");
    let job = TestJob::new();
    assert!(job.urls(1, &refs(&list)).ok());
    assert!(job
        .full(&["https://h2.example.com/x", "https://nowhere.example.com/y"])
        .ok());
    let (r, rep) = run(&c, &job, Some(&Run::new().dry_run()));
    let rep = rep.unwrap();
    assert_eq!(
        r.status,
        GCDN_ERR_NOT_FOUND,
        "the unmatched host still counts: {}",
        r.msg()
    );
    assert!(purges(&emu).is_empty(), "a dry run sent a purge");
    assert!(emu.requests().iter().all(|q| q.method == "GET"));
    assert_eq!(unsafe { gcdn_report_dry_run(rep.0) }, 1);
    let v = rep.json();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["requests"].as_array().unwrap().len(), 6);
    assert!(v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|q| q["outcome"] == "planned" && q["status"].is_null()));
    // 5 URL requests on resource 1 at one per 300 ms: the first now, the last 1.2 s later.
    assert_eq!(v["totals"]["estimated_ms"], 4 * WINDOW_MS);
    assert_eq!(rep.outcome(0), GCDN_OUTCOME_PLANNED);
    // The remaining job of a dry run is the whole plan: mapped, de-duplicated, by resource.
    let plan = rep.remaining().unwrap();
    assert_eq!(plan.count(), 451);
    let (r, _) = run(&c, &plan, None);
    assert!(r.ok(), "{}", r.msg());
    assert_eq!(accepted(&emu).len(), 6);
}

#[test]
fn confirmation_successful_failed_and_never_finished() {
    let emu = fleet();
    emu.set_purge_status_delay(Duration::from_millis(1_200));
    let c = paced_client(&emu, 0);
    let job = TestJob::new();
    assert!(job.urls(1, &["/ok.png"]).ok());
    assert!(job.patterns(2, &["/ok/*"]).ok());
    assert!(job.all(3).ok());
    let mut rec = Recorder::default();
    let (r, rep) = run(
        &c,
        &job,
        Some(&Run::new().wait_ms(15_000).progress(&mut rec)),
    );
    assert!(r.ok(), "{}", r.msg());
    let rep = rep.unwrap();
    for i in 0..3 {
        unsafe {
            assert_eq!(
                gcdn_report_request_completion(rep.0, i),
                GCDN_COMPLETION_SUCCESSFUL
            );
            assert!(gcdn_report_request_purge_id(rep.0, i) > 0);
        }
    }
    assert_eq!(rep.total(GCDN_TOTAL_CONFIRMED), 3);
    assert!(rec.events.iter().any(|e| e.kind == GCDN_EVENT_CONFIRM_POLL));
    assert_eq!(
        rec.events
            .iter()
            .filter(|e| e.kind == GCDN_EVENT_CONFIRMED)
            .count(),
        3
    );
    assert_eq!(rep.json()["requests"][0]["completion"], "successful");

    // A purge whose status turns Failed fails the run with REJECTED; it is remaining work.
    emu.set_purge_status_delay(Duration::ZERO);
    emu.set_next_purge_states(1, PurgeState::Failed);
    let job = TestJob::new();
    assert!(job.urls(4, &["/bad.png"]).ok());
    let (r, rep) = run(&c, &job, Some(&Run::new().wait_ms(10_000)));
    assert_eq!(r.status, GCDN_ERR_REJECTED, "{}", r.msg());
    let rep = rep.unwrap();
    assert_eq!(
        unsafe { gcdn_report_request_completion(rep.0, 0) },
        GCDN_COMPLETION_FAILED
    );
    assert_eq!(rep.json()["requests"][0]["completion"], "failed");
    assert_eq!(rep.remaining().unwrap().count(), 1);

    // In progress forever: the wait ends on time with TIMEOUT and in_progress.
    emu.set_next_purge_states(1, PurgeState::InProgress);
    let job = TestJob::new();
    assert!(job.urls(5, &["/slow.png"]).ok());
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&Run::new().wait_ms(2_500)));
    let took = t.elapsed();
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{}", r.msg());
    assert!(took < Duration::from_millis(2_500 + 2_000), "{took:?}");
    let rep = rep.unwrap();
    assert_eq!(rep.json()["requests"][0]["completion"], "in_progress");
    assert_eq!(rep.outcome(0), GCDN_OUTCOME_PURGED);
}

#[test]
fn progress_events_come_in_order_on_the_calling_thread() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let job = TestJob::new();
    for id in 1..=4 {
        assert!(job.urls(id, &refs(&paths(250, &format!("/r{id}/")))).ok());
    }
    let mut rec = Recorder::default();
    let (r, rep) = run(&c, &job, Some(&Run::new().progress(&mut rec)));
    assert!(r.ok(), "{}", r.msg());
    let rep = rep.unwrap();
    let me = std::thread::current().id();
    assert!(
        rec.events.iter().all(|e| e.thread == me),
        "an event came on another thread"
    );
    // Per request: sent, then answered; totals only grow; the last totals are the report's.
    for req in 0..12 {
        let kinds: Vec<i32> = rec
            .events
            .iter()
            .filter(|e| e.request == req && matches!(e.kind, GCDN_EVENT_SENT | GCDN_EVENT_ANSWERED))
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [GCDN_EVENT_SENT, GCDN_EVENT_ANSWERED],
            "request {req}"
        );
    }
    for w in rec.events.windows(2) {
        assert!(
            w[1].purged >= w[0].purged
                && w[1].sent >= w[0].sent
                && w[1].items_purged >= w[0].items_purged
        );
    }
    let last = rec.events.last().unwrap();
    assert_eq!(
        (last.purged, last.items_purged, last.requests),
        (12, 1000, 12)
    );
    assert_eq!(rep.total(GCDN_TOTAL_ITEMS_PURGED), 1000);
    let answered: Vec<&Ev> = rec
        .events
        .iter()
        .filter(|e| e.kind == GCDN_EVENT_ANSWERED)
        .collect();
    for (n, e) in answered.iter().enumerate() {
        assert_eq!(e.purged, n as u64 + 1);
        assert_eq!(e.http_status, 201);
        assert!(e.resource_id > 0 && e.purge_kind == GCDN_KIND_URLS);
    }
    // Waits for the pacer are events too, with their resource and reason.
    let waits: Vec<&Ev> = rec
        .events
        .iter()
        .filter(|e| e.kind == GCDN_EVENT_WAIT)
        .collect();
    assert!(waits.len() >= 4, "{waits:?}");
    for w in &waits {
        assert_eq!(w.why, GCDN_WAIT_PACER);
        assert!(
            (1..=4).contains(&w.resource_id) && w.wait_ms <= WINDOW_MS + 100,
            "{w:?}"
        );
    }
    // Resources went at once: 3 requests each at one per 300 ms, 4 resources: well under
    // the 12 x 300 ms one after another would take.
    assert_eq!(rep.total(GCDN_TOTAL_RATE_LIMITED), 0);
    assert!(rep.total(GCDN_TOTAL_ELAPSED_MS) >= 2 * WINDOW_MS);
    assert_eq!(rep.total(GCDN_TOTAL_ESTIMATED_MS), 2 * WINDOW_MS);
}

#[test]
fn the_callback_can_stop_the_run() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let job = TestJob::new();
    assert!(job.urls(1, &refs(&paths(500, "/s/"))).ok());
    let mut rec = Recorder {
        stop_at: Some(GCDN_EVENT_ANSWERED),
        ..Recorder::default()
    };
    let (r, rep) = run(&c, &job, Some(&Run::new().progress(&mut rec)));
    assert_eq!(r.status, GCDN_ERR_CANCELLED, "{}", r.msg());
    assert!(r.msg().contains("progress callback"), "{}", r.msg());
    let rep = rep.unwrap();
    assert_eq!(rep.total(GCDN_TOTAL_PURGED), 1);
    assert_eq!(rep.total(GCDN_TOTAL_NOT_SENT), 4);
    assert_eq!(accepted(&emu).len(), 1);
}

#[test]
fn a_job_over_many_resources_meets_no_429_and_keeps_to_the_windows() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let job = TestJob::new();
    for id in 1..=6 {
        assert!(job.urls(id, &refs(&paths(300, &format!("/p{id}/")))).ok());
    }
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&Run::new().workers(4)));
    let took = t.elapsed();
    assert!(r.ok(), "{}", r.msg());
    let rep = rep.unwrap();
    assert_eq!(rep.total(GCDN_TOTAL_RATE_LIMITED), 0);
    assert!(emu.requests().iter().all(|q| q.status != 429));
    // 3 requests per resource at one per 300 ms: at least 600 ms; generous upper bound.
    assert!(took >= Duration::from_millis(2 * WINDOW_MS), "{took:?}");
    assert!(
        took < Duration::from_millis(2 * WINDOW_MS + 4_000),
        "{took:?}"
    );
}

/// A client pacing one request per `interval_ms` on every key, with a rate-limit wait
/// budget of `budget_ms`.
fn budget_client(emu: &Emulator, interval_ms: u64, budget_ms: u64) -> TestClient {
    let mut s = Setup::new(emu);
    s.intervals_ms = Some((interval_ms, interval_ms));
    s.wait_ms = Some(budget_ms);
    s.max_retries = Some(0);
    s.build().unwrap()
}

#[test]
fn a_window_past_the_wait_budget_fails_those_requests_at_once_and_the_rest_runs() {
    let emu = fleet();
    // One request per 1.5 s, a budget of 200 ms: of resource 1's three requests (250 URLs)
    // the first goes at once, the next two could go only 1.5 s and 3 s later: past the
    // budget, so refused at once with RATE_LIMITED and nothing sent. Resource 2's one
    // request still goes.
    let c = budget_client(&emu, 1_500, 200);
    let job = TestJob::new();
    assert!(job.urls(1, &refs(&paths(250, "/b/"))).ok());
    assert!(job.urls(2, &["/other.png"]).ok());
    let mut rec = Recorder::default();
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&Run::new().progress(&mut rec)));
    let took = t.elapsed();
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{}", r.msg());
    assert!(
        took < Duration::from_millis(1_200),
        "waited past the budget: {took:?}"
    );
    let rep = rep.unwrap();
    let v = rep.json();
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 4);
    let on = |rid: i64| reqs.iter().filter(move |q| q["resource_id"] == rid);
    assert_eq!(
        on(2).map(|q| q["outcome"].clone()).collect::<Vec<_>>(),
        ["purged"]
    );
    let one: Vec<&Value> = on(1).collect();
    assert_eq!(one[0]["outcome"], "purged");
    for q in &one[1..] {
        assert_eq!(q["outcome"], "not_sent", "{q}");
        assert_eq!(q["status"], GCDN_ERR_RATE_LIMITED, "{q}");
        assert_eq!(q["attempts"], 0, "{q}");
        let m = q["message"].as_str().unwrap();
        assert!(
            m.contains("slot opens in") && m.contains("max_rate_limit_wait"),
            "the message says when the slot opens and why it was not waited for: {m}"
        );
    }
    assert!(r.msg().contains("slot opens in"), "{}", r.msg());
    assert_eq!(rep.total(GCDN_TOTAL_PURGED), 2);
    assert_eq!(rep.total(GCDN_TOTAL_NOT_SENT), 2);
    assert_eq!(accepted(&emu).len(), 2);
    // No wait of the run was longer than the budget.
    for e in rec.events.iter().filter(|e| e.kind == GCDN_EVENT_WAIT) {
        assert!(e.wait_ms <= 200, "{e:?}");
    }
    // The refused requests are reported as failed events with RATE_LIMITED.
    let failed: Vec<&Ev> = rec
        .events
        .iter()
        .filter(|e| e.kind == GCDN_EVENT_FAILED)
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed
        .iter()
        .all(|e| e.status == GCDN_ERR_RATE_LIMITED && e.resource_id == 1));
    // The remaining job is what was refused; with a budget that fits, it goes.
    let rest = rep.remaining().unwrap();
    assert_eq!(rest.count(), 150);

    // A one-day window and no run timeout: the second request is refused at once, not
    // after a day's sleep (the default budget is 150 s).
    emu.clear_requests();
    let mut s = Setup::new(&emu);
    s.intervals_ms = Some((86_400_000, 86_400_000));
    let c = s.build().unwrap();
    let job = TestJob::new();
    assert!(job.urls(3, &refs(&paths(150, "/day/"))).ok());
    let t = Instant::now();
    let (r, rep) = run(&c, &job, None);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{}", r.msg());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let v = rep.unwrap().json();
    assert_eq!(v["requests"][0]["outcome"], "purged");
    assert_eq!(v["requests"][1]["outcome"], "not_sent");
    assert_eq!(v["requests"][1]["status"], GCDN_ERR_RATE_LIMITED);
    assert_eq!(accepted(&emu).len(), 1);
}

#[test]
fn the_limits_read_and_the_listing_keep_to_the_runs_deadline() {
    let emu = fleet();
    // No intervals set: the run reads the account's limits, and that read never answers.
    emu.push_fault(
        Fault::stall()
            .on("GET", "/cdn/clients/me/limits")
            .times(100),
    );
    let mut s = Setup::new(&emu);
    s.timeout_ms = Some(8_000);
    s.max_retries = Some(0);
    let c = s.build().unwrap();
    let job = TestJob::new();
    assert!(job.urls(1, &["/limits.png"]).ok());
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&Run::new().timeout_ms(1_000)));
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(1_000 + 1_000),
        "the limits read outlived the run's timeout: {took:?} ({})",
        r.msg()
    );
    assert!(
        matches!(r.status, GCDN_OK | GCDN_ERR_TIMEOUT),
        "{}",
        r.msg()
    );
    assert!(rep.is_some());
    // The resources listing that never answers ends with the run's timeout too, with
    // nothing sent.
    emu.clear_faults();
    emu.clear_requests();
    emu.push_fault(Fault::stall().on("GET", "/cdn/resources").times(100));
    let job = TestJob::new();
    assert!(job.full(&["https://h1.example.com/stall.png"]).ok());
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&Run::new().timeout_ms(1_000)));
    let took = t.elapsed();
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{}", r.msg());
    assert!(took < Duration::from_millis(1_000 + 1_000), "{took:?}");
    assert!(rep.is_none());
    assert!(purges(&emu).is_empty());
}

#[test]
fn hostile_resource_listings_end_in_protocol_errors_and_nothing_is_sent() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let job = TestJob::new();
    assert!(job.full(&["https://h1.example.com/a.png"]).ok());
    for fault in [
        ListingFault::EndlessNext,
        ListingFault::NextLoops,
        ListingFault::Huge(1_000_000),
        ListingFault::Oversized(9 * 1024 * 1024),
    ] {
        emu.set_listing_fault(Endpoint::Resources, fault);
        let before = rss_kib();
        let t = Instant::now();
        let (r, rep) = run(&c, &job, None);
        assert_eq!(r.status, GCDN_ERR_PROTOCOL, "{fault:?}: {}", r.msg());
        assert!(rep.is_none());
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{fault:?}: {:?}",
            t.elapsed()
        );
        assert!(rss_kib() < before + 200 * 1024, "{fault:?}: memory grew");
        assert!(purges(&emu).is_empty(), "{fault:?}: a purge was sent");
    }
    // Garbage instead of JSON.
    emu.set_listing_fault(Endpoint::Resources, ListingFault::None);
    emu.push_fault(Fault::respond(200, "<html>not json</html>").on("GET", "/cdn/resources"));
    let (r, _) = run(&c, &job, None);
    assert_eq!(r.status, GCDN_ERR_PROTOCOL, "{}", r.msg());
    // Entries with wrong-typed fields are skipped and counted; the run goes on.
    emu.set_listing_fault(Endpoint::Resources, ListingFault::BadEntries);
    let (r, rep) = run(&c, &job, None);
    assert!(r.ok(), "{}", r.msg());
    let v = rep.unwrap().json();
    assert!(v["listing"]["malformed_resources"].as_u64().unwrap() > 0);
    assert_eq!(accepted(&emu), [(1, vec!["/a.png".to_owned()])]);
}

#[test]
fn hostile_purge_status_listings_end_the_wait_in_time() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    const WAIT_MS: u64 = 6_000;
    // Each case: (what, the listing fault or a queued garbage answer, the run's status).
    let cases: [(&str, ListingFault, Option<&str>, i32); 6] = [
        (
            "next points back",
            ListingFault::NextLoops,
            None,
            GCDN_ERR_PROTOCOL,
        ),
        (
            "next never ends",
            ListingFault::EndlessNext,
            None,
            GCDN_ERR_PROTOCOL,
        ),
        // 1,000,000 entries: read page by page up to the cap, in bounded memory.
        (
            "huge",
            ListingFault::Huge(1_000_000),
            None,
            GCDN_ERR_PROTOCOL,
        ),
        // Over the 4 MiB page cap (valid JSON padded with whitespace).
        (
            "oversized",
            ListingFault::Oversized(5 * 1024 * 1024),
            None,
            GCDN_ERR_PROTOCOL,
        ),
        (
            "garbage",
            ListingFault::None,
            Some("<html>certainly not json</html>"),
            GCDN_ERR_PROTOCOL,
        ),
        // Wrong-typed entries are skipped and counted; the real entry still confirms.
        ("bad entries", ListingFault::BadEntries, None, GCDN_OK),
    ];
    for (what, fault, garbage, expect) in cases {
        emu.set_listing_fault(Endpoint::PurgeStatuses, fault);
        if let Some(body) = garbage {
            emu.push_fault(Fault::respond(200, body).on("GET", "/cdn/purge_statuses"));
        }
        let job = TestJob::new();
        assert!(job
            .urls(1, &[&format!("/{}.png", what.replace(' ', "-"))[..]])
            .ok());
        let before = rss_kib();
        let t = Instant::now();
        let (r, rep) = run(&c, &job, Some(&Run::new().wait_ms(WAIT_MS)));
        let took = t.elapsed();
        assert!(
            took < Duration::from_millis(WAIT_MS + 5_000),
            "{what}: {took:?}"
        );
        // Reading an endless or huge listing to its cap is CPU work (2.8 and 3.3 s here
        // unloaded): on a loaded machine the wait may end first. Then the run ends on time,
        // TIMEOUT, its purge not taken for confirmed.
        let read_to_a_cap = matches!(fault, ListingFault::EndlessNext | ListingFault::Huge(_));
        if read_to_a_cap && r.status == GCDN_ERR_TIMEOUT {
            assert!(took >= Duration::from_millis(WAIT_MS), "{what}: {took:?}");
            let v = rep.unwrap().json();
            assert_ne!(v["requests"][0]["completion"], "successful", "{what}");
            emu.clear_faults();
            continue;
        }
        assert_eq!(r.status, expect, "{what}: {}", r.msg());
        assert!(
            rss_kib() < before + 200 * 1024,
            "{what}: memory grew by {} KiB",
            rss_kib().saturating_sub(before)
        );
        let rep = rep.unwrap();
        assert_eq!(rep.outcome(0), GCDN_OUTCOME_PURGED, "{what}");
        let v = rep.json();
        if expect == GCDN_ERR_PROTOCOL {
            assert!(
                r.msg().contains("purge_statuses"),
                "{what}: the message names the listing: {}",
                r.msg()
            );
            assert_ne!(v["requests"][0]["completion"], "successful", "{what}");
        } else {
            assert_eq!(v["requests"][0]["completion"], "successful", "{what}");
            assert!(
                v["listing"]["malformed_statuses"].as_u64().unwrap() > 0,
                "{what}: the skipped entries are counted: {}",
                v["listing"]
            );
        }
        emu.clear_faults();
    }
    // A status that never leaves In progress: the wait ends on time, TIMEOUT and
    // in_progress, the request itself purged.
    emu.set_listing_fault(Endpoint::PurgeStatuses, ListingFault::None);
    emu.set_next_purge_states(1, PurgeState::InProgress);
    let job = TestJob::new();
    assert!(job.urls(2, &["/forever.png"]).ok());
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&Run::new().wait_ms(3_000)));
    let took = t.elapsed();
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{}", r.msg());
    assert!(r.msg().contains("in progress"), "{}", r.msg());
    assert!(took < Duration::from_millis(3_000 + 2_000), "{took:?}");
    let rep = rep.unwrap();
    assert_eq!(rep.outcome(0), GCDN_OUTCOME_PURGED);
    assert_eq!(
        unsafe { gcdn_report_request_completion(rep.0, 0) },
        GCDN_COMPLETION_IN_PROGRESS
    );
    assert_eq!(rep.json()["requests"][0]["completion"], "in_progress");
}

#[test]
fn the_with_calls_take_the_runs_timeout_and_cancel() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    let (_o, p) = c_list(&["/w1", "/w2"]);
    let r = call(|e| unsafe { gcdn_purge_urls_with(c.ptr(), ptr::null(), 1, p.as_ptr(), 2, e) });
    assert!(r.ok(), "{}", r.msg());
    let token = gcdn_cancel_new();
    unsafe { gcdn_cancel_fire(token) };
    let cancelled = Run::new().cancel(token);
    unsafe { gcdn_cancel_free(token) };
    for r in [
        call(|e| unsafe { gcdn_purge_urls_with(c.ptr(), cancelled.0, 1, p.as_ptr(), 2, e) }),
        call(|e| unsafe { gcdn_purge_patterns_with(c.ptr(), cancelled.0, 1, p.as_ptr(), 2, e) }),
        call(|e| unsafe { gcdn_purge_all_with(c.ptr(), cancelled.0, 1, e) }),
        call(|e| unsafe { gcdn_deactivate_resource_with(c.ptr(), cancelled.0, 1, e) }),
        call(|e| unsafe { gcdn_delete_resource_with(c.ptr(), cancelled.0, 1, 0, e) }),
    ] {
        assert_eq!(r.status, GCDN_ERR_CANCELLED, "{}", r.msg());
    }
    // A timeout the rate window cannot fit in: refused at once.
    let short = Run::new().timeout_ms(100);
    assert!(c.purge_all(2).ok());
    let t = Instant::now();
    let r = call(|e| unsafe { gcdn_purge_all_with(c.ptr(), short.0, 2, e) });
    assert!(
        matches!(r.status, GCDN_ERR_TIMEOUT | GCDN_ERR_RATE_LIMITED),
        "{}",
        r.msg()
    );
    assert!(t.elapsed() < Duration::from_millis(1_000));
    assert_eq!(
        call(|e| unsafe { gcdn_delete_resource_with(c.ptr(), ptr::null(), 1, 0x80, e) }).status,
        GCDN_ERR_INVALID_ARGUMENT
    );
}

#[test]
fn an_unauthorized_answer_stops_sending() {
    let emu = fleet();
    let mut s = Setup::new(&emu);
    s.key = Some("wrong-key-5f2a9c".into());
    let c = s.build().unwrap();
    let job = TestJob::new();
    for id in 1..=3 {
        assert!(job.urls(id, &["/x.png"]).ok());
    }
    let (r, rep) = run(&c, &job, Some(&Run::new().workers(1)));
    assert_eq!(r.status, GCDN_ERR_UNAUTHORIZED, "{}", r.msg());
    let v = rep.unwrap().json();
    assert_eq!(v["requests"][0]["outcome"], "failed");
    for i in 1..3 {
        assert_eq!(
            v["requests"][i]["outcome"], "not_sent",
            "{}",
            v["requests"][i]
        );
        assert_eq!(v["requests"][i]["status"], GCDN_ERR_UNAUTHORIZED);
    }
    assert_eq!(purges(&emu).len(), 1, "one 401 is enough");
}

/// `Retry-After: 18446744073709551615` on a 429 in a worker thread of a run: the worker
/// panicked and `gcdn_job_run` answered GCDN_ERR_PANIC with no report. Now that request is
/// refused as rate limited at once, and the others go on.
#[test]
fn a_huge_retry_after_in_a_run_is_rate_limited_not_a_panic() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    emu.push_fault(
        Fault::respond(429, "")
            .with_header("Retry-After", "18446744073709551615")
            .on("POST", "/cdn/resources/1/"),
    );
    let job = TestJob::new();
    assert!(job.urls(1, &["/a.js"]).ok());
    assert!(job.urls(2, &["/b.js"]).ok());
    let t = Instant::now();
    let (r, rep) = run(&c, &job, Some(&Run::new().workers(2)));
    // At once: the budget is 150 s.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{}", r.msg());
    assert!(
        r.msg().contains("past the rate-limit wait budget"),
        "{}",
        r.msg()
    );
    let rep = rep.expect("a report");
    let by_resource = |rid: i64| {
        let v = rep.json();
        let i = v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .position(|r| r["resource_id"] == rid)
            .unwrap();
        (rep.outcome(i), unsafe {
            gcdn_report_request_status(rep.0, i)
        })
    };
    assert_eq!(by_resource(1), (GCDN_OUTCOME_FAILED, GCDN_ERR_RATE_LIMITED));
    assert_eq!(by_resource(2), (GCDN_OUTCOME_PURGED, GCDN_OK));
}

/// A panic in a worker thread (armed on purpose: `contain::debug`, debug builds, testing
/// only) fails the request it struck with GCDN_ERR_PANIC; the run goes on, ends with that
/// status and writes its report, and the host lives on. With one worker the request runs on
/// the calling thread: the same.
#[test]
fn a_panic_in_a_worker_fails_its_request_and_the_run_writes_its_report() {
    use gcdn::engine::job::contain::debug;
    let emu = fleet();
    let c = paced_client(&emu, 0);
    // Resource ids no other test uses: the fault is process-wide.
    let (struck, fine) = (9_001, 9_002);
    for id in [struck, fine] {
        emu.add_resource(Resource::new(id));
    }
    debug::panic_at(debug::Site::Request, struck);
    for workers in [4, 1] {
        let job = TestJob::new();
        assert!(job.urls(struck, &["/a.js"]).ok());
        assert!(job.urls(fine, &[&format!("/b{workers}.js")]).ok());
        let (r, rep) = run(&c, &job, Some(&Run::new().workers(workers)));
        assert_eq!(r.status, GCDN_ERR_PANIC, "{}", r.msg());
        assert!(
            r.msg().contains("internal error (panic) while sending"),
            "{}",
            r.msg()
        );
        let rep = rep.expect("a report");
        let v = rep.json();
        for (i, req) in v["requests"].as_array().unwrap().iter().enumerate() {
            let status = unsafe { gcdn_report_request_status(rep.0, i) };
            if req["resource_id"] == struck {
                assert_eq!(status, GCDN_ERR_PANIC, "{req}");
                assert_eq!(rep.outcome(i), GCDN_OUTCOME_NOT_SENT, "{req}");
            } else {
                assert_eq!((rep.outcome(i), status), (GCDN_OUTCOME_PURGED, GCDN_OK));
            }
        }
        assert_eq!(rep.remaining().unwrap().count(), 1);
    }
    debug::clear(struck);
    // A panic in confirmation ends it with GCDN_ERR_PANIC; the purge itself was done.
    debug::panic_at(debug::Site::Confirm, fine);
    let job = TestJob::new();
    assert!(job.urls(fine, &["/c.js"]).ok());
    let (r, rep) = run(&c, &job, Some(&Run::new().wait_ms(5_000)));
    debug::clear(fine);
    assert_eq!(r.status, GCDN_ERR_PANIC, "{}", r.msg());
    assert!(r.msg().contains("while confirming purges"), "{}", r.msg());
    let rep = rep.expect("a report");
    assert_eq!(rep.outcome(0), GCDN_OUTCOME_PURGED);
}

/// A purge that stays "In progress": confirmation polls once more at the end of the wait
/// (it used to stop when its next poll would fall after the wait: 1 s into a 2 s wait).
/// Measured at the emulator, from the purge's arrival.
#[test]
fn confirmation_polls_last_at_the_end_of_the_wait() {
    let emu = fleet();
    let c = paced_client(&emu, 0);
    emu.set_resource_purge_state(6, Some(PurgeState::InProgress));
    let job = TestJob::new();
    assert!(job.urls(6, &["/slow.png"]).ok());
    let wait = Duration::from_millis(2_000);
    let (r, rep) = run(&c, &job, Some(&Run::new().wait_ms(2_000)));
    let returned = Instant::now();
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{}", r.msg());
    assert_eq!(
        rep.unwrap().json()["requests"][0]["completion"],
        "in_progress"
    );
    let log = emu.requests();
    let purge = log.iter().find(|q| q.path.ends_with("/purge")).unwrap();
    let polls: Vec<Duration> = log
        .iter()
        .filter(|q| q.path.starts_with("/cdn/purge_statuses"))
        .map(|q| q.received - purge.received)
        .collect();
    // Polls at 1 s, then at the end of the wait (2 s), counted from the moment the purge
    // was answered, a few ms after it arrived.
    assert_eq!(polls.len(), 2, "{polls:?}");
    let last = *polls.last().unwrap();
    assert!(last >= wait - Duration::from_millis(20), "{polls:?}");
    assert!(last < wait + Duration::from_millis(900), "{polls:?}");
    // The run ended after that poll, not long after.
    assert!(returned - purge.received >= last, "{polls:?}");
}

/// Resources of each cache-key policy: 21 ignores query strings (and slices), 22 keeps only
/// `lang` (but its rule 5 turns that off under /raw/), 23 drops `utm_source`, 24 has no
/// policy and a custom cache key.
fn cache_key_fleet() -> Emulator {
    let emu = emulator_with(Config::default());
    let add = |id: i64, options: Value, rules: Vec<Value>| {
        emu.add_resource(
            Resource::new(id)
                .cname(&format!("k{id}.example.com"))
                .options(options)
                .rules(rules),
        )
    };
    add(
        21,
        json!({"ignoreQueryString": {"enabled": true, "value": true},
               "slice": {"enabled": true, "value": true}, "query_params_whitelist": null}),
        vec![],
    );
    add(
        22,
        json!({"query_params_whitelist": {"enabled": true, "value": ["lang"]}}),
        vec![
            json!({"id": 5, "name": "raw", "active": true, "rule": "^/raw/", "ruleType": 0,
                   "weight": 1, "options": {"query_params_whitelist": {"enabled": false, "value": []}}}),
            json!({"id": 6, "name": "bad", "active": true, "rule": "(", "ruleType": 0,
                   "weight": 2, "options": {"ignoreQueryString": {"enabled": true, "value": true}}}),
        ],
    );
    add(
        23,
        json!({"query_params_blacklist": {"enabled": true, "value": ["utm_source"]}}),
        vec![],
    );
    add(
        24,
        json!({"proxy_cache_key": {"enabled": true, "value": "$scheme$uri"}, "slice": "bad"}),
        vec![],
    );
    emu
}

#[test]
fn url_items_go_in_their_cache_key_form_and_exact_sends_them_as_given() {
    let emu = cache_key_fleet();
    let mut s = Setup::new(&emu);
    s.intervals_ms = Some((10, 10));
    let c = s.build().unwrap();
    let job = TestJob::new();
    assert!(job
        .full(&[
            "https://k21.example.com/app.js?v=2",
            "https://k21.example.com/app.js?v=3",
            "https://k22.example.com/i18n.js?v=9&lang=de",
            "https://k22.example.com/raw/x.bin?z=1&a=2",
        ])
        .ok());
    assert!(job
        .urls(23, &["/p?utm_source=news&b=2&a=1", "/p?a=1&b=2"])
        .ok());
    assert!(job.urls(24, &["/q?y=1&x=2", "/q?x=2&y=1"]).ok());
    assert!(job.patterns(24, &["/img/*"]).ok());
    let (r, rep) = run(&c, &job, None);
    assert!(r.ok(), "{}", r.msg());
    let rep = rep.unwrap();
    let mut got = accepted(&emu);
    got.sort();
    assert_eq!(
        got,
        [
            (21, vec!["/app.js".to_owned()]),
            (
                22,
                vec!["/i18n.js?lang=de".into(), "/raw/x.bin?a=2&z=1".into()]
            ),
            (23, vec!["/p?a=1&b=2".into()]),
            (24, vec!["/img/*".into()]),
            (24, vec!["/q?x=2&y=1".into()]),
        ]
    );
    // Rules were read only for resources with URL items that have a query.
    let rule_reads: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|q| q.path.contains("/rules"))
        .map(|q| q.path)
        .collect();
    assert_eq!(rule_reads.len(), 4, "{rule_reads:?}");
    // Through the C accessors: each rewrite, what decided it, and the rule.
    let n = unsafe { gcdn_report_rewritten_count(rep.0) };
    let rewrites: Vec<(String, String, i64, Option<String>, i64)> = (0..n)
        .map(|i| unsafe {
            (
                text(gcdn_report_rewritten_item(rep.0, i)).unwrap(),
                text(gcdn_report_rewritten_as(rep.0, i)).unwrap(),
                gcdn_report_rewritten_resource_id(rep.0, i),
                text(gcdn_report_rewritten_by(rep.0, i)),
                gcdn_report_rewritten_rule_id(rep.0, i),
            )
        })
        .collect();
    let iqs = Some("ignoreQueryString".to_owned());
    assert_eq!(
        rewrites,
        [
            (
                "https://k21.example.com/app.js?v=2".into(),
                "/app.js".into(),
                21,
                iqs.clone(),
                0
            ),
            (
                "https://k21.example.com/app.js?v=3".into(),
                "/app.js".into(),
                21,
                iqs,
                0
            ),
            (
                "https://k22.example.com/i18n.js?v=9&lang=de".into(),
                "/i18n.js?lang=de".into(),
                22,
                Some("query_params_whitelist".into()),
                0
            ),
            (
                "https://k22.example.com/raw/x.bin?z=1&a=2".into(),
                "/raw/x.bin?a=2&z=1".into(),
                22,
                None,
                5
            ),
            (
                "/p?utm_source=news&b=2&a=1".into(),
                "/p?a=1&b=2".into(),
                23,
                Some("query_params_blacklist".into()),
                0
            ),
            ("/q?y=1&x=2".into(), "/q?x=2&y=1".into(), 24, None, 0),
        ]
    );
    assert!(unsafe { gcdn_report_rewritten_item(rep.0, n) }.is_null());
    let w = unsafe { gcdn_report_warning_count(rep.0) };
    let warnings: Vec<(i64, String)> = (0..w)
        .map(|i| unsafe {
            (
                gcdn_report_warning_resource_id(rep.0, i),
                text(gcdn_report_warning_code(rep.0, i)).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        warnings,
        [
            (21, "slice".into()),
            (22, "invalid_rule".into()),
            (24, "custom_cache_key".into())
        ]
    );
    assert!(text(unsafe { gcdn_report_warning_message(rep.0, 0) })
        .unwrap()
        .contains("first slice"));
    let v = rep.json();
    assert_eq!(
        v["rewritten"][3],
        json!({"item": "https://k22.example.com/raw/x.bin?z=1&a=2", "as": "/raw/x.bin?a=2&z=1",
               "resource_id": 22, "by": null, "rule_id": 5})
    );
    assert_eq!(v["warnings"][2]["code"], "custom_cache_key");
    assert_eq!(
        v["listing"]["malformed_options"], 1,
        "24's slice is not an object"
    );
    // Duplicates after rewriting are left out as such.
    let dups: Vec<String> = rep.skipped().into_iter().map(|s| s.0).collect();
    assert_eq!(
        dups,
        [
            "https://k21.example.com/app.js?v=3",
            "/p?a=1&b=2",
            "/q?x=2&y=1"
        ]
    );

    // exact: every item as given, no rules read.
    emu.clear_requests();
    emu.clear_rate_limits();
    let (r, rep) = run(&c, &job, Some(&Run::new().exact()));
    assert!(r.ok(), "{}", r.msg());
    let rep = rep.unwrap();
    assert_eq!(unsafe { gcdn_report_rewritten_count(rep.0) }, 0);
    assert!(!emu.requests().iter().any(|q| q.path.contains("/rules")));
    let sent: Vec<String> = accepted(&emu).into_iter().flat_map(|(_, i)| i).collect();
    for given in [
        "/app.js?v=2",
        "/app.js?v=3",
        "/p?utm_source=news&b=2&a=1",
        "/q?y=1&x=2",
    ] {
        assert!(sent.iter().any(|s| s == given), "{given} in {sent:?}");
    }
    let codes: Vec<String> = (0..unsafe { gcdn_report_warning_count(rep.0) })
        .map(|i| text(unsafe { gcdn_report_warning_code(rep.0, i) }).unwrap())
        .collect();
    // Warnings come with exact too (but no rules are read, so none about them).
    assert_eq!(codes, ["slice", "custom_cache_key"]);
}
