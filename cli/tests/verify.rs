//! `gcdn purge --verify --edge` and `--prefetch`, the built binary against the in-process
//! emulator's API and edge: the JSON lines, the summary's `verified`, and exit 5 on stale.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use gcdn_emulator::{Config, Emulator, Limits, Resource};
use serde_json::{json, Value};

const KEY: &str = "cliVerify/Key+9";

/// Resources 1 and 2 (`cdn{id}.example.com`; 2 ignores query strings), an edge, and prefetch
/// windows of 300 ms.
fn emulator() -> Emulator {
    let emu = Emulator::start(Config {
        api_key: KEY.into(),
        edge_port: Some(0),
        limits: Limits {
            prefetch_window: Duration::from_millis(300),
            ..Limits::default()
        },
        ..Config::default()
    })
    .expect("emulator starts");
    emu.add_resource(Resource::new(1));
    let iqs = json!({"ignoreQueryString": {"enabled": true, "value": true}});
    emu.add_resource(Resource::new(2).options(iqs));
    emu
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of_type(&self, kind: &str) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .filter(|v| v["type"] == kind)
            .collect()
    }
}

/// `gcdn purge --json --wait=20 args...`; the key is in none of its output.
fn purge(emu: &Emulator, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gcdn"))
        .args(["purge", "--json", "--wait=20"])
        .args(args)
        .env("GCORE_API_KEY", KEY)
        .env("GCORE_BASE_URL", emu.base_url())
        .env_remove("GCDN_LOG")
        .env_remove("GCDN_RATE_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("gcdn runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("Key+9"), "the key is in the output: {text}");
    }
    run
}

#[test]
fn verify_at_the_emulators_edge_is_0_with_verify_lines_and_a_summary() {
    let emu = emulator();
    let edge = emu.edge_url().unwrap();
    let r = purge(
        &emu,
        &[
            "--verify",
            "--edge",
            &edge,
            "https://cdn1.example.com/a.js",
            "https://cdn2.example.com/b.js?v=3",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let verify = r.of_type("verify");
    assert_eq!(verify.len(), 2, "{}", r.stdout);
    for v in &verify {
        assert_eq!(v["result"], "fresh", "{v}");
        assert_eq!(v["cache"], "MISS", "{v}");
        assert_eq!(v["edge"], gcdn_emulator::EDGE_ID, "{v}");
    }
    // Resource 2's item went (and was probed) in its cache-key form.
    let rewritten = r.of_type("rewritten");
    assert_eq!(rewritten.len(), 1);
    assert_eq!(rewritten[0]["as"], "/b.js");
    assert!(verify
        .iter()
        .any(|v| v["url"] == "https://cdn2.example.com/b.js"));
    let summary = r.of_type("summary");
    assert_eq!(
        summary[0]["verified"],
        json!({"fresh": 2, "stale": 0, "error": 0})
    );
    // Two HEAD probes reached the edge, with the URLs' hosts and without the key.
    let probes = emu.edge_requests();
    assert_eq!(probes.len(), 2);
    for p in probes {
        assert_eq!(p.method, "HEAD");
        assert!(p.host == "cdn1.example.com" || p.host == "cdn2.example.com");
        assert!(p.headers.iter().all(|(_, v)| !v.contains(KEY)));
    }
}

#[test]
fn a_url_that_stays_stale_is_5() {
    let emu = emulator();
    let edge = emu.edge_url().unwrap();
    emu.edge_store(1, "/kept.js", SystemTime::now() - Duration::from_secs(120));
    emu.edge_ignore_purges(&["/kept.js"]);
    let r = purge(
        &emu,
        &[
            "--verify",
            "--edge",
            &edge,
            "--resource",
            "1",
            "/kept.js",
            "/other.js",
        ],
    );
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    let stale: Vec<Value> = r
        .of_type("verify")
        .into_iter()
        .filter(|v| v["result"] == "stale")
        .collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["url"], "https://cdn1.example.com/kept.js");
    assert_eq!(stale[0]["cache"], "HIT");
    assert_eq!(
        r.of_type("summary")[0]["verified"],
        json!({"fresh": 1, "stale": 1, "error": 0})
    );
    assert!(r.stderr.contains("stale"), "{}", r.stderr);

    // --exact on the resource that ignores query strings: /app.js?v=2 purges nothing.
    emu.edge_store(2, "/app.js", SystemTime::now() - Duration::from_secs(120));
    let r = purge(
        &emu,
        &[
            "--verify",
            "--edge",
            &edge,
            "--exact",
            "https://cdn2.example.com/app.js?v=2",
        ],
    );
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.of_type("verify")[0]["result"], "stale");
    assert!(r.of_type("rewritten").is_empty());
}

#[test]
fn prefetch_lines_follow_the_purge() {
    let emu = emulator();
    let r = purge(
        &emu,
        &[
            "--prefetch",
            "https://cdn1.example.com/big.iso",
            "https://cdn2.example.com/big.iso?v=9",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lines = r.of_type("prefetch");
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    let mut ids: Vec<i64> = lines
        .iter()
        .map(|p| {
            assert_eq!(p["outcome"], "purged", "{p}");
            assert_eq!(p["http_status"], 201, "{p}");
            p["resource_id"].as_i64().unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2]);
    let bodies: Vec<Value> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/prefetch"))
        .map(|r| r.json().unwrap())
        .collect();
    assert!(
        bodies.contains(&json!({"paths": ["/big.iso"]})),
        "{bodies:?}"
    );
    // Prefetched: the edge serves both from its cache.
    let keys: Vec<(i64, String)> = emu
        .edge_objects()
        .into_iter()
        .map(|o| (o.resource_id, o.key))
        .collect();
    assert_eq!(keys, [(1, "/big.iso".into()), (2, "/big.iso".into())]);
}

/// An edge address with a character of several bytes where the scheme ends is a usage
/// error (exit 2, nothing sent), not a panic (exit 101).
#[test]
fn an_edge_with_a_wide_character_in_its_scheme_is_a_usage_error() {
    let emu = emulator();
    for edge in ["https:/\u{e9}x.example", "http:/\u{e9}x", "https:\u{20ac}"] {
        let r = purge(
            &emu,
            &["--verify", "--edge", edge, "https://cdn1.example.com/a.js"],
        );
        assert_eq!(r.code, 2, "{edge}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("edge"), "{edge}: {}", r.stderr);
    }
    assert!(emu.edge_requests().is_empty());
    assert!(
        emu.requests().iter().all(|r| r.method != "POST"),
        "nothing sent"
    );
}
