//! The control API under `/__emulator/`: no authentication, not recorded.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::api::resource_json;
use crate::wire::{lock, Incoming, Reply};
use crate::{Endpoint, Fault, FaultAction, ListingFault, PurgeState, Refusal, Resource, Shared};

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

fn parse(body: &str) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(error(400, "expected a JSON object")),
        Err(e) => Err(error(400, &format!("invalid JSON: {e}"))),
    }
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
    v
}

/// The whole resource: `{"id": 5, "cname": "a.example.com", "secondaryHostnames": [...],
/// "active": true, "deleted": false, "can_purge_by_urls": true, "refusal": null}`; every
/// field but `id` optional, defaulting to [`Resource::new`]'s.
fn add_resource(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let data = parse(body)?;
    let id = data
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| error(400, "\"id\" must be an integer"))?;
    let mut r = Resource::new(id);
    let given = |key: &str| data.get(key).filter(|v| !v.is_null());
    let flag = |key: &str, default: bool| match given(key) {
        None => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| error(400, &format!("\"{key}\" must be a boolean"))),
    };
    r.active = flag("active", true)?;
    r.deleted = flag("deleted", false)?;
    r.can_purge_by_urls = flag("can_purge_by_urls", true)?;
    if let Some(v) = given("cname") {
        r.cname = v
            .as_str()
            .ok_or_else(|| error(400, "\"cname\" must be a string"))?
            .to_owned();
    }
    if let Some(v) = given("secondaryHostnames").or_else(|| given("secondary_hostnames")) {
        let hosts = v.as_array().and_then(|a| {
            a.iter()
                .map(|h| h.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        });
        r.secondary_hostnames =
            hosts.ok_or_else(|| error(400, "\"secondaryHostnames\" must be a list of strings"))?;
    }
    if let Some(v) = given("refusal") {
        r.refusal = Some(v.as_str().and_then(Refusal::parse).ok_or_else(|| {
            error(
                400,
                "\"refusal\" must be null, \"primary\", \"streaming\" or \"custom\"",
            )
        })?);
    }
    let reply = Reply::json(201, &control_resource_json(&r));
    shared.account().resources.insert(id, r);
    Ok(reply)
}

/// `{"state": "failed"|"in_progress"|"successful", "next": N}`: the next N purges end so;
/// `{"state": ..., "resource_id": 5}`: every later purge of resource 5 does (`"state":
/// null` undoes it).
fn purge_states(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let data = parse(body)?;
    let state = match data.get("state") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().and_then(PurgeState::parse).ok_or_else(|| {
            error(
                400,
                "\"state\" must be \"successful\", \"failed\" or \"in_progress\"",
            )
        })?),
    };
    let mut account = shared.account();
    match (
        data.get("next").map(Value::as_u64),
        data.get("resource_id").map(Value::as_i64),
    ) {
        (Some(Some(n)), None) => {
            let state = state.ok_or_else(|| error(400, "\"next\" needs a \"state\""))?;
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if n > 0 {
                account.next_ends.push_back((state, n));
            }
        }
        (None, Some(Some(id))) => match state {
            Some(s) => drop(account.resource_ends.insert(id, s)),
            None => drop(account.resource_ends.remove(&id)),
        },
        _ => {
            return Err(error(
                400,
                "give \"next\" (a non-negative integer) or \"resource_id\" (an integer)",
            ))
        }
    }
    Ok(ok())
}

/// `{"endpoint": "resources"|"purge_statuses", "fault": F}`, `F` one of `"none"`,
/// `"endless_next"`, `"next_loops"`, `"bad_entries"`, `{"huge": N}`, `{"oversized": BYTES}`.
fn listing_fault(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let data = parse(body)?;
    let endpoint = match data.get("endpoint").and_then(Value::as_str) {
        Some("resources") => Endpoint::Resources,
        Some("purge_statuses") => Endpoint::PurgeStatuses,
        _ => {
            return Err(error(
                400,
                "\"endpoint\" must be \"resources\" or \"purge_statuses\"",
            ))
        }
    };
    let fault = match data.get("fault") {
        Some(Value::String(s)) if s == "none" => ListingFault::None,
        Some(Value::String(s)) if s == "endless_next" => ListingFault::EndlessNext,
        Some(Value::String(s)) if s == "next_loops" => ListingFault::NextLoops,
        Some(Value::String(s)) if s == "bad_entries" => ListingFault::BadEntries,
        Some(Value::Object(o)) if o.len() == 1 => match o.iter().next() {
            Some((k, v)) if k == "huge" && v.is_u64() => {
                ListingFault::Huge(v.as_u64().unwrap_or(0))
            }
            Some((k, v)) if k == "oversized" && v.is_u64() => {
                ListingFault::Oversized(v.as_u64().unwrap_or(0))
            }
            _ => return Err(error(400, LISTING_FAULTS)),
        },
        _ => return Err(error(400, LISTING_FAULTS)),
    };
    shared.account().listing_faults.insert(endpoint, fault);
    Ok(ok())
}

const LISTING_FAULTS: &str = "\"fault\" must be \"none\", \"endless_next\", \"next_loops\", \
    \"bad_entries\", {\"huge\": n} or {\"oversized\": bytes}";

/// `{"method", "path_prefix", "times", "action": A}`, where `A` is one of
///
/// - `{"respond": {"status": 503, "body": "...", "headers": {"Retry-After": "1"}}}`
/// - `{"delay_ms": 1500}`
/// - `{"drop": true}`
/// - `{"truncate": {"status": 400, "body": "...", "cut_after": 5}}`
/// - `{"trickle": {"status": 201, "body": "", "interval_ms": 1000}}`
/// - `{"stall": true}`
/// - `{"chunked": {"status": 400, "body": "...", "chunk": 3}}`
/// - `{"oversized": {"status": 500, "bytes": 50000000}}`
/// - `{"close_after": true}`
/// - `{"garbage": "HELLO\r\n\r\n"}`
///
/// A `body` may also be any JSON value, sent serialized.
fn add_fault(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let data = parse(body)?;
    let opt_str = |key: &str| match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(error(400, &format!("\"{key}\" must be a string or null"))),
    };
    let method = opt_str("method")?;
    let path_prefix = opt_str("path_prefix")?;
    let times = match data.get("times") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| error(400, "\"times\" must be a non-negative integer"))?,
    };
    let action = data
        .get("action")
        .and_then(Value::as_object)
        .ok_or_else(|| error(400, "\"action\" must be an object"))?;
    let action = parse_action(action)?;
    lock(&shared.faults).push_back(Fault {
        method,
        path_prefix,
        times,
        action,
    });
    Ok(Reply::empty(201))
}

const ACTIONS: &str = "\"action\" must be one of {\"respond\": {...}}, {\"delay_ms\": n}, \
    {\"drop\": true}, {\"truncate\": {...}}, {\"trickle\": {...}}, {\"stall\": true}, \
    {\"chunked\": {...}}, {\"oversized\": {...}}, {\"close_after\": true}, {\"garbage\": \"...\"}";

fn parse_action(action: &Map<String, Value>) -> Result<FaultAction, Reply> {
    let flag = |key: &str| action.get(key).and_then(Value::as_bool) == Some(true);
    if let Some(respond) = action.get("respond") {
        parse_respond(respond)
    } else if let Some(ms) = action.get("delay_ms") {
        let ms = ms
            .as_u64()
            .ok_or_else(|| error(400, "\"delay_ms\" must be a non-negative integer"))?;
        Ok(FaultAction::Delay(Duration::from_millis(ms)))
    } else if flag("drop") {
        Ok(FaultAction::Drop)
    } else if let Some(v) = action.get("truncate") {
        Ok(FaultAction::Truncate {
            status: status(v, "truncate")?,
            body: body(v),
            cut_after: to_usize(number(v, "truncate", "cut_after")?),
        })
    } else if let Some(v) = action.get("trickle") {
        Ok(FaultAction::Trickle {
            status: status(v, "trickle")?,
            body: body(v),
            interval: Duration::from_millis(number(v, "trickle", "interval_ms")?),
        })
    } else if flag("stall") {
        Ok(FaultAction::Stall)
    } else if let Some(v) = action.get("chunked") {
        Ok(FaultAction::Chunked {
            status: status(v, "chunked")?,
            body: body(v),
            chunk: to_usize(number(v, "chunked", "chunk")?).max(1),
        })
    } else if let Some(v) = action.get("oversized") {
        Ok(FaultAction::Oversized {
            status: status(v, "oversized")?,
            bytes: number(v, "oversized", "bytes")?,
        })
    } else if flag("close_after") {
        Ok(FaultAction::CloseAfter)
    } else if let Some(v) = action.get("garbage") {
        let bytes = v
            .as_str()
            .ok_or_else(|| error(400, "\"garbage\" must be a string"))?;
        Ok(FaultAction::Garbage(bytes.as_bytes().to_vec()))
    } else {
        Err(error(400, ACTIONS))
    }
}

/// `v.status`: an HTTP status code.
fn status(v: &Value, action: &str) -> Result<u16, Reply> {
    v.get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| {
            error(
                400,
                &format!("\"{action}.status\" must be an HTTP status code"),
            )
        })
}

/// `v.body`: a string sent as is, any other JSON value sent serialized; absent or null: empty.
fn body(v: &Value) -> String {
    match v.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `v.key`: a non-negative integer.
fn number(v: &Value, action: &str, key: &str) -> Result<u64, Reply> {
    v.get(key).and_then(Value::as_u64).ok_or_else(|| {
        error(
            400,
            &format!("\"{action}.{key}\" must be a non-negative integer"),
        )
    })
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `{"status": 503, "body": "..." (or any JSON value, sent serialized), "headers": {"Name": "value"}}`.
fn parse_respond(v: &Value) -> Result<FaultAction, Reply> {
    let status = status(v, "respond")?;
    let body = body(v);
    let headers = match v.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(name, value)| match value {
                Value::String(s) => Ok((name.clone(), s.clone())),
                Value::Number(n) => Ok((name.clone(), n.to_string())),
                _ => Err(error(400, "header values must be strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(error(400, "\"respond.headers\" must be an object")),
    };
    Ok(FaultAction::Respond {
        status,
        body,
        headers,
    })
}

fn requests(shared: &Shared) -> Reply {
    let log = shared.log();
    let list: Vec<Value> = log
        .records
        .iter()
        .map(|r| {
            let mut headers = Map::new();
            for (name, value) in &r.headers {
                match headers.get_mut(name) {
                    Some(Value::String(prev)) => {
                        prev.push_str(", ");
                        prev.push_str(value);
                    }
                    _ => {
                        headers.insert(name.clone(), value.as_str().into());
                    }
                }
            }
            json!({
                "method": r.method,
                "path": r.path,
                "headers": headers,
                "body": r.body,
                "status": r.status,
            })
        })
        .collect();
    drop(log);
    Reply::json(200, &Value::Array(list))
}

/// Any of `url_requests`, `url_window_ms`, `pattern_requests`, `pattern_window_ms`,
/// `all_requests`, `all_window_ms`, `max_urls`, `max_patterns`, `purge_status_delay_ms`,
/// `retry_after` (`"none"`, `"seconds"`, `"date"`), `record` and `log` (booleans).
fn configure(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let data = parse(body)?;
    let mut account = shared.account();
    let mut limits = account.limits.clone();
    let mut retry_after = account.retry_after;
    let mut delay = account.purge_delay;
    let (mut record, mut log) = (None, None);
    for (key, v) in &data {
        let num = || {
            v.as_u64()
                .ok_or_else(|| error(400, &format!("\"{key}\" must be a non-negative integer")))
        };
        let count = || num().map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let flag = || {
            v.as_bool()
                .ok_or_else(|| error(400, &format!("\"{key}\" must be a boolean")))
        };
        match key.as_str() {
            "url_requests" => limits.url_requests = count()?,
            "url_window_ms" => limits.url_window = Duration::from_millis(num()?),
            "pattern_requests" => limits.pattern_requests = count()?,
            "pattern_window_ms" => limits.pattern_window = Duration::from_millis(num()?),
            "all_requests" => limits.all_requests = count()?,
            "all_window_ms" => limits.all_window = Duration::from_millis(num()?),
            "max_urls" => limits.max_urls = usize::try_from(num()?).unwrap_or(usize::MAX),
            "max_patterns" => limits.max_patterns = usize::try_from(num()?).unwrap_or(usize::MAX),
            "purge_status_delay_ms" => delay = Duration::from_millis(num()?),
            "retry_after" => {
                retry_after = v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                    error(
                        400,
                        "\"retry_after\" must be \"none\", \"seconds\" or \"date\"",
                    )
                })?
            }
            "record" => record = Some(flag()?),
            "log" => log = Some(flag()?),
            _ => return Err(error(400, &format!("unknown setting \"{key}\""))),
        }
    }
    account.limits = limits;
    account.retry_after = retry_after;
    account.purge_delay = delay;
    drop(account);
    if let Some(on) = record {
        shared
            .recording
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(on) = log {
        shared.set_logging(on);
    }
    Ok(ok())
}
