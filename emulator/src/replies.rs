//! The API's JSON: its views of resources and purge statuses, its error bodies, and request
//! bodies parsed with the API's own 400s. Shared by [`api`](crate::api),
//! [`listings`](crate::listings) and [`control`](crate::control).

use serde_json::{json, Map, Value};

use crate::model::{iso8601, messages, PurgeStatus, PurgeType, Resource};
use crate::wire::Reply;

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
        "options": r.options,
    })
}

/// The API's view of a purge status.
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

/// `{"errors": [message]}` with `status`.
pub(crate) fn errors(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "errors": [message] }))
}

/// The API's 404.
pub(crate) fn not_found() -> Reply {
    errors(404, messages::NOT_FOUND)
}

/// A 400 with the field errors `errors`.
pub(crate) fn bad_request(errors: Value) -> Reply {
    Reply::json(400, &json!({ "errors": errors }))
}

/// Parses a request body that must be a JSON object, answering 400 the way the API does.
pub(crate) fn parse_object(body: &str) -> Result<Map<String, Value>, Reply> {
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
pub(crate) fn python_type(v: &Value) -> &'static str {
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
}
