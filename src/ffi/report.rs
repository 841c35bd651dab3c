//! `gcdn_report`: the report of a run, read through the `gcdn_report_*` accessors, as JSON,
//! or as the job of what is left.

use std::ffi::{c_char, CStr, CString};

use super::job::*;
use super::status::{GCDN_ERR_INVALID_ARGUMENT, GCDN_ERR_PANIC, GCDN_OK};
use super::strings::c_string;
use crate::engine::job::cachekey::PolicyBy;
use crate::engine::job::plan::By;
use crate::engine::job::verify::Verdict;
use crate::engine::job::WarningCode;
use crate::engine::job::{Given, Outcome, Reason, Report, RequestReport};
use crate::engine::{Error, Status};

/// An opaque, immutable report of a run, from `gcdn_job_run`. Free with `gcdn_report_free`.
/// Read it with the `gcdn_report_*` accessors, from any number of threads at once; strings
/// they return live as long as the report.
pub struct gcdn_report {
    inner: Report,
    /// Each request's message as a C string (the engine keeps them as `String`s), made once
    /// with the report, so that `gcdn_report_request_message` can hand out pointers that live
    /// as long as the report, from any thread, without a lock.
    messages: Box<[Option<CString>]>,
    /// Each verified URL's strings as C strings: url, cache, cached_since, edge, message.
    verified: Box<[[Option<CString>; 5]]>,
    /// Each prefetch request's message.
    prefetch_messages: Box<[Option<CString>]>,
    /// Each warning's message as a C string, made once with the report (as `messages`).
    warnings: Box<[CString]>,
}

impl gcdn_report {
    pub(super) fn new(report: Report) -> Self {
        let messages = report
            .requests
            .iter()
            .map(|r| r.message.as_deref().map(c_string))
            .collect();
        let verified = report
            .verified
            .iter()
            .map(|v| {
                [
                    Some(c_string(v.url.as_str())),
                    v.cache.as_deref().map(c_string),
                    v.cached_since.as_deref().map(c_string),
                    v.edge.as_deref().map(c_string),
                    v.message.as_deref().map(c_string),
                ]
            })
            .collect();
        let prefetch_messages = report
            .prefetched
            .iter()
            .map(|p| p.message.as_deref().map(c_string))
            .collect();
        let warnings = report
            .warnings
            .iter()
            .map(|w| c_string(w.message.as_str()))
            .collect();
        gcdn_report {
            inner: report,
            messages,
            verified,
            prefetch_messages,
            warnings,
        }
    }
}

/// # Safety
/// `p` is NULL or a live report.
pub(super) unsafe fn report_ref<'a>(p: *const gcdn_report) -> Option<&'a Report> {
    // SAFETY: this function's contract.
    unsafe { p.as_ref() }.map(|r| &r.inner)
}

/// The report as JSON, in the stable form the README documents (`version` 1: `dry_run`,
/// `requests`, `skipped`, `totals`, plus `status`, `message` and `listing`). On success
/// `*json_out` receives a NUL-terminated UTF-8 string to free with `gcdn_string_free`.
///
/// `report` must be a live report; `json_out` must point to a writable `char *`. Either NULL
/// gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_json(
    report: *const gcdn_report,
    json_out: *mut *mut c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        let report =
            unsafe { report_ref(report) }.ok_or_else(|| Error::invalid("report is NULL"))?;
        if json_out.is_null() {
            return Err(Error::invalid("json_out is NULL"));
        }
        let json = CString::new(report.to_json())
            .map_err(|_| Error::new(Status::Panic, "the report's JSON holds a NUL"))?;
        // SAFETY: checked for NULL above.
        unsafe { *json_out = json.into_raw() };
        Ok(())
    })
}

/// A new job of what the run did not purge: the requests that failed, were not sent (after a
/// dry run: every planned request), or whose purge status is Failed, by resource id (full URLs
/// already mapped to their resource).
/// Items the run left out (duplicates, covered, no_resource, inactive, url_purge_disabled)
/// are not in it. Running it finishes the work. Returns NULL when nothing is left (or
/// `report` is NULL, or memory ran out). Free the job with `gcdn_job_free`.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_remaining(report: *const gcdn_report) -> *mut gcdn_job {
    boundary!(std::ptr::null_mut(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) }.and_then(Report::remaining) {
            Some(job) => Box::into_raw(Box::new(gcdn_job { inner: job })),
            None => std::ptr::null_mut(),
        }
    })
}

/// Free a report; every string its accessors returned is dead afterwards.
///
/// `report` must be NULL (nothing happens) or a live report that no call is using.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_free(report: *mut gcdn_report) {
    boundary!((), {
        if !report.is_null() {
            // SAFETY: not NULL, so a live report that no call uses (the contract above),
            // from `Box::into_raw`; dead from here on.
            drop(unsafe { Box::from_raw(report) });
        }
    })
}

/// The run's status, as `gcdn_job_run` returned it (GCDN_OK for success); GCDN_ERR_INVALID_ARGUMENT
/// for NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_status(report: *const gcdn_report) -> i32 {
    boundary!(GCDN_ERR_PANIC, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) } {
            None => GCDN_ERR_INVALID_ARGUMENT,
            Some(r) => r.status.map_or(GCDN_OK, Status::code),
        }
    })
}

/// 1 if the report is of a dry run, else 0 (also for NULL).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_dry_run(report: *const gcdn_report) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }.map_or(0, |r| i32::from(r.dry_run))
    })
}

/// One of the report's totals (`which`: a GCDN_TOTAL_* constant); 0 for an unknown `which`
/// or a NULL report.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_total(report: *const gcdn_report, which: i32) -> u64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }.map_or(0, |r| total_of(&r.totals, which))
    })
}

/// How many requests the run planned: the valid `request` indices of the
/// `gcdn_report_request_*` accessors are 0 to this less one. 0 for NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_count(report: *const gcdn_report) -> usize {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(0, {
        unsafe { report_ref(report) }.map_or(0, |r| r.requests.len())
    })
}

/// # Safety
/// `report` is NULL or a live report.
pub(super) unsafe fn request_ref<'a>(
    report: *const gcdn_report,
    request: usize,
) -> Option<&'a RequestReport> {
    // SAFETY: `report` is NULL or a live report (the contract above).
    unsafe { report_ref(report) }.and_then(|r| r.requests.get(request))
}

/// The resource id of request `request`; 0 when the index is out of range or `report` NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_resource_id(
    report: *const gcdn_report,
    request: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| r.resource_id)
    })
}

/// The kind of request `request`: GCDN_KIND_URLS, GCDN_KIND_PATTERNS or GCDN_KIND_ALL; 0
/// when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_kind(
    report: *const gcdn_report,
    request: usize,
) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| kind_code(r.kind))
    })
}

/// What became of request `request`: a GCDN_OUTCOME_* constant; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_outcome(
    report: *const gcdn_report,
    request: usize,
) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| match r.outcome {
            Outcome::Purged => GCDN_OUTCOME_PURGED,
            Outcome::Failed => GCDN_OUTCOME_FAILED,
            Outcome::NotSent => GCDN_OUTCOME_NOT_SENT,
            Outcome::Planned => GCDN_OUTCOME_PLANNED,
        })
    })
}

/// The status of request `request`: GCDN_OK when purged, the GCDN_ERR_* code of its failure
/// (or of why it was not sent), -1 for a planned request or an index out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_status(
    report: *const gcdn_report,
    request: usize,
) -> i32 {
    boundary!(-1, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(-1, |r| match (r.status, r.outcome) {
            (Some(s), _) => s.code(),
            (None, Outcome::Purged) => GCDN_OK,
            (None, _) => -1,
        })
    })
}

/// The HTTP status of the last answer to request `request`; 0 when none came (or out of
/// range).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_http_status(
    report: *const gcdn_report,
    request: usize,
) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| r.http_status.map_or(0, i32::from))
    })
}

/// Why request `request` failed or was not sent; NULL when it did not (or out of range).
/// The string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_message(
    report: *const gcdn_report,
    request: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report.as_ref() }
            .and_then(|r| r.messages.get(request))
            .and_then(Option::as_deref)
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// Attempts made for request `request` (0: never sent, or out of range).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_attempts(
    report: *const gcdn_report,
    request: usize,
) -> u32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| r.attempts)
    })
}

/// Items request `request` carried for other calls of the client besides the run's own (see
/// `gcdn_options_set_coalesce`); 0 when it carried the run's items alone, was not purged, or
/// out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_carried_for_others(
    report: *const gcdn_report,
    request: usize,
) -> u64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| r.carried_for_others)
    })
}

/// The purge id of request `request`, from its purge status when confirmation found it; 0
/// when not known (or out of range).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_purge_id(
    report: *const gcdn_report,
    request: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| r.purge_id.unwrap_or(0))
    })
}

/// The completion of request `request`: a GCDN_COMPLETION_* constant (GCDN_COMPLETION_NONE
/// when the run did not wait, or out of range).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_completion(
    report: *const gcdn_report,
    request: usize,
) -> i32 {
    boundary!(GCDN_COMPLETION_NONE, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }
            .map_or(GCDN_COMPLETION_NONE, |r| completion_code(r.completion))
    })
}

/// How many items request `request` carries (0 for a purge-all, or out of range).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_item_count(
    report: *const gcdn_report,
    request: usize,
) -> usize {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { request_ref(report, request) }.map_or(0, |r| r.items.len())
    })
}

/// Item `item` of request `request`, as sent (a path with its query, or a pattern; for a
/// full URL, its path and query); NULL when either index is out of range. The string
/// belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_item(
    report: *const gcdn_report,
    request: usize,
    item: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) } {
            Some(r) => r
                .requests
                .get(request)
                .and_then(|q| q.items.get(item))
                .map_or(std::ptr::null(), |span| r.data().c_ptr(*span).cast()),
            None => std::ptr::null(),
        }
    })
}

/// How many items the run left out: the valid `skipped` indices of the
/// `gcdn_report_skipped_*` accessors are 0 to this less one. 0 for NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_skipped_count(report: *const gcdn_report) -> usize {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(0, {
        unsafe { report_ref(report) }.map_or(0, |r| r.skipped.len())
    })
}

/// Left-out item `skipped` as it was given (a path, a pattern, a full URL, or "all" for a
/// purge-all); NULL when out of range. The string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_skipped_item(
    report: *const gcdn_report,
    skipped: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) } {
            Some(r) if skipped < r.skipped.len() => {
                let data = r.data();
                let e = &data.entries()[r.skipped[skipped].entry as usize];
                if e.given == Given::All {
                    c"all".as_ptr()
                } else {
                    data.c_ptr(e.text).cast()
                }
            }
            _ => std::ptr::null(),
        }
    })
}

/// The resource id of left-out item `skipped`; 0 when its host matched no resource (or out
/// of range).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_skipped_resource_id(
    report: *const gcdn_report,
    skipped: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.skipped.get(skipped))
            .map_or(0, |s| s.resource_id.unwrap_or(0))
    })
}

/// Why item `skipped` was left out: a GCDN_SKIP_* constant; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_skipped_reason(
    report: *const gcdn_report,
    skipped: usize,
) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.skipped.get(skipped))
            .map_or(0, |s| match s.reason {
                Reason::Duplicate => GCDN_SKIP_DUPLICATE,
                Reason::Covered => GCDN_SKIP_COVERED,
                Reason::NoResource => GCDN_SKIP_NO_RESOURCE,
                Reason::Inactive => GCDN_SKIP_INACTIVE,
                Reason::UrlPurgeDisabled => GCDN_SKIP_URL_PURGE_DISABLED,
            })
    })
}

/// What covers left-out item `skipped` (reason GCDN_SKIP_COVERED): the covering pattern as
/// given, or "all"; NULL for other reasons (or out of range). The string belongs to the
/// report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_skipped_by(
    report: *const gcdn_report,
    skipped: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) }.and_then(|r| r.skipped.get(skipped).map(|s| (r, s))) {
            Some((_, s)) if s.by == Some(By::All) => c"all".as_ptr(),
            Some((r, s)) => match s.by {
                Some(By::Pattern(span)) => r.data().c_ptr(span).cast(),
                _ => std::ptr::null(),
            },
            None => std::ptr::null(),
        }
    })
}

/// How many URLs a verifying run probed: the valid `verified` indices of the
/// `gcdn_report_verified_*` accessors are 0 to this less one. 0 for NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_count(report: *const gcdn_report) -> usize {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report.as_ref() }.map_or(0, |r| r.verified.len())
    })
}

/// A string of probed URL `verified` (`field` 0: the URL, 1: the `Cache` header, 2:
/// `X-Cached-Since`, 3: `X-ID`, the edge that answered, 4: the message saying why it is not
/// fresh); NULL when absent or out of range. The string belongs to the report: do not free it.
unsafe fn verified_str(report: *const gcdn_report, verified: usize, field: usize) -> *const c_char {
    // SAFETY: `report` is NULL or a live report (the callers' contract).
    unsafe { report.as_ref() }
        .and_then(|r| r.verified.get(verified))
        .and_then(|v| v[field].as_deref())
        .map_or(std::ptr::null(), CStr::as_ptr)
}

/// The URL probed (`https://host/path?query`); NULL when out of range. The string belongs to
/// the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_url(
    report: *const gcdn_report,
    verified: usize,
) -> *const c_char {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(std::ptr::null(), {
        unsafe { verified_str(report, verified, 0) }
    })
}

/// The edge's `Cache` header (HIT, MISS, BYPASS); NULL when none came or out of range. The
/// string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_cache(
    report: *const gcdn_report,
    verified: usize,
) -> *const c_char {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(std::ptr::null(), {
        unsafe { verified_str(report, verified, 1) }
    })
}

/// The edge's `X-Cached-Since` header as sent; NULL when none came or out of range. The
/// string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_cached_since(
    report: *const gcdn_report,
    verified: usize,
) -> *const c_char {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(std::ptr::null(), {
        unsafe { verified_str(report, verified, 2) }
    })
}

/// The edge that answered (its `X-ID` header; `<X-ID>.fe.gc.onl` reaches it again); NULL
/// when none came or out of range. The string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_edge(
    report: *const gcdn_report,
    verified: usize,
) -> *const c_char {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(std::ptr::null(), {
        unsafe { verified_str(report, verified, 3) }
    })
}

/// Why probed URL `verified` is stale or an error (and the edge address probed, when the run
/// named edges); NULL when there is nothing to say or out of range. The string belongs to the
/// report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_message(
    report: *const gcdn_report,
    verified: usize,
) -> *const c_char {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(std::ptr::null(), {
        unsafe { verified_str(report, verified, 4) }
    })
}

/// The resource of probed URL `verified`; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_resource_id(
    report: *const gcdn_report,
    verified: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.verified.get(verified))
            .map_or(0, |v| v.resource_id)
    })
}

/// What the edge said of probed URL `verified`: a GCDN_VERIFY_* constant; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_verified_result(
    report: *const gcdn_report,
    verified: usize,
) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.verified.get(verified))
            .map_or(0, |v| match v.result {
                Verdict::Fresh => GCDN_VERIFY_FRESH,
                Verdict::Stale => GCDN_VERIFY_STALE,
                Verdict::Error => GCDN_VERIFY_ERROR,
            })
    })
}

/// How many prefetch requests the run made (or meant to): the valid `prefetched` indices of
/// the `gcdn_report_prefetched_*` accessors are 0 to this less one. 0 for NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_prefetched_count(report: *const gcdn_report) -> usize {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }.map_or(0, |r| r.prefetched.len())
    })
}

/// The resource of prefetch request `prefetched`; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_prefetched_resource_id(
    report: *const gcdn_report,
    prefetched: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.prefetched.get(prefetched))
            .map_or(0, |p| p.resource_id)
    })
}

/// How many paths prefetch request `prefetched` carried; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_prefetched_items(
    report: *const gcdn_report,
    prefetched: usize,
) -> usize {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.prefetched.get(prefetched))
            .map_or(0, |p| p.items.len())
    })
}

/// What became of prefetch request `prefetched`: GCDN_OUTCOME_PURGED (accepted),
/// GCDN_OUTCOME_FAILED or GCDN_OUTCOME_NOT_SENT; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_prefetched_outcome(
    report: *const gcdn_report,
    prefetched: usize,
) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.prefetched.get(prefetched))
            .map_or(0, |p| match p.outcome {
                Outcome::Purged => GCDN_OUTCOME_PURGED,
                Outcome::Failed => GCDN_OUTCOME_FAILED,
                Outcome::NotSent => GCDN_OUTCOME_NOT_SENT,
                Outcome::Planned => GCDN_OUTCOME_PLANNED,
            })
    })
}

/// The HTTP status of prefetch request `prefetched`'s last answer; 0 when none came or out
/// of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_prefetched_http_status(
    report: *const gcdn_report,
    prefetched: usize,
) -> i32 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.prefetched.get(prefetched))
            .and_then(|p| p.http_status)
            .map_or(0, i32::from)
    })
}

/// Why prefetch request `prefetched` failed or was not sent; NULL when it was accepted or out
/// of range. The string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_prefetched_message(
    report: *const gcdn_report,
    prefetched: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report.as_ref() }
            .and_then(|r| r.prefetch_messages.get(prefetched))
            .and_then(Option::as_deref)
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// How many URL items the run sends in their cache-key form (see `gcdn_run_set_exact`): the
/// valid `rewritten` indices of the `gcdn_report_rewritten_*` accessors are 0 to this less
/// one. 0 for NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_rewritten_count(report: *const gcdn_report) -> usize {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(0, {
        unsafe { report_ref(report) }.map_or(0, |r| r.rewritten.len())
    })
}

/// Rewritten item `rewritten` as it was given (a path or a full URL); NULL when out of
/// range. The string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_rewritten_item(
    report: *const gcdn_report,
    rewritten: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) } {
            Some(r) if rewritten < r.rewritten.len() => {
                let data = r.data();
                data.c_ptr(data.entries()[r.rewritten[rewritten].entry as usize].text)
                    .cast()
            }
            _ => std::ptr::null(),
        }
    })
}

/// What is sent for rewritten item `rewritten`: its cache-key form (a path and query); NULL
/// when out of range. The string belongs to the report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_rewritten_as(
    report: *const gcdn_report,
    rewritten: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) }.and_then(|r| r.rewritten.get(rewritten).map(|w| (r, w)))
        {
            Some((r, w)) => r.data().c_ptr(w.sent).cast(),
            None => std::ptr::null(),
        }
    })
}

/// The resource id of rewritten item `rewritten`; 0 when out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_rewritten_resource_id(
    report: *const gcdn_report,
    rewritten: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.rewritten.get(rewritten))
            .map_or(0, |w| w.resource_id)
    })
}

/// The option that decided the cache-key form of rewritten item `rewritten`:
/// "ignoreQueryString", "query_params_whitelist" or "query_params_blacklist"; NULL when no
/// option is enabled (only the parameters' order changed) or out of range. A static string.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_rewritten_by(
    report: *const gcdn_report,
    rewritten: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) }.and_then(|r| r.rewritten.get(rewritten)) {
            Some(w) => match w.by {
                Some(PolicyBy::IgnoreQueryString) => c"ignoreQueryString".as_ptr(),
                Some(PolicyBy::Whitelist) => c"query_params_whitelist".as_ptr(),
                Some(PolicyBy::Blacklist) => c"query_params_blacklist".as_ptr(),
                None => std::ptr::null(),
            },
            None => std::ptr::null(),
        }
    })
}

/// The id of the resource rule that decided the cache-key form of rewritten item
/// `rewritten`; 0 when the resource's own options did (or out of range).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_rewritten_rule_id(
    report: *const gcdn_report,
    rewritten: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.rewritten.get(rewritten))
            .map_or(0, |w| w.rule_id.unwrap_or(0))
    })
}

/// How many warnings the plan has (a purge that may not reach everything): the valid
/// `warning` indices of the `gcdn_report_warning_*` accessors are 0 to this less one. 0 for
/// NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_warning_count(report: *const gcdn_report) -> usize {
    // SAFETY: `report` is NULL or a live report (the contract above).
    boundary!(0, {
        unsafe { report_ref(report) }.map_or(0, |r| r.warnings.len())
    })
}

/// The resource id of warning `warning`; 0 for a warning about no resource ("no_listing")
/// or out of range.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_warning_resource_id(
    report: *const gcdn_report,
    warning: usize,
) -> i64 {
    boundary!(0, {
        // SAFETY: `report` is NULL or a live report (the contract above).
        unsafe { report_ref(report) }
            .and_then(|r| r.warnings.get(warning))
            .map_or(0, |w| w.resource_id.unwrap_or(0))
    })
}

/// The code of warning `warning`: "slice" (URL purges remove only the first slice),
/// "custom_cache_key" (pattern purges and purge-all do not work), "invalid_rule" (a rule
/// gcdn cannot use) or "no_listing" (every item goes as given); NULL when out of range. A
/// static string.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_warning_code(
    report: *const gcdn_report,
    warning: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        match unsafe { report_ref(report) }.and_then(|r| r.warnings.get(warning)) {
            Some(w) => match w.code {
                WarningCode::Slice => c"slice".as_ptr(),
                WarningCode::CustomCacheKey => c"custom_cache_key".as_ptr(),
                WarningCode::InvalidRule => c"invalid_rule".as_ptr(),
                WarningCode::NoListing => c"no_listing".as_ptr(),
            },
            None => std::ptr::null(),
        }
    })
}

/// The message of warning `warning`; NULL when out of range. The string belongs to the
/// report: do not free it.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_warning_message(
    report: *const gcdn_report,
    warning: usize,
) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `report` is NULL or a live report (the contract above).
        let p = unsafe { report.as_ref() };
        p.and_then(|p| p.warnings.get(warning))
            .map_or(std::ptr::null(), |m| m.as_ptr())
    })
}
