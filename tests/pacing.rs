//! The client-wide pacer, against the emulator with shortened windows: a client alone on an
//! account meets no 429 however its calls are split, over threads, clones and derived
//! clients; a slot past the wait budget fails at once with nothing sent.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use gcdn::engine::pacer::{margin, Window};
use gcdn::engine::{CallSettings, CancelToken, Client, Options, Status};

/// The emulator's window for URL purges, and the client's purge interval: the same.
const WINDOW: Duration = Duration::from_millis(150);

fn paced_emulator() -> Emulator {
    emulator_with(Config {
        seed_resources: (1..=4).collect(),
        limits: Limits {
            url_requests: 1,
            url_window: WINDOW,
            pattern_requests: 1,
            pattern_window: WINDOW,
            all_requests: 1,
            all_window: WINDOW,
            ..Limits::default()
        },
        ..Config::default()
    })
}

fn rust_client(emu: &Emulator, interval: Duration, budget: Duration) -> Client {
    let mut o = Options::default();
    o.set_base_url(&emu.base_url()).unwrap();
    o.set_purge_intervals(interval, interval).unwrap();
    // The pacer alone: each call its own requests (tests/coalesce.rs has them shared).
    o.coalesce = false;
    o.max_rate_limit_wait = budget;
    Client::new(Some(emu.api_key()), &o).unwrap()
}

fn statuses(emu: &Emulator) -> Vec<u16> {
    purges(emu).iter().map(|r| r.status).collect()
}

/// The paced time of `n` sends at one per `WINDOW`: at least what the emulator allows (its
/// window between each), at most a generous multiple of the pacer's spacing.
fn assert_paced(n: u32, took: Duration) {
    let lower = WINDOW * (n - 1);
    let spacing = WINDOW + margin(Window::one_per(WINDOW));
    let upper = spacing * (n - 1) * 2 + Duration::from_secs(3);
    assert!(
        took >= lower && took <= upper,
        "{n} sends took {took:?}, expected {lower:?}..{upper:?}"
    );
}

#[test]
fn single_url_calls_on_one_resource_meet_no_429() {
    let emu = paced_emulator();
    let c = rust_client(&emu, WINDOW, Duration::from_secs(30));
    let n = 10;
    let t = Instant::now();
    for i in 0..n {
        c.purge_urls(1, &[format!("/seq/{i}")]).unwrap();
    }
    assert_paced(n, t.elapsed());
    assert_eq!(statuses(&emu), vec![201; n as usize]);
}

#[test]
fn single_url_calls_from_8_threads_meet_no_429() {
    let emu = paced_emulator();
    let c = rust_client(&emu, WINDOW, Duration::from_secs(30));
    let per_thread = 3;
    let t = Instant::now();
    std::thread::scope(|s| {
        for th in 0..8 {
            let c = c.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    c.purge_urls(1, &[format!("/t{th}/{i}")]).unwrap();
                }
            });
        }
    });
    assert_paced(8 * per_thread, t.elapsed());
    assert_eq!(statuses(&emu), vec![201; 8 * per_thread as usize]);
}

#[test]
fn through_the_c_abi_from_8_threads_too() {
    let emu = paced_emulator();
    let mut setup = Setup::new(&emu);
    let ms = WINDOW.as_millis() as u64;
    setup.intervals_ms = Some((ms, ms));
    setup.coalesce = Some(false);
    let c = setup.build().unwrap();
    let per_thread = 2;
    let t = Instant::now();
    std::thread::scope(|s| {
        for th in 0..8 {
            let c = &c;
            s.spawn(move || {
                for i in 0..per_thread {
                    let r = c.purge_urls(2, &[&format!("/c{th}/{i}")]);
                    assert!(r.ok(), "{r:?}");
                }
            });
        }
    });
    assert_paced(8 * per_thread, t.elapsed());
    assert_eq!(statuses(&emu), vec![201; 8 * per_thread as usize]);
}

#[test]
fn clones_and_derived_clients_share_one_pacer() {
    let emu = paced_emulator();
    let c = rust_client(&emu, WINDOW, Duration::from_secs(30));
    let derived = [
        c.clone(),
        c.with_call_timeout(Duration::from_secs(20)),
        c.with_cancel(Arc::new(CancelToken::new())),
        c.with_call_timeout(Duration::from_secs(20))
            .with_cancel(Arc::new(CancelToken::new())),
    ];
    let t = Instant::now();
    c.purge_urls(3, &["/first"]).unwrap();
    for (i, d) in derived.iter().enumerate() {
        d.purge_urls(3, &[format!("/derived/{i}")]).unwrap();
    }
    // Per-call settings go through the same pacer.
    let settings = CallSettings {
        timeout: Some(Duration::from_secs(20)),
        ..CallSettings::default()
    };
    c.purge_urls_with(3, &["/with"], &settings).unwrap();
    assert_paced(6, t.elapsed());
    assert_eq!(statuses(&emu), vec![201; 6]);
}

#[test]
fn patterns_and_purge_all_share_one_key() {
    let emu = paced_emulator();
    let c = rust_client(&emu, WINDOW, Duration::from_secs(30));
    let t = Instant::now();
    c.purge_patterns(1, &["/a/*"]).unwrap();
    c.purge_all(1).unwrap();
    c.purge_patterns(1, &["/b/*"]).unwrap();
    assert_paced(3, t.elapsed());
    // URL purges of the same resource are another key: not held up.
    let t = Instant::now();
    c.purge_urls(1, &["/x"]).unwrap();
    assert!(t.elapsed() < WINDOW, "{:?}", t.elapsed());
    assert_eq!(statuses(&emu), [201; 4]);
}

#[test]
fn a_slot_past_the_budget_fails_at_once_with_nothing_sent() {
    let emu = paced_emulator();
    let c = rust_client(&emu, Duration::from_secs(3), Duration::from_secs(1));
    c.purge_urls(4, &["/one"]).unwrap();
    let t = Instant::now();
    let e = c.purge_urls(4, &["/two"]).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(e.status, Status::RateLimited, "{e}");
    // 3 s and the 60 ms margin, less the moments since the first went.
    let opens = opens_in_secs(&e.message);
    assert!((2.0..=3.1).contains(&opens), "{e}");
    assert!(
        e.message
            .starts_with("purge by URL of resource 4: the next URL purge slot opens in ")
            && e.message.ends_with(
                " s, past the rate-limit wait budget of 1 s (0 ms already waited); raise \
             max_rate_limit_wait to wait longer; nothing was sent"
            ),
        "{e}"
    );
    // Pattern purges and purge-all of the same resource are another key: not held up.
    let e = c.purge_all(4).map(|()| "purged");
    assert_eq!(e, Ok("purged"), "another key");
    assert_eq!(purges(&emu).len(), 2);

    // The call's deadline refuses a slot as the budget does: TIMEOUT, nothing sent.
    let bounded = rust_client(&emu, Duration::from_secs(3), Duration::from_secs(60));
    bounded.purge_urls(3, &["/one"]).unwrap();
    let settings = CallSettings {
        timeout: Some(Duration::from_secs(1)),
        ..CallSettings::default()
    };
    let t = Instant::now();
    let e = bounded
        .purge_urls_with(3, &["/two"], &settings)
        .unwrap_err();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(e.status, Status::Timeout, "{e}");
    assert!(
        e.message
            .starts_with("purge by URL of resource 3: the next URL purge slot opens in "),
        "{e}"
    );
    let opens = opens_in_secs(&e.message);
    assert!((2.0..=3.1).contains(&opens), "{e}");
    assert!(
        e.message.contains(" s, after the call timeout ends (in "),
        "{e}"
    );
    assert_eq!(purges(&emu).len(), 3);
}

#[test]
fn a_cancel_stops_a_slot_wait() {
    let emu = paced_emulator();
    let c = rust_client(&emu, Duration::from_secs(20), Duration::from_secs(60));
    c.purge_urls(1, &["/one"]).unwrap();
    let token = Arc::new(CancelToken::new());
    let settings = CallSettings {
        cancel: Some(Arc::clone(&token)),
        ..CallSettings::default()
    };
    let firer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        token.cancel();
    });
    let t = Instant::now();
    let e = c.purge_urls_with(1, &["/two"], &settings).unwrap_err();
    firer.join().unwrap();
    assert_eq!(e.status, Status::Cancelled, "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(purges(&emu).len(), 1);
}

#[test]
fn a_429_from_another_client_moves_the_slot() {
    // Another client used the window: the API says 429 with Retry-After: 1. The client waits
    // that (not its own 150 ms), and the next call on the key waits for the moved slot too.
    let emu = paced_emulator();
    let c = rust_client(&emu, WINDOW, Duration::from_secs(30));
    emu.push_fault(
        Fault::respond(429, r#"{"errors": ["Too many requests"]}"#)
            .with_header("Retry-After", "1")
            .on("POST", "/cdn/resources/2/purge"),
    );
    let t = Instant::now();
    c.purge_urls(2, &["/a"]).unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(statuses(&emu), [429, 201]);
}
