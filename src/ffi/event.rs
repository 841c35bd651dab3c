//! `gcdn_event`: a progress event, read through the `gcdn_event_*` accessors during the
//! callback it is passed to.

use std::ffi::{c_char, CStr, CString};

use super::job::*;
use super::status::GCDN_OK;
use crate::engine::job::{self, EventKind};
use crate::engine::{Status, WaitReason};

/// One progress event, valid only during the callback it is passed to. Read it with the
/// `gcdn_event_*` accessors.
pub struct gcdn_event {
    pub(super) inner: job::Event,
    pub(super) message: Option<CString>,
}

/// # Safety
/// `p` is NULL or an event passed to the running callback.
pub(super) unsafe fn event_ref<'a>(p: *const gcdn_event) -> Option<&'a job::Event> {
    // SAFETY: this function's contract.
    unsafe { p.as_ref() }.map(|e| &e.inner)
}

/// What happened: a GCDN_EVENT_* constant (0 for NULL).
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_kind(event: *const gcdn_event) -> i32 {
    boundary!(0, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }.map_or(0, |e| match e.kind {
            EventKind::Sent => GCDN_EVENT_SENT,
            EventKind::Answered => GCDN_EVENT_ANSWERED,
            EventKind::Failed => GCDN_EVENT_FAILED,
            EventKind::Wait => GCDN_EVENT_WAIT,
            EventKind::Retry => GCDN_EVENT_RETRY,
            EventKind::ConfirmPoll => GCDN_EVENT_CONFIRM_POLL,
            EventKind::Confirmed => GCDN_EVENT_CONFIRMED,
            EventKind::Tick => GCDN_EVENT_TICK,
        })
    })
}

/// The index of the event's request in the report (`gcdn_report_request_*`); -1 when the
/// event is not about one request.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_request(event: *const gcdn_event) -> i64 {
    boundary!(-1, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }
            .and_then(|e| e.request)
            .map_or(-1, |i| i64::try_from(i).unwrap_or(-1))
    })
}

/// The resource the event is about; 0 when none.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_resource_id(event: *const gcdn_event) -> i64 {
    boundary!(0, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }
            .and_then(|e| e.resource_id)
            .unwrap_or(0)
    })
}

/// The kind of the event's request: a GCDN_KIND_* constant; 0 when none.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_purge_kind(event: *const gcdn_event) -> i32 {
    boundary!(0, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }
            .and_then(|e| e.purge_kind)
            .map_or(0, kind_code)
    })
}

/// Items of the event's request; for GCDN_EVENT_CONFIRM_POLL, requests still to confirm.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_item_count(event: *const gcdn_event) -> usize {
    // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
    boundary!(0, { unsafe { event_ref(event) }.map_or(0, |e| e.items) })
}

/// The attempt the event is about (1 for the first); 0 when none.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_attempt(event: *const gcdn_event) -> u32 {
    // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
    boundary!(0, { unsafe { event_ref(event) }.map_or(0, |e| e.attempt) })
}

/// The HTTP status of the answer the event is about; 0 when none.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_http_status(event: *const gcdn_event) -> i32 {
    boundary!(0, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }
            .and_then(|e| e.http_status)
            .map_or(0, i32::from)
    })
}

/// For GCDN_EVENT_FAILED (and a failed poll): the GCDN_ERR_* code; else GCDN_OK.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_status(event: *const gcdn_event) -> i32 {
    boundary!(GCDN_OK, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }
            .and_then(|e| e.status)
            .map_or(GCDN_OK, Status::code)
    })
}

/// For GCDN_EVENT_WAIT: how long the wait is, in milliseconds; else 0.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_wait_ms(event: *const gcdn_event) -> u64 {
    boundary!(0, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }
            .map_or(0, |e| u64::try_from(e.wait.as_millis()).unwrap_or(u64::MAX))
    })
}

/// For GCDN_EVENT_WAIT: why, a GCDN_WAIT_* constant; else GCDN_WAIT_NONE.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_wait_reason(event: *const gcdn_event) -> i32 {
    boundary!(GCDN_WAIT_NONE, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }
            .and_then(|e| e.why)
            .map_or(GCDN_WAIT_NONE, |w| match w {
                WaitReason::Pacer => GCDN_WAIT_PACER,
                WaitReason::RateLimited => GCDN_WAIT_RATE_LIMITED,
                WaitReason::RetryAfter => GCDN_WAIT_RETRY_AFTER,
                WaitReason::Backoff => GCDN_WAIT_BACKOFF,
                WaitReason::Confirm => GCDN_WAIT_CONFIRM,
            })
    })
}

/// For GCDN_EVENT_CONFIRMED: a GCDN_COMPLETION_* constant; else GCDN_COMPLETION_NONE.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_completion(event: *const gcdn_event) -> i32 {
    boundary!(GCDN_COMPLETION_NONE, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }.map_or(GCDN_COMPLETION_NONE, |e| completion_code(e.completion))
    })
}

/// A message that goes with the event (how a request failed, what a poll found); NULL when
/// none. Valid only during the callback: copy it to keep it.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_message(event: *const gcdn_event) -> *const c_char {
    boundary!(std::ptr::null(), {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract
        // above).
        unsafe { event.as_ref() }
            .and_then(|e| e.message.as_deref())
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// One of the run's totals as of this event (`which`: a GCDN_TOTAL_* constant); 0 for an
/// unknown `which`.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_total(event: *const gcdn_event, which: i32) -> u64 {
    boundary!(0, {
        // SAFETY: `event` is NULL or the event passed to the running callback (the contract above).
        unsafe { event_ref(event) }.map_or(0, |e| total_of(&e.totals, which))
    })
}
