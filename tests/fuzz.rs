//! Property-based fuzzing of everything that reads untrusted input: the caller's URLs and
//! patterns, base URLs and keys, the server's error bodies and `Retry-After`, and the C
//! boundary itself; and of the redaction of the key (every encoded form) and of URL
//! passwords. A short run is part of `make test`; `make fuzz` runs many more cases.
//! Failing cases proptest finds are saved under `tests/fuzz.proptest-regressions` and
//! replayed first on every run: commit them, and add a named test below for each.
//! The rate store's URL parser, its script-reply check and its reading of any bytes a
//! server sends are property-tested in tests/ratestore.rs (cargo feature `rate-store`).

use std::ffi::{c_char, CString};
use std::time::SystemTime;

mod common;

use std::borrow::Cow;

use gcdn::engine::config::{check_api_key, resolve_base_url, BaseUrl, Options};
use gcdn::engine::error::{contains_secret, quote, redact, redact_url_password};
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

/// Keys as `check_api_key` takes them, from every printable character but `[` and `]`
/// (so no key is part of `[REDACTED]`).
fn any_key() -> impl Strategy<Value = String> {
    "[!-Z^-~][ -Z\\\\^-~]{2,30}[!-Z^-~]"
}

/// Keys without `%`, `\` or `+`: each of their encoded characters reads one way only, so a
/// decoder of its own (`common::decode_once`) can judge the redaction.
fn plain_key() -> impl Strategy<Value = String> {
    "[!-$&-*,-Z^-~][ -$&-*,-Z^-~]{2,30}[!-$&-*,-Z^-~]"
}

/// `key` with each character written one of the ways URLs and JSON write it, by `choices`.
fn encode(key: &str, choices: &[u8]) -> String {
    key.bytes()
        .zip(choices.iter().cycle())
        .map(|(b, &c)| match c % 7 {
            0 => (b as char).to_string(),
            1 => format!("%{b:02X}"),
            2 => format!("%{b:02x}"),
            3 => format!("\\u{b:04x}"),
            4 => format!("\\u{b:04X}"),
            5 if matches!(b, b'"' | b'\\' | b'/') => format!("\\{}", b as char),
            6 if b == b' ' => "+".to_owned(),
            _ => (b as char).to_string(),
        })
        .collect()
}

proptest! {
    #![proptest_config(cases())]

    /// For random keys and texts, no encoding of the key (any mix of its characters'
    /// forms) survives redaction, nor the key itself, and what is left holds no more.
    #[test]
    fn redact_leaves_no_encoded_form(key in any_key(), choices in prop::collection::vec(any::<u8>(), 1..40),
                                     before in any::<String>(), after in any::<String>(), twice in any::<bool>()) {
        let encoded = encode(&key, &choices);
        let mut text = format!("{before}{encoded}{after}");
        if twice {
            text = format!("{text} {}", encode(&key, &choices[1..].iter().chain([&0]).copied().collect::<Vec<_>>()));
        }
        let out = redact(&text, &key);
        prop_assert!(!out.contains(&key), "{:?} -> {:?}", text, out);
        prop_assert!(!out.contains(&encoded), "{:?} -> {:?}", text, out);
        prop_assert!(!contains_secret(&out, &key), "{:?} -> {:?}", text, out);
        prop_assert!(out.contains("[REDACTED]"));
    }

    /// The same judged by a decoder of its own, on random text around the key's forms; and
    /// a text that does not hold the key is borrowed as it is, without allocating.
    #[test]
    fn redact_agrees_with_an_independent_decoder(key in plain_key(), choices in prop::collection::vec(any::<u8>(), 1..40),
                                                 parts in prop::collection::vec(prop_oneof!["[ -~]{0,12}", any::<String>(), "(%[0-9a-fA-F]{2}|\\\\u00[0-7][0-9a-f]|\\\\[/\"\\\\])*"], 1..5),
                                                 with_key in any::<bool>()) {
        let mut text = parts.join("");
        if with_key {
            text.insert_str(parts[0].len(), &encode(&key, &choices));
        }
        let out = redact(&text, &key);
        prop_assert!(!out.contains(&key), "{:?} -> {:?}", text, out);
        prop_assert!(!common::decode_once(&out).contains(&key), "{:?} -> {:?}", text, out);
        // Redaction reads escapes without their context (`\\u0061` counts as `\` and `a`):
        // it may hide more than a decoder would, never less. Without an escape mark, a text
        // that does not hold the key comes back borrowed.
        if !text.contains(&key) && !text.contains(['%', '\\', '+', '…']) {
            prop_assert!(matches!(out, Cow::Borrowed(_)), "{:?} -> {:?}", text, out);
        }
    }

    /// A key cut short by `quote` leaves no 4-character stretch of itself before the `…`.
    #[test]
    fn redact_takes_out_a_key_cut_by_quote(key in any_key(), pad in 0usize..60, cut in 0usize..40) {
        let text = format!("{}{key}", "/".repeat(pad));
        let quoted = quote(&text, pad + cut);
        let out = redact(&quoted, &key);
        prop_assert!(!out.contains(&key));
        let shown = (pad + cut).saturating_sub(pad).min(key.len());
        if shown >= 4 && out.ends_with("…\"") {
            prop_assert!(!out.contains(&quote(&key[..shown], 100).trim_matches('"').to_string()), "{:?} -> {:?}", quoted, out);
        }
    }

    /// No URL password survives `redact_url_password`, inside any text, quoted or not.
    #[test]
    fn url_passwords_never_survive(scheme in "[a-z][a-z0-9+]{0,7}", user in "[a-z0-9._-]{0,8}",
                                   password in "[A-Z][A-Z0-9!$&'()*+,;=%/?#:@-]{0,23}", host in "[a-z0-9.-]{1,16}(:[0-9]{1,5})?",
                                   path in "(/[a-z0-9]{0,6}){0,3}", before in "[a-z ]{0,10}", quoted in any::<bool>()) {
        prop_assume!(!password.contains("://"));
        let url = format!("{scheme}://{user}:{password}@{host}{path}");
        let text = if quoted { format!("{before}{} done", quote(&url, 500)) } else { format!("{before}{url} done") };
        let out = redact_url_password(&text);
        prop_assert!(!out.contains(&password), "{:?} -> {:?}", text, out);
        prop_assert!(out.contains(&format!("{user}:***@")), "{:?} -> {:?}", text, out);
    }

    /// A base URL with the key in it anywhere, in any percent-encoding, is refused, and the
    /// refusal never quotes it.
    #[test]
    fn base_urls_holding_the_key_are_refused_quietly(key in any_key(), choices in prop::collection::vec(0u8..3, 1..40), place in 0u8..6) {
        prop_assume!(check_api_key(&key).is_ok());
        let k = encode(&key, &choices);
        let url = match place {
            0 => format!("https://{k}@api.example.com"),
            1 => format!("https://apikey:{k}@api.example.com"),
            2 => format!("https://api.example.com/p/{k}"),
            3 => format!("https://api.example.com/?apikey={k}"),
            4 => format!("https://api.example.com/#{k}"),
            _ => format!("http://api.example.com/{k}"),
        };
        let options = Options { base_url: Some(url.clone()), ..Options::default() };
        let e = resolve_base_url(&options, &key).unwrap_err();
        prop_assert!(!e.message.contains(&key), "{:?}: {:?}", url, e.message);
        prop_assert!(!e.message.contains(&k), "{:?}: {:?}", url, e.message);
        prop_assert!(!contains_secret(&e.message, &key), "{:?}: {:?}", url, e.message);
    }

    /// A refused URL or pattern that held the key, once the client's redaction ran, does
    /// not quote it, in any encoding, hint included.
    #[test]
    fn refused_items_never_quote_the_key(key in any_key(), choices in prop::collection::vec(any::<u8>(), 1..40),
                                         before in "(https?://[a-z.]{1,10})?/[a-z/?=]{0,130}", after in "[a-z\t*]{0,5}",
                                         kind in prop_oneof![Just(ItemKind::Url), Just(ItemKind::Pattern)]) {
        let k = encode(&key, &choices);
        let item = format!("{before}{k}{after}");
        if let Err(e) = validate::item(kind, 3, &item) {
            let e = e.redacted(&key);
            prop_assert!(!e.message.contains(&key), "{:?}: {:?}", item, e.message);
            prop_assert!(!e.message.contains(&k), "{:?}: {:?}", item, e.message);
            prop_assert!(!contains_secret(&e.message, &key), "{:?}: {:?}", item, e.message);
        }
    }

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

// ---- The purge job's parsers and planner (src/engine/job) ----

mod job {
    use super::cases;
    use gcdn::engine::job::listing::{self, ReadLimits, ResourceInfo};
    use gcdn::engine::job::plan::{plan, By, PlanLimits, ResourceIndex};
    use gcdn::engine::job::{parse_full_url, Given, Job, PurgeKind, Reason};
    use gcdn::engine::validate::{self, ItemKind};
    use gcdn::engine::Status;
    use proptest::prelude::*;
    use serde_json::{json, Value};
    use std::collections::HashSet;
    use std::time::{Duration, UNIX_EPOCH};

    /// Strings that look like full URLs, and some that only nearly do.
    fn full_url_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "(https|HTTPS|http|ftp)://[a-zA-Z0-9.:@_-]{0,20}(/[a-z0-9*?=&#.%]{0,8}){0,3}",
            "https://[a-z]{1,5}\\.(com|net)(:[0-9]{1,4})?(/[a-z]{0,5}){0,3}(\\?[a-z=]{0,6})?",
            any::<String>(),
        ]
    }

    /// JSON entries shaped like resources, fields present, missing or of the wrong type.
    fn resource_json() -> impl Strategy<Value = Value> {
        let field = || {
            prop_oneof![
                Just(Value::Null),
                any::<i64>().prop_map(Value::from),
                "[a-zA-Z.]{0,10}".prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
                prop::collection::vec("[a-z.]{0,8}", 0..3).prop_map(|v| json!(v)),
            ]
        };
        (
            field(),
            field(),
            field(),
            field(),
            field(),
            field(),
            any::<u8>(),
        )
            .prop_map(|(id, cname, sec, active, deleted, urls, drop)| {
                let mut m = serde_json::Map::new();
                for (i, (k, v)) in [
                    ("id", id),
                    ("cname", cname),
                    ("secondaryHostnames", sec),
                    ("active", active),
                    ("deleted", deleted),
                    ("can_purge_by_urls", urls),
                ]
                .into_iter()
                .enumerate()
                {
                    if drop & (1 << i) == 0 {
                        m.insert(k.to_owned(), v);
                    }
                }
                Value::Object(m)
            })
    }

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn full_urls_accepted_are_https_with_host_and_path(url in full_url_like()) {
            match parse_full_url(3, &url) {
                Ok(p) => {
                    prop_assert!(url[..8].eq_ignore_ascii_case("https://"));
                    let host = &url[p.host_at..p.host_at + p.host_len];
                    prop_assert!(!host.is_empty());
                    prop_assert!(host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
                    let path = &url[p.path_at..];
                    prop_assert!(validate::item(ItemKind::Url, 0, path).is_ok());
                    prop_assert!(!path.contains('#'));
                    prop_assert!(!url[..p.path_at].contains('@'));
                }
                Err(e) => {
                    prop_assert!(e.message.starts_with("full URL 3 "), "{}", e.message);
                    prop_assert!(!e.message.chars().any(char::is_control), "{:?}", e.message);
                    prop_assert!(e.message.chars().count() < 600);
                    // Whatever precedes an '@' (a password, maybe) is never quoted.
                    if let Some((before, _)) = url.split_once('@') {
                        if let Some(secret) = before.rsplit_once(':').map(|(_, pw)| pw) {
                            if secret.len() >= 6 {
                                prop_assert!(!e.message.contains(secret), "{}", e.message);
                            }
                        }
                    }
                }
            }
        }

        #[test]
        fn listings_of_any_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = listing::parse_page("r", &body, listing::resource_entry);
            let _ = listing::parse_page("s", &body, listing::purge_status_entry);
        }

        #[test]
        fn every_entry_is_kept_or_counted(entries in prop::collection::vec(resource_json(), 0..40), envelope in any::<bool>()) {
            let n = entries.len();
            let body = if envelope {
                json!({"count": n, "next": null, "results": entries}).to_string()
            } else {
                Value::Array(entries).to_string()
            };
            let page = listing::parse_page("r", body.as_bytes(), listing::resource_entry).unwrap();
            prop_assert_eq!(page.entries.len() + page.malformed, n);
            for r in &page.entries {
                prop_assert!(r.id > 0);
                prop_assert_eq!(r.cname.to_ascii_lowercase(), r.cname.clone());
            }
        }

        #[test]
        fn purge_statuses_of_any_json_never_panic(v in super::error_json()) {
            let body = json!({"results": [v.clone(), {"x": v}]}).to_string();
            let page = listing::parse_page("s", body.as_bytes(), listing::purge_status_entry).unwrap();
            prop_assert_eq!(page.entries.len() + page.malformed, 2);
        }

        #[test]
        fn times_round_trip_and_never_panic(secs in 0u64..8_000_000_000, text in any::<String>()) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            prop_assert_eq!(listing::parse_time(&listing::format_time(t)), Some(t));
            let _ = listing::parse_time(&text);
        }

        /// A server answering pages at random: the reader always ends, within its page limit,
        /// and a listing that does not end is a protocol error.
        #[test]
        fn paged_reading_always_ends(pages in prop::collection::vec((0usize..4, prop::option::of(0u64..20), any::<bool>()), 1..30)) {
            let limits = ReadLimits { page_size: 3, max_pages: 12, max_entries: 25 };
            let mut served = 0usize;
            let result = listing::read_paged("r", "/cdn/resources", limits, |_| {
                let (n, next, envelope) = pages[served % pages.len()];
                served += 1;
                let results: Vec<Value> = (0..n).map(|i| json!({"id": served * 10 + i + 1, "cname": "a"})).collect();
                let body = if envelope {
                    json!({"count": 1000, "next": next.map(|o| format!("https://x/?offset={o}")), "results": results})
                } else {
                    Value::Array(results)
                };
                Ok(body.to_string().into_bytes())
            }, listing::resource_entry, |_| true);
            prop_assert!(served <= limits.max_pages);
            if let Err(e) = result {
                prop_assert_eq!(e.status, Status::Protocol);
            }
        }

        /// Every item of a job ends up exactly once: in one request, or left out with a reason
        /// that holds; requests stay within the limits and repeat nothing.
        #[test]
        fn every_item_is_planned_once_or_left_out(
            items in prop::collection::vec((1i64..4, 0u8..4, "/[ab]{0,2}(/[ab*]{0,2})?(\\?[v]{0,1})?", "[ab]{1}"), 1..60),
            max_urls in 1usize..5, max_patterns in 1usize..4,
        ) {
            let mut job = Job::new();
            for (rid, kind, path, host) in &items {
                let _ = match kind {
                    0 => job.add_urls(*rid, &[path]),
                    1 => job.add_patterns(*rid, &[path]),
                    2 if path.len() % 5 == 0 => job.add_all(*rid),
                    _ => job.add_full_urls(&[format!("https://{host}.example.com{path}")]),
                };
            }
            let index = ResourceIndex::new(vec![ResourceInfo {
                id: 1, cname: "a.example.com".into(), secondary_hostnames: vec![],
                active: true, deleted: false, can_purge_by_urls: true, ..Default::default()
            }]);
            let d = job.data();
            let p = plan(d, &index, PlanLimits { max_urls, max_patterns });
            let mut planned = 0usize;
            let mut seen: HashSet<(i64, PurgeKind, &str)> = HashSet::new();
            for r in &p.requests {
                match r.kind {
                    PurgeKind::Urls => prop_assert!(!r.items.is_empty() && r.items.len() <= max_urls),
                    PurgeKind::Patterns => prop_assert!(!r.items.is_empty() && r.items.len() <= max_patterns),
                    PurgeKind::All => prop_assert!(r.items.is_empty()),
                }
                planned += r.items.len().max(usize::from(r.kind == PurgeKind::All));
                for s in &r.items {
                    prop_assert!(seen.insert((r.resource_id, r.kind, d.str(*s))), "sent twice");
                }
            }
            let alls: HashSet<i64> = p.requests.iter().filter(|r| r.kind == PurgeKind::All).map(|r| r.resource_id).collect();
            for s in &p.skipped {
                let e = &d.entries()[s.entry as usize];
                match s.reason {
                    Reason::NoResource => prop_assert!(e.given == Given::FullUrl && s.resource_id.is_none()),
                    Reason::Covered => match s.by.unwrap() {
                        By::All => prop_assert!(alls.contains(&s.resource_id.unwrap())),
                        By::Pattern(span) => {
                            let prefix = d.str(span).trim_end_matches('*');
                            let sent = d.str(d.sent_span(e));
                            let sent = sent.split('?').next().unwrap();
                            prop_assert!(sent.starts_with(prefix), "{sent} under {prefix}");
                        }
                    },
                    Reason::Duplicate => {}
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            prop_assert_eq!(planned + p.skipped.len(), d.entries().len());
        }
    }
}

// ---- The cache-key form of URL items (src/engine/job/cachekey.rs) ----

mod cache_key {
    use super::cases;
    use gcdn::engine::job::cachekey::{cache_key_form, Keep};
    use gcdn::engine::validate::{self, ItemKind};
    use proptest::prelude::*;

    /// A query parameter, sometimes percent-encoded or with '+', sometimes without a value.
    fn param() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c]{1,2}=[0-9a-z%+]{0,3}",
            "[a-c]{1,2}",
            "%6[1-3]=[0-9]",
            "[a-c]\\+[a-c]=1",
        ]
    }

    fn item() -> impl Strategy<Value = (String, Vec<String>)> {
        ("/[a-z]{0,4}", prop::collection::vec(param(), 0..6))
    }

    fn join(path: &str, params: &[String]) -> String {
        if params.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", params.join("&"))
        }
    }

    fn form(item: &str, keep: Keep<'_>) -> String {
        cache_key_form(item, keep).unwrap_or_else(|| item.to_owned())
    }

    fn keeps(names: &[String]) -> Vec<Keep<'_>> {
        vec![
            Keep::All,
            Keep::None,
            Keep::Only(names),
            Keep::AllBut(names),
        ]
    }

    proptest! {
        #![proptest_config(cases())]

        /// Any order of the same parameters has one cache-key form, and the form is its own.
        #[test]
        fn order_does_not_matter_and_the_form_is_stable(
            (path, params) in item(),
            names in prop::collection::vec("[a-c]{1,2}", 0..3),
            seed in any::<u64>(),
        ) {
            let mut shuffled = params.clone();
            let n = shuffled.len();
            for i in 0..n {
                let j = (seed.rotate_left(i as u32) as usize) % n;
                shuffled.swap(i, j);
            }
            for keep in keeps(&names) {
                let a = form(&join(&path, &params), keep);
                let b = form(&join(&path, &shuffled), keep);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(cache_key_form(&a, keep), None, "{} is not stable", a);
                prop_assert!(validate::item(ItemKind::Url, 0, &a).is_ok());
                prop_assert!(a.starts_with(&path));
            }
        }

        /// What each policy keeps: nothing, only the names, all but the names (decoded), all.
        #[test]
        fn each_policy_keeps_what_it_says(
            (path, params) in item(),
            names in prop::collection::vec("[a-c]{1,2}", 0..3),
        ) {
            let given = join(&path, &params);
            let decoded = |p: &str| {
                form_urlencoded::parse(p.as_bytes()).next().map(|(n, _)| n.into_owned()).unwrap_or_default()
            };
            let kept = |keep| {
                let f = form(&given, keep);
                f.split_once('?').map(|(_, q)| q.split('&').map(str::to_owned).collect::<Vec<_>>()).unwrap_or_default()
            };
            prop_assert!(kept(Keep::None).is_empty());
            for p in kept(Keep::Only(&names)) {
                prop_assert!(names.contains(&decoded(&p)), "{} kept", p);
            }
            for p in kept(Keep::AllBut(&names)) {
                prop_assert!(!names.contains(&decoded(&p)), "{} kept", p);
            }
            let mut all = kept(Keep::All);
            let mut want: Vec<String> = params.iter().filter(|p| !p.is_empty()).cloned().collect();
            all.sort();
            want.sort();
            prop_assert_eq!(all, want);
        }
    }
}
