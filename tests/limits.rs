//! The account's own limits, through the C ABI against the emulator: rates within the sanity
//! bounds (at most 100 requests a second, at least one a day) are believed, whatever their
//! ratio to the documented ones; rates outside them give the documented ones and a warning log
//! record; a 429 on a resource paced faster than documented makes that resource and kind (only)
//! fall back to the documented rate, with one warning. No client here sets purge intervals.

mod common;

use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;

/// A log record as the C log function got it.
#[derive(Clone, Debug)]
struct Rec {
    level: i32,
    event: String,
    message: String,
    resource_id: i64,
    kind: Option<String>,
}

type Log = Mutex<Vec<Rec>>;

unsafe extern "C" fn keep(record: *const gcdn_log_record, user_data: *mut c_void) {
    let r = &*record;
    let text = |p: *const std::ffi::c_char| {
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    };
    let log = &*(user_data as *const Log);
    log.lock().unwrap().push(Rec {
        level: r.level,
        event: text(r.event).unwrap_or_default(),
        message: text(r.message).unwrap_or_default(),
        resource_id: r.resource_id,
        kind: text(r.kind),
    });
}

/// A client of `emu` (no purge intervals: paced by the account's limits), its rate-limit wait
/// budget `wait_ms`, logging at info and above to the returned log.
fn logged_client(emu: &Emulator, wait_ms: u64) -> (TestClient, &'static Log) {
    logged_client_with(emu, wait_ms, true)
}

/// [`logged_client`], coalescing purges of its callers or not.
fn logged_client_with(emu: &Emulator, wait_ms: u64, coalesce: bool) -> (TestClient, &'static Log) {
    let log: &'static Log = Box::leak(Box::default());
    unsafe {
        let o = gcdn_options_new();
        let url = cstr(&emu.base_url());
        assert!(call(|e| gcdn_options_set_base_url(o, url.as_ptr(), e)).ok());
        assert!(call(|e| gcdn_options_set_timeout_ms(o, 10_000, e)).ok());
        assert!(call(|e| gcdn_options_set_max_rate_limit_wait_ms(o, wait_ms, e)).ok());
        assert!(call(|e| gcdn_options_set_coalesce(o, i32::from(coalesce), e)).ok());
        let user_data = log as *const Log as *mut c_void;
        assert!(call(|e| gcdn_options_set_log(o, Some(keep), user_data, GCDN_LOG_INFO, e)).ok());
        let key = cstr(emu.api_key());
        let mut client: *mut gcdn_client = ptr::null_mut();
        let r = call(|e| gcdn_client_new(key.as_ptr(), o, &mut client, e));
        gcdn_options_free(o);
        assert!(r.ok(), "{r:?}");
        (TestClient(client), log)
    }
}

fn limits_warnings(log: &Log) -> Vec<Rec> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.event == "limits" && r.level == GCDN_LOG_WARN)
        .cloned()
        .collect()
}

fn rate_limited(emu: &Emulator) -> usize {
    purges(emu).iter().filter(|r| r.status == 429).count()
}

/// The number of seconds in "... slot opens in 61.2 s, ...".
fn opens_in(message: &str) -> f64 {
    let rest = message
        .split("slot opens in ")
        .nth(1)
        .unwrap_or_else(|| panic!("no slot in {message:?}"));
    let number = rest.split(' ').next().unwrap();
    number.parse().unwrap_or_else(|_| panic!("{message:?}"))
}

#[test]
fn an_account_allowed_30_a_minute_sends_30_in_a_minute() {
    // 15 times the documented rate: 0.2 paced it at the documented 2 a minute (the third
    // purge 61 s away). Now all 30 go within the minute without a 429; the 31st is refused,
    // its slot one window (and the 2 % margin) after the first.
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits {
            url_requests: 30,
            ..Limits::default()
        },
        ..Config::default()
    });
    let (c, log) = logged_client(&emu, 5_000);
    let t = Instant::now();
    for i in 0..30 {
        let r = c.purge_urls(1, &[&format!("/thirty/{i}")]);
        assert!(r.ok(), "purge {i}: {r:?}");
    }
    let took = t.elapsed();
    let accepted = emu.purge_statuses();
    assert_eq!(accepted.len(), 30);
    assert_eq!(rate_limited(&emu), 0);
    // At the emulator: 30 accepted in one of its windows (the documented rate would have
    // needed 15 minutes).
    let span = accepted[29]
        .created
        .duration_since(accepted[0].created)
        .unwrap();
    assert!(span < Duration::from_secs(30), "{span:?} ({took:?})");
    let r = c.purge_urls(1, &["/thirty-one"]);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
    let opens = opens_in(r.msg());
    assert!((30.0..=61.2).contains(&opens), "{opens}: {}", r.msg());
    assert_eq!(emu.purge_statuses().len(), 30);
    assert!(limits_warnings(log).is_empty(), "{:?}", log.lock().unwrap());
    let read =
        log.lock().unwrap().iter().any(|r| {
            r.event == "limits" && r.level == GCDN_LOG_INFO && r.message.contains("30/60 s")
        });
    assert!(read, "{:?}", log.lock().unwrap());
}

#[test]
fn an_account_allowed_one_purge_per_250_ms_is_paced_at_that_spacing() {
    // 240 times the documented rate (0.2: the documented one, the third purge 61 s away).
    let window = Duration::from_millis(250);
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits {
            url_requests: 1,
            url_window: window,
            ..Limits::default()
        },
        ..Config::default()
    });
    let (c, _log) = logged_client(&emu, 5_000);
    let n = 8;
    for i in 0..n {
        let r = c.purge_urls(1, &[&format!("/spaced/{i}")]);
        assert!(r.ok(), "purge {i}: {r:?}");
    }
    assert_eq!(rate_limited(&emu), 0, "no 429: the window was kept");
    // At the emulator: one accepted per window, and none held back far past it.
    let accepted = emu.purge_statuses();
    assert_eq!(accepted.len(), n);
    for pair in accepted.windows(2) {
        let gap = pair[1].created.duration_since(pair[0].created).unwrap();
        assert!(
            gap >= window && gap < Duration::from_secs(2),
            "gap {gap:?} between {} and {}",
            pair[0].purge_id,
            pair[1].purge_id
        );
    }
}

#[test]
fn rates_outside_the_bounds_give_the_documented_ones_and_a_warning() {
    // The emulator itself does not limit; its limits answer claims 1000 URL purges a second
    // and 1 pattern purge a week.
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    emu.push_fault(
        Fault::respond(
            200,
            r#"{"purge_by_urls_request_limit": "1000/s", "purge_request_limit": "1/week",
                "purge_max_urls_limit": 100, "purge_pattern_limit": 10}"#,
        )
        .on("GET", "/cdn/clients/me/limits"),
    );
    let (c, log) = logged_client(&emu, 2_000);
    // The documented 2 URL purges a minute: two at once, the third a minute away.
    assert!(c.purge_urls(1, &["/a"]).ok());
    assert!(c.purge_urls(1, &["/b"]).ok());
    let r = c.purge_urls(1, &["/c"]);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
    assert!((55.0..=61.2).contains(&opens_in(r.msg())), "{}", r.msg());
    // The documented 1 pattern purge a minute, not a week.
    assert!(c.purge_all(1).ok());
    let r = c.purge_all(1);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
    assert!((55.0..=61.2).contains(&opens_in(r.msg())), "{}", r.msg());
    assert_eq!(purges(&emu).len(), 3);

    let warnings = limits_warnings(log);
    let messages: Vec<&str> = warnings.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "account limits: the account's purge_by_urls_request_limit \"1000/s\" is faster \
             than 100 requests a second: using the documented 2/60 s",
            "account limits: the account's purge_request_limit \"1/week\" is slower than 1 \
             request a day: using the documented 1/60 s",
        ],
        "{:?}",
        log.lock().unwrap()
    );
    assert!(warnings
        .iter()
        .all(|r| r.resource_id == 0 && r.kind.is_none()));
}

#[test]
fn a_429_while_faster_than_documented_falls_back_on_that_resource_and_kind_once() {
    // The account's limits say 10 a second for both kinds; the emulator enforces them, and,
    // after a first purge, answers two purges by URL of resource 1 with a 429 anyway (another
    // client shares the account, or its rate is not what it says).
    let second = Duration::from_secs(1);
    let emu = emulator_with(Config {
        seed_resources: vec![1, 2],
        limits: Limits {
            url_requests: 10,
            url_window: second,
            pattern_requests: 10,
            pattern_window: second,
            all_requests: 10,
            all_window: second,
            ..Limits::default()
        },
        ..Config::default()
    });
    let (c, log) = logged_client(&emu, 5_000);
    // The first purge on a key goes at once under the documented limit (not paced faster);
    // the second reads the account's limits.
    assert!(c.purge_urls(1, &["/zero"]).ok());
    assert!(c.purge_urls(1, &["/zero-b"]).ok());
    // Two purges at once, in two of the account's 10 slots a second; their 429s come slowly
    // (a byte every 10 ms), so both were sent at the account's rate before either is read.
    emu.push_fault(
        Fault::trickle(
            429,
            r#"{"errors": ["Too many requests"]}"#,
            Duration::from_millis(10),
        )
        .on("POST", "/cdn/resources/1/purge")
        .times(2),
    );
    let t = Instant::now();
    let results: Vec<Outcome> = std::thread::scope(|s| {
        let c = &c;
        let a = s.spawn(move || c.purge_urls(1, &["/one-a"]));
        let b = s.spawn(move || c.purge_urls(1, &["/one-b"]));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    // Each 429 makes the key fall back (the first one tells), and then the documented 2 a
    // minute leave no slot within the 5 s budget.
    for r in &results {
        assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
        assert!((30.0..=61.2).contains(&opens_in(r.msg())), "{}", r.msg());
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(
        rate_limited(&emu),
        2,
        "both were sent at the account's rate"
    );
    let r = c.purge_urls(1, &["/two"]);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
    assert!(r.msg().ends_with("nothing was sent"), "{}", r.msg());

    // Resource 1's pattern purges and resource 2's URL purges keep the account's 10 a second:
    // six at once each (the documented rates would refuse the second and the third).
    let t = Instant::now();
    for i in 0..6 {
        assert!(c.purge_all(1).ok(), "purge-all {i}");
        let r = c.purge_urls(2, &[&format!("/fast/{i}")]);
        assert!(r.ok(), "purge {i} of resource 2: {r:?}");
    }
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(emu.purge_statuses().len(), 14);
    assert_eq!(rate_limited(&emu), 2);

    let warnings = limits_warnings(log);
    assert_eq!(warnings.len(), 1, "{:?}", log.lock().unwrap());
    let w = &warnings[0];
    assert_eq!((w.resource_id, w.kind.as_deref()), (1, Some("urls")));
    assert_eq!(
        w.message,
        "account limits: the API answered 429 on resource 1 while its URL purges were paced at \
         the account's 10/1 s, faster than the documented 2/60 s: pacing them at the \
         documented rate from now on"
    );
}

#[test]
fn a_limits_answer_that_trickles_does_not_stall_a_call() {
    // The limits endpoint answers one byte every 300 ms: the read is bounded by half of what
    // the call has left, and the purge still goes (at the documented rate).
    let emu = emulator();
    emu.push_fault(
        Fault::trickle(200, "x".repeat(1 << 20), Duration::from_millis(300))
            .on("GET", "/cdn/clients/me/limits"),
    );
    let c = client(&emu);
    let mut bounded: *mut gcdn_client = ptr::null_mut();
    assert!(
        call(|e| unsafe { gcdn_client_with_call_timeout_ms(c.ptr(), 2_000, &mut bounded, e) }).ok()
    );
    let bounded = TestClient(bounded);
    assert!(bounded.purge_urls(1, &["/a"]).ok());
    let t = Instant::now();
    let r = bounded.purge_urls(1, &["/b"]);
    let took = t.elapsed();
    assert!(r.ok(), "{r:?}");
    assert!(took < Duration::from_millis(2_000), "{took:?}");
    assert_eq!(purges(&emu).len(), 2);
}

#[test]
fn a_huge_limits_answer_does_not_stall_a_call() {
    // 4 GiB of limits: read no further than the body cap, not believed, and the purge goes
    // (at the documented rate) well within the call timeout.
    let emu = emulator();
    emu.push_fault(Fault::oversized(200, 4 << 30).on("GET", "/cdn/clients/me/limits"));
    let (c, log) = logged_client(&emu, 5_000);
    assert!(c.purge_urls(1, &["/a"]).ok());
    let t = Instant::now();
    let r = c.purge_urls(1, &["/b"]);
    let took = t.elapsed();
    assert!(r.ok(), "{r:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(purges(&emu).len(), 2);
    let told =
        log.lock().unwrap().iter().any(|r| {
            r.event == "limits" && r.message.contains("could not read the account's limits")
        });
    assert!(told, "{:?}", log.lock().unwrap());
}

/// An account stricter than documented (1 URL purge per 3 s; documented: 2 a minute, both at
/// once), and three threads that purge a resource at once on a fresh client while the limits
/// answer takes 500 ms: one purge goes at once (a key's first goes under any limit, by
/// design), one thread reads the limits, and the third waits for that answer too: it no
/// longer goes on at the documented 2 at once, which made a second purge meet a 429 here.
#[test]
fn callers_that_find_the_limits_being_read_wait_for_them() {
    let window = Duration::from_secs(3);
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits {
            url_requests: 1,
            url_window: window,
            ..Limits::default()
        },
        ..Config::default()
    });
    emu.push_fault(Fault::delay(Duration::from_millis(500)).on("GET", "/cdn/clients/me/limits"));
    // Each call its own request (coalesced, the waiting two would share one).
    let (c, _log) = logged_client_with(&emu, 20_000, false);
    let start = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for t in 0..3 {
            let (c, start) = (&c, &start);
            s.spawn(move || {
                start.wait();
                let r = c.purge_urls(1, &[&format!("/first/{t}")]);
                assert!(r.ok(), "thread {t}: {r:?}");
            });
        }
    });
    assert_eq!(rate_limited(&emu), 0, "no 429: {:?}", purges(&emu));
    let accepted = emu.purge_statuses();
    assert_eq!(accepted.len(), 3);
    for pair in accepted.windows(2) {
        let gap = pair[1].created.duration_since(pair[0].created).unwrap();
        assert!(gap >= window, "gap {gap:?}");
    }
}
