//! Shared pacing across PROCESSES through a real redis-server, against one emulator (issue 14).
//!
//! Each test starts redis-server and the emulator, then re-runs this test binary as worker
//! processes (`child_worker`, selected with `--ignored --exact` and configured through
//! `GCDN_TEST_CHILD_*` variables). A worker is an ordinary user of the C ABI: a client whose
//! rate store is set by `gcdn_options_set_rate_store` (or `GCDN_RATE_STORE`), purging its
//! batches one after the other; the client's own pacer does all the waiting. It prints
//! `SENT <resource> <unix ms> <status>` after each purge; its stderr carries the store's
//! `GCDN_LOG` warnings.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use gcdn::engine::ratestore::*;
use gcdn::ffi::GCDN_OK;
use gcdn_emulator::FaultAction;
use redis_server::RedisServer;

const CHILD: &str = "GCDN_TEST_CHILD";
const PW: &str = "shared-pacing-pw-4c1e";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn env(name: &str) -> String {
    std::env::var(format!("{CHILD}_{name}")).unwrap_or_else(|_| panic!("{CHILD}_{name} unset"))
}

/// The worker: see the module docs. Ignored in a normal run; the tests below start it.
#[test]
#[ignore = "a worker process started by the shared-pacing tests"]
fn child_worker() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let resources: Vec<i64> = env("RESOURCES")
        .split(',')
        .map(|r| r.parse().unwrap())
        .collect();
    let batches: usize = env("BATCHES").parse().unwrap();
    let interval_ms: u64 = env("INTERVAL_MS").parse().unwrap();
    let start_at: u64 = env("START_MS").parse().unwrap();
    let me = env("NAME");
    let store = std::env::var(format!("{CHILD}_STORE")).ok();
    let coalesce = std::env::var(format!("{CHILD}_COALESCE")).is_ok_and(|v| v == "1");
    let per_call: usize =
        std::env::var(format!("{CHILD}_PER_CALL")).map_or(1, |v| v.parse().unwrap());
    let client = unsafe {
        build_client(
            &env("KEY"),
            &env("BASE"),
            interval_ms,
            store.as_deref(),
            false,
            coalesce,
        )
    };
    // All workers begin together.
    std::thread::sleep(Duration::from_millis(start_at.saturating_sub(unix_ms())));
    if coalesce {
        // `batches` calls of `per_call` URLs per resource, one after the other:
        // `CALL <resource> <status> <urls,...>` after each.
        for (batch, &resource) in (0..batches).flat_map(|b| resources.iter().map(move |r| (b, r))) {
            let urls: Vec<String> = (0..per_call)
                .map(|i| format!("/{me}/{resource}/{batch}/{i}"))
                .collect();
            let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
            let r = client.purge_urls(resource, &refs);
            println!("CALL {resource} {} {}", r.status, urls.join(","));
            if !r.ok() {
                println!("FAIL {}", r.msg());
            }
        }
        return;
    }

    for batch in 0..batches {
        for &resource in &resources {
            let path = format!("/{me}/{resource}/{batch}");
            let r = client.purge_urls(resource, &[&path]);
            println!("SENT {resource} {} {}", unix_ms(), r.status);
            if !r.ok() {
                println!("FAIL {}", r.msg());
            }
        }
    }
}

/// A client through the C ABI, paced at 1 per `interval_ms`: with the rate store `store`
/// (`None`: whatever `GCDN_RATE_STORE` says), fail-closed or not, coalescing or not (most
/// tests here count paced requests, one per call).
unsafe fn build_client(
    key: &str,
    base: &str,
    interval_ms: u64,
    store: Option<&str>,
    fail_closed: bool,
    coalesce: bool,
) -> TestClient {
    use gcdn::ffi::*;
    let o = gcdn_options_new();
    let base = cstr(base);
    assert!(call(|e| gcdn_options_set_base_url(o, base.as_ptr(), e)).ok());
    assert!(call(|e| gcdn_options_set_timeout_ms(o, 5_000, e)).ok());
    assert!(call(|e| gcdn_options_set_max_rate_limit_wait_ms(o, 30_000, e)).ok());
    assert!(call(|e| gcdn_options_set_purge_intervals_ms(o, interval_ms, interval_ms, e)).ok());
    if let Some(url) = store {
        let url = cstr(url);
        let r = call(|e| gcdn_options_set_rate_store(o, url.as_ptr(), e));
        assert!(r.ok(), "{r:?}");
    }
    if fail_closed {
        assert!(call(|e| gcdn_options_set_rate_store_fail_closed(o, 1, e)).ok());
    }
    if !coalesce {
        assert!(call(|e| gcdn_options_set_coalesce(o, 0, e)).ok());
    }
    let key = cstr(key);
    let mut client = std::ptr::null_mut();
    let r = call(|e| gcdn_client_new(key.as_ptr(), o, &mut client, e));
    gcdn_options_free(o);
    assert!(r.ok(), "{r:?}");
    TestClient(client)
}

/// A fail-closed client of `emu` with the rate store `url`, paced at 1 per `INTERVAL`.
unsafe fn fail_closed_client(emu: &Emulator, url: &str, coalesce: bool) -> TestClient {
    build_client(
        emu.api_key(),
        &emu.base_url(),
        INTERVAL,
        Some(url),
        true,
        coalesce,
    )
}

struct Worker {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    errors: Option<std::thread::JoinHandle<String>>,
}

struct Run {
    redis_url: String,
    base: String,
    key: String,
    resources: &'static str,
    batches: usize,
    interval_ms: u64,
    /// Coalescing on, each worker purging `per_call` URLs in one call per resource.
    coalesce: Option<usize>,
}

/// Worker `name`: its store from the option when `by_option`, else from `GCDN_RATE_STORE`.
fn spawn(run: &Run, name: &str, start_ms: u64, by_option: bool) -> Worker {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_worker",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1")
    .env(format!("{CHILD}_BASE"), &run.base)
    .env(format!("{CHILD}_KEY"), &run.key)
    .env(format!("{CHILD}_RESOURCES"), run.resources)
    .env(format!("{CHILD}_BATCHES"), run.batches.to_string())
    .env(format!("{CHILD}_INTERVAL_MS"), run.interval_ms.to_string())
    .env(format!("{CHILD}_START_MS"), start_ms.to_string())
    .env(format!("{CHILD}_NAME"), name)
    .env("GCDN_LOG", "warn")
    .env_remove(ENV_RATE_STORE)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(per_call) = run.coalesce {
        cmd.env(format!("{CHILD}_COALESCE"), "1")
            .env(format!("{CHILD}_PER_CALL"), per_call.to_string());
    }
    if by_option {
        cmd.env(format!("{CHILD}_STORE"), &run.redis_url);
    } else {
        cmd.env(ENV_RATE_STORE, &run.redis_url);
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // libtest's "test child_worker ... " may stand before the first line.
            for tag in ["SENT ", "FAIL ", "CALL "] {
                if let Some(i) = line.find(tag) {
                    sink.lock().unwrap().push(line[i..].to_owned());
                }
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
        text
    });
    Worker {
        child,
        lines,
        reader: Some(reader),
        errors: Some(errors),
    }
}

impl Worker {
    fn sent(&self) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("SENT "))
            .count()
    }

    /// Wait for the worker to finish (killing it past `deadline`); its lines and stderr.
    fn finish(mut self, deadline: Instant) -> (Vec<String>, String) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "worker failed: {status}; {:?}",
                    self.lines.lock().unwrap()
                );
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "worker still running at the deadline: {:?}",
                    self.lines.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.reader.take().unwrap().join().unwrap();
        let errors = self.errors.take().unwrap().join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        (lines, errors)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(resource, unix ms, status)` of every SENT line.
fn sends(lines: &[String]) -> Vec<(i64, u64, i32)> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("SENT "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

fn emulator_for(interval_ms: u64) -> Emulator {
    emulator_with(Config {
        seed_resources: vec![1, 2],
        limits: Limits {
            url_requests: 1,
            url_window: Duration::from_millis(interval_ms),
            ..Limits::default()
        },
        ..Config::default()
    })
}

fn statuses(emu: &Emulator) -> Vec<u16> {
    purges(emu).iter().map(|r| r.status).collect()
}

/// 4 processes × 5 batches on each of `resources` (2 with the store from the option, 2 from
/// `GCDN_RATE_STORE`), each client paced at 1 per `INTERVAL`: zero 429s (the emulator's own
/// window checks the spacing at the server), and per resource a makespan near the bound
/// (R − 1) × interval: not under it, and not so far over it that the processes took turns.
fn four_processes(resources: &'static str) {
    let redis = RedisServer::start();
    let emu = emulator_for(INTERVAL);
    let run = Run {
        redis_url: redis.url(0),
        base: emu.base_url(),
        key: emu.api_key().to_owned(),
        resources,
        batches: 5,
        interval_ms: INTERVAL,
        coalesce: None,
    };
    let start = unix_ms() + 1_500;
    let workers: Vec<Worker> = (0..4)
        .map(|i| spawn(&run, &format!("p{i}"), start, i % 2 == 0))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    let outs: Vec<(Vec<String>, String)> =
        workers.into_iter().map(|w| w.finish(deadline)).collect();
    for (_, errors) in &outs {
        assert!(!errors.contains("gcdn: warning"), "{errors}");
    }
    let all: Vec<String> = outs.into_iter().flat_map(|o| o.0).collect();
    let sent = sends(&all);
    let ids: Vec<i64> = resources.split(',').map(|r| r.parse().unwrap()).collect();
    assert_eq!(sent.len(), 20 * ids.len(), "{all:?}");
    assert!(sent.iter().all(|s| s.2 == GCDN_OK), "{all:?}");
    let seen = statuses(&emu);
    assert_eq!(seen.len(), 20 * ids.len(), "{seen:?}");
    assert!(
        seen.iter().all(|&s| s == 201),
        "the emulator answered {seen:?}"
    );
    let bound = 19 * INTERVAL;
    for id in ids {
        // Each SENT is stamped when its purge returned, in a process a loaded machine may
        // hold up: the exact spacing is the server's (zero 429s above); these bounds leave a
        // scheduler's noise either way. The pacer's margin (50 ms) adds 19 × 50 ms; processes
        // that took turns instead of sharing would take several times the bound.
        let times: Vec<u64> = sent.iter().filter(|s| s.0 == id).map(|s| s.1).collect();
        let makespan = times.iter().max().unwrap() - times.iter().min().unwrap();
        let paced = bound + 19 * 50;
        eprintln!("resource {id}: makespan {makespan} ms, bound {bound} ms, paced {paced} ms");
        assert!(
            makespan + 500 >= bound,
            "faster than the limit allows: {makespan} < {bound}"
        );
        assert!(
            makespan <= paced + 2_000,
            "makespan {makespan} ms more than 2 s over the paced {paced} ms"
        );
    }
}

/// The pacing interval of the process tests (the emulator's limit: 1 per interval). The
/// pacer's margin (`pacer::margin`, at least 50 ms) costs 7 % of it.
const INTERVAL: u64 = 700;

#[test]
fn four_processes_share_one_resource() {
    four_processes("1");
}

#[test]
fn four_processes_share_two_resources_interleaved() {
    four_processes("1,2");
}

#[test]
fn redis_killed_mid_run_then_back() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let emu = emulator_for(INTERVAL);
    let run = Run {
        redis_url: redis.url(0),
        base: emu.base_url(),
        key: emu.api_key().to_owned(),
        resources: "1",
        batches: 9,
        interval_ms: INTERVAL,
        coalesce: None,
    };
    let start = unix_ms() + 1_500;
    let workers: Vec<Worker> = (0..2)
        .map(|i| spawn(&run, &format!("k{i}"), start, i == 0))
        .collect();
    let wait_for = |count: usize| {
        let until = Instant::now() + Duration::from_secs(60);
        while workers.iter().map(Worker::sent).sum::<usize>() < count {
            assert!(Instant::now() < until, "workers stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(4);
    let shared_until = unix_ms();
    redis.kill();
    wait_for(10);
    let back = RedisServer::start_on(port, None);
    let back_at = unix_ms();
    let deadline = Instant::now() + Duration::from_secs(90);
    let outs: Vec<(Vec<String>, String)> =
        workers.into_iter().map(|w| w.finish(deadline)).collect();
    drop(back);
    let store = format!("rate store redis://127.0.0.1:{port}/0");
    for (lines, errors) in &outs {
        // Fail-open: every purge went out and passed (the client's 429 handling absorbed
        // the uncoordinated stretch).
        let sent = sends(lines);
        assert_eq!(sent.len(), 9, "{lines:?}");
        assert!(sent.iter().all(|s| s.2 == GCDN_OK), "{lines:?}");
        // Said once per outage (GCDN_LOG=warn), naming the store, never a password.
        let warned: Vec<&str> = errors
            .lines()
            .filter(|l| l.contains("store_fallback") || l.contains("pacing in this process"))
            .collect();
        assert_eq!(warned.len(), 1, "{errors}");
        assert!(warned[0].starts_with("gcdn: warn: "), "{errors}");
        assert!(warned[0].contains(&store), "{errors}");
        assert!(!errors.contains(PW), "{errors}");
    }
    let statuses: Vec<u16> = statuses(&emu);
    eprintln!("emulator answered {statuses:?}");
    // Shared before the kill and again a little after the restart: the sends of both
    // workers keep the interval there.
    let mut times: Vec<u64> = outs.iter().flat_map(|o| sends(&o.0)).map(|s| s.1).collect();
    times.sort();
    let resumed = back_at + 2_000;
    for range in [(0, shared_until), (resumed, u64::MAX)] {
        let inside: Vec<u64> = times
            .iter()
            .copied()
            .filter(|t| (range.0..range.1).contains(t))
            .collect();
        for pair in inside.windows(2) {
            assert!(
                pair[1] - pair[0] + 20 >= INTERVAL,
                "two sends within an interval in {range:?}: {inside:?}"
            );
        }
    }
    assert!(
        times.iter().filter(|&&t| t >= resumed).count() >= 2,
        "nothing after the restart: {times:?}"
    );
}

#[test]
fn fail_closed_is_a_network_error_naming_the_store() {
    let emu = emulator_for(INTERVAL);
    let port = redis_server::free_port();
    let url = format!("redis://:{PW}@127.0.0.1:{port}/0");
    let closed = unsafe { fail_closed_client(&emu, &url, false) };
    let open = unsafe {
        build_client(
            emu.api_key(),
            &emu.base_url(),
            INTERVAL,
            Some(&url),
            false,
            false,
        )
    };
    let r = closed.purge_urls(1, &["/a"]);
    assert_eq!(r.status, gcdn::ffi::GCDN_ERR_NETWORK, "{r:?}");
    assert!(
        r.msg()
            .contains(&format!("rate store redis://127.0.0.1:{port}/0")),
        "{r:?}"
    );
    assert!(r.msg().contains("fail-closed"), "{r:?}");
    assert!(!r.msg().contains(PW), "{r:?}");
    assert!(purges(&emu).is_empty(), "fail-closed sent a purge");
    // Fail-open (the default): the same store, the purge goes.
    assert!(open.purge_urls(1, &["/a"]).ok());
    assert_eq!(statuses(&emu), vec![201]);
}

/// Fail-closed, coalescing through the store: the store dies while the caller's own request
/// is at the API. The purge went and got its 2xx; only publishing it for others failed. The
/// caller is told it is done (it is), not "no purge is sent"; the next call, with the store
/// gone, is the fail-closed error and sends nothing.
#[test]
fn fail_closed_after_the_purge_went_tells_the_caller_it_is_done() {
    let mut redis = RedisServer::with_password(PW);
    let emu = emulator_for(INTERVAL);
    // The purge is held at the emulator (recorded on arrival) while the store is killed.
    emu.push_fault(Fault {
        method: Some("POST".into()),
        path_prefix: Some("/cdn/resources/1/purge".into()),
        times: 1,
        action: FaultAction::Delay(Duration::from_millis(1_500)),
    });
    let closed = unsafe { fail_closed_client(&emu, &redis.url(0), true) };
    let r = std::thread::scope(|s| {
        let call = s.spawn(|| closed.purge_urls(1, &["/a", "/b"]));
        let until = Instant::now() + Duration::from_secs(20);
        while purges(&emu).is_empty() {
            assert!(Instant::now() < until, "the purge never arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
        redis.kill();
        call.join().unwrap()
    });
    assert_eq!(r.status, GCDN_OK, "{r:?}");
    assert_eq!(statuses(&emu), vec![201]);
    let next = closed.purge_urls(1, &["/c"]);
    assert_eq!(next.status, gcdn::ffi::GCDN_ERR_NETWORK, "{next:?}");
    assert!(next.msg().contains("fail-closed"), "{next:?}");
    assert!(!next.msg().contains(PW), "{next:?}");
    assert_eq!(
        statuses(&emu),
        vec![201],
        "fail-closed sent a purge without its store"
    );
}

#[test]
fn a_wrong_password_is_said_without_the_password() {
    let redis = RedisServer::with_password(PW);
    let emu = emulator_for(INTERVAL);
    let url = format!("redis://:wrong-{PW}@127.0.0.1:{}/0", redis.port);
    let closed = unsafe { fail_closed_client(&emu, &url, false) };
    let r = closed.purge_urls(1, &["/a"]);
    assert_eq!(r.status, gcdn::ffi::GCDN_ERR_NETWORK, "{r:?}");
    assert!(
        r.msg()
            .contains("authentication failed: the password in the URL was refused"),
        "{r:?}"
    );
    assert!(!r.msg().contains(PW), "{r:?}");
}

/// Issue 21: 8 processes × 5 URLs of one resource, coalescing on, through one redis-server:
/// a few requests (the first goes alone at once, the rest share), every URL a caller was
/// told is purged arrived in a 2xx request, no 429.
#[test]
fn eight_processes_coalesce_through_redis() {
    let redis = RedisServer::start();
    let emu = emulator_for(INTERVAL);
    let run = Run {
        redis_url: redis.url(0),
        base: emu.base_url(),
        key: emu.api_key().to_owned(),
        resources: "1",
        batches: 1,
        interval_ms: INTERVAL,
        coalesce: Some(5),
    };
    let start = unix_ms() + 1_500;
    let workers: Vec<Worker> = (0..8)
        .map(|i| spawn(&run, &format!("c{i}"), start, i % 2 == 0))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let outs: Vec<(Vec<String>, String)> =
        workers.into_iter().map(|w| w.finish(deadline)).collect();
    let mut told_ok = Vec::new();
    for (lines, errors) in &outs {
        assert!(!errors.contains("gcdn: warn"), "{errors}");
        let calls: Vec<&String> = lines.iter().filter(|l| l.starts_with("CALL ")).collect();
        assert_eq!(calls.len(), 1, "{lines:?}");
        let f: Vec<&str> = calls[0].split(' ').collect();
        assert_eq!(f[2], GCDN_OK.to_string(), "{lines:?}");
        told_ok.extend(f[3].split(',').map(str::to_owned));
    }
    assert_eq!(told_ok.len(), 40);
    let reqs = purges(&emu);
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    eprintln!(
        "{} requests for 40 URLs of 8 processes: {statuses:?}",
        reqs.len()
    );
    assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}");
    assert!(reqs.len() <= 3, "{} requests: {statuses:?}", reqs.len());
    let arrived: Vec<String> = reqs
        .iter()
        .flat_map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            v["urls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for url in &told_ok {
        assert!(
            arrived.contains(url),
            "{url} told purged, never sent: {arrived:?}"
        );
    }
}

/// The URLs of the purge requests the emulator answered 2xx, each with when it arrived.
fn purged_urls(emu: &Emulator) -> Vec<(String, Instant)> {
    purges(emu)
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .flat_map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            v["urls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| (u.as_str().unwrap().to_owned(), r.received))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every URL a worker was told is purged (its CALL lines with status OK), and how many calls
/// it reported, of `outs`.
fn told_ok(outs: &[(Vec<String>, String)]) -> (Vec<String>, usize) {
    let mut ok = Vec::new();
    let mut calls = 0;
    for (lines, _) in outs {
        for l in lines.iter().filter(|l| l.starts_with("CALL ")) {
            calls += 1;
            let f: Vec<&str> = l.split(' ').collect();
            if f[2] == GCDN_OK.to_string() {
                ok.extend(f[3].split(',').map(str::to_owned));
            }
        }
    }
    (ok, calls)
}

/// The lease of the workers' claims: their request timeout (5 s, `build_client`).
const LEASE: Duration = Duration::from_secs(5);

/// A sender killed with SIGKILL after claiming, `during` its request (the emulator holds its
/// answer) or before it (its request never reaches the API: its base URL is a listener that
/// takes the purge and holds it). Three other processes then purge through the same Redis:
/// the dead sender's items are sent by one of them after the lease; every URL a caller was
/// told is purged arrived in a 2xx request; no 429.
fn killed_sender(during: bool) {
    let redis = RedisServer::start();
    let emu = emulator_for(INTERVAL);
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hold_base = format!("http://127.0.0.1:{}", hold.local_addr().unwrap().port());
    let (took, purge_held) = std::sync::mpsc::channel::<()>();
    if during {
        emu.push_fault(Fault::delay(Duration::from_secs(3)).on("POST", "/cdn/resources/1/purge"));
    } else {
        // The limits GET gets a 404 (the documented limits then); the purge is held unread.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in hold.incoming() {
                let Ok(mut conn) = conn else { break };
                let mut head = [0u8; 4096];
                let n = std::io::Read::read(&mut conn, &mut head).unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]).into_owned();
                if head.starts_with("POST ") && head.contains("/purge") {
                    let _ = took.send(());
                    held.push(conn);
                } else {
                    let _ = std::io::Write::write_all(
                        &mut conn,
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        });
    }
    let run = |base: String| Run {
        redis_url: redis.url(0),
        base,
        key: emu.api_key().to_owned(),
        resources: "1",
        batches: 1,
        interval_ms: INTERVAL,
        coalesce: Some(5),
    };
    let victim_run = run(if during { emu.base_url() } else { hold_base });
    let mut victim = spawn(&victim_run, "dead", unix_ms(), true);
    // The moment its request is on its way (claimed in Redis first).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let on_its_way = if during {
            purges(&emu).iter().any(|r| r.status == 0)
        } else {
            purge_held.try_recv().is_ok()
        };
        if on_its_way {
            break;
        }
        assert!(Instant::now() < until, "the sender's request never went");
        std::thread::sleep(Duration::from_millis(5));
    }
    let claimed = redis.raw("KEYS gcdn:*:1:urls:co:c:*");
    assert!(claimed.contains(":co:c:"), "no claim in Redis: {claimed}");
    victim.child.kill().unwrap();
    let killed = Instant::now();
    let _ = victim.child.wait();
    let others = run(emu.base_url());
    let workers: Vec<Worker> = (0..3)
        .map(|i| spawn(&others, &format!("s{i}"), unix_ms(), i % 2 == 0))
        .collect();
    let outs: Vec<(Vec<String>, String)> = workers
        .into_iter()
        .map(|w| w.finish(Instant::now() + Duration::from_secs(60)))
        .collect();
    // The emulator answers the held purge (during) before we look.
    std::thread::sleep(Duration::from_secs(3));
    let (ok, calls) = told_ok(&outs);
    assert_eq!((ok.len(), calls), (15, 3), "{outs:?}");
    let statuses = statuses(&emu);
    eprintln!("emulator answered {statuses:?}");
    assert!(!statuses.contains(&429), "{statuses:?}");
    let arrived = purged_urls(&emu);
    for url in &ok {
        assert!(
            arrived.iter().any(|a| &a.0 == url),
            "{url} told purged, in no 2xx request: {arrived:?}"
        );
    }
    // The dead sender's items: sent again by another process, once its lease ended.
    for i in 0..5 {
        let url = format!("/dead/1/0/{i}");
        let resent: Vec<Duration> = arrived
            .iter()
            .filter(|a| a.0 == url)
            .filter_map(|a| a.1.checked_duration_since(killed))
            .collect();
        assert_eq!(resent.len(), 1, "{url}: {arrived:?}");
        assert!(
            resent[0] + Duration::from_millis(100) >= LEASE / 2,
            "{url} sent again {:?} after the kill, before the lease could end",
            resent[0]
        );
    }
}

#[test]
fn a_sender_killed_before_its_request_loses_nothing() {
    killed_sender(false);
}

#[test]
fn a_sender_killed_during_its_request_loses_nothing() {
    killed_sender(true);
}

/// Coalescing on, Redis killed mid-run and started again on its port: every call of 4
/// processes × 6 calls of 3 URLs ends OK (fail-open: in-process coalescing while it is
/// down, warned once), every URL told purged arrived in a 2xx request, and there is no
/// 429 while Redis is up.
#[test]
fn coalescing_through_redis_restarted_mid_run() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let emu = emulator_for(INTERVAL);
    let run = Run {
        redis_url: redis.url(0),
        base: emu.base_url(),
        key: emu.api_key().to_owned(),
        resources: "1",
        batches: 6,
        interval_ms: INTERVAL,
        coalesce: Some(3),
    };
    let start = unix_ms() + 1_500;
    let workers: Vec<Worker> = (0..4)
        .map(|i| spawn(&run, &format!("r{i}"), start, i % 2 == 0))
        .collect();
    let calls = |workers: &[Worker]| -> usize {
        workers
            .iter()
            .map(|w| {
                w.lines
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|l| l.starts_with("CALL "))
                    .count()
            })
            .sum()
    };
    let until = Instant::now() + Duration::from_secs(60);
    while calls(&workers) < 4 {
        assert!(Instant::now() < until, "workers stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let down = Instant::now();
    redis.kill();
    while calls(&workers) < 12 {
        assert!(Instant::now() < until, "workers stalled without Redis");
        std::thread::sleep(Duration::from_millis(10));
    }
    let back = RedisServer::start_on(port, None);
    let back_at = Instant::now();
    let outs: Vec<(Vec<String>, String)> = workers
        .into_iter()
        .map(|w| w.finish(Instant::now() + Duration::from_secs(90)))
        .collect();
    drop(back);
    let (ok, calls) = told_ok(&outs);
    assert_eq!((ok.len(), calls), (72, 24), "{outs:?}");
    for (_, errors) in &outs {
        let warned = errors
            .lines()
            .filter(|l| l.contains("store_fallback") || l.contains("in this process"))
            .count();
        assert!(warned <= 1, "{errors}");
    }
    let arrived = purged_urls(&emu);
    for url in &ok {
        assert!(
            arrived.iter().any(|a| &a.0 == url),
            "{url} told purged, in no 2xx request"
        );
    }
    let reqs = purges(&emu);
    let outage = down..back_at + Duration::from_secs(2);
    let limited: Vec<Duration> = reqs
        .iter()
        .filter(|r| r.status == 429 && !outage.contains(&r.received))
        .map(|r| r.received.saturating_duration_since(down))
        .collect();
    assert!(limited.is_empty(), "429s while Redis was up: {limited:?}");
    eprintln!(
        "{} requests for 72 URLs; {} answered 429 (during the outage)",
        reqs.len(),
        reqs.iter().filter(|r| r.status == 429).count()
    );
}

/// Two clients with their own stores on one Redis (as two processes would be). The first's
/// thread stops 300 ms between its slot and its send (its log callback sleeps on the calling
/// thread, as a descheduled thread would), and the second takes the next slot meanwhile: the
/// emulator meets no 429, and the two purges arrive at least a window apart. (Before the slot
/// was checked again at the send, the second went one window and margin after the first's
/// slot: 250 ms after the first's arrival, and met a 429.)
#[test]
fn a_sender_descheduled_after_its_slot_does_not_shorten_the_next_gap() {
    use gcdn::engine::log::{Event, Level, Record};
    use gcdn::engine::{Client, Options};
    use std::sync::Barrier;

    let window = Duration::from_millis(500);
    let redis = RedisServer::start();
    let emu = emulator_for(window.as_millis() as u64);
    let client = |log: Option<gcdn::engine::log::LogFn>| {
        let mut o = Options::default();
        o.set_base_url(&emu.base_url()).unwrap();
        o.set_purge_intervals(window, window).unwrap();
        o.coalesce = false;
        o.max_rate_limit_wait = Duration::from_secs(30);
        if let Some(log) = log {
            o.set_log(log, Level::Trace);
        }
        let store = RedisStore::new(&redis.url(0), emu.api_key()).unwrap();
        Client::new_with_slot_store(Some(emu.api_key()), &o, Arc::new(store)).unwrap()
    };
    let barrier = Arc::new(Barrier::new(2));
    let late = {
        let barrier = Arc::clone(&barrier);
        let first = Mutex::new(true);
        client(Some(Arc::new(move |r: &Record<'_>| {
            if r.event == Event::Pacer && std::mem::take(&mut *first.lock().unwrap()) {
                barrier.wait();
                std::thread::sleep(Duration::from_millis(300));
            }
        })))
    };
    let next = client(None);
    std::thread::scope(|s| {
        s.spawn(|| late.purge_urls(1, &["/late"]).unwrap());
        barrier.wait();
        next.purge_urls(1, &["/next"]).unwrap();
    });
    let mut got: Vec<(Instant, u16)> = purges(&emu)
        .iter()
        .map(|r| (r.received, r.status))
        .collect();
    got.sort_by_key(|&(t, _)| t);
    let statuses: Vec<u16> = got.iter().map(|&(_, s)| s).collect();
    assert_eq!(statuses, vec![201, 201], "the emulator's answers");
    let gap = got[1].0 - got[0].0;
    assert!(gap >= window, "the purges arrived {gap:?} apart");
}

/// Two runs in different processes (here two clients with rate stores and coalescers of
/// their own: they share nothing but Redis) whose items go in one request through Redis both
/// confirm it: the request's purge status lists both runs' items, and the sender published
/// the digest of all of them with the outcome, so each run matches the entry by it.
#[test]
fn two_processes_jobs_sharing_a_redis_request_both_confirm_it() {
    use gcdn::engine::job::{Completion, Job, RunOptions};
    use gcdn::engine::{Client, Options};
    let redis = RedisServer::start();
    let emu = emulator_for(1000);
    let client = || {
        let mut o = Options::default();
        o.set_base_url(&emu.base_url()).unwrap();
        o.set_purge_intervals(Duration::from_secs(1), Duration::from_secs(1))
            .unwrap();
        o.set_rate_store(&redis.url(0)).unwrap();
        Client::new(Some(emu.api_key()), &o).unwrap()
    };
    let (a, b) = (client(), client());
    // The next slot is a window away: both runs' requests wait for it, and one carries both.
    a.purge_urls(1, &["/warm"]).unwrap();
    let job_of = |tag: &str| {
        let mut j = Job::new();
        let urls: Vec<String> = (0..20).map(|i| format!("/{tag}/{i}")).collect();
        j.add_urls(1, &urls).unwrap();
        j
    };
    let (ja, jb) = (job_of("run-a"), job_of("run-b"));
    let run = RunOptions {
        wait: Some(Duration::from_secs(15)),
        ..RunOptions::default()
    };
    let (ra, rb) = std::thread::scope(|s| {
        let ra = s.spawn(|| a.run_job(&ja, &run, None));
        let rb = s.spawn(|| b.run_job(&jb, &run, None));
        (ra.join().unwrap().unwrap(), rb.join().unwrap().unwrap())
    });
    let reqs = purges(&emu);
    assert!(reqs.iter().all(|r| r.status == 201), "{:?}", statuses(&emu));
    let shared = reqs
        .iter()
        .filter(|r| r.body.contains("/run-a/0\"") && r.body.contains("/run-b/0\""))
        .count();
    assert_eq!(shared, 1, "one request carried both runs: {reqs:?}");
    assert_eq!(reqs.len(), 2, "/warm, then one request of 40");
    for (report, tag) in [(&ra, "run-a"), (&rb, "run-b")] {
        assert_eq!(report.requests.len(), 1, "{tag}");
        let r = &report.requests[0];
        assert_eq!(r.carried_for_others, 20, "{tag}");
        assert_eq!(
            r.completion,
            Some(Completion::Successful),
            "{tag}: {}",
            report.to_json()
        );
        assert_eq!(report.totals.confirmed, 1, "{tag}");
    }
}

/// A caller that waited in Redis' queue and then falls back to in-process coalescing (the
/// store failed) has only what is left of its wait budget: in all, it never waits on rate
/// limits longer than its budget.
#[test]
fn a_fallback_after_waiting_in_redis_keeps_to_what_is_left_of_the_budget() {
    use gcdn::engine::ratestore::coalesce::Queue;
    use gcdn::engine::ratestore::{PaceKey, PaceKind, RedisStore, RETRY_AFTER};
    use gcdn::engine::{Client, Options, Status};
    let mut redis = RedisServer::start();
    let port = redis.port;
    let url = redis.url(0);
    let emu = emulator_for(100);
    let interval = Duration::from_secs(6);
    let budget = Duration::from_secs(4);
    let in_queue = Duration::from_millis(1500);
    let mut o = Options::default();
    o.set_base_url(&emu.base_url()).unwrap();
    o.set_purge_intervals(interval, interval).unwrap();
    o.max_rate_limit_wait = budget;
    o.set_rate_store(&url).unwrap();
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    // The store is down: this purge goes through the in-process fallback, whose pacer now
    // has the key's next slot `interval` away.
    redis.kill();
    c.purge_urls(1, &["/warm"]).unwrap();
    let warmed = Instant::now();
    // The store is back (and tried again), and another process leads the queue for long.
    let redis = RedisServer::start_on(port, None);
    let store = RedisStore::new(&url, emu.api_key()).unwrap();
    let lead = Queue::new(
        &store,
        PaceKey {
            resource_id: 1,
            kind: PaceKind::Urls,
        },
    )
    .key("s");
    redis.raw(&format!("SET {lead} ffffffffffffffff PX 30000"));
    std::thread::sleep((RETRY_AFTER + Duration::from_millis(200)).saturating_sub(warmed.elapsed()));
    let (r, began) = std::thread::scope(|s| {
        let call = s.spawn(|| {
            let began = Instant::now();
            (c.purge_urls(1, &["/late"]), began)
        });
        // The caller waits in Redis' queue, then the store goes: the in-process fallback's
        // slot (`interval` after /warm) is within a whole budget from then, not within what
        // is left of it.
        std::thread::sleep(in_queue);
        let mut redis = redis;
        redis.kill();
        call.join().unwrap()
    });
    let waited = began.elapsed();
    let sent: Vec<String> = purges(&emu).iter().map(|p| p.body.clone()).collect();
    let e = r.expect_err(&format!(
        "the call waited {waited:?} on rate limits, budget {budget:?}; sent {sent:?}"
    ));
    assert_eq!(e.status, Status::RateLimited, "{e}");
    assert!(!sent.iter().any(|b| b.contains("/late")), "{sent:?}");
}

/// Coalescing through Redis, across two clients (two coalescers, as two processes would
/// be): a leader whose own deadline ends the shared request before its answer gives the
/// batch back instead of publishing its Timeout; the other client's callers send it again
/// and are told OK once that got its 2xx. The leader is told its own URL was in flight.
#[test]
fn a_leader_out_of_time_mid_send_gives_the_shared_batch_back() {
    use gcdn::engine::log::{Level, LogFn, Record};
    use gcdn::engine::{CallSettings, Client, Options, Status};
    let redis = RedisServer::start();
    let interval = Duration::from_secs(2);
    let emu = emulator_for(interval.as_millis() as u64);
    let options = |log: Option<LogFn>| {
        let mut o = Options::default();
        o.set_base_url(&emu.base_url()).unwrap();
        o.set_purge_intervals(interval, interval).unwrap();
        o.set_rate_store(&redis.url(0)).unwrap();
        o.max_rate_limit_wait = Duration::from_secs(60);
        o.max_retries = 0;
        if let Some(log) = log {
            o.set_log(log, Level::Trace);
        }
        o
    };
    let waiting = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let seen = Arc::clone(&waiting);
    let leader = Client::new(
        Some(emu.api_key()),
        &options(Some(Arc::new(move |r: &Record<'_>| {
            if r.message.contains("for the next purge slot") {
                *seen.0.lock().unwrap() = true;
                seen.1.notify_all();
            }
        }))),
    )
    .unwrap();
    let others = Client::new(Some(emu.api_key()), &options(None)).unwrap();
    leader.purge_urls(1, &["/warm"]).unwrap();
    // The shared request is held at the emulator well past the leader's deadline.
    emu.push_fault(
        Fault::delay(Duration::from_secs(8))
            .on("POST", "/cdn/resources/1/purge")
            .times(1),
    );
    let followers = 3;
    std::thread::scope(|s| {
        let settings = CallSettings {
            timeout: Some(Duration::from_millis(3_500)),
            ..CallSettings::default()
        };
        let leader = &leader;
        let lead = s.spawn(move || leader.purge_urls_with(1, &["/leader"], &settings));
        // The leader waits for the next slot (about 2 s away): these callers queue behind it.
        let g = waiting.0.lock().unwrap();
        let (g, t) = waiting
            .1
            .wait_timeout_while(g, Duration::from_secs(30), |w| !*w)
            .unwrap();
        assert!(*g && !t.timed_out(), "the leader never waited for its slot");
        drop(g);
        let handles: Vec<_> = (0..followers)
            .map(|i| {
                let c = others.clone();
                s.spawn(move || c.purge_urls(1, &[format!("/f/{i}")]))
            })
            .collect();
        let e = lead.join().unwrap().unwrap_err();
        for (i, h) in handles.into_iter().enumerate() {
            let r = h.join().unwrap();
            assert!(r.is_ok(), "/f/{i}: {r:?}");
        }
        assert_eq!(e.status, Status::Timeout, "{e}");
        assert!(e.message.contains("in flight"), "{e}");
    });
    let got: Vec<(u16, String)> = purges(&emu)
        .iter()
        .map(|r| (r.status, r.body.clone()))
        .collect();
    let held = got
        .iter()
        .find(|(_, body)| body.contains("/leader"))
        .expect("the leader's request arrived");
    for i in 0..followers {
        let item = format!("\"/f/{i}\"");
        assert!(held.1.contains(&item), "not shared: {got:?}");
        assert!(
            got.iter().any(|(status, body)| (200..300).contains(status)
                && !body.contains("/leader")
                && body.contains(&item)),
            "{item} was not sent again: {got:?}"
        );
    }
}
