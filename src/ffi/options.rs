//! `gcdn_options`: the builder of client settings, and its `gcdn_options_set_*` functions
//! (shared pacing and the log function included).

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::log::{gcdn_log_fn, CLog};
use super::strings::str_arg;
use crate::engine::log;
use crate::engine::{Error, Options, Result};

/// An opaque builder of client settings. Create with `gcdn_options_new`, free with
/// `gcdn_options_free`. Not thread-safe: use one builder from one thread at a time.
pub struct gcdn_options {
    pub(super) inner: Options,
}

/// # Safety
/// `p` is NULL or a pointer this library handed out and that was not freed.
pub(super) unsafe fn options_mut<'a>(p: *mut gcdn_options) -> Result<&'a mut Options> {
    // SAFETY: this function's contract.
    unsafe { p.as_mut() }
        .map(|o| &mut o.inner)
        .ok_or_else(|| Error::invalid("options is NULL"))
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
            // SAFETY: not NULL, so a live options that no call uses (the contract above),
            // from `Box::into_raw`; dead from here on.
            drop(unsafe { Box::from_raw(options) });
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = unsafe { options_mut(options) }?;
        // SAFETY: `base_url` is NULL or a NUL-terminated string (the contract above).
        options.set_base_url(unsafe { str_arg(base_url, "base_url") }?)
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        unsafe { options_mut(options) }?.set_timeout(Duration::from_millis(timeout_ms))
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        unsafe { options_mut(options) }?.set_max_retries(max_retries)
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        unsafe { options_mut(options) }?.max_rate_limit_wait = Duration::from_millis(wait_ms);
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
/// once per client (at most 3 tries); a rate slower than one request a day, faster than 100
/// requests a second, or with a window over a day is not believed (a "limits" record at
/// GCDN_LOG_WARN says so). In its place, or when they cannot be read: the documented 2 purges
/// by URL a minute and 1 purge by pattern or purge-all a minute. A 429 on a request paced
/// faster than that documented rate by the account's limits sets its resource and kind (only)
/// back to the documented rate for the client's life, told once (GCDN_LOG_WARN).
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        unsafe { options_mut(options) }?.set_purge_intervals(
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = unsafe { options_mut(options) }?;
        // SAFETY: `suffix` is NULL or a NUL-terminated string (the contract above).
        options.set_user_agent_suffix(unsafe { str_arg(suffix, "suffix") }?)
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = unsafe { options_mut(options) }?;
        // SAFETY: `path` is NULL or a NUL-terminated string (the contract above).
        options.set_ca_file(unsafe { str_arg(path, "path") }?)
    })
}

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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = unsafe { options_mut(options) }?;
        // SAFETY: `url` is NULL or a NUL-terminated string (the contract above).
        options.set_rate_store(unsafe { str_arg(url, "url") }?)
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = unsafe { options_mut(options) }?;
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

/// `coalesce` 1 (the default): calls of a client (from any thread, derived clients and job
/// runs included) that wait for a purge slot on the same resource and kind share requests: when
/// the slot opens, one request carries the waiting items of every such call, de-duplicated, up
/// to the per-request limit; a call is told GCDN_OK only when the request that carried its
/// items succeeded, else that request's error (its message says the request was shared, by how
/// many calls). A call that goes first in a free window is sent at once, alone. 0: each call's
/// items go in requests of their own, as in gcdn 0.2. Any other value is
/// GCDN_ERR_INVALID_ARGUMENT.
///
/// `options` must be a live builder, used by no other thread during the call; NULL gives
/// GCDN_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_coalesce(
    options: *mut gcdn_options,
    coalesce: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(GCDN_ERR_PANIC, error_out, {
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = unsafe { options_mut(options) }?;
        options.coalesce = match coalesce {
            0 => false,
            1 => true,
            n => return Err(Error::invalid(format!("coalesce must be 0 or 1, got {n}"))),
        };
        Ok(())
    })
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
/// limits read) GCDN_LOG_INFO, or GCDN_LOG_WARN when a value of them is not believed and
/// the documented one is used (`resource_id` and `kind` set when a 429 set one resource's
/// kind back to the documented rate); "store_fallback" (the shared rate store failed) GCDN_LOG_WARN
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
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = unsafe { options_mut(options) }?;
        let Some(func) = log_fn else {
            options.clear_log();
            return Ok(());
        };
        let level = log::Level::from_i32(max_level).ok_or_else(|| {
            Error::invalid(format!(
                "max_level must be GCDN_LOG_ERROR (1) .. GCDN_LOG_TRACE (5), not {max_level}"
            ))
        })?;
        let sink = CLog { func, user_data };
        options.set_log(Arc::new(move |r: &log::Record<'_>| sink.send(r)), level);
        Ok(())
    })
}
