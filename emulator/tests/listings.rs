//! `GET /cdn/resources`, `GET /cdn/purge_statuses`, their control switches and hostile modes.

mod common;

use std::time::{Duration, SystemTime};

use common::{api, control};
use gcdn_emulator::{
    messages, Config, Emulator, Endpoint, Limits, ListingFault, PurgeState, PurgeType, Resource,
};
use serde_json::{json, Value};

fn start(seed: impl IntoIterator<Item = i64>) -> Emulator {
    Emulator::start(Config {
        seed_resources: seed.into_iter().collect(),
        limits: Limits::unlimited_rate(),
        ..Config::default()
    })
    .unwrap()
}

fn get(emu: &Emulator, path: &str) -> Value {
    let r = api(emu, "GET", path, "");
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

fn ids(list: &Value) -> Vec<i64> {
    let list = list.get("results").unwrap_or(list);
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().or(r["purge_id"].as_i64()).unwrap())
        .collect()
}

fn purge(emu: &Emulator, id: i64, body: &str) -> u16 {
    api(emu, "POST", &format!("/cdn/resources/{id}/purge"), body).status
}

fn several(emu: &Emulator) {
    emu.add_resource(
        Resource::new(3)
            .cname("Static.Example.com")
            .secondary_hostnames(&["img.example.com", "cdn.example.org"]),
    );
    emu.add_resource(Resource::new(4).can_purge_by_urls(false));
    emu.add_resource(Resource::inactive(5));
    emu.add_resource(Resource::new(6).deleted(true));
}

#[test]
fn resources_plain_list_and_filters() {
    let emu = start([1]);
    several(&emu);
    let all = get(&emu, "/cdn/resources");
    assert_eq!(ids(&all), [1, 3, 4, 5, 6]);
    assert_eq!(
        all[1],
        json!({"id": 3, "cname": "Static.Example.com",
               "secondaryHostnames": ["img.example.com", "cdn.example.org"],
               "active": true, "status": "active", "deleted": false, "can_purge_by_urls": true,
               "options": {}})
    );
    assert_eq!(all[2]["can_purge_by_urls"], false);
    assert_eq!(all[3]["status"], "suspended");
    assert_eq!(
        (&all[4]["status"], &all[4]["deleted"]),
        (&json!("deleted"), &json!(true))
    );
    for (query, want) in [
        ("cname=static.example.com", &[3][..]),
        ("secondaryHostnames=IMG.example.com", &[3]),
        ("deleted=false", &[1, 3, 4, 5]),
        ("deleted=true", &[6]),
        ("status=suspended", &[5]),
        ("enabled=false", &[5]),
        ("status=active&deleted=false&cname=nope.example.com", &[]),
        ("unknown=ignored", &[1, 3, 4, 5, 6]),
    ] {
        assert_eq!(
            ids(&get(&emu, &format!("/cdn/resources?{query}"))),
            want,
            "{query}"
        );
    }
    let r = api(&emu, "GET", "/cdn/resources?deleted=maybe", "");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"errors": {"deleted": [messages::INVALID_BOOLEAN]}})
    );
    // A deleted resource is listed, but not found by its own endpoints.
    assert_eq!(api(&emu, "GET", "/cdn/resources/6", "").status, 404);
    assert_eq!(purge(&emu, 6, r#"{"paths": []}"#), 404);
    // Listings need the key like everything else.
    let mut c = common::Conn::open(emu.addr());
    assert_eq!(c.request("GET", "/cdn/resources", &[], "").status, 401);
}

#[test]
fn resources_paging() {
    let emu = start(1..=1005);
    let base = emu.base_url();
    let page = get(&emu, "/cdn/resources?deleted=false&limit=2&offset=4");
    assert_eq!(page["count"], 1005);
    assert_eq!(ids(&page), [5, 6]);
    assert_eq!(
        page["next"],
        format!("{base}/cdn/resources?deleted=false&limit=2&offset=6")
    );
    assert_eq!(
        page["previous"],
        format!("{base}/cdn/resources?deleted=false&limit=2&offset=2")
    );
    let first = get(&emu, "/cdn/resources?limit=3");
    assert_eq!(
        (ids(&first), &first["previous"]),
        (vec![1, 2, 3], &Value::Null)
    );
    let last = get(&emu, "/cdn/resources?limit=10&offset=1000");
    assert_eq!(
        (ids(&last), &last["next"]),
        (vec![1001, 1002, 1003, 1004, 1005], &Value::Null)
    );
    let past = get(&emu, "/cdn/resources?limit=10&offset=5000");
    assert_eq!(
        (past["results"].as_array().unwrap().len(), &past["next"]),
        (0, &Value::Null)
    );
    // `limit` is capped at 1000.
    let big = get(&emu, "/cdn/resources?limit=5000");
    assert_eq!(big["results"].as_array().unwrap().len(), 1000);
    assert_eq!(
        big["next"],
        format!("{base}/cdn/resources?limit=1000&offset=1000")
    );
    for bad in ["limit=0", "limit=x", "offset=-1", "limit=1.5"] {
        let r = api(&emu, "GET", &format!("/cdn/resources?{bad}"), "");
        assert_eq!(r.status, 400, "{bad}");
        let key = bad.split('=').next().unwrap();
        assert_eq!(
            r.json(),
            json!({"errors": {key: [messages::INVALID_INTEGER]}})
        );
    }
}

#[test]
fn url_purge_refused_where_the_resource_cannot() {
    let emu = start([]);
    several(&emu);
    let r = api(
        &emu,
        "POST",
        "/cdn/resources/4/purge",
        r#"{"urls": ["/a"]}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"errors": [messages::URL_PURGE_DISABLED]}));
    assert_eq!(purge(&emu, 4, r#"{"paths": ["/a*"]}"#), 201);
    assert_eq!(purge(&emu, 4, r#"{"paths": []}"#), 201);
    // Validation still comes first.
    assert_eq!(
        api(&emu, "POST", "/cdn/resources/4/purge", r#"{"urls": ["a"]}"#).json(),
        json!({"errors": {"urls": [messages::URL_START]}})
    );
    let types: Vec<PurgeType> = emu.purge_statuses().iter().map(|p| p.purge_type).collect();
    assert_eq!(types, [PurgeType::Patterns, PurgeType::All]);
}

#[test]
fn control_api_takes_the_whole_resource() {
    let emu = start([]);
    let a = emu.addr();
    let body = json!({"id": 9, "cname": "a.example.com", "secondaryHostnames": ["b.example.com"],
        "active": false, "deleted": true, "can_purge_by_urls": false, "refusal": "custom"});
    let r = control(a, "POST", "/__emulator/resources", &body.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    let want = Resource::inactive(9)
        .cname("a.example.com")
        .secondary_hostnames(&["b.example.com"])
        .deleted(true)
        .can_purge_by_urls(false)
        .refusing(gcdn_emulator::Refusal::Custom);
    assert_eq!(emu.resource(9), Some(want));
    let got = control(a, "GET", "/__emulator/resources/9", "").json();
    assert_eq!(got["secondaryHostnames"], json!(["b.example.com"]));
    assert_eq!(
        (&got["status"], &got["refusal"]),
        (&json!("deleted"), &json!("custom"))
    );
    for bad in [
        json!({"id": 1, "cname": 5}),
        json!({"id": 1, "secondaryHostnames": "x"}),
        json!({"id": 1, "secondaryHostnames": [1]}),
        json!({"id": 1, "deleted": "no"}),
        json!({"id": 1, "can_purge_by_urls": 0}),
    ] {
        let r = control(a, "POST", "/__emulator/resources", &bad.to_string());
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(emu.resources().len(), 1);
}

fn created(entry: &Value) -> &str {
    entry["created"].as_str().unwrap()
}

#[test]
fn purge_statuses_record_accepted_purges() {
    let emu = start([1, 2]);
    emu.add_resource(Resource::new(3).cname("three.example.com"));
    let before = SystemTime::now();
    assert_eq!(purge(&emu, 1, r#"{"urls": [" /a.png ", "/b?v=1"]}"#), 201);
    assert_eq!(purge(&emu, 2, r#"{"paths": ["/img/*"]}"#), 201);
    assert_eq!(purge(&emu, 3, r#"{"paths": []}"#), 201);
    // Refused ones leave no entry.
    assert_eq!(purge(&emu, 1, r#"{"urls": []}"#), 400);
    assert_eq!(purge(&emu, 99, r#"{"urls": ["/a"]}"#), 404);
    emu.set_limits(Limits::default());
    emu.clear_rate_limits();
    for _ in 0..2 {
        assert_eq!(purge(&emu, 3, r#"{"urls": ["/x"]}"#), 201);
    }
    assert_eq!(purge(&emu, 3, r#"{"urls": ["/x"]}"#), 429);

    let list = get(&emu, "/cdn/purge_statuses");
    assert_eq!(ids(&list), [5, 4, 3, 2, 1], "newest first");
    assert_eq!(
        list[4],
        json!({"purge_id": 1, "status": "Successful", "resource": {"id": 1, "cname": "cdn1.example.com"},
               "payload": {"urls": ["/a.png", "/b?v=1"]}, "created": created(&list[4]),
               "purge_type": "purge_by_url"})
    );
    assert_eq!(list[3]["payload"], json!({"paths": ["/img/*"]}));
    assert_eq!(list[3]["purge_type"], "purge_by_pattern");
    assert_eq!(list[2]["payload"], json!({"paths": []}));
    assert_eq!(list[2]["purge_type"], "purge_all");
    // ISO 8601 UTC with microseconds, in order.
    let stamp = created(&list[4]);
    assert_eq!(stamp.len(), 27, "{stamp}");
    assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[19] == b'.');
    assert!(created(&list[0]) >= stamp);

    let rust = emu.purge_statuses();
    assert_eq!(rust.len(), 5);
    assert_eq!((rust[0].purge_id, rust[0].resource_id), (1, 1));
    assert_eq!(rust[0].items, ["/a.png", "/b?v=1"]);
    assert_eq!(rust[2].cname, "three.example.com");
    assert!(rust[0].created >= before && rust[0].status == PurgeState::Successful);

    for (query, want) in [
        ("cname=THREE.example.com", &[5, 4, 3][..]),
        ("purge_type=purge_by_url", &[5, 4, 1]),
        ("purge_type=purge_all&cname=three.example.com", &[3]),
        ("status=Successful", &[5, 4, 3, 2, 1]),
        ("status=In+progress", &[]),
        ("from_created=2000-01-01", &[5, 4, 3, 2, 1]),
        ("to_created=2000-01-01T00:00:00Z", &[]),
    ] {
        assert_eq!(
            ids(&get(&emu, &format!("/cdn/purge_statuses?{query}"))),
            want,
            "{query}"
        );
    }
    let from = format!("/cdn/purge_statuses?from_created={}", created(&list[1]));
    assert_eq!(ids(&get(&emu, &from)), [5, 4]);
    let to = format!("/cdn/purge_statuses?to_created={}", created(&list[3]));
    assert_eq!(ids(&get(&emu, &to)), [2, 1]);
    let r = api(
        &emu,
        "GET",
        "/cdn/purge_statuses?from_created=yesterday",
        "",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"errors": {"from_created": [messages::INVALID_DATETIME]}})
    );

    let page = get(&emu, "/cdn/purge_statuses?purge_type=purge_by_url&limit=2");
    assert_eq!((page["count"].as_u64(), ids(&page)), (Some(3), vec![5, 4]));
    assert!(page["next"]
        .as_str()
        .unwrap()
        .ends_with("/cdn/purge_statuses?purge_type=purge_by_url&limit=2&offset=2"));
    let capped = get(&emu, "/cdn/purge_statuses?limit=1000");
    assert!(capped["next"].is_null() && capped["results"].as_array().unwrap().len() == 5);
    emu.reset();
    assert!(emu.purge_statuses().is_empty());
}

#[test]
fn purge_status_delay_and_forced_states() {
    let emu = start([1, 2]);
    emu.set_purge_status_delay(Duration::from_millis(1000));
    emu.fail_next_purges(1);
    emu.set_resource_purge_state(2, Some(PurgeState::InProgress));
    let all = r#"{"paths": []}"#;
    assert_eq!(purge(&emu, 1, all), 201); // 1: Failed
    assert_eq!(purge(&emu, 1, all), 201); // 2: Successful
    assert_eq!(purge(&emu, 2, all), 201); // 3: never ends
    let states = |emu: &Emulator| -> Vec<PurgeState> {
        emu.purge_statuses().iter().map(|p| p.status).collect()
    };
    assert_eq!(states(&emu), [PurgeState::InProgress; 3]);
    assert_eq!(
        ids(&get(&emu, "/cdn/purge_statuses?status=In%20progress")),
        [3, 2, 1]
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        states(&emu),
        [
            PurgeState::Failed,
            PurgeState::Successful,
            PurgeState::InProgress
        ]
    );
    let list = get(&emu, "/cdn/purge_statuses");
    let words: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["In progress", "Successful", "Failed"]);
    assert_eq!(ids(&get(&emu, "/cdn/purge_statuses?status=failed")), [1]);
    // Undone: later purges of resource 2 succeed; the one in progress stays so.
    emu.set_resource_purge_state(2, None);
    emu.set_purge_status_delay(Duration::ZERO);
    assert_eq!(purge(&emu, 2, all), 201);
    assert_eq!(
        states(&emu)[2..],
        [PurgeState::InProgress, PurgeState::Successful]
    );
}

#[test]
fn purge_status_switches_through_the_control_api() {
    let emu = start([1, 2]);
    let a = emu.addr();
    let post = |path: &str, body: Value| control(a, "POST", path, &body.to_string()).status;
    assert_eq!(
        post(
            "/__emulator/config",
            json!({"purge_status_delay_ms": 60_000})
        ),
        200
    );
    assert_eq!(
        post(
            "/__emulator/purge_states",
            json!({"state": "failed", "next": 2})
        ),
        200
    );
    assert_eq!(
        post(
            "/__emulator/purge_states",
            json!({"state": "in_progress", "resource_id": 2})
        ),
        200
    );
    for bad in [
        json!({"state": "exploded", "next": 1}),
        json!({"next": 1}),
        json!({"state": "failed"}),
        json!({"state": "failed", "next": -1}),
        json!({"state": "failed", "next": 1, "resource_id": 2}),
    ] {
        assert_eq!(post("/__emulator/purge_states", bad.clone()), 400, "{bad}");
    }
    let all = r#"{"paths": []}"#;
    assert_eq!(purge(&emu, 1, all), 201);
    assert_eq!(
        post("/__emulator/config", json!({"purge_status_delay_ms": 0})),
        200
    );
    assert_eq!(purge(&emu, 1, all), 201);
    assert_eq!(purge(&emu, 2, all), 201);
    assert_eq!(
        post(
            "/__emulator/purge_states",
            json!({"state": null, "resource_id": 2})
        ),
        200
    );
    assert_eq!(purge(&emu, 2, all), 201);
    let states: Vec<PurgeState> = emu.purge_statuses().iter().map(|p| p.status).collect();
    use PurgeState::*;
    assert_eq!(states, [InProgress, Failed, InProgress, Successful]);
    assert_eq!(control(a, "POST", "/__emulator/reset", "").status, 200);
    assert_eq!(purge(&emu, 2, all), 201);
    assert_eq!(emu.purge_statuses()[0].status, Successful);
}

#[test]
fn endless_and_looping_next() {
    let emu = start([1, 2, 3]);
    emu.set_listing_fault(Endpoint::Resources, ListingFault::EndlessNext);
    let mut path = "/cdn/resources?limit=2".to_owned();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let page = get(&emu, &path);
        assert_eq!(page["results"].as_array().unwrap().len(), 2);
        seen.extend(ids(&page));
        let next = page["next"].as_str().expect("never null").to_owned();
        path = next[emu.base_url().len()..].to_owned();
    }
    assert_eq!(seen[..3], [1, 2, 3]);
    assert_eq!(seen.len(), 40);
    // Even at the very last offset.
    let end = get(&emu, &format!("/cdn/resources?limit=2&offset={}", u64::MAX));
    assert!(end["next"].is_string());
    // Without `limit` the list is the real one.
    assert_eq!(ids(&get(&emu, "/cdn/resources")), [1, 2, 3]);

    emu.set_listing_fault(Endpoint::PurgeStatuses, ListingFault::NextLoops);
    assert_eq!(purge(&emu, 1, r#"{"paths": []}"#), 201);
    let page = get(&emu, "/cdn/purge_statuses?limit=5&offset=0");
    assert!(page["next"]
        .as_str()
        .unwrap()
        .ends_with("/cdn/purge_statuses?limit=5&offset=0"));
    assert_eq!(ids(&page), [1]);
    // Each endpoint has its own switch; None restores the real listing.
    emu.set_listing_fault(Endpoint::Resources, ListingFault::None);
    assert!(get(&emu, "/cdn/resources?limit=2&offset=2")["next"].is_null());
}

#[test]
fn huge_listing_is_generated_not_stored() {
    let emu = start([1]);
    emu.set_listing_fault(Endpoint::Resources, ListingFault::Huge(1_000_000));
    let first = get(&emu, "/cdn/resources?limit=1000");
    assert_eq!(first["count"], 1_000_000);
    assert_eq!(first["results"].as_array().unwrap().len(), 1000);
    let last = get(&emu, "/cdn/resources?limit=1000&offset=999990");
    assert_eq!(last["results"].as_array().unwrap().len(), 10);
    assert!(last["next"].is_null());
    let entry = &last["results"][9];
    assert_eq!(entry["id"], 1_000_999_999i64);
    assert_eq!(entry["cname"], "r999999.synthetic.example.com");
    // Without `limit`: one plain list, streamed in chunks.
    emu.set_listing_fault(Endpoint::PurgeStatuses, ListingFault::Huge(5000));
    let r = api(&emu, "GET", "/cdn/purge_statuses", "");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 5000);
    assert_eq!(list[4999]["payload"], json!({"urls": ["/synthetic/4999"]}));
}

#[test]
fn bad_entries_are_mixed_in() {
    let emu = start([1, 2]);
    emu.set_listing_fault(Endpoint::Resources, ListingFault::BadEntries);
    emu.set_listing_fault(Endpoint::PurgeStatuses, ListingFault::BadEntries);
    assert_eq!(purge(&emu, 1, r#"{"paths": []}"#), 201);
    for path in [
        "/cdn/resources",
        "/cdn/resources?limit=10",
        "/cdn/purge_statuses?limit=3",
    ] {
        let page = get(&emu, path);
        let list = page
            .get("results")
            .unwrap_or(&page)
            .as_array()
            .unwrap()
            .clone();
        let objects = list.iter().filter(|e| e.is_object()).count();
        assert!(list.len() > objects, "{path}: a non-object entry");
        let id = if path.contains("purge") {
            "purge_id"
        } else {
            "id"
        };
        assert!(
            list.iter().any(|e| e.is_object() && e.get(id).is_none()),
            "{path}: missing id"
        );
        assert!(
            list.iter().any(|e| e[id].is_string()) || list.iter().any(|e| e["status"].is_number())
        );
        // The real entries are all there, in order.
        let real: Vec<i64> = list
            .iter()
            .filter(|e| e[id].as_i64().is_some_and(|i| i < 1000))
            .map(|e| e[id].as_i64().unwrap())
            .collect();
        let want: &[i64] = if path.contains("purge") {
            &[1]
        } else {
            &[1, 2]
        };
        assert_eq!(real, want, "{path}");
    }
    // The count stays the real one.
    assert_eq!(get(&emu, "/cdn/resources?limit=10")["count"], 2);
}

#[test]
fn oversized_page_is_valid_json_over_the_cap() {
    let emu = start([1]);
    emu.set_listing_fault(Endpoint::Resources, ListingFault::Oversized(10 << 20));
    let r = api(&emu, "GET", "/cdn/resources?limit=10", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10485760"));
    assert_eq!(r.body.len(), 10 << 20);
    assert_eq!(ids(&r.json()), [1]);
}

#[test]
fn listing_faults_through_the_control_api() {
    let emu = start([1]);
    let a = emu.addr();
    let set = |endpoint: &str, fault: Value| {
        let body = json!({"endpoint": endpoint, "fault": fault}).to_string();
        control(a, "POST", "/__emulator/listing_faults", &body).status
    };
    assert_eq!(set("resources", json!({"huge": 1_000_000})), 200);
    assert_eq!(get(&emu, "/cdn/resources?limit=1")["count"], 1_000_000);
    assert_eq!(set("resources", json!("endless_next")), 200);
    assert!(get(&emu, "/cdn/resources?limit=1&offset=50")["next"].is_string());
    assert_eq!(set("resources", json!("next_loops")), 200);
    assert!(get(&emu, "/cdn/resources?limit=1")["next"]
        .as_str()
        .unwrap()
        .ends_with("offset=0"));
    assert_eq!(set("purge_statuses", json!("bad_entries")), 200);
    assert!(get(&emu, "/cdn/purge_statuses").as_array().unwrap().len() > 3);
    assert_eq!(set("purge_statuses", json!({"oversized": 100_000})), 200);
    assert_eq!(
        api(&emu, "GET", "/cdn/purge_statuses", "").body.len(),
        100_000
    );
    assert_eq!(set("resources", json!("none")), 200);
    assert_eq!(get(&emu, "/cdn/resources?limit=1")["count"], 1);
    for (endpoint, fault) in [
        ("resources", json!("explode")),
        ("resources", json!({"huge": -1})),
        ("resources", json!({"huge": 1, "oversized": 2})),
        ("elsewhere", json!("none")),
    ] {
        assert_eq!(set(endpoint, fault.clone()), 400, "{endpoint} {fault}");
    }
    assert_eq!(control(a, "POST", "/__emulator/reset", "").status, 200);
    assert_eq!(get(&emu, "/cdn/purge_statuses"), json!([]));
}
