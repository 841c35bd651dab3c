//! Long runs through the C ABI: memory stays flat over many calls, and 16 threads hammering
//! one client while the server misbehaves are each told the truth.
//!
//! The memory soak makes `GCDN_SOAK_CALLS` calls: 5,000 by default (in `cargo test` and
//! `make test`: it catches a leak of about 1 KiB a call), 100,000 under `make soak` (about
//! 50 bytes a call). Leaks of any size are valgrind's job (`make test-c-valgrind`).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use gcdn::ffi::*;

/// The resources the calls go round.
const RESOURCES: i64 = 500;

/// How many calls the memory soak makes: `GCDN_SOAK_CALLS`, else 5,000.
fn soak_calls() -> u32 {
    match std::env::var("GCDN_SOAK_CALLS") {
        Ok(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n >= 1_000)
            .unwrap_or_else(|| panic!("GCDN_SOAK_CALLS={v:?}: want a number of calls >= 1000")),
        Err(_) => 5_000,
    }
}

/// Resident memory may grow by this much after the warm-up (allocator arenas, pools).
const RSS_GROWTH_LIMIT_KIB: u64 = 4 * 1024;

#[test]
fn memory_stays_flat_over_many_calls() {
    let calls = soak_calls();
    let tenth = calls / 10;
    let emu = emulator_with(Config {
        seed_resources: (1..=RESOURCES).collect(),
        limits: Limits::unlimited_rate(),
        api_key: "soak-key-71c0".into(),
        ..Config::default()
    });
    emu.set_recording(false);
    // The pacer keeps one request per key per ms: the calls go round many resources (which
    // also shows the pacer's history staying flat), so none waits.
    let mut setup = Setup::new(&emu);
    setup.intervals_ms = Some((1, 1));
    let c = setup.build().unwrap();
    let urls = ["/soak/a.js", "/soak/b.css?v=1"];
    let mut call_no = 0u32;
    let mut round = |n: u32| {
        for _ in 0..n {
            call_no += 1;
            let id = 1 + i64::from(call_no / 4) % RESOURCES;
            let r = match call_no % 4 {
                0 => c.purge_all(id),
                1 => c.purge_patterns(id, &["/soak/*"]),
                // Failures allocate messages: they must be freed too.
                2 => c.delete(999_999, 0),
                _ => c.purge_urls(id, &urls),
            };
            assert!(r.ok() || r.status == GCDN_ERR_NOT_FOUND, "{r:?}");
        }
    };
    round(tenth); // warm-up: pools, allocator arenas
    let baseline = rss_kib();
    let mut peak = baseline;
    for _ in 0..9 {
        round(tenth);
        peak = peak.max(rss_kib());
    }
    let growth = peak.saturating_sub(baseline);
    println!(
        "RSS after {tenth} warm-up calls {baseline} KiB, peak {peak} KiB over {} more calls",
        9 * tenth
    );
    assert!(
        growth < RSS_GROWTH_LIMIT_KIB,
        "RSS grew by {growth} KiB over {} calls",
        9 * tenth
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Ok,
    Failed(i32),
}

#[test]
fn sixteen_threads_through_faults_are_told_the_truth() {
    let emu = emulator_with(Config {
        seed_resources: (1..=16).collect(),
        limits: Limits::unlimited_rate(),
        ..Config::default()
    });
    // A storm of misbehaviour, taken by whichever requests come first.
    for i in 0..120 {
        emu.push_fault(match i % 4 {
            0 => Fault::respond(503, r#"{"errors": ["try later"]}"#),
            1 => Fault::drop_connection(),
            2 => Fault::delay(Duration::from_millis(30)),
            _ => Fault::respond(500, "oops").times(2),
        });
    }
    let mut setup = Setup::new(&emu);
    setup.max_retries = Some(2);
    // Paced 1 per ms: the emulator's unlimited rate is not believed from its limits answer.
    setup.intervals_ms = Some((1, 1));
    let c = setup.build().unwrap();
    let calls_per_thread = 60;
    let told: HashMap<String, Told> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=16i64)
            .map(|t| {
                let c = &c;
                s.spawn(move || {
                    let mut told = Vec::new();
                    for i in 0..calls_per_thread {
                        let item = format!("/hammer/{t}/{i}");
                        let r = if i % 3 == 0 {
                            c.purge_patterns(t, &[&item])
                        } else {
                            c.purge_urls(t, &[&item])
                        };
                        assert!(!r.ok() || r.message.is_none());
                        let outcome = if r.ok() {
                            Told::Ok
                        } else {
                            Told::Failed(r.status)
                        };
                        told.push((item, outcome));
                    }
                    told
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(told.len(), 16 * calls_per_thread);

    // Which items did the emulator carry out?
    let mut done: HashMap<String, usize> = HashMap::new();
    for r in emu.requests().iter().filter(|r| r.status == 201) {
        let body = r.json().unwrap();
        let list = body.get("urls").or_else(|| body.get("paths")).unwrap();
        for item in list.as_array().unwrap() {
            *done.entry(item.as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    let mut failures = 0;
    for (item, outcome) in &told {
        match outcome {
            Told::Ok => assert_eq!(done.get(item), Some(&1), "{item} was reported purged"),
            Told::Failed(status) => {
                failures += 1;
                assert!(
                    [GCDN_ERR_SERVER, GCDN_ERR_NETWORK].contains(status),
                    "{item}: unexpected status {status}"
                );
                // None of these faults carries a request out, so a failure means not purged.
                assert_eq!(
                    done.get(item),
                    None,
                    "{item} was purged but reported failed"
                );
            }
        }
    }
    assert_eq!(
        done.len(),
        told.len() - failures,
        "the emulator purged nothing nobody asked for"
    );
    println!(
        "{} calls, {failures} reported failed after retries",
        told.len()
    );
}
