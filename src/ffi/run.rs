//! `gcdn_run`: per-run settings (timeout, cancel token, dry run, confirmation, progress
//! callback, workers), and `gcdn_job_run`, which runs a job with them. The `_with` single calls
//! (calls_with.rs) take a run too, through [`with_run`].

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::boundary::write_out;
use super::cancel::gcdn_cancel;
use super::client::{client_ref, gcdn_client};
use super::event::gcdn_event;
use super::job::gcdn_job;
use super::report::gcdn_report;
use super::strings::c_string;
use super::strings::str_arg;
use crate::engine::job::verify::parse_edge;
use crate::engine::job::{self, EventKind, Flow, JobError, RunOptions, MAX_WORKERS};
use crate::engine::{CallSettings, Error, Result};

/// The progress callback of a run: called with each event, on the thread that called
/// `gcdn_job_run`, one event at a time, with no lock of the library held (it may call any
/// gcdn function, e.g. `gcdn_cancel_fire`). `event` and the strings it gives are valid only
/// during the call. Return 0 to go on; any other value stops the run as a cancel does
/// (nothing new is sent, the report is still written, the run returns GCDN_ERR_CANCELLED).
pub type gcdn_progress_fn =
    Option<unsafe extern "C" fn(event: *const gcdn_event, user_data: *mut c_void) -> i32>;

/// The callback itself (a `gcdn_progress_fn` that is not NULL).
pub(super) type ProgressFn = unsafe extern "C" fn(*const gcdn_event, *mut c_void) -> i32;

/// Opaque per-run settings: a timeout, a cancel token, dry run, a confirmation wait, a
/// progress callback, the worker count. Create with `gcdn_run_new` (all defaults), set from
/// one thread, free with `gcdn_run_free`. Calls that take a `const gcdn_run *` only read it:
/// one may serve many calls, on many threads, at once (its callback is then called on each
/// of those threads).
pub struct gcdn_run {
    pub(super) options: RunOptions,
    pub(super) progress: Option<(ProgressFn, *mut c_void)>,
    /// `gcdn_run_http_status`: of the last call made with the run to end.
    pub(super) http_status: AtomicI32,
}

impl gcdn_run {
    /// All defaults (`gcdn_run_new`'s).
    fn new() -> Self {
        gcdn_run {
            options: RunOptions::default(),
            progress: None,
            http_status: AtomicI32::new(0),
        }
    }
}

/// # Safety
/// `p` is NULL or a live run.
pub(super) unsafe fn run_mut<'a>(p: *mut gcdn_run) -> Result<&'a mut gcdn_run> {
    // SAFETY: this function's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Error::invalid("run is NULL"))
}

/// The call settings of `run` (`None`: the client's own), with its progress callback, if
/// any, as the tick of the call's waits (GCDN_EVENT_TICK events on the calling thread).
fn run_settings(run: Option<&gcdn_run>) -> CallSettings {
    let Some(run) = run else {
        return CallSettings::default();
    };
    let mut settings = run.options.settings.clone();
    if let Some((func, user_data)) = run.progress {
        settings.tick = Some(Ticker { func, user_data }.as_tick());
    }
    settings
}

/// A run's progress callback, called with GCDN_EVENT_TICK events during a call's waits.
#[derive(Clone, Copy)]
struct Ticker {
    func: ProgressFn,
    user_data: *mut c_void,
}

// SAFETY: gcdn_run_set_progress's contract: the callback is called on the thread that makes
// a call with the run, with user_data, while that call lasts; the tick only runs there.
unsafe impl Send for Ticker {}
unsafe impl Sync for Ticker {}

impl Ticker {
    fn as_tick(self) -> crate::engine::Tick {
        Arc::new(move || self.tick())
    }

    /// `true`: the callback says stop.
    fn tick(&self) -> bool {
        let event = gcdn_event {
            inner: job::Event::new(EventKind::Tick),
            message: None,
        };
        // SAFETY: as above; the event lives through the call.
        unsafe { (self.func)(&event, self.user_data) != 0 }
    }
}

/// Make a single call with `run`'s settings (`None`: the client's own), and keep its HTTP
/// status in the run.
pub(super) fn with_run(
    run: Option<&gcdn_run>,
    call: impl FnOnce(&CallSettings) -> Result<()>,
) -> Result<()> {
    let result = call(&run_settings(run));
    if let Some(run) = run {
        let status = result
            .as_ref()
            .err()
            .and_then(|e| e.http_status)
            .map_or(0, i32::from);
        run.http_status.store(status, Ordering::Relaxed);
    }
    result
}

/// Create per-run settings, all at their defaults: no timeout of its own (the client's call
/// timeout, if any), no cancel token of its own, not a dry run, no confirmation, no
/// progress callback, 4 worker threads. Returns NULL only if memory ran out. Free with
/// `gcdn_run_free`.
#[no_mangle]
pub extern "C" fn gcdn_run_new() -> *mut gcdn_run {
    boundary!(std::ptr::null_mut(), {
        Box::into_raw(Box::new(gcdn_run::new()))
    })
}

/// Free per-run settings. Reports and the cancel token it names are not affected.
///
/// `run` must be NULL (nothing happens) or a live run that no call is using; it is dead
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_free(run: *mut gcdn_run) {
    boundary!((), {
        if !run.is_null() {
            // SAFETY: not NULL, so a live run that no call uses (the contract above),
            // from `Box::into_raw`; dead from here on.
            drop(unsafe { Box::from_raw(run) });
        }
    })
}

/// Bound every call made with `run` to `timeout_ms` milliseconds, waits included: for
/// `gcdn_job_run`, the whole run, confirmation included (requests not sent in time are
/// reported as not sent, and the run returns GCDN_ERR_TIMEOUT); for the `_with` calls, the
/// call. 0 removes the bound (the client's call timeout, if any, applies).
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_timeout_ms(
    run: *mut gcdn_run,
    timeout_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.settings.timeout =
            (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Stop every call made with `run` once `cancel` is fired (see `gcdn_cancel_fire`): at once
/// during a wait, else before the next request; a request in flight ends first. A run
/// cancelled this way writes its report and returns GCDN_ERR_CANCELLED. `cancel` NULL removes
/// the token. The run keeps its own reference: `cancel` may be freed at any time.
///
/// `run` must be a live run, used by no other thread during the call (NULL gives
/// GCDN_ERR_INVALID_ARGUMENT); `cancel` NULL or a live token.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_cancel(
    run: *mut gcdn_run,
    cancel: *const gcdn_cancel,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        let run = unsafe { run_mut(run) }?;
        // SAFETY: `cancel` is NULL or a live token (the contract above).
        run.options.settings.cancel = unsafe { cancel.as_ref() }.map(|t| Arc::clone(&t.inner));
        Ok(())
    })
}

/// `dry_run` non-zero: `gcdn_job_run` plans and reports (every request `planned`, with the
/// estimated duration) without sending any purge; it may read the resources listing. 0: runs
/// for real (the default). The `_with` single calls ignore it.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_dry_run(
    run: *mut gcdn_run,
    dry_run: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.dry_run = dry_run != 0;
        Ok(())
    })
}

/// `exact` non-zero: `gcdn_job_run` sends every URL item as given. 0 (the default): each URL
/// item of a resource the listing knows goes in its cache-key form, the query parameters the
/// resource's options (or the rule that matches its path) leave out of the cache key dropped
/// and the rest sorted (`gcdn_report_rewritten_*` say which); without that, a purge of
/// `/app.js?v=2` on a resource that ignores query strings removes nothing. The `_with`
/// single calls ignore it.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_exact(
    run: *mut gcdn_run,
    exact: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.exact = exact != 0;
        Ok(())
    })
}

/// After its last request, wait up to `wait_ms` milliseconds for every purge to be confirmed
/// by `GET /cdn/purge_statuses`: polled 1 s after the last request, then every 1.5 times
/// longer up to every 5 s, and a last time at the end of the wait (not one interval before
/// it). That last poll may take up to 2 s more than the wait, never past the run's timeout.
/// A purge whose status is `Failed` fails the run with GCDN_ERR_REJECTED; one still in
/// progress after the last poll with GCDN_ERR_TIMEOUT. 0: do not confirm (the default). The
/// run's timeout bounds the wait too. The `_with` single calls ignore it.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_wait_ms(
    run: *mut gcdn_run,
    wait_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.wait =
            (wait_ms > 0).then(|| Duration::from_millis(wait_ms));
        Ok(())
    })
}

/// `verify` non-zero: after the purges are confirmed (this implies the wait: 300 s unless
/// `gcdn_run_set_wait_ms` says otherwise), probe each URL purged by URL at the edge with a
/// `HEAD` of `https://<host>/<path>` (the host given with the item; for items given by
/// resource id, the resource's cname), without the API key, and report each as fresh, stale
/// or error (`gcdn_report_verified_*`). A URL still served from a copy cached before its
/// purge makes an otherwise successful run return GCDN_ERR_STALE; error probes change
/// nothing. Each probe takes at most 10 s and none outlives the run's timeout.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_verify(
    run: *mut gcdn_run,
    verify: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.verify = verify != 0;
        Ok(())
    })
}

/// Probe at most `limit` URLs of each resource when verifying (evenly chosen among its
/// purged URLs); 1 or more, default 100.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_verify_limit(
    run: *mut gcdn_run,
    limit: u32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        if limit == 0 {
            return Err(Error::invalid(
                "verify_limit must be 1 or more (to probe nothing, do not verify)",
            ));
        }
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.verify_limit = limit as usize;
        Ok(())
    })
}

/// Send verification probes to the edge at `url` instead of each URL's own host, with the
/// URL's host in `Host` and as the TLS name: `https://host[:port]`, or `http://` to a
/// loopback address. Repeatable: each URL is probed at every edge added.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT, as does a NULL or bad `url` (the run unchanged).
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_add_edge(
    run: *mut gcdn_run,
    url: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `url` is NULL or a NUL-terminated string (the contract above).
        let edge = parse_edge(unsafe { str_arg(url, "url") }?)?;
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.edges.push(edge);
        Ok(())
    })
}

/// `prefetch` non-zero: after the purges (and their confirmation, when waiting), send the
/// paths purged by URL to `POST /cdn/resources/{id}/prefetch`, 100 a request, each in its
/// slot of the client's pacer (1 a minute per resource, apart from purges; with
/// `gcdn_options_set_purge_intervals_ms`, the pattern interval). Reported per request
/// (`gcdn_report_prefetched_*`); a failed prefetch does not change the run's status.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_prefetch(
    run: *mut gcdn_run,
    prefetch: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.prefetch = prefetch != 0;
        Ok(())
    })
}

/// Call `progress(event, user_data)` for every event of a `gcdn_job_run` made with `run`: on
/// the thread that called `gcdn_job_run`, one event at a time, with no lock of the library
/// held (see `gcdn_progress_fn`). `progress` NULL removes the callback. The `_with` single
/// calls made with `run` call it only with GCDN_EVENT_TICK events, while they wait.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT. `user_data` is passed as it is, never read.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_progress(
    run: *mut gcdn_run,
    progress: gcdn_progress_fn,
    user_data: *mut c_void,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.progress = progress.map(|f| (f, user_data));
        Ok(())
    })
}

/// The HTTP status of the API's last answer in the last `gcdn_*_with` call made with `run`
/// that ended, when that call failed (e.g. 404, 429, 503); 0 when it succeeded, when no
/// answer came (refused input, network failure, timeout, cancel, a wait the pacer refused)
/// and before any call. Kept atomically: with one run shared by calls on several threads,
/// it is whichever ended last. A job's per-request statuses are in its report.
///
/// `run` must be NULL (0) or a live run.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_http_status(run: *const gcdn_run) -> i32 {
    boundary!(0, {
        // SAFETY: `run` is NULL or a live run (the contract above).
        unsafe { run.as_ref() }.map_or(0, |r| r.http_status.load(Ordering::Relaxed))
    })
}

/// Use `workers` threads (each with its own connection) for the requests of a run: 1 to 32;
/// default 4. Resources proceed at once, as far as the threads go.
///
/// `run` must be a live run, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_run_set_workers(
    run: *mut gcdn_run,
    workers: u32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let workers = workers as usize;
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(Error::invalid(format!(
                "workers must be 1 to {MAX_WORKERS}, got {workers}"
            )));
        }
        // SAFETY: `run` is NULL or a live run no other thread uses (the contract above).
        unsafe { run_mut(run) }?.options.workers = workers;
        Ok(())
    })
}

/// Run `job` with `run`'s settings (NULL: the defaults).
///
/// The run lists the account's resources when the job has full URLs, plans (drops
/// duplicates and what a pattern or purge-all of the same resource covers, leaves out the
/// items of unknown hosts, of deleted or inactive resources, and URLs of resources that
/// cannot purge by URL, and chunks by the account's per-request limits), then sends every
/// request through the client's pacer, resources at once over a few threads, and confirms
/// when asked to. A failed request does not stop the others.
///
/// Waits: every request waits for its slot in the client's pacer (its resource's window for
/// its kind), and the client's max_rate_limit_wait bounds each request's waits on rate limits
/// (that slot, and after a 429), per request, not per run: a request whose slot opens further
/// away than that is not sent, at once (outcome GCDN_OUTCOME_NOT_SENT, GCDN_ERR_RATE_LIMITED,
/// its message saying when the slot opens), and the rest of the job goes on. A request's wait
/// begins when the previous one on its resource and kind went out, so a long job on one
/// resource needs a budget of one window, not the job's whole duration: 2,000 URLs on one
/// resource at the documented 2 URL purges a minute are 20 requests over about 9 minutes, each
/// waiting at most one window and its margin (61.2 s), within the default 150 s. No wait goes
/// past the run's timeout either: a request whose slot opens after it is not sent
/// (GCDN_ERR_TIMEOUT).
///
/// Returns GCDN_OK only if every planned request was purged (and confirmed, when waiting)
/// and no item was left out as no_resource, inactive or url_purge_disabled (duplicates and
/// covered items are not failures). Otherwise it still sends everything it can, and returns
/// GCDN_ERR_CANCELLED if the run was cancelled or stopped by its callback, GCDN_ERR_TIMEOUT if
/// its timeout ended first, else the status of the first failure: a request's own status;
/// GCDN_ERR_NOT_FOUND for no_resource or inactive items; GCDN_ERR_REJECTED for
/// url_purge_disabled items and a purge whose status is Failed; GCDN_ERR_TIMEOUT when the
/// wait for confirmation ended first; GCDN_ERR_STALE when everything was purged and
/// confirmed but a URL verified at the edge (`gcdn_run_set_verify`) is still stale. The
/// message counts what was done.
///
/// A panic (a bug in gcdn) in one of the run's threads stays in the run: it fails the request
/// it struck with GCDN_ERR_PANIC (that request's entry in the report, and in the job of what
/// was not purged), or ends the confirmation with it; the other requests go on, and the run
/// writes its report and returns the first failure's status, as above (GCDN_ERR_PANIC when
/// the panic was the first). It never unwinds into the caller's thread.
///
/// `*report_out` is the exception to "out-parameters only on success": it receives a report
/// (free it with `gcdn_report_free`) whenever the run got past validation and the resources
/// listing, whatever it returns; it is left untouched, and nothing was sent, when the
/// arguments are refused (an empty job, ...) or the listing could not be read.
///
/// `client` must be a live client and `job` a live job (both only read: other threads may
/// use them, and run the same job, at once); `run` NULL or a live run; `report_out` must point
/// to a writable `gcdn_report *`. NULL for any of those gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_run(
    client: *const gcdn_client,
    job: *const gcdn_job,
    run: *const gcdn_run,
    report_out: *mut *mut gcdn_report,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `job` is NULL or a live job (the contract above).
        let job = &unsafe { job.as_ref() }
            .ok_or_else(|| Error::invalid("job is NULL"))?
            .inner;
        if report_out.is_null() {
            return Err(Error::invalid("report_out is NULL"));
        }
        let defaults;
        // SAFETY: `run` is NULL or a live run (the contract above).
        let run = match unsafe { run.as_ref() } {
            Some(r) => r,
            None => {
                defaults = gcdn_run::new();
                &defaults
            }
        };
        let mut callback = run.progress.map(|(f, user_data)| {
            move |event: &job::Event| {
                let message = event.message.as_deref().map(c_string);
                let c_event = gcdn_event {
                    inner: event.clone(),
                    message,
                };
                // SAFETY: the caller promised a function of this type; the event lives
                // through the call.
                if unsafe { f(&c_event, user_data) } == 0 {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
        });
        let progress = callback
            .as_mut()
            .map(|f| f as &mut dyn FnMut(&job::Event) -> Flow);
        // The callback also ticks the calling thread's own waits (the resources listing's).
        let mut options = run.options.clone();
        if let Some((func, user_data)) = run.progress {
            options.settings.tick = Some(Ticker { func, user_data }.as_tick());
        }
        match client.run_job(job, &options, progress) {
            Ok(report) => {
                // SAFETY: checked for NULL above; writable by the contract above.
                unsafe { write_out(report_out, Box::new(gcdn_report::new(report))) };
                Ok(())
            }
            Err(JobError { error, report }) => {
                if let Some(report) = report {
                    // SAFETY: as above.
                    unsafe { write_out(report_out, Box::new(gcdn_report::new(*report))) };
                }
                Err(error)
            }
        }
    })
}
