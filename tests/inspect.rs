//! `Client::list_resources`, `Client::read_limits` and `Client::delete_resource_detailed`
//! against the emulator.

use std::time::Duration;

use gcdn::engine::{CallSettings, Client, DeleteOptions, Options, Status};
use gcdn_emulator::{Config, Emulator, Fault, Limits, Resource};

fn setup() -> (Emulator, Client) {
    let emu = Emulator::start(Config::default()).unwrap();
    let mut options = Options::default();
    options.set_base_url(&emu.base_url()).unwrap();
    let client = Client::new(Some(emu.api_key()), &options).unwrap();
    (emu, client)
}

#[test]
fn resources_are_listed_whole_and_paged() {
    let (emu, client) = setup();
    for id in 1..=3 {
        let mut r = Resource::new(id);
        r.secondary_hostnames = vec![format!("Alt{id}.example.com")];
        r.can_purge_by_urls = id != 2;
        r.deleted = id == 3;
        emu.add_resource(r);
    }
    let listed = client.list_resources(&CallSettings::default()).unwrap();
    assert_eq!(listed.malformed, 0);
    let ids: Vec<i64> = listed.resources.iter().map(|r| r.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    let two = &listed.resources[1];
    assert_eq!(two.cname, "cdn2.example.com");
    assert_eq!(two.secondary_hostnames, ["alt2.example.com"], "lower-cased");
    assert!(!two.can_purge_by_urls);
    assert!(listed.resources[2].deleted);
    // Only GETs, with `limit` (so the paged envelope).
    let requests = emu.requests();
    assert!(requests
        .iter()
        .all(|r| r.method == "GET" && r.path.starts_with("/cdn/resources?")));
    assert!(requests[0].path.contains("limit="), "{}", requests[0].path);
    // A refused listing is an error.
    emu.push_fault(Fault::respond(403, r#"{"message":"no"}"#).on("GET", "/cdn/resources"));
    let e = client.list_resources(&CallSettings::default()).unwrap_err();
    assert_eq!(e.status, Status::Unauthorized);
}

#[test]
fn limits_keep_the_api_object_and_say_what_gcdn_makes_of_it() {
    let (emu, client) = setup();
    emu.set_limits(Limits {
        url_requests: 3,
        url_window: Duration::from_secs(60),
        max_urls: 40,
        ..Limits::default()
    });
    let read = client.read_limits(&CallSettings::default()).unwrap();
    assert_eq!(read.raw["purge_max_urls_limit"], 40);
    assert_eq!(read.limits.max_urls, 40);
    assert_eq!(read.limits.urls.requests, 3);
    assert!(read.notes.is_empty());
    let json = read.to_json();
    assert_eq!(json["purge_max_urls_limit"], 40, "the API's members kept");
    assert_eq!(json["gcdn"]["url_purges"]["requests"], 3);
    assert_eq!(json["gcdn"]["url_purges"]["per_ms"], 60_000);
    // An unbelievable rate is replaced, with a note.
    emu.set_limits(Limits {
        url_requests: 100,
        url_window: Duration::from_millis(100),
        ..Limits::default()
    });
    let read = client.read_limits(&CallSettings::default()).unwrap();
    assert_eq!(read.limits.urls.per, Duration::from_secs(60));
    assert_eq!(read.notes.len(), 1, "{:?}", read.notes);
    // Not an object: a protocol error.
    emu.push_fault(Fault::respond(200, "[1, 2]").on("GET", "/cdn/clients/me/limits"));
    let e = client.read_limits(&CallSettings::default()).unwrap_err();
    assert_eq!(e.status, Status::Protocol);
}

#[test]
fn a_detailed_delete_tells_deleted_from_missing_and_keeps_the_http_status() {
    let (emu, client) = setup();
    emu.add_resource(Resource::new(7));
    let s = CallSettings::default();
    let first = DeleteOptions {
        deactivate_first: true,
        missing_ok: false,
    };
    let d = client.delete_resource_detailed(7, first, &s).unwrap();
    assert!(!d.missing);
    assert_eq!(d.http_status, Some(204));
    let f = client.delete_resource_detailed(7, first, &s).unwrap_err();
    assert_eq!(
        (f.error.status, f.http_status),
        (Status::NotFound, Some(404))
    );
    assert!(
        f.error.message.starts_with("delete resource 7"),
        "{}",
        f.error.message
    );
    let ok_missing = DeleteOptions {
        deactivate_first: false,
        missing_ok: true,
    };
    let d = client.delete_resource_detailed(7, ok_missing, &s).unwrap();
    assert!(d.missing);
    assert_eq!(d.http_status, Some(404));
    // The plain call agrees.
    assert!(client.delete_resource(7, ok_missing).is_ok());
    assert!(client.delete_resource(7, DeleteOptions::default()).is_err());
    // An id refused before sending: nothing sent, no HTTP status.
    let before = emu.requests().len();
    let f = client.delete_resource_detailed(0, first, &s).unwrap_err();
    assert_eq!(
        (f.error.status, f.http_status, f.attempts),
        (Status::InvalidArgument, None, 0)
    );
    assert_eq!(emu.requests().len(), before);
}
