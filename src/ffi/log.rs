//! Log records: the `GCDN_LOG_*` levels, `gcdn_log_record`, and the log function a builder is
//! given (`gcdn_options_set_log`, in options.rs) as the engine's log sink.

use std::ffi::{c_char, c_void, CStr, CString};
use std::time::Duration;

use super::strings::c_string;
use crate::engine::{log, PaceKind, WaitReason};

/// Log level: a client's final failures are its returned errors, so no record has this
/// level yet; it is reserved.
pub const GCDN_LOG_ERROR: i32 = 1;
/// Log level: the API answered 429 (`rate_limited`); the shared rate store failed and the
/// client paces in this process only (`store_fallback`, once until the store works again); a
/// value of the account's limits not believed, the documented one used (`limits`).
pub const GCDN_LOG_WARN: i32 = 2;
/// Log level: a retry (`retry`), a wait (`wait`), the account's limits read (`limits`).
pub const GCDN_LOG_INFO: i32 = 3;
/// Log level: one record per HTTP attempt (`request`); a repeated `store_fallback`.
pub const GCDN_LOG_DEBUG: i32 = 4;
/// Log level: each pacer decision (`pacer`), also those that made the call wait.
pub const GCDN_LOG_TRACE: i32 = 5;

const _: () = assert!(GCDN_LOG_ERROR == log::Level::Error as i32);
const _: () = assert!(GCDN_LOG_WARN == log::Level::Warn as i32);
const _: () = assert!(GCDN_LOG_INFO == log::Level::Info as i32);
const _: () = assert!(GCDN_LOG_DEBUG == log::Level::Debug as i32);
const _: () = assert!(GCDN_LOG_TRACE == log::Level::Trace as i32);

/// One log record, as the log function gets it. It and every string it points to are valid
/// only during the call of the log function: copy what you keep. Fields that do not apply
/// to the event are NULL or 0. Strings are UTF-8 and NUL-terminated, and never hold the API
/// key or a URL password. Records are made only by the library, so fields may be added at
/// the end in a later version: read them through the pointer, never copy the struct whole.
#[repr(C)]
pub struct gcdn_log_record {
    /// GCDN_LOG_ERROR .. GCDN_LOG_TRACE.
    pub level: i32,
    /// What happened: "request" (one HTTP attempt), "retry", "wait", "rate_limited",
    /// "limits", "store_fallback" or "pacer"; later versions may add others.
    pub event: *const c_char,
    /// One line for people, e.g. "POST /cdn/resources/5/purge -> 201 (attempt 1, 3 ms)".
    pub message: *const c_char,
    /// "GET", "POST", "DELETE", ...: "request" and "retry"; else NULL.
    pub method: *const c_char,
    /// Path and query below the base URL, e.g. "/cdn/resources/5/purge": "request" and
    /// "retry"; else NULL.
    pub path: *const c_char,
    /// The HTTP status of a "request"; 0 when no answer came, and for other events.
    pub http_status: i32,
    /// The attempt's number, from 1: "request" and "retry"; else 0.
    pub attempt: u32,
    /// How long the attempt took, in milliseconds: "request"; else 0.
    pub elapsed_ms: u64,
    /// The resource a purge's "wait", "rate_limited" or "pacer" concerns; 0 when none.
    pub resource_id: i64,
    /// With resource_id: "urls" (purges by URL) or "patterns" (by pattern, and purge-all);
    /// else NULL.
    pub kind: *const c_char,
    /// Milliseconds: how long the call waits ("wait"), how far off the slot is ("pacer"), or
    /// what Retry-After asked ("rate_limited"; 0 without one); else 0.
    pub wait_ms: u64,
    /// Why a "wait": "pacer", "429" (the rate window after a 429 without Retry-After),
    /// "retry-after" or "backoff"; else NULL.
    pub reason: *const c_char,
}

/// A log function: gets each record at or below the level it was set with, and the
/// user_data given with it.
pub type gcdn_log_fn =
    Option<unsafe extern "C" fn(record: *const gcdn_log_record, user_data: *mut c_void)>;

/// The log function and its user_data, called from whichever thread runs a call.
pub(crate) struct CLog {
    pub(crate) func: unsafe extern "C" fn(*const gcdn_log_record, *mut c_void),
    pub(crate) user_data: *mut c_void,
}

// SAFETY: gcdn_options_set_log's contract: the function may be called from any thread, with
// user_data, for as long as a client made with the options lives.
unsafe impl Send for CLog {}
unsafe impl Sync for CLog {}

fn c_opt(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

impl CLog {
    pub(crate) fn send(&self, record: &log::Record<'_>) {
        with_c_record(record, |c| {
            // SAFETY: gcdn_options_set_log's contract; `c` and its strings outlive the call.
            unsafe { (self.func)(c, self.user_data) }
        })
    }
}

/// Call `f` with `record` as C sees it: a `gcdn_log_record` whose strings live until `f`
/// returns.
fn with_c_record<R>(record: &log::Record<'_>, f: impl FnOnce(&gcdn_log_record) -> R) -> R {
    let message = c_string(record.message);
    let method = record.method.map(c_string);
    let path = record.path.map(c_string);
    let kind: Option<&'static CStr> = record.kind.map(|k| match k {
        PaceKind::Urls => c"urls",
        PaceKind::Patterns => c"patterns",
        PaceKind::Prefetch => c"prefetch",
    });
    let reason: Option<&'static CStr> = record.why.map(|w| match w {
        WaitReason::Pacer => c"pacer",
        WaitReason::RateLimited => c"429",
        WaitReason::RetryAfter => c"retry-after",
        WaitReason::Backoff => c"backoff",
        WaitReason::Confirm => c"confirm",
    });
    let event = match record.event {
        log::Event::Request => c"request",
        log::Event::Retry => c"retry",
        log::Event::Wait => c"wait",
        log::Event::RateLimited => c"rate_limited",
        log::Event::Limits => c"limits",
        log::Event::StoreFallback => c"store_fallback",
        log::Event::Pacer => c"pacer",
    };
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let c = gcdn_log_record {
        level: record.level as i32,
        event: event.as_ptr(),
        message: message.as_ptr(),
        method: c_opt(&method),
        path: c_opt(&path),
        http_status: record.http_status.map_or(0, i32::from),
        attempt: record.attempt,
        elapsed_ms: millis(record.elapsed),
        resource_id: record.resource_id.unwrap_or(0),
        kind: kind.map_or(std::ptr::null(), CStr::as_ptr),
        wait_ms: millis(record.wait),
        reason: reason.map_or(std::ptr::null(), CStr::as_ptr),
    };
    f(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::log::{Event, Level};

    /// The log record's strings follow the one NUL policy (strings.rs): `?`, text kept whole.
    #[test]
    fn a_nul_in_a_log_record_becomes_a_question_mark() {
        let record = log::Record {
            level: Level::Debug,
            event: Event::Request,
            message: "POST /x\0y -> 201",
            method: Some("PO\0ST"),
            path: Some("/x\0y"),
            http_status: Some(201),
            attempt: 1,
            elapsed: Duration::ZERO,
            resource_id: None,
            kind: None,
            wait: Duration::ZERO,
            why: None,
        };
        let text = |p: *const c_char| {
            assert!(!p.is_null());
            unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
        };
        let seen = with_c_record(&record, |c| {
            (text(c.event), text(c.message), text(c.method), text(c.path))
        });
        assert_eq!(
            seen,
            (
                "request".to_owned(),
                "POST /x?y -> 201".to_owned(),
                "PO?ST".to_owned(),
                "/x?y".to_owned()
            )
        );
    }
}
