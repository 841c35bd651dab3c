//! The control API under `/__emulator/`: no authentication, not recorded. Bodies are read
//! with serde; a body that does not fit is `400 {"error": "<serde_json's words>"}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::cachekey::cache_key;
use crate::edge::EDGE_ID;
use crate::model::{
    parse_iso8601, rfc3339_seconds, Endpoint, ListingFault, PurgeState, Refusal, Resource,
};
use crate::replies::resource_json;
use crate::types::{Fault, FaultAction, Shared};
use crate::wire::{lock, Incoming, Reply};

const PREFIX: &str = "/__emulator/";

pub(crate) fn is_control(path: &str) -> bool {
    path.starts_with(PREFIX)
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "error": message }))
}

fn ok() -> Reply {
    Reply::json(200, &json!({}))
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, Reply> {
    serde_json::from_str(body).map_err(|e| error(400, &e.to_string()))
}

pub(crate) fn handle(shared: &Shared, rq: &Incoming) -> Reply {
    let route = rq.route()[PREFIX.len()..].trim_end_matches('/');
    let result = match (rq.method.as_str(), route) {
        ("POST", "resources") => add_resource(shared, &rq.body),
        ("POST", "faults") => add_fault(shared, &rq.body),
        ("DELETE", "faults") => {
            lock(&shared.faults).clear();
            Ok(ok())
        }
        ("POST", "purge_states") => purge_states(shared, &rq.body),
        ("POST", "listing_faults") => listing_fault(shared, &rq.body),
        ("GET", "requests") => Ok(requests(shared)),
        ("DELETE", "requests") => {
            shared.log().clear();
            Ok(ok())
        }
        ("POST", "config") => configure(shared, &rq.body),
        ("POST", "reset") => {
            shared.reset();
            Ok(ok())
        }
        ("GET", "edge") => Ok(edge_state(shared)),
        ("POST", "edge/ignore") => edge_ignore(shared, &rq.body),
        ("DELETE", "edge/ignore") => {
            shared.edge().ignored.clear();
            Ok(ok())
        }
        ("POST", "edge/cache") => edge_cache(shared, &rq.body),
        ("DELETE", "edge/cache") => {
            shared.edge().clear();
            Ok(ok())
        }
        ("GET", "edge/requests") => Ok(edge_requests(shared)),
        ("DELETE", "edge/requests") => {
            shared.edge().requests.clear();
            Ok(ok())
        }
        (method, r) => match r.strip_prefix("resources/").map(str::parse::<i64>) {
            Some(Ok(id)) if method == "GET" => match shared.account().resources.get(&id) {
                Some(r) => Ok(Reply::json(200, &control_resource_json(r))),
                None => Err(error(404, "no such resource")),
            },
            Some(Ok(id)) if method == "DELETE" => match shared.account().remove(id) {
                Some(_) => Ok(ok()),
                None => Err(error(404, "no such resource")),
            },
            _ => Err(error(404, "unknown control endpoint")),
        },
    };
    result.unwrap_or_else(|reply| reply)
}

fn control_resource_json(r: &Resource) -> Value {
    let mut v = resource_json(r);
    v["refusal"] = r.refusal.map_or(Value::Null, |x| x.as_str().into());
    v["rules"] = Value::Array(r.rules.clone());
    v
}

/// The whole resource: `{"id": 5, "cname": "a.example.com", "secondaryHostnames": [...],
/// "active": true, "deleted": false, "can_purge_by_urls": true, "refusal": null}`; every
/// field but `id` optional (absent or null), defaulting to [`Resource::new`]'s.
#[derive(Deserialize)]
struct ResourceSpec {
    id: i64,
    cname: Option<String>,
    #[serde(rename = "secondaryHostnames", alias = "secondary_hostnames")]
    secondary_hostnames: Option<Vec<String>>,
    active: Option<bool>,
    deleted: Option<bool>,
    can_purge_by_urls: Option<bool>,
    refusal: Option<String>,
    /// `options` as `GET /cdn/resources` lists them (an object).
    options: Option<Value>,
    /// Rules as `GET /cdn/resources/{id}/rules` lists them (each an object).
    rules: Option<Vec<Value>>,
}

fn add_resource(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let spec: ResourceSpec = parse(body)?;
    let new = Resource::new(spec.id);
    let refusal = match spec.refusal.as_deref() {
        None => None,
        Some(r) => Some(Refusal::parse(r).ok_or_else(|| {
            error(
                400,
                "\"refusal\" must be null, \"primary\", \"streaming\" or \"custom\"",
            )
        })?),
    };
    if spec.options.as_ref().is_some_and(|o| !o.is_object())
        || spec.rules.iter().flatten().any(|r| !r.is_object())
    {
        return Err(error(
            400,
            "\"options\" must be an object and \"rules\" a list of objects",
        ));
    }
    let r = Resource {
        cname: spec.cname.unwrap_or(new.cname),
        options: spec.options.unwrap_or(new.options),
        rules: spec.rules.unwrap_or_default(),
        secondary_hostnames: spec.secondary_hostnames.unwrap_or_default(),
        active: spec.active.unwrap_or(true),
        deleted: spec.deleted.unwrap_or(false),
        can_purge_by_urls: spec.can_purge_by_urls.unwrap_or(true),
        refusal,
        ..Resource::new(spec.id)
    };
    let reply = Reply::json(201, &control_resource_json(&r));
    shared.account().resources.insert(r.id, r);
    Ok(reply)
}

/// `{"state": "failed"|"in_progress"|"successful", "next": N}`: the next N purges end so;
/// `{"state": S|null, "resource_id": 5}`: every later purge of resource 5 does (null: undone).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeStatesSpec {
    state: Option<String>,
    next: Option<u32>,
    resource_id: Option<i64>,
}

fn purge_states(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let spec: PurgeStatesSpec = parse(body)?;
    let state = match spec.state.as_deref() {
        None => None,
        Some(s) => Some(PurgeState::parse(s).ok_or_else(|| {
            error(
                400,
                "\"state\" must be \"successful\", \"failed\" or \"in_progress\"",
            )
        })?),
    };
    let mut account = shared.account();
    match (spec.next, spec.resource_id, state) {
        (Some(n), None, Some(state)) => {
            if n > 0 {
                account.next_ends.push_back((state, n));
            }
        }
        (None, Some(id), Some(s)) => drop(account.resource_ends.insert(id, s)),
        (None, Some(id), None) => drop(account.resource_ends.remove(&id)),
        _ => {
            return Err(error(
                400,
                "give \"state\" and \"next\", or \"resource_id\" (and \"state\" or null)",
            ))
        }
    }
    Ok(ok())
}

/// `{"endpoint": "resources"|"purge_statuses", "fault": F}`, `F` one of `"none"`,
/// `"endless_next"`, `"next_loops"`, `"bad_entries"`, `{"huge": N}`, `{"oversized": BYTES}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListingSpec {
    endpoint: EndpointName,
    fault: FaultName,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum EndpointName {
    Resources,
    PurgeStatuses,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultName {
    None,
    EndlessNext,
    NextLoops,
    BadEntries,
    Huge(u64),
    Oversized(u64),
}

fn listing_fault(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let spec: ListingSpec = parse(body)?;
    let endpoint = match spec.endpoint {
        EndpointName::Resources => Endpoint::Resources,
        EndpointName::PurgeStatuses => Endpoint::PurgeStatuses,
    };
    let fault = match spec.fault {
        FaultName::None => ListingFault::None,
        FaultName::EndlessNext => ListingFault::EndlessNext,
        FaultName::NextLoops => ListingFault::NextLoops,
        FaultName::BadEntries => ListingFault::BadEntries,
        FaultName::Huge(n) => ListingFault::Huge(n),
        FaultName::Oversized(n) => ListingFault::Oversized(n),
    };
    shared.account().listing_faults.insert(endpoint, fault);
    Ok(ok())
}

/// `{"method": "POST"|null, "path_prefix": "/cdn/..."|null, "times": 1, "action": A}`.
#[derive(Deserialize)]
struct FaultSpec {
    method: Option<String>,
    path_prefix: Option<String>,
    times: Option<u32>,
    action: ActionSpec,
}

/// `A`: exactly one of these keys. A `body` is a string sent as is, or any other JSON value
/// sent serialized; absent or null is empty.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActionSpec {
    Respond {
        status: u16,
        body: Option<Value>,
        headers: Option<BTreeMap<String, Value>>,
    },
    DelayMs(u64),
    Drop(Yes),
    Truncate {
        status: u16,
        body: Option<Value>,
        cut_after: u64,
    },
    Trickle {
        status: u16,
        body: Option<Value>,
        interval_ms: u64,
    },
    Stall(Yes),
    Chunked {
        status: u16,
        body: Option<Value>,
        chunk: u64,
    },
    Oversized {
        status: u16,
        bytes: u64,
    },
    CloseAfter(Yes),
    Garbage(String),
}

/// `true`, the only value of the flag actions (`{"drop": true}`).
#[derive(Deserialize)]
#[serde(try_from = "bool")]
struct Yes;

impl TryFrom<bool> for Yes {
    type Error = &'static str;
    fn try_from(b: bool) -> Result<Yes, Self::Error> {
        b.then_some(Yes).ok_or("a flag action must be true")
    }
}

fn add_fault(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let spec: FaultSpec = parse(body)?;
    let text = |body: Option<Value>| match body {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    };
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let action = match spec.action {
        ActionSpec::Respond {
            status,
            body,
            headers,
        } => {
            let headers = headers
                .unwrap_or_default()
                .into_iter()
                .map(|(name, v)| match v {
                    Value::String(s) => Ok((name, s)),
                    Value::Number(n) => Ok((name, n.to_string())),
                    _ => Err(error(400, "header values must be strings")),
                });
            FaultAction::Respond {
                status,
                body: text(body),
                headers: headers.collect::<Result<_, _>>()?,
            }
        }
        ActionSpec::DelayMs(ms) => FaultAction::Delay(Duration::from_millis(ms)),
        ActionSpec::Drop(Yes) => FaultAction::Drop,
        ActionSpec::Truncate {
            status,
            body,
            cut_after,
        } => FaultAction::Truncate {
            status,
            body: text(body),
            cut_after: size(cut_after),
        },
        ActionSpec::Trickle {
            status,
            body,
            interval_ms,
        } => FaultAction::Trickle {
            status,
            body: text(body),
            interval: Duration::from_millis(interval_ms),
        },
        ActionSpec::Stall(Yes) => FaultAction::Stall,
        ActionSpec::Chunked {
            status,
            body,
            chunk,
        } => FaultAction::Chunked {
            status,
            body: text(body),
            chunk: size(chunk).max(1),
        },
        ActionSpec::Oversized { status, bytes } => FaultAction::Oversized { status, bytes },
        ActionSpec::CloseAfter(Yes) => FaultAction::CloseAfter,
        ActionSpec::Garbage(s) => FaultAction::Garbage(s.into_bytes()),
    };
    let status = match &action {
        FaultAction::Respond { status, .. }
        | FaultAction::Truncate { status, .. }
        | FaultAction::Trickle { status, .. }
        | FaultAction::Chunked { status, .. }
        | FaultAction::Oversized { status, .. } => *status,
        _ => 200,
    };
    if !(100..1000).contains(&status) {
        return Err(error(
            400,
            "\"status\" must be an HTTP status code (100-999)",
        ));
    }
    lock(&shared.faults).push_back(Fault {
        method: spec.method,
        path_prefix: spec.path_prefix,
        times: spec.times.unwrap_or(1),
        action,
    });
    Ok(Reply::empty(201))
}

/// `{"url": "http://127.0.0.1:PORT"|null, "id": "emu-edge-1", "ignored": [...], "objects":
/// [{"resource_id", "key", "cached_since"}]}`.
fn edge_state(shared: &Shared) -> Reply {
    let edge = shared.edge();
    let objects: Vec<Value> = edge
        .objects()
        .iter()
        .map(|o| {
            json!({
                "resource_id": o.resource_id,
                "key": o.key,
                "cached_since": rfc3339_seconds(o.cached_since),
            })
        })
        .collect();
    let reply = json!({
        "url": shared.edge_url,
        "id": EDGE_ID,
        "ignored": edge.ignored,
        "objects": objects,
    });
    drop(edge);
    Reply::json(200, &reply)
}

/// `{"paths": ["/a.js", "/static/*"]}`: purges leave these paths cached (added to those
/// given before).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreSpec {
    paths: Vec<String>,
}

fn edge_ignore(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let spec: IgnoreSpec = parse(body)?;
    if spec.paths.iter().any(|p| !p.starts_with('/')) {
        return Err(error(400, "every path must start with /"));
    }
    shared.edge().ignored.extend(spec.paths);
    Ok(ok())
}

/// `{"resource_id": 5, "paths": ["/app.js?v=1"], "cached_since": "2000-01-01T00:00:00Z"}`:
/// caches the paths (under the keys the resource makes of them) as of `cached_since`
/// (absent: now).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSpec {
    resource_id: i64,
    paths: Vec<String>,
    cached_since: Option<String>,
}

fn edge_cache(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let spec: CacheSpec = parse(body)?;
    if spec.paths.iter().any(|p| !p.starts_with('/')) {
        return Err(error(400, "every path must start with /"));
    }
    let at = match spec.cached_since.as_deref() {
        None => std::time::SystemTime::now(),
        Some(s) => {
            let us = parse_iso8601(s)
                .and_then(|us| u64::try_from(us).ok())
                .ok_or_else(|| error(400, "\"cached_since\" must be an RFC 3339 date in UTC"))?;
            std::time::UNIX_EPOCH + Duration::from_micros(us)
        }
    };
    let account = shared.account();
    let Some(r) = account.resources.get(&spec.resource_id) else {
        return Err(error(404, "no such resource"));
    };
    let keys: Vec<String> = spec
        .paths
        .iter()
        .map(|p| cache_key(&r.options, &r.rules, p))
        .collect();
    let mut edge = shared.edge();
    for key in &keys {
        edge.store(spec.resource_id, key.clone(), at);
    }
    drop(edge);
    drop(account);
    Ok(Reply::json(200, &json!({ "keys": keys })))
}

/// The edge's requests: `[{"method", "host", "path", "headers", "status", "cache"}]`.
fn edge_requests(shared: &Shared) -> Reply {
    let edge = shared.edge();
    let list: Vec<Value> = edge
        .requests
        .iter()
        .map(|r| {
            json!({
                "method": r.method,
                "host": r.host,
                "path": r.path,
                "headers": header_map(&r.headers),
                "status": r.status,
                "cache": r.cache.map(|c| c.as_str()),
            })
        })
        .collect();
    drop(edge);
    Reply::json(200, &Value::Array(list))
}

/// Headers as an object; repeated names joined with `, `.
fn header_map(headers: &[(String, String)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in headers {
        match map.get_mut(name) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(value);
            }
            _ => {
                map.insert(name.clone(), value.as_str().into());
            }
        }
    }
    map
}

fn requests(shared: &Shared) -> Reply {
    let log = shared.log();
    let list: Vec<Value> = log
        .records
        .iter()
        .map(|r| {
            json!({
                "method": r.method,
                "path": r.path,
                "headers": header_map(&r.headers),
                "body": r.body,
                "status": r.status,
            })
        })
        .collect();
    drop(log);
    Reply::json(200, &Value::Array(list))
}

/// Any of these (absent or null: unchanged); another key is an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigSpec {
    url_requests: Option<u64>,
    url_window_ms: Option<u64>,
    pattern_requests: Option<u64>,
    pattern_window_ms: Option<u64>,
    all_requests: Option<u64>,
    all_window_ms: Option<u64>,
    max_urls: Option<u64>,
    max_patterns: Option<u64>,
    prefetch_requests: Option<u64>,
    prefetch_window_ms: Option<u64>,
    purge_status_delay_ms: Option<u64>,
    /// `"none"`, `"seconds"`, `"date"`.
    retry_after: Option<String>,
    record: Option<bool>,
    log: Option<bool>,
}

fn configure(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let c: ConfigSpec = parse(body)?;
    let retry_after = c
        .retry_after
        .map(|s| s.parse().map_err(|e: String| error(400, &e)))
        .transpose()?;
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let mut account = shared.account();
    let l = &mut account.limits;
    let set = |to: &mut Duration, ms: Option<u64>| *to = ms.map_or(*to, Duration::from_millis);
    l.url_requests = c.url_requests.map_or(l.url_requests, count);
    l.pattern_requests = c.pattern_requests.map_or(l.pattern_requests, count);
    l.all_requests = c.all_requests.map_or(l.all_requests, count);
    l.prefetch_requests = c.prefetch_requests.map_or(l.prefetch_requests, count);
    set(&mut l.url_window, c.url_window_ms);
    set(&mut l.pattern_window, c.pattern_window_ms);
    set(&mut l.all_window, c.all_window_ms);
    set(&mut l.prefetch_window, c.prefetch_window_ms);
    l.max_urls = c.max_urls.map_or(l.max_urls, size);
    l.max_patterns = c.max_patterns.map_or(l.max_patterns, size);
    set(&mut account.purge_delay, c.purge_status_delay_ms);
    account.retry_after = retry_after.unwrap_or(account.retry_after);
    drop(account);
    if let Some(on) = c.record {
        shared
            .recording
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(on) = c.log {
        shared.set_logging(on);
    }
    Ok(ok())
}
