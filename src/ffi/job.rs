//! The purge job (src/engine/job): the numbers its reports and events speak in (kinds,
//! outcomes, completions, skip reasons, event kinds, wait reasons, totals), and `gcdn_job`,
//! the handle that collects what to purge. Running it is in run.rs, its report in report.rs,
//! its progress events in event.rs.

use std::ffi::c_char;

use super::strings::str_list;
use crate::engine::job::{Completion, Job, PurgeKind, Totals};
use crate::engine::{Error, Result};

/// `gcdn_report_request_kind`, `gcdn_event_purge_kind`: a purge by URL.
pub const GCDN_KIND_URLS: i32 = 1;
/// A purge by pattern.
pub const GCDN_KIND_PATTERNS: i32 = 2;
/// A purge of everything of a resource.
pub const GCDN_KIND_ALL: i32 = 3;

/// `gcdn_report_request_outcome`: the API accepted the request.
pub const GCDN_OUTCOME_PURGED: i32 = 1;
/// The request was sent and failed for good.
pub const GCDN_OUTCOME_FAILED: i32 = 2;
/// The request was never sent (the run was cancelled, stopped or ran out of time, or an
/// earlier answer made it pointless).
pub const GCDN_OUTCOME_NOT_SENT: i32 = 3;
/// A dry run: the request would be sent.
pub const GCDN_OUTCOME_PLANNED: i32 = 4;

/// `gcdn_report_request_completion`, `gcdn_event_completion`: not known (the run did not
/// wait for confirmation, or the request was not purged).
pub const GCDN_COMPLETION_NONE: i32 = 0;
/// The purge's status in `GET /cdn/purge_statuses` is `Successful`.
pub const GCDN_COMPLETION_SUCCESSFUL: i32 = 1;
/// The purge's status is `Failed`.
pub const GCDN_COMPLETION_FAILED: i32 = 2;
/// The wait for confirmation ended while the purge was in progress (or not yet listed).
pub const GCDN_COMPLETION_IN_PROGRESS: i32 = 3;

/// `gcdn_report_skipped_reason`: the same item is already planned for its resource.
pub const GCDN_SKIP_DUPLICATE: i32 = 1;
/// A pattern or purge-all of the same job and resource covers the item (see
/// `gcdn_report_skipped_by`).
pub const GCDN_SKIP_COVERED: i32 = 2;
/// A full URL whose host is the cname or secondary hostname of no resource.
pub const GCDN_SKIP_NO_RESOURCE: i32 = 3;
/// The item's resource is deleted or inactive.
pub const GCDN_SKIP_INACTIVE: i32 = 4;
/// A URL of a resource that cannot purge by URL (`can_purge_by_urls` is false).
pub const GCDN_SKIP_URL_PURGE_DISABLED: i32 = 5;

/// `gcdn_event_kind`: a request begins (it goes out now, or after the waits that follow).
pub const GCDN_EVENT_SENT: i32 = 1;
/// The API accepted a request.
pub const GCDN_EVENT_ANSWERED: i32 = 2;
/// A request failed for good, or will not be sent.
pub const GCDN_EVENT_FAILED: i32 = 3;
/// The run waits (`gcdn_event_wait_ms`, `gcdn_event_wait_reason`, `gcdn_event_resource_id`).
pub const GCDN_EVENT_WAIT: i32 = 4;
/// An attempt failed and will be tried again (`gcdn_event_message` says how it failed).
pub const GCDN_EVENT_RETRY: i32 = 5;
/// A poll of the purge statuses was read (`gcdn_event_item_count`: requests still to
/// confirm).
pub const GCDN_EVENT_CONFIRM_POLL: i32 = 6;
/// A request's completion is known (`gcdn_event_completion`).
pub const GCDN_EVENT_CONFIRMED: i32 = 7;
/// Nothing else happened for 50 ms: sent at least that often while a run lasts, and while a
/// single `gcdn_*_with` call waits (a pacer slot, a 429's window, a backoff; never during an
/// HTTP attempt), on the calling thread, so that the callback can look at what it must (a
/// language binding: its signal handlers, e.g. Ctrl-C) and stop the call by returning
/// non-zero. Only the totals are set. A callback with nothing to look at returns 0.
pub const GCDN_EVENT_TICK: i32 = 8;

/// `gcdn_event_wait_reason`: not a wait.
pub const GCDN_WAIT_NONE: i32 = 0;
/// For the next slot in the resource's rate window (the pacer).
pub const GCDN_WAIT_PACER: i32 = 1;
/// After an HTTP 429 without `Retry-After`.
pub const GCDN_WAIT_RATE_LIMITED: i32 = 2;
/// As the server's `Retry-After` asked.
pub const GCDN_WAIT_RETRY_AFTER: i32 = 3;
/// Backing off before retrying a failed attempt.
pub const GCDN_WAIT_BACKOFF: i32 = 4;
/// Between polls of the purge statuses.
pub const GCDN_WAIT_CONFIRM: i32 = 5;

/// `gcdn_report_total`, `gcdn_event_total`: requests planned.
pub const GCDN_TOTAL_REQUESTS: i32 = 1;
/// Requests the API accepted.
pub const GCDN_TOTAL_PURGED: i32 = 2;
/// Requests that failed.
pub const GCDN_TOTAL_FAILED: i32 = 3;
/// Requests not sent (so far, during a run).
pub const GCDN_TOTAL_NOT_SENT: i32 = 4;
/// Items of the purged requests (a purge-all counts 1).
pub const GCDN_TOTAL_ITEMS_PURGED: i32 = 5;
/// HTTP 429 answers met.
pub const GCDN_TOTAL_RATE_LIMITED: i32 = 6;
/// Milliseconds since the run began.
pub const GCDN_TOTAL_ELAPSED_MS: i32 = 7;
/// The least the rate limits allow the plan to take, in milliseconds.
pub const GCDN_TOTAL_ESTIMATED_MS: i32 = 8;
/// Requests that began (answered or not).
pub const GCDN_TOTAL_SENT: i32 = 9;
/// Items left out (see `gcdn_report_skipped_count`).
pub const GCDN_TOTAL_SKIPPED: i32 = 10;
/// Requests whose purge status is `Successful`.
pub const GCDN_TOTAL_CONFIRMED: i32 = 11;
/// URLs the edge served fresh after their purge (`gcdn_run_set_verify`).
pub const GCDN_TOTAL_VERIFIED_FRESH: i32 = 12;
/// URLs the edge still served from a copy cached before their purge.
pub const GCDN_TOTAL_VERIFIED_STALE: i32 = 13;
/// URLs whose probe got no usable answer.
pub const GCDN_TOTAL_VERIFIED_ERROR: i32 = 14;

/// `gcdn_report_verified_result`: the edge serves a copy cached after the purge (`Cache:
/// MISS` or `BYPASS`, or a `HIT` whose `X-Cached-Since` is not before the purge).
pub const GCDN_VERIFY_FRESH: i32 = 1;
/// A `HIT` cached before the purge (or that does not say when).
pub const GCDN_VERIFY_STALE: i32 = 2;
/// No answer, not 2xx/3xx, or no `Cache` header.
pub const GCDN_VERIFY_ERROR: i32 = 3;
/// Items the run's purged requests carried for other calls of the client besides the run's
/// own (see `gcdn_options_set_coalesce`).
pub const GCDN_TOTAL_CARRIED_FOR_OTHERS: i32 = 15;

pub(super) fn kind_code(kind: PurgeKind) -> i32 {
    match kind {
        PurgeKind::Urls => GCDN_KIND_URLS,
        PurgeKind::Patterns => GCDN_KIND_PATTERNS,
        PurgeKind::All => GCDN_KIND_ALL,
    }
}

pub(super) fn completion_code(c: Option<Completion>) -> i32 {
    match c {
        None => GCDN_COMPLETION_NONE,
        Some(Completion::Successful) => GCDN_COMPLETION_SUCCESSFUL,
        Some(Completion::Failed) => GCDN_COMPLETION_FAILED,
        Some(Completion::InProgress) => GCDN_COMPLETION_IN_PROGRESS,
    }
}

pub(super) fn total_of(t: &Totals, which: i32) -> u64 {
    match which {
        GCDN_TOTAL_REQUESTS => t.requests,
        GCDN_TOTAL_PURGED => t.purged,
        GCDN_TOTAL_FAILED => t.failed,
        GCDN_TOTAL_NOT_SENT => t.not_sent,
        GCDN_TOTAL_ITEMS_PURGED => t.items_purged,
        GCDN_TOTAL_RATE_LIMITED => t.rate_limited,
        GCDN_TOTAL_ELAPSED_MS => t.elapsed_ms,
        GCDN_TOTAL_ESTIMATED_MS => t.estimated_ms,
        GCDN_TOTAL_SENT => t.sent,
        GCDN_TOTAL_SKIPPED => t.skipped,
        GCDN_TOTAL_CONFIRMED => t.confirmed,
        GCDN_TOTAL_VERIFIED_FRESH => t.verified_fresh,
        GCDN_TOTAL_VERIFIED_STALE => t.verified_stale,
        GCDN_TOTAL_VERIFIED_ERROR => t.verified_error,
        GCDN_TOTAL_CARRIED_FOR_OTHERS => t.carried_for_others,
        _ => 0,
    }
}

/// An opaque purge job: purges across any number of resources. Create with `gcdn_job_new`,
/// fill with the `gcdn_job_add_*` functions from one thread, free with `gcdn_job_free`. A job
/// is only read by `gcdn_job_run`: the same job may be run many times, from many threads at
/// once, as long as no thread adds to it meanwhile.
pub struct gcdn_job {
    pub(super) inner: Job,
}

/// # Safety
/// `p` is NULL or a live job.
pub(super) unsafe fn job_mut<'a>(p: *mut gcdn_job) -> Result<&'a mut Job> {
    // SAFETY: this function's contract.
    unsafe { p.as_mut() }
        .map(|j| &mut j.inner)
        .ok_or_else(|| Error::invalid("job is NULL"))
}

/// Create an empty job. Returns NULL only if memory ran out. Free with `gcdn_job_free`.
#[no_mangle]
pub extern "C" fn gcdn_job_new() -> *mut gcdn_job {
    boundary!(std::ptr::null_mut(), {
        Box::into_raw(Box::new(gcdn_job { inner: Job::new() }))
    })
}

/// Free a job. Reports of its runs keep what they need: free it whenever convenient.
///
/// `job` must be NULL (nothing happens) or a live job that no call is using; it is dead
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_free(job: *mut gcdn_job) {
    boundary!((), {
        if !job.is_null() {
            // SAFETY: not NULL, so a live job that no call uses (the contract above),
            // from `Box::into_raw`; dead from here on.
            drop(unsafe { Box::from_raw(job) });
        }
    })
}

/// Add `n` URLs of resource `resource_id` (> 0) to the job: paths with their query string,
/// by the rules of `gcdn_purge_urls` (starting with `/`, no scheme or host, no control
/// character). Repeats are kept, and left out by the run as duplicates. Every URL is checked
/// before any is added: on failure the job is unchanged and the message names the first bad
/// URL by its index (0-based) and the reason. `n` must be 1 to GCDN_MAX_ITEMS. The strings
/// are copied.
///
/// `job` must be a live job, used by no other thread during the call; `urls` must point to
/// `n` NUL-terminated strings. NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_add_urls(
    job: *mut gcdn_job,
    resource_id: i64,
    urls: *const *const c_char,
    n: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `job` is NULL or a live job no other thread uses (the contract above).
        let job = unsafe { job_mut(job) }?;
        // SAFETY: `urls` is NULL or `n` pointers to NUL-terminated strings (the contract above).
        job.add_urls(resource_id, &unsafe { str_list(urls, n, "URL") }?)
    })
}

/// Add `n` patterns of resource `resource_id` (> 0) to the job, by the rules of
/// `gcdn_purge_patterns` (`*` only at the end). Checked, copied and refused as in
/// `gcdn_job_add_urls`.
///
/// `job` must be a live job, used by no other thread during the call; `patterns` must point
/// to `n` NUL-terminated strings. NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_add_patterns(
    job: *mut gcdn_job,
    resource_id: i64,
    patterns: *const *const c_char,
    n: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `job` is NULL or a live job no other thread uses (the contract above).
        let job = unsafe { job_mut(job) }?;
        // SAFETY: `patterns` is NULL or `n` pointers to NUL-terminated strings (the contract above).
        job.add_patterns(resource_id, &unsafe { str_list(patterns, n, "pattern") }?)
    })
}

/// Add a purge of everything of resource `resource_id` (> 0). The run then leaves out every
/// other item of that resource as covered by it.
///
/// `job` must be a live job, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_add_all(
    job: *mut gcdn_job,
    resource_id: i64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `job` is NULL or a live job no other thread uses (the contract above).
        unsafe { job_mut(job) }?.add_all(resource_id)
    })
}

/// Add `n` full URLs, `https://host/path?query`. The run lists the account's resources
/// (`GET /cdn/resources`) and sends each URL's path and query to the resource whose cname or
/// one of whose secondary hostnames is its host (exactly, ignoring case). A full URL must be
/// `https://` (any case), a host of letters, digits, `-` and `.` (optionally `:443`), and a
/// path starting with `/` with the rules of `gcdn_job_add_urls`; no user info, no fragment.
/// Checked, copied and refused as in `gcdn_job_add_urls`.
///
/// `job` must be a live job, used by no other thread during the call; `urls` must point to
/// `n` NUL-terminated strings. NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_add_full_urls(
    job: *mut gcdn_job,
    urls: *const *const c_char,
    n: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `job` is NULL or a live job no other thread uses (the contract above).
        let job = unsafe { job_mut(job) }?;
        // SAFETY: `urls` is NULL or `n` pointers to NUL-terminated strings (the contract above).
        job.add_full_urls(&unsafe { str_list(urls, n, "full URL") }?)
    })
}

/// How many items were added to the job (repeats included); 0 for NULL.
///
/// `job` must be NULL or a live job.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_item_count(job: *const gcdn_job) -> usize {
    boundary!(0, {
        // SAFETY: `job` is NULL or a live job (the contract above).
        unsafe { job.as_ref() }.map_or(0, |j| j.inner.len())
    })
}
