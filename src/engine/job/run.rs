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
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::confirm;
use super::contain::{contained, debug};
use super::listing::{self, ReadLimits, ResourceInfo};
use super::plan::{self, PlanLimits, ResourceIndex};
use super::report::{Completion, Outcome, Report, RequestReport, Totals};
use super::{Job, JobData, Kind, Span};
use crate::engine::cancel::CancelToken;
use crate::engine::error::{Error, Status};
use crate::engine::pacer::{self, PaceKind, Window};
use crate::engine::request::{Failed, SentInfo};
use crate::engine::wait::{instant_after, CallCtx, CallSettings, Note, Observer, WaitReason};
use crate::engine::Client;

/// Worker threads (so connections) a run uses by default: enough to keep four resources'
/// windows busy at once, few enough to be kind to the API and the machine.
pub const DEFAULT_WORKERS: usize = 4;
/// The most worker threads a run may use.
pub const MAX_WORKERS: usize = 32;
/// The most of one page of `GET /cdn/resources` read (a resource's JSON is a few KB).
pub const RESOURCES_PAGE_CAP: usize = 8 * 1024 * 1024;
/// How often the calling thread looks at the caller's cancel token while it waits for
/// events: the longest a cancel goes unnoticed.
const TICK: Duration = Duration::from_millis(20);
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
    /// Plan only: nothing is sent but the resources listing (when full URLs need it).
    pub dry_run: bool,
    /// Wait up to this long after the last request for every purge to be confirmed by
    /// `GET /cdn/purge_statuses` (`None`: do not confirm).
    pub wait: Option<Duration>,
    /// The whole run's timeout (confirmation included) and a cancel token; a field left
    /// `None` keeps the client's own.
    pub settings: CallSettings,
    /// Worker threads, 1 to [`MAX_WORKERS`]; default [`DEFAULT_WORKERS`].
    pub workers: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            wait: None,
            settings: CallSettings::default(),
            workers: DEFAULT_WORKERS,
        }
    }
}

/// What the progress callback says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop the run as a cancel does: nothing new is sent; the report is still written.
    Stop,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A request begins: it goes out now, or after the waits that follow.
    Sent,
    /// The API accepted a request.
    Answered,
    /// A request failed for good (or was given up before it could be sent).
    Failed,
    /// A wait: `wait` long, on `resource_id`, `why`.
    Wait,
    /// An attempt failed and will be tried again; `message` says how it failed.
    Retry,
    /// A poll of `GET /cdn/purge_statuses` was read; `totals.confirmed` counts what is done.
    ConfirmPoll,
    /// A request's purge status is final (`completion`).
    Confirmed,
    /// Nothing else for [`TICK_EVENT`]: lets the callback look at what it must (a binding:
    /// its signal handlers) and stop the run. Carries only the totals.
    Tick,
}

/// Why a run waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitWhy {
    /// The pacer's next slot in the resource's window.
    Pacer,
    /// After a 429 without `Retry-After`.
    RateLimited,
    /// As `Retry-After` asked.
    RetryAfter,
    /// Backing off before a retry.
    Backoff,
    /// Between polls of the purge statuses.
    Confirm,
}

impl WaitWhy {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitWhy::Pacer => "pacer",
            WaitWhy::RateLimited => "429",
            WaitWhy::RetryAfter => "retry-after",
            WaitWhy::Backoff => "backoff",
            WaitWhy::Confirm => "confirm",
        }
    }
}

/// One progress event, with the run's totals as of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The request's index in the report's `requests`.
    pub request: Option<usize>,
    pub resource_id: Option<i64>,
    pub purge_kind: Option<Kind>,
    /// Items of the request.
    pub items: usize,
    pub attempt: u32,
    pub http_status: Option<u16>,
    pub status: Option<Status>,
    pub wait: Duration,
    pub why: Option<WaitWhy>,
    pub completion: Option<Completion>,
    pub message: Option<String>,
    pub totals: Totals,
    /// `Answered`, `Failed` and `Confirmed`: the request as the report has it after this
    /// event (its items, outcome, status, completion, ...), for callers that print each
    /// request as it finishes ([`RequestReport::to_json`] with the job's data).
    pub finished: Option<Box<RequestReport>>,
}

impl Event {
    /// An event with nothing but its kind (and zero totals).
    pub fn new(kind: EventKind) -> Event {
        Event {
            kind,
            request: None,
            resource_id: None,
            purge_kind: None,
            items: 0,
            attempt: 0,
            http_status: None,
            status: None,
            wait: Duration::ZERO,
            why: None,
            completion: None,
            message: None,
            totals: Totals::default(),
            finished: None,
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

/// The rate window a request is sent in.
pub(crate) fn pace_kind(kind: Kind) -> PaceKind {
    match kind {
        Kind::Urls => PaceKind::Urls,
        Kind::Patterns | Kind::All => PaceKind::Patterns,
    }
}

/// Messages from the driver and workers to the calling thread.
pub(crate) enum Msg {
    Started {
        req: usize,
    },
    Note {
        req: Option<usize>,
        event: Event,
        rate_limited: bool,
    },
    Done {
        req: usize,
        result: Result<SentInfo, Failed>,
        sent_at: SystemTime,
    },
    /// Not sent because of an earlier answer (401/403 for all, 404 for the resource).
    Abandoned {
        req: usize,
        status: Status,
        message: String,
    },
    Poll {
        entries: usize,
        malformed: usize,
        outstanding: usize,
        message: Option<String>,
    },
    /// A poll met a listing that cannot be trusted: confirmation ended.
    PollFailed {
        error: Error,
    },
    Confirmed {
        req: usize,
        completion: Completion,
        purge_id: Option<i64>,
    },
}

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
        // The run's own context: its deadline, and the caller's (or the client's) cancel.
        let ctx = self.context(&options.settings, None);
        let data = Arc::clone(job.data());
        // The listing and the account's limits: before anything is sent.
        let (index, malformed) = if data.entries().iter().any(|e| e.given.by_host()) {
            read_resources(self, &ctx, &data).map_err(no_report)?
        } else {
            (ResourceIndex::default(), 0)
        };
        let limits = self.account_limits(&ctx);
        let plan = plan::plan(
            &data,
            &index,
            PlanLimits {
                max_urls: limits.max_urls,
                max_patterns: limits.max_patterns,
            },
        );
        let windows = [
            self.window(&ctx, PaceKind::Urls),
            self.window(&ctx, PaceKind::Patterns),
        ];
        let window_of = |kind: Kind| match pace_kind(kind) {
            PaceKind::Urls => windows[0],
            PaceKind::Patterns => windows[1],
        };
        let estimate = plan::estimate(&plan, |_, k| {
            let w = window_of(k);
            (w.requests, w.per)
        });
        let mut report = Report::new(Arc::clone(&data), plan, options.dry_run);
        report.malformed_resources = malformed as u64;
        report.totals.estimated_ms = millis(estimate);
        let mut run = Running {
            report,
            progress,
            first_failure: None,
            stopped: None,
            started,
        };
        // Items left out for a reason that is a failure come first.
        for s in &run.report.skipped {
            if let Some(status) = s.reason.failure() {
                run.first_failure.get_or_insert((
                    status,
                    format!("{} item(s) were left out", s.reason.as_str()),
                ));
                break;
            }
        }
        if !options.dry_run && !run.report.requests.is_empty() {
            run.execute(self, &ctx, options, &data, window_of);
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
    /// The first failure, in the order it happened.
    first_failure: Option<(Status, String)>,
    stopped: Option<Stopped>,
    started: Instant,
}

/// One (resource, rate window): its requests in order, and when its window allows the next.
struct Lane {
    window: Window,
    queue: VecDeque<usize>,
    /// When this run's own requests on the lane went out, the last `window.requests`.
    sent: VecDeque<Instant>,
    busy: bool,
}

impl Lane {
    /// When the window lets this lane send next, by this run's own sends (the pacer, which
    /// also knows other calls' sends, has the last word).
    fn ready_at(&self, now: Instant) -> Instant {
        let n = self.window.requests.max(1) as usize;
        if self.sent.len() < n {
            return now;
        }
        let span = self.window.per.saturating_add(pacer::margin(self.window));
        instant_after(self.sent[self.sent.len() - n], span).max(now)
    }
}

struct Sched {
    lanes: Vec<Lane>,
    /// Resources an answer said are gone (404): their other requests are not sent.
    gone: HashSet<i64>,
    /// A 401/403: nothing more is sent.
    unauthorized: bool,
}

struct Shared<'a> {
    sched: Mutex<Sched>,
    wake: Condvar,
    /// Fired by the calling thread on cancel or stop; every wait of the run watches it.
    cancel: Arc<CancelToken>,
    /// The run's context: the caller's (or the client's) cancel token, seen at once.
    run_ctx: &'a CallCtx,
    deadline: Option<Instant>,
    items: &'a [Vec<Span>],
    data: &'a JobData,
    kinds: Vec<(i64, Kind)>,
    sent_at: Mutex<Vec<Option<SystemTime>>>,
    done_sending: AtomicBool,
}

impl Running<'_> {
    fn execute(
        &mut self,
        client: &Client,
        ctx: &CallCtx,
        options: &RunOptions,
        data: &JobData,
        window_of: impl Fn(Kind) -> Window,
    ) {
        let cancel = Arc::new(CancelToken::new());
        // The threads read a copy of the spans (8 bytes an item), the report stays whole.
        let items: Vec<Vec<Span>> = self
            .report
            .requests
            .iter()
            .map(|r| r.items.clone())
            .collect();
        let kinds: Vec<(i64, Kind)> = self
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
            } => {
                let r = &mut self.report.requests[req];
                match result {
                    Ok(info) => {
                        r.outcome = Outcome::Purged;
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
                        r.message = c_message(&f.error.message);
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
                r.message = c_message(&message);
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
            } => {
                let r = &mut self.report.requests[req];
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
                .map(|i| Box::new(self.report.requests[i].clone()));
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
                r.message = c_message(why);
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
            _ => self.first_failure.take().or_else(|| {
                waited_in_vain.map(|i| {
                    (
                        Status::Timeout,
                        format!(
                            "request {} (resource {}): the wait for confirmation ended while \
                             its purge was in progress",
                            i + 1,
                            report.requests[i].resource_id
                        ),
                    )
                })
            }),
        };
        let Some((status, first)) = error else {
            return Ok(self.report);
        };
        let message = format!("purge job: {}; {first}", summary(report));
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

pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn c_message(text: &str) -> Option<CString> {
    CString::new(text.replace('\0', "?")).ok()
}

/// What confirmation needs of the run.
pub(crate) struct ConfirmView<'a> {
    pub cancel: &'a CancelToken,
    pub cancel_token: &'a Arc<CancelToken>,
    pub deadline: Option<Instant>,
    pub items: &'a [Vec<Span>],
    pub data: &'a JobData,
    pub kinds: &'a [(i64, Kind)],
    pub sent_at: Vec<Option<SystemTime>>,
}

fn shared_view<'a>(shared: &'a Shared<'a>) -> ConfirmView<'a> {
    ConfirmView {
        cancel: &shared.cancel,
        cancel_token: &shared.cancel,
        deadline: shared.deadline,
        items: shared.items,
        data: shared.data,
        kinds: &shared.kinds,
        sent_at: shared
            .sent_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}

/// What a worker does next.
enum Pick {
    /// Send request `.1` of lane `.0`, which the lane's window lets go at `.2` (now, or
    /// later: the pacer's wait for that slot is the request's own, charged to its budget).
    Send(usize, usize, Instant),
    /// Every lane with requests left is busy: until one is free.
    Sleep(Instant),
    Done,
}

/// The lane that can send soonest, taken (marked busy) with its next request, even when its
/// window opens only later: the worker then waits for that slot in the pacer, through the
/// request's waits (charged to its rate-limit wait budget and the run's deadline, refused at
/// once when it cannot be afforded). Since no lane that is free could send sooner, waiting
/// on this one holds up no other.
fn pick(sched: &mut Sched, now: Instant) -> Pick {
    let mut soonest: Option<(Instant, usize)> = None;
    let mut any_pending = false;
    for (i, lane) in sched.lanes.iter().enumerate() {
        if lane.queue.is_empty() {
            continue;
        }
        any_pending = true;
        if lane.busy {
            continue;
        }
        let at = lane.ready_at(now);
        if soonest.is_none_or(|(t, _)| at < t) {
            soonest = Some((at, i));
        }
    }
    match soonest {
        Some((at, i)) => {
            let lane = &mut sched.lanes[i];
            lane.busy = true;
            Pick::Send(i, lane.queue.pop_front().expect("not empty"), at)
        }
        // Every pending lane is busy: wait for one to finish.
        None if any_pending => Pick::Sleep(instant_after(now, Duration::from_secs(3600))),
        None => Pick::Done,
    }
}

fn worker(client: &Client, shared: &Shared<'_>, settings: &CallSettings, tx: Sender<Msg>) {
    loop {
        let now = Instant::now();
        let mut sched = shared.sched.lock().unwrap_or_else(|e| e.into_inner());
        if shared.cancel.is_cancelled()
            || shared.run_ctx.cancelled()
            || shared.deadline.is_some_and(|d| now >= d)
        {
            return;
        }
        if sched.unauthorized {
            abandon_all(&mut sched, &tx);
            shared.wake.notify_all();
            return;
        }
        let (lane, req, ready) = match pick(&mut sched, now) {
            Pick::Done => {
                shared.wake.notify_all();
                return;
            }
            Pick::Sleep(at) => {
                let mut until = at;
                if let Some(d) = shared.deadline {
                    until = until.min(d);
                }
                // Bounded, so that a cancel (which cannot ring this condvar) is seen soon.
                let nap = until.saturating_duration_since(now).min(TICK * 5);
                drop(
                    shared
                        .wake
                        .wait_timeout(sched, nap)
                        .unwrap_or_else(|e| e.into_inner()),
                );
                continue;
            }
            Pick::Send(lane, req, ready) => (lane, req, ready),
        };
        let (rid, kind) = shared.kinds[req];
        if sched.gone.contains(&rid) {
            sched.lanes[lane].busy = false;
            let _ = tx.send(Msg::Abandoned {
                req,
                status: Status::NotFound,
                message: format!("not sent: an earlier request found no resource {rid} (HTTP 404)"),
            });
            continue;
        }
        drop(sched);

        let _ = tx.send(Msg::Started { req });
        // When the pacer's last reserved slot for this request opens: when it went out.
        let slot: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        // Attempts begun, for a request a panic ends.
        let attempts = Arc::new(AtomicU32::new(0));
        let observer: Observer = {
            let tx = Mutex::new(tx.clone());
            let slot = Arc::clone(&slot);
            let attempts = Arc::clone(&attempts);
            Arc::new(move |note: &Note<'_>| {
                if let Note::Attempt { attempt, .. } = note {
                    attempts.store(*attempt, Ordering::Relaxed);
                }
                if let Note::Slot {
                    wait,
                    reserved: true,
                    ..
                } = note
                {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(instant_after(Instant::now(), *wait));
                }
                if let Some((event, rate_limited)) = note_event(note) {
                    let tx = tx.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = tx.send(Msg::Note {
                        req: Some(req),
                        event,
                        rate_limited,
                    });
                }
            })
        };
        let mut call = settings.clone();
        call.timeout = shared
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let ctx = client.context(&call, Some(observer));
        let items: Vec<&str> = shared.items[req]
            .iter()
            .map(|s| shared.data.str(*s))
            .collect();
        // Every wait of the request, the one for its lane's window included, is the pacer's
        // (in `send`): charged to the request's budget and the run's deadline.
        // A panic (a bug) fails this request, and the run goes on.
        let result = contained("sending a purge request", || {
            debug::hit(debug::Site::Request, rid);
            send(client, &ctx, rid, kind, &items)
        })
        .unwrap_or_else(|error| {
            let attempts = attempts.load(Ordering::Relaxed);
            Err(Failed {
                error,
                earlier_attempt_uncertain: attempts > 0,
                attempts,
                http_status: None,
                rate_limited: 0,
            })
        });
        drop(items);
        let went_at = slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(ready);
        let sent_at = system_time_of(went_at);

        let mut sched = shared.sched.lock().unwrap_or_else(|e| e.into_inner());
        let l = &mut sched.lanes[lane];
        l.busy = false;
        // The lane's window counts only requests that went out.
        let attempts = match &result {
            Ok(info) => info.attempts,
            Err(f) => f.attempts,
        };
        if attempts > 0 {
            let n = l.window.requests.max(1) as usize;
            l.sent.push_back(went_at);
            while l.sent.len() > n {
                l.sent.pop_front();
            }
        }
        if let Err(f) = &result {
            match f.error.status {
                Status::Unauthorized => sched.unauthorized = true,
                Status::NotFound => {
                    sched.gone.insert(rid);
                }
                _ => {}
            }
        } else {
            shared.sent_at.lock().unwrap_or_else(|e| e.into_inner())[req] = Some(sent_at);
        }
        drop(sched);
        shared.wake.notify_all();
        let _ = tx.send(Msg::Done {
            req,
            result,
            sent_at,
        });
    }
}

/// `at` by the wall clock.
fn system_time_of(at: Instant) -> SystemTime {
    let (now, wall) = (Instant::now(), SystemTime::now());
    match at.checked_duration_since(now) {
        Some(ahead) => wall.checked_add(ahead),
        None => wall.checked_sub(now.saturating_duration_since(at)),
    }
    .unwrap_or(wall)
}

/// After a 401/403: every request still queued is not sent.
fn abandon_all(sched: &mut Sched, tx: &Sender<Msg>) {
    for lane in &mut sched.lanes {
        while let Some(req) = lane.queue.pop_front() {
            let _ = tx.send(Msg::Abandoned {
                req,
                status: Status::Unauthorized,
                message: "not sent: an earlier request was refused as unauthorized".to_owned(),
            });
        }
    }
}

/// One purge request of the plan.
fn send(
    client: &Client,
    ctx: &CallCtx,
    rid: i64,
    kind: Kind,
    items: &[&str],
) -> Result<SentInfo, Failed> {
    #[derive(serde::Serialize)]
    struct Urls<'a> {
        urls: &'a [&'a str],
    }
    #[derive(serde::Serialize)]
    struct Paths<'a> {
        paths: &'a [&'a str],
    }
    let mut body = Vec::with_capacity(12 + items.iter().map(|i| i.len() + 3).sum::<usize>());
    let encoded = match kind {
        Kind::Urls => serde_json::to_writer(&mut body, &Urls { urls: items }),
        Kind::Patterns => serde_json::to_writer(&mut body, &Paths { paths: items }),
        Kind::All => serde_json::to_writer(&mut body, &Paths { paths: &[] }),
    };
    if let Err(e) = encoded {
        return Err(Failed {
            error: Error::new(Status::Protocol, format!("could not encode JSON: {e}")),
            earlier_attempt_uncertain: false,
            attempts: 0,
            http_status: None,
            rate_limited: 0,
        });
    }
    client.send_purge(ctx, rid, pace_kind(kind), &body)
}

/// A core note as a progress event (`true`: only a 429 to count).
fn note_event(note: &Note<'_>) -> Option<(Event, bool)> {
    match note {
        Note::Wait { wait, why, .. } => {
            let mut e = Event::new(EventKind::Wait);
            e.wait = *wait;
            e.why = Some(match why {
                WaitReason::Pacer => WaitWhy::Pacer,
                WaitReason::RateLimited => WaitWhy::RateLimited,
                WaitReason::RetryAfter => WaitWhy::RetryAfter,
                WaitReason::Backoff => WaitWhy::Backoff,
            });
            Some((e, false))
        }
        Note::Retry { attempt, error, .. } => {
            let mut e = Event::new(EventKind::Retry);
            e.attempt = *attempt;
            e.message = Some((*error).to_owned());
            Some((e, false))
        }
        Note::RateLimited { .. } => Some((Event::new(EventKind::Wait), true)),
        _ => None,
    }
}
