//! The listings `GET /cdn/resources` and `GET /cdn/purge_statuses`: their query filters,
//! and paging the way Django REST framework pages (`limit`, `offset`, `next`, `previous`),
//! made hostile by a [`ListingFault`] through [`faults`](crate::faults).

use serde_json::{json, Value};

use crate::faults::{bad_entries, huge_list, pad, synthetic};
use crate::model::{messages, micros, parse_iso8601, Endpoint, ListingFault};
use crate::replies::{bad_request, purge_json, resource_json};
use crate::types::Shared;
use crate::wire::{Incoming, Reply};

/// The query's `key=value` pairs, percent- and `+`-decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
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

/// `GET /cdn/resources`, filtered by `cname`, `status`, `deleted`, `enabled` and
/// `secondaryHostnames`.
pub(crate) fn list_resources(shared: &Shared, rq: &Incoming) -> Reply {
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

/// `GET /cdn/purge_statuses`, newest first, filtered by `cname`, `purge_type`, `status`,
/// `from_created` and `to_created`.
pub(crate) fn list_purges(shared: &Shared, rq: &Incoming) -> Reply {
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

    #[test]
    fn queries() {
        let q = query_pairs("status=In%20progress&cname=a.example.com&x&purge_type=purge+all");
        assert_eq!(q[0], ("status".into(), "In progress".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
        assert_eq!(q[3].1, "purge all");
    }
}
