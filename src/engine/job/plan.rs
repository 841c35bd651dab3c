//! Planning a job: map full URLs to resources, leave out what cannot be sent (with the
//! reason), de-duplicate per resource, drop what a bigger purge of the same job covers, and
//! chunk by the per-request limits.
//!
//! Bounded memory: items are referred to by [`Span`] into the job's own text, never copied;
//! per item the plan holds 24 bytes while it works and 8 bytes per planned item after.
//! De-duplication hashes `&str`s of one resource at a time; coverage by patterns is a binary
//! search in the resource's sorted list of minimal pattern prefixes (`O(n log p)`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::cachekey::{self, PolicyBy, Rules};
use super::listing::ResourceInfo;
use super::report::Reason;
use super::{Given, JobData, PurgeKind, Span};
use crate::engine::pacer::PaceKind;
use crate::engine::purge::pace_kind;

/// The per-request limits: the account's `purge_max_urls_limit` / `purge_pattern_limit` when
/// known, else the documented 100 / 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanLimits {
    pub max_urls: usize,
    pub max_patterns: usize,
}

impl Default for PlanLimits {
    fn default() -> Self {
        PlanLimits {
            max_urls: crate::engine::URLS_PER_REQUEST,
            max_patterns: crate::engine::PATTERNS_PER_REQUEST,
        }
    }
}

/// The resources a run knows of, from `GET /cdn/resources`, by lower-cased host and by id.
#[derive(Clone, Debug, Default)]
pub struct ResourceIndex {
    by_host: HashMap<String, i64>,
    by_id: HashMap<i64, ResourceInfo>,
    /// Rules read for a resource (only those with URL items that have a query).
    rules: HashMap<i64, Rules>,
    /// Rules that never apply: (resource, rule, why).
    bad_rules: Vec<(i64, i64, String)>,
    /// Bytes the rules' compiled regexes take so far (see `cachekey::REGEX_TOTAL_LIMIT`).
    regex_spent: usize,
}

impl ResourceIndex {
    /// When two resources claim one host, a usable one (active, not deleted) wins over one
    /// that is not; among equals, the first listed.
    pub fn new(resources: Vec<ResourceInfo>) -> ResourceIndex {
        let mut index = ResourceIndex::default();
        for r in resources {
            let usable = r.active && !r.deleted;
            for host in r.hosts() {
                let replace = match index.by_host.get(host).and_then(|id| index.by_id.get(id)) {
                    None => true,
                    Some(old) => usable && (old.deleted || !old.active),
                };
                if replace {
                    index.by_host.insert(host.to_owned(), r.id);
                }
            }
            index.by_id.entry(r.id).or_insert(r);
        }
        index
    }

    /// The resource a host (any case) belongs to.
    pub fn resource_of_host(&self, lower_host: &str) -> Option<i64> {
        self.by_host.get(lower_host).copied()
    }

    pub fn get(&self, id: i64) -> Option<&ResourceInfo> {
        self.by_id.get(&id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Set a resource's rules (`GET /cdn/resources/{id}/rules`); those whose regex does not
    /// compile are left out and become `invalid_rule` warnings of the plan.
    pub fn set_rules(&mut self, resource_id: i64, rules: Vec<cachekey::Rule>) {
        let (rules, bad) = Rules::compile(rules, &mut self.regex_spent);
        self.bad_rules
            .extend(bad.into_iter().map(|(id, why)| (resource_id, id, why)));
        self.rules.insert(resource_id, rules);
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// One request to send: its items are spans of the job's text, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRequest {
    pub resource_id: i64,
    pub kind: PurgeKind,
    pub items: Vec<Span>,
}

/// What covers a `covered` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    All,
    /// The covering pattern, as given.
    Pattern(Span),
}

/// An item left out, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skip {
    /// Its place among the job's entries.
    pub entry: u32,
    pub resource_id: Option<i64>,
    pub reason: Reason,
    pub by: Option<By>,
}

/// A URL item written in its cache-key form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rewrite {
    /// Its place among the job's entries.
    pub entry: u32,
    pub resource_id: i64,
    /// What is sent instead (the job's text, appended by [`plan_cache_keys`]).
    pub sent: Span,
    /// The option that decided; `None` when none is enabled and only the order changed.
    pub by: Option<PolicyBy>,
    /// The rule that decided, if one did.
    pub rule_id: Option<i64>,
}

/// `warnings[].code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarningCode {
    /// URL purges on a resource with `slice`: only the first slice is removed.
    Slice,
    /// Pattern purges or purge-all on a resource with a custom `proxy_cache_key`.
    CustomCacheKey,
    /// A rule of a resource with URL items whose regex gcdn cannot use: it never applies.
    InvalidRule,
    /// The resources listing could not be read (a job without items by host): every item
    /// goes as given. `resource_id` is `None`.
    NoListing,
}

impl WarningCode {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::Slice => "slice",
            WarningCode::CustomCacheKey => "custom_cache_key",
            WarningCode::InvalidRule => "invalid_rule",
            WarningCode::NoListing => "no_listing",
        }
    }
}

/// Something the plan sends that may not reach everything the user means to purge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// `None` only for [`WarningCode::NoListing`].
    pub resource_id: Option<i64>,
    pub code: WarningCode,
    pub message: String,
}

/// What a run will send, and what it leaves out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Grouped by resource (in the order resources first appear), then purge-all, patterns,
    /// URLs.
    pub requests: Vec<PlannedRequest>,
    /// In the order the items were given.
    pub skipped: Vec<Skip>,
    /// URL items sent in their cache-key form, in the order given.
    pub rewritten: Vec<Rewrite>,
    /// By resource, in the order of `requests`.
    pub warnings: Vec<Warning>,
}

/// One item on its way through planning.
#[derive(Clone, Copy)]
struct Work {
    rank: u32,
    kind: PurgeKind,
    seq: u32,
    rid: i64,
    sent: Span,
}

fn kind_order(k: PurgeKind) -> u8 {
    match k {
        PurgeKind::All => 0,
        PurgeKind::Patterns => 1,
        PurgeKind::Urls => 2,
    }
}

/// Plan `job` with every item as given: `index` maps hosts and tells which resources cannot
/// take purges (an id it does not know is sent as given: the API answers for it).
pub fn plan(job: &JobData, index: &ResourceIndex, limits: PlanLimits) -> Plan {
    let (work, skipped, _) = resolve(job, index, false);
    finish(job, index, work, skipped, Vec::new(), limits)
}

/// [`plan`], with every URL item of a resource `index` knows written in its cache-key form
/// (see [`cachekey`]) before de-duplication: the forms are appended to `data`'s text (a copy
/// of it when it is shared, and only when some item changes).
pub fn plan_cache_keys(data: &mut Arc<JobData>, index: &ResourceIndex, limits: PlanLimits) -> Plan {
    let (mut work, skipped, pending) = resolve(data, index, true);
    let mut rewritten = Vec::with_capacity(pending.len());
    if !pending.is_empty() {
        let d = Arc::make_mut(data);
        for p in pending {
            let w = &mut work[p.work];
            w.sent = d.push_text(&p.text);
            rewritten.push(Rewrite {
                entry: w.seq,
                resource_id: w.rid,
                sent: w.sent,
                by: p.by,
                rule_id: p.rule_id,
            });
        }
    }
    finish(data, index, work, skipped, rewritten, limits)
}

/// A cache-key form found while resolving, not yet in the job's text.
struct Pending {
    work: usize,
    text: String,
    by: Option<PolicyBy>,
    rule_id: Option<i64>,
}

/// Map every entry to its resource, leave out what cannot be sent, and (`rewrite`) find the
/// cache-key forms of URL items.
fn resolve(
    job: &JobData,
    index: &ResourceIndex,
    rewrite: bool,
) -> (Vec<Work>, Vec<Skip>, Vec<Pending>) {
    let mut pending = Vec::new();
    let mut skipped: Vec<Skip> = Vec::new();
    let mut work: Vec<Work> = Vec::with_capacity(job.entries().len());
    let mut rank_of: HashMap<i64, u32> = HashMap::new();
    let mut host_buf = String::new();
    let mut last_host: Option<(Span, Option<i64>)> = None;
    for (seq, e) in job.entries().iter().enumerate() {
        let seq = seq as u32;
        let rid = if e.given.by_host() {
            let host = job.host(e).unwrap_or("");
            // Consecutive URLs of one host are common: look the host up once for them.
            let found = match last_host {
                Some((span, found)) if job.str(span).eq_ignore_ascii_case(host) => found,
                _ => {
                    host_buf.clear();
                    host_buf.push_str(host);
                    host_buf.make_ascii_lowercase();
                    let found = index.resource_of_host(&host_buf);
                    last_host = Some((host_span(job, e), found));
                    found
                }
            };
            match found {
                Some(rid) => rid,
                None => {
                    skipped.push(Skip {
                        entry: seq,
                        resource_id: None,
                        reason: Reason::NoResource,
                        by: None,
                    });
                    continue;
                }
            }
        } else {
            e.resource_id
        };
        let kind = match e.given {
            Given::Url | Given::FullUrl => PurgeKind::Urls,
            Given::Pattern | Given::FullPattern => PurgeKind::Patterns,
            Given::All | Given::FullAll => PurgeKind::All,
        };
        if let Some(info) = index.get(rid) {
            let reason = if info.deleted || !info.active {
                Some(Reason::Inactive)
            } else if kind == PurgeKind::Urls && !info.can_purge_by_urls {
                Some(Reason::UrlPurgeDisabled)
            } else {
                None
            };
            if let Some(reason) = reason {
                skipped.push(Skip {
                    entry: seq,
                    resource_id: Some(rid),
                    reason,
                    by: None,
                });
                continue;
            }
        }
        let next_rank = rank_of.len() as u32;
        let rank = *rank_of.entry(rid).or_insert(next_rank);
        let sent = job.sent_span(e);
        if rewrite && kind == PurgeKind::Urls {
            let text = job.str(sent);
            if let (Some(info), Some((path, _))) = (index.get(rid), text.split_once('?')) {
                let rule = index.rules.get(&rid).and_then(|r| r.matching(path));
                let p = cachekey::policy(&info.options.query, rule);
                if let Some(form) = cachekey::cache_key_form(text, p.keep) {
                    pending.push(Pending {
                        work: work.len(),
                        text: form,
                        by: p.by,
                        rule_id: p.rule_id,
                    });
                }
            }
        }
        work.push(Work {
            rank,
            kind,
            seq,
            rid,
            sent,
        });
    }
    (work, skipped, pending)
}

/// De-duplicate, drop what a bigger purge covers, chunk, and warn.
fn finish(
    job: &JobData,
    index: &ResourceIndex,
    mut work: Vec<Work>,
    mut skipped: Vec<Skip>,
    rewritten: Vec<Rewrite>,
    limits: PlanLimits,
) -> Plan {
    let max_urls = limits.max_urls.max(1);
    let max_patterns = limits.max_patterns.max(1);
    work.sort_unstable_by_key(|w| (w.rank, kind_order(w.kind), w.seq));

    let mut requests = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut prefixes: Vec<(&str, Span)> = Vec::new();
    let mut kept: Vec<Span> = Vec::new();
    let mut start = 0;
    while start < work.len() {
        let rank = work[start].rank;
        let end = start + work[start..].partition_point(|w| w.rank == rank);
        let group = &work[start..end];
        start = end;
        let rid = group[0].rid;
        let skip = |skipped: &mut Vec<Skip>, w: &Work, reason: Reason, by: Option<By>| {
            skipped.push(Skip {
                entry: w.seq,
                resource_id: Some(rid),
                reason,
                by,
            })
        };
        let alls = group.partition_point(|w| w.kind == PurgeKind::All);
        if alls > 0 {
            requests.push(PlannedRequest {
                resource_id: rid,
                kind: PurgeKind::All,
                items: Vec::new(),
            });
            for w in &group[1..alls] {
                skip(&mut skipped, w, Reason::Duplicate, None);
            }
            for w in &group[alls..] {
                skip(&mut skipped, w, Reason::Covered, Some(By::All));
            }
            continue;
        }
        let npat = group.partition_point(|w| w.kind == PurgeKind::Patterns);
        let (patterns, urls) = group.split_at(npat);

        // Patterns: repeats, then those under another pattern's prefix.
        seen.clear();
        let mut unique: Vec<&Work> = Vec::with_capacity(patterns.len());
        for w in patterns {
            if seen.insert(job.str(w.sent)) {
                unique.push(w);
            } else {
                skip(&mut skipped, w, Reason::Duplicate, None);
            }
        }
        let mut by_prefix: Vec<(&str, &Work)> = unique
            .iter()
            .map(|w| (pattern_prefix(job.str(w.sent)), *w))
            .collect();
        by_prefix.sort_unstable_by_key(|(p, w)| (*p, w.seq));
        prefixes.clear();
        let mut covered_patterns: HashSet<u32> = HashSet::new();
        for (prefix, w) in &by_prefix {
            match prefixes.last() {
                Some((p, by)) if prefix.starts_with(p) => {
                    skip(&mut skipped, w, Reason::Covered, Some(By::Pattern(*by)));
                    covered_patterns.insert(w.seq);
                }
                // A pattern with a query part covers nothing here (the API's reading of it
                // is not documented); it is still sent.
                _ if prefix.contains('?') => {}
                _ => prefixes.push((prefix, w.sent)),
            }
        }
        kept.clear();
        kept.extend(
            unique
                .iter()
                .filter(|w| !covered_patterns.contains(&w.seq))
                .map(|w| w.sent),
        );
        for chunk in kept.chunks(max_patterns) {
            requests.push(PlannedRequest {
                resource_id: rid,
                kind: PurgeKind::Patterns,
                items: chunk.to_vec(),
            });
        }

        // URLs: repeats, then those a pattern covers (patterns ignore the query string).
        seen.clear();
        kept.clear();
        for w in urls {
            let text = job.str(w.sent);
            if !seen.insert(text) {
                skip(&mut skipped, w, Reason::Duplicate, None);
                continue;
            }
            let path = text.split_once('?').map_or(text, |(p, _)| p);
            let at = prefixes.partition_point(|(p, _)| *p <= path);
            match at.checked_sub(1).map(|i| prefixes[i]) {
                Some((p, by)) if path.starts_with(p) => {
                    skip(&mut skipped, w, Reason::Covered, Some(By::Pattern(by)))
                }
                _ => kept.push(w.sent),
            }
        }
        for chunk in kept.chunks(max_urls) {
            requests.push(PlannedRequest {
                resource_id: rid,
                kind: PurgeKind::Urls,
                items: chunk.to_vec(),
            });
        }
    }
    drop(seen);
    drop(work);
    skipped.sort_unstable_by_key(|s| s.entry);
    let warnings = warnings(index, &requests);
    Plan {
        requests,
        skipped,
        rewritten,
        warnings,
    }
}

/// One warning per resource and code, for what the plan sends to it.
fn warnings(index: &ResourceIndex, requests: &[PlannedRequest]) -> Vec<Warning> {
    let mut out: Vec<Warning> = Vec::new();
    let push = |out: &mut Vec<Warning>, resource_id, code, message: String| {
        if !out
            .iter()
            .any(|w| w.resource_id == Some(resource_id) && w.code == code && w.message == message)
        {
            out.push(Warning {
                resource_id: Some(resource_id),
                code,
                message,
            });
        }
    };
    for r in requests {
        let Some(info) = index.get(r.resource_id) else {
            continue;
        };
        let rid = r.resource_id;
        if r.kind == PurgeKind::Urls {
            if info.options.slice {
                push(
                    &mut out,
                    rid,
                    WarningCode::Slice,
                    format!(
                        "resource {rid} delivers large files in slices (option slice): a \
                         purge by URL removes only the first slice; purge by pattern to \
                         remove them all"
                    ),
                );
            }
            for (_, rule, why) in index.bad_rules.iter().filter(|b| b.0 == rid) {
                push(
                    &mut out,
                    rid,
                    WarningCode::InvalidRule,
                    format!(
                        "resource {rid}: rule {rule} is not used to write URL items in their \
                         cache-key form: {why}"
                    ),
                );
            }
        } else if let Some(key) = &info.options.custom_cache_key {
            push(
                &mut out,
                rid,
                WarningCode::CustomCacheKey,
                format!(
                    "resource {rid} has a custom cache key (proxy_cache_key {key:?}): a purge \
                     by pattern or of everything does not work on it; purge by URL"
                ),
            );
        }
    }
    out
}

/// The span of a full URL's host (for the one-entry host cache).
fn host_span(job: &JobData, e: &super::Entry) -> Span {
    let host = job.host(e).unwrap_or("");
    Span {
        start: e.text.start + 8,
        len: host.len() as u32,
    }
}

/// A pattern without its trailing `*`: `/img/*` and `/img` both cover what starts with it.
fn pattern_prefix(pattern: &str) -> &str {
    pattern.strip_suffix('*').unwrap_or(pattern)
}

/// The least time the limits allow the plan to take: over every resource and window, `R`
/// requests at `N` per `W` take `(ceil(R / N) - 1) × W`; the slowest sets the makespan.
/// `window(resource_id, kind)` gives `(N, W)` for the window `kind` is sent in.
pub fn estimate(plan: &Plan, window: impl Fn(i64, PurgeKind) -> (u32, Duration)) -> Duration {
    let mut counts: HashMap<(i64, PaceKind), (u32, PurgeKind)> = HashMap::new();
    for r in &plan.requests {
        counts
            .entry((r.resource_id, pace_kind(r.kind)))
            .or_insert((0, r.kind))
            .0 += 1;
    }
    counts
        .into_iter()
        .map(|((rid, _), (n, kind))| {
            let (per, w) = window(rid, kind);
            let rounds = n.div_ceil(per.max(1));
            w.saturating_mul(rounds.saturating_sub(1))
        })
        .max()
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::super::Job;
    use super::*;

    fn info(id: i64, cname: &str) -> ResourceInfo {
        ResourceInfo {
            id,
            cname: cname.into(),
            secondary_hostnames: vec![],
            active: true,
            deleted: false,
            can_purge_by_urls: true,
            ..Default::default()
        }
    }

    fn texts(job: &Job, r: &PlannedRequest) -> Vec<String> {
        r.items
            .iter()
            .map(|s| job.data().str(*s).to_owned())
            .collect()
    }

    fn reasons(job: &Job, p: &Plan) -> Vec<(String, Option<i64>, Reason, Option<String>)> {
        let d = job.data();
        p.skipped
            .iter()
            .map(|s| {
                (
                    d.given_text(&d.entries()[s.entry as usize]).to_owned(),
                    s.resource_id,
                    s.reason,
                    s.by.map(|b| match b {
                        By::All => "all".to_owned(),
                        By::Pattern(sp) => d.str(sp).to_owned(),
                    }),
                )
            })
            .collect()
    }

    #[test]
    fn full_patterns_and_purge_all_by_host_map_to_their_resources() {
        let mut no_urls = info(8, "nourls.a.com");
        no_urls.can_purge_by_urls = false;
        let index = ResourceIndex::new(vec![info(5, "cdn.a.com"), info(6, "cdn.b.com"), no_urls]);
        let mut job = Job::new();
        job.add_full_patterns(&[
            "https://cdn.a.com/img/*",
            "https://NOURLS.a.com/css/*",
            "https://nowhere.a.com/x/*",
        ])
        .unwrap();
        job.add_full_urls(&["https://cdn.a.com/img/a.png?v=2", "https://cdn.a.com/b.png"])
            .unwrap();
        job.add_all_hosts(&[
            "https://cdn.b.com/",
            "https://CDN.B.com",
            "https://nowhere.b.com/",
        ])
        .unwrap();
        job.add_full_urls(&["https://cdn.b.com/c.png"]).unwrap();
        let p = plan(job.data(), &index, PlanLimits::default());
        let sent: Vec<(i64, PurgeKind, Vec<String>)> = p
            .requests
            .iter()
            .map(|r| (r.resource_id, r.kind, texts(&job, r)))
            .collect();
        assert_eq!(
            sent,
            [
                (5, PurgeKind::Patterns, vec!["/img/*".to_owned()]),
                (5, PurgeKind::Urls, vec!["/b.png".to_owned()]),
                // A resource that cannot purge by URL still takes patterns.
                (8, PurgeKind::Patterns, vec!["/css/*".to_owned()]),
                (6, PurgeKind::All, vec![]),
            ]
        );
        assert_eq!(
            reasons(&job, &p),
            [
                (
                    "https://nowhere.a.com/x/*".into(),
                    None,
                    Reason::NoResource,
                    None
                ),
                (
                    "https://cdn.a.com/img/a.png?v=2".into(),
                    Some(5),
                    Reason::Covered,
                    Some("/img/*".into())
                ),
                ("https://CDN.B.com".into(), Some(6), Reason::Duplicate, None),
                (
                    "https://nowhere.b.com/".into(),
                    None,
                    Reason::NoResource,
                    None
                ),
                (
                    "https://cdn.b.com/c.png".into(),
                    Some(6),
                    Reason::Covered,
                    Some("all".into())
                ),
            ]
        );
    }

    #[test]
    fn items_by_host_are_checked_when_added() {
        let mut job = Job::new();
        for bad in ["https://cdn.a.com/a*b", "/img/*", "https://cdn.a.com"] {
            let e = job.add_full_patterns(&[bad]).unwrap_err();
            assert!(e.message.starts_with("full pattern 0"), "{}", e.message);
        }
        for bad in [
            "https://cdn.a.com/a.png",
            "https://cdn.a.com/?x=1",
            "cdn.a.com",
            "http://cdn.a.com/",
        ] {
            let e = job.add_all_hosts(&[bad]).unwrap_err();
            assert!(e.message.starts_with("host 0"), "{}", e.message);
        }
        assert!(job.add_all_hosts::<&str>(&[]).is_err());
        assert!(job.is_empty());
    }

    #[test]
    fn hosts_map_to_resources_case_insensitively() {
        let mut a = info(5, "cdn.a.com");
        a.secondary_hostnames = vec!["img.a.com".into()];
        let mut inactive = info(6, "old.a.com");
        inactive.active = false;
        let mut deleted = info(7, "gone.a.com");
        deleted.deleted = true;
        let mut no_urls = info(8, "nourls.a.com");
        no_urls.can_purge_by_urls = false;
        let index = ResourceIndex::new(vec![a, inactive, deleted, no_urls]);
        let mut job = Job::new();
        job.add_full_urls(&[
            "https://CDN.A.com/x.png?v=1",
            "https://img.a.com/y.png",
            "https://nope.a.com/z",
            "https://old.a.com/z",
            "https://gone.a.com/z",
            "https://nourls.a.com/z",
            "https://cdn.a.com.evil.com/z",
        ])
        .unwrap();
        job.add_patterns(8, &["/p/*"]).unwrap();
        let p = plan(job.data(), &index, PlanLimits::default());
        assert_eq!(p.requests.len(), 2);
        assert_eq!(p.requests[0].resource_id, 5);
        assert_eq!(texts(&job, &p.requests[0]), ["/x.png?v=1", "/y.png"]);
        assert_eq!(p.requests[1].resource_id, 8);
        assert_eq!(
            p.requests[1].kind,
            PurgeKind::Patterns,
            "patterns still go to a resource without URL purge"
        );
        let r = reasons(&job, &p);
        assert_eq!(
            r[0],
            (
                "https://nope.a.com/z".into(),
                None,
                Reason::NoResource,
                None
            )
        );
        assert_eq!(r[1].2, Reason::Inactive);
        assert_eq!(r[1].1, Some(6));
        assert_eq!(r[2].2, Reason::Inactive);
        assert_eq!(r[3].2, Reason::UrlPurgeDisabled);
        assert_eq!(r[4].2, Reason::NoResource);
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn duplicates_and_coverage() {
        let mut job = Job::new();
        job.add_urls(1, &["/img/a.png?v=2", "/b", "/b", "/img", "/imgx", "/c?q"])
            .unwrap();
        job.add_patterns(1, &["/img/*", "/img", "/img/sub/*", "/img/*", "/c?*"])
            .unwrap();
        job.add_full_urls(&["https://h.com/b"]).unwrap();
        job.add_urls(2, &["/a"]).unwrap();
        job.add_patterns(2, &["/z"]).unwrap();
        job.add_all(2).unwrap();
        job.add_all(2).unwrap();
        let index = ResourceIndex::new(vec![info(1, "h.com")]);
        let p = plan(job.data(), &index, PlanLimits::default());
        let summary: Vec<(i64, PurgeKind, Vec<String>)> = p
            .requests
            .iter()
            .map(|r| (r.resource_id, r.kind, texts(&job, r)))
            .collect();
        assert_eq!(
            summary,
            [
                (1, PurgeKind::Patterns, vec!["/img".into(), "/c?*".into()]),
                (1, PurgeKind::Urls, vec!["/b".into(), "/c?q".into()]),
                (2, PurgeKind::All, vec![]),
            ]
        );
        let r = reasons(&job, &p);
        let pat = |s: &str| Some(s.to_owned());
        // "/img" is "/img*": it covers "/imgx" and "/img/*" too.
        assert_eq!(
            r,
            [
                (
                    "/img/a.png?v=2".into(),
                    Some(1),
                    Reason::Covered,
                    pat("/img")
                ),
                ("/b".into(), Some(1), Reason::Duplicate, None),
                ("/img".into(), Some(1), Reason::Covered, pat("/img")),
                ("/imgx".into(), Some(1), Reason::Covered, pat("/img")),
                ("/img/*".into(), Some(1), Reason::Covered, pat("/img")),
                ("/img/sub/*".into(), Some(1), Reason::Covered, pat("/img")),
                ("/img/*".into(), Some(1), Reason::Duplicate, None),
                ("https://h.com/b".into(), Some(1), Reason::Duplicate, None),
                ("/a".into(), Some(2), Reason::Covered, pat("all")),
                ("/z".into(), Some(2), Reason::Covered, pat("all")),
                ("all".into(), Some(2), Reason::Duplicate, None),
            ]
        );
    }

    #[test]
    fn chunks_by_the_limits() {
        let urls: Vec<String> = (0..250).map(|i| format!("/u{i}")).collect();
        let pats: Vec<String> = (0..25).map(|i| format!("/p{i}/")).collect();
        let mut job = Job::new();
        job.add_urls(3, &urls).unwrap();
        job.add_patterns(3, &pats).unwrap();
        let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
        let sizes: Vec<(PurgeKind, usize)> =
            p.requests.iter().map(|r| (r.kind, r.items.len())).collect();
        assert_eq!(
            sizes,
            [
                (PurgeKind::Patterns, 10),
                (PurgeKind::Patterns, 10),
                (PurgeKind::Patterns, 5),
                (PurgeKind::Urls, 100),
                (PurgeKind::Urls, 100),
                (PurgeKind::Urls, 50)
            ]
        );
        let p = plan(
            job.data(),
            &ResourceIndex::default(),
            PlanLimits {
                max_urls: 200,
                max_patterns: 30,
            },
        );
        assert_eq!(p.requests.len(), 3);
        assert_eq!(texts(&job, &p.requests[2])[0], "/u200");
    }

    #[test]
    fn estimate_is_the_slowest_lane() {
        let urls: Vec<String> = (0..500).map(|i| format!("/u{i}")).collect();
        let mut job = Job::new();
        job.add_urls(1, &urls).unwrap(); // 5 requests
        job.add_urls(2, &urls[..150]).unwrap(); // 2 requests
        job.add_patterns(2, &["/a", "/b"]).unwrap();
        job.add_all(3).unwrap();
        let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
        let w = |_: i64, k: PurgeKind| match k {
            PurgeKind::Urls => (2, Duration::from_secs(60)),
            _ => (1, Duration::from_secs(60)),
        };
        // 5 URL requests at 2 a minute: sent at 0, 0, 60, 60, 120.
        assert_eq!(estimate(&p, w), Duration::from_secs(120));
        assert_eq!(estimate(&Plan::default(), w), Duration::ZERO);
    }

    #[test]
    fn coverage_is_exact_at_the_edges() {
        let mut job = Job::new();
        job.add_patterns(1, &["/a/b", "/a/c*", "/"]).unwrap();
        job.add_urls(1, &["/x"]).unwrap();
        let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
        // "/" covers everything of the resource.
        assert_eq!(p.requests.len(), 1);
        assert_eq!(texts(&job, &p.requests[0]), ["/"]);
        let mut job = Job::new();
        job.add_patterns(1, &["/a/b", "/a/c*"]).unwrap();
        job.add_urls(1, &["/a/b", "/a/bc?x", "/a/a", "/a/c", "/a/", "/a/d"])
            .unwrap();
        let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
        assert_eq!(texts(&job, &p.requests[1]), ["/a/a", "/a/", "/a/d"]);
    }

    #[test]
    fn cache_key_forms_are_planned_de_duplicated_and_reported() {
        use super::super::cachekey::{parse_options, rule_entry};
        use serde_json::json;
        let with = |id: i64, cname: &str, options: serde_json::Value| {
            let mut r = info(id, cname);
            r.options = parse_options(Some(&options)).0;
            r
        };
        let mut index = ResourceIndex::new(vec![
            with(
                1,
                "a.com",
                json!({"ignoreQueryString": {"enabled": true, "value": true},
                                    "slice": {"enabled": true, "value": true}}),
            ),
            with(
                2,
                "b.com",
                json!({"proxy_cache_key": {"enabled": true, "value": "$uri"}}),
            ),
            info(3, "c.com"),
        ]);
        let rules = [
            json!({"id": 70, "rule": "^/i18n/", "weight": 1, "active": true,
                   "options": {"query_params_whitelist": {"enabled": true, "value": ["lang"]}}}),
            json!({"id": 71, "rule": "(", "weight": 2, "active": true,
                   "options": {"ignoreQueryString": {"enabled": false, "value": true}}}),
        ];
        index.set_rules(1, rules.iter().map(|r| rule_entry(r).unwrap().0).collect());
        let mut job = Job::new();
        job.add_full_urls(&[
            "https://a.com/app.js?v=2",
            "https://a.com/app.js?v=3",
            "https://a.com/i18n/m.js?v=1&lang=de",
            "https://a.com/plain.js",
        ])
        .unwrap();
        job.add_urls(3, &["/x?b=1&a=2", "/x?a=2&b=1"]).unwrap();
        job.add_patterns(2, &["/img/*"]).unwrap();
        let mut data = Arc::clone(job.data());
        let p = plan_cache_keys(&mut data, &index, PlanLimits::default());
        let sent: Vec<(i64, Vec<String>)> = p
            .requests
            .iter()
            .map(|r| {
                let items = r.items.iter().map(|s| data.str(*s).to_owned()).collect();
                (r.resource_id, items)
            })
            .collect();
        assert_eq!(
            sent,
            [
                (
                    1,
                    vec![
                        "/app.js".into(),
                        "/i18n/m.js?lang=de".into(),
                        "/plain.js".into()
                    ]
                ),
                (3, vec!["/x?a=2&b=1".into()]),
                (2, vec!["/img/*".into()]),
            ]
        );
        let rw: Vec<(u32, &str, Option<&str>, Option<i64>)> = p
            .rewritten
            .iter()
            .map(|r| {
                (
                    r.entry,
                    data.str(r.sent),
                    r.by.map(|b| b.as_str()),
                    r.rule_id,
                )
            })
            .collect();
        assert_eq!(
            rw,
            [
                (0, "/app.js", Some("ignoreQueryString"), None),
                (1, "/app.js", Some("ignoreQueryString"), None),
                (
                    2,
                    "/i18n/m.js?lang=de",
                    Some("query_params_whitelist"),
                    Some(70)
                ),
                (4, "/x?a=2&b=1", None, None),
            ]
        );
        assert_eq!(
            reasons(&job, &p)
                .iter()
                .map(|r| (r.0.as_str(), r.2))
                .collect::<Vec<_>>(),
            [
                ("https://a.com/app.js?v=3", Reason::Duplicate),
                ("/x?a=2&b=1", Reason::Duplicate)
            ]
        );
        let codes: Vec<(Option<i64>, &str)> = p
            .warnings
            .iter()
            .map(|w| (w.resource_id, w.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                (Some(1), "slice"),
                (Some(1), "invalid_rule"),
                (Some(2), "custom_cache_key")
            ]
        );
        assert!(
            p.warnings[1].message.contains("rule 71"),
            "{}",
            p.warnings[1].message
        );
        // The caller's job is untouched; `plan` (as given) sends the items unchanged.
        assert!(!Arc::ptr_eq(&data, job.data()));
        let exact = plan(job.data(), &index, PlanLimits::default());
        assert!(exact.rewritten.is_empty());
        assert_eq!(exact.requests[0].items.len(), 4);
        assert_eq!(exact.warnings.len(), 3);
    }
}
