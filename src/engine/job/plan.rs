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
use super::{Given, JobData, PurgeKind, Span};
use crate::engine::error::Status;
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

/// Why an item was not sent: `skipped[].reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The same item (as sent) is already in the plan for its resource.
    Duplicate,
    /// A pattern or purge-all of the same job and resource covers it.
    Covered,
    /// A full URL whose host matches no resource.
    NoResource,
    /// The resource is deleted or inactive.
    Inactive,
    /// A URL of a resource with `can_purge_by_urls: false`.
    UrlPurgeDisabled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Duplicate => "duplicate",
            Reason::Covered => "covered",
            Reason::NoResource => "no_resource",
            Reason::Inactive => "inactive",
            Reason::UrlPurgeDisabled => "url_purge_disabled",
        }
    }

    /// A failure of the run (the item needed purging and was not), and its status.
    pub fn failure(self) -> Option<Status> {
        match self {
            Reason::Duplicate | Reason::Covered => None,
            Reason::NoResource | Reason::Inactive => Some(Status::NotFound),
            Reason::UrlPurgeDisabled => Some(Status::Rejected),
        }
    }
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
    /// What is sent instead (text added beside the job's by [`plan_cache_keys`]).
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
    let r = resolve(job, index, false);
    finish(job, index, r.work, &r.rids, r.skipped, Vec::new(), limits)
}

/// [`plan`], with every URL item of a resource `index` knows written in its cache-key form
/// (see [`cachekey`]) before de-duplication: the forms are written into one buffer as they
/// are found, which goes beside `data`'s text (only when some item changes; the job's text
/// and entries stay shared with its caller, never copied).
pub fn plan_cache_keys(data: &mut Arc<JobData>, index: &ResourceIndex, limits: PlanLimits) -> Plan {
    let Resolved {
        work,
        rids,
        skipped,
        rewritten,
        forms,
    } = resolve(data, index, true);
    if !forms.is_empty() {
        // The forms go beside the job's text (`JobData`'s `extra`), where `resolve` said they
        // would: the job's own storage, which its caller may still hold, is shared, not copied.
        Arc::make_mut(data).append_extra(forms);
    }
    finish(data, index, work, &rids, skipped, rewritten, limits)
}

/// Map every entry to its resource, leave out what cannot be sent, and (`rewrite`) find the
/// cache-key forms of URL items: written one after another, each with its NUL, in the
/// returned text, which the caller must add beside the job's (`JobData::append_extra`): the
/// rewritten items' spans already point there.
fn resolve(job: &JobData, index: &ResourceIndex, rewrite: bool) -> Resolved {
    let mut rewritten = Vec::new();
    let mut forms = String::new();
    let forms_at = job.text_end();
    let mut skipped: Vec<Skip> = Vec::new();
    let mut work: Vec<Work> = Vec::with_capacity(job.entries().len());
    let mut rank_of: HashMap<i64, u32> = HashMap::new();
    let mut rids: Vec<i64> = Vec::new();
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
        let rank = *rank_of.entry(rid).or_insert_with(|| {
            rids.push(rid);
            rids.len() as u32 - 1
        });
        let mut sent = job.sent_span(e);
        if rewrite && kind == PurgeKind::Urls {
            let text = job.str(sent);
            if let (Some(info), Some((path, _))) = (index.get(rid), text.split_once('?')) {
                let rule = index.rules.get(&rid).and_then(|r| r.matching(path));
                let p = cachekey::policy(&info.options.query, rule);
                let start = forms.len();
                if cachekey::cache_key_form_into(text, p.keep, &mut forms) {
                    sent = Span {
                        start: forms_at + start as u32,
                        len: (forms.len() - start) as u32,
                    };
                    forms.push('\0');
                    rewritten.push(Rewrite {
                        entry: seq,
                        resource_id: rid,
                        sent,
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
            sent,
        });
    }
    Resolved {
        work,
        rids,
        skipped,
        rewritten,
        forms,
    }
}

/// What [`resolve`] found.
struct Resolved {
    work: Vec<Work>,
    /// The resource of each rank.
    rids: Vec<i64>,
    skipped: Vec<Skip>,
    rewritten: Vec<Rewrite>,
    /// The rewritten items' forms, NUL-terminated, to add at the job's `text_end`.
    forms: String,
}

/// De-duplicate, drop what a bigger purge covers, chunk, and warn.
fn finish(
    job: &JobData,
    index: &ResourceIndex,
    mut work: Vec<Work>,
    rids: &[i64],
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
        let rid = rids[rank as usize];
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
mod tests;
