//! The edge listener: caching by the resource's cache key, the answers' headers, eviction by
//! accepted purges only, ignored paths, prefetch, and the control API and binary around it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use common::*;
use gcdn_emulator::{CacheStatus, Config, Emulator, Fault, Resource, EDGE_ID};
use serde_json::json;

fn start() -> Emulator {
    Emulator::start(Config {
        edge_port: Some(0),
        ..Config::default()
    })
    .unwrap()
}

fn edge_addr(emu: &Emulator) -> SocketAddr {
    let url = emu.edge_url().expect("an edge");
    url.strip_prefix("http://").unwrap().parse().unwrap()
}

/// `method path` at the edge with `host` in `Host`, on a fresh connection.
fn at_edge(emu: &Emulator, method: &str, host: &str, path: &str) -> Resp {
    let sock = TcpStream::connect(edge_addr(emu)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c = Conn::over(sock);
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\n\r\n");
    c.stream().write_all(head.as_bytes()).unwrap();
    c.read_response(method == "HEAD")
}

fn cache(r: &Resp) -> Option<&str> {
    r.header("cache")
}

const IQS: &str = r#"{"ignoreQueryString": {"enabled": true, "value": true}}"#;

fn ignoring_queries(id: i64) -> Resource {
    Resource::new(id).options(serde_json::from_str(IQS).unwrap())
}

#[test]
fn first_fetch_misses_then_hits_under_the_cache_key() {
    let emu = start();
    emu.add_resource(ignoring_queries(5).secondary_hostnames(&["img.example.com"]));
    let r = at_edge(&emu, "GET", "cdn5.example.com", "/app.js?v=1");
    assert_eq!(r.status, 200);
    assert_eq!(cache(&r), Some("MISS"));
    assert_eq!(r.header("x-id"), Some(EDGE_ID));
    let since = r.header("x-cached-since").unwrap().to_owned();
    // RFC 3339 with +00:00, to the second: 2026-12-01T20:01:02+00:00.
    assert_eq!(since.len(), 25, "{since}");
    assert!(
        since.ends_with("+00:00") && since.as_bytes()[10] == b'T',
        "{since}"
    );
    assert!(r.body.contains("/app.js?v=1"));
    // The resource ignores query strings: one key, /app.js. HEAD is cached too; the host
    // is matched case-insensitively, port aside, secondary host names included.
    for (method, host, path) in [
        ("GET", "cdn5.example.com", "/app.js?v=2"),
        ("HEAD", "CDN5.example.com:8080", "/app.js"),
        ("GET", "img.example.com", "/app.js?x=1&y=2"),
    ] {
        let r = at_edge(&emu, method, host, path);
        assert_eq!(cache(&r), Some("HIT"), "{method} {host}{path}");
        assert_eq!(r.header("x-cached-since"), Some(since.as_str()));
    }
    assert_eq!(emu.edge_objects().len(), 1);
    assert_eq!(emu.edge_objects()[0].key, "/app.js");

    // Without an option, every parameter is in the key, in any order.
    emu.add_resource(Resource::new(6));
    let a = at_edge(&emu, "GET", "cdn6.example.com", "/a?b=2&a=1");
    assert_eq!(cache(&a), Some("MISS"));
    assert_eq!(
        cache(&at_edge(&emu, "GET", "cdn6.example.com", "/a?a=1&b=2")),
        Some("HIT")
    );
    assert_eq!(
        cache(&at_edge(&emu, "GET", "cdn6.example.com", "/a?a=1")),
        Some("MISS")
    );

    // Unknown or deleted host: 404 without cache headers. Other methods: 405.
    emu.add_resource(Resource::new(7).deleted(true));
    for host in ["unknown.example.com", "cdn7.example.com", ""] {
        let r = at_edge(&emu, "GET", host, "/app.js");
        assert_eq!(r.status, 404, "{host:?}");
        assert_eq!(cache(&r), None);
        assert_eq!(r.header("x-id"), None);
    }
    let r = at_edge(&emu, "POST", "cdn5.example.com", "/app.js");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    let seen = emu.edge_requests();
    assert_eq!(seen.len(), 11);
    assert_eq!(seen[0].cache, Some(CacheStatus::Miss));
    assert_eq!(seen[0].host, "cdn5.example.com");
    assert_eq!(seen[0].header("user-agent"), Some("t"));
    // The API's request list does not include the edge's.
    assert!(emu.requests().is_empty());
}

#[test]
fn a_rule_changes_the_key_for_its_paths() {
    let emu = start();
    let rule = json!({"id": 1, "rule": "^/api/", "weight": 1, "active": true,
        "options": {"query_params_whitelist": {"enabled": true, "value": ["lang"]}}});
    emu.add_resource(ignoring_queries(5).rules(vec![rule]));
    let host = "cdn5.example.com";
    assert_eq!(
        cache(&at_edge(&emu, "GET", host, "/api/x?lang=en&v=1")),
        Some("MISS")
    );
    assert_eq!(
        cache(&at_edge(&emu, "GET", host, "/api/x?v=2&lang=en")),
        Some("HIT")
    );
    assert_eq!(
        cache(&at_edge(&emu, "GET", host, "/api/x?lang=de")),
        Some("MISS")
    );
    let keys: Vec<String> = emu.edge_objects().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["/api/x?lang=de", "/api/x?lang=en"]);
}

#[test]
fn url_purges_evict_the_exact_key_and_patterns_bypass_once() {
    let emu = start();
    emu.add_resource(ignoring_queries(5));
    emu.add_resource(Resource::new(6));
    let (h5, h6) = ("cdn5.example.com", "cdn6.example.com");
    for p in ["/app.js", "/img/a.png", "/img/b.png", "/index.html"] {
        at_edge(&emu, "GET", h5, p);
    }
    at_edge(&emu, "GET", h6, "/q?b=1&a=2");
    let purge =
        |id: i64, body: &str| api(&emu, "POST", &format!("/cdn/resources/{id}/purge"), body);

    // The item as given keeps ?v=2, which the key drops: it names no object.
    assert_eq!(purge(5, r#"{"urls": ["/app.js?v=2"]}"#).status, 201);
    assert_eq!(cache(&at_edge(&emu, "GET", h5, "/app.js")), Some("HIT"));
    assert_eq!(purge(5, r#"{"urls": ["/app.js"]}"#).status, 201);
    assert_eq!(cache(&at_edge(&emu, "GET", h5, "/app.js")), Some("MISS"));
    assert_eq!(cache(&at_edge(&emu, "GET", h5, "/app.js")), Some("HIT"));
    // Parameter order does not matter to a URL purge.
    assert_eq!(purge(6, r#"{"urls": ["/q?a=2&b=1"]}"#).status, 201);
    assert_eq!(cache(&at_edge(&emu, "GET", h6, "/q?a=2&b=1")), Some("MISS"));

    // A pattern: the matching objects are dropped, their next answer is BYPASS, then HIT.
    assert_eq!(purge(5, r#"{"paths": ["/img/*"]}"#).status, 201);
    assert_eq!(
        cache(&at_edge(&emu, "GET", h5, "/img/a.png")),
        Some("BYPASS")
    );
    assert_eq!(cache(&at_edge(&emu, "GET", h5, "/img/a.png")), Some("HIT"));
    assert_eq!(
        cache(&at_edge(&emu, "HEAD", h5, "/img/b.png")),
        Some("BYPASS")
    );
    assert_eq!(cache(&at_edge(&emu, "GET", h5, "/index.html")), Some("HIT"));
    // Purge-all: every object of that resource, and only of that one.
    assert_eq!(purge(5, r#"{"paths": []}"#).status, 201);
    for p in ["/app.js", "/index.html", "/img/a.png"] {
        assert_eq!(cache(&at_edge(&emu, "GET", h5, p)), Some("BYPASS"), "{p}");
    }
    assert_eq!(cache(&at_edge(&emu, "GET", h6, "/q?a=2&b=1")), Some("HIT"));
    // Something never cached before the purge is a plain MISS.
    assert_eq!(cache(&at_edge(&emu, "GET", h5, "/new.css")), Some("MISS"));
}

#[test]
fn refused_faulted_and_failed_purges_evict_nothing() {
    let emu = start();
    emu.add_resource(Resource::new(5));
    let h = "cdn5.example.com";
    at_edge(&emu, "GET", h, "/a.js");
    let body = r#"{"urls": ["/a.js"]}"#;
    emu.push_fault(
        Fault::respond(503, r#"{"errors": ["busy"]}"#).on("POST", "/cdn/resources/5/purge"),
    );
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/5/purge", body).status,
        503
    );
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/a.js")), Some("HIT"));
    emu.push_fault(Fault::respond(429, r#"{"errors": ["slow down"]}"#));
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/5/purge", body).status,
        429
    );
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/a.js")), Some("HIT"));
    // A purge that will end Failed is accepted (201) and purges nothing.
    emu.fail_next_purges(1);
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/5/purge", body).status,
        201
    );
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/a.js")), Some("HIT"));
    // Over the rate limit (now 1 a minute, used by the Failed one): 429, nothing purged.
    emu.set_limits(gcdn_emulator::Limits {
        url_requests: 1,
        ..gcdn_emulator::Limits::default()
    });
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/5/purge", body).status,
        429
    );
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/a.js")), Some("HIT"));
}

#[test]
fn ignored_paths_stay_cached_through_the_control_api() {
    let emu = start();
    emu.add_resource(ignoring_queries(5));
    let a = emu.addr();
    let h = "cdn5.example.com";
    let r = control(
        a,
        "POST",
        "/__emulator/edge/ignore",
        r#"{"paths": ["/keep.js", "/static/*"]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        control(
            a,
            "POST",
            "/__emulator/edge/ignore",
            r#"{"paths": ["nope"]}"#
        )
        .status,
        400
    );
    // Seeded objects, cached in 2000 (under the key the resource makes of each path).
    let r = control(
        a,
        "POST",
        "/__emulator/edge/cache",
        r#"{"resource_id": 5, "paths": ["/keep.js?v=1", "/static/a.css", "/gone.js"],
            "cached_since": "2000-01-01T00:00:00Z"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["keys"],
        json!(["/keep.js", "/static/a.css", "/gone.js"])
    );
    let bad = r#"{"resource_id": 5, "paths": ["/x"], "cached_since": "yesterday"}"#;
    assert_eq!(
        control(a, "POST", "/__emulator/edge/cache", bad).status,
        400
    );
    let missing = r#"{"resource_id": 99, "paths": ["/x"]}"#;
    assert_eq!(
        control(a, "POST", "/__emulator/edge/cache", missing).status,
        404
    );

    let urls = r#"{"urls": ["/keep.js", "/static/a.css", "/gone.js"]}"#;
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/5/purge", urls).status,
        201
    );
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/5/purge", r#"{"paths": []}"#).status,
        201
    );
    for p in ["/keep.js?v=3", "/static/a.css"] {
        let r = at_edge(&emu, "GET", h, p);
        assert_eq!(cache(&r), Some("HIT"), "{p}");
        assert_eq!(
            r.header("x-cached-since"),
            Some("2000-01-01T00:00:00+00:00")
        );
    }
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/gone.js")), Some("MISS"));

    let state = control(a, "GET", "/__emulator/edge", "").json();
    assert_eq!(state["url"], json!(emu.edge_url()));
    assert_eq!(state["id"], EDGE_ID);
    assert_eq!(state["ignored"], json!(["/keep.js", "/static/*"]));
    assert_eq!(state["objects"].as_array().unwrap().len(), 3);
    assert_eq!(
        state["objects"][0],
        json!({"resource_id": 5, "key": "/gone.js",
               "cached_since": state["objects"][0]["cached_since"]})
    );
    let seen = control(a, "GET", "/__emulator/edge/requests", "").json();
    assert_eq!(seen.as_array().unwrap().len(), 3);
    assert_eq!(seen[0]["host"], h);
    assert_eq!(seen[0]["cache"], "HIT");
    assert_eq!(seen[0]["headers"]["user-agent"], "t");

    assert_eq!(
        control(a, "DELETE", "/__emulator/edge/ignore", "").status,
        200
    );
    assert_eq!(
        control(a, "DELETE", "/__emulator/edge/cache", "").status,
        200
    );
    assert_eq!(
        control(a, "DELETE", "/__emulator/edge/requests", "").status,
        200
    );
    assert!(emu.edge_objects().is_empty() && emu.edge_requests().is_empty());
    // A reset empties the edge too.
    emu.edge_ignore_purges(&["/x"]);
    emu.edge_store(5, "/x", SystemTime::now());
    at_edge(&emu, "GET", h, "/x");
    emu.reset();
    assert!(emu.edge_objects().is_empty() && emu.edge_requests().is_empty());
    assert_eq!(
        control(a, "GET", "/__emulator/edge", "").json()["ignored"],
        json!([])
    );
}

#[test]
fn prefetch_fills_the_edge_within_its_limits() {
    let emu = start();
    emu.add_resource(ignoring_queries(5));
    let h = "cdn5.example.com";
    let prefetch = |body: &str| api(&emu, "POST", "/cdn/resources/5/prefetch", body);
    let r = prefetch(r#"{"paths": ["/big.iso?v=2", "/other.bin"]}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/big.iso")), Some("HIT"));
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/other.bin")), Some("HIT"));
    // 1 a minute per resource.
    let r = prefetch(r#"{"paths": ["/third.bin"]}"#);
    assert_eq!(r.status, 429);
    assert!(r.json()["errors"][0]
        .as_str()
        .unwrap()
        .contains("prefetch is limited to 1/m"));
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/third.bin")), Some("MISS"));
    // Bad bodies: 400 in the API's shapes, nothing counted.
    let many: Vec<String> = (0..101).map(|i| format!("/f{i}")).collect();
    let r = prefetch(&json!({ "paths": many }).to_string());
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"errors": ["Too many paths in one prefetch request: 101, the limit is 100."]})
    );
    for (body, errors) in [
        ("{}", json!({"paths": ["This field is required."]})),
        (
            r#"{"paths": []}"#,
            json!({"paths": ["This list may not be empty."]}),
        ),
        (
            r#"{"paths": ["x"]}"#,
            json!({"paths": ["A path should start with /."]}),
        ),
        (
            r#"{"paths": [null]}"#,
            json!({"paths": {"0": ["This field may not be null."]}}),
        ),
    ] {
        let r = prefetch(body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json(), json!({ "errors": errors }), "{body}");
    }
    assert_eq!(
        api(
            &emu,
            "POST",
            "/cdn/resources/9/prefetch",
            r#"{"paths": ["/a"]}"#
        )
        .status,
        404
    );

    // A shorter window, reported as prefetch_request_limit.
    let cfg = r#"{"prefetch_window_ms": 300}"#;
    assert_eq!(
        control(emu.addr(), "POST", "/__emulator/config", cfg).status,
        200
    );
    let limits = api(&emu, "GET", "/cdn/clients/me/limits", "").json();
    assert_eq!(limits["prefetch_request_limit"], "1/300ms");
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(prefetch(r#"{"paths": ["/third.bin"]}"#).status, 201);
    assert_eq!(cache(&at_edge(&emu, "GET", h, "/third.bin")), Some("HIT"));
    let recorded: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/prefetch") && r.status == 201)
        .collect();
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        recorded[1].json().unwrap(),
        json!({"paths": ["/third.bin"]})
    );
}

#[test]
fn no_edge_unless_asked() {
    let emu = Emulator::start(Config::default()).unwrap();
    assert_eq!(emu.edge_url(), None);
    let state = control(emu.addr(), "GET", "/__emulator/edge", "").json();
    assert_eq!(state["url"], json!(null));
}

#[test]
fn the_binary_prints_the_edge_line_after_the_api_one() {
    let mut child = binary()
        .args([
            "--edge-port",
            "0",
            "--seed",
            "5",
            "--quiet",
            "--exit-on-stdin-eof",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    assert!(
        first.starts_with("GCDN_EMULATOR_URL=http://127.0.0.1:"),
        "{first}"
    );
    let edge = second
        .trim_end()
        .strip_prefix("GCDN_EMULATOR_EDGE_URL=http://")
        .unwrap_or_else(|| panic!("second line {second:?}"));
    let mut sock = TcpStream::connect(edge).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(b"GET /a HTTP/1.1\r\nHost: cdn5.example.com\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut sock, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\r\nCache: MISS\r\n"), "{answer}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}
