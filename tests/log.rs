//! The log hook, against the real emulator: one record per attempt, retry, wait, 429 and
//! limits read, with the right fields and levels; the level filter; `GCDN_LOG` to stderr
//! (this test binary runs itself as a child process); no key in any record; calls on
//! several threads.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use common::*;
use gcdn::engine::log::{Event, Level, Record};
use gcdn::engine::{
    Client, Options, PaceKey, PaceKind, Slot, SlotStore, StoreError, WaitReason, Window,
};

/// A record, owned, and the thread it was logged on.
#[derive(Clone, Debug)]
struct Seen {
    level: Level,
    event: Event,
    message: String,
    method: Option<String>,
    path: Option<String>,
    http_status: Option<u16>,
    attempt: u32,
    resource_id: Option<i64>,
    kind: Option<PaceKind>,
    wait: Duration,
    why: Option<WaitReason>,
    thread: ThreadId,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn options(emu: &Emulator, max: Level) -> (Options, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let mut o = Options {
        base_url: Some(emu.base_url()),
        ..Options::default()
    };
    o.set_timeout(Duration::from_secs(5)).unwrap();
    o.set_log(
        Arc::new(move |r: &Record<'_>| {
            sink.lock().unwrap().push(Seen {
                level: r.level,
                event: r.event,
                message: r.message.to_owned(),
                method: r.method.map(str::to_owned),
                path: r.path.map(str::to_owned),
                http_status: r.http_status,
                attempt: r.attempt,
                resource_id: r.resource_id,
                kind: r.kind,
                wait: r.wait,
                why: r.why,
                thread: std::thread::current().id(),
            })
        }),
        max,
    );
    (o, log)
}

fn events(log: &Log) -> Vec<Event> {
    log.lock().unwrap().iter().map(|s| s.event).collect()
}

/// Resources 1 to 20, no rate limit of its own: the 429s of these tests are faults.
fn emulator_unlimited() -> Emulator {
    emulator_with(Config {
        seed_resources: (1..=20).collect(),
        limits: Limits::unlimited_rate(),
        ..Config::default()
    })
}

fn too_many() -> Fault {
    Fault::respond(429, r#"{"errors": ["Too many requests: 1 per 200 ms"]}"#)
        .on("POST", "/cdn/resources/1/purge")
        .times(1)
}

#[test]
fn a_purge_with_a_429_and_a_retry_logs_each_step() {
    let emu = emulator_unlimited();
    let (mut o, log) = options(&emu, Level::Trace);
    o.set_purge_intervals(Duration::from_millis(200), Duration::from_millis(200))
        .unwrap();
    let client = Client::new(Some(emu.api_key()), &o).unwrap();
    emu.push_fault(too_many());
    emu.push_fault(
        Fault::respond(503, r#"{"errors": ["busy"]}"#)
            .on("POST", "/cdn/resources/1/purge")
            .times(1),
    );
    client.purge_urls(1, &["/a.png"]).unwrap();
    let seen = log.lock().unwrap().clone();
    let requests: Vec<&Seen> = seen.iter().filter(|s| s.event == Event::Request).collect();
    // 429, 503, then 201: three attempts, each a debug record with its fields.
    let statuses: Vec<Option<u16>> = requests.iter().map(|s| s.http_status).collect();
    assert_eq!(statuses, [Some(429), Some(503), Some(201)], "{seen:#?}");
    for (n, r) in requests.iter().enumerate() {
        assert_eq!(r.level, Level::Debug);
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.path.as_deref(), Some("/cdn/resources/1/purge"));
        assert_eq!(r.attempt, n as u32 + 1);
        let status = r.http_status.unwrap();
        let line = format!(
            "POST /cdn/resources/1/purge -> {status} (attempt {}, ",
            n + 1
        );
        assert!(r.message.starts_with(&line), "{:?}", r.message);
        assert!(r.message.ends_with(" ms)"), "{:?}", r.message);
    }
    // The 429 is a warning on resource 1's URL purges; the wait it causes is info.
    let limited: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.event == Event::RateLimited)
        .collect();
    assert_eq!(limited.len(), 1, "{seen:#?}");
    assert_eq!(limited[0].level, Level::Warn);
    assert_eq!(limited[0].resource_id, Some(1));
    assert_eq!(limited[0].kind, Some(PaceKind::Urls));
    let waits: Vec<&Seen> = seen.iter().filter(|s| s.event == Event::Wait).collect();
    assert!(!waits.is_empty(), "{seen:#?}");
    assert!(waits
        .iter()
        .all(|w| w.level == Level::Info && !w.wait.is_zero()));
    assert!(
        waits
            .iter()
            .any(|w| w.resource_id == Some(1) && w.wait <= Duration::from_millis(400)),
        "{waits:#?}"
    );
    assert!(waits.iter().any(|w| w.why == Some(WaitReason::Backoff)));
    // Both failures are retried, at info, naming what failed.
    let retries: Vec<&Seen> = seen.iter().filter(|s| s.event == Event::Retry).collect();
    assert_eq!(retries.len(), 2, "{seen:#?}");
    assert!(retries.iter().all(|r| r.level == Level::Info));
    assert_eq!(retries[0].attempt, 1);
    assert_eq!(retries[1].attempt, 2);
    assert!(
        retries[1].message.contains("busy"),
        "{:?}",
        retries[1].message
    );
    // A pacer slot before the first attempt (at once) and after the 429 (the 503's retry
    // backs off instead): trace.
    let slots: Vec<&Seen> = seen.iter().filter(|s| s.event == Event::Pacer).collect();
    assert_eq!(slots.len(), 2, "{seen:#?}");
    assert!(slots
        .iter()
        .all(|s| s.level == Level::Trace && s.resource_id == Some(1)));
    assert!(slots[0].wait.is_zero() && slots[0].message.contains("slot taken, no wait"));
    assert_eq!(seen[0].event, Event::Pacer, "{seen:#?}");
    // In order: the first request comes before the 429's record, which comes before the
    // wait and the second request.
    let at = |e: Event| seen.iter().position(|s| s.event == e).unwrap();
    assert!(at(Event::Request) < at(Event::RateLimited));
    assert!(at(Event::RateLimited) < at(Event::Wait));
}

#[test]
fn the_account_limits_read_is_logged_at_info() {
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        // 20 a minute: within what the client believes of an account (at most 100 a
        // second), so it is taken as read.
        limits: Limits {
            url_requests: 20,
            ..Limits::default()
        },
        ..Config::default()
    });
    let (o, log) = options(&emu, Level::Info);
    let client = Client::new(Some(emu.api_key()), &o).unwrap();
    emu.push_fault(too_many().with_header("Retry-After", "1"));
    client.purge_urls(1, &["/a.png"]).unwrap();
    let seen = log.lock().unwrap().clone();
    let limits: Vec<&Seen> = seen.iter().filter(|s| s.event == Event::Limits).collect();
    assert!(!limits.is_empty(), "{seen:#?}");
    assert!(limits.iter().all(|s| s.level == Level::Info));
    assert!(
        limits[0].message.starts_with("account limits: ") && limits[0].message.contains("20/"),
        "{:?}",
        limits[0].message
    );
    let waits: Vec<&Seen> = seen.iter().filter(|s| s.event == Event::Wait).collect();
    assert_eq!(waits.len(), 1, "{seen:#?}");
    assert_eq!(waits[0].why, Some(WaitReason::RetryAfter));
    // At info, no request record.
    assert!(!events(&log).contains(&Event::Request));
}

#[test]
fn the_level_filters_records() {
    let emu = emulator_unlimited();
    for (max, want) in [
        (Level::Error, vec![]),
        (Level::Warn, vec![Event::RateLimited]),
        (
            Level::Info,
            vec![Event::RateLimited, Event::Wait, Event::Retry],
        ),
    ] {
        let (mut o, log) = options(&emu, max);
        o.set_purge_intervals(Duration::from_millis(100), Duration::from_millis(100))
            .unwrap();
        let client = Client::new(Some(emu.api_key()), &o).unwrap();
        emu.push_fault(too_many());
        client.purge_urls(1, &["/a.png"]).unwrap();
        let mut got = events(&log);
        got.dedup();
        let mut got_sorted: Vec<&str> = got.iter().map(|e| e.as_str()).collect();
        got_sorted.sort();
        got_sorted.dedup();
        let mut want_sorted: Vec<&str> = want.iter().map(|e| e.as_str()).collect();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted, "at {max:?}");
        assert!(log.lock().unwrap().iter().all(|s| s.level <= max));
    }
}

#[test]
fn no_record_holds_the_key() {
    for key in [SPECIAL_KEY, QUOTE_KEY, URL_KEY] {
        let emu = emulator_with(Config {
            seed_resources: vec![1],
            api_key: key.into(),
            limits: Limits::unlimited_rate(),
            ..Config::default()
        });
        let (mut o, log) = options(&emu, Level::Trace);
        o.set_purge_intervals(Duration::from_millis(50), Duration::from_millis(50))
            .unwrap();
        let client = Client::new(Some(key), &o).unwrap();
        // The server quotes the key back, as written, percent-encoded and JSON-escaped.
        let body = serde_json::json!({
            "errors": [format!("bad {key} / {} / {}", percent_all(key, true), json_u_escaped(key))]
        })
        .to_string();
        emu.push_fault(
            Fault::respond(503, body)
                .on("POST", "/cdn/resources/1/purge")
                .times(1),
        );
        emu.push_fault(too_many());
        client.purge_urls(1, &["/a.png"]).unwrap();
        // A wrong key: the 401 is in no record either.
        let wrong = Client::new(Some("wrong-key-5f2a9c"), &o).unwrap();
        assert!(wrong.purge_urls(1, &["/b.png"]).is_err());
        let seen = log.lock().unwrap().clone();
        assert!(seen.iter().any(|s| s.event == Event::Retry), "{seen:#?}");
        for s in &seen {
            assert_no_secret(&s.message);
            assert_no_secret(s.path.as_deref().unwrap_or(""));
        }
    }
}

#[test]
fn calls_on_several_threads_log_on_their_own_threads() {
    let emu = emulator_with(Config {
        seed_resources: (1..=8).collect(),
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    let (mut o, log) = options(&emu, Level::Debug);
    o.set_purge_intervals(Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    let client = Client::new(Some(emu.api_key()), &o).unwrap();
    let threads: Vec<(ThreadId, i64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=8)
            .map(|id| {
                let client = &client;
                s.spawn(move || {
                    for n in 0..5 {
                        client.purge_urls(id, &[format!("/t/{n}")]).unwrap();
                    }
                    (std::thread::current().id(), id)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seen = log.lock().unwrap().clone();
    let requests: Vec<&Seen> = seen.iter().filter(|s| s.event == Event::Request).collect();
    assert_eq!(requests.len(), 8 * 5, "{seen:#?}");
    for (thread, id) in threads {
        // Every record of a call (its requests, and the waits for its resource's slots) is
        // logged on the thread that made the call.
        let path = format!("/cdn/resources/{id}/purge");
        let mine: Vec<&&Seen> = requests.iter().filter(|s| s.thread == thread).collect();
        assert_eq!(mine.len(), 5);
        assert!(mine.iter().all(|s| s.path.as_deref() == Some(&*path)));
        assert!(seen
            .iter()
            .filter(|s| s.event == Event::Wait && s.resource_id == Some(id))
            .all(|s| s.thread == thread));
    }
}

// ---- GCDN_LOG: this binary runs itself, with the variable set ------------------------------

const CHILD: &str = "GCDN_LOG_TEST_CHILD_BASE_URL";

/// Run only as the child of `gcdn_log_sends_records_to_stderr`: purge once on the emulator
/// the parent started, with a callback if the parent asks for one.
#[test]
#[ignore = "run by gcdn_log_sends_records_to_stderr as a child process"]
fn child_purges_once() {
    let base = std::env::var(CHILD).expect("run by the parent test");
    let key = std::env::var("GCDN_LOG_TEST_CHILD_KEY").unwrap();
    let mut o = Options {
        base_url: Some(base),
        ..Options::default()
    };
    match std::env::var("GCDN_LOG_TEST_CHILD_CALLBACK").as_deref() {
        Ok("silent") => o.set_log(Arc::new(|_: &Record<'_>| {}), Level::Trace),
        Ok("stderr") => o.set_log(gcdn::engine::log::to_stderr(), Level::Debug),
        _ => {}
    }
    match Client::new(Some(&key), &o) {
        Ok(client) => {
            client.purge_urls(1, &["/child.png"]).unwrap();
            eprintln!("CHILD PURGED");
        }
        Err(e) => eprintln!("CHILD CLIENT ERROR: {}", e.message),
    }
}

fn run_child(emu: &Emulator, gcdn_log: &str, callback: Option<&str>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_purges_once", "--exact", "--ignored", "--nocapture"])
        .env(CHILD, emu.base_url())
        .env("GCDN_LOG_TEST_CHILD_KEY", emu.api_key())
        .env("GCDN_LOG", gcdn_log);
    if let Some(callback) = callback {
        cmd.env("GCDN_LOG_TEST_CHILD_CALLBACK", callback);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn gcdn_log_sends_records_to_stderr() {
    let emu = emulator_with(Config {
        seed_resources: vec![1],
        api_key: SPECIAL_KEY.into(),
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    let debug = run_child(&emu, "debug", None);
    assert!(debug.contains("CHILD PURGED"), "{debug}");
    let lines: Vec<&str> = debug
        .lines()
        .filter(|l| l.starts_with("gcdn: debug: "))
        .collect();
    assert_eq!(lines.len(), 1, "{debug}");
    assert!(
        lines[0].starts_with("gcdn: debug: POST /cdn/resources/1/purge -> 201 (attempt 1, "),
        "{debug}"
    );
    assert!(lines[0].ends_with(" ms)"), "{debug}");
    assert_no_secret(&debug);

    let trace = run_child(&emu, "TRACE", None);
    assert!(trace.contains("gcdn: trace: pacer: "), "{trace}");

    // Above the records' levels, off, or a callback set: nothing on stderr.
    for (value, callback) in [
        ("warn", None),
        ("off", None),
        ("", None),
        ("debug", Some("silent")),
    ] {
        let quiet = run_child(&emu, value, callback);
        assert!(quiet.contains("CHILD PURGED"), "{value}: {quiet}");
        assert!(!quiet.contains("gcdn: "), "{value}: {quiet}");
    }

    // The Rust API's stderr writer (the CLI's -v) writes the same lines, GCDN_LOG or not.
    let cli = run_child(&emu, "off", Some("stderr"));
    let cli_lines: Vec<&str> = cli.lines().filter(|l| l.starts_with("gcdn: ")).collect();
    assert_eq!(cli_lines.len(), 1, "{cli}");
    assert!(
        cli_lines[0].starts_with("gcdn: debug: POST /cdn/resources/1/purge -> 201 (attempt 1, "),
        "{cli}"
    );

    // A value that names no level is refused when the client is made, and says why.
    let bad = run_child(&emu, "loud", None);
    assert!(
        bad.contains("CHILD CLIENT ERROR: GCDN_LOG must be one of error, warn, info, debug"),
        "{bad}"
    );
    // One purge per child but the last, which sent nothing.
    assert_eq!(purges(&emu).len(), 7);
}

/// A shared store that cannot be reached, as a Redis store is when its server is down: every
/// call fails, with the password of its URL in the error (which the log must not show).
struct DownStore;

impl SlotStore for DownStore {
    fn take(&self, _: PaceKey, _: Window, _: Duration) -> Result<Slot, StoreError> {
        Err(StoreError {
            message: format!("redis://gcdn:{URL_PASSWORD}@127.0.0.1:9/0: connection refused"),
        })
    }
    fn defer(&self, _: PaceKey, _: Window, _: Duration) -> Result<(), StoreError> {
        Err(StoreError {
            message: "connection refused".into(),
        })
    }
    fn describe(&self) -> String {
        "redis://127.0.0.1:9/0".into()
    }
}

#[test]
fn a_failing_rate_store_is_a_warning_once() {
    let emu = emulator_unlimited();
    let (mut o, log) = options(&emu, Level::Debug);
    o.set_purge_intervals(Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    let client = Client::new_with_slot_store(Some(emu.api_key()), &o, Arc::new(DownStore)).unwrap();
    for id in 1..=3 {
        client.purge_urls(id, &["/a.png"]).unwrap();
    }
    let seen = log.lock().unwrap().clone();
    let fallbacks: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.event == Event::StoreFallback)
        .collect();
    assert_eq!(fallbacks.len(), 3, "{seen:#?}");
    let levels: Vec<Level> = fallbacks.iter().map(|s| s.level).collect();
    assert_eq!(levels, [Level::Warn, Level::Debug, Level::Debug]);
    assert!(
        fallbacks[0].message.contains("redis://127.0.0.1:9/0"),
        "{:?}",
        fallbacks[0].message
    );
    for s in &seen {
        assert_no_secret(&s.message);
    }
    // The purges went on, paced in this process.
    assert_eq!(purges(&emu).len(), 3);
}
