//! Routing of API requests: recorded, checked against the queued [`faults`],
//! then answered from the [model](crate::model): the resource and purge endpoints here, the
//! listings in [`listings`](crate::listings). (The façade's `Router`, the wire layer's
//! handler, sends control requests to [`control`](crate::control) and the rest here.)

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::cachekey::cache_key;
use crate::faults;
use crate::listings::{list_purges, list_resources};
use crate::model::{messages, Limits, PurgeState, PurgeType, RetryAfterMode, MAX_PREFETCH_PATHS};
use crate::replies::{bad_request, errors, not_found, parse_object, python_type, resource_json};
use crate::types::{Recorded, Shared};
use crate::wire::{Answer, Incoming, Reply, Stop};

/// Answers an API request: records it, then answers it, or misbehaves by the first matching
/// fault (a delay sleeps on `stop`).
pub(crate) fn serve(shared: &Shared, rq: Incoming, stop: &Stop) -> Answer {
    let seq = shared.recording().then(|| {
        shared.log().push(Recorded {
            method: rq.method.clone(),
            path: rq.path.clone(),
            headers: rq.headers.clone(),
            body: rq.body.clone(),
            status: 0,
            received: std::time::Instant::now(),
        })
    });
    // Records the status sent (0: none) and logs the request with `what` happened.
    let sent = |status: u16, what: &str| {
        if let Some(seq) = seq {
            shared.log().set_status(seq, status);
        }
        shared.log_line(|| format!("{} {} {what}", rq.method, rq.path));
    };
    let answered = |reply: Reply, what: &str| {
        sent(reply.status, &format!("{}{what}", reply.status));
        reply
    };
    match shared.take_fault(&rq.method, &rq.path) {
        None => Answer::Reply(answered(handle(shared, &rq), "")),
        Some(fault) => faults::misbehave(fault, stop, || handle(shared, &rq), &sent),
    }
}

/// Answers an API request (authentication included; faults are handled by the caller).
fn handle(shared: &Shared, rq: &Incoming) -> Reply {
    if !authorized(rq.header("authorization"), &shared.initial.api_key) {
        return errors(401, messages::INVALID_API_KEY);
    }
    let (route, method) = (rq.route(), rq.method.as_str());
    match (method, route) {
        ("GET", "/cdn/clients/me/limits") => {
            return Reply::json(200, &limits_json(&shared.account().limits))
        }
        ("GET", "/cdn/resources") => return list_resources(shared, rq),
        ("GET", "/cdn/purge_statuses") => return list_purges(shared, rq),
        _ => {}
    }
    let Some(rest) = route.strip_prefix("/cdn/resources/") else {
        return not_found();
    };
    let (id, sub) = match rest.split_once('/') {
        None => (rest, ""),
        Some((id, sub @ ("purge" | "rules" | "prefetch"))) => (id, sub),
        Some(_) => return not_found(),
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    let found = shared
        .account()
        .live(id)
        .map(|r| (resource_json(r), r.rules.clone()));
    let Some((found, rules)) = found else {
        return not_found();
    };
    match (method, sub) {
        ("GET", "") => Reply::json(200, &found),
        ("PATCH", "") => patch(shared, id, &rq.body),
        ("DELETE", "") => delete(shared, id),
        ("POST", "purge") => purge_request(shared, id, &rq.body),
        ("POST", "prefetch") => prefetch_request(shared, id, &rq.body),
        // A plain list (the API pages nothing here): `limit`/`offset` are ignored.
        ("GET", "rules") => Reply::json(200, &Value::Array(rules)),
        _ => not_found(),
    }
}

/// `Authorization: <scheme> <key>` with scheme `apikey` in any case.
fn authorized(header: Option<&str>, key: &str) -> bool {
    header
        .and_then(|h| h.trim().split_once(' '))
        .is_some_and(|(scheme, k)| scheme.eq_ignore_ascii_case("apikey") && k.trim_start() == key)
}

fn patch(shared: &Shared, id: i64, body: &str) -> Reply {
    let data = match parse_object(body) {
        Ok(data) => data,
        Err(reply) => return reply,
    };
    let active = match data.get("active") {
        None => None,
        Some(v) => match as_boolean(v) {
            Some(b) => Some(b),
            None => return bad_request(json!({ "active": [messages::INVALID_BOOLEAN] })),
        },
    };
    let mut account = shared.account();
    // Deleted meanwhile by another connection.
    let Some(r) = account.resources.get_mut(&id).filter(|r| !r.deleted) else {
        return not_found();
    };
    if let Some(active) = active {
        r.active = active;
    }
    Reply::json(200, &resource_json(r))
}

/// Django REST framework's `BooleanField` inputs.
fn as_boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
            "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn delete(shared: &Shared, id: i64) -> Reply {
    let mut account = shared.account();
    let Some(r) = account.live(id) else {
        return not_found();
    };
    if r.active {
        return errors(400, messages::ACTIVE_RESOURCE);
    }
    if let Some(refusal) = r.refusal {
        return errors(400, refusal.message());
    }
    account.remove(id);
    Reply::empty(204)
}

fn purge_request(shared: &Shared, id: i64, body: &str) -> Reply {
    let data = match parse_object(body) {
        Ok(data) => data,
        Err(reply) => return reply,
    };
    let limits = shared.account().limits.clone();
    let (kind, items, field, max) = if let Some(urls) = data.get("urls") {
        let items = match validate_list("urls", urls, false) {
            Ok(items) => items,
            Err(reply) => return reply,
        };
        if items.iter().any(|u| !u.starts_with('/')) {
            return bad_request(json!({ "urls": [messages::URL_START] }));
        }
        (PurgeType::Urls, items, "URLs", limits.max_urls)
    } else if let Some(paths) = data.get("paths") {
        let items = match validate_list("paths", paths, true) {
            Ok(items) => items,
            Err(reply) => return reply,
        };
        if items.iter().any(|p| !p.starts_with('/')) {
            return bad_request(json!({ "paths": [messages::PATH_START] }));
        }
        if items
            .iter()
            .any(|p| p.find('*').is_some_and(|i| i + 1 != p.len()))
        {
            return bad_request(json!({ "paths": [messages::WILDCARD_NOT_AT_END] }));
        }
        match items.len() {
            0 => (PurgeType::All, items, "patterns", usize::MAX),
            _ => (PurgeType::Patterns, items, "patterns", limits.max_patterns),
        }
    } else {
        return bad_request(json!({ "paths": [messages::FIELD_REQUIRED] }));
    };
    if items.len() > max {
        return errors(
            400,
            &format!(
                "Too many {field} in one purge request: {}, the limit is {max}.",
                items.len()
            ),
        );
    }
    let mut account = shared.account();
    let can_by_url = account.live(id).map(|r| r.can_purge_by_urls);
    match can_by_url {
        None => return not_found(),
        Some(false) if kind == PurgeType::Urls => return errors(400, messages::URL_PURGE_DISABLED),
        Some(_) => {}
    }
    let mode = account.retry_after;
    let (wait, max, window) = match account.purge(id, kind, items.clone()) {
        Ok(end) => {
            // The edge drops what the items name, unless the purge is to end Failed.
            if end != PurgeState::Failed {
                let mut edge = shared.edge();
                match kind {
                    PurgeType::Urls => edge.purge_urls(id, &items),
                    PurgeType::Patterns | PurgeType::All => edge.purge_patterns(id, &items),
                }
            }
            return Reply::empty(201);
        }
        Err(e) => e,
    };
    drop(account);
    let name = match kind {
        PurgeType::Urls => "purge by URL",
        PurgeType::Patterns => "purge by pattern",
        PurgeType::All => "purge all",
    };
    too_many(mode, name, wait, max, window)
}

/// `POST /cdn/resources/{id}/prefetch` `{"paths": [...]}`: checked as a purge's `urls` are,
/// at most [`MAX_PREFETCH_PATHS`], counted in the resource's prefetch window; once accepted,
/// the edge caches every path (now).
fn prefetch_request(shared: &Shared, id: i64, body: &str) -> Reply {
    let data = match parse_object(body) {
        Ok(data) => data,
        Err(reply) => return reply,
    };
    let Some(paths) = data.get("paths") else {
        return bad_request(json!({ "paths": [messages::FIELD_REQUIRED] }));
    };
    let items = match validate_list("paths", paths, false) {
        Ok(items) => items,
        Err(reply) => return reply,
    };
    if items.iter().any(|p| !p.starts_with('/')) {
        return bad_request(json!({ "paths": [messages::PATH_START] }));
    }
    if items.len() > MAX_PREFETCH_PATHS {
        return errors(
            400,
            &format!(
                "Too many paths in one prefetch request: {}, the limit is {MAX_PREFETCH_PATHS}.",
                items.len()
            ),
        );
    }
    let mut account = shared.account();
    let Some((options, rules)) = account
        .live(id)
        .map(|r| (r.options.clone(), r.rules.clone()))
    else {
        return not_found();
    };
    let mode = account.retry_after;
    match account.prefetch(id) {
        Ok(()) => {
            let now = SystemTime::now();
            let mut edge = shared.edge();
            for p in &items {
                edge.store(id, cache_key(&options, &rules, p), now);
            }
            Reply::empty(201)
        }
        Err((wait, max, window)) => {
            drop(account);
            too_many(mode, "prefetch", wait, max, window)
        }
    }
}

/// The `429` of a request over its rate window, with `Retry-After` as `mode` says.
fn too_many(mode: RetryAfterMode, name: &str, wait: Duration, max: u32, window: Duration) -> Reply {
    let reply = errors(
        429,
        &format!(
            "Too many requests: {name} is limited to {} per CDN resource.",
            rate(max, window)
        ),
    );
    match mode {
        RetryAfterMode::None => reply,
        RetryAfterMode::Seconds => reply.with_header("Retry-After", ceil_secs(wait).to_string()),
        RetryAfterMode::HttpDate => {
            // HTTP dates have whole seconds: round up so that waiting until then is enough.
            let since = (SystemTime::now() + wait)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(ceil_secs(since));
            reply.with_header("Retry-After", httpdate::fmt_http_date(at))
        }
    }
}

/// Django REST framework's `ListField(child=CharField())` checks; returns the trimmed items.
fn validate_list(field: &str, v: &Value, allow_empty: bool) -> Result<Vec<String>, Reply> {
    let items = match v {
        Value::Array(items) => items,
        Value::Null => return Err(bad_request(json!({ field: [messages::FIELD_NULL] }))),
        other => {
            let msg = format!(
                "Expected a list of items but got type \"{}\".",
                python_type(other)
            );
            return Err(bad_request(json!({ field: [msg] })));
        }
    };
    if items.is_empty() && !allow_empty {
        return Err(bad_request(json!({ field: [messages::LIST_EMPTY] })));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut item_errors = Map::new();
    for (i, item) in items.iter().enumerate() {
        let text = match item {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Null => {
                item_errors.insert(i.to_string(), json!([messages::FIELD_NULL]));
                continue;
            }
            _ => {
                item_errors.insert(i.to_string(), json!([messages::NOT_A_STRING]));
                continue;
            }
        };
        if text.is_empty() {
            item_errors.insert(i.to_string(), json!([messages::FIELD_BLANK]));
            continue;
        }
        out.push(text);
    }
    if item_errors.is_empty() {
        Ok(out)
    } else {
        Err(bad_request(json!({ field: item_errors })))
    }
}

/// Whole seconds, rounded up, at least 1.
fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// `GET /cdn/clients/me/limits`.
fn limits_json(l: &Limits) -> Value {
    let (pattern_requests, pattern_window) = l.pattern_rate();
    json!({
        "purge_max_urls_limit": l.max_urls,
        "purge_pattern_limit": l.max_patterns,
        "purge_request_limit": rate(pattern_requests, pattern_window),
        "purge_by_urls_request_limit": rate(l.url_requests, l.url_window),
        "prefetch_request_limit": rate(l.prefetch_requests, l.prefetch_window),
    })
}

/// A rate in the API's notation: `"1/m"`; `s`, `h` and `d` for the other whole units,
/// `"2/90s"` for other whole seconds and `"2/250ms"` for the rest.
fn rate(n: u32, window: Duration) -> String {
    let ms = window.as_millis();
    let unit = match ms {
        1_000 => "s".to_owned(),
        60_000 => "m".to_owned(),
        3_600_000 => "h".to_owned(),
        86_400_000 => "d".to_owned(),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    };
    format!("{n}/{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(rate(1, Duration::from_secs(60)), "1/m");
        assert_eq!(rate(2, Duration::from_secs(1)), "2/s");
        assert_eq!(rate(2, Duration::from_secs(90)), "2/90s");
        assert_eq!(rate(3, Duration::from_millis(250)), "3/250ms");
    }

    #[test]
    fn auth_scheme_is_case_insensitive() {
        assert!(authorized(Some("apikey k"), "k"));
        assert!(authorized(Some("APIKey k"), "k"));
        assert!(!authorized(Some("Bearer k"), "k"));
        assert!(!authorized(Some("apikey x"), "k"));
        assert!(!authorized(Some("apikeyk"), "k"));
        assert!(!authorized(None, "k"));
    }
}
