//! The report of a run: every planned request with its outcome, every item left out and why,
//! totals, a stable JSON form, and the job of what was not purged ([`Report::remaining`]).
//!
//! Items are spans of the job's text, which the report shares (no copy per item); the C ABI
//! hands out pointers into it, NUL-terminated in place.

use std::sync::Arc;
use std::time::SystemTime;

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use super::plan::{By, Plan, Rewrite, Warning};
use super::verify::{Verdict, Verified};
use super::{Job, JobData, PurgeKind, Span};
use crate::engine::error::Status;

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

/// `requests[].outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The API accepted it (2xx).
    Purged,
    /// It was sent and failed for good.
    Failed,
    /// It was never sent (cancelled, deadline, stopped, or refused before sending).
    NotSent,
    /// A dry run: it would be sent.
    Planned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Purged => "purged",
            Outcome::Failed => "failed",
            Outcome::NotSent => "not_sent",
            Outcome::Planned => "planned",
        }
    }
}

/// `requests[].completion`: only when the run waited for confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    Successful,
    Failed,
    /// The wait ended first.
    InProgress,
}

impl Completion {
    pub fn as_str(self) -> &'static str {
        match self {
            Completion::Successful => "successful",
            Completion::Failed => "failed",
            Completion::InProgress => "in_progress",
        }
    }
}

/// One planned request and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestReport {
    pub resource_id: i64,
    pub kind: PurgeKind,
    /// What was (or would be) sent: spans of the job's text.
    pub items: Vec<Span>,
    pub outcome: Outcome,
    /// The request's status: `None` when purged, or while only planned; in JSON its code
    /// (0 for purged, `null` for planned).
    pub status: Option<Status>,
    pub http_status: Option<u16>,
    /// Why it failed or was not sent. Never contains the API key.
    pub message: Option<String>,
    pub attempts: u32,
    /// From the purge's entry in `GET /cdn/purge_statuses`, when confirmation found it.
    pub purge_id: Option<i64>,
    pub completion: Option<Completion>,
    /// When it was sent (the last attempt began), for matching its purge status.
    pub sent_at: Option<SystemTime>,
    /// The purge status's `created`, when confirmation found it (the server's clock).
    pub created: Option<SystemTime>,
    /// Items the request carried for other callers of the client besides the run's own
    /// (coalescing: other runs, single calls); 0 when it carried the run's items alone.
    pub carried_for_others: u64,
}

impl RequestReport {
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Not purged, as far as the run knows: it failed, was not sent (or only planned, in a
    /// dry run), or its purge `Failed`.
    pub fn unfinished(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Failed | Outcome::NotSent | Outcome::Planned
        ) || self.completion == Some(Completion::Failed)
    }
}

/// One item left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Its place among the job's entries (what was given).
    pub entry: u32,
    pub resource_id: Option<i64>,
    pub reason: Reason,
    pub by: Option<By>,
}

/// `totals`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Planned requests.
    pub requests: u64,
    pub purged: u64,
    pub failed: u64,
    pub not_sent: u64,
    /// Items of the purged requests.
    pub items_purged: u64,
    /// 429 answers met during the run.
    pub rate_limited: u64,
    pub elapsed_ms: u64,
    /// The least the limits allow the plan to take (see `plan::estimate`).
    pub estimated_ms: u64,
    /// Added: requests that began (were handed to the pacer and sent, answered or not).
    pub sent: u64,
    /// Added: items left out (`skipped`).
    pub skipped: u64,
    /// Added: requests whose purge status is `Successful`.
    pub confirmed: u64,
    /// Added: URLs the edge served fresh, stale, or gave no usable answer for (`verified`).
    pub verified_fresh: u64,
    pub verified_stale: u64,
    pub verified_error: u64,
    /// Added: items the run's purged requests carried for other callers of the client
    /// (coalescing), besides the run's own.
    pub carried_for_others: u64,
}

/// The outcome of a run. Immutable once the run returns.
#[derive(Clone, Debug)]
pub struct Report {
    data: Arc<JobData>,
    pub dry_run: bool,
    pub requests: Vec<RequestReport>,
    pub skipped: Vec<Skipped>,
    /// URL items sent in their cache-key form (see `plan::plan_cache_keys`), in the order
    /// given.
    pub rewritten: Vec<Rewrite>,
    /// What the plan sends that may not reach everything (`slice`, a custom cache key, a
    /// rule gcdn cannot use).
    pub warnings: Vec<Warning>,
    pub totals: Totals,
    /// The run's status: `None` for success.
    pub status: Option<Status>,
    /// The run's message (what `gcdn_job_run` puts in `error_out`); `None` for success.
    pub message: Option<String>,
    /// Entries of the listings skipped for a missing or wrong-typed field.
    pub malformed_resources: u64,
    pub malformed_statuses: u64,
    /// Resource options and rules ignored for a wrong shape.
    pub malformed_options: u64,
    /// Added: the edge's answer for each URL probed (verifying runs).
    pub verified: Vec<Verified>,
    /// Added: each prefetch request (runs with prefetch).
    pub prefetched: Vec<Prefetched>,
}

/// One prefetch request (`POST /cdn/resources/{id}/prefetch`) and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefetched {
    pub resource_id: i64,
    /// The paths sent: spans of the job's text.
    pub items: Vec<Span>,
    /// `purged` (accepted), `failed` or `not_sent`, as for purge requests.
    pub outcome: Outcome,
    pub status: Option<Status>,
    pub http_status: Option<u16>,
    pub message: Option<String>,
}

impl Report {
    /// A report of `plan`, every request `planned` (dry run) or `not_sent` (yet).
    pub fn new(data: Arc<JobData>, plan: Plan, dry_run: bool) -> Report {
        let outcome = if dry_run {
            Outcome::Planned
        } else {
            Outcome::NotSent
        };
        let requests = plan
            .requests
            .into_iter()
            .map(|r| RequestReport {
                resource_id: r.resource_id,
                kind: r.kind,
                items: r.items,
                outcome,
                status: None,
                http_status: None,
                message: None,
                attempts: 0,
                purge_id: None,
                completion: None,
                sent_at: None,
                created: None,
                carried_for_others: 0,
            })
            .collect();
        let (rewritten, warnings) = (plan.rewritten, plan.warnings);
        let skipped = plan
            .skipped
            .into_iter()
            .map(|s| Skipped {
                entry: s.entry,
                resource_id: s.resource_id,
                reason: s.reason,
                by: s.by,
            })
            .collect();
        let mut report = Report {
            data,
            dry_run,
            requests,
            skipped,
            rewritten,
            warnings,
            totals: Totals::default(),
            status: None,
            message: None,
            malformed_resources: 0,
            malformed_statuses: 0,
            verified: Vec::new(),
            prefetched: Vec::new(),
            malformed_options: 0,
        };
        report.recount();
        report
    }

    /// The job's storage the spans refer to.
    pub fn data(&self) -> &Arc<JobData> {
        &self.data
    }

    pub fn str(&self, span: Span) -> &str {
        self.data.str(span)
    }

    /// The items of request `i` as text.
    pub fn items(&self, i: usize) -> impl Iterator<Item = &str> {
        self.requests[i].items.iter().map(|s| self.data.str(*s))
    }

    /// The item of skip `i` as it was given (a path, pattern, full URL, or `all`).
    pub fn skipped_item(&self, i: usize) -> &str {
        let e = &self.data.entries()[self.skipped[i].entry as usize];
        self.data.given_text(e)
    }

    /// The covering pattern (as given) or `all` of skip `i`.
    pub fn skipped_by(&self, i: usize) -> Option<&str> {
        self.skipped[i].by.map(|b| match b {
            By::All => "all",
            By::Pattern(s) => self.data.str(s),
        })
    }

    /// The item of rewrite `i` as it was given (a path or a full URL).
    pub fn rewritten_item(&self, i: usize) -> &str {
        let e = &self.data.entries()[self.rewritten[i].entry as usize];
        self.data.given_text(e)
    }

    /// What rewrite `i` sends instead: the item in its cache-key form.
    pub fn rewritten_as(&self, i: usize) -> &str {
        self.data.str(self.rewritten[i].sent)
    }

    /// Recompute the totals from the requests and skips (elapsed/estimate/429s kept).
    pub fn recount(&mut self) {
        let t = &mut self.totals;
        t.requests = self.requests.len() as u64;
        t.purged = 0;
        t.failed = 0;
        t.not_sent = 0;
        t.items_purged = 0;
        t.confirmed = 0;
        t.carried_for_others = 0;
        for r in &self.requests {
            match r.outcome {
                Outcome::Purged => {
                    t.purged += 1;
                    t.carried_for_others += r.carried_for_others;
                    t.items_purged +=
                        r.items.len().max(usize::from(r.kind == PurgeKind::All)) as u64;
                }
                Outcome::Failed => t.failed += 1,
                Outcome::NotSent => t.not_sent += 1,
                Outcome::Planned => {}
            }
            if r.completion == Some(Completion::Successful) {
                t.confirmed += 1;
            }
        }
        t.skipped = self.skipped.len() as u64;
        let t = &mut self.totals;
        t.verified_fresh = 0;
        t.verified_stale = 0;
        t.verified_error = 0;
        for v in &self.verified {
            match v.result {
                Verdict::Fresh => t.verified_fresh += 1,
                Verdict::Stale => t.verified_stale += 1,
                Verdict::Error => t.verified_error += 1,
            }
        }
    }

    /// A job of what was not purged: the requests that failed, were not sent (all of them
    /// after a dry run: the plan, mapped and de-duplicated), or whose purge status says
    /// `Failed`, by resource id (full URLs already mapped). Items left out
    /// as `skipped` are not in it, whatever the reason: sending them again would meet the
    /// same reason. `None` when there is nothing left.
    pub fn remaining(&self) -> Option<Job> {
        let mut job = Job::new();
        let mut items: Vec<&str> = Vec::new();
        for r in self.requests.iter().filter(|r| r.unfinished()) {
            items.clear();
            items.extend(r.items.iter().map(|s| self.data.str(*s)));
            job.push_sent(r.resource_id, r.kind, &items);
        }
        (!job.is_empty()).then_some(job)
    }

    /// The stable JSON form (see the module docs of `job` and README).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

struct Items<'a>(&'a JobData, &'a [Span]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1.len()))?;
        for span in self.1 {
            seq.serialize_element(self.0.str(*span))?;
        }
        seq.end()
    }
}

struct Requests<'a>(&'a Report);

impl Serialize for Requests<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        let mut seq = s.serialize_seq(Some(report.requests.len()))?;
        for r in &report.requests {
            seq.serialize_element(&RequestJson(&report.data, r))?;
        }
        seq.end()
    }
}

struct RequestJson<'a>(&'a JobData, &'a RequestReport);

impl Serialize for RequestJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.1;
        let mut m = s.serialize_map(Some(11))?;
        m.serialize_entry("resource_id", &r.resource_id)?;
        m.serialize_entry("kind", r.kind.as_str())?;
        m.serialize_entry("items", &Items(self.0, &r.items))?;
        m.serialize_entry("outcome", r.outcome.as_str())?;
        let status = match (r.outcome, r.status) {
            (_, Some(s)) => Some(s.code()),
            (Outcome::Purged, None) => Some(0),
            _ => None,
        };
        m.serialize_entry("status", &status)?;
        m.serialize_entry("http_status", &r.http_status)?;
        m.serialize_entry("message", &r.message())?;
        m.serialize_entry("attempts", &r.attempts)?;
        m.serialize_entry("purge_id", &r.purge_id)?;
        m.serialize_entry("completion", &r.completion.map(Completion::as_str))?;
        m.serialize_entry("carried_for_others", &r.carried_for_others)?;
        m.end()
    }
}

impl RequestReport {
    /// This request as an object of the JSON form's `requests`, its items read from `data`
    /// (the job's): what the CLI prints as a `request` line while the run goes on.
    pub fn to_json(&self, data: &JobData) -> serde_json::Value {
        serde_json::to_value(RequestJson(data, self)).unwrap_or(serde_json::Value::Null)
    }
}

impl Verified {
    /// This probe as an object of the JSON form's `verified` (the CLI's `verify` line).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "resource_id": self.resource_id,
            "result": self.result.as_str(),
            "cache": self.cache,
            "cached_since": self.cached_since,
            "edge": self.edge,
            "message": self.message,
        })
    }
}

impl Prefetched {
    /// This request as an object of the JSON form's `prefetched` (the CLI's `prefetch` line),
    /// its paths read from `data` (the job's).
    pub fn to_json(&self, data: &JobData) -> serde_json::Value {
        let status = match (self.outcome, self.status) {
            (_, Some(s)) => Some(s.code()),
            (Outcome::Purged, None) => Some(0),
            _ => None,
        };
        let items: Vec<&str> = self.items.iter().map(|s| data.str(*s)).collect();
        serde_json::json!({
            "resource_id": self.resource_id,
            "items": items,
            "outcome": self.outcome.as_str(),
            "status": status,
            "http_status": self.http_status,
            "message": self.message,
        })
    }
}

struct SkippedJson<'a>(&'a Report);

impl Serialize for SkippedJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        let mut seq = s.serialize_seq(Some(report.skipped.len()))?;
        for (i, k) in report.skipped.iter().enumerate() {
            seq.serialize_element(&SkipJson(report, i, k))?;
        }
        seq.end()
    }
}

struct SkipJson<'a>(&'a Report, usize, &'a Skipped);

impl Serialize for SkipJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (report, i, k) = (self.0, self.1, self.2);
        let given = report.data.entries()[k.entry as usize].given;
        let by = report.skipped_by(i);
        let mut m = s.serialize_map(Some(if by.is_some() { 5 } else { 4 }))?;
        m.serialize_entry("item", report.skipped_item(i))?;
        m.serialize_entry("resource_id", &k.resource_id)?;
        m.serialize_entry("reason", k.reason.as_str())?;
        if let Some(by) = by {
            m.serialize_entry("by", by)?;
        }
        m.serialize_entry("given", given.as_str())?;
        m.end()
    }
}

struct RewrittenJson<'a>(&'a Report);

impl Serialize for RewrittenJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        let mut seq = s.serialize_seq(Some(report.rewritten.len()))?;
        for i in 0..report.rewritten.len() {
            seq.serialize_element(&report.rewrite_json(i))?;
        }
        seq.end()
    }
}

struct WarningsJson<'a>(&'a Report);

impl Serialize for WarningsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        let mut seq = s.serialize_seq(Some(report.warnings.len()))?;
        for w in &report.warnings {
            seq.serialize_element(&warning_json(w))?;
        }
        seq.end()
    }
}

/// One object of `warnings` (also the CLI's `warning` line).
pub fn warning_json(w: &Warning) -> serde_json::Value {
    serde_json::json!({
        "resource_id": w.resource_id,
        "code": w.code.as_str(),
        "message": w.message,
    })
}

impl Report {
    /// One object of `rewritten` (also the CLI's `rewritten` line): `item` as given, `as`
    /// what is sent, `by` the option that decided (`null`: only the parameters' order
    /// changed), `rule_id` the rule that did.
    pub fn rewrite_json(&self, i: usize) -> serde_json::Value {
        let r = &self.rewritten[i];
        serde_json::json!({
            "item": self.rewritten_item(i),
            "as": self.rewritten_as(i),
            "resource_id": r.resource_id,
            "by": r.by.map(|b| b.as_str()),
            "rule_id": r.rule_id,
        })
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(11))?;
        m.serialize_entry("version", &1)?;
        m.serialize_entry("dry_run", &self.dry_run)?;
        m.serialize_entry("requests", &Requests(self))?;
        m.serialize_entry("skipped", &SkippedJson(self))?;
        m.serialize_entry("totals", &self.totals)?;
        m.serialize_entry("status", &self.status.map_or(0, Status::code))?;
        m.serialize_entry("message", &self.message)?;
        m.serialize_entry(
            "listing",
            &serde_json::json!({
                "malformed_resources": self.malformed_resources,
                "malformed_statuses": self.malformed_statuses,
                "malformed_options": self.malformed_options,
            }),
        )?;
        let verified: Vec<serde_json::Value> =
            self.verified.iter().map(Verified::to_json).collect();
        m.serialize_entry("verified", &verified)?;
        let prefetched: Vec<serde_json::Value> = self
            .prefetched
            .iter()
            .map(|p| p.to_json(&self.data))
            .collect();
        m.serialize_entry("prefetched", &prefetched)?;
        m.serialize_entry("rewritten", &RewrittenJson(self))?;
        m.serialize_entry("warnings", &WarningsJson(self))?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::{plan, PlanLimits, ResourceIndex};
    use super::*;
    use serde_json::{json, Value};

    fn sample() -> Report {
        let mut job = Job::new();
        job.add_urls(5, &["/a.png", "/a.png"]).unwrap();
        job.add_urls(6, &["/b", "/c"]).unwrap();
        job.add_patterns(6, &["/d/*"]).unwrap();
        job.add_all(7).unwrap();
        job.add_full_urls(&["https://nowhere.example.com/x?y=1"])
            .unwrap();
        let p = plan(
            job.data(),
            &ResourceIndex::default(),
            PlanLimits {
                max_urls: 1,
                max_patterns: 10,
            },
        );
        Report::new(Arc::clone(job.data()), p, false)
    }

    #[test]
    fn json_form_is_the_documented_one() {
        let mut r = sample();
        r.requests[0].outcome = Outcome::Purged;
        r.requests[0].http_status = Some(201);
        r.requests[0].attempts = 1;
        r.requests[2].outcome = Outcome::Failed;
        r.requests[2].status = Some(Status::Server);
        r.requests[2].http_status = Some(503);
        r.requests[2].message = Some("HTTP 503: down".into());
        r.requests[2].attempts = 3;
        r.totals.elapsed_ms = 12;
        r.recount();
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["dry_run"], false);
        assert_eq!(
            v["requests"][0],
            json!({"resource_id": 5, "kind": "urls", "items": ["/a.png"], "outcome": "purged",
                   "status": 0, "http_status": 201, "message": null, "attempts": 1,
                   "purge_id": null, "completion": null, "carried_for_others": 0})
        );
        let kinds: Vec<&str> = v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["urls", "patterns", "urls", "urls", "all"]);
        assert_eq!(v["requests"][2]["message"], "HTTP 503: down");
        assert_eq!(v["requests"][4]["items"], json!([]));
        assert_eq!(
            v["skipped"],
            json!([
                {"item": "/a.png", "resource_id": 5, "reason": "duplicate", "given": "url"},
                {"item": "https://nowhere.example.com/x?y=1", "resource_id": null, "reason": "no_resource", "given": "full_url"},
            ])
        );
        let t = &v["totals"];
        for (k, n) in [
            ("requests", 5),
            ("purged", 1),
            ("failed", 1),
            ("not_sent", 3),
            ("items_purged", 1),
            ("rate_limited", 0),
            ("elapsed_ms", 12),
            ("estimated_ms", 0),
        ] {
            assert_eq!(t[k], n, "{k}");
        }
    }

    #[test]
    fn one_request_alone_is_its_object_of_the_whole_form() {
        let mut r = sample();
        r.requests[1].outcome = Outcome::Failed;
        r.requests[1].status = Some(Status::Server);
        r.requests[1].http_status = Some(503);
        let whole: Value = serde_json::from_str(&r.to_json()).unwrap();
        for (i, req) in r.requests.iter().enumerate() {
            assert_eq!(req.to_json(r.data()), whole["requests"][i]);
        }
    }

    #[test]
    fn remaining_holds_what_was_not_purged() {
        let mut r = sample();
        assert_eq!(
            r.remaining().unwrap().len(),
            5,
            "4 requests, one of them 2 items... all unfinished"
        );
        for q in &mut r.requests {
            q.outcome = Outcome::Purged;
        }
        assert!(r.remaining().is_none());
        r.requests[1].completion = Some(Completion::Failed);
        r.requests[4].outcome = Outcome::Failed;
        let job = r.remaining().unwrap();
        let d = job.data();
        let got: Vec<(i64, &str)> = d
            .entries()
            .iter()
            .map(|e| (e.resource_id, d.given_text(e)))
            .collect();
        assert_eq!(got, [(6, "/d/*"), (7, "all")]);
    }

    #[test]
    fn covered_items_name_what_covers_them() {
        let mut job = Job::new();
        job.add_urls(1, &["/img/a.png?v=2"]).unwrap();
        job.add_patterns(1, &["/img/*"]).unwrap();
        job.add_urls(2, &["/x"]).unwrap();
        job.add_all(2).unwrap();
        let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
        let r = Report::new(Arc::clone(job.data()), p, true);
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["dry_run"], true);
        assert_eq!(v["requests"][0]["outcome"], "planned");
        assert_eq!(v["skipped"][0]["by"], "/img/*");
        assert_eq!(v["skipped"][0]["reason"], "covered");
        assert_eq!(v["skipped"][1]["by"], "all");
    }
}
