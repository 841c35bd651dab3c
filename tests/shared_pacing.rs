//! Shared pacing across PROCESSES through a real redis-server, against one emulator (issue 14).
//!
//! Each test starts redis-server and the emulator, then re-runs this test binary as worker
//! processes (`child_worker`, selected with `--ignored --exact` and configured through
//! `GCDN_TEST_CHILD_*` variables). A worker takes a slot from its store for every batch,
//! sleeps until it, purges through the real C ABI, and prints one line per event:
//! `SENT <resource> <unix ms> <status>` and `NOTE <text>` (what the fallback store told).

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use gcdn::engine::ratestore::*;
use gcdn::ffi::GCDN_OK;
use redis_server::RedisServer;

const CHILD: &str = "GCDN_TEST_CHILD";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn env(name: &str) -> String {
    std::env::var(format!("{CHILD}_{name}")).unwrap_or_else(|_| panic!("{CHILD}_{name} unset"))
}

/// The simplest in-process window store (the same rule), for the workers' fallback.
#[derive(Default)]
struct LocalWindow {
    /// Per key: the last N slots, and the time a 429 deferred it to.
    slots: Mutex<HashMap<PaceKey, Schedule>>,
}

type Schedule = (Vec<Instant>, Option<Instant>);

impl SlotStore for LocalWindow {
    fn take(&self, key: PaceKey, window: Window, max_wait: Duration) -> Result<Slot, StoreError> {
        let now = Instant::now();
        let mut all = self.slots.lock().unwrap();
        let (slots, deferred) = all.entry(key).or_default();
        let n = window.requests.max(1) as usize;
        let mut at = now;
        if let Some(d) = *deferred {
            at = at.max(d);
        }
        if let Some(&last) = slots.last() {
            at = at.max(last);
        }
        if slots.len() >= n {
            at = at.max(slots[slots.len() - n] + window.per + margin(window));
        }
        let delay = at - now;
        if delay > max_wait {
            return Ok(Slot::TooFar(delay));
        }
        slots.push(at);
        if slots.len() > n {
            slots.remove(0);
        }
        Ok(Slot::At(delay))
    }
    fn defer(&self, key: PaceKey, _: Window, after: Duration) -> Result<(), StoreError> {
        let mut all = self.slots.lock().unwrap();
        let entry = all.entry(key).or_default();
        let until = Instant::now() + after;
        entry.1 = Some(entry.1.map_or(until, |d| d.max(until)));
        Ok(())
    }
    fn describe(&self) -> String {
        "in-process".into()
    }
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
    let (n, per_ms) = env("WINDOW")
        .split_once('/')
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .unwrap();
    let window = Window {
        requests: n,
        per: Duration::from_millis(per_ms),
    };
    let start_at: u64 = env("START_MS").parse().unwrap();
    let me = env("NAME");

    let redis: Arc<dyn SlotStore> = Arc::new(RedisStore::new(&env("REDIS"), &env("KEY")).unwrap());
    let store = FallbackStore::new(redis, Arc::new(LocalWindow::default()), false)
        .with_hook(Arc::new(|m: &str| println!("NOTE {m}")));
    let client = Setup {
        key: Some(env("KEY")),
        base_url: Some(env("BASE")),
        timeout_ms: Some(5_000),
        max_retries: Some(3),
        wait_ms: Some(20_000),
        intervals_ms: Some((per_ms / u64::from(n), per_ms)),
    }
    .build()
    .expect("client");

    // All workers begin together.
    std::thread::sleep(Duration::from_millis(start_at.saturating_sub(unix_ms())));
    for batch in 0..batches {
        for &resource in &resources {
            let key = PaceKey {
                resource_id: resource,
                kind: PaceKind::Urls,
            };
            match store
                .take(key, window, Duration::from_secs(60))
                .expect("take")
            {
                Slot::At(d) => std::thread::sleep(d),
                Slot::TooFar(d) => panic!("slot {d:?} away"),
            }
            let sent = unix_ms();
            let path = format!("/{me}/{resource}/{batch}");
            let r = client.purge_urls(resource, &[&path]);
            println!("SENT {resource} {sent} {}", r.status);
            if r.status != GCDN_OK {
                println!("NOTE purge failed: {}", r.msg());
            }
        }
    }
}

struct Worker {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

struct Run {
    redis_url: String,
    base: String,
    key: String,
    resources: &'static str,
    batches: usize,
    window: (u32, u64),
}

fn spawn(run: &Run, name: &str, start_ms: u64) -> Worker {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env(format!("{CHILD}_REDIS"), &run.redis_url)
        .env(format!("{CHILD}_BASE"), &run.base)
        .env(format!("{CHILD}_KEY"), &run.key)
        .env(format!("{CHILD}_RESOURCES"), run.resources)
        .env(format!("{CHILD}_BATCHES"), run.batches.to_string())
        .env(
            format!("{CHILD}_WINDOW"),
            format!("{}/{}", run.window.0, run.window.1),
        )
        .env(format!("{CHILD}_START_MS"), start_ms.to_string())
        .env(format!("{CHILD}_NAME"), name)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // libtest's "test child_worker ... " may stand before the first line.
            for tag in ["SENT ", "NOTE "] {
                if let Some(i) = line.find(tag) {
                    sink.lock().unwrap().push(line[i..].to_owned());
                }
            }
        }
    });
    Worker {
        child,
        lines,
        reader: Some(reader),
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

    /// Wait for the worker to finish (killing it past `deadline`); its lines.
    fn finish(mut self, deadline: Instant) -> Vec<String> {
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
        let lines = self.lines.lock().unwrap().clone();
        lines
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

fn emulator_for(window: (u32, u64)) -> Emulator {
    emulator_with(Config {
        seed_resources: vec![1, 2],
        limits: Limits {
            url_requests: window.0,
            url_window: Duration::from_millis(window.1),
            ..Limits::default()
        },
        ..Config::default()
    })
}

fn statuses(emu: &Emulator) -> Vec<u16> {
    purges(emu).iter().map(|r| r.status).collect()
}

/// 4 processes × 5 batches on each of `resources`: zero 429s, and per resource a makespan
/// within 10 % of the bound (ceil(R/N) − 1) × W.
fn four_processes(resources: &'static str) {
    let window = (2, 600);
    let redis = RedisServer::start();
    let emu = emulator_for(window);
    let run = Run {
        redis_url: redis.url(0),
        base: emu.base_url(),
        key: emu.api_key().to_owned(),
        resources,
        batches: 5,
        window,
    };
    let start = unix_ms() + 1_500;
    let workers: Vec<Worker> = (0..4)
        .map(|i| spawn(&run, &format!("p{i}"), start))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let all: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.finish(deadline))
        .collect();
    assert!(!all.iter().any(|l| l.starts_with("NOTE")), "{all:?}");
    let sent = sends(&all);
    let ids: Vec<i64> = resources.split(',').map(|r| r.parse().unwrap()).collect();
    assert_eq!(sent.len(), 20 * ids.len());
    assert!(sent.iter().all(|s| s.2 == GCDN_OK), "{sent:?}");
    let seen = statuses(&emu);
    assert_eq!(seen.len(), 20 * ids.len(), "{seen:?}");
    assert!(
        seen.iter().all(|&s| s == 201),
        "the emulator answered {seen:?}"
    );
    let (n, w) = window;
    let bound = (20u64.div_ceil(u64::from(n)) - 1) * w;
    for id in ids {
        let times: Vec<u64> = sent.iter().filter(|s| s.0 == id).map(|s| s.1).collect();
        let makespan = times.iter().max().unwrap() - times.iter().min().unwrap();
        eprintln!("resource {id}: makespan {makespan} ms, bound {bound} ms");
        assert!(
            makespan + 5 >= bound,
            "faster than the limit allows: {makespan} < {bound}"
        );
        assert!(
            makespan * 10 <= bound * 11,
            "makespan {makespan} ms more than 10 % over the bound {bound} ms"
        );
    }
}

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
    let window = (2, 600);
    let mut redis = RedisServer::start();
    let port = redis.port;
    let emu = emulator_for(window);
    let run = Run {
        redis_url: redis.url(0),
        base: emu.base_url(),
        key: emu.api_key().to_owned(),
        resources: "1",
        batches: 12,
        window,
    };
    let start = unix_ms() + 1_500;
    let workers: Vec<Worker> = (0..2)
        .map(|i| spawn(&run, &format!("k{i}"), start))
        .collect();
    let wait_for = |count: usize| {
        let until = Instant::now() + Duration::from_secs(30);
        while workers.iter().map(Worker::sent).sum::<usize>() < count {
            assert!(Instant::now() < until, "workers stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(6);
    redis.kill();
    wait_for(12);
    let back = RedisServer::start_on(port, None);
    let back_at = unix_ms();
    let deadline = Instant::now() + Duration::from_secs(60);
    let outs: Vec<Vec<String>> = workers.into_iter().map(|w| w.finish(deadline)).collect();
    drop(back);
    for out in &outs {
        let notes: Vec<&String> = out.iter().filter(|l| l.starts_with("NOTE")).collect();
        let fell: Vec<_> = notes
            .iter()
            .filter(|l| l.contains("pacing in-process"))
            .collect();
        assert_eq!(fell.len(), 1, "said once: {notes:?}");
        assert!(
            fell[0].contains(&format!("rate store redis://127.0.0.1:{port}/0")),
            "{fell:?}"
        );
        assert!(
            notes.iter().any(|l| l.contains("answering again")),
            "never came back: {out:?}"
        );
        // Fail-open: every purge went out and, with the client's own 429 handling, passed.
        let sent = sends(out);
        assert_eq!(sent.len(), 12);
        assert!(sent.iter().all(|s| s.2 == GCDN_OK), "{out:?}");
    }
    // Once both are back on the shared schedule (a window after the restart), no 429.
    let mut after: Vec<u64> = outs
        .iter()
        .flat_map(|o| sends(o))
        .map(|s| s.1)
        .filter(|&t| t > back_at + 2 * window.1 + 1_000)
        .collect();
    after.sort();
    for pair in after.windows(3) {
        assert!(
            pair[2] - pair[0] + 5 >= window.1,
            "3 sends in one window after recovery: {after:?}"
        );
    }
}
