//! Routing of API requests: recorded, checked against the queued faults, then answered from
//! the [model](crate::model). (The façade's `Router`, the wire layer's handler, sends control
//! requests to [`control`](crate::control) and the rest here.)

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::model::{
    iso8601, messages, micros, parse_iso8601, Endpoint, Limits, ListingFault, PurgeStatus,
    PurgeType, Resource, RetryAfterMode,
};
use crate::types::{FaultAction, Recorded, Shared};
use crate::wire::{Answer, Body, Incoming, Reply, Stop};

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
    let fault = shared.take_fault(&rq.method, &rq.path);
    let labelled =
        |status: u16, body: String| Reply::labelled(status, body.into_bytes(), Vec::new());
    match fault {
        None => Answer::Reply(answered(handle(shared, &rq), "")),
        Some(FaultAction::Respond {
            status,
            body,
            headers,
        }) => Answer::Reply(answered(
            Reply::labelled(status, body.into_bytes(), headers),
            "",
        )),
        Some(FaultAction::Delay(d)) if !stop.sleep(d) => Answer::Drop,
        Some(FaultAction::Delay(_)) => Answer::Reply(answered(handle(shared, &rq), "")),
        Some(FaultAction::Drop) => {
            sent(0, "dropped");
            Answer::Drop
        }
        Some(FaultAction::Truncate {
            status,
            body,
            cut_after,
        }) => Answer::Truncate(answered(labelled(status, body), " truncated"), cut_after),
        Some(FaultAction::Trickle {
            status,
            body,
            interval,
        }) => Answer::Trickle(answered(labelled(status, body), " trickled"), interval),
        Some(FaultAction::Stall) => {
            sent(0, "stalled");
            Answer::Stall
        }
        Some(FaultAction::Chunked {
            status,
            body,
            chunk,
        }) => {
            let pieces: Vec<Vec<u8>> = body
                .as_bytes()
                .chunks(chunk.max(1))
                .map(<[u8]>::to_vec)
                .collect();
            let mut reply = labelled(status, body);
            reply.body = Body::Stream {
                len: None,
                pieces: Box::new(pieces.into_iter()),
            };
            Answer::Reply(answered(reply, " chunked"))
        }
        Some(FaultAction::Oversized { status, bytes }) => {
            let mut reply = labelled(status, String::new())
                .with_header("Content-Type", "text/plain; charset=utf-8".into());
            reply.body = filler(b'x', bytes, Vec::new());
            Answer::Reply(answered(reply, " oversized"))
        }
        Some(FaultAction::CloseAfter) => {
            Answer::ReplyThenClose(answered(handle(shared, &rq), " then closed"))
        }
        Some(FaultAction::Garbage(bytes)) => {
            sent(0, "garbage");
            Answer::Raw(bytes)
        }
    }
}

/// `first`, then `byte` repeated up to `total` bytes in all, in 64 KiB pieces made as they are sent.
fn filler(byte: u8, total: u64, first: Vec<u8>) -> Body {
    const PIECE: u64 = 64 << 10;
    let mut left = total.saturating_sub(first.len() as u64);
    let rest = std::iter::from_fn(move || {
        let n = left.min(PIECE);
        left -= n;
        (n > 0).then(|| vec![byte; n as usize])
    });
    let len = total.max(first.len() as u64);
    Body::Stream {
        len: Some(len),
        pieces: Box::new(std::iter::once(first).chain(rest)),
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
    let (id, purge) = match rest.split_once('/') {
        None => (rest, false),
        Some((id, "purge")) => (id, true),
        Some(_) => return not_found(),
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    let found = shared.account().live(id).map(resource_json);
    let Some(found) = found else {
        return not_found();
    };
    match (method, purge) {
        ("GET", false) => Reply::json(200, &found),
        ("PATCH", false) => patch(shared, id, &rq.body),
        ("DELETE", false) => delete(shared, id),
        ("POST", true) => purge_request(shared, id, &rq.body),
        _ => not_found(),
    }
}

/// `Authorization: <scheme> <key>` with scheme `apikey` in any case.
fn authorized(header: Option<&str>, key: &str) -> bool {
    header
        .and_then(|h| h.trim().split_once(' '))
        .is_some_and(|(scheme, k)| scheme.eq_ignore_ascii_case("apikey") && k.trim_start() == key)
}

/// The API's view of a resource.
pub(crate) fn resource_json(r: &Resource) -> Value {
    json!({
        "id": r.id,
        "cname": r.cname,
        "secondaryHostnames": r.secondary_hostnames,
        "active": r.active,
        "status": r.status(),
        "deleted": r.deleted,
        "can_purge_by_urls": r.can_purge_by_urls,
    })
}

fn errors(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "errors": [message] }))
}

fn not_found() -> Reply {
    errors(404, messages::NOT_FOUND)
}

fn bad_request(errors: Value) -> Reply {
    Reply::json(400, &json!({ "errors": errors }))
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
    let Err((wait, max, window)) = account.purge(id, kind, items) else {
        return Reply::empty(201);
    };
    drop(account);
    let name = match kind {
        PurgeType::Urls => "purge by URL",
        PurgeType::Patterns => "purge by pattern",
        PurgeType::All => "purge all",
    };
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
    })
}

/// A rate in the API's notation: `"1/m"`; `s`, `h` and `d` for the other whole units,
/// `"2/90s"` for other whole seconds and `"2/250ms"` for the rest.
pub(crate) fn rate(n: u32, window: Duration) -> String {
    let ms = window.as_millis();
    let unit = match ms {
        1_000 => "s".to_owned(),
        60_000 => "m".to_owned(),
        3_600_000 => "h".to_owned(),
        86_400_000 => "d".to_owned(),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    };
    format!("{n}/{unit}")
}

/// Parses a request body that must be a JSON object, answering 400 the way the API does.
fn parse_object(body: &str) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Err(bad_request(
            json!({ "non_field_errors": ["No data provided"] }),
        )),
        Ok(other) => Err(bad_request(json!({
            "non_field_errors": [format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type(&other)
            )]
        }))),
        Err(e) => Err(Reply::json(
            400,
            &json!({ "message": format!("JSON parse error - {}", json_error(body, &e)) }),
        )),
    }
}

/// Two recorded shapes of the API's JSON error: not JSON at all gets Python's
/// `Expecting value: line 1 column 1 (char 0)`; any other syntax error gets serde's own
/// words with Python's kind of position (`line L column C (char N)`, 1-based column,
/// 0-based character offset).
fn json_error(body: &str, e: &serde_json::Error) -> String {
    let full = e.to_string();
    let what = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(w, _)| w);
    let (line, col) = (e.line().max(1), e.column() + usize::from(e.is_eof()));
    if !body.trim_start().starts_with(['{', '[']) {
        return "Expecting value: line 1 column 1 (char 0)".to_owned();
    }
    let before: usize = body
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let offset = (before + col.max(1) - 1).min(body.len());
    let chars = body.get(..offset).map_or(offset, |s| s.chars().count());
    format!("{what}: line {line} column {col} (char {chars})")
}

/// Python's name for the type a JSON value decodes to.
fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The query's `key=value` pairs, percent- and `+`-decoded.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A listing's query: its pairs, and the first value of a key.
struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean filter (`true`/`false`, `1`/`0`, any case).
    fn flag(&self, key: &str) -> Result<Option<bool>, Reply> {
        self.get(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(bad_request(json!({ key: [messages::INVALID_BOOLEAN] }))),
            })
            .transpose()
    }

    /// A non-negative integer (`positive`: at least 1).
    fn number(&self, key: &str, positive: bool) -> Result<Option<u64>, Reply> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0 || !positive)
                    .ok_or_else(|| bad_request(json!({ key: [messages::INVALID_INTEGER] })))
            })
            .transpose()
    }

    /// A `from_created`/`to_created` bound, in microseconds since the epoch.
    fn date(&self, key: &str) -> Result<Option<i64>, Reply> {
        self.get(key)
            .map(|v| {
                parse_iso8601(v)
                    .ok_or_else(|| bad_request(json!({ key: [messages::INVALID_DATETIME] })))
            })
            .transpose()
    }
}

fn list_resources(shared: &Shared, rq: &Incoming) -> Reply {
    let q = Query(query_pairs(rq.query()));
    let filters = (|| Ok::<_, Reply>((q.flag("deleted")?, q.flag("enabled")?)))();
    let (deleted, enabled) = match filters {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let eq = |want: Option<&str>, have: &str| want.is_none_or(|w| w.eq_ignore_ascii_case(have));
    let account = shared.account();
    let entries: Vec<Value> = account
        .resources
        .values()
        .filter(|r| {
            eq(q.get("cname"), &r.cname)
                && eq(q.get("status"), r.status())
                && deleted.is_none_or(|d| d == r.deleted)
                && enabled.is_none_or(|a| a == r.active)
                && q.get("secondaryHostnames").is_none_or(|h| {
                    r.secondary_hostnames
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(h))
                })
        })
        .map(resource_json)
        .collect();
    let fault = account.listing_fault(Endpoint::Resources);
    drop(account);
    listing(shared, rq, &q, fault, 1000, entries, Endpoint::Resources)
}

pub(crate) fn purge_json(p: &PurgeStatus) -> Value {
    let field = if p.purge_type == PurgeType::Urls {
        "urls"
    } else {
        "paths"
    };
    json!({
        "purge_id": p.purge_id,
        "status": p.status.as_str(),
        "resource": {"id": p.resource_id, "cname": p.cname},
        "payload": { field: p.items },
        "created": iso8601(p.created),
        "purge_type": p.purge_type.as_str(),
    })
}

fn list_purges(shared: &Shared, rq: &Incoming) -> Reply {
    let q = Query(query_pairs(rq.query()));
    let (from, to) = match (q.date("from_created"), q.date("to_created")) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let eq = |want: Option<&str>, have: &str| want.is_none_or(|w| w.eq_ignore_ascii_case(have));
    let account = shared.account();
    let fault = account.listing_fault(Endpoint::PurgeStatuses);
    let entries: Vec<Value> = account
        .purge_statuses()
        .iter()
        .rev()
        .filter(|p| {
            let created = micros(p.created);
            eq(q.get("cname"), &p.cname)
                && eq(q.get("purge_type"), p.purge_type.as_str())
                && eq(q.get("status"), p.status.as_str())
                && from.is_none_or(|f| created >= f)
                && to.is_none_or(|t| created <= t)
        })
        .map(purge_json)
        .collect();
    drop(account);
    listing(shared, rq, &q, fault, 100, entries, Endpoint::PurgeStatuses)
}

/// Entry `i` of a synthetic listing ([`ListingFault::Huge`], [`ListingFault::EndlessNext`]).
fn synthetic(endpoint: Endpoint, i: u64) -> Value {
    let id = i.saturating_add(1_000_000_000);
    let cname = format!("r{i}.synthetic.example.com");
    match endpoint {
        Endpoint::Resources => json!({"id": id, "cname": cname, "secondaryHostnames": [],
            "active": true, "status": "active", "deleted": false, "can_purge_by_urls": true}),
        Endpoint::PurgeStatuses => json!({"purge_id": id, "status": "Successful",
            "resource": {"id": id, "cname": cname}, "payload": {"urls": [format!("/synthetic/{i}")]},
            "created": "2026-01-01T00:00:00.000000Z", "purge_type": "purge_by_url"}),
    }
}

/// The entries that [`ListingFault::BadEntries`] mixes in: fields missing, fields of the
/// wrong type, and entries that are not objects.
fn bad_entries(endpoint: Endpoint) -> Vec<Value> {
    match endpoint {
        Endpoint::Resources => vec![
            json!({"cname": "no-id.example.com", "active": true, "status": "active"}),
            json!({"id": "seven", "cname": "string-id.example.com", "active": true}),
            json!({"id": 900_000_001, "cname": 42, "active": true}),
            json!({"id": 900_000_002, "cname": "bad-hosts.example.com", "secondaryHostnames": "x.example.com"}),
            json!({"id": 900_000_003, "cname": "bad-active.example.com", "active": "yes", "deleted": null}),
            json!(null),
            json!("resource"),
        ],
        Endpoint::PurgeStatuses => vec![
            json!({"status": "Successful", "purge_type": "purge_all", "created": "2026-01-01T00:00:00.000000Z"}),
            json!({"purge_id": 900_000_001, "status": 3, "resource": {"id": 1, "cname": "x"}}),
            json!({"purge_id": 900_000_002, "status": "Successful", "resource": null, "payload": {"urls": "/a"}}),
            json!({"purge_id": 900_000_003, "status": "Successful", "created": "yesterday", "purge_type": 5}),
            json!(17),
            json!([]),
        ],
    }
}

/// Answers a listing: a plain list without `limit`, else `{count, next, previous, results}`
/// with `limit` (at most `max_limit`) from `offset`; `fault` makes it hostile.
fn listing(
    shared: &Shared,
    rq: &Incoming,
    q: &Query,
    fault: ListingFault,
    max_limit: u64,
    real: Vec<Value>,
    endpoint: Endpoint,
) -> Reply {
    let (limit, offset) = match (q.number("limit", true), q.number("offset", false)) {
        (Ok(l), Ok(o)) => (l, o.unwrap_or(0)),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let count = match fault {
        ListingFault::Huge(n) => n,
        _ => real.len() as u64,
    };
    let entry = |i: u64| match fault {
        ListingFault::Huge(_) => synthetic(endpoint, i),
        _ => real[i as usize].clone(),
    };
    let mix = |entries: Vec<Value>| match fault {
        ListingFault::BadEntries => {
            let mut bad = bad_entries(endpoint).into_iter();
            let mut out = Vec::new();
            for e in entries {
                out.extend(bad.next());
                out.push(e);
            }
            out.extend(bad);
            out
        }
        _ => entries,
    };
    let Some(limit) = limit.map(|l| l.min(max_limit)) else {
        if let ListingFault::Huge(n) = fault {
            return huge_list(endpoint, n);
        }
        return pad(Reply::json(200, &Value::Array(mix(real))), fault);
    };
    let end = offset.saturating_add(limit).min(count);
    let mut results: Vec<Value> = (offset.min(end)..end).map(entry).collect();
    let mut next = (end < count).then(|| offset + limit);
    match fault {
        ListingFault::EndlessNext => {
            let have = results.len() as u64;
            results.extend((have..limit).map(|i| synthetic(endpoint, offset.saturating_add(i))));
            next = Some(offset.saturating_add(limit));
        }
        ListingFault::NextLoops => next = Some(offset),
        _ => {}
    }
    let url = |o: u64| page_url(&shared.base_url, rq, limit, o);
    let body = json!({
        "count": count,
        "next": next.map(url),
        "previous": (offset > 0).then(|| url(offset.saturating_sub(limit))),
        "results": mix(results),
    });
    pad(Reply::json(200, &body), fault)
}

/// [`ListingFault::Oversized`]: the answer, then spaces up to the size.
fn pad(reply: Reply, fault: ListingFault) -> Reply {
    let ListingFault::Oversized(total) = fault else {
        return reply;
    };
    let Body::Bytes(first) = reply.body else {
        return reply;
    };
    Reply {
        body: filler(b' ', total, first),
        ..reply
    }
}

/// A plain list of `n` synthetic entries, streamed (chunked) 1000 at a time.
fn huge_list(endpoint: Endpoint, n: u64) -> Reply {
    const BATCH: u64 = 1000;
    let batches = (0..n.div_ceil(BATCH)).map(move |b| {
        let mut out = Vec::with_capacity(256 * BATCH as usize);
        for i in b * BATCH..((b + 1) * BATCH).min(n) {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, &synthetic(endpoint, i));
        }
        out
    });
    let pieces = std::iter::once(b"[".to_vec())
        .chain(batches)
        .chain(std::iter::once(b"]".to_vec()));
    let mut reply = Reply::json(200, &json!([]));
    reply.body = Body::Stream {
        len: None,
        pieces: Box::new(pieces),
    };
    reply
}

/// The absolute URL of the page at `offset`: the request's query with `limit` and
/// `offset` replaced (the way Django REST framework writes `next` and `previous`).
fn page_url(base: &str, rq: &Incoming, limit: u64, offset: u64) -> String {
    let mut query: Vec<&str> = rq
        .query()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("limit=") && !p.starts_with("offset="))
        .collect();
    let (limit, offset) = (format!("limit={limit}"), format!("offset={offset}"));
    query.push(&limit);
    query.push(&offset);
    format!("{base}{}?{}", rq.route(), query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> String {
        json_error(body, &serde_json::from_str::<Value>(body).unwrap_err())
    }

    #[test]
    fn json_error_shapes() {
        for body in ["", "  ", "urls=/a", "not json"] {
            assert_eq!(
                msg(body),
                "Expecting value: line 1 column 1 (char 0)",
                "{body:?}"
            );
        }
        assert_eq!(
            msg("{\"paths\": [\"/a\"]"),
            "EOF while parsing an object: line 1 column 17 (char 16)"
        );
        assert_eq!(
            msg("{\"a\": 1 \"b\": 2}"),
            "expected `,` or `}`: line 1 column 9 (char 8)"
        );
    }

    #[test]
    fn queries() {
        let q = query_pairs("status=In%20progress&cname=a.example.com&x&purge_type=purge+all");
        assert_eq!(q[0], ("status".into(), "In progress".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
        assert_eq!(q[3].1, "purge all");
    }

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
