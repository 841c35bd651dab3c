//! The edge's cache key: the path, and the query parameters a resource's options (or the
//! rule that matches the path) keep, sorted. Pure; imports nothing of the crate.
//!
//! - `ignoreQueryString` `{"enabled": true, "value": true}`: no parameter is kept;
//!   `query_params_whitelist` `{"enabled": true, "value": ["lang"]}`: only those;
//!   `query_params_blacklist` `{"enabled": true, "value": ["utm_source"]}`: all but those;
//!   none enabled: all of them. Names are compared decoded (`%XX`, `+`).
//! - Rules: the first active rule, by `weight` then `id`, that sets one of the three options
//!   and whose `rule` regex matches the path; each of its non-null options replaces the
//!   resource's. A rule that does not compile never applies. When more than one option ends
//!   up enabled, the rule's own come first, then `ignoreQueryString`, the whitelist, the
//!   blacklist.
//! - The parameters kept are sorted by decoded name, then decoded value, then as written,
//!   each in its own encoding; empty ones (`&&`) are dropped; no parameter left: the path alone.
//!
//! This is the rule the library (`src/engine/job/cachekey.rs`) writes purge items by, written
//! again here on its own so that the tests compare two implementations, not one with itself.

use std::borrow::Cow;

use regex::RegexBuilder;
use serde_json::Value;

/// The query options, in the order they win a tie.
const OPTIONS: [&str; 3] = [
    "ignoreQueryString",
    "query_params_whitelist",
    "query_params_blacklist",
];

/// Which parameters the key keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Keep {
    All,
    None,
    Only(Vec<String>),
    AllBut(Vec<String>),
}

/// A non-null option of an `options` object.
fn option<'a>(options: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    options?.get(name).filter(|v| !v.is_null())
}

/// What an option keeps when it is enabled (a wrong shape is never enabled).
fn enabled(name: &str, v: &Value) -> Option<Keep> {
    if v.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let value = v.get("value")?;
    let names = || -> Option<Vec<String>> {
        value
            .as_array()?
            .iter()
            .map(|n| n.as_str().map(str::to_owned))
            .collect()
    };
    match name {
        "ignoreQueryString" => (value.as_bool() == Some(true)).then_some(Keep::None),
        "query_params_whitelist" => names().map(Keep::Only),
        _ => names().map(Keep::AllBut),
    }
}

/// The rule that decides for `path`, if any: its `options`.
fn rule_options<'a>(rules: &'a [Value], path: &str) -> Option<&'a Value> {
    let mut candidates: Vec<(i64, i64, &str, &Value)> = rules
        .iter()
        .filter_map(|r| {
            let active = r.get("active").is_none_or(|a| a.as_bool() != Some(false));
            let options = r.get("options").filter(|o| o.is_object())?;
            let sets = OPTIONS.iter().any(|n| option(Some(options), n).is_some());
            let pattern = r.get("rule")?.as_str()?;
            let id = r.get("id")?.as_i64()?;
            let weight = r.get("weight").and_then(Value::as_i64).unwrap_or(0);
            (active && sets).then_some((weight, id, pattern, options))
        })
        .collect();
    candidates.sort_by_key(|&(weight, id, _, _)| (weight, id));
    candidates.into_iter().find_map(|(_, _, pattern, options)| {
        let re = RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .ok()?;
        re.is_match(path).then_some(options)
    })
}

/// The policy for `path` under a resource's `options` and `rules`.
fn keep(options: &Value, rules: &[Value], path: &str) -> Keep {
    let rule = rule_options(rules, path);
    let effective = |name: &str| option(rule, name).or_else(|| option(Some(options), name));
    let own = OPTIONS
        .iter()
        .filter(|n| option(rule, n).is_some())
        .find_map(|n| enabled(n, effective(n)?));
    own.or_else(|| OPTIONS.iter().find_map(|n| enabled(n, effective(n)?)))
        .unwrap_or(Keep::All)
}

/// `path_and_query` with its query as `keep` makes it.
fn normalise(path_and_query: &str, keep: &Keep) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let mut kept: Vec<(Cow<'_, str>, Cow<'_, str>, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|raw| {
            let (name, value) = form_urlencoded::parse(raw.as_bytes())
                .next()
                .unwrap_or((Cow::Borrowed(""), Cow::Borrowed("")));
            (name, value, raw)
        })
        .filter(|(name, _, _)| match keep {
            Keep::All => true,
            Keep::None => false,
            Keep::Only(names) => names.iter().any(|n| n == name),
            Keep::AllBut(names) => !names.iter().any(|n| n == name),
        })
        .collect();
    kept.sort();
    let mut out = path.to_owned();
    for (i, (_, _, raw)) in kept.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(raw);
    }
    out
}

/// The key an edge stores `path_and_query` (a request's target) under, for a resource with
/// these `options` and `rules`.
pub(crate) fn cache_key(options: &Value, rules: &[Value], path_and_query: &str) -> String {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    normalise(path_and_query, &keep(options, rules, path))
}

/// The key a URL purge item names: the item as written, only its parameters' order (and
/// empty ones) normalised; a parameter the key drops stays, so such an item matches nothing.
pub(crate) fn purge_key(item: &str) -> String {
    normalise(item, &Keep::All)
}

/// The path part of a key.
pub(crate) fn path_of(key: &str) -> &str {
    key.split_once('?').map_or(key, |(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_option_and_order() {
        let q = "/app.js?v=2&lang=en&utm_source=x";
        assert_eq!(
            cache_key(&json!({}), &[], q),
            "/app.js?lang=en&utm_source=x&v=2"
        );
        let iqs = json!({"ignoreQueryString": {"enabled": true, "value": true}});
        assert_eq!(cache_key(&iqs, &[], q), "/app.js");
        let wl = json!({"query_params_whitelist": {"enabled": true, "value": ["lang"]}});
        assert_eq!(cache_key(&wl, &[], q), "/app.js?lang=en");
        let bl = json!({"query_params_blacklist": {"enabled": true, "value": ["utm_source"]}});
        assert_eq!(cache_key(&bl, &[], q), "/app.js?lang=en&v=2");
        let off = json!({"ignoreQueryString": {"enabled": false, "value": true}});
        assert_eq!(cache_key(&off, &[], "/a?b=1&a=2&&"), "/a?a=2&b=1");
        assert_eq!(cache_key(&iqs, &[], "/a"), "/a");
        // Decoded names: `%6Cang` is `lang`.
        assert_eq!(cache_key(&wl, &[], "/a?%6Cang=x&v=1"), "/a?%6Cang=x");
    }

    #[test]
    fn rules_override_per_path() {
        let iqs = json!({"ignoreQueryString": {"enabled": true, "value": true}});
        let rules = vec![
            json!({"id": 2, "rule": "^/api/", "weight": 5, "active": true,
                   "options": {"ignoreQueryString": {"enabled": false, "value": true}}}),
            json!({"id": 1, "rule": "^/api/v1/", "weight": 1, "active": true,
                   "options": {"query_params_whitelist": {"enabled": true, "value": ["k"]}}}),
            json!({"id": 3, "rule": "^/", "weight": 0, "active": false,
                   "options": {"ignoreQueryString": {"enabled": false, "value": true}}}),
            json!({"id": 4, "rule": "(", "weight": 0,
                   "options": {"ignoreQueryString": {"enabled": false, "value": true}}}),
        ];
        assert_eq!(cache_key(&iqs, &rules, "/x.js?v=1"), "/x.js");
        assert_eq!(cache_key(&iqs, &rules, "/api/a?z=1&b=2"), "/api/a?b=2&z=1");
        // Rule 1 (weight 1) decides; its whitelist wins over the inherited ignoreQueryString.
        assert_eq!(
            cache_key(&iqs, &rules, "/api/v1/a?z=1&k=2"),
            "/api/v1/a?k=2"
        );
    }

    #[test]
    fn purge_items_keep_their_parameters() {
        assert_eq!(purge_key("/app.js?v=2"), "/app.js?v=2");
        assert_eq!(purge_key("/a?b=1&a=2"), "/a?a=2&b=1");
        assert_eq!(path_of("/a?b=1"), "/a");
    }
}
