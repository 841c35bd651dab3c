//! Reading the API's listings, bounded whatever the server sends: `GET /cdn/resources` (to map
//! hosts to resources) and `GET /cdn/purge_statuses` (to confirm purges).
//!
//! Either answer is a plain list or a `{count, next, previous, results}` envelope. An entry
//! with a missing or wrong-typed field is skipped and counted, never a panic. The paged reader
//! asks for pages by `limit`/`offset` itself (it never follows a server-sent `next` URL, which
//! could point anywhere, the API key with it), and stops with [`Status::Protocol`] when a
//! listing does not end: a `next` that points back, the same page twice, a non-empty `next`
//! after an empty page, more than [`ReadLimits::max_pages`] pages or
//! [`ReadLimits::max_entries`] entries. Only the entries the caller keeps are kept, and of them
//! only the fields the job needs.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;
use time::format_description::BorrowedFormatItem;
use time::macros::{datetime, format_description};
use time::parsing::Parsed;
use time::OffsetDateTime;

use super::cachekey::{self, CacheOptions};
use super::PurgeKind;
use crate::engine::error::{quote, Error, Result, Status};

/// What the job needs to know of a resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceInfo {
    pub id: i64,
    /// Lower-cased.
    pub cname: String,
    /// Lower-cased.
    pub secondary_hostnames: Vec<String>,
    /// `active` is not false and `status` is not `suspended`.
    pub active: bool,
    /// `deleted` is true or `status` is `deleted`.
    pub deleted: bool,
    /// `can_purge_by_urls`; a resource that does not say is taken to allow it (the API then
    /// answers for itself).
    pub can_purge_by_urls: bool,
    /// What of `options` decides the cache key and what a purge reaches.
    pub options: CacheOptions,
    /// Options ignored for a wrong shape.
    pub malformed_options: usize,
}

impl ResourceInfo {
    /// The hosts that belong to this resource: its cname, then its secondary hostnames.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.cname.as_str())
            .chain(self.secondary_hostnames.iter().map(|s| s.as_str()))
    }
}

/// The state of a purge, from `GET /cdn/purge_statuses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeState {
    InProgress,
    Successful,
    Failed,
    /// Any other word (e.g. `Status report disabled`): not finished as far as gcdn can tell.
    Other,
}

/// One entry of `GET /cdn/purge_statuses`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeStatus {
    pub purge_id: Option<i64>,
    pub state: PurgeState,
    pub resource_id: i64,
    pub kind: PurgeKind,
    /// `payload.urls` or `payload.paths`.
    pub items: Vec<String>,
    /// The server's `created`, read as UTC.
    pub created: SystemTime,
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    pub entries: Vec<T>,
    /// Entries skipped for a missing or wrong-typed field.
    pub malformed: usize,
    /// The answer was an envelope (`results`) rather than a plain list.
    pub enveloped: bool,
    pub count: Option<u64>,
    /// The envelope's `next`, if it is a non-empty string.
    pub next: Option<String>,
}

fn protocol(what: &str, why: impl std::fmt::Display) -> Error {
    Error::new(Status::Protocol, format!("{what}: {why}"))
}

/// Parse one page: a JSON list of entries, or an envelope with `results`. Entries `parse`
/// refuses are counted in `malformed`.
pub fn parse_page<T>(
    what: &str,
    body: &[u8],
    mut parse: impl FnMut(Value) -> Option<T>,
) -> Result<Page<T>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        protocol(
            what,
            format_args!(
                "the answer is not JSON ({e}); it starts {}",
                quote(&start, 60)
            ),
        )
    })?;
    let (list, enveloped, count, next) = match value {
        Value::Array(list) => (list, false, None, None),
        Value::Object(mut map) => {
            let list = match map.remove("results") {
                Some(Value::Array(list)) => list,
                _ => {
                    return Err(protocol(
                        what,
                        "the answer is neither a list nor an object with a \"results\" list",
                    ))
                }
            };
            let count = map.get("count").and_then(Value::as_u64);
            let next = match map.get("next") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            };
            (list, true, count, next)
        }
        _ => {
            return Err(protocol(
                what,
                "the answer is neither a list nor an object with a \"results\" list",
            ))
        }
    };
    let mut entries = Vec::new();
    let mut malformed = 0;
    for item in list {
        match parse(item) {
            Some(t) => entries.push(t),
            None => malformed += 1,
        }
    }
    Ok(Page {
        entries,
        malformed,
        enveloped,
        count,
        next,
    })
}

#[derive(Deserialize)]
struct RawResource {
    id: i64,
    cname: String,
    #[serde(rename = "secondaryHostnames", default)]
    secondary_hostnames: Option<Vec<String>>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    can_purge_by_urls: Option<bool>,
    #[serde(default)]
    options: Option<Value>,
}

/// One entry of `GET /cdn/resources`; `None` when a field the job needs is missing or of the
/// wrong type.
pub fn resource_entry(value: Value) -> Option<ResourceInfo> {
    let raw: RawResource = serde_json::from_value(value).ok()?;
    if raw.id <= 0 {
        return None;
    }
    let status = raw.status.as_deref().unwrap_or("");
    let (options, malformed_options) = cachekey::parse_options(raw.options.as_ref());
    Some(ResourceInfo {
        id: raw.id,
        cname: raw.cname.to_ascii_lowercase(),
        secondary_hostnames: raw
            .secondary_hostnames
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        active: raw.active != Some(false) && !status.eq_ignore_ascii_case("suspended"),
        deleted: raw.deleted == Some(true) || status.eq_ignore_ascii_case("deleted"),
        can_purge_by_urls: raw.can_purge_by_urls != Some(false),
        options,
        malformed_options,
    })
}

#[derive(Deserialize)]
struct RawStatusResource {
    id: i64,
}

#[derive(Deserialize, Default)]
struct RawPayload {
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    paths: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default)]
    purge_id: Option<Value>,
    status: String,
    resource: RawStatusResource,
    #[serde(default)]
    payload: Option<RawPayload>,
    created: String,
    purge_type: String,
}

/// One entry of `GET /cdn/purge_statuses`; `None` when a field is missing or of the wrong type.
pub fn purge_status_entry(value: Value) -> Option<PurgeStatus> {
    let raw: RawStatus = serde_json::from_value(value).ok()?;
    let payload = raw.payload.unwrap_or_default();
    let (kind, items) = match raw.purge_type.as_str() {
        "purge_by_url" => (PurgeKind::Urls, payload.urls?),
        "purge_by_pattern" => (PurgeKind::Patterns, payload.paths?),
        "purge_all" => (PurgeKind::All, payload.paths.unwrap_or_default()),
        _ => return None,
    };
    let state = match raw.status.as_str() {
        "In progress" => PurgeState::InProgress,
        "Successful" => PurgeState::Successful,
        "Failed" => PurgeState::Failed,
        _ => PurgeState::Other,
    };
    let purge_id = match raw.purge_id {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Some(PurgeStatus {
        purge_id,
        state,
        resource_id: raw.resource.id,
        kind,
        items,
        created: parse_time(&raw.created)?,
    })
}

/// Bounds on one paged read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// `limit` asked for per page.
    pub page_size: usize,
    /// Pages read at most.
    pub max_pages: usize,
    /// Entries (kept or not, malformed included) read at most.
    pub max_entries: usize,
}

impl ReadLimits {
    /// `GET /cdn/resources`: pages of 1,000 (the API's maximum), at most 100,000 resources.
    pub const RESOURCES: ReadLimits = ReadLimits {
        page_size: 1_000,
        max_pages: 150,
        max_entries: 100_000,
    };
    /// `GET /cdn/resources/{id}/rules`: at most 10,000 rules of one resource.
    pub const RULES: ReadLimits = ReadLimits {
        page_size: 1_000,
        max_pages: 10,
        max_entries: 10_000,
    };
    /// `GET /cdn/purge_statuses`: pages of 100 (the API's maximum), at most 20,000 entries
    /// per poll (the run's window of time is filtered by `from_created`).
    pub const PURGE_STATUSES: ReadLimits = ReadLimits {
        page_size: 100,
        max_pages: 250,
        max_entries: 20_000,
    };
}

/// What a paged read found.
#[derive(Debug)]
pub struct Paged<T> {
    /// The entries `keep` kept.
    pub kept: Vec<T>,
    /// Entries read in all (malformed included).
    pub seen: usize,
    pub malformed: usize,
    pub pages: usize,
}

/// The `offset` query parameter of a `next` URL, if any.
fn offset_of(next: &str) -> Option<u64> {
    let query = next.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("offset="))
        .and_then(|v| v.parse().ok())
}

/// Read a listing page by page: `fetch(path_and_query)` gets one page's body (for
/// `base` + `limit` and `offset`), `parse` reads an entry, `keep` says whether to keep it.
pub fn read_paged<T>(
    what: &str,
    base: &str,
    limits: ReadLimits,
    mut fetch: impl FnMut(&str) -> Result<Vec<u8>>,
    mut parse: impl FnMut(Value) -> Option<T>,
    mut keep: impl FnMut(&T) -> bool,
) -> Result<Paged<T>> {
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = Paged {
        kept: Vec::new(),
        seen: 0,
        malformed: 0,
        pages: 0,
    };
    let mut offset: u64 = 0;
    let mut last_page: Option<u64> = None;
    loop {
        if out.pages == limits.max_pages {
            return Err(protocol(
                what,
                format_args!(
                    "the listing goes on past {} pages; gcdn stops reading there",
                    limits.max_pages
                ),
            ));
        }
        let url = format!("{base}{sep}limit={}&offset={offset}", limits.page_size);
        let body = fetch(&url)?;
        out.pages += 1;
        let mut h = DefaultHasher::new();
        body.hash(&mut h);
        let fingerprint = h.finish();
        let page = parse_page(what, &body, &mut parse)?;
        drop(body);
        let n = page.entries.len() + page.malformed;
        out.seen += n;
        out.malformed += page.malformed;
        if out.seen > limits.max_entries {
            return Err(protocol(
                what,
                format_args!(
                    "the listing holds more than {} entries; gcdn stops reading there",
                    limits.max_entries
                ),
            ));
        }
        out.kept
            .extend(page.entries.into_iter().filter(|e| keep(e)));
        if !page.enveloped {
            // A plain list is the whole listing: the server does not page.
            break;
        }
        let Some(next) = page.next else { break };
        if n == 0 {
            return Err(protocol(
                what,
                format_args!("the page at offset {offset} is empty but names a next page"),
            ));
        }
        if offset_of(&next).is_some_and(|o| o <= offset) {
            return Err(protocol(
                what,
                format_args!(
                    "the page at offset {offset} names a next page that points back ({})",
                    quote(&next, 120)
                ),
            ));
        }
        if last_page == Some(fingerprint) {
            return Err(protocol(
                what,
                format_args!("the server sent the same page twice (offset {offset} is ignored)"),
            ));
        }
        last_page = Some(fingerprint);
        offset += n as u64;
    }
    Ok(out)
}

/// `created` as the API writes it: RFC 3339's `2024-05-01T12:00:00`, with an optional
/// fraction (digits past nanoseconds are dropped), an optional `Z` or `±hh:mm` (or `±hhmm`)
/// offset (none: UTC), and `T`, `t` or a space between date and time. `None` for anything
/// else, and for a moment before 1970.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    const CREATED: &[BorrowedFormatItem<'_>] = format_description!(
        version = 2,
        "[year]-[month]-[day][first [T][t][ ]][hour]:[minute]:[second]\
         [optional [.[subsecond]]]\
         [optional [[first [Z][z][[offset_hour sign:mandatory]:[offset_minute]]\
         [[offset_hour sign:mandatory][offset_minute]]]]]"
    );
    let mut parsed = Parsed::new();
    let rest = parsed.parse_items(text.trim().as_bytes(), CREATED).ok()?;
    if !rest.is_empty() {
        return None;
    }
    if parsed.offset_hour().is_none() {
        parsed = parsed.with_offset_hour(0)?.with_offset_minute_signed(0)?;
    }
    let at = OffsetDateTime::try_from(parsed).ok()?;
    let since = u64::try_from(at.unix_timestamp()).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(since, at.nanosecond()))
}

/// `2024-05-01T12:00:00Z` (whole seconds, UTC), for the `from_created` filter. A moment
/// before 1970 is written as 1970's first; one past 9999 as 9999's last.
pub fn format_time(t: SystemTime) -> String {
    const FROM_CREATED: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let at = i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(LAST);
    at.min(LAST).format(FROM_CREATED).unwrap_or_default()
}

/// The last moment [`format_time`] writes: 9999-12-31T23:59:59Z.
const LAST: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Option<ResourceInfo> {
        resource_entry(v)
    }

    #[test]
    fn resources_plain_and_enveloped() {
        let plain = br#"[{"id":1,"cname":"CDN.a.com","secondaryHostnames":["B.a.com"],"active":true,"deleted":false,"can_purge_by_urls":true,"options":{"x":1}},
                         {"id":2,"cname":"c.com","active":false},
                         {"id":"3","cname":"bad.com"},
                         {"cname":"noid.com"},
                         {"id":4,"cname":"d.com","secondaryHostnames":null,"status":"deleted"}]"#;
        let p = parse_page("resources", plain, res).unwrap();
        assert!(!p.enveloped);
        assert_eq!(p.malformed, 2);
        assert_eq!(p.entries.len(), 3);
        assert_eq!(p.entries[0].cname, "cdn.a.com");
        assert_eq!(p.entries[0].secondary_hostnames, ["b.a.com"]);
        assert!(p.entries[0].active && !p.entries[0].deleted && p.entries[0].can_purge_by_urls);
        assert!(!p.entries[1].active);
        assert!(p.entries[2].deleted);
        let env = br#"{"count":3,"next":"https://x/cdn/resources?limit=1&offset=1","previous":null,"results":[{"id":1,"cname":"a"}]}"#;
        let p = parse_page("resources", env, res).unwrap();
        assert!(p.enveloped);
        assert_eq!(p.count, Some(3));
        assert_eq!(
            p.next.as_deref(),
            Some("https://x/cdn/resources?limit=1&offset=1")
        );
    }

    #[test]
    fn wrong_types_are_skipped_not_fatal() {
        for v in [
            json!({"id": 1, "cname": 5}),
            json!({"id": 1, "cname": "a", "active": "yes"}),
            json!({"id": 1, "cname": "a", "secondaryHostnames": "b"}),
            json!({"id": 1, "cname": "a", "secondaryHostnames": [1]}),
            json!({"id": 1.5, "cname": "a"}),
            json!({"id": -1, "cname": "a"}),
            json!({"id": 1, "cname": "a", "can_purge_by_urls": 1}),
            json!("x"),
            json!(null),
        ] {
            assert_eq!(resource_entry(v.clone()), None, "{v}");
        }
    }

    #[test]
    fn garbage_and_wrong_shapes_are_protocol_errors() {
        for body in [
            &b"<html>"[..],
            b"",
            b"{\"count\":1}",
            b"42",
            b"{\"results\":{}}",
            b"[1,",
        ] {
            let e = parse_page("resources", body, res).unwrap_err();
            assert_eq!(e.status, Status::Protocol, "{}", e.message);
        }
    }

    #[test]
    fn purge_statuses() {
        let body = br#"{"count":4,"next":null,"results":[
          {"purge_id":10,"status":"Successful","resource":{"id":5,"cname":"a.com"},"payload":{"urls":["/a","/b"]},"created":"2026-12-01T20:00:00.123456Z","purge_type":"purge_by_url"},
          {"purge_id":"11","status":"In progress","resource":{"id":5},"payload":{"paths":["/img/*"]},"created":"2026-12-01 20:00:01","purge_type":"purge_by_pattern"},
          {"purge_id":12,"status":"Failed","resource":{"id":6},"payload":{"paths":[]},"created":"2026-12-01T20:00:02+01:00","purge_type":"purge_all"},
          {"purge_id":13,"status":"Successful","resource":{"id":"x"},"payload":{},"created":"2026","purge_type":"purge_by_url"}]}"#;
        let p = parse_page("purge statuses", body, purge_status_entry).unwrap();
        assert_eq!(p.malformed, 1);
        assert_eq!(p.entries[0].purge_id, Some(10));
        assert_eq!(p.entries[0].state, PurgeState::Successful);
        assert_eq!(p.entries[0].items, ["/a", "/b"]);
        assert_eq!(p.entries[1].purge_id, Some(11));
        assert_eq!(p.entries[1].kind, PurgeKind::Patterns);
        assert_eq!(p.entries[2].kind, PurgeKind::All);
        assert_eq!(p.entries[2].state, PurgeState::Failed);
        assert_eq!(
            format_time(p.entries[2].created),
            "2026-12-01T19:00:02Z",
            "the offset is applied"
        );
    }

    #[test]
    fn times_round_trip() {
        for t in [0u64, 951_782_400, 1_780_000_000, 4_102_444_800] {
            let st = UNIX_EPOCH + Duration::from_secs(t);
            assert_eq!(parse_time(&format_time(st)), Some(st), "{t}");
        }
        assert_eq!(
            parse_time("2000-02-29T00:00:00Z"),
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        assert_eq!(
            parse_time("1970-01-01T00:00:00.5"),
            Some(UNIX_EPOCH + Duration::from_millis(500))
        );
        // Every form the API's dates may take reads as the same moment.
        let noon = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        for same in [
            "2026-05-28T20:26:40Z",
            " 2026-05-28t20:26:40z ",
            "2026-05-28 20:26:40",
            "2026-05-28T21:56:40+01:30",
            "2026-05-28T18:56:40-0130",
        ] {
            assert_eq!(parse_time(same), Some(noon), "{same}");
        }
        assert_eq!(
            parse_time("2026-05-28T20:26:40.1234567899Z"),
            Some(noon + Duration::from_nanos(123_456_789)),
            "digits past nanoseconds are dropped"
        );
        for bad in [
            "",
            "2026",
            "2026-13-01T00:00:00",
            "2026-02-30T00:00:00",
            "2026-01-01T00:00:00 UTC",
            "2026-01-01X00:00:00",
            "2026-01-01T00:00:00+1",
            "1969-12-31T23:59:59Z",
            "2026-01-01T00:00:00.",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    fn pages(bodies: Vec<String>) -> impl FnMut(&str) -> Result<Vec<u8>> {
        let mut it = bodies.into_iter();
        move |_url| Ok(it.next().unwrap_or_else(|| "[]".into()).into_bytes())
    }

    fn env(ids: std::ops::Range<i64>, next: Option<u64>, count: u64) -> String {
        let results: Vec<Value> = ids
            .map(|i| json!({"id": i, "cname": format!("h{i}.com")}))
            .collect();
        json!({"count": count, "next": next.map(|o| format!("https://api/cdn/resources?limit=2&offset={o}")), "previous": null, "results": results}).to_string()
    }

    const SMALL: ReadLimits = ReadLimits {
        page_size: 2,
        max_pages: 10,
        max_entries: 15,
    };

    #[test]
    fn paged_reading_follows_offsets() {
        let mut urls = Vec::new();
        let bodies = vec![
            env(1..3, Some(2), 5),
            env(3..5, Some(4), 5),
            env(5..6, None, 5),
        ];
        let mut it = bodies.into_iter();
        let got = read_paged(
            "resources",
            "/cdn/resources",
            SMALL,
            |u| {
                urls.push(u.to_owned());
                Ok(it.next().unwrap().into_bytes())
            },
            resource_entry,
            |r| r.id != 3,
        )
        .unwrap();
        assert_eq!(
            got.kept.iter().map(|r| r.id).collect::<Vec<_>>(),
            [1, 2, 4, 5]
        );
        assert_eq!(got.seen, 5);
        assert_eq!(
            urls,
            [
                "/cdn/resources?limit=2&offset=0",
                "/cdn/resources?limit=2&offset=2",
                "/cdn/resources?limit=2&offset=4"
            ]
        );
    }

    #[test]
    fn hostile_listings_end_in_protocol_errors() {
        let read = |bodies: Vec<String>| {
            read_paged(
                "resources",
                "/cdn/resources",
                SMALL,
                pages(bodies),
                resource_entry,
                |_| true,
            )
        };
        // A next that points back.
        let e = read(vec![env(1..3, Some(2), 100), env(3..5, Some(0), 100)]).unwrap_err();
        assert!(e.message.contains("points back"), "{}", e.message);
        // The same page again and again (the server ignores offset, next has no offset).
        let same = json!({"count": 100, "next": "https://api/cursor=abc", "results": [{"id": 1, "cname": "a"}]}).to_string();
        let e = read(vec![same.clone(), same.clone(), same]).unwrap_err();
        assert!(e.message.contains("same page twice"), "{}", e.message);
        // A next that never ends: bounded by the entry limit.
        let endless: Vec<String> = (0..50)
            .map(|p| env(p * 2 + 1..p * 2 + 3, Some(p as u64 * 2 + 2), 1_000_000))
            .collect();
        let e = read(endless).unwrap_err();
        assert_eq!(e.status, Status::Protocol);
        assert!(e.message.contains("more than 15 entries"), "{}", e.message);
        // An empty page that names a next page.
        let e = read(vec![env(1..1, Some(2), 5)]).unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
        // Pages bounded too, even with entries all malformed.
        let bad_pages: Vec<String> = (0..20)
            .map(|p| {
                json!({"next": format!("?offset={}", p + 1), "results": [{"id": "x"}]}).to_string()
            })
            .collect();
        let e = read_paged(
            "resources",
            "/r",
            ReadLimits {
                page_size: 1,
                max_pages: 5,
                max_entries: 100,
            },
            pages(bad_pages),
            resource_entry,
            |_| true,
        )
        .unwrap_err();
        assert!(e.message.contains("past 5 pages"), "{}", e.message);
    }

    #[test]
    fn a_plain_list_is_the_whole_listing() {
        let body = json!([{"id": 1, "cname": "a"}, {"id": 2, "cname": "b"}]).to_string();
        let got = read_paged(
            "resources",
            "/r?x=1",
            SMALL,
            pages(vec![body]),
            resource_entry,
            |_| true,
        )
        .unwrap();
        assert_eq!(got.kept.len(), 2);
        assert_eq!(got.pages, 1);
    }
}
