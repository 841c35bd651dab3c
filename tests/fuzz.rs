//! Property-based fuzzing of everything that reads untrusted input: the caller's URLs and
//! patterns, base URLs and keys, the server's error bodies and `Retry-After`, and the C
//! boundary itself. A short run is part of `make test`; `make fuzz` runs many more cases.
//! Failing cases proptest finds are saved under `tests/fuzz.proptest-regressions` and
//! replayed first on every run: commit them, and add a named test below for each.

use std::ffi::{c_char, CString};
use std::time::SystemTime;

use gcdn::engine::config::{check_api_key, BaseUrl};
use gcdn::engine::validate::{self, ItemKind};
use gcdn::engine::{api_error, retry};
use gcdn::ffi::*;
use proptest::prelude::*;

fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000),
    )
}

/// Strings that look like what callers pass: paths, full URLs, stars, controls, unicode.
fn item_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[/a-z0-9*?=&.%-]{0,40}",
        "(https?://)?[a-z.]{0,12}(/[a-z0-9*]{0,8}){0,4}(\\?[a-z=]{0,8})?",
        any::<String>(),
        "/[\\x00-\\x1f\\x7f a-z*]{0,10}",
    ]
}

/// JSON values shaped like the API's error bodies, nested a few levels.
fn error_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z0-9]{1,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn accepted_items_meet_the_rules(kind in prop_oneof![Just(ItemKind::Url), Just(ItemKind::Pattern)], text in item_like()) {
        match validate::item(kind, 0, &text) {
            Ok(()) => {
                prop_assert!(text.starts_with('/'));
                prop_assert!(!text.chars().any(char::is_control));
                if kind == ItemKind::Pattern {
                    prop_assert!(text.find('*').is_none_or(|p| p == text.len() - 1));
                }
            }
            Err(e) => {
                // One readable line that never grows with the input.
                prop_assert!(!e.message.chars().any(char::is_control), "{:?}", e.message);
                prop_assert!(e.message.chars().count() < 400, "{}", e.message.len());
            }
        }
    }

    #[test]
    fn dedup_keeps_first_occurrences_in_order(list in prop::collection::vec("/[a-e]{0,2}", 1..300)) {
        let unique = validate::unique_items(ItemKind::Url, &list).unwrap();
        let mut expected: Vec<&str> = Vec::new();
        for s in &list {
            if !expected.contains(&s.as_str()) {
                expected.push(s);
            }
        }
        prop_assert_eq!(unique, expected);
    }

    #[test]
    fn error_bodies_always_describe_in_one_bounded_line(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..2000)) {
        let text = api_error::describe(status, &body, "");
        let prefix = format!("HTTP {status}");
        prop_assert!(text.starts_with(&prefix));
        prop_assert!(!text.chars().any(char::is_control), "{:?}", text);
        prop_assert!(text.chars().count() < 1200);
    }

    #[test]
    fn structured_error_bodies_quote_their_words(value in error_json()) {
        let body = serde_json::json!({ "errors": value }).to_string();
        let text = api_error::describe(400, body.as_bytes(), "");
        prop_assert!(text.starts_with("HTTP 400"));
        prop_assert!(!text.chars().any(char::is_control));
        prop_assert!(text.chars().count() < 1200);
    }

    #[test]
    fn retry_after_never_panics(value in any::<String>()) {
        let _ = retry::parse_retry_after(&value, SystemTime::now());
    }

    #[test]
    fn base_urls_never_let_the_key_go_out_in_clear(url in prop_oneof![
        "(https?|HTTP|ftp)://[a-z0-9.:\\[\\]@-]{0,30}(/[a-z]{0,5}){0,2}",
        any::<String>(),
    ]) {
        if let Ok(parsed) = BaseUrl::parse(&url) {
            let s = parsed.as_str();
            prop_assert!(s.starts_with("https://") || s.starts_with("http://"));
            if let Some(rest) = s.strip_prefix("http://") {
                let host = rest.split('/').next().unwrap();
                prop_assert!(
                    host.starts_with("127.") || host.starts_with("[::1]") || host.to_ascii_lowercase().starts_with("localhost"),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn keys_with_controls_are_refused(key in any::<String>()) {
        if check_api_key(&key).is_ok() {
            prop_assert!(!key.is_empty() && key.is_ascii() && !key.chars().any(char::is_control));
        }
    }

    /// Raw bytes through the C boundary: any status but a panic, and nothing sent when the
    /// input is refused (the client points at a closed port with no retries, so a request
    /// that did go out comes back as a network error, never as invalid input).
    #[test]
    fn the_c_boundary_takes_any_bytes(items in prop::collection::vec(prop::collection::vec(1u8..=255, 0..30), 0..5), id in any::<i64>()) {
        let c = closed_port_client();
        let owned: Vec<CString> = items.into_iter().map(|b| CString::new(b).unwrap()).collect();
        let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        for status in [
            unsafe { gcdn_purge_urls(c, id, ptrs.as_ptr(), ptrs.len(), std::ptr::null_mut()) },
            unsafe { gcdn_purge_patterns(c, id, ptrs.as_ptr(), ptrs.len(), std::ptr::null_mut()) },
        ] {
            prop_assert!(status == GCDN_ERR_INVALID_ARGUMENT || status == GCDN_ERR_NETWORK, "{status}");
        }
    }
}

/// One client for the whole run, pointed at a loopback port nothing listens on.
fn closed_port_client() -> *const gcdn_client {
    use std::sync::OnceLock;
    struct Handle(*mut gcdn_client);
    unsafe impl Send for Handle {}
    unsafe impl Sync for Handle {}
    static CLIENT: OnceLock<Handle> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let url = CString::new(format!("http://127.0.0.1:{port}")).unwrap();
            let key = CString::new("fuzz-key").unwrap();
            let mut client = std::ptr::null_mut();
            unsafe {
                let options = gcdn_options_new();
                assert_eq!(
                    gcdn_options_set_base_url(options, url.as_ptr(), std::ptr::null_mut()),
                    GCDN_OK
                );
                assert_eq!(
                    gcdn_options_set_max_retries(options, 0, std::ptr::null_mut()),
                    GCDN_OK
                );
                assert_eq!(
                    gcdn_options_set_timeout_ms(options, 2_000, std::ptr::null_mut()),
                    GCDN_OK
                );
                assert_eq!(
                    gcdn_client_new(key.as_ptr(), options, &mut client, std::ptr::null_mut()),
                    GCDN_OK
                );
                gcdn_options_free(options);
            }
            Handle(client)
        })
        .0
}

// Named regressions: inputs that once looked risky, pinned.
#[test]
fn regression_star_alone_and_multibyte_before_star() {
    assert!(validate::item(ItemKind::Pattern, 0, "/*").is_ok());
    assert!(validate::item(ItemKind::Pattern, 0, "/é*").is_ok());
    assert!(validate::item(ItemKind::Pattern, 0, "/*é").is_err());
}

#[test]
fn regression_deeply_nested_error_body() {
    let mut body = String::new();
    for _ in 0..200 {
        body.push_str(r#"{"errors":"#);
    }
    body.push_str("\"x\"");
    for _ in 0..200 {
        body.push('}');
    }
    assert!(api_error::describe(400, body.as_bytes(), "").starts_with("HTTP 400"));
}
