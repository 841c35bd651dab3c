//! The control API and the binary.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{api, control, Conn};
use gcdn_emulator::{Config, Emulator, Fault, Limits};
use serde_json::json;

#[test]
fn resources() {
    let emu = Emulator::start(Config::default()).unwrap();
    let a = emu.addr();
    let r = control(
        a,
        "POST",
        "/__emulator/resources",
        r#"{"id": 5, "active": false, "refusal": "streaming"}"#,
    );
    assert_eq!(r.status, 201);
    let r = control(a, "GET", "/__emulator/resources/5", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"id": 5, "active": false, "status": "suspended", "cname": "cdn5.example.com",
               "secondaryHostnames": [], "deleted": false, "can_purge_by_urls": true,
               "refusal": "streaming", "options": {}, "rules": []})
    );
    assert_eq!(api(&emu, "DELETE", "/cdn/resources/5", "").status, 400);
    assert_eq!(
        control(a, "POST", "/__emulator/resources", r#"{"id": 6}"#).status,
        201
    );
    assert!(emu.resource(6).unwrap().active);
    assert_eq!(control(a, "GET", "/__emulator/resources/7", "").status, 404);
    assert_eq!(
        control(a, "POST", "/__emulator/resources", r#"{"id": "x"}"#).status,
        400
    );
    assert_eq!(
        control(
            a,
            "POST",
            "/__emulator/resources",
            r#"{"id": 1, "refusal": "nope"}"#
        )
        .status,
        400
    );
    // Control requests are not recorded.
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn faults() {
    let emu = Emulator::start(Config {
        seed_resources: vec![1],
        ..Config::default()
    })
    .unwrap();
    let a = emu.addr();
    let fault = json!({"method": "POST", "path_prefix": "/cdn/resources/1/purge", "times": 2,
        "action": {"respond": {"status": 503, "body": "{\"errors\": [\"busy\"]}", "headers": {"Retry-After": "1"}}}});
    assert_eq!(
        control(a, "POST", "/__emulator/faults", &fault.to_string()).status,
        201
    );
    let fault = json!({"method": null, "path_prefix": null, "action": {"delay_ms": 300}});
    assert_eq!(
        control(a, "POST", "/__emulator/faults", &fault.to_string()).status,
        201
    );
    let fault = json!({"action": {"drop": true}});
    assert_eq!(
        control(a, "POST", "/__emulator/faults", &fault.to_string()).status,
        201
    );
    let bad = json!({"action": {"explode": true}});
    assert_eq!(
        control(a, "POST", "/__emulator/faults", &bad.to_string()).status,
        400
    );

    let purge = r#"{"urls": ["/a"]}"#;
    for _ in 0..2 {
        let r = api(&emu, "POST", "/cdn/resources/1/purge", purge);
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json(), json!({"errors": ["busy"]}));
    }
    let t = Instant::now();
    assert_eq!(api(&emu, "GET", "/cdn/resources/1", "").status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let mut c = Conn::open(a);
    c.send_raw("GET", "/cdn/resources/1", &[], "");
    assert!(c.read_to_eof().is_empty());
    assert_eq!(api(&emu, "GET", "/cdn/resources/1", "").status, 200);
}

/// Every hostile action in its JSON form becomes the same fault as through the Rust API.
#[test]
fn hostile_fault_actions() {
    let emu = Emulator::start(Config::default()).unwrap();
    let a = emu.addr();
    let cases = [
        (
            json!({"truncate": {"status": 400, "body": "{\"errors\": []}", "cut_after": 5}}),
            Fault::truncate(400, "{\"errors\": []}", 5),
        ),
        (
            json!({"trickle": {"status": 201, "body": "", "interval_ms": 1000}}),
            Fault::trickle(201, "", Duration::from_secs(1)),
        ),
        (json!({"stall": true}), Fault::stall()),
        (
            json!({"chunked": {"status": 400, "body": {"errors": ["x"]}, "chunk": 3}}),
            Fault::chunked(400, r#"{"errors":["x"]}"#, 3),
        ),
        (
            json!({"oversized": {"status": 500, "bytes": 50_000_000u64}}),
            Fault::oversized(500, 50_000_000),
        ),
        (json!({"close_after": true}), Fault::close_after()),
        (
            json!({"garbage": "HELLO\r\n\r\n"}),
            Fault::garbage("HELLO\r\n\r\n"),
        ),
    ];
    for (action, want) in cases {
        let body = json!({"path_prefix": "/x", "times": 2, "action": action});
        let r = control(a, "POST", "/__emulator/faults", &body.to_string());
        assert_eq!(r.status, 201, "{action}: {}", r.body);
        assert_eq!(emu.faults(), [want.path_prefix("/x").times(2)]);
        emu.clear_faults();
    }
    for bad in [
        json!({"truncate": {"status": 400, "body": ""}}),
        json!({"truncate": {"status": 99, "body": "", "cut_after": 1}}),
        json!({"trickle": {"status": 200, "interval_ms": -1}}),
        json!({"chunked": {"body": "x", "chunk": 3}}),
        json!({"oversized": {"status": 500, "bytes": "many"}}),
        json!({"garbage": 5}),
        json!({"stall": false}),
        json!({"close_after": "yes"}),
    ] {
        let body = json!({"action": bad});
        let r = control(a, "POST", "/__emulator/faults", &body.to_string());
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].is_string());
    }
}

/// The JSON forms on the wire.
#[test]
fn hostile_faults_through_the_control_api() {
    let emu = Emulator::start(Config {
        seed_resources: vec![1],
        ..Config::default()
    })
    .unwrap();
    let a = emu.addr();
    let push = |action: serde_json::Value| {
        let body = json!({"action": action}).to_string();
        assert_eq!(control(a, "POST", "/__emulator/faults", &body).status, 201);
    };
    let get = || {
        let mut c = Conn::open(a);
        c.send_raw(
            "GET",
            "/cdn/resources/1",
            &[("Authorization", "apikey test-key")],
            "",
        );
        c
    };

    push(json!({"truncate": {"status": 400, "body": "0123456789", "cut_after": 4}}));
    let raw = get().read_to_eof();
    assert!(raw.ends_with(b"Content-Length: 10\r\n\r\n0123"), "{raw:?}");

    push(json!({"trickle": {"status": 201, "body": "", "interval_ms": 1}}));
    assert_eq!(get().read_response(false).status, 201);

    push(json!({"chunked": {"status": 400, "body": "abcdefg", "chunk": 3}}));
    let r = get().read_response(false);
    assert_eq!((r.status, r.body.as_str()), (400, "abcdefg"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));

    push(json!({"oversized": {"status": 500, "bytes": 100_000}}));
    assert_eq!(get().read_response(false).body.len(), 100_000);

    push(json!({"close_after": true}));
    let mut c = get();
    assert_eq!(c.read_response(false).status, 200);
    assert!(c.read_to_eof().is_empty());

    push(json!({"garbage": "HELLO\r\n\r\n"}));
    assert_eq!(get().read_to_eof(), b"HELLO\r\n\r\n");

    push(json!({"stall": true}));
    let c = get();
    let statuses = loop {
        let recorded = control(a, "GET", "/__emulator/requests", "").json();
        let statuses: Vec<u64> = recorded
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        if statuses.len() == 7 {
            break statuses;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(statuses, [400, 201, 400, 500, 200, 0, 0]);
    drop(c);
}

#[test]
fn requests_config_reset() {
    let emu = Emulator::start(Config {
        seed_resources: vec![1],
        ..Config::default()
    })
    .unwrap();
    let a = emu.addr();
    api(
        &emu,
        "PATCH",
        "/cdn/resources/1?x=y",
        r#"{"active": false}"#,
    );
    let r = control(a, "GET", "/__emulator/requests", "");
    assert_eq!(r.status, 200);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let rec = &list[0];
    assert_eq!(rec["method"], "PATCH");
    assert_eq!(rec["path"], "/cdn/resources/1?x=y");
    assert_eq!(rec["body"], r#"{"active": false}"#);
    assert_eq!(rec["status"], 200);
    assert_eq!(rec["headers"]["authorization"], "apikey test-key");
    assert_eq!(rec["headers"]["content-type"], "application/json");

    assert_eq!(control(a, "DELETE", "/__emulator/requests", "").status, 200);
    assert!(emu.requests().is_empty());

    let cfg = json!({"url_requests": 1, "url_window_ms": 1500, "pattern_requests": 3,
        "pattern_window_ms": 2000, "all_requests": 4, "all_window_ms": 500, "max_urls": 3,
        "max_patterns": 2, "prefetch_requests": 5, "prefetch_window_ms": 700,
        "retry_after": "seconds"});
    assert_eq!(
        control(a, "POST", "/__emulator/config", &cfg.to_string()).status,
        200
    );
    assert_eq!(
        emu.limits(),
        Limits {
            url_requests: 1,
            url_window: Duration::from_millis(1500),
            pattern_requests: 3,
            pattern_window: Duration::from_secs(2),
            all_requests: 4,
            all_window: Duration::from_millis(500),
            max_urls: 3,
            max_patterns: 2,
            prefetch_requests: 5,
            prefetch_window: Duration::from_millis(700),
        }
    );
    let purge = r#"{"urls": ["/a"]}"#;
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/1/purge", purge).status,
        201
    );
    let r = api(&emu, "POST", "/cdn/resources/1/purge", purge);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(
        control(
            a,
            "POST",
            "/__emulator/config",
            r#"{"retry_after": "date"}"#
        )
        .status,
        200
    );
    let r = api(&emu, "POST", "/cdn/resources/1/purge", purge);
    assert!(httpdate::parse_http_date(r.header("retry-after").unwrap()).is_ok());
    assert_eq!(
        control(a, "POST", "/__emulator/config", r#"{"bogus": 1}"#).status,
        400
    );

    assert_eq!(control(a, "POST", "/__emulator/reset", "").status, 200);
    assert!(emu.requests().is_empty());
    assert_eq!(emu.limits(), Limits::default());
    assert!(emu.resource(1).unwrap().active);
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/1/purge", purge).status,
        201
    );
    let r = api(&emu, "POST", "/cdn/resources/1/purge", purge);
    assert_eq!(r.status, 201, "reset cleared the rate windows");
    let r = api(&emu, "POST", "/cdn/resources/1/purge", purge);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), None, "Retry-After mode restored");

    assert_eq!(control(a, "GET", "/__emulator/nope", "").status, 404);
}

fn spawn_http(cmd: &mut Command) -> (std::process::Child, SocketAddr) {
    let (child, url) = common::spawn_binary(cmd.stderr(Stdio::piped()));
    let addr = url.strip_prefix("http://").expect("an http:// URL");
    (child, addr.parse().unwrap())
}

fn spawn_with(args: &[&str]) -> (std::process::Child, SocketAddr) {
    spawn_http(common::binary().args(args))
}

#[test]
fn binary_serves_logs_and_exits_on_stdin_eof() {
    let (mut child, addr) = spawn_with(&[
        "--seed",
        "3-5,9",
        "--api-key",
        "k1",
        "--url-requests",
        "1",
        "--retry-after",
        "seconds",
        "--exit-on-stdin-eof",
    ]);
    let mut c = Conn::open(addr);
    let auth = [("Authorization", "apikey k1")];
    for id in [3, 4, 5, 9] {
        let r = c.request("GET", &format!("/cdn/resources/{id}"), &auth, "");
        assert_eq!(r.status, 200);
    }
    assert_eq!(c.request("GET", "/cdn/resources/6", &auth, "").status, 404);
    let purge = r#"{"urls": ["/a"]}"#;
    assert_eq!(
        c.request("POST", "/cdn/resources/3/purge", &auth, purge)
            .status,
        201
    );
    let r = c.request("POST", "/cdn/resources/3/purge", &auth, purge);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        c.request(
            "GET",
            "/cdn/resources/3",
            &[("Authorization", "apikey test-key")],
            ""
        )
        .status,
        401
    );

    drop(child.stdin.take());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("GET /cdn/resources/3 200"), "{log}");
    assert!(log.contains("POST /cdn/resources/3/purge 429"), "{log}");
    assert!(!log.contains("k1"), "the key must not be logged: {log}");
}

#[test]
fn binary_quiet_and_env_key() {
    let (mut child, addr) = spawn_http(
        common::binary()
            .args(["--quiet", "--seed", "1", "--exit-on-stdin-eof"])
            .env("GCDN_EMULATOR_API_KEY", "from-env"),
    );
    let r = Conn::open(addr).request(
        "GET",
        "/cdn/resources/1",
        &[("Authorization", "apikey from-env")],
        "",
    );
    assert_eq!(r.status, 200);
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn binary_rejects_bad_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_gcdn-emulator"))
        .args(["--retry-after", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = Command::new(env!("CARGO_BIN_EXE_gcdn-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--exit-on-stdin-eof"));
}

/// What a C, Python or Go test does: the binary, a start-time purge-status delay, the
/// listing and purge-state switches through the control API.
#[test]
fn binary_purge_statuses_and_listing_switches() {
    let (mut child, addr) = spawn_with(&[
        "--quiet",
        "--seed",
        "1",
        "--purge-status-delay-ms",
        "60000",
        "--exit-on-stdin-eof",
    ]);
    let auth = [("Authorization", "apikey test-key")];
    let mut c = Conn::open(addr);
    let all = r#"{"paths": []}"#;
    assert_eq!(
        c.request("POST", "/cdn/resources/1/purge", &auth, all)
            .status,
        201
    );
    let list = c.request("GET", "/cdn/purge_statuses", &auth, "").json();
    assert_eq!(list[0]["status"], "In progress");
    let body = json!({"id": 2, "cname": "two.example.com", "can_purge_by_urls": false});
    assert_eq!(
        control(addr, "POST", "/__emulator/resources", &body.to_string()).status,
        201
    );
    let found = c
        .request("GET", "/cdn/resources?cname=two.example.com", &auth, "")
        .json();
    assert_eq!(
        (&found[0]["id"], &found[0]["can_purge_by_urls"]),
        (&json!(2), &json!(false))
    );
    let fault = json!({"endpoint": "resources", "fault": {"huge": 1_000_000}}).to_string();
    assert_eq!(
        control(addr, "POST", "/__emulator/listing_faults", &fault).status,
        200
    );
    let page = c.request("GET", "/cdn/resources?limit=1", &auth, "").json();
    assert_eq!(page["count"], 1_000_000);
    assert!(page["next"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{addr}/cdn/resources?")));
    let state = json!({"state": "failed", "next": 1}).to_string();
    assert_eq!(
        control(addr, "POST", "/__emulator/purge_states", &state).status,
        200
    );
    let delay = json!({"purge_status_delay_ms": 0}).to_string();
    assert_eq!(
        control(addr, "POST", "/__emulator/config", &delay).status,
        200
    );
    assert_eq!(
        c.request("POST", "/cdn/resources/2/purge", &auth, all)
            .status,
        201
    );
    let failed = c
        .request("GET", "/cdn/purge_statuses?status=Failed", &auth, "")
        .json();
    assert_eq!(
        failed[0]["resource"],
        json!({"id": 2, "cname": "two.example.com"})
    );
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn options_and_rules_are_set_listed_and_served() {
    let emu = Emulator::start(Config::default()).unwrap();
    let a = emu.addr();
    let options = json!({"ignoreQueryString": {"enabled": true, "value": true}, "slice": null});
    let rule = json!({"id": 3, "name": "i18n", "active": true, "rule": "^/i18n/", "ruleType": 0,
                      "weight": 1, "options": {"query_params_whitelist": {"enabled": true, "value": ["lang"]}}});
    let body = json!({"id": 5, "options": options, "rules": [rule]}).to_string();
    assert_eq!(
        control(a, "POST", "/__emulator/resources", &body).status,
        201
    );
    let listed = api(&emu, "GET", "/cdn/resources", "").json();
    assert_eq!(listed[0]["options"], options);
    let r = api(
        &emu,
        "GET",
        "/cdn/resources/5/rules?limit=1000&offset=0",
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([rule]));
    assert_eq!(api(&emu, "GET", "/cdn/resources/6/rules", "").status, 404);
    for bad in [r#"{"id": 7, "options": []}"#, r#"{"id": 7, "rules": [1]}"#] {
        assert_eq!(
            control(a, "POST", "/__emulator/resources", bad).status,
            400,
            "{bad}"
        );
    }
}
