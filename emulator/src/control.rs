//! The control API under `/__emulator/`: no authentication, not recorded.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::api::resource_json;
use crate::server::{Incoming, Reply, Shared};
use crate::{Fault, FaultAction, Refusal, Resource};

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
            shared.state().faults.clear();
            Ok(ok())
        }
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
            Some(Ok(id)) if method == "GET" => match shared.state().resources.get(&id) {
                Some(r) => Ok(Reply::json(200, &control_resource_json(r))),
                None => Err(error(404, "no such resource")),
            },
            Some(Ok(id)) if method == "DELETE" => match shared.state().resources.remove(&id) {
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

/// `{"id": 5, "active": true, "refusal": null|"primary"|"streaming"|"custom"}`.
fn add_resource(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let data = parse(body)?;
    let id = data
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| error(400, "\"id\" must be an integer"))?;
    let active = match data.get("active") {
        None | Some(Value::Null) => true,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| error(400, "\"active\" must be a boolean"))?,
    };
    let refusal = match data.get("refusal") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().and_then(Refusal::parse).ok_or_else(|| {
            error(
                400,
                "\"refusal\" must be null, \"primary\", \"streaming\" or \"custom\"",
            )
        })?),
    };
    let r = Resource {
        id,
        active,
        refusal,
    };
    shared.state().resources.insert(id, r);
    Ok(Reply::json(201, &control_resource_json(&r)))
}

/// `{"method", "path_prefix", "times", "action": {"respond": {...}} | {"delay_ms": n} | {"drop": true}}`.
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
    let action = if let Some(respond) = action.get("respond") {
        parse_respond(respond)?
    } else if let Some(ms) = action.get("delay_ms") {
        let ms = ms
            .as_u64()
            .ok_or_else(|| error(400, "\"delay_ms\" must be a non-negative integer"))?;
        FaultAction::Delay(Duration::from_millis(ms))
    } else if action.get("drop").and_then(Value::as_bool) == Some(true) {
        FaultAction::Drop
    } else {
        return Err(error(
            400,
            "\"action\" must be {\"respond\": {...}}, {\"delay_ms\": n} or {\"drop\": true}",
        ));
    };
    shared.state().faults.push_back(Fault {
        method,
        path_prefix,
        times,
        action,
    });
    Ok(Reply::empty(201))
}

/// `{"status": 503, "body": "..." (or any JSON value, sent serialized), "headers": {"Name": "value"}}`.
fn parse_respond(v: &Value) -> Result<FaultAction, Reply> {
    let status = v
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| error(400, "\"respond.status\" must be an HTTP status code"))?;
    let body = match v.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
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
/// `all_requests`, `all_window_ms`, `max_urls`, `max_patterns`, `retry_after`
/// (`"none"`, `"seconds"`, `"date"`), `record` and `log` (booleans).
fn configure(shared: &Shared, body: &str) -> Result<Reply, Reply> {
    let data = parse(body)?;
    let mut state = shared.state();
    let mut limits = state.limits.clone();
    let mut retry_after = state.retry_after;
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
    state.limits = limits;
    state.retry_after = retry_after;
    drop(state);
    if let Some(on) = record {
        shared.set_recording(on);
    }
    if let Some(on) = log {
        shared.set_logging(on);
    }
    Ok(ok())
}
