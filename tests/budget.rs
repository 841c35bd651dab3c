//! No wait without a bound (issue 11 §1): every wait of a call (pacer slot, the interval
//! after a 429, Retry-After, backoff) is charged to the rate-limit wait budget and to the
//! call's deadline, and one that does not fit is refused at once. Both cases of the review
//! failed before the fix: the first slept a day, the second returned OK after 3.3 s.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gcdn::engine::{Client, Options, Status};
use gcdn::ffi::*;

/// The account's limits answer of the review: one URL purge a day.
const ONE_A_DAY: &str = r#"{"purge_max_urls_limit": 100, "purge_pattern_limit": 10,
    "purge_request_limit": "1/m", "purge_by_urls_request_limit": "1/w"}"#;

/// Resource 1, no rate limit of the emulator's own, and one 429 (`Retry-After: 0`) for the
/// first purge: the case of the review.
fn emulator_with_one_429() -> Emulator {
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    emu.push_fault(
        Fault::respond(429, r#"{"errors": ["Too many requests"]}"#)
            .with_header("Retry-After", "0")
            .on("POST", "/cdn/resources/1/purge"),
    );
    emu
}

fn one_a_day_emulator() -> Emulator {
    let emu = emulator_with_one_429();
    emu.push_fault(Fault::respond(200, ONE_A_DAY).on("GET", "/cdn/clients/me/limits"));
    emu
}

fn urls(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/long/{i}")).collect()
}

fn check_not_a_day(emu: &Emulator, status: Status, message: &str, took: Duration) {
    // "1/w" (slower than 1 a day) is not believed: the documented 2 a minute holds, and the second request's slot
    // (a minute away) is past the 5 s budget: refused at once.
    assert_eq!(status, Status::RateLimited, "{message}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(
        message.starts_with(
            "purge by URL of resource 1 stopped at request 2 of 2 (URLs 101-150 of the 150 \
             unique); 100 URLs were purged by the 1 request(s) before it: the next URL purge \
             slot opens in 6"
        ),
        "{message}"
    );
    assert!(
        message.contains("past the rate-limit wait budget of 5 s"),
        "{message}"
    );
    assert!(!message.contains("86"), "{message}");
    let statuses: Vec<u16> = purges(emu).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 201], "the second request was not sent");
    let limits_reads = emu
        .requests()
        .iter()
        .filter(|r| r.path == "/cdn/clients/me/limits")
        .count();
    assert_eq!(limits_reads, 1);
}

#[test]
fn a_long_purge_after_429_retry_after_0_and_1_per_day_limits_does_not_sleep_a_day() {
    let emu = one_a_day_emulator();
    let mut o = Options::default();
    o.set_base_url(&emu.base_url()).unwrap();
    o.max_rate_limit_wait = Duration::from_secs(5);
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    let t = Instant::now();
    let e = c.purge_urls(1, &urls(150)).unwrap_err();
    check_not_a_day(&emu, e.status, &e.message, t.elapsed());
}

#[test]
fn the_same_through_the_c_abi() {
    let emu = one_a_day_emulator();
    let mut setup = Setup::new(&emu);
    setup.wait_ms = Some(5_000);
    let c = setup.build().unwrap();
    let list = urls(150);
    let refs: Vec<&str> = list.iter().map(String::as_str).collect();
    let t = Instant::now();
    let r = c.purge_urls(1, &refs);
    assert_eq!(r.status, GCDN_ERR_RATE_LIMITED);
    check_not_a_day(&emu, Status::RateLimited, r.msg(), t.elapsed());
}

/// Budget 800 ms, purge intervals 3000 ms, one 429 (`Retry-After: 0`): RATE_LIMITED at
/// once, not OK after 3.3 s.
fn budget_800_intervals_3000(purge: impl FnOnce(&Emulator) -> (Status, String)) {
    let emu = emulator_with_one_429();
    let t = Instant::now();
    let (status, message) = purge(&emu);
    let took = t.elapsed();
    assert_eq!(status, Status::RateLimited, "{message}");
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    // The 429's own slot is 3 s (and margin) after the refused attempt's: it says so.
    assert!(
        message.contains("HTTP 429") && message.contains("the next URL purge slot opens in "),
        "{message}"
    );
    // At most 3 s and the 60 ms margin (3.1 when shown to a tenth), less what has passed.
    let opens = opens_in_secs(&message);
    assert!((2.0..=3.1).contains(&opens), "{message}");
    assert!(
        message.contains("past the rate-limit wait budget of 800 ms"),
        "{message}"
    );
    let statuses: Vec<u16> = purges(&emu).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429]);
}

#[test]
fn budget_800_ms_intervals_3000_ms_one_429_fails_fast() {
    budget_800_intervals_3000(|emu| {
        let mut o = Options::default();
        o.set_base_url(&emu.base_url()).unwrap();
        o.max_rate_limit_wait = Duration::from_millis(800);
        o.set_purge_intervals(Duration::from_secs(3), Duration::from_secs(3))
            .unwrap();
        let c = Client::new(Some(emu.api_key()), &o).unwrap();
        let e = c.purge_urls(1, &urls(150)).unwrap_err();
        (e.status, e.message)
    });
}

#[test]
fn budget_800_ms_intervals_3000_ms_one_429_fails_fast_through_the_c_abi() {
    budget_800_intervals_3000(|emu| {
        let mut setup = Setup::new(emu);
        setup.wait_ms = Some(800);
        setup.intervals_ms = Some((3_000, 3_000));
        let c = setup.build().unwrap();
        let list = urls(150);
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let r = c.purge_urls(1, &refs);
        assert_eq!(r.status, GCDN_ERR_RATE_LIMITED, "{r:?}");
        (Status::RateLimited, r.msg().to_owned())
    });
}

#[test]
fn retry_after_past_the_deadline_is_refused_at_once() {
    // A 503 asking for 30 s, on a call bounded to 1 s: refused at once (as before), and a
    // 429 asking for 30 s likewise, with the budget large enough: the deadline is what binds.
    let emu = emulator();
    let c = client(&emu);
    let mut bounded: *mut gcdn_client = std::ptr::null_mut();
    assert!(
        call(|e| unsafe { gcdn_client_with_call_timeout_ms(c.ptr(), 1_000, &mut bounded, e) }).ok()
    );
    let bounded = TestClient(bounded);
    emu.push_fault(
        Fault::respond(429, "")
            .with_header("Retry-After", "30")
            .on("POST", "/cdn/resources/7/purge"),
    );
    let t = Instant::now();
    let r = bounded.purge_urls(7, &["/a"]);
    assert_eq!(r.status, GCDN_ERR_TIMEOUT, "{r:?}");
    assert!(r.msg().contains("HTTP 429"), "{}", r.msg());
    assert!(
        r.msg().contains("after the call timeout ends"),
        "{}",
        r.msg()
    );
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
}
