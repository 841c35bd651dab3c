//! The C ABI. Thin by design: it turns pointers into Rust values, calls [`crate::engine`], and
//! turns the result into a status code and an owned message. `include/gcdn.h` is generated
//! from this file by cbindgen (`make header`).
//!
//! # The panic boundary
//!
//! No panic may unwind into C. The body of every export is exactly one `boundary!` call,
//! whose first argument is the value the caller gets when the body panics (GCDN_ERR_PANIC
//! with a message, NULL, or nothing), so the fallback is written at the top of each
//! export, as in hyper's C API.
//!
//! hyper goes one step further: its `ffi_fn!` macro wraps the whole `extern "C" fn`, so an
//! export cannot be written without it. cbindgen does not expand macros, though (hyper
//! makes its header from `cargo expand` output, and cbindgen's own `parse.expand` runs
//! `rustc -Zunpretty=expanded`: nightly only). With the pinned cbindgen on stable, a
//! signature inside a macro would vanish from the header. So the signatures stay plain
//! `#[no_mangle] pub extern "C" fn` items that cbindgen reads, the macro wraps the body
//! (rustls-ffi's `ffi_panic_boundary!` shape), and what hyper's shape gets from the
//! compiler, a test enforces: `tests/header.rs` reads this file and fails unless every
//! `extern "C" fn` body is one `boundary!(..)` call and nothing else.
//!
//! # Contracts in C words
//!
//! The exports are `unsafe extern "C"`, but their doc comments are the header's: they state
//! each pointer's contract for a C reader ("must be a client from gcdn_client_new not yet
//! freed; NULL gives GCDN_ERR_INVALID_ARGUMENT") instead of a Rust `# Safety` heading,
//! hence `clippy::missing_safety_doc` is allowed in this module.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use std::sync::Arc;

use crate::engine::log::{Event as LogEvent, Level as LogLevel, Record as LogRecord};
use crate::engine::CallSettings;
use crate::engine::{CancelToken, Client, DeleteOptions, Error, Options, Result, Status};
use crate::engine::{PaceKind, WaitReason};
use std::sync::atomic::{AtomicI32, Ordering};
// The purge job's exports (the section at the end).
use crate::engine::job::plan::By;
use crate::engine::job::{
    Completion, Event as JobEvent, EventKind, Flow, Given, Job, JobError, Outcome, PurgeKind,
    Reason, Report, RequestReport, RunOptions, Totals, WaitWhy, MAX_WORKERS,
};

/// Success.
pub const GCDN_OK: i32 = 0;
/// The caller's input was refused before any request was sent (NULL pointer, invalid UTF-8,
/// bad URL or pattern, empty list, non-positive resource id, unsafe base URL, ...).
pub const GCDN_ERR_INVALID_ARGUMENT: i32 = 1;
/// HTTP 401 or 403: the API key is wrong or lacks the permission.
pub const GCDN_ERR_UNAUTHORIZED: i32 = 2;
/// HTTP 404: the account has no such resource.
pub const GCDN_ERR_NOT_FOUND: i32 = 3;
/// Rate limited: a wait on the rate limits (the next purge slot of the client's pacer, or
/// what a 429 asked for) would go past what is left of the request's rate-limit wait budget,
/// so it was refused at once, without waiting (the message says how long it would have been;
/// when nothing was sent, it says so); or HTTP 429 came back more times than gcdn waits out.
pub const GCDN_ERR_RATE_LIMITED: i32 = 4;
/// Any other 4xx: the API refused the request; the message quotes its words.
pub const GCDN_ERR_REJECTED: i32 = 5;
/// HTTP 5xx, after retries.
pub const GCDN_ERR_SERVER: i32 = 6;
/// DNS, connect, TLS (certificate) or connection-reset failure, after retries.
pub const GCDN_ERR_NETWORK: i32 = 7;
/// An attempt timed out (after retries), or the call timeout ran out.
pub const GCDN_ERR_TIMEOUT: i32 = 8;
/// A response the client cannot make sense of (not HTTP, a redirect, ...).
pub const GCDN_ERR_PROTOCOL: i32 = 9;
/// A bug in gcdn, caught at the boundary; the process is unharmed. Please report it.
pub const GCDN_ERR_PANIC: i32 = 10;
/// The call was cancelled through a `gcdn_cancel` token (see `gcdn_client_with_cancel`).
pub const GCDN_ERR_CANCELLED: i32 = 11;

/// `gcdn_delete_resource` flag: send `PATCH {"active": false}` first, then `DELETE`
/// (the API refuses to delete an active resource).
pub const GCDN_DELETE_DEACTIVATE_FIRST: u32 = 1u32 << 0;
/// `gcdn_delete_resource` flag: a resource that does not exist counts as deleted.
pub const GCDN_DELETE_MISSING_OK: u32 = 1u32 << 1;

/// Most items one purge call accepts; a larger count is GCDN_ERR_INVALID_ARGUMENT.
pub const GCDN_MAX_ITEMS: usize = 1_000_000;
// The engine enforces the cap for Rust callers too; the header's number is the engine's.
const _: () = assert!(GCDN_MAX_ITEMS == crate::engine::validate::MAX_ITEMS);

/// The C ABI's number for a status. The numbers never change; a new status gets a new one
/// (this match stops compiling until it has).
pub const fn status_code(status: Status) -> i32 {
    match status {
        Status::InvalidArgument => GCDN_ERR_INVALID_ARGUMENT,
        Status::Unauthorized => GCDN_ERR_UNAUTHORIZED,
        Status::NotFound => GCDN_ERR_NOT_FOUND,
        Status::RateLimited => GCDN_ERR_RATE_LIMITED,
        Status::Rejected => GCDN_ERR_REJECTED,
        Status::Server => GCDN_ERR_SERVER,
        Status::Network => GCDN_ERR_NETWORK,
        Status::Timeout => GCDN_ERR_TIMEOUT,
        Status::Protocol => GCDN_ERR_PROTOCOL,
        Status::Panic => GCDN_ERR_PANIC,
        Status::Cancelled => GCDN_ERR_CANCELLED,
    }
}

/// `gcdn_status_str`'s strings, made at compile time from the one table of names
/// ([`Status::describe`]) plus "ok" and "unknown status": all NUL-terminated, one after
/// another in one static buffer.
mod status_names {
    use super::*;

    const COUNT: usize = Status::ALL.len() + 2;

    /// Entry `i`: "ok", then each of `Status::ALL`, then "unknown status".
    const fn name(i: usize) -> &'static str {
        if i == 0 {
            "ok"
        } else if i <= Status::ALL.len() {
            Status::ALL[i - 1].describe()
        } else {
            "unknown status"
        }
    }

    const LEN: usize = {
        let (mut len, mut i) = (0, 0);
        while i < COUNT {
            len += name(i).len() + 1;
            i += 1;
        }
        len
    };

    /// Where each entry starts in [`BYTES`].
    const START: [usize; COUNT] = {
        let (mut start, mut at, mut i) = ([0; COUNT], 0, 0);
        while i < COUNT {
            start[i] = at;
            at += name(i).len() + 1;
            i += 1;
        }
        start
    };

    static BYTES: [u8; LEN] = {
        let mut bytes = [0u8; LEN];
        let mut i = 0;
        while i < COUNT {
            let text = name(i).as_bytes();
            let mut j = 0;
            while j < text.len() {
                assert!(text[j] != 0, "a status name holds a NUL");
                bytes[START[i] + j] = text[j];
                j += 1;
            }
            i += 1;
        }
        bytes
    };

    /// The static C string for `code`.
    pub fn for_code(code: i32) -> &'static CStr {
        let index = if code == GCDN_OK {
            0
        } else {
            Status::ALL
                .iter()
                .position(|&s| status_code(s) == code)
                .map_or(COUNT - 1, |p| p + 1)
        };
        CStr::from_bytes_until_nul(&BYTES[START[index]..]).expect("NUL-terminated by BYTES")
    }
}

/// `gcdn_version`'s string.
const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the crate version holds a NUL"),
    };

/// An opaque builder of client settings. Create with `gcdn_options_new`, free with
/// `gcdn_options_free`. Not thread-safe: use one builder from one thread at a time.
pub struct gcdn_options {
    inner: Options,
}

/// An opaque client. Create with `gcdn_client_new`, free with `gcdn_client_free`.
/// Every call takes it as `const gcdn_client *` and does not change it: one client may be
/// used from many threads at once, and they share its pool of keep-alive connections.
pub struct gcdn_client {
    inner: Client,
}

/// An opaque cancellation token. Create with `gcdn_cancel_new`, fire with
/// `gcdn_cancel_fire` from any thread, free with `gcdn_cancel_free`. Thread-safe.
pub struct gcdn_cancel {
    inner: Arc<CancelToken>,
}

/// The panic boundary. The body of every export is one call of this macro, nothing before or
/// after it (tests/header.rs checks), and its first argument is what the caller gets when
/// the body panics:
///
/// - `boundary!(GCDN_ERR_PANIC, error_out, { .. })` for a fallible export: the block returns
///   `Result<()>`; `Ok` gives GCDN_OK and `*error_out = NULL`, an error its status and
///   message, a panic GCDN_ERR_PANIC and a message saying so.
/// - `boundary!(fallback, { .. })` for an export with no status: the block returns the
///   export's value, and a panic returns `fallback` (NULL, or `()` for a `void` export).
macro_rules! boundary {
    (GCDN_ERR_PANIC, $error_out:expr, $body:block) => {
        run_guarded($error_out, move || -> Result<()> { $body })
    };
    ($fallback:expr, $body:block) => {
        guarded_or($fallback, move || $body)
    };
}

fn run_guarded(error_out: *mut *mut c_char, body: impl FnOnce() -> Result<()>) -> i32 {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(Error::new(
            Status::Panic,
            format!("internal error in gcdn (a bug, please report it): {what}"),
        ))
    });
    match outcome {
        Ok(()) => {
            set_error(error_out, None);
            GCDN_OK
        }
        Err(e) => {
            let code = status_code(e.status);
            set_error(error_out, Some(e.message));
            code
        }
    }
}

/// Run `body`, which has no status to return; a panic yields `fallback`.
fn guarded_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

fn set_error(error_out: *mut *mut c_char, message: Option<String>) {
    if error_out.is_null() {
        return;
    }
    let value = match message {
        None => std::ptr::null_mut(),
        Some(m) => {
            let m = if m.contains('\0') {
                m.replace('\0', "?")
            } else {
                m
            };
            CString::new(m).map_or(std::ptr::null_mut(), CString::into_raw)
        }
    };
    // SAFETY: the caller passes either NULL (checked above) or a valid `char **`.
    unsafe { *error_out = value };
}

/// A borrowed `&str` from a C string; NULL or invalid UTF-8 is an invalid argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8")))
}

/// Borrow `n` C strings; any NULL or invalid UTF-8 item is an invalid argument.
///
/// # Safety
/// `items` is NULL or points to `n` pointers, each NULL or a NUL-terminated string.
unsafe fn str_list<'a>(items: *const *const c_char, n: usize, noun: &str) -> Result<Vec<&'a str>> {
    // The engine refuses this too; here it comes before the array is read, so a wild count
    // never becomes a slice (or a Vec) of that length.
    if n > GCDN_MAX_ITEMS {
        return Err(Error::invalid(format!(
            "{n} {noun}s given; one call takes at most {GCDN_MAX_ITEMS}"
        )));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    if items.is_null() {
        return Err(Error::invalid(format!(
            "the {noun} array is NULL but its count is {n}"
        )));
    }
    std::slice::from_raw_parts(items, n)
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            // The item's name is only spelled out when it is needed for a message.
            if p.is_null() {
                return Err(Error::invalid(format!("{noun} {i} is NULL")));
            }
            CStr::from_ptr(p)
                .to_str()
                .map_err(|_| Error::invalid(format!("{noun} {i} is not valid UTF-8")))
        })
        .collect()
}

/// # Safety
/// `p` is NULL or a pointer this library handed out and that was not freed.
unsafe fn options_mut<'a>(p: *mut gcdn_options) -> Result<&'a mut Options> {
    p.as_mut()
        .map(|o| &mut o.inner)
        .ok_or_else(|| Error::invalid("options is NULL"))
}

/// # Safety
/// `p` is NULL or a pointer this library handed out and that was not freed.
unsafe fn client_ref<'a>(p: *const gcdn_client) -> Result<&'a Client> {
    p.as_ref()
        .map(|c| &c.inner)
        .ok_or_else(|| Error::invalid("client is NULL"))
}

fn write_out<T>(out: *mut *mut T, value: Box<T>) {
    // SAFETY: callers check `out` for NULL before doing any work.
    unsafe { *out = Box::into_raw(value) };
}

/// Create a builder of client settings, all at their defaults: base URL from
/// `GCORE_BASE_URL` or `https://api.gcore.com`, 30 s timeout per attempt, 2 retries, 150 s
/// rate-limit wait budget, purges paced by the account's limits.
///
/// Returns NULL only if memory ran out. Free with `gcdn_options_free`. The builder is only
/// read by `gcdn_client_new`, which copies it: free it whenever convenient afterwards.
#[no_mangle]
pub extern "C" fn gcdn_options_new() -> *mut gcdn_options {
    boundary!(std::ptr::null_mut(), {
        Box::into_raw(Box::new(gcdn_options {
            inner: Options::default(),
        }))
    })
}

/// Free a builder.
///
/// `options` must be NULL (nothing happens) or a live builder; it is dead afterwards.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_free(options: *mut gcdn_options) {
    boundary!((), {
        if !options.is_null() {
            drop(Box::from_raw(options));
        }
    })
}

/// Set the API's base URL, e.g. `https://api.gcore.com` or a proxy's `https://host/prefix`.
/// `http://` is accepted only for loopback hosts (127.0.0.0/8, ::1, localhost), so the key
/// never travels in clear; anything else plain-HTTP is GCDN_ERR_INVALID_ARGUMENT.
///
/// `base_url` is copied. On failure the builder is unchanged and `*error_out` (if
/// `error_out` is not NULL) receives a message to free with `gcdn_string_free`.
///
/// `options` must be a live builder, used by no other thread during the call; `base_url`
/// a NUL-terminated string. Either NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_base_url(
    options: *mut gcdn_options,
    base_url: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let options = options_mut(options)?;
        options.set_base_url(str_arg(base_url, "base_url")?)
    })
}

/// Set the timeout of one attempt, in milliseconds: connecting, sending and reading the whole
/// response. Must be greater than zero. Default 30000.
///
/// `options` must be a live builder, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_timeout_ms(
    options: *mut gcdn_options,
    timeout_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        options_mut(options)?.set_timeout(Duration::from_millis(timeout_ms))
    })
}

/// Set how many times a request is retried after a 408, a 5xx, a connection failure or a
/// timeout, with exponential backoff (0.5 s doubling to 8 s, less up to 25 % jitter) or the
/// server's `Retry-After`. 0 disables these retries; at most 100. Default 2. A 404 or any
/// other 4xx is never retried; a 429 is not counted here: its waits, and the pacer's, are
/// bounded by the rate-limit wait budget instead (`gcdn_options_set_max_rate_limit_wait_ms`).
///
/// `options` must be a live builder, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_max_retries(
    options: *mut gcdn_options,
    max_retries: u32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        options_mut(options)?.set_max_retries(max_retries)
    })
}

/// Set the most one request may wait, in total, on rate limits, in milliseconds: for its
/// slot from the client's pacer (see `gcdn_options_set_purge_intervals_ms`), for a 429's
/// `Retry-After` (else one interval of the limit, W / N), and for a `Retry-After` sent with a
/// 408 or 5xx. Each request of a call has a budget of its own; backoff after other failures
/// is bounded by the retries, not by this. A wait that would go past what is left of the
/// budget is not begun: the call stops at once with GCDN_ERR_RATE_LIMITED (a 408 or 5xx
/// keeps its own status), and the message says how long the wait would have been (a wait
/// past the call timeout of `gcdn_client_with_call_timeout_ms` stops the call at once too).
/// 0 means never wait: a purge goes only when its slot is open now. Default 150000 (a
/// per-minute window can reopen twice).
///
/// `options` must be a live builder, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_max_rate_limit_wait_ms(
    options: *mut gcdn_options,
    wait_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        options_mut(options)?.max_rate_limit_wait = Duration::from_millis(wait_ms);
        Ok(())
    })
}

/// Pace purges by these intervals, in milliseconds, instead of by the account's limits: one
/// purge request by URL per `url_purge_ms`, and one by pattern or purge-all (they share one
/// limit) per `pattern_purge_ms`, per resource. Both must be greater than zero.
///
/// The client's pacer (shared by all its threads, its calls and the clients derived from it)
/// gives every purge request a slot before it is sent, and again after each 429. The rule, for
/// a limit of N requests per window W: up to N go at once, then the next when the oldest of
/// the last N leaves the window, plus a safety margin (2 % of W, at least 50 ms, at most W).
/// These intervals mean N = 1, W = the interval. A 429 closes the resource's window to
/// everyone for its `Retry-After`, else for W / N. A slot further off than the request's
/// rate-limit wait budget allows is refused at once, with nothing reserved (see
/// `gcdn_options_set_max_rate_limit_wait_ms`).
///
/// Unset (the default), the pacer keeps to the account's own limits, read from
/// `GET /cdn/clients/me/limits` when a resource's second purge of a kind needs its slot (the
/// first goes at once under any limit while the pacing history is this process's own; a
/// client that purges once never reads them), e.g. `"2/m"` is N = 2, W = 60 s. They are read
/// once per client (at most 3 tries); a rate slower than one request per 10 minutes, faster
/// than 10 times the documented one, or with a window over a day is not believed. In its
/// place, or when they cannot be read: the documented 2 purges by URL a minute and 1 purge by
/// pattern or purge-all a minute.
///
/// `options` must be a live builder, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_purge_intervals_ms(
    options: *mut gcdn_options,
    url_purge_ms: u64,
    pattern_purge_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        options_mut(options)?.set_purge_intervals(
            Duration::from_millis(url_purge_ms),
            Duration::from_millis(pattern_purge_ms),
        )
    })
}

/// Append `suffix` (printable ASCII, at most 200 characters; copied) to the `User-Agent`
/// header, which is `gcdn/<version>` by itself: wrappers and applications name themselves
/// here, e.g. `myapp/2.1`. An empty string removes a suffix set before.
///
/// `options` must be a live builder, used by no other thread during the call; `suffix` a
/// NUL-terminated string. Either NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_user_agent_suffix(
    options: *mut gcdn_options,
    suffix: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let options = options_mut(options)?;
        options.set_user_agent_suffix(str_arg(suffix, "suffix")?)
    })
}

/// Trust the CA certificates in the PEM file at `path` (copied) instead of the bundled root
/// certificates, e.g. for a corporate TLS proxy. Certificate verification stays on; there is
/// no way to turn it off. The file is read by `gcdn_client_new`, which fails with
/// GCDN_ERR_INVALID_ARGUMENT if it cannot be read or holds no certificate.
///
/// `options` must be a live builder, used by no other thread during the call; `path` a
/// NUL-terminated string. Either NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_ca_file(
    options: *mut gcdn_options,
    path: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let options = options_mut(options)?;
        options.set_ca_file(str_arg(path, "path")?)
    })
}

// ---- Shared pacing (rate store; src/engine/ratestore) ------------------------------------

/// Share pacing with every client, in any process or on any host, that uses the same Redis
/// and the same API key: `url` is `redis://[[user]:password@]host[:port][/db]` (copied; port
/// 6379 and db 0 by default; `%XX` escapes in the user and password), or `rediss://...` for
/// TLS, the server's certificate verified against the bundled roots, or against the file of
/// `gcdn_options_set_ca_file` when one is set. Checked at once: a
/// malformed URL, or a library built without shared pacing (cargo feature `rate-store`), is
/// GCDN_ERR_INVALID_ARGUMENT, and no message ever shows the password. Not set: the
/// environment variable `GCDN_RATE_STORE`, read by `gcdn_client_new`; neither: in-process
/// pacing. A store that cannot be used (unreachable, refused password, no answer within
/// 300 ms, garbage) leaves that call to the in-process pacer, said once by the log
/// (`store_fallback`, GCDN_LOG_WARN), unless `gcdn_options_set_rate_store_fail_closed` was set.
///
/// `options` must be a live builder, used by no other thread during the call; `url` a
/// NUL-terminated string. Either NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_rate_store(
    options: *mut gcdn_options,
    url: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let options = options_mut(options)?;
        options.set_rate_store(str_arg(url, "url")?)
    })
}

/// `fail_closed` 1: a call whose rate store cannot be used fails with GCDN_ERR_NETWORK (the
/// message names the store, never its password) instead of pacing in-process; 0 (the
/// default): fail-open. Any other value is GCDN_ERR_INVALID_ARGUMENT.
///
/// `options` must be a live builder, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_rate_store_fail_closed(
    options: *mut gcdn_options,
    fail_closed: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let options = options_mut(options)?;
        options.rate_store_fail_closed = match fail_closed {
            0 => false,
            1 => true,
            n => {
                return Err(Error::invalid(format!(
                    "fail_closed must be 0 or 1, got {n}"
                )))
            }
        };
        Ok(())
    })
}

// ---- end of shared pacing ------------------------------------------------------------

// ---- Logs ---------------------------------------------------------------------------------

/// Log level: a client's final failures are its returned errors, so no record has this
/// level yet; it is reserved.
pub const GCDN_LOG_ERROR: i32 = 1;
/// Log level: the API answered 429 (`rate_limited`); the shared rate store failed and the
/// client paces in this process only (`store_fallback`, once until the store works again).
pub const GCDN_LOG_WARN: i32 = 2;
/// Log level: a retry (`retry`), a wait (`wait`), the account's limits read (`limits`).
pub const GCDN_LOG_INFO: i32 = 3;
/// Log level: one record per HTTP attempt (`request`); a repeated `store_fallback`.
pub const GCDN_LOG_DEBUG: i32 = 4;
/// Log level: each pacer decision (`pacer`), also those that made the call wait.
pub const GCDN_LOG_TRACE: i32 = 5;

const _: () = assert!(GCDN_LOG_ERROR == LogLevel::Error as i32);
const _: () = assert!(GCDN_LOG_WARN == LogLevel::Warn as i32);
const _: () = assert!(GCDN_LOG_INFO == LogLevel::Info as i32);
const _: () = assert!(GCDN_LOG_DEBUG == LogLevel::Debug as i32);
const _: () = assert!(GCDN_LOG_TRACE == LogLevel::Trace as i32);

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
struct CLog {
    func: unsafe extern "C" fn(*const gcdn_log_record, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: gcdn_options_set_log's contract: the function may be called from any thread, with
// user_data, for as long as a client made with the options lives.
unsafe impl Send for CLog {}
unsafe impl Sync for CLog {}

/// `text` as a C string (a NUL in it, which no message should hold, becomes a space).
fn c_text(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| CString::new(text.replace('\0', " ")).unwrap_or_default())
}

fn c_opt(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

impl CLog {
    fn send(&self, record: &LogRecord<'_>) {
        let message = c_text(record.message);
        let method = record.method.map(c_text);
        let path = record.path.map(c_text);
        let kind: Option<&'static CStr> = record.kind.map(|k| match k {
            PaceKind::Urls => c"urls",
            PaceKind::Patterns => c"patterns",
        });
        let reason: Option<&'static CStr> = record.why.map(|w| match w {
            WaitReason::Pacer => c"pacer",
            WaitReason::RateLimited => c"429",
            WaitReason::RetryAfter => c"retry-after",
            WaitReason::Backoff => c"backoff",
        });
        let event = match record.event {
            LogEvent::Request => c"request",
            LogEvent::Retry => c"retry",
            LogEvent::Wait => c"wait",
            LogEvent::RateLimited => c"rate_limited",
            LogEvent::Limits => c"limits",
            LogEvent::StoreFallback => c"store_fallback",
            LogEvent::Pacer => c"pacer",
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
        // SAFETY: gcdn_options_set_log's contract; `c` and its strings outlive the call.
        unsafe { (self.func)(&c, self.user_data) }
    }
}

/// Send the log records of every call of the clients made with `options` to `log_fn`: those
/// at or below `max_level` (GCDN_LOG_ERROR 1 .. GCDN_LOG_TRACE 5), one call of `log_fn` per
/// record, with the record and `user_data`. `log_fn` NULL removes a log function set before
/// (`max_level` is then not looked at). Without a log function a client logs to stderr, one
/// line per record ("gcdn: debug: POST /cdn/resources/5/purge -> 201 (attempt 1, 3 ms)"),
/// when the GCDN_LOG environment variable names a level (error, warn, info, debug, trace;
/// off or empty: nothing) as gcdn_client_new runs; another value makes gcdn_client_new fail
/// with GCDN_ERR_INVALID_ARGUMENT.
///
/// Events and their levels: "request" (each HTTP attempt: method, path, status, attempt,
/// elapsed) GCDN_LOG_DEBUG; "retry" GCDN_LOG_INFO; "wait" (pacer slot, 429, Retry-After,
/// backoff) GCDN_LOG_INFO; "rate_limited" (a 429) GCDN_LOG_WARN; "limits" (the account's
/// limits read) GCDN_LOG_INFO; "store_fallback" (the shared rate store failed) GCDN_LOG_WARN
/// the first time, GCDN_LOG_DEBUG after that until the store has worked again; "pacer"
/// (each slot decision) GCDN_LOG_TRACE. No record holds the API key, the Authorization
/// header or a URL password.
///
/// `log_fn` is called on the thread that runs the call being logged, so from several
/// threads at once when calls run at once; never while the library holds a lock, and the
/// call waits for it to return: keep it short. It must not unwind (no C++ exception or
/// longjmp out of it). The record is valid only until `log_fn` returns. `user_data` is
/// passed as given, never read by the library (an integer handle cast to a pointer, such as
/// a cgo.Handle, will do); it, and the function itself (a ctypes CFUNCTYPE object, say),
/// must stay valid and usable from any thread as long as any client made with `options`
/// (or derived from one) lives.
///
/// `options` must be a live builder, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT, as does a `max_level` outside 1..5 with a `log_fn`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_log(
    options: *mut gcdn_options,
    log_fn: gcdn_log_fn,
    user_data: *mut c_void,
    max_level: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let options = options_mut(options)?;
        let Some(func) = log_fn else {
            options.clear_log();
            return Ok(());
        };
        let level = LogLevel::from_i32(max_level).ok_or_else(|| {
            Error::invalid(format!(
                "max_level must be GCDN_LOG_ERROR (1) .. GCDN_LOG_TRACE (5), not {max_level}"
            ))
        })?;
        let sink = CLog { func, user_data };
        options.set_log(Arc::new(move |r: &LogRecord<'_>| sink.send(r)), level);
        Ok(())
    })
}

/// Create a client.
///
/// `api_key` NULL means the `GCORE_API_KEY` environment variable; if neither is given, or the
/// key is empty, not ASCII, or holds a control character (CR, LF, ...), the result is
/// GCDN_ERR_INVALID_ARGUMENT. The key is copied, sent as `Authorization: APIKey <key>`, never
/// put in a message, and wiped from the client's memory when it is freed.
/// `options` NULL means all defaults; it is copied and may be freed right after.
///
/// On success `*client_out` receives a client to free with `gcdn_client_free`. On failure
/// `*client_out` is untouched and `*error_out` (if `error_out` is not NULL) receives a
/// message to free with `gcdn_string_free`. No request is sent here.
///
/// `api_key` must be NULL or a NUL-terminated string; `options` NULL or a live builder
/// (used by no other thread during the call); `client_out` must point to a writable
/// `gcdn_client *` (NULL gives GCDN_ERR_INVALID_ARGUMENT).
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_new(
    api_key: *const c_char,
    options: *const gcdn_options,
    client_out: *mut *mut gcdn_client,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        if client_out.is_null() {
            return Err(Error::invalid("client_out is NULL"));
        }
        let key = if api_key.is_null() {
            None
        } else {
            Some(str_arg(api_key, "api_key")?)
        };
        let defaults;
        let options = match options.as_ref() {
            Some(o) => &o.inner,
            None => {
                defaults = Options::default();
                &defaults
            }
        };
        let client = Client::new(key, options)?;
        write_out(client_out, Box::new(gcdn_client { inner: client }));
        Ok(())
    })
}

/// Create a second client that shares `client`'s settings, cancellation token and connection
/// pool, and whose every call ends once `call_timeout_ms` milliseconds have passed since it began:
/// attempts, backoff and rate-limit waits included. A call cut short returns
/// GCDN_ERR_TIMEOUT, or the error that made it wait. Must be greater than zero.
///
/// Cheap (no connection is made); free the new client with `gcdn_client_free`, in any
/// order with `client`. `client` is only read: this may run while other threads use it.
///
/// `client` must be a live client; `client_out` must point to a writable `gcdn_client *`.
/// Either NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_with_call_timeout_ms(
    client: *const gcdn_client,
    call_timeout_ms: u64,
    client_out: *mut *mut gcdn_client,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        if client_out.is_null() {
            return Err(Error::invalid("client_out is NULL"));
        }
        if call_timeout_ms == 0 {
            return Err(Error::invalid("call timeout must be greater than zero"));
        }
        let derived = client.with_call_timeout(Duration::from_millis(call_timeout_ms));
        write_out(client_out, Box::new(gcdn_client { inner: derived }));
        Ok(())
    })
}

/// Free a client; its key is wiped and idle connections closed (once every client derived
/// from it is freed too).
///
/// `client` must be NULL (nothing happens) or a live client that no call, in any thread, is
/// still using; it is dead afterwards. Clients derived from it stay live.
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_free(client: *mut gcdn_client) {
    boundary!((), {
        if !client.is_null() {
            drop(Box::from_raw(client));
        }
    })
}

/// Create a cancellation token, not fired. Returns NULL only if memory ran out. Free with
/// `gcdn_cancel_free`.
#[no_mangle]
pub extern "C" fn gcdn_cancel_new() -> *mut gcdn_cancel {
    boundary!(std::ptr::null_mut(), {
        Box::into_raw(Box::new(gcdn_cancel {
            inner: Arc::new(CancelToken::new()),
        }))
    })
}

/// Fire the token: every call made through a client from `gcdn_client_with_cancel` with
/// this token returns GCDN_ERR_CANCELLED at once if it is waiting (backoff, rate limit), or
/// before its next attempt; an attempt in flight ends with its answer or its timeout first.
/// Calls started afterwards return GCDN_ERR_CANCELLED without sending anything. Idempotent;
/// thread-safe. A token cannot be reset: make a new one.
///
/// `cancel` must be NULL (nothing happens) or a live token.
#[no_mangle]
pub unsafe extern "C" fn gcdn_cancel_fire(cancel: *const gcdn_cancel) {
    boundary!((), {
        if let Some(token) = cancel.as_ref() {
            token.inner.cancel();
        }
    })
}

/// Free a token. Clients made with it keep working (and stay cancelled if
/// it was fired): free it whenever convenient.
///
/// `cancel` must be NULL (nothing happens) or a live token that no gcdn_cancel_fire or
/// gcdn_client_with_cancel call is still using; it is dead afterwards.
#[no_mangle]
pub unsafe extern "C" fn gcdn_cancel_free(cancel: *mut gcdn_cancel) {
    boundary!((), {
        if !cancel.is_null() {
            drop(Box::from_raw(cancel));
        }
    })
}

/// Create a second client that shares `client`'s settings, call timeout and connection
/// pool, and whose calls stop with GCDN_ERR_CANCELLED once `cancel` is fired (see
/// `gcdn_cancel_fire`). Cheap (no connection is made). Free the new client with
/// `gcdn_client_free`, in any order with `client` and `cancel`. `client` and `cancel` are
/// only read: this may run while other threads use them.
///
/// `client` must be a live client, `cancel` a live token, and `client_out` must point to a
/// writable `gcdn_client *`. Any of them NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_with_cancel(
    client: *const gcdn_client,
    cancel: *const gcdn_cancel,
    client_out: *mut *mut gcdn_client,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        let token = cancel
            .as_ref()
            .ok_or_else(|| Error::invalid("cancel is NULL"))?;
        if client_out.is_null() {
            return Err(Error::invalid("client_out is NULL"));
        }
        let derived = client.with_cancel(Arc::clone(&token.inner));
        write_out(client_out, Box::new(gcdn_client { inner: derived }));
        Ok(())
    })
}

/// Delete the CDN resource `resource_id` (> 0), permanently.
///
/// `flags`: 0, or any of GCDN_DELETE_DEACTIVATE_FIRST (send `PATCH {"active": false}`
/// first; the API refuses to delete an active resource) and GCDN_DELETE_MISSING_OK (a
/// resource that does not exist counts as deleted). Unknown bits are
/// GCDN_ERR_INVALID_ARGUMENT.
///
/// Returns GCDN_OK once the API answered 204. GCDN_ERR_NOT_FOUND when there is no such
/// resource (unless GCDN_DELETE_MISSING_OK); GCDN_ERR_REJECTED with the API's words when it
/// refuses (still active, primary for shared cache, used by Streaming, custom config).
/// Because DELETE is idempotent, a retry that finds the resource gone after an earlier
/// attempt was cut off in transit also counts as deleted.
///
/// `client` is only read: many threads may call this at once.
///
/// `client` must be a live client; NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_delete_resource(
    client: *const gcdn_client,
    resource_id: i64,
    flags: u32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        client.delete_resource(resource_id, delete_flags(flags)?)
    })
}

/// Deactivate the CDN resource `resource_id` (> 0): `PATCH {"active": false}`, after which
/// it stops serving content and may be deleted.
///
/// `client` is only read: many threads may call this at once.
///
/// `client` must be a live client; NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_deactivate_resource(
    client: *const gcdn_client,
    resource_id: i64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        client_ref(client)?.deactivate_resource(resource_id)
    })
}

/// Purge the cached copies of `n_urls` URLs of resource `resource_id` (> 0).
///
/// Each URL is a path with its query string, starting with `/` and without scheme or host
/// (`/img/a.jpg?v=2`; a full `https://...` URL is refused with the path to use), non-empty,
/// without control characters. All are checked before anything is sent: on any
/// GCDN_ERR_INVALID_ARGUMENT nothing was sent. `n_urls` must be 1 to GCDN_MAX_ITEMS: an
/// empty list is refused, never turned into a purge of everything (see `gcdn_purge_all`).
///
/// Repeated URLs are sent once (first occurrence kept, order kept), 100 per request, one
/// request after another, each in its slot of the client's pacer (see
/// `gcdn_options_set_purge_intervals_ms`), within the rate-limit wait budget. If a
/// request fails for good, the call stops there and the message says which request failed
/// and how many URLs the requests before it purged. Purging is idempotent: a retried request
/// does no harm.
///
/// The strings are only read during the call. `client` is only read: many threads may call
/// this at once.
///
/// `client` must be a live client. `urls` must point to an array of `n_urls` pointers, each
/// to a NUL-terminated string, all readable until the call returns (`urls` may be NULL when
/// `n_urls` is 0, which is refused anyway). A NULL `client`, a NULL `urls` with a non-zero
/// count, or a NULL string in the array gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_urls(
    client: *const gcdn_client,
    resource_id: i64,
    urls: *const *const c_char,
    n_urls: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        client.purge_urls(resource_id, &str_list(urls, n_urls, "URL")?)
    })
}

/// Purge everything that matches any of `n_patterns` patterns of resource `resource_id`
/// (> 0). A pattern starts with `/` and may end with `*` (a `*` anywhere else is refused);
/// it is recursive (`/a` is `/a*`) and ignores query strings.
///
/// Checked, de-duplicated and sent like `gcdn_purge_urls`, 10 per request. An empty list
/// is refused.
///
/// As for gcdn_purge_urls: `client` must be a live client, and `patterns` an array of
/// `n_patterns` pointers to NUL-terminated strings; a NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_patterns(
    client: *const gcdn_client,
    resource_id: i64,
    patterns: *const *const c_char,
    n_patterns: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        client.purge_patterns(resource_id, &str_list(patterns, n_patterns, "pattern")?)
    })
}

/// Purge the whole cache of resource `resource_id` (> 0): `{"paths": []}`. This makes the
/// CDN fetch everything from the origin again; prefer `gcdn_purge_urls` where you can.
///
/// `client` is only read: many threads may call this at once.
///
/// `client` must be a live client; NULL gives GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_all(
    client: *const gcdn_client,
    resource_id: i64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        client_ref(client)?.purge_all(resource_id)
    })
}

/// Free a message this library put in `*error_out`.
///
/// `s` must be NULL (nothing happens) or a message this library stored in `*error_out`,
/// not yet freed; never a string from gcdn_status_str or gcdn_version, nor one the caller
/// allocated.
#[no_mangle]
pub unsafe extern "C" fn gcdn_string_free(s: *mut c_char) {
    boundary!((), {
        if !s.is_null() {
            drop(CString::from_raw(s));
        }
    })
}

/// A short static description of a status code, e.g. "not found". Never NULL: unknown
/// codes give "unknown status". Do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn gcdn_status_str(status: i32) -> *const c_char {
    boundary!(c"unknown status".as_ptr(), {
        status_names::for_code(status).as_ptr()
    })
}

/// The library's version, e.g. "0.1.0". Static: do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn gcdn_version() -> *const c_char {
    boundary!(VERSION.as_ptr(), { VERSION.as_ptr() })
}

/// Testing only: panics inside the panic boundary, on purpose, and returns GCDN_ERR_PANIC
/// with a message. Exported because the C, Python and Go test suites need a real panic from
/// the real library. Its header entry is hand-written in the testing section of
/// cbindgen.toml's `trailer` (`tests/header.rs` checks it against this signature).
#[no_mangle]
pub unsafe extern "C" fn gcdn_debug_panic(error_out: *mut *mut c_char) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        panic!("gcdn_debug_panic was called");
    })
}

// ============================================================================================
// The purge job (src/engine/job): jobs, per-run settings, progress events, reports, and the
// per-run variants of the single calls. Owned by the job task; kept together here.
// ============================================================================================

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

/// An opaque purge job: purges across any number of resources. Create with `gcdn_job_new`,
/// fill with the `gcdn_job_add_*` functions from one thread, free with `gcdn_job_free`. A job
/// is only read by `gcdn_job_run`: the same job may be run many times, from many threads at
/// once, as long as no thread adds to it meanwhile.
pub struct gcdn_job {
    inner: Job,
}

/// The progress callback of a run: called with each event, on the thread that called
/// `gcdn_job_run`, one event at a time, with no lock of the library held (it may call any
/// gcdn function, e.g. `gcdn_cancel_fire`). `event` and the strings it gives are valid only
/// during the call. Return 0 to go on; any other value stops the run as a cancel does
/// (nothing new is sent, the report is still written, the run returns GCDN_ERR_CANCELLED).
pub type gcdn_progress_fn =
    Option<unsafe extern "C" fn(event: *const gcdn_event, user_data: *mut c_void) -> i32>;

/// The callback itself (a `gcdn_progress_fn` that is not NULL).
type ProgressFn = unsafe extern "C" fn(*const gcdn_event, *mut c_void) -> i32;

/// Opaque per-run settings: a timeout, a cancel token, dry run, a confirmation wait, a
/// progress callback, the worker count. Create with `gcdn_run_new` (all defaults), set from
/// one thread, free with `gcdn_run_free`. Calls that take a `const gcdn_run *` only read it:
/// one may serve many calls, on many threads, at once (its callback is then called on each
/// of those threads).
pub struct gcdn_run {
    options: RunOptions,
    progress: Option<(ProgressFn, *mut c_void)>,
    /// `gcdn_run_http_status`: of the last call made with the run to end.
    http_status: AtomicI32,
}

/// An opaque, immutable report of a run, from `gcdn_job_run`. Free with `gcdn_report_free`.
/// Read it with the `gcdn_report_*` accessors, from any number of threads at once; strings
/// they return live as long as the report.
pub struct gcdn_report {
    inner: Report,
}

/// One progress event, valid only during the callback it is passed to. Read it with the
/// `gcdn_event_*` accessors.
pub struct gcdn_event {
    inner: JobEvent,
    message: Option<CString>,
}

fn kind_code(kind: PurgeKind) -> i32 {
    match kind {
        PurgeKind::Urls => GCDN_KIND_URLS,
        PurgeKind::Patterns => GCDN_KIND_PATTERNS,
        PurgeKind::All => GCDN_KIND_ALL,
    }
}

fn completion_code(c: Option<Completion>) -> i32 {
    match c {
        None => GCDN_COMPLETION_NONE,
        Some(Completion::Successful) => GCDN_COMPLETION_SUCCESSFUL,
        Some(Completion::Failed) => GCDN_COMPLETION_FAILED,
        Some(Completion::InProgress) => GCDN_COMPLETION_IN_PROGRESS,
    }
}

fn total_of(t: &Totals, which: i32) -> u64 {
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
        _ => 0,
    }
}

/// # Safety
/// `p` is NULL or a live job.
unsafe fn job_mut<'a>(p: *mut gcdn_job) -> Result<&'a mut Job> {
    p.as_mut()
        .map(|j| &mut j.inner)
        .ok_or_else(|| Error::invalid("job is NULL"))
}

/// # Safety
/// `p` is NULL or a live run.
unsafe fn run_mut<'a>(p: *mut gcdn_run) -> Result<&'a mut gcdn_run> {
    p.as_mut().ok_or_else(|| Error::invalid("run is NULL"))
}

/// The call settings of `run` (NULL: the client's own), with its progress callback, if
/// any, as the tick of the call's waits (GCDN_EVENT_TICK events on the calling thread).
///
/// # Safety
/// `run` is NULL or a live run.
unsafe fn run_settings(run: *const gcdn_run) -> CallSettings {
    let Some(run) = run.as_ref() else {
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
            inner: JobEvent::new(EventKind::Tick),
            message: None,
        };
        // SAFETY: as above; the event lives through the call.
        unsafe { (self.func)(&event, self.user_data) != 0 }
    }
}

/// Make a single call with `run`'s settings, and keep its HTTP status in the run.
///
/// # Safety
/// `run` is NULL or a live run.
unsafe fn with_run(
    run: *const gcdn_run,
    call: impl FnOnce(&CallSettings) -> Result<()>,
) -> Result<()> {
    let result = call(&run_settings(run));
    if let Some(run) = run.as_ref() {
        let status = result
            .as_ref()
            .err()
            .and_then(|e| e.http_status)
            .map_or(0, i32::from);
        run.http_status.store(status, Ordering::Relaxed);
    }
    result
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
            drop(Box::from_raw(job));
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
        let job = job_mut(job)?;
        job.add_urls(resource_id, &str_list(urls, n, "URL")?)
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
        let job = job_mut(job)?;
        job.add_patterns(resource_id, &str_list(patterns, n, "pattern")?)
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
        job_mut(job)?.add_all(resource_id)
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
        let job = job_mut(job)?;
        job.add_full_urls(&str_list(urls, n, "full URL")?)
    })
}

/// How many items were added to the job (repeats included); 0 for NULL.
///
/// `job` must be NULL or a live job.
#[no_mangle]
pub unsafe extern "C" fn gcdn_job_item_count(job: *const gcdn_job) -> usize {
    boundary!(0, { job.as_ref().map_or(0, |j| j.inner.len()) })
}

/// Create per-run settings, all at their defaults: no timeout of its own (the client's call
/// timeout, if any), no cancel token of its own, not a dry run, no confirmation, no
/// progress callback, 4 worker threads. Returns NULL only if memory ran out. Free with
/// `gcdn_run_free`.
#[no_mangle]
pub extern "C" fn gcdn_run_new() -> *mut gcdn_run {
    boundary!(std::ptr::null_mut(), {
        Box::into_raw(Box::new(gcdn_run {
            options: RunOptions::default(),
            progress: None,
            http_status: AtomicI32::new(0),
        }))
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
            drop(Box::from_raw(run));
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
        run_mut(run)?.options.settings.timeout =
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
        run_mut(run)?.options.settings.cancel = cancel.as_ref().map(|t| Arc::clone(&t.inner));
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
        run_mut(run)?.options.dry_run = dry_run != 0;
        Ok(())
    })
}

/// After its last request, wait up to `wait_ms` milliseconds for every purge to be confirmed
/// by `GET /cdn/purge_statuses` (polled after 1 s, then up to every 5 s). A purge whose status
/// is `Failed` fails the run with GCDN_ERR_REJECTED; one still in progress when the wait ends
/// with GCDN_ERR_TIMEOUT. 0: do not confirm (the default). The run's timeout bounds the wait
/// too. The `_with` single calls ignore it.
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
        run_mut(run)?.options.wait = (wait_ms > 0).then(|| Duration::from_millis(wait_ms));
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
        run_mut(run)?.progress = progress.map(|f| (f, user_data));
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
        run.as_ref()
            .map_or(0, |r| r.http_status.load(Ordering::Relaxed))
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
        run_mut(run)?.options.workers = workers;
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
/// wait for confirmation ended first. The message counts what was done.
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
        let client = client_ref(client)?;
        let job = &job
            .as_ref()
            .ok_or_else(|| Error::invalid("job is NULL"))?
            .inner;
        if report_out.is_null() {
            return Err(Error::invalid("report_out is NULL"));
        }
        let defaults;
        let run = match run.as_ref() {
            Some(r) => r,
            None => {
                defaults = gcdn_run {
                    options: RunOptions::default(),
                    progress: None,
                    http_status: AtomicI32::new(0),
                };
                &defaults
            }
        };
        let mut callback = run.progress.map(|(f, user_data)| {
            move |event: &JobEvent| {
                let message = event.message.as_deref().and_then(c_message);
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
            .map(|f| f as &mut dyn FnMut(&JobEvent) -> Flow);
        // The callback also ticks the calling thread's own waits (the resources listing's).
        let mut options = run.options.clone();
        if let Some((func, user_data)) = run.progress {
            options.settings.tick = Some(Ticker { func, user_data }.as_tick());
        }
        match client.run_job(job, &options, progress) {
            Ok(report) => {
                write_out(report_out, Box::new(gcdn_report { inner: report }));
                Ok(())
            }
            Err(JobError { error, report }) => {
                if let Some(report) = report {
                    write_out(report_out, Box::new(gcdn_report { inner: *report }));
                }
                Err(error)
            }
        }
    })
}

fn c_message(text: &str) -> Option<CString> {
    CString::new(text.replace('\0', "?")).ok()
}

/// # Safety
/// `p` is NULL or a live report.
unsafe fn report_ref<'a>(p: *const gcdn_report) -> Option<&'a Report> {
    p.as_ref().map(|r| &r.inner)
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
        let report = report_ref(report).ok_or_else(|| Error::invalid("report is NULL"))?;
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
        match report_ref(report).and_then(Report::remaining) {
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
            drop(Box::from_raw(report));
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
        match report_ref(report) {
            None => GCDN_ERR_INVALID_ARGUMENT,
            Some(r) => r.status.map_or(GCDN_OK, status_code),
        }
    })
}

/// 1 if the report is of a dry run, else 0 (also for NULL).
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_dry_run(report: *const gcdn_report) -> i32 {
    boundary!(0, {
        report_ref(report).map_or(0, |r| i32::from(r.dry_run))
    })
}

/// One of the report's totals (`which`: a GCDN_TOTAL_* constant); 0 for an unknown `which`
/// or a NULL report.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_total(report: *const gcdn_report, which: i32) -> u64 {
    boundary!(0, {
        report_ref(report).map_or(0, |r| total_of(&r.totals, which))
    })
}

/// How many requests the run planned: the valid `request` indices of the
/// `gcdn_report_request_*` accessors are 0 to this less one. 0 for NULL.
///
/// `report` must be NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn gcdn_report_request_count(report: *const gcdn_report) -> usize {
    boundary!(0, { report_ref(report).map_or(0, |r| r.requests.len()) })
}

/// # Safety
/// `report` is NULL or a live report.
unsafe fn request_ref<'a>(report: *const gcdn_report, request: usize) -> Option<&'a RequestReport> {
    report_ref(report).and_then(|r| r.requests.get(request))
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
        request_ref(report, request).map_or(0, |r| r.resource_id)
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
        request_ref(report, request).map_or(0, |r| kind_code(r.kind))
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
        request_ref(report, request).map_or(0, |r| match r.outcome {
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
        request_ref(report, request).map_or(-1, |r| match (r.status, r.outcome) {
            (Some(s), _) => status_code(s),
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
        request_ref(report, request).map_or(0, |r| r.http_status.map_or(0, i32::from))
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
        request_ref(report, request)
            .and_then(|r| r.message.as_deref())
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
        request_ref(report, request).map_or(0, |r| r.attempts)
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
        request_ref(report, request).map_or(0, |r| r.purge_id.unwrap_or(0))
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
        request_ref(report, request).map_or(GCDN_COMPLETION_NONE, |r| completion_code(r.completion))
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
        request_ref(report, request).map_or(0, |r| r.items.len())
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
        match report_ref(report) {
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
    boundary!(0, { report_ref(report).map_or(0, |r| r.skipped.len()) })
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
        match report_ref(report) {
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
        report_ref(report)
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
        report_ref(report)
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
        match report_ref(report).and_then(|r| r.skipped.get(skipped).map(|s| (r, s))) {
            Some((_, s)) if s.by == Some(By::All) => c"all".as_ptr(),
            Some((r, s)) => match s.by {
                Some(By::Pattern(span)) => r.data().c_ptr(span).cast(),
                _ => std::ptr::null(),
            },
            None => std::ptr::null(),
        }
    })
}

/// # Safety
/// `p` is NULL or an event passed to the running callback.
unsafe fn event_ref<'a>(p: *const gcdn_event) -> Option<&'a JobEvent> {
    p.as_ref().map(|e| &e.inner)
}

/// What happened: a GCDN_EVENT_* constant (0 for NULL).
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_kind(event: *const gcdn_event) -> i32 {
    boundary!(0, {
        event_ref(event).map_or(0, |e| match e.kind {
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
        event_ref(event)
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
        event_ref(event).and_then(|e| e.resource_id).unwrap_or(0)
    })
}

/// The kind of the event's request: a GCDN_KIND_* constant; 0 when none.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_purge_kind(event: *const gcdn_event) -> i32 {
    boundary!(0, {
        event_ref(event)
            .and_then(|e| e.purge_kind)
            .map_or(0, kind_code)
    })
}

/// Items of the event's request; for GCDN_EVENT_CONFIRM_POLL, requests still to confirm.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_item_count(event: *const gcdn_event) -> usize {
    boundary!(0, { event_ref(event).map_or(0, |e| e.items) })
}

/// The attempt the event is about (1 for the first); 0 when none.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_attempt(event: *const gcdn_event) -> u32 {
    boundary!(0, { event_ref(event).map_or(0, |e| e.attempt) })
}

/// The HTTP status of the answer the event is about; 0 when none.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_http_status(event: *const gcdn_event) -> i32 {
    boundary!(0, {
        event_ref(event)
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
        event_ref(event)
            .and_then(|e| e.status)
            .map_or(GCDN_OK, status_code)
    })
}

/// For GCDN_EVENT_WAIT: how long the wait is, in milliseconds; else 0.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_wait_ms(event: *const gcdn_event) -> u64 {
    boundary!(0, {
        event_ref(event).map_or(0, |e| u64::try_from(e.wait.as_millis()).unwrap_or(u64::MAX))
    })
}

/// For GCDN_EVENT_WAIT: why, a GCDN_WAIT_* constant; else GCDN_WAIT_NONE.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_wait_reason(event: *const gcdn_event) -> i32 {
    boundary!(GCDN_WAIT_NONE, {
        event_ref(event)
            .and_then(|e| e.why)
            .map_or(GCDN_WAIT_NONE, |w| match w {
                WaitWhy::Pacer => GCDN_WAIT_PACER,
                WaitWhy::RateLimited => GCDN_WAIT_RATE_LIMITED,
                WaitWhy::RetryAfter => GCDN_WAIT_RETRY_AFTER,
                WaitWhy::Backoff => GCDN_WAIT_BACKOFF,
                WaitWhy::Confirm => GCDN_WAIT_CONFIRM,
            })
    })
}

/// For GCDN_EVENT_CONFIRMED: a GCDN_COMPLETION_* constant; else GCDN_COMPLETION_NONE.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_completion(event: *const gcdn_event) -> i32 {
    boundary!(GCDN_COMPLETION_NONE, {
        event_ref(event).map_or(GCDN_COMPLETION_NONE, |e| completion_code(e.completion))
    })
}

/// A message that goes with the event (how a request failed, what a poll found); NULL when
/// none. Valid only during the callback: copy it to keep it.
///
/// `event` must be NULL or the event passed to the running progress callback.
#[no_mangle]
pub unsafe extern "C" fn gcdn_event_message(event: *const gcdn_event) -> *const c_char {
    boundary!(std::ptr::null(), {
        event
            .as_ref()
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
        event_ref(event).map_or(0, |e| total_of(&e.totals, which))
    })
}

/// `gcdn_purge_urls`, with `run`'s timeout and cancel token for this call (NULL: the
/// client's own), and its progress callback ticked while the call waits (GCDN_EVENT_TICK);
/// `run`'s other settings do not apply. No derived client is made. The call's HTTP status is
/// kept in `run` (`gcdn_run_http_status`).
///
/// As for `gcdn_purge_urls`; `run` must be NULL or a live run.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_urls_with(
    client: *const gcdn_client,
    run: *const gcdn_run,
    resource_id: i64,
    urls: *const *const c_char,
    n_urls: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        let urls = str_list(urls, n_urls, "URL")?;
        with_run(run, |s| client.purge_urls_with(resource_id, &urls, s))
    })
}

/// `gcdn_purge_patterns`, with `run`'s timeout and cancel token for this call (NULL: the
/// client's own).
///
/// As for `gcdn_purge_patterns`; `run` must be NULL or a live run.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_patterns_with(
    client: *const gcdn_client,
    run: *const gcdn_run,
    resource_id: i64,
    patterns: *const *const c_char,
    n_patterns: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        let patterns = str_list(patterns, n_patterns, "pattern")?;
        with_run(run, |s| {
            client.purge_patterns_with(resource_id, &patterns, s)
        })
    })
}

/// `gcdn_purge_all`, with `run`'s timeout and cancel token for this call (NULL: the client's
/// own).
///
/// As for `gcdn_purge_all`; `run` must be NULL or a live run.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_all_with(
    client: *const gcdn_client,
    run: *const gcdn_run,
    resource_id: i64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        with_run(run, |s| client.purge_all_with(resource_id, s))
    })
}

/// `gcdn_deactivate_resource`, with `run`'s timeout and cancel token for this call (NULL:
/// the client's own).
///
/// As for `gcdn_deactivate_resource`; `run` must be NULL or a live run.
#[no_mangle]
pub unsafe extern "C" fn gcdn_deactivate_resource_with(
    client: *const gcdn_client,
    run: *const gcdn_run,
    resource_id: i64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        with_run(run, |s| client.deactivate_resource_with(resource_id, s))
    })
}

/// `gcdn_delete_resource`, with `run`'s timeout and cancel token for this call (NULL: the
/// client's own).
///
/// As for `gcdn_delete_resource`; `run` must be NULL or a live run.
#[no_mangle]
pub unsafe extern "C" fn gcdn_delete_resource_with(
    client: *const gcdn_client,
    run: *const gcdn_run,
    resource_id: i64,
    flags: u32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        let client = client_ref(client)?;
        let options = delete_flags(flags)?;
        with_run(run, |s| {
            client.delete_resource_with(resource_id, options, s)
        })
    })
}

/// The delete flags as options; unknown bits are refused.
fn delete_flags(flags: u32) -> Result<DeleteOptions> {
    let known = GCDN_DELETE_DEACTIVATE_FIRST | GCDN_DELETE_MISSING_OK;
    if flags & !known != 0 {
        return Err(Error::invalid(format!(
            "unknown delete flags 0x{:x}",
            flags & !known
        )));
    }
    Ok(DeleteOptions {
        deactivate_first: flags & GCDN_DELETE_DEACTIVATE_FIRST != 0,
        missing_ok: flags & GCDN_DELETE_MISSING_OK != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_abis() {
        let codes: Vec<i32> = Status::ALL.iter().map(|&s| status_code(s)).collect();
        assert_eq!(codes, (1..=11).collect::<Vec<_>>());
        assert_eq!(GCDN_OK, 0);
    }

    #[test]
    fn a_panic_behind_the_boundary_gives_the_fallback() {
        let value: i32 = boundary!(7, {
            if GCDN_OK == 0 {
                panic!("on purpose");
            }
            1
        });
        assert_eq!(value, 7);
        let mut message: *mut c_char = std::ptr::null_mut();
        let status = boundary!(GCDN_ERR_PANIC, &mut message, {
            panic!("on purpose");
        });
        assert_eq!(status, GCDN_ERR_PANIC);
        let text = unsafe { CString::from_raw(message) };
        assert!(text.to_str().unwrap().contains("on purpose"));
    }

    #[test]
    fn status_strings_are_the_engines_names() {
        let text = |code| {
            unsafe { CStr::from_ptr(gcdn_status_str(code)) }
                .to_str()
                .unwrap()
        };
        for status in Status::ALL {
            assert_eq!(text(status_code(status)), status.describe());
        }
        assert_eq!(text(GCDN_OK), "ok");
        for unknown in [-1, 12, 1000, i32::MIN, i32::MAX] {
            assert_eq!(text(unknown), "unknown status");
        }
    }
}
