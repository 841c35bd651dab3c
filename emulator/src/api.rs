//! The imitated Gcore CDN API.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use crate::server::{Incoming, Reply};
use crate::state::{PurgeKind, Shared};
use crate::{Limits, Resource, RetryAfterMode};

/// The texts of the emulator's error answers. Those from the provider's specification are
/// verbatim; the others are the emulator's own wording.
pub mod messages {
    /// `400` on `DELETE` of an active resource (provider's example, verbatim).
    pub const ACTIVE_RESOURCE: &str = "Deletion of this instance is currently not possible as it is in an active state. Please deactivate it before attempting the deletion request again.";
    /// `400` on `DELETE` of a primary resource for common cache (provider's example, verbatim).
    pub const PRIMARY_RESOURCE: &str = "The CDN resource is used as primary for common cache feature and can not be deleted. Delete linked resources first [29]";
    /// `400` on `DELETE` of a resource integrated with Streaming (provider's example, verbatim).
    pub const STREAMING_RESOURCE: &str =
        "The CDN resource is integrated with the streaming and can not be deleted.";
    /// `400` on `DELETE` of a resource with a custom configuration (provider's example, verbatim).
    pub const CUSTOM_RESOURCE: &str = "You cannot delete this resource because it has a custom configuration. To delete the resource, contact technical support.";
    /// `400` when neither `urls` nor `paths` is given (provider's example, verbatim).
    pub const FIELD_REQUIRED: &str = "This field is required.";
    /// `400` for a blank item (provider's example, verbatim).
    pub const FIELD_BLANK: &str = "This field may not be blank.";
    /// `400` for a pattern not starting with `/` (provider's example, verbatim).
    pub const PATH_START: &str = "A path should start with /.";
    /// `400` for a URL not starting with `/` (emulator's wording).
    pub const URL_START: &str = "A URL should start with /.";
    /// `400` for a `*` elsewhere than at the end of a pattern (emulator's wording).
    pub const WILDCARD_NOT_AT_END: &str = "The * wildcard is allowed only at the end of a pattern.";
    /// `400` for `"urls": []` (Django REST framework's wording).
    pub const LIST_EMPTY: &str = "This list may not be empty.";
    /// `400` for a `null` list or item (Django REST framework's wording).
    pub const FIELD_NULL: &str = "This field may not be null.";
    /// `400` for an item that is not a string (Django REST framework's wording).
    pub const NOT_A_STRING: &str = "Not a valid string.";
    /// `401` (emulator's wording).
    pub const INVALID_API_KEY: &str = "Invalid API key";
    /// `404` (emulator's wording).
    pub const NOT_FOUND: &str = "Not found.";
}

/// Answers an API request (authentication included; faults are handled by the caller).
pub(crate) fn handle(shared: &Shared, rq: &Incoming) -> Reply {
    if !authorized(rq.header("authorization"), &shared.initial.api_key) {
        return errors(401, messages::INVALID_API_KEY);
    }
    let route = rq.route();
    let method = rq.method.as_str();
    if route == "/cdn/clients/me/limits" {
        return match method {
            "GET" => Reply::json(200, &limits_json(&shared.state().limits)),
            _ => not_found(),
        };
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
    match (method, purge) {
        ("GET", false) => match shared.state().resources.get(&id) {
            Some(r) => Reply::json(200, &resource_json(r)),
            None => not_found(),
        },
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
        "active": r.active,
        "status": if r.active { "active" } else { "suspended" },
        "cname": format!("cdn{}.example.com", r.id),
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
    if !shared.state().resources.contains_key(&id) {
        return not_found();
    }
    let data = match parse_object(body) {
        Ok(data) => data,
        Err(reply) => return reply,
    };
    let active = match data.get("active") {
        None => None,
        Some(v) => match as_boolean(v) {
            Some(b) => Some(b),
            None => return bad_request(json!({ "active": ["Must be a valid boolean."] })),
        },
    };
    let mut state = shared.state();
    // Deleted meanwhile by another connection.
    let Some(r) = state.resources.get_mut(&id) else {
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
    let mut state = shared.state();
    let Some(r) = state.resources.get(&id) else {
        return not_found();
    };
    if r.active {
        return errors(400, messages::ACTIVE_RESOURCE);
    }
    if let Some(refusal) = r.refusal {
        return errors(400, refusal.message());
    }
    state.resources.remove(&id);
    state.windows.retain(|(rid, _), _| *rid != id);
    Reply::empty(204)
}

fn purge_request(shared: &Shared, id: i64, body: &str) -> Reply {
    if !shared.state().resources.contains_key(&id) {
        return not_found();
    }
    let data = match parse_object(body) {
        Ok(data) => data,
        Err(reply) => return reply,
    };
    let limits = shared.state().limits.clone();
    let (kind, count, field, max) = if let Some(urls) = data.get("urls") {
        let items = match validate_list("urls", urls, false) {
            Ok(items) => items,
            Err(reply) => return reply,
        };
        if items.iter().any(|u| !u.starts_with('/')) {
            return bad_request(json!({ "urls": [messages::URL_START] }));
        }
        (PurgeKind::Url, items.len(), "URLs", limits.max_urls)
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
        if items.is_empty() {
            (PurgeKind::All, 0, "patterns", usize::MAX)
        } else {
            (
                PurgeKind::Pattern,
                items.len(),
                "patterns",
                limits.max_patterns,
            )
        }
    } else {
        return bad_request(json!({ "paths": [messages::FIELD_REQUIRED] }));
    };
    if count > max {
        return errors(
            400,
            &format!("Too many {field} in one purge request: {count}, the limit is {max}."),
        );
    }
    rate_limit(shared, id, kind)
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

/// Counts an accepted purge in its window, or answers 429.
fn rate_limit(shared: &Shared, id: i64, kind: PurgeKind) -> Reply {
    let mut state = shared.state();
    let (max, window) = match kind {
        PurgeKind::Url => (state.limits.url_requests, state.limits.url_window),
        PurgeKind::Pattern => (state.limits.pattern_requests, state.limits.pattern_window),
        PurgeKind::All => (state.limits.all_requests, state.limits.all_window),
    };
    let mode = state.retry_after;
    let now = Instant::now();
    let times = state.windows.entry((id, kind)).or_default();
    while times
        .front()
        .is_some_and(|&t| now.duration_since(t) >= window)
    {
        times.pop_front();
    }
    if times.len() < max as usize {
        times.push_back(now);
        return Reply::empty(201);
    }
    // The window admits a request once all but max-1 of the counted ones have expired.
    let wait = times
        .get(times.len() - max as usize)
        .map_or(window, |&t| (t + window).saturating_duration_since(now));
    drop(state);
    let name = match kind {
        PurgeKind::Url => "purge by URL",
        PurgeKind::Pattern => "purge by pattern",
        PurgeKind::All => "purge all",
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
            let at = SystemTime::now() + wait;
            // HTTP dates have whole seconds: round up so that waiting until then is enough.
            let since = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(ceil_secs(since));
            reply.with_header("Retry-After", httpdate::fmt_http_date(at))
        }
    }
}

/// Whole seconds, rounded up, at least 1.
fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// `GET /cdn/clients/me/limits`.
fn limits_json(l: &Limits) -> Value {
    json!({
        "purge_max_urls_limit": l.max_urls,
        "purge_pattern_limit": l.max_patterns,
        "purge_request_limit": rate(l.pattern_requests, l.pattern_window),
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
            &json!({ "message": format!("JSON parse error - {}", python_json_error(body, &e)) }),
        )),
    }
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

/// A serde_json error rephrased the way Python's `json` module words it, e.g.
/// `Expecting value: line 1 column 1 (char 0)`. Exact for the common cases (not JSON at
/// all, truncated, missing delimiter); close for the rest.
fn python_json_error(body: &str, e: &serde_json::Error) -> String {
    let full = e.to_string();
    let what = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(w, _)| w);
    let eof = e.is_eof();
    // At EOF serde says what it was parsing; Python says what it expected next, which the
    // last significant character tells.
    let last = body.trim_end().chars().last();
    let text = if what.starts_with("EOF while parsing a string") {
        "Unterminated string starting at"
    } else if what.starts_with("control character") {
        "Invalid control character at"
    } else if what.starts_with("EOF while parsing an object") {
        match last {
            Some('{' | ',') => "Expecting property name enclosed in double quotes",
            Some(':') => "Expecting value",
            _ => "Expecting ',' delimiter",
        }
    } else if what.starts_with("EOF while parsing a list") {
        match last {
            Some('[' | ',') => "Expecting value",
            _ => "Expecting ',' delimiter",
        }
    } else if eof
        || what.starts_with("expected value")
        || what.starts_with("expected ident")
        || what.starts_with("invalid number")
    {
        "Expecting value"
    } else if what.starts_with("trailing comma") {
        "trailing comma"
    } else if what.starts_with("expected `,`") {
        "Expecting ',' delimiter"
    } else if what.starts_with("expected `:`") {
        "Expecting ':' delimiter"
    } else if what.starts_with("key must be a string") {
        "Expecting property name enclosed in double quotes"
    } else if what.starts_with("trailing characters") {
        "Extra data"
    } else {
        what
    };
    // serde counts the column of the offending character from 1, and of an EOF as the
    // length of the last line; Python gives the 1-based column of the position in both.
    let line = e.line().max(1);
    let col = if eof {
        e.column() + 1
    } else {
        e.column().max(1)
    };
    let line_start: usize = body
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let mut byte = (line_start + col - 1).min(body.len());
    let text = match (text, body.as_bytes().get(byte)) {
        ("trailing comma", Some(b'}')) => "Expecting property name enclosed in double quotes",
        ("trailing comma", _) => "Expecting value",
        (text, _) => text,
    };
    if text == "Expecting value" && !eof {
        // Python points at the start of the bad token, serde at or after its end.
        let b = body.as_bytes();
        while byte > 0 && (b[byte - 1].is_ascii_alphanumeric() || b"+-.".contains(&b[byte - 1])) {
            byte -= 1;
        }
    }
    if text.starts_with("Unterminated") {
        // Python points at the opening quote: the last one not escaped.
        let b = body.as_bytes();
        if let Some(q) = (0..b.len())
            .rev()
            .find(|&i| b[i] == b'"' && (i == 0 || b[i - 1] != b'\\'))
        {
            byte = q;
        }
    }
    while !body.is_char_boundary(byte) {
        byte -= 1;
    }
    let char_pos = body[..byte].chars().count();
    let col = char_pos - body[..line_start.min(byte)].chars().count() + 1;
    format!("{text}: line {line} column {col} (char {char_pos})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> String {
        let e = serde_json::from_str::<Value>(body).unwrap_err();
        python_json_error(body, &e)
    }

    #[test]
    fn python_like_json_errors() {
        assert_eq!(msg(""), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(msg("abc"), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(msg("urls=/a"), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(
            msg("{\"a\": 1"),
            "Expecting ',' delimiter: line 1 column 8 (char 7)"
        );
        assert_eq!(
            msg("{\"a\": 1 \"b\": 2}"),
            "Expecting ',' delimiter: line 1 column 9 (char 8)"
        );
        assert_eq!(msg("{} x"), "Extra data: line 1 column 4 (char 3)");
        for (body, want) in [
            (
                "{\"a\" 1}",
                "Expecting ':' delimiter: line 1 column 6 (char 5)",
            ),
            (
                "{a:1}",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            ("{\"a\": tru}", "Expecting value: line 1 column 7 (char 6)"),
            ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
            (
                "{",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            ("{\"a\":", "Expecting value: line 1 column 6 (char 5)"),
            (
                "{\"a\":1,}",
                "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
            ),
            (
                "\"ab\u{1}\"",
                "Invalid control character at: line 1 column 4 (char 3)",
            ),
            ("[1", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
            (
                "{\"paths\": [\"/a",
                "Unterminated string starting at: line 1 column 12 (char 11)",
            ),
            (
                "{\"paths\": [\"/a\"]",
                "Expecting ',' delimiter: line 1 column 17 (char 16)",
            ),
        ] {
            assert_eq!(msg(body), want, "{body}");
        }
        assert_eq!(
            msg("{\n  \"a\": [1,\n  2"),
            "Expecting ',' delimiter: line 3 column 4 (char 16)"
        );
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
