//! Turning an API error response into a status and a message that quotes the API's own words.

use serde_json::Value;

use super::error::{quote, redact, Status};

/// Longest piece of server text quoted in a message.
const WORDS_MAX: usize = 500;

/// The status a final (not retried, or retried to no avail) HTTP answer maps to.
pub fn status_for(http: u16) -> Status {
    match http {
        401 | 403 => Status::Unauthorized,
        404 => Status::NotFound,
        429 => Status::RateLimited,
        400..=499 => Status::Rejected,
        500..=599 => Status::Server,
        _ => Status::Protocol,
    }
}

/// `HTTP 400: <the API's words>` for every error-body shape the API documents:
/// `{"errors": ["..."]}`, `{"errors": {"paths": ["..."]}}`, `{"errors": {"paths": {"0": ["..."]}}}`,
/// `{"message": "..."}`, and `{"detail": "..."}`; any other body is quoted as text.
/// `secret` (the API key, or "") is redacted from the server's words before they are
/// escaped or cut, so no part of it can survive in any form.
pub fn describe(http: u16, body: &[u8], secret: &str) -> String {
    match api_words(body, secret) {
        Some(words) => format!("HTTP {http}: {words}"),
        None => {
            let text = String::from_utf8_lossy(body);
            let text = redact(text.trim(), secret);
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {http} with an empty body")
            } else {
                format!("HTTP {http}: {}", quote(text, WORDS_MAX))
            }
        }
    }
}

/// The human words in a JSON error body, or `None` when the body is not one.
pub fn api_words(body: &[u8], secret: &str) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut parts = Vec::new();
    let obj = value.as_object()?;
    if let Some(errors) = obj.get("errors") {
        collect(errors, "", &mut parts);
    }
    for key in ["message", "detail", "error"] {
        if let Some(Value::String(s)) = obj.get(key) {
            parts.push(s.clone());
        }
    }
    if parts.is_empty() {
        return None;
    }
    let joined = parts.join("; ");
    Some(clean(&redact(&joined, secret)))
}

/// Flatten an `errors` value: strings as they are, objects as `field: words` or
/// `field[index]: words`, nested to any depth.
fn collect(value: &Value, label: &str, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(if label.is_empty() {
            s.clone()
        } else {
            format!("{label}: {s}")
        }),
        Value::Array(items) => items.iter().for_each(|v| collect(v, label, out)),
        Value::Object(map) => {
            for (key, v) in map {
                let next = if key.chars().all(|c| c.is_ascii_digit()) && !label.is_empty() {
                    format!("{label}[{key}]")
                } else if label.is_empty() {
                    key.clone()
                } else {
                    format!("{label}.{key}")
                };
                collect(v, &next, out);
            }
        }
        Value::Null => {}
        other => out.push(if label.is_empty() {
            other.to_string()
        } else {
            format!("{label}: {other}")
        }),
    }
}

/// Keep server words on one line and within bounds.
fn clean(words: &str) -> String {
    let mut out = String::with_capacity(words.len().min(WORDS_MAX));
    for (n, c) in words.chars().enumerate() {
        if n == WORDS_MAX {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_of_errors() {
        let body = br#"{"errors": ["Deletion of this instance is currently not possible as it is in an active state. Please deactivate it before attempting the deletion request again."]}"#;
        assert_eq!(
            describe(400, body, ""),
            "HTTP 400: Deletion of this instance is currently not possible as it is in an active state. Please deactivate it before attempting the deletion request again."
        );
    }

    #[test]
    fn field_errors() {
        assert_eq!(
            describe(
                400,
                br#"{"errors": {"paths": ["A path should start with /."]}}"#,
                ""
            ),
            "HTTP 400: paths: A path should start with /."
        );
    }

    #[test]
    fn indexed_field_errors() {
        assert_eq!(
            describe(
                400,
                br#"{"errors": {"paths": {"0": ["This field may not be blank."], "3": ["x"]}}}"#,
                ""
            ),
            "HTTP 400: paths[0]: This field may not be blank.; paths[3]: x"
        );
    }

    #[test]
    fn message_and_detail() {
        assert_eq!(
            describe(400, br#"{"message": "JSON parse error - Expecting ',' delimiter: line 3 column 33 (char 77)\n"}"#, ""),
            "HTTP 400: JSON parse error - Expecting ',' delimiter: line 3 column 33 (char 77)"
        );
        assert_eq!(
            describe(401, br#"{"detail": "Invalid token."}"#, ""),
            "HTTP 401: Invalid token."
        );
    }

    #[test]
    fn other_bodies_are_quoted_as_text() {
        assert_eq!(
            describe(502, b"<html>Bad Gateway</html>", ""),
            "HTTP 502: \"<html>Bad Gateway</html>\""
        );
        assert_eq!(describe(500, b"", ""), "HTTP 500 with an empty body");
        assert_eq!(describe(500, b" \r\n", ""), "HTTP 500 with an empty body");
        assert_eq!(
            describe(400, br#"{"unexpected": 1}"#, ""),
            "HTTP 400: \"{\\\"unexpected\\\": 1}\""
        );
        assert_eq!(describe(400, br#"["a"]"#, ""), "HTTP 400: \"[\\\"a\\\"]\"");
        let garbage = [0xffu8, 0xfe, b'x', 0];
        assert_eq!(
            describe(500, &garbage, ""),
            "HTTP 500: \"\u{fffd}\u{fffd}x\\u{0}\""
        );
    }

    #[test]
    fn long_words_are_cut() {
        let long = format!(r#"{{"errors": ["{}"]}}"#, "x".repeat(5000));
        assert!(describe(400, long.as_bytes(), "").chars().count() < 600);
    }

    #[test]
    fn the_secret_is_redacted_before_escaping_or_cutting() {
        let key = r#"Sec"ret\Key-1234567890"#;
        let text = format!("invalid token {key}");
        let shown = describe(401, text.as_bytes(), key);
        assert_eq!(shown, "HTTP 401: \"invalid token [REDACTED]\"");
        // Near the cut: no prefix of the key survives either.
        let long = format!("{}token={key}", "x".repeat(490));
        let shown = describe(401, long.as_bytes(), key);
        assert!(!shown.contains("Sec"), "{shown}");
        let json =
            serde_json::json!({ "errors": [format!("{} {key}", "y".repeat(495))] }).to_string();
        let shown = describe(400, json.as_bytes(), key);
        assert!(!shown.contains("Sec"), "{shown}");
    }

    #[test]
    fn the_secret_is_redacted_in_its_encoded_forms() {
        let key = "k3y$with/slash+plus";
        for body in [
            r#"{"token": "k3y\u0024with\/slash+plus"}"#.to_owned(),
            r#"{"token": "k3y\u0024with\u002Fslash\u002bplus"}"#.to_owned(),
            "bad k3y%24with%2Fslash%2bplus".to_owned(),
            format!("x{}", "y".repeat(490)) + "k3y%24with%2fslash%2Bplus",
        ] {
            let shown = describe(400, body.as_bytes(), key);
            assert!(!shown.contains("k3y"), "{body}: {shown}");
        }
    }

    #[test]
    fn classes() {
        assert_eq!(status_for(401), Status::Unauthorized);
        assert_eq!(status_for(403), Status::Unauthorized);
        assert_eq!(status_for(404), Status::NotFound);
        assert_eq!(status_for(429), Status::RateLimited);
        assert_eq!(status_for(400), Status::Rejected);
        assert_eq!(status_for(409), Status::Rejected);
        assert_eq!(status_for(503), Status::Server);
        assert_eq!(status_for(302), Status::Protocol);
    }
}
