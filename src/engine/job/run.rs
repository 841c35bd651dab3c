//! Running a job: read the resources listing (when the job has full URLs), plan, send every
//! request through the client's pacer over a few worker threads, optionally confirm, and
//! write the report, also when the run fails, is cancelled, stopped or times out.
//!
//! Threads: the calling thread plans, then only delivers events and keeps the report; a
//! driver thread starts [`RunOptions::workers`] workers (default [`DEFAULT_WORKERS`]) and,
//! once they are done, confirms. Workers take the (resource, rate window) "lanes" whose
//! window allows a request soonest, so that a lane waiting for its window never holds up
//! another lane that could send. Everything the workers learn reaches the calling thread over
//! a channel; the report is only ever touched there, and the progress callback runs there,
//! one event at a time, with no lock held.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::cachekey;
use super::confirm;
use super::contain::contained;
use super::event::{Event, EventKind, Flow};
use super::listing::{self, ReadLimits, ResourceInfo};
use super::msg::Msg;
use super::plan::{self, PlanLimits, ResourceIndex};
use super::report::Prefetched;
use super::report::{Completion, Outcome, Report};
use super::verify::{
    choose, Edge, Target, Verdict, Verified, DEFAULT_VERIFY_LIMIT, DEFAULT_VERIFY_WAIT,
    PROBE_TIMEOUT,
};
use super::worker::{shared_view, worker, Lane, Sched, Shared, TICK};
use super::{Given, Job, JobData, PurgeKind, Span};
use crate::engine::call::{CallCtx, CallSettings};
use crate::engine::cancel::CancelToken;
use crate::engine::error::{Error, Status};
use crate::engine::format::plural;
use crate::engine::pacer::{PaceKind, Window};
use crate::engine::purge::pace_kind;
use crate::engine::Client;

/// Worker threads (so connections) a run uses by default: enough to keep four resources'
/// windows busy at once, few enough to be kind to the API and the machine.
pub const DEFAULT_WORKERS: usize = 4;
/// The most worker threads a run may use.
pub const MAX_WORKERS: usize = 32;
/// The most of one page of `GET /cdn/resources` read (a resource's JSON is a few KB).
pub const RESOURCES_PAGE_CAP: usize = 8 * 1024 * 1024;
/// The longest the progress callback goes without an event while a run lasts: when nothing
/// else happened for this long, it gets an [`EventKind::Tick`].
pub const TICK_EVENT: Duration = Duration::from_millis(50);

/// How to run a job.
///
/// Waits: every request waits for its slot in the client's pacer (its resource's window for
/// its kind) like any single call, and the client's `max_rate_limit_wait` bounds each
/// request's waits on rate limits (that slot, and after a 429), per request, not per run: a
/// request whose slot opens further away than that is not sent, at once (outcome
/// `not_sent`, [`Status::RateLimited`], its message saying when the slot opens), and the
/// rest of the job goes on. A request's wait begins when the previous one on its resource
/// and kind went out, so a long job on one resource needs a budget of one window, not the
/// job's whole duration: 2,000 URLs on one resource at the documented 2 URL purges a minute
/// are 20 requests over about 9 minutes, and each waits at most one window and its margin
/// (61.2 s), within the default 150 s. No wait goes past the run's timeout either: a request
/// whose slot opens after it is not sent ([`Status::Timeout`]).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Plan only: nothing is sent; the resources listing (and the rules of resources with
    /// URL items that have a query) are still read.
    pub dry_run: bool,
    /// Send every item as given: no URL item is written in its cache-key form (see
    /// [`super::cachekey`]), and no rules are read. Warnings still come.
    pub exact: bool,
    /// Wait up to this long after the last request for every purge to be confirmed by
    /// `GET /cdn/purge_statuses` (`None`: do not confirm).
    pub wait: Option<Duration>,
    /// The whole run's timeout (confirmation included) and a cancel token; a field left
    /// `None` keeps the client's own.
    pub settings: CallSettings,
    /// Worker threads, 1 to [`MAX_WORKERS`]; default [`DEFAULT_WORKERS`].
    pub workers: usize,
    /// After confirmation (which it implies: [`DEFAULT_VERIFY_WAIT`] when `wait` is `None`),
    /// probe the URLs purged by URL at the edge (see [`super::verify`]). A URL still `stale`
    /// fails an otherwise successful run with [`Status::Stale`]; `error` probes are reported
    /// and change nothing.
    pub verify: bool,
    /// The most URLs of one resource probed (evenly chosen); default
    /// [`DEFAULT_VERIFY_LIMIT`].
    pub verify_limit: usize,
    /// Where probes go instead of each URL's own host (see [`super::verify::parse_edge`]).
    pub edges: Vec<Edge>,
    /// After the purges (and their confirmation when waiting), send the paths purged by URL to
    /// `POST /cdn/resources/{id}/prefetch`, 100 a request, each in its slot of the client's
    /// pacer (1 a minute per resource). Reported in `prefetched`; a failed prefetch does not
    /// fail the run.
    pub prefetch: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            exact: false,
            wait: None,
            settings: CallSettings::default(),
            workers: DEFAULT_WORKERS,
            verify: false,
            verify_limit: DEFAULT_VERIFY_LIMIT,
            edges: Vec::new(),
            prefetch: false,
        }
    }
}

/// A run that failed: why, and its report when the run got as far as planning.
#[derive(Debug)]
pub struct JobError {
    pub error: Error,
    pub report: Option<Box<Report>>,
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error.message)
    }
}

impl std::error::Error for JobError {}

impl Client {
    /// Run `job`: see [`RunOptions`] and the module docs. `progress` (if any) is called on
    /// this thread for every event, one at a time; [`Flow::Stop`] stops the run.
    ///
    /// `Ok` only if every planned request was purged (and confirmed, when waiting) and no
    /// item was left out as `no_resource`, `inactive` or `url_purge_disabled`. Otherwise the
    /// error is the first failure's status (a request's own; `NotFound` for `no_resource` and
    /// `inactive` items; `Rejected` for `url_purge_disabled` items and a `Failed` purge status;
    /// `Timeout` when the wait for confirmation ended first), or `Cancelled`/`Timeout` when
    /// the run was stopped or ran out of time, with the report, written whenever the run got
    /// past validation and the resources listing.
    pub fn run_job(
        &self,
        job: &Job,
        options: &RunOptions,
        progress: Option<&mut dyn FnMut(&Event) -> Flow>,
    ) -> Result<Report, JobError> {
        let no_report = |error| JobError {
            error,
            report: None,
        };
        if job.is_empty() {
            return Err(no_report(Error::invalid(
                "the job is empty: add URLs, patterns, purge-alls or full URLs first",
            )));
        }
        if !(1..=MAX_WORKERS).contains(&options.workers) {
            return Err(no_report(Error::invalid(format!(
                "workers must be 1 to {MAX_WORKERS}, got {}",
                options.workers
            ))));
        }
        let started = Instant::now();
        let verify = options.verify && !options.dry_run;
        // Verifying implies the wait for confirmation.
        let mut effective = options.clone();
        if verify && effective.wait.is_none() {
            effective.wait = Some(DEFAULT_VERIFY_WAIT);
        }
        let options = &effective;
        // The run's own context: its deadline, and the caller's (or the client's) cancel.
        let ctx = self.context(&options.settings, None);
        let mut data = Arc::clone(job.data());
        // The listing (hosts, and the options that decide each resource's cache key), the
        // rules where they matter, and the account's limits: before anything is sent.
        // Without items by host the listing only refines the plan: when it cannot be read
        // (but the run can go on), every item goes as given, with a warning.
        let by_host = data.entries().iter().any(|e| e.given.by_host());
        let mut unlisted: Option<Error> = None;
        let (mut index, malformed) = match read_resources(self, &ctx, &data) {
            Ok(found) => found,
            Err(e) if !by_host => {
                // Cancelled or out of time: the run stops before its first send, and its
                // report says why. Otherwise every item goes as given, with a warning.
                if !matches!(e.status, Status::Cancelled | Status::Timeout) {
                    unlisted = Some(e);
                }
                (ResourceIndex::default(), 0)
            }
            Err(e) => return Err(no_report(e)),
        };
        let malformed_rules = if options.exact || unlisted.is_some() {
            0
        } else {
            read_rules(self, &ctx, &data, &mut index).map_err(no_report)?
        };
        let limits = self.account_limits(&ctx);
        let limits = PlanLimits {
            max_urls: limits.max_urls,
            max_patterns: limits.max_patterns,
        };
        let plan = if options.exact {
            plan::plan(&data, &index, limits)
        } else {
            plan::plan_cache_keys(&mut data, &index, limits)
        };
        let malformed_options = malformed_rules
            + plan
                .requests
                .iter()
                .map(|r| r.resource_id)
                .collect::<HashSet<i64>>()
                .into_iter()
                .filter_map(|rid| index.get(rid))
                .map(|r| r.malformed_options)
                .sum::<usize>();
        let windows = [
            self.window(&ctx, PaceKind::Urls),
            self.window(&ctx, PaceKind::Patterns),
        ];
        // Purges pace as URLs or as patterns (purge-all with them), never as prefetches.
        let window_of = |kind: PurgeKind| {
            if pace_kind(kind) == PaceKind::Urls {
                windows[0]
            } else {
                windows[1]
            }
        };
        let estimate = plan::estimate(&plan, |_, k| {
            let w = window_of(k);
            (w.requests, w.per)
        });
        let mut plan = plan;
        if let Some(e) = unlisted {
            plan.warnings.insert(
                0,
                plan::Warning {
                    resource_id: None,
                    code: plan::WarningCode::NoListing,
                    message: format!(
                        "the resources listing could not be read, so every item goes as \
                         given (not in its cache-key form): {}",
                        e.message
                    ),
                },
            );
        }
        let mut report = Report::new(Arc::clone(&data), plan, options.dry_run);
        report.malformed_resources = malformed as u64;
        report.malformed_options = malformed_options as u64;
        report.totals.estimated_ms = millis(estimate);
        let mut run = Running {
            report,
            progress,
            first_failure: None,
            stopped: None,
            started,
        };
        // Items left out for a reason that is a failure come first. The message's summary
        // already names them by reason ("1 item left out (1 no_resource)"): nothing to add.
        for s in &run.report.skipped {
            if let Some(status) = s.reason.failure() {
                run.first_failure.get_or_insert((status, String::new()));
                break;
            }
        }
        if !options.dry_run && !run.report.requests.is_empty() {
            run.execute(self, &ctx, options, &data, window_of);
            if run.stopped.is_none() && !ctx.cancelled() {
                if verify {
                    run.verify(self, &ctx, options, &data, &index);
                }
                if options.prefetch {
                    run.prefetch(self, &ctx, &data);
                }
            }
        }
        run.finish()
    }
}

/// `GET /cdn/resources`, every page, keeping only the resources the job names (by host or
/// id) and of them only what the plan needs.
fn read_resources(
    client: &Client,
    ctx: &CallCtx,
    data: &JobData,
) -> Result<(ResourceIndex, usize), Error> {
    let mut hosts: HashSet<String> = HashSet::new();
    let mut ids: HashSet<i64> = HashSet::new();
    for e in data.entries() {
        match data.host(e) {
            Some(h) if !hosts.contains(h) => {
                hosts.insert(h.to_ascii_lowercase());
            }
            Some(_) => {}
            None => {
                ids.insert(e.resource_id);
            }
        }
    }
    let keep = |r: &ResourceInfo| ids.contains(&r.id) || r.hosts().any(|h| hosts.contains(h));
    let paged = listing::read_paged(
        "listing resources (GET /cdn/resources)",
        "/cdn/resources",
        ReadLimits::RESOURCES,
        |path| {
            client
                .get(ctx, path, RESOURCES_PAGE_CAP)
                .map_err(|e| e.context("listing resources"))
        },
        listing::resource_entry,
        keep,
    )?;
    Ok((ResourceIndex::new(paged.kept), paged.malformed))
}

/// The most of `GET /cdn/resources/{id}/rules` read (a rule's JSON is a few KB).
pub const RULES_PAGE_CAP: usize = 4 * 1024 * 1024;

/// `GET /cdn/resources/{id}/rules` for each resource of `index` that has URL items with a
/// query (the only ones whose cache-key form a rule can change), bounded like the other
/// listings; returns how many rules (or their options) were ignored for a wrong shape.
fn read_rules(
    client: &Client,
    ctx: &CallCtx,
    data: &JobData,
    index: &mut ResourceIndex,
) -> Result<usize, Error> {
    let mut ids: Vec<i64> = Vec::new();
    for e in data.entries() {
        if !matches!(e.given, Given::Url | Given::FullUrl)
            || !data.str(data.sent_span(e)).contains('?')
        {
            continue;
        }
        let rid = match data.host(e) {
            Some(h) => match index.resource_of_host(&h.to_ascii_lowercase()) {
                Some(rid) => rid,
                None => continue,
            },
            None => e.resource_id,
        };
        if index
            .get(rid)
            .is_some_and(|r| r.active && !r.deleted && r.can_purge_by_urls)
        {
            ids.push(rid);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let mut malformed = 0;
    for rid in ids {
        let what = format!("listing the rules of resource {rid} (GET /cdn/resources/{rid}/rules)");
        let paged = listing::read_paged(
            &what,
            &format!("/cdn/resources/{rid}/rules"),
            ReadLimits::RULES,
            |path| {
                client
                    .get(ctx, path, RULES_PAGE_CAP)
                    .map_err(|e| e.context(format!("listing the rules of resource {rid}")))
            },
            |v| cachekey::rule_entry(&v),
            |_| true,
        )?;
        malformed += paged.malformed;
        let mut rules = Vec::with_capacity(paged.kept.len());
        for (rule, bad) in paged.kept {
            malformed += bad;
            rules.push(rule);
        }
        index.set_rules(rid, rules);
    }
    Ok(malformed)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why the run stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopped {
    Cancelled,
    ByCallback,
}

/// The calling thread's side of a run.
struct Running<'p> {
    report: Report,
    progress: Option<&'p mut dyn FnMut(&Event) -> Flow>,
    /// The first failure, in the order it happened (its text empty when the summary says
    /// it: items left out).
    first_failure: Option<(Status, String)>,
    stopped: Option<Stopped>,
    started: Instant,
}

impl Running<'_> {
    fn execute(
        &mut self,
        client: &Client,
        ctx: &CallCtx,
        options: &RunOptions,
        data: &JobData,
        window_of: impl Fn(PurgeKind) -> Window,
    ) {
        let cancel = Arc::new(CancelToken::new());
        // The threads read a copy of the spans (8 bytes an item), the report stays whole.
        let items: Vec<Vec<Span>> = self
            .report
            .requests
            .iter()
            .map(|r| r.items.clone())
            .collect();
        let kinds: Vec<(i64, PurgeKind)> = self
            .report
            .requests
            .iter()
            .map(|r| (r.resource_id, r.kind))
            .collect();
        let mut lane_of: HashMap<(i64, PaceKind), usize> = HashMap::new();
        let mut lanes: Vec<Lane> = Vec::new();
        for (i, &(rid, kind)) in kinds.iter().enumerate() {
            let pk = pace_kind(kind);
            let at = *lane_of.entry((rid, pk)).or_insert_with(|| {
                lanes.push(Lane {
                    window: window_of(kind),
                    queue: VecDeque::new(),
                    sent: VecDeque::new(),
                    busy: false,
                });
                lanes.len() - 1
            });
            lanes[at].queue.push_back(i);
        }
        let workers = options.workers.min(lanes.len()).max(1);
        let shared = Shared {
            sched: Mutex::new(Sched {
                lanes,
                gone: HashSet::new(),
                unauthorized: false,
            }),
            wake: Condvar::new(),
            cancel: Arc::clone(&cancel),
            run_ctx: ctx,
            deadline: ctx.deadline(),
            items: &items,
            data,
            kinds,
            sent_at: Mutex::new(vec![None; items.len()]),
            sent_items: Mutex::new(vec![None; items.len()]),
            done_sending: AtomicBool::new(false),
        };
        // No tick: the workers' waits are not on the calling thread (its loop ticks).
        let run_settings = CallSettings {
            timeout: None,
            cancel: Some(Arc::clone(&cancel)),
            tick: None,
        };
        let wait = options.wait;
        let (tx, rx) = mpsc::channel::<Msg>();
        if workers == 1 && wait.is_none() && self.progress.is_none() {
            // One lane, nobody to tell as it goes, nothing to confirm: the calling thread is
            // the worker (no thread started, so a one-URL job costs what a purge call does).
            // The caller's cancel token wakes its waits; the deadline is the run's.
            let inline = CallSettings {
                timeout: None,
                cancel: options
                    .settings
                    .cancel
                    .clone()
                    .or_else(|| Some(Arc::clone(&cancel))),
                tick: None,
            };
            worker(client, &shared, &inline, tx);
            shared.done_sending.store(true, Ordering::Release);
            for msg in rx.try_iter() {
                let _ = self.apply(msg);
            }
            if ctx.cancelled() {
                self.stopped = Some(Stopped::Cancelled);
            }
            return;
        }
        let mut panicked = None;
        std::thread::scope(|scope| {
            let shared = &shared;
            let run_settings = &run_settings;
            let driver_tx = tx.clone();
            scope.spawn(move || {
                std::thread::scope(|inner| {
                    for _ in 0..workers {
                        let tx = driver_tx.clone();
                        inner.spawn(move || worker(client, shared, run_settings, tx));
                    }
                });
                shared.done_sending.store(true, Ordering::Release);
                if let Some(wait) = wait {
                    let confirmed = contained("confirming purges", || {
                        confirm::confirm(client, shared_view(shared), wait, &driver_tx)
                    });
                    if let Err(error) = confirmed {
                        let _ = driver_tx.send(Msg::PollFailed { error });
                    }
                }
            });
            drop(tx);
            let mut last_event = Instant::now();
            loop {
                let msg = match rx.recv_timeout(TICK) {
                    Ok(msg) => Some(msg),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let tick =
                    msg.is_none() && self.progress.is_some() && last_event.elapsed() >= TICK_EVENT;
                if msg.is_some() || tick {
                    last_event = Instant::now();
                    let flow =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match msg {
                            Some(msg) => self.apply(msg),
                            None => self.tick(),
                        }));
                    match flow {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Stop) => {
                            if self.stopped.is_none() {
                                self.stopped = Some(Stopped::ByCallback);
                            }
                            cancel.cancel();
                            shared.wake.notify_all();
                        }
                        Err(payload) => {
                            // Stop the threads before the panic goes on.
                            cancel.cancel();
                            shared.wake.notify_all();
                            self.progress = None;
                            panicked = Some(payload);
                        }
                    }
                }
                if self.stopped.is_none() && ctx.cancelled() {
                    self.stopped = Some(Stopped::Cancelled);
                    cancel.cancel();
                    shared.wake.notify_all();
                }
            }
            if self.stopped.is_none() && ctx.cancelled() {
                self.stopped = Some(Stopped::Cancelled);
            }
        });
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
    }

    /// Probe the URLs of the confirmed URL purges at the edge (see [`super::verify`]).
    fn verify(
        &mut self,
        client: &Client,
        ctx: &CallCtx,
        options: &RunOptions,
        data: &JobData,
        index: &ResourceIndex,
    ) {
        // Where each sent item came from: its host, when given by host.
        let origin: HashMap<u32, usize> = data
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.given, Given::Url | Given::FullUrl))
            .map(|(i, e)| (data.sent_span(e).start, i))
            .collect();
        let mut order: Vec<i64> = Vec::new();
        let mut per_resource: HashMap<i64, Vec<(Span, SystemTime)>> = HashMap::new();
        for r in &self.report.requests {
            if r.kind != PurgeKind::Urls
                || r.outcome != Outcome::Purged
                || r.completion != Some(Completion::Successful)
            {
                continue;
            }
            let Some(purged_at) = r.created.or(r.sent_at) else {
                continue;
            };
            let list = per_resource.entry(r.resource_id).or_insert_with(|| {
                order.push(r.resource_id);
                Vec::new()
            });
            list.extend(r.items.iter().map(|s| (*s, purged_at)));
        }
        let mut targets: Vec<Target> = Vec::new();
        let mut unprobed: Vec<Verified> = Vec::new();
        for rid in order {
            let list = &per_resource[&rid];
            let cname = index
                .get(rid)
                .map(|r| r.cname.as_str())
                .filter(|c| !c.is_empty());
            for i in choose(list.len(), options.verify_limit) {
                let (span, purged_at) = list[i];
                let path = data.str(span);
                let given_host = origin
                    .get(&span.start)
                    .and_then(|&e| data.host(&data.entries()[e]));
                match given_host.or(cname) {
                    Some(host) => targets.push(Target {
                        resource_id: rid,
                        host: host.to_owned(),
                        path: path.to_owned(),
                        purged_at,
                    }),
                    None => unprobed.push(Verified {
                        url: path.to_owned(),
                        resource_id: rid,
                        result: Verdict::Error,
                        cache: None,
                        cached_since: None,
                        edge: None,
                        message: Some(format!(
                            "not probed: resource {rid} has no cname in the resources listing"
                        )),
                    }),
                }
            }
        }
        let mut verified = match client.prober(PROBE_TIMEOUT) {
            Ok(prober) => prober.probe_all(ctx, &targets, &options.edges),
            Err(e) => targets
                .iter()
                .map(|t| Verified {
                    url: format!("https://{}{}", t.host, t.path),
                    resource_id: t.resource_id,
                    result: Verdict::Error,
                    cache: None,
                    cached_since: None,
                    edge: None,
                    message: Some(format!("not probed: {}", e.message)),
                })
                .collect(),
        };
        verified.extend(unprobed);
        self.report.verified = verified;
        self.report.recount();
    }

    /// Send the paths purged by URL to `/prefetch`, 100 a request, the resources taken in
    /// turn so that one resource's wait for its slot overlaps the others' requests.
    fn prefetch(&mut self, client: &Client, ctx: &CallCtx, data: &JobData) {
        let mut order: Vec<i64> = Vec::new();
        let mut paths: HashMap<i64, Vec<Span>> = HashMap::new();
        for r in &self.report.requests {
            if r.kind == PurgeKind::Urls
                && r.outcome == Outcome::Purged
                && r.completion != Some(Completion::Failed)
            {
                paths
                    .entry(r.resource_id)
                    .or_insert_with(|| {
                        order.push(r.resource_id);
                        Vec::new()
                    })
                    .extend(r.items.iter().copied());
            }
        }
        let per = crate::engine::account::DOCUMENTED_MAX_PREFETCH;
        let mut queues: Vec<(i64, std::vec::IntoIter<Vec<Span>>)> = order
            .iter()
            .map(|rid| {
                let chunks: Vec<Vec<Span>> = paths[rid].chunks(per).map(<[Span]>::to_vec).collect();
                (*rid, chunks.into_iter())
            })
            .collect();
        let mut out: Vec<Prefetched> = Vec::new();
        loop {
            let mut any = false;
            for (rid, chunks) in &mut queues {
                let Some(items) = chunks.next() else { continue };
                any = true;
                let texts: Vec<&str> = items.iter().map(|s| data.str(*s)).collect();
                let body = serde_json::json!({ "paths": texts }).to_string();
                let mut p = Prefetched {
                    resource_id: *rid,
                    items,
                    outcome: Outcome::NotSent,
                    status: None,
                    http_status: None,
                    message: None,
                };
                if ctx.cancelled() {
                    p.status = Some(Status::Cancelled);
                    p.message = Some("not sent: the run was cancelled".into());
                } else {
                    match client.send_prefetch(ctx, *rid, body.as_bytes()) {
                        Ok(info) => {
                            p.outcome = Outcome::Purged;
                            p.http_status = Some(info.http_status);
                        }
                        Err(f) => {
                            if f.attempts > 0 {
                                p.outcome = Outcome::Failed;
                            }
                            p.status = Some(f.error.status);
                            p.http_status = f.http_status;
                            p.message = Some(f.error.message);
                        }
                    }
                }
                out.push(p);
            }
            if !any {
                break;
            }
        }
        self.report.prefetched = out;
    }

    /// Tell the callback nothing happened for a while ([`EventKind::Tick`]).
    fn tick(&mut self) -> Flow {
        let mut event = Event::new(EventKind::Tick);
        self.report.totals.elapsed_ms = millis(self.started.elapsed());
        event.totals = self.report.totals;
        match self.progress.as_mut() {
            Some(callback) => callback(&event),
            None => Flow::Continue,
        }
    }

    /// Take in one message; tell the callback.
    fn apply(&mut self, msg: Msg) -> Flow {
        let mut event = match msg {
            Msg::Started { req } => {
                let mut e = self.request_event(EventKind::Sent, req);
                e.attempt = 1;
                self.report.totals.sent += 1;
                e
            }
            Msg::Note {
                req,
                mut event,
                rate_limited,
            } => {
                if rate_limited {
                    self.report.totals.rate_limited += 1;
                    return Flow::Continue;
                }
                if let Some(req) = req {
                    let r = &self.report.requests[req];
                    event.request = Some(req);
                    event.resource_id = Some(r.resource_id);
                    event.purge_kind = Some(r.kind);
                }
                event
            }
            Msg::Done {
                req,
                result,
                sent_at,
                carried_for_others,
            } => {
                let r = &mut self.report.requests[req];
                match result {
                    Ok(info) => {
                        r.outcome = Outcome::Purged;
                        r.carried_for_others = carried_for_others as u64;
                        r.status = None;
                        r.http_status = Some(info.http_status);
                        r.attempts = info.attempts;
                        r.sent_at = Some(sent_at);
                        self.report.recount();
                        let mut e = self.request_event(EventKind::Answered, req);
                        e.attempt = info.attempts;
                        e.http_status = Some(info.http_status);
                        e
                    }
                    Err(f) => {
                        r.outcome = if f.attempts == 0 {
                            Outcome::NotSent
                        } else {
                            Outcome::Failed
                        };
                        r.status = Some(f.error.status);
                        r.http_status = f.http_status;
                        r.attempts = f.attempts;
                        let text = format!(
                            "request {} (resource {}, {} of {}): {}",
                            req + 1,
                            r.resource_id,
                            r.kind.as_str(),
                            plural(r.items.len(), "item"),
                            f.error.message
                        );
                        r.message = Some(f.error.message.clone());
                        if !matches!(f.error.status, Status::Cancelled) || self.stopped.is_none() {
                            self.first_failure.get_or_insert((f.error.status, text));
                        }
                        self.report.recount();
                        let mut e = self.request_event(EventKind::Failed, req);
                        e.attempt = f.attempts;
                        e.http_status = f.http_status;
                        e.status = Some(f.error.status);
                        e.message = Some(f.error.message);
                        e
                    }
                }
            }
            Msg::Abandoned {
                req,
                status,
                message,
            } => {
                let r = &mut self.report.requests[req];
                r.outcome = Outcome::NotSent;
                r.status = Some(status);
                r.message = Some(message.clone());
                self.report.recount();
                let mut e = self.request_event(EventKind::Failed, req);
                e.status = Some(status);
                e.message = Some(message);
                e
            }
            Msg::Poll {
                entries,
                malformed,
                outstanding,
                message,
            } => {
                self.report.malformed_statuses += malformed as u64;
                let mut e = Event::new(EventKind::ConfirmPoll);
                e.items = outstanding;
                e.message = Some(message.unwrap_or_else(|| {
                    format!(
                        "read {entries} purge status{}; {} still to confirm",
                        if entries == 1 { "" } else { "es" },
                        plural(outstanding, "request")
                    )
                }));
                e
            }
            Msg::PollFailed { error } => {
                self.first_failure
                    .get_or_insert((error.status, error.message.clone()));
                let mut e = Event::new(EventKind::ConfirmPoll);
                e.status = Some(error.status);
                e.message = Some(error.message);
                e
            }
            Msg::Confirmed {
                req,
                completion,
                purge_id,
                created,
            } => {
                let r = &mut self.report.requests[req];
                r.created = created.or(r.created);
                r.completion = Some(completion);
                r.purge_id = purge_id.or(r.purge_id);
                if completion == Completion::Failed {
                    let text = format!(
                        "request {} (resource {}, {}): the purge status says Failed",
                        req + 1,
                        r.resource_id,
                        r.kind.as_str()
                    );
                    self.first_failure.get_or_insert((Status::Rejected, text));
                }
                self.report.recount();
                let mut e = self.request_event(EventKind::Confirmed, req);
                e.completion = Some(completion);
                e
            }
        };
        self.report.totals.elapsed_ms = millis(self.started.elapsed());
        event.totals = self.report.totals;
        if matches!(
            event.kind,
            EventKind::Answered | EventKind::Failed | EventKind::Confirmed
        ) {
            event.finished = event
                .request
                .map(|i| Box::new(self.report.requests[i].to_json(self.report.data())));
        }
        match self.progress.as_mut() {
            Some(callback) => callback(&event),
            None => Flow::Continue,
        }
    }

    fn request_event(&self, kind: EventKind, req: usize) -> Event {
        let r = &self.report.requests[req];
        let mut e = Event::new(kind);
        e.request = Some(req);
        e.resource_id = Some(r.resource_id);
        e.purge_kind = Some(r.kind);
        e.items = r.items.len();
        e
    }

    /// Fill in what was never sent, total up, and decide the run's status and message.
    fn finish(mut self) -> Result<Report, JobError> {
        let report = &mut self.report;
        let (status, why) = match self.stopped {
            Some(Stopped::Cancelled) => (Status::Cancelled, "not sent: the run was cancelled"),
            Some(Stopped::ByCallback) => (
                Status::Cancelled,
                "not sent: the progress callback stopped the run",
            ),
            None => (Status::Timeout, "not sent: the run's timeout ended first"),
        };
        let mut unsent = false;
        for r in &mut report.requests {
            if r.outcome == Outcome::NotSent && r.status.is_none() {
                r.status = Some(status);
                r.message = Some(why.to_owned());
                unsent = true;
            }
        }
        let waited_in_vain = report
            .requests
            .iter()
            .position(|r| r.completion == Some(Completion::InProgress));
        report.totals.elapsed_ms = millis(self.started.elapsed());
        report.recount();
        let error = match (self.stopped, unsent) {
            (Some(_), _) => Some((status, why.trim_start_matches("not sent: ").to_owned())),
            (None, true) => Some((Status::Timeout, "the run's timeout ended first".to_owned())),
            _ => self
                .first_failure
                .take()
                .or_else(|| {
                    waited_in_vain.map(|i| {
                        (
                            Status::Timeout,
                            format!(
                                "request {} (resource {}): the wait for confirmation ended \
                                 while its purge was in progress",
                                i + 1,
                                report.requests[i].resource_id
                            ),
                        )
                    })
                })
                .or_else(|| {
                    let stale = report
                        .verified
                        .iter()
                        .find(|v| v.result == Verdict::Stale)?;
                    Some((
                        Status::Stale,
                        format!(
                            "{} still stale at the edge, first {}",
                            plural(report.totals.verified_stale as usize, "URL"),
                            stale.url
                        ),
                    ))
                }),
        };
        let Some((status, first)) = error else {
            return Ok(self.report);
        };
        let message = if first.is_empty() {
            format!("purge job: {}", summary(report))
        } else {
            format!("purge job: {}; {first}", summary(report))
        };
        report.status = Some(status);
        report.message = Some(message.clone());
        Err(JobError {
            error: Error::new(status, message),
            report: Some(Box::new(self.report)),
        })
    }
}

/// "3 of 5 requests purged (250 items), 1 failed, 1 not sent; 2 items left out (1
/// no_resource, 1 duplicate)".
fn summary(report: &Report) -> String {
    let t = &report.totals;
    let mut s = if report.dry_run {
        format!("{} planned", plural(t.requests as usize, "request"))
    } else {
        format!(
            "{} of {} purged ({}), {} failed, {} not sent",
            t.purged,
            plural(t.requests as usize, "request"),
            plural(t.items_purged as usize, "item"),
            t.failed,
            t.not_sent
        )
    };
    if report.requests.iter().any(|r| r.completion.is_some()) {
        s.push_str(&format!(", {} confirmed", t.confirmed));
    }
    if !report.verified.is_empty() {
        s.push_str(&format!(
            "; at the edge {} fresh, {} stale, {} error",
            t.verified_fresh, t.verified_stale, t.verified_error
        ));
    }
    if !report.skipped.is_empty() {
        let mut by: Vec<(&str, usize)> = Vec::new();
        for k in &report.skipped {
            match by.iter_mut().find(|(r, _)| *r == k.reason.as_str()) {
                Some((_, n)) => *n += 1,
                None => by.push((k.reason.as_str(), 1)),
            }
        }
        let parts: Vec<String> = by.iter().map(|(r, n)| format!("{n} {r}")).collect();
        s.push_str(&format!(
            "; {} left out ({})",
            plural(report.skipped.len(), "item"),
            parts.join(", ")
        ));
    }
    s
}
