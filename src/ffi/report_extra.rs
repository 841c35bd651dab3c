//! The report's accessors for what a run does besides its purge requests (issue 22):
//! `gcdn_report_verified_*` (what verification found on the edges), `gcdn_report_prefetched_*`
//! (the prefetch requests after the purge), `gcdn_report_rewritten_*` (URL items sent in their
//! cache-key form) and `gcdn_report_warning_*` (what the plan may not reach).

use std::ffi::{c_char, CStr};

use super::job::*;
use super::report::{gcdn_report, report_ref};
use crate::engine::job::cachekey::PolicyBy;
use crate::engine::job::verify::Verdict;
use crate::engine::job::{Outcome, WarningCode};

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
