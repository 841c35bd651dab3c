//! The cache key's query part: which query parameters a resource (or one of its rules, for the
//! paths it matches) keeps in its cache key, and a URL item rewritten to match it.
//!
//! Gcore: a URL purge removes the cached object whose cache key equals the item. The options
//! `ignoreQueryString` ("Ignore all"), `query_params_whitelist` ("Ignore all except") and
//! `query_params_blacklist` ("Ignore only") decide which parameters the key keeps; at most one
//! is enabled; parameter order does not matter. So an item is purged in its *cache-key form*:
//! the parameters the key drops left out, the rest sorted (by decoded name, then decoded
//! value), each kept in the item's own encoding.
//!
//! Rules (`GET /cdn/resources/{id}/rules`): the first active rule, in `weight` order (lowest
//! first, then id), whose regex matches the path decides for that path, as the first matching
//! regex location does in the edge's configuration: each of its non-null query options
//! replaces the resource's (`enabled: false` turns it off). A rule whose regex does not
//! compile (or is too big) never applies, with a warning.
//!
//! Everything here is pure and bounded: wrong-typed options and rules are ignored and
//! counted, never a panic.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

/// Most bytes a rule's compiled regex may take (the `regex` crate's own guard against
/// patterns that blow up).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest rule regex compiled.
pub const REGEX_MAX_LEN: usize = 4096;
/// Most bytes the compiled regexes of one run's rules take in all (their match caches as
/// much again): a rule is charged the smallest of 4 KiB, 16 KiB, ... [`REGEX_SIZE_LIMIT`]
/// its regex compiles under (one that does not compile, the limit it failed under), and
/// rules past the total are not used, so that a listing of thousands of rules cannot take
/// the host's memory or the run's time.
pub const REGEX_TOTAL_LIMIT: usize = 32 << 20;
/// The first size limit a rule's regex is compiled under.
const REGEX_FIRST_LIMIT: usize = 4 << 10;
/// Most names of a whitelist or blacklist kept.
pub const MAX_NAMES: usize = 1000;

/// An option as the API writes it, when not `null`: `{"enabled": ..., "value": ...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt<T> {
    pub enabled: bool,
    pub value: T,
}

/// The three options that decide the key's query part; `None` is `null` (or absent): not set
/// (on a rule: inherited from the resource).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryOptions {
    pub ignore_query_string: Option<Opt<bool>>,
    pub whitelist: Option<Opt<Vec<String>>>,
    pub blacklist: Option<Opt<Vec<String>>>,
}

impl QueryOptions {
    fn any_set(&self) -> bool {
        self.ignore_query_string.is_some() || self.whitelist.is_some() || self.blacklist.is_some()
    }
}

/// What the job needs of a resource's `options`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheOptions {
    pub query: QueryOptions,
    /// `slice` enabled with value true: a URL purge removes only the first slice.
    pub slice: bool,
    /// `proxy_cache_key` enabled with a value other than the default `$request_uri`: purge
    /// by pattern does not work.
    pub custom_cache_key: Option<String>,
}

/// The option that decides: the report's `rewritten[].by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyBy {
    IgnoreQueryString,
    Whitelist,
    Blacklist,
}

impl PolicyBy {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyBy::IgnoreQueryString => "ignoreQueryString",
            PolicyBy::Whitelist => "query_params_whitelist",
            PolicyBy::Blacklist => "query_params_blacklist",
        }
    }
}

/// Which parameters the key keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep<'a> {
    /// Every parameter (no option enabled): only their order is normalised.
    All,
    /// None (`ignoreQueryString`).
    None,
    /// Only these names (`query_params_whitelist`).
    Only(&'a [String]),
    /// All but these names (`query_params_blacklist`).
    AllBut(&'a [String]),
}

/// The policy in force for one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy<'a> {
    pub keep: Keep<'a>,
    /// The option that decides; `None` when none is enabled.
    pub by: Option<PolicyBy>,
    /// The rule that decided (it matched the path and set one of the three options).
    pub rule_id: Option<i64>,
}

/// One rule of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: i64,
    pub active: bool,
    pub weight: i64,
    /// `rule`: a regex on the path.
    pub pattern: String,
    pub query: QueryOptions,
}

/// Read one option: `Ok(None)` for null or absent, `Err(())` for a wrong shape.
fn opt<T>(
    map: &Map<String, Value>,
    key: &str,
    value: impl Fn(&Value) -> Option<T>,
) -> Result<Option<Opt<T>>, ()> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            let enabled = o.get("enabled").and_then(Value::as_bool).ok_or(())?;
            let value = o.get("value").and_then(value).ok_or(())?;
            Ok(Some(Opt { enabled, value }))
        }
        Some(_) => Err(()),
    }
}

fn names(v: &Value) -> Option<Vec<String>> {
    let list = v.as_array()?;
    if list.len() > MAX_NAMES {
        return None;
    }
    list.iter().map(|n| n.as_str().map(str::to_owned)).collect()
}

/// The three query options of an `options` object; the count is of options ignored for a
/// wrong shape.
fn query_options(map: &Map<String, Value>) -> (QueryOptions, usize) {
    fn take<T>(bad: &mut usize, r: Result<Option<T>, ()>) -> Option<T> {
        r.unwrap_or_else(|()| {
            *bad += 1;
            None
        })
    }
    let mut bad = 0;
    let q = QueryOptions {
        ignore_query_string: take(&mut bad, opt(map, "ignoreQueryString", Value::as_bool)),
        whitelist: take(&mut bad, opt(map, "query_params_whitelist", names)),
        blacklist: take(&mut bad, opt(map, "query_params_blacklist", names)),
    };
    (q, bad)
}

/// A resource's `options` (`null`, absent or not an object: nothing set), and how many of the
/// options read were ignored for a wrong shape.
pub fn parse_options(options: Option<&Value>) -> (CacheOptions, usize) {
    let map = match options {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => return (CacheOptions::default(), 0),
        Some(_) => return (CacheOptions::default(), 1),
    };
    let (query, mut bad) = query_options(map);
    let slice = match opt(map, "slice", Value::as_bool) {
        Ok(o) => o.is_some_and(|o| o.enabled && o.value),
        Err(()) => {
            bad += 1;
            false
        }
    };
    let custom_cache_key = match opt(map, "proxy_cache_key", |v| v.as_str().map(str::to_owned)) {
        Ok(o) => o.filter(|o| o.enabled && o.value.trim() != "$request_uri"),
        Err(()) => {
            bad += 1;
            None
        }
    }
    .map(|o| o.value);
    (
        CacheOptions {
            query,
            slice,
            custom_cache_key,
        },
        bad,
    )
}

/// One entry of `GET /cdn/resources/{id}/rules`; `None` when `id` or `rule` is missing or of
/// the wrong type (`active` absent: true; `weight` absent: 0). The count is of options
/// ignored for a wrong shape.
pub fn rule_entry(value: &Value) -> Option<(Rule, usize)> {
    let m = value.as_object()?;
    let id = m.get("id")?.as_i64()?;
    let pattern = m.get("rule")?.as_str()?.to_owned();
    let active = match m.get("active") {
        None | Some(Value::Null) => true,
        Some(v) => v.as_bool()?,
    };
    let weight = match m.get("weight") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64()?,
    };
    let (query, bad) = match m.get("options") {
        Some(Value::Object(o)) => query_options(o),
        None | Some(Value::Null) => (QueryOptions::default(), 0),
        Some(_) => return None,
    };
    Some((
        Rule {
            id,
            active,
            weight,
            pattern,
            query,
        },
        bad,
    ))
}

/// A resource's rules that can change the key's query part, compiled, in the order they
/// are tried.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<(Rule, Regex)>,
}

impl Rules {
    /// Keep the active rules that set a query option, compile their regexes (bounded, each
    /// charged to `spent`, the bytes the run's rules took so far: see
    /// [`REGEX_TOTAL_LIMIT`]), and order them by weight then id. Returns the rules and, for
    /// each that cannot be compiled, its id and why (it never applies); the rules past the
    /// total are one entry, the first's id.
    pub fn compile(mut list: Vec<Rule>, spent: &mut usize) -> (Rules, Vec<(i64, String)>) {
        list.retain(|r| r.active && r.query.any_set());
        list.sort_by_key(|r| (r.weight, r.id));
        let mut bad = Vec::new();
        let mut rules = Vec::with_capacity(list.len());
        let total = list.len();
        for (i, r) in list.into_iter().enumerate() {
            if r.pattern.len() > REGEX_MAX_LEN {
                bad.push((r.id, format!("its regex is {} bytes long", r.pattern.len())));
                continue;
            }
            let left = REGEX_TOTAL_LIMIT.saturating_sub(*spent);
            let mut limit = REGEX_FIRST_LIMIT;
            if left < limit {
                bad.push((
                    r.id,
                    format!(
                        "the regexes of the run's rules before it take {} MiB, the most \
                         compiled (it and the {} rules after it are not used)",
                        REGEX_TOTAL_LIMIT >> 20,
                        total - i - 1
                    ),
                ));
                break;
            }
            let built = loop {
                let built = RegexBuilder::new(&r.pattern)
                    .size_limit(limit)
                    .dfa_size_limit(limit)
                    .build();
                let next = (limit * 4).min(REGEX_SIZE_LIMIT);
                match built {
                    Err(regex::Error::CompiledTooBig(_)) if next > limit && next <= left => {
                        limit = next;
                    }
                    built => break built,
                }
            };
            *spent += limit;
            match built {
                Ok(re) => rules.push((r, re)),
                Err(e) => {
                    let why = e.to_string();
                    let first = why.lines().last().unwrap_or("").trim();
                    bad.push((r.id, format!("its regex does not compile ({first})")));
                }
            }
        }
        (Rules { rules }, bad)
    }

    /// The rule that decides for `path`: the first whose regex matches it.
    pub fn matching(&self, path: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|(_, re)| re.is_match(path))
            .map(|(r, _)| r)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The policy for a path: the resource's query options, each replaced by `rule`'s when that
/// is not null. When more than one ends up enabled (the API allows one), the rule's own
/// come first, then `ignoreQueryString`, the whitelist, the blacklist.
pub fn policy<'a>(resource: &'a QueryOptions, rule: Option<&'a Rule>) -> Policy<'a> {
    let rq = rule.map(|r| &r.query);
    let from_rule = |f: fn(&QueryOptions) -> bool| rq.is_some_and(f);
    let iqs = rq
        .and_then(|q| q.ignore_query_string.as_ref())
        .or(resource.ignore_query_string.as_ref());
    let wl = rq
        .and_then(|q| q.whitelist.as_ref())
        .or(resource.whitelist.as_ref());
    let bl = rq
        .and_then(|q| q.blacklist.as_ref())
        .or(resource.blacklist.as_ref());
    let candidates = [
        (
            from_rule(|q| q.ignore_query_string.is_some()),
            iqs.filter(|o| o.enabled && o.value).map(|_| Keep::None),
            PolicyBy::IgnoreQueryString,
        ),
        (
            from_rule(|q| q.whitelist.is_some()),
            wl.filter(|o| o.enabled).map(|o| Keep::Only(&o.value)),
            PolicyBy::Whitelist,
        ),
        (
            from_rule(|q| q.blacklist.is_some()),
            bl.filter(|o| o.enabled).map(|o| Keep::AllBut(&o.value)),
            PolicyBy::Blacklist,
        ),
    ];
    let rule_id = rule.filter(|r| r.query.any_set()).map(|r| r.id);
    let pick = candidates
        .iter()
        .find(|(own, k, _)| *own && k.is_some())
        .or_else(|| candidates.iter().find(|(_, k, _)| k.is_some()));
    match pick {
        Some((own, Some(keep), by)) => Policy {
            keep: *keep,
            by: Some(*by),
            rule_id: if *own { rule_id } else { None },
        },
        _ => Policy {
            keep: Keep::All,
            by: None,
            rule_id,
        },
    }
}

/// One parameter of a query: as written, and its name and value decoded
/// (`application/x-www-form-urlencoded`: `%XX` and `+`).
struct Param<'q> {
    raw: &'q str,
    name: Cow<'q, str>,
    value: Cow<'q, str>,
}

fn params(query: &str) -> Vec<Param<'_>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|raw| {
            let (name, value) = form_urlencoded::parse(raw.as_bytes())
                .next()
                .unwrap_or((Cow::Borrowed(""), Cow::Borrowed("")));
            Param { raw, name, value }
        })
        .collect()
}

/// `item` (a path with its query) in the cache-key form `keep` makes of it, or `None` when
/// that is the item itself. Parameter names are compared decoded; the parameters kept keep
/// their own encoding, sorted by decoded name, then decoded value, then as written; empty
/// parameters (`&&`) are dropped. An item without a query, or with an empty one (`/a?`), is
/// left as it is.
pub fn cache_key_form(item: &str, keep: Keep<'_>) -> Option<String> {
    let mut out = String::new();
    cache_key_form_into(item, keep, &mut out).then_some(out)
}

/// [`cache_key_form`] appended to `out` (a plan writes all the forms it finds in one buffer);
/// `false`, `out` as it was, when the form is the item itself.
pub fn cache_key_form_into(item: &str, keep: Keep<'_>, out: &mut String) -> bool {
    let Some((path, query)) = item.split_once('?') else {
        return false;
    };
    if query.is_empty() {
        return false;
    }
    let mut kept: Vec<Param<'_>> = params(query)
        .into_iter()
        .filter(|p| match keep {
            Keep::All => true,
            Keep::None => false,
            Keep::Only(names) => names.iter().any(|n| *n == p.name),
            Keep::AllBut(names) => !names.iter().any(|n| *n == p.name),
        })
        .collect();
    kept.sort_by(|a, b| (&a.name, &a.value, a.raw).cmp(&(&b.name, &b.value, b.raw)));
    let start = out.len();
    out.push_str(path);
    for (i, p) in kept.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(p.raw);
    }
    if out[start..] == *item {
        out.truncate(start);
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_option_makes_its_form() {
        let item = "/app.js?v=2&lang=en&utm_source=x";
        assert_eq!(cache_key_form(item, Keep::None).as_deref(), Some("/app.js"));
        let lang = names(&["lang"]);
        assert_eq!(
            cache_key_form(item, Keep::Only(&lang)).as_deref(),
            Some("/app.js?lang=en")
        );
        let utm = names(&["utm_source"]);
        assert_eq!(
            cache_key_form(item, Keep::AllBut(&utm)).as_deref(),
            Some("/app.js?lang=en&v=2")
        );
        assert_eq!(
            cache_key_form(item, Keep::All).as_deref(),
            Some("/app.js?lang=en&utm_source=x&v=2")
        );
        assert_eq!(
            cache_key_form("/a?b=1&c=2", Keep::All),
            None,
            "already sorted"
        );
        assert_eq!(cache_key_form("/a", Keep::None), None);
        assert_eq!(cache_key_form("/a?", Keep::None), None);
        assert_eq!(
            cache_key_form("/a?&&b=1", Keep::All).as_deref(),
            Some("/a?b=1")
        );
    }

    #[test]
    fn names_compare_decoded_and_keep_their_encoding() {
        let lang = names(&["lang", "a b"]);
        assert_eq!(
            cache_key_form("/x?%6Cang=en&a+b=1&v=3", Keep::Only(&lang)).as_deref(),
            Some("/x?a+b=1&%6Cang=en")
        );
        assert_eq!(
            cache_key_form("/x?q=%C3%A9&q=a", Keep::All).as_deref(),
            Some("/x?q=a&q=%C3%A9")
        );
    }

    fn opt<T>(enabled: bool, value: T) -> Option<Opt<T>> {
        Some(Opt { enabled, value })
    }

    #[test]
    fn options_parse_defensively() {
        let (o, bad) = parse_options(Some(&json!({
            "ignoreQueryString": {"enabled": true, "value": true},
            "query_params_whitelist": null,
            "query_params_blacklist": {"enabled": "yes", "value": []},
            "slice": {"enabled": true, "value": true},
            "proxy_cache_key": {"enabled": true, "value": "$scheme$uri"},
            "other": 5,
        })));
        assert_eq!(bad, 1);
        assert_eq!(o.query.ignore_query_string, opt(true, true));
        assert_eq!(o.query.whitelist, None);
        assert_eq!(o.query.blacklist, None);
        assert!(o.slice);
        assert_eq!(o.custom_cache_key.as_deref(), Some("$scheme$uri"));
        let (o, bad) = parse_options(Some(&json!({
            "query_params_whitelist": {"enabled": true, "value": ["a", 1]},
            "slice": [],
            "proxy_cache_key": {"enabled": true, "value": "$request_uri"},
        })));
        assert_eq!(bad, 2);
        assert_eq!(o, CacheOptions::default());
        assert_eq!(parse_options(Some(&json!("x"))).1, 1);
        assert_eq!(parse_options(None), (CacheOptions::default(), 0));
    }

    fn rule(id: i64, weight: i64, pattern: &str, query: QueryOptions) -> Rule {
        Rule {
            id,
            active: true,
            weight,
            pattern: pattern.into(),
            query,
        }
    }

    #[test]
    fn the_first_matching_rule_by_weight_decides_its_options() {
        let resource = QueryOptions {
            ignore_query_string: opt(true, true),
            ..Default::default()
        };
        let keep_lang = QueryOptions {
            whitelist: opt(true, names(&["lang"])),
            ..Default::default()
        };
        let off = QueryOptions {
            ignore_query_string: opt(false, true),
            ..Default::default()
        };
        let mut inactive = rule(9, -5, "^/", keep_lang.clone());
        inactive.active = false;
        let (rules, bad) = Rules::compile(
            vec![
                rule(3, 20, "^/i18n/", off.clone()),
                rule(2, 10, "^/i18n/", keep_lang.clone()),
                rule(4, 0, "^/raw/", off),
                rule(5, 0, "(", keep_lang),
                rule(6, 0, "^/none/", QueryOptions::default()),
                inactive,
            ],
            &mut 0,
        );
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 5);
        assert!(bad[0].1.contains("does not compile"), "{}", bad[0].1);

        let p = policy(&resource, rules.matching("/i18n/a.js"));
        assert_eq!(p.rule_id, Some(2));
        assert_eq!(p.by, Some(PolicyBy::Whitelist));
        assert_eq!(
            cache_key_form("/i18n/a.js?v=1&lang=de", p.keep).as_deref(),
            Some("/i18n/a.js?lang=de")
        );
        // A rule that turns the resource's option off: every parameter is kept.
        let p = policy(&resource, rules.matching("/raw/a.bin"));
        assert_eq!((p.keep, p.by, p.rule_id), (Keep::All, None, Some(4)));
        // No rule: the resource's.
        let p = policy(&resource, rules.matching("/app.js"));
        assert_eq!(
            (p.keep, p.by, p.rule_id),
            (Keep::None, Some(PolicyBy::IgnoreQueryString), None)
        );
        assert!(
            rules.matching("/none/x").is_none(),
            "a rule without query options is dropped"
        );
    }

    #[test]
    fn a_rule_inherits_what_it_leaves_null() {
        let resource = QueryOptions {
            blacklist: opt(true, names(&["utm"])),
            ..Default::default()
        };
        let r = rule(
            1,
            0,
            "/",
            QueryOptions {
                ignore_query_string: opt(false, false),
                ..Default::default()
            },
        );
        let p = policy(&resource, Some(&r));
        assert_eq!(p.by, Some(PolicyBy::Blacklist));
        assert_eq!(p.rule_id, None, "the resource's option decides");
        let off = QueryOptions {
            ignore_query_string: opt(false, true),
            ..Default::default()
        };
        assert_eq!(policy(&off, None).keep, Keep::All);
    }

    #[test]
    fn rules_parse_defensively_and_big_regexes_never_apply() {
        let (r, bad) = rule_entry(&json!({"id": 7, "rule": "^/a", "weight": 3, "active": true,
            "options": {"ignoreQueryString": {"enabled": true, "value": 1}}}))
        .unwrap();
        assert_eq!((r.id, r.weight, bad), (7, 3, 1));
        for v in [
            json!({"id": "7", "rule": "^/a"}),
            json!({"id": 7}),
            json!({"id": 7, "rule": "^/a", "active": "no"}),
            json!({"id": 7, "rule": "^/a", "options": []}),
            json!(null),
        ] {
            assert!(rule_entry(&v).is_none(), "{v}");
        }
        let q = QueryOptions {
            ignore_query_string: opt(true, true),
            ..Default::default()
        };
        let (rules, bad) = Rules::compile(
            vec![
                rule(1, 0, "a{1000}{1000}", q.clone()),
                rule(2, 0, &"a".repeat(REGEX_MAX_LEN + 1), q),
            ],
            &mut 0,
        );
        assert!(rules.is_empty());
        assert_eq!(bad.len(), 2);
    }

    /// A listing of many rules whose regexes each compile to about a MiB (a few bytes of JSON
    /// each): the run compiles at most [`REGEX_TOTAL_LIMIT`] of them, the rest is one
    /// warning; small rules after it are not charged for what the big ones would take.
    #[test]
    fn a_run_compiles_a_bounded_total_of_rule_regexes() {
        let q = QueryOptions {
            ignore_query_string: opt(true, true),
            ..Default::default()
        };
        let many = REGEX_TOTAL_LIMIT / REGEX_SIZE_LIMIT + 16;
        let list: Vec<Rule> = (0..many as i64)
            .map(|i| rule(i, i, &format!("^/{i}/a{{30000}}"), q.clone()))
            .collect();
        let mut spent = 0;
        let (rules, bad) = Rules::compile(list, &mut spent);
        assert!(spent <= REGEX_TOTAL_LIMIT, "{spent}");
        assert!(
            rules.rules.len() < many,
            "{} of {many} compiled",
            rules.rules.len()
        );
        assert!(!rules.is_empty());
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].1.contains("not used"), "{bad:?}");
        // A typical rule is charged the first limit: thousands fit.
        let small: Vec<Rule> = (0..1000)
            .map(|i| rule(i, i, &format!("^/static/{i}/.*\\.(js|css)$"), q.clone()))
            .collect();
        let mut spent = 0;
        let (rules, bad) = Rules::compile(small, &mut spent);
        assert_eq!((rules.rules.len(), bad.len()), (1000, 0));
        assert_eq!(spent, 1000 * REGEX_FIRST_LIMIT);
    }
}
