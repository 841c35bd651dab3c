//! The imitated API, over real TCP.

mod common;

use std::time::{Duration, SystemTime};

use common::{api, Conn, KEY};
use gcdn_emulator::{messages, Config, Emulator, Limits, Refusal, Resource, RetryAfterMode};
use serde_json::json;

fn start(seed: &[i64]) -> Emulator {
    Emulator::start(Config {
        seed_resources: seed.to_vec(),
        ..Config::default()
    })
    .unwrap()
}

#[test]
fn base_url_is_loopback_with_ephemeral_port() {
    let emu = start(&[]);
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    assert_ne!(emu.addr().port(), 0);
}

#[test]
fn auth() {
    let emu = start(&[1]);
    let mut c = Conn::open(emu.addr());
    let no_auth = c.request("GET", "/cdn/resources/1", &[], "");
    assert_eq!(no_auth.status, 401);
    assert_eq!(no_auth.json(), json!({"errors": ["Invalid API key"]}));
    for bad in [
        "apikey wrong",
        "Bearer test-key",
        "test-key",
        "apikeytest-key",
    ] {
        let r = c.request("GET", "/cdn/resources/1", &[("Authorization", bad)], "");
        assert_eq!(r.status, 401, "{bad}");
    }
    for good in ["apikey test-key", "APIKey test-key", "ApiKey test-key"] {
        let r = c.request("GET", "/cdn/resources/1", &[("Authorization", good)], "");
        assert_eq!(r.status, 200, "{good}");
    }
    // Unknown paths need auth too.
    assert_eq!(c.request("GET", "/nope", &[], "").status, 401);
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 200, 200, 200, 401]);
}

#[test]
fn custom_api_key() {
    let emu = Emulator::start(Config {
        api_key: "s3cret".into(),
        seed_resources: vec![1],
        ..Config::default()
    })
    .unwrap();
    let mut c = Conn::open(emu.addr());
    let r = c.request(
        "GET",
        "/cdn/resources/1",
        &[("Authorization", "apikey s3cret")],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 401);
}

#[test]
fn get_and_patch_resource() {
    let emu = start(&[7]);
    let r = api(&emu, "GET", "/cdn/resources/7", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({"id": 7, "active": true, "status": "active", "cname": "cdn7.example.com",
               "secondaryHostnames": [], "deleted": false, "can_purge_by_urls": true,
               "options": {}})
    );
    assert_eq!(api(&emu, "GET", "/cdn/resources/8", "").status, 404);
    assert_eq!(api(&emu, "GET", "/cdn/resources/abc", "").status, 404);

    let r = api(&emu, "PATCH", "/cdn/resources/7", r#"{"active": false}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"id": 7, "active": false, "status": "suspended", "cname": "cdn7.example.com",
               "secondaryHostnames": [], "deleted": false, "can_purge_by_urls": true, "options": {}})
    );
    assert!(!emu.resource(7).unwrap().active);

    let r = api(&emu, "PATCH", "/cdn/resources/8", r#"{"active": false}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"errors": ["Not found."]}));

    let r = api(&emu, "PATCH", "/cdn/resources/7", "active=false");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"message": "JSON parse error - Expecting value: line 1 column 1 (char 0)"})
    );
    let r = api(&emu, "PATCH", "/cdn/resources/7", r#"{"active": "maybe"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"errors": {"active": ["Must be a valid boolean."]}})
    );
    // No `active`: nothing changes.
    let r = api(&emu, "PATCH", "/cdn/resources/7", "{}");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["active"], json!(false));
}

#[test]
fn delete_resource() {
    let emu = start(&[1]);
    emu.add_resource(Resource::inactive(2).refusing(Refusal::Primary));
    emu.add_resource(Resource::inactive(3).refusing(Refusal::Streaming));
    emu.add_resource(Resource::inactive(4).refusing(Refusal::Custom));

    assert_eq!(api(&emu, "DELETE", "/cdn/resources/9", "").status, 404);

    let r = api(&emu, "DELETE", "/cdn/resources/1", "");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"errors": ["Deletion of this instance is currently not possible as it is in an active state. Please deactivate it before attempting the deletion request again."]})
    );
    for (id, text) in [
        (2, "The CDN resource is used as primary for common cache feature and can not be deleted. Delete linked resources first [29]"),
        (3, "The CDN resource is integrated with the streaming and can not be deleted."),
        (4, "You cannot delete this resource because it has a custom configuration. To delete the resource, contact technical support."),
    ] {
        let r = api(&emu, "DELETE", &format!("/cdn/resources/{id}"), "");
        assert_eq!(r.status, 400);
        assert_eq!(r.json(), json!({ "errors": [text] }));
        assert!(emu.resource(id).is_some());
    }

    assert_eq!(
        api(&emu, "PATCH", "/cdn/resources/1", r#"{"active": false}"#).status,
        200
    );
    let r = api(&emu, "DELETE", "/cdn/resources/1", "");
    assert_eq!(r.status, 204);
    assert_eq!(r.body, "");
    assert!(emu.resource(1).is_none());
    assert_eq!(api(&emu, "DELETE", "/cdn/resources/1", "").status, 404);
    assert_eq!(api(&emu, "GET", "/cdn/resources/1", "").status, 404);
}

#[test]
fn purge_validation_shapes() {
    let emu = start(&[1]);
    let cases: &[(&str, serde_json::Value)] = &[
        (
            "",
            json!({"message": "JSON parse error - Expecting value: line 1 column 1 (char 0)"}),
        ),
        (
            "not json",
            json!({"message": "JSON parse error - Expecting value: line 1 column 1 (char 0)"}),
        ),
        (
            r#"{"paths": ["/a"]"#,
            json!({"message": "JSON parse error - EOF while parsing an object: line 1 column 17 (char 16)"}),
        ),
        (
            "{}",
            json!({"errors": {"paths": ["This field is required."]}}),
        ),
        (
            r#"{"other": 1}"#,
            json!({"errors": {"paths": ["This field is required."]}}),
        ),
        (
            "[]",
            json!({"errors": {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}}),
        ),
        (
            r#"{"paths": "/a"}"#,
            json!({"errors": {"paths": ["Expected a list of items but got type \"str\"."]}}),
        ),
        (
            r#"{"paths": 5}"#,
            json!({"errors": {"paths": ["Expected a list of items but got type \"int\"."]}}),
        ),
        (
            r#"{"paths": {"a": 1}}"#,
            json!({"errors": {"paths": ["Expected a list of items but got type \"dict\"."]}}),
        ),
        (
            r#"{"paths": null}"#,
            json!({"errors": {"paths": ["This field may not be null."]}}),
        ),
        (
            r#"{"paths": ["a/b"]}"#,
            json!({"errors": {"paths": ["A path should start with /."]}}),
        ),
        (
            r#"{"paths": ["/a", ""]}"#,
            json!({"errors": {"paths": {"1": ["This field may not be blank."]}}}),
        ),
        (
            r#"{"paths": ["  ", "/a", ""]}"#,
            json!({"errors": {"paths": {"0": ["This field may not be blank."], "2": ["This field may not be blank."]}}}),
        ),
        (
            r#"{"paths": [true]}"#,
            json!({"errors": {"paths": {"0": ["Not a valid string."]}}}),
        ),
        (
            r#"{"paths": ["/a*b"]}"#,
            json!({"errors": {"paths": [messages::WILDCARD_NOT_AT_END]}}),
        ),
        (
            r#"{"paths": ["/*/x"]}"#,
            json!({"errors": {"paths": [messages::WILDCARD_NOT_AT_END]}}),
        ),
        (
            r#"{"urls": "/a"}"#,
            json!({"errors": {"urls": ["Expected a list of items but got type \"str\"."]}}),
        ),
        (
            r#"{"urls": ["x.jpg"]}"#,
            json!({"errors": {"urls": [messages::URL_START]}}),
        ),
        (
            r#"{"urls": ["/a", " "]}"#,
            json!({"errors": {"urls": {"1": ["This field may not be blank."]}}}),
        ),
        (
            r#"{"urls": []}"#,
            json!({"errors": {"urls": ["This list may not be empty."]}}),
        ),
    ];
    for (body, want) in cases {
        let r = api(&emu, "POST", "/cdn/resources/1/purge", body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(&r.json(), want, "{body}");
    }
    // None of them counted: every purge type is still available.
    for body in [
        r#"{"urls": ["/a"]}"#,
        r#"{"paths": ["/a*"]}"#,
        r#"{"paths": []}"#,
    ] {
        assert_eq!(
            api(&emu, "POST", "/cdn/resources/1/purge", body).status,
            201
        );
    }
}

#[test]
fn purge_count_limits() {
    let emu = start(&[1]);
    let urls: Vec<String> = (0..101).map(|i| format!("/f{i}")).collect();
    let r = api(
        &emu,
        "POST",
        "/cdn/resources/1/purge",
        &json!({ "urls": urls }).to_string(),
    );
    assert_eq!(r.status, 400);
    let msg = r.json()["errors"][0].as_str().unwrap().to_owned();
    assert!(msg.contains("100"), "{msg}");

    let paths: Vec<String> = (0..11).map(|i| format!("/d{i}/*")).collect();
    let r = api(
        &emu,
        "POST",
        "/cdn/resources/1/purge",
        &json!({ "paths": paths }).to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["errors"][0].as_str().unwrap().contains("10"));

    let r = api(
        &emu,
        "POST",
        "/cdn/resources/1/purge",
        &json!({ "urls": &urls[..100] }).to_string(),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body, "");
    let r = api(
        &emu,
        "POST",
        "/cdn/resources/1/purge",
        &json!({ "paths": &paths[..10] }).to_string(),
    );
    assert_eq!(r.status, 201);
}

#[test]
fn purge_unknown_resource_is_404() {
    let emu = start(&[]);
    let r = api(
        &emu,
        "POST",
        "/cdn/resources/3/purge",
        r#"{"urls": ["/a"]}"#,
    );
    assert_eq!(r.status, 404);
}

#[test]
fn rate_limit_per_resource_and_type() {
    let emu = start(&[1, 2]);
    let mut c = Conn::open(emu.addr());
    let url = r#"{"urls": ["/a"]}"#;
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 201);
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 201);
    let r = c.api("POST", "/cdn/resources/1/purge", url);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), None);
    assert!(r.json()["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("Too many requests"));
    // Other resource, other types: separate windows.
    assert_eq!(c.api("POST", "/cdn/resources/2/purge", url).status, 201);
    let pattern = r#"{"paths": ["/img/*"]}"#;
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", pattern).status, 201);
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", pattern).status, 429);
    let all = r#"{"paths": []}"#;
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", all).status, 201);
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", all).status, 429);
    // Invalid requests are answered 400 even when the window is full, and do not count.
    assert_eq!(
        c.api("POST", "/cdn/resources/2/purge", r#"{"urls": ["x"]}"#)
            .status,
        400
    );
    assert_eq!(c.api("POST", "/cdn/resources/2/purge", url).status, 201);
    assert_eq!(c.api("POST", "/cdn/resources/2/purge", url).status, 429);
}

#[test]
fn sliding_window_frees_up() {
    let emu = start(&[1]);
    emu.set_limits(Limits {
        url_window: Duration::from_millis(300),
        ..Limits::default()
    });
    let url = r#"{"urls": ["/a"]}"#;
    let mut c = Conn::open(emu.addr());
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 201);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 201);
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 429);
    // The first one leaves the window; the second is still in it.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 201);
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 429);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 201);
    assert_eq!(c.api("POST", "/cdn/resources/1/purge", url).status, 201);
}

#[test]
fn retry_after_modes() {
    let emu = start(&[1]);
    let pattern = r#"{"paths": ["/a"]}"#;
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/1/purge", pattern).status,
        201
    );

    emu.set_retry_after(RetryAfterMode::Seconds);
    let r = api(&emu, "POST", "/cdn/resources/1/purge", pattern);
    assert_eq!(r.status, 429);
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((59..=60).contains(&secs), "{secs}");

    emu.set_retry_after(RetryAfterMode::HttpDate);
    let r = api(&emu, "POST", "/cdn/resources/1/purge", pattern);
    assert_eq!(r.status, 429);
    let at = httpdate::parse_http_date(r.header("retry-after").unwrap()).unwrap();
    let wait = at.duration_since(SystemTime::now()).unwrap();
    assert!(
        wait > Duration::from_secs(57) && wait <= Duration::from_secs(61),
        "{wait:?}"
    );

    // Short windows still give at least one second.
    emu.set_retry_after(RetryAfterMode::Seconds);
    emu.set_limits(Limits {
        all_window: Duration::from_millis(200),
        ..Limits::default()
    });
    let all = r#"{"paths": []}"#;
    assert_eq!(api(&emu, "POST", "/cdn/resources/1/purge", all).status, 201);
    let r = api(&emu, "POST", "/cdn/resources/1/purge", all);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[test]
fn limits_endpoint() {
    let emu = start(&[]);
    let r = api(&emu, "GET", "/cdn/clients/me/limits", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"purge_max_urls_limit": 100, "purge_pattern_limit": 10,
               "purge_request_limit": "1/m", "purge_by_urls_request_limit": "2/m",
               "prefetch_request_limit": "1/m"})
    );
    emu.set_limits(Limits {
        url_requests: 5,
        url_window: Duration::from_secs(1),
        max_urls: 7,
        ..Limits::default()
    });
    let r = api(&emu, "GET", "/cdn/clients/me/limits", "");
    assert_eq!(r.json()["purge_by_urls_request_limit"], "5/s");
    assert_eq!(r.json()["purge_max_urls_limit"], 7);
    // One field for pattern purges and purge-all: the stricter of the two windows enforced.
    for (pattern, all, reported) in [
        ((3, 300), (1, 300), "1/300ms"),
        ((1, 900), (2, 600), "1/900ms"),
    ] {
        emu.set_limits(Limits {
            pattern_requests: pattern.0,
            pattern_window: Duration::from_millis(pattern.1),
            all_requests: all.0,
            all_window: Duration::from_millis(all.1),
            ..Limits::default()
        });
        let r = api(&emu, "GET", "/cdn/clients/me/limits", "");
        assert_eq!(
            r.json()["purge_request_limit"],
            reported,
            "{pattern:?} {all:?}"
        );
    }
}

#[test]
fn anything_else_is_404() {
    let emu = start(&[1]);
    for (method, path) in [
        ("GET", "/"),
        ("POST", "/cdn/resources"),
        ("DELETE", "/cdn/purge_statuses"),
        ("PUT", "/cdn/resources/1"),
        ("GET", "/cdn/resources/1/purge"),
        ("GET", "/cdn/resources/1/prefetch"),
        ("POST", "/cdn/resources/2/prefetch"),
        ("POST", "/cdn/resources/x/purge"),
    ] {
        let r = api(&emu, method, path, "{}");
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(r.json(), json!({"errors": ["Not found."]}));
    }
    // A query string does not change the route.
    assert_eq!(api(&emu, "GET", "/cdn/resources/1?x=1", "").status, 200);
}

#[test]
fn requests_are_recorded() {
    let emu = start(&[1]);
    let mut c = Conn::open(emu.addr());
    c.request(
        "POST",
        "/cdn/resources/1/purge?q=1",
        &[
            ("Authorization", &format!("APIKey {KEY}")),
            ("X-Custom", "Value"),
            ("Content-Type", "application/json"),
        ],
        r#"{"urls": ["/a"]}"#,
    );
    let recs = emu.requests();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/cdn/resources/1/purge?q=1");
    assert_eq!(r.body, r#"{"urls": ["/a"]}"#);
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-custom"), Some("Value"));
    assert_eq!(r.header("authorization"), Some("APIKey test-key"));
    assert!(r.headers.iter().any(|(n, _)| n == "x-custom"));
    assert!(r.headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert_eq!(r.json().unwrap(), json!({"urls": ["/a"]}));

    emu.clear_requests();
    assert!(emu.requests().is_empty());
    c.api("GET", "/cdn/resources/1", "");
    assert_eq!(emu.requests().len(), 1);

    emu.set_recording(false);
    c.api("GET", "/cdn/resources/1", "");
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn keep_alive_and_concurrency() {
    let emu = start(&(1..=16).collect::<Vec<_>>());
    emu.set_limits(Limits::unlimited_rate());
    std::thread::scope(|s| {
        for id in 1..=16 {
            let addr = emu.addr();
            s.spawn(move || {
                let mut c = Conn::open(addr);
                for _ in 0..50 {
                    let r = c.api(
                        "POST",
                        &format!("/cdn/resources/{id}/purge"),
                        r#"{"urls": ["/a"]}"#,
                    );
                    assert_eq!(r.status, 201);
                }
            });
        }
    });
    assert_eq!(emu.requests().len(), 16 * 50);
}

#[test]
fn reset_restores_start_state() {
    let emu = start(&[1]);
    emu.add_resource(Resource::new(2));
    emu.set_limits(Limits {
        max_urls: 1,
        ..Limits::default()
    });
    api(&emu, "PATCH", "/cdn/resources/1", r#"{"active": false}"#);
    api(&emu, "POST", "/cdn/resources/1/purge", r#"{"paths": []}"#);
    emu.reset();
    assert!(emu.requests().is_empty());
    assert_eq!(emu.resource(1), Some(Resource::new(1)));
    assert_eq!(emu.resource(2), None);
    assert_eq!(emu.limits(), Limits::default());
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/1/purge", r#"{"paths": []}"#).status,
        201
    );
}

#[test]
fn dropping_the_emulator_closes_keep_alive_connections() {
    let emu = start(&[1]);
    let mut c = Conn::open(emu.addr());
    assert_eq!(c.api("GET", "/cdn/resources/1", "").status, 200);
    drop(emu);
    assert!(c.read_to_eof().is_empty());
}
