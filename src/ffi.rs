//! The C ABI. Thin by design: it turns pointers into Rust values, calls [`crate::engine`], and
//! turns the result into a status code and an owned message. Every export runs inside
//! [`boundary!`], so no panic ever unwinds into the caller.
//!
//! `include/gcdn.h` is generated from this file by cbindgen (`make header`).

#![allow(non_camel_case_types)]

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use std::sync::Arc;

use crate::engine::{CancelToken, Client, DeleteOptions, Error, Options, Result, Status};

/// Success.
pub const GCDN_OK: i32 = 0;
/// The caller's input was refused before any request was sent (NULL pointer, invalid UTF-8,
/// bad URL or pattern, empty list, non-positive resource id, unsafe base URL, ...).
pub const GCDN_ERR_INVALID_ARGUMENT: i32 = 1;
/// HTTP 401 or 403: the API key is wrong or lacks the permission.
pub const GCDN_ERR_UNAUTHORIZED: i32 = 2;
/// HTTP 404: the account has no such resource.
pub const GCDN_ERR_NOT_FOUND: i32 = 3;
/// HTTP 429, still, after waiting as long as the client's rate-limit wait budget allows.
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

/// Run `body` behind the panic boundary: its error becomes a status and `*error_out`; a panic
/// becomes `GCDN_ERR_PANIC`. `*error_out` is set to NULL on success.
macro_rules! boundary {
    ($error_out:expr, $body:block) => {
        run_guarded($error_out, move || -> Result<()> { $body })
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
            let code = e.status.code();
            set_error(error_out, Some(e.message));
            code
        }
    }
}

/// Run a function with no status to return behind the boundary; a panic yields `fallback`.
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
/// rate-limit wait budget, purge intervals from the account's limits.
///
/// Returns NULL only if memory ran out. Free with `gcdn_options_free`. The builder is only
/// read by `gcdn_client_new`, which copies it: free it whenever convenient afterwards.
#[no_mangle]
pub extern "C" fn gcdn_options_new() -> *mut gcdn_options {
    guarded_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(gcdn_options {
            inner: Options::default(),
        }))
    })
}

/// Free a builder from `gcdn_options_new`. NULL is a no-op.
///
/// # Safety
/// `options` is NULL or a builder from `gcdn_options_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_free(options: *mut gcdn_options) {
    if !options.is_null() {
        guarded_or((), || drop(Box::from_raw(options)));
    }
}

/// Set the API's base URL, e.g. `https://api.gcore.com` or a proxy's `https://host/prefix`.
/// `http://` is accepted only for loopback hosts (127.0.0.0/8, ::1, localhost), so the key
/// never travels in clear; anything else plain-HTTP is GCDN_ERR_INVALID_ARGUMENT.
///
/// `base_url` is copied. On failure the builder is unchanged and `*error_out` (if
/// `error_out` is not NULL) receives a message to free with `gcdn_string_free`.
///
/// # Safety
/// `options` is NULL or a live builder; `base_url` is NULL or a NUL-terminated string;
/// `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_base_url(
    options: *mut gcdn_options,
    base_url: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        let options = options_mut(options)?;
        options.set_base_url(str_arg(base_url, "base_url")?)
    })
}

/// Set the timeout of one attempt, in milliseconds: connecting, sending and reading the whole
/// response. Must be greater than zero. Default 30000.
///
/// # Safety
/// `options` is NULL or a live builder; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_timeout_ms(
    options: *mut gcdn_options,
    timeout_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        options_mut(options)?.set_timeout(Duration::from_millis(timeout_ms))
    })
}

/// Set how many times a request is retried after a 408, a 5xx, a connection failure or a
/// timeout, with exponential backoff (0.5 s doubling to 8 s, less up to 25 % jitter) or the
/// server's `Retry-After`. 0 disables these retries; at most 100. Default 2. A 404 or any
/// other 4xx is never retried; 429 waits are governed by the rate-limit wait budget instead.
///
/// # Safety
/// `options` is NULL or a live builder; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_max_retries(
    options: *mut gcdn_options,
    max_retries: u32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        options_mut(options)?.set_max_retries(max_retries)
    })
}

/// Set the most one request may wait, in total, on rate limits (HTTP 429) and on
/// `Retry-After`, in milliseconds. After a 429 the client waits for `Retry-After` when the
/// API sends one, else for the purge interval (see `gcdn_options_set_purge_intervals_ms`),
/// then tries again; when the next wait would go past this budget it stops at once with
/// GCDN_ERR_RATE_LIMITED. 0 means never wait. Default 150000 (a per-minute window can reopen
/// twice).
///
/// # Safety
/// `options` is NULL or a live builder; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_max_rate_limit_wait_ms(
    options: *mut gcdn_options,
    wait_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        options_mut(options)?.max_rate_limit_wait = Duration::from_millis(wait_ms);
        Ok(())
    })
}

/// Set how long to wait after a 429 that carries no `Retry-After`, in milliseconds: for
/// purges by URL, and for purges by pattern and purge-all. Both must be greater than zero.
/// Unset (the default), the client reads the account's own limits once, at the first such
/// 429, from `GET /cdn/clients/me/limits` (e.g. `"2/m"` gives 30000), and falls back to the
/// documented 2 and 1 requests a minute (30000 and 60000) if that fails.
///
/// # Safety
/// `options` is NULL or a live builder; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_purge_intervals_ms(
    options: *mut gcdn_options,
    url_purge_ms: u64,
    pattern_purge_ms: u64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// # Safety
/// `options` is NULL or a live builder; `suffix` is NULL or a NUL-terminated string;
/// `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_user_agent_suffix(
    options: *mut gcdn_options,
    suffix: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        let options = options_mut(options)?;
        options.set_user_agent_suffix(str_arg(suffix, "suffix")?)
    })
}

/// Trust the CA certificates in the PEM file at `path` (copied) instead of the bundled root
/// certificates, e.g. for a corporate TLS proxy. Certificate verification stays on; there is
/// no way to turn it off. The file is read by `gcdn_client_new`, which fails with
/// GCDN_ERR_INVALID_ARGUMENT if it cannot be read or holds no certificate.
///
/// # Safety
/// `options` is NULL or a live builder; `path` is NULL or a NUL-terminated string;
/// `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_ca_file(
    options: *mut gcdn_options,
    path: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// 300 ms, garbage) leaves that call to the in-process pacer, said once on stderr when
/// `GCDN_LOG` is set, unless `gcdn_options_set_rate_store_fail_closed` was set.
///
/// # Safety
/// `options` is NULL or a live builder; `url` is NULL or a NUL-terminated string;
/// `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_rate_store(
    options: *mut gcdn_options,
    url: *const c_char,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        let options = options_mut(options)?;
        options.set_rate_store(str_arg(url, "url")?)
    })
}

/// `fail_closed` 1: a call whose rate store cannot be used fails with GCDN_ERR_NETWORK (the
/// message names the store, never its password) instead of pacing in-process; 0 (the
/// default): fail-open. Any other value is GCDN_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// `options` is NULL or a live builder; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_options_set_rate_store_fail_closed(
    options: *mut gcdn_options,
    fail_closed: i32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// # Safety
/// `api_key` is NULL or a NUL-terminated string; `options` is NULL or a live builder;
/// `client_out` is a valid `gcdn_client **` (NULL is GCDN_ERR_INVALID_ARGUMENT);
/// `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_new(
    api_key: *const c_char,
    options: *const gcdn_options,
    client_out: *mut *mut gcdn_client,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// # Safety
/// `client` is NULL or a live client; `client_out` is a valid `gcdn_client **`;
/// `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_with_call_timeout_ms(
    client: *const gcdn_client,
    call_timeout_ms: u64,
    client_out: *mut *mut gcdn_client,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// from it is freed too). NULL is a no-op. No call may be using the client any more.
///
/// # Safety
/// `client` is NULL or a client from this library not yet freed, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_free(client: *mut gcdn_client) {
    if !client.is_null() {
        guarded_or((), || drop(Box::from_raw(client)));
    }
}

/// Create a cancellation token, not fired. Returns NULL only if memory ran out. Free with
/// `gcdn_cancel_free`.
#[no_mangle]
pub extern "C" fn gcdn_cancel_new() -> *mut gcdn_cancel {
    guarded_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(gcdn_cancel {
            inner: Arc::new(CancelToken::new()),
        }))
    })
}

/// Fire the token: every call made through a client from `gcdn_client_with_cancel` with
/// this token returns GCDN_ERR_CANCELLED at once if it is waiting (backoff, rate limit), or
/// before its next attempt; an attempt in flight ends with its answer or its timeout first.
/// Calls started afterwards return GCDN_ERR_CANCELLED without sending anything. Idempotent;
/// thread-safe; NULL is a no-op. A token cannot be reset: make a new one.
///
/// # Safety
/// `cancel` is NULL or a live token.
#[no_mangle]
pub unsafe extern "C" fn gcdn_cancel_fire(cancel: *const gcdn_cancel) {
    if let Some(token) = cancel.as_ref() {
        guarded_or((), || token.inner.cancel());
    }
}

/// Free a token. NULL is a no-op. Clients made with it keep working (and stay cancelled if
/// it was fired): free it whenever convenient.
///
/// # Safety
/// `cancel` is NULL or a token from `gcdn_cancel_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn gcdn_cancel_free(cancel: *mut gcdn_cancel) {
    if !cancel.is_null() {
        guarded_or((), || drop(Box::from_raw(cancel)));
    }
}

/// Create a second client that shares `client`'s settings, call timeout and connection
/// pool, and whose calls stop with GCDN_ERR_CANCELLED once `cancel` is fired (see
/// `gcdn_cancel_fire`). Cheap (no connection is made). Free the new client with
/// `gcdn_client_free`, in any order with `client` and `cancel`. `client` and `cancel` are
/// only read: this may run while other threads use them.
///
/// # Safety
/// `client` is NULL or a live client; `cancel` is NULL or a live token; `client_out` is a
/// valid `gcdn_client **`; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_client_with_cancel(
    client: *const gcdn_client,
    cancel: *const gcdn_cancel,
    client_out: *mut *mut gcdn_client,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// # Safety
/// `client` is NULL or a live client; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_delete_resource(
    client: *const gcdn_client,
    resource_id: i64,
    flags: u32,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        let client = client_ref(client)?;
        let known = GCDN_DELETE_DEACTIVATE_FIRST | GCDN_DELETE_MISSING_OK;
        if flags & !known != 0 {
            return Err(Error::invalid(format!(
                "unknown delete flags 0x{:x}",
                flags & !known
            )));
        }
        client.delete_resource(
            resource_id,
            DeleteOptions {
                deactivate_first: flags & GCDN_DELETE_DEACTIVATE_FIRST != 0,
                missing_ok: flags & GCDN_DELETE_MISSING_OK != 0,
            },
        )
    })
}

/// Deactivate the CDN resource `resource_id` (> 0): `PATCH {"active": false}`, after which
/// it stops serving content and may be deleted.
///
/// `client` is only read: many threads may call this at once.
///
/// # Safety
/// `client` is NULL or a live client; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_deactivate_resource(
    client: *const gcdn_client,
    resource_id: i64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// request after another; 429s are waited out within the rate-limit wait budget. If a
/// request fails for good, the call stops there and the message says which request failed
/// and how many URLs the requests before it purged. Purging is idempotent: a retried request
/// does no harm.
///
/// The strings are only read during the call. `client` is only read: many threads may call
/// this at once.
///
/// # Safety
/// `client` is NULL or a live client; `urls` is NULL or points to `n_urls` pointers, each
/// NULL or a NUL-terminated string; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_urls(
    client: *const gcdn_client,
    resource_id: i64,
    urls: *const *const c_char,
    n_urls: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
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
/// # Safety
/// As for `gcdn_purge_urls`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_patterns(
    client: *const gcdn_client,
    resource_id: i64,
    patterns: *const *const c_char,
    n_patterns: usize,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, {
        let client = client_ref(client)?;
        client.purge_patterns(resource_id, &str_list(patterns, n_patterns, "pattern")?)
    })
}

/// Purge the whole cache of resource `resource_id` (> 0): `{"paths": []}`. This makes the
/// CDN fetch everything from the origin again; prefer `gcdn_purge_urls` where you can.
///
/// `client` is only read: many threads may call this at once.
///
/// # Safety
/// `client` is NULL or a live client; `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_purge_all(
    client: *const gcdn_client,
    resource_id: i64,
    error_out: *mut *mut c_char,
) -> i32 {
    boundary!(error_out, { client_ref(client)?.purge_all(resource_id) })
}

/// Free a message this library put in `*error_out`. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string from this library's `error_out`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn gcdn_string_free(s: *mut c_char) {
    if !s.is_null() {
        guarded_or((), || drop(CString::from_raw(s)));
    }
}

/// A short static description of a status code, e.g. "not found". Never NULL: unknown
/// codes give "unknown status". Do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn gcdn_status_str(status: i32) -> *const c_char {
    let text: &'static CStr = match status {
        GCDN_OK => c"ok",
        GCDN_ERR_INVALID_ARGUMENT => c"invalid argument",
        GCDN_ERR_UNAUTHORIZED => c"unauthorized",
        GCDN_ERR_NOT_FOUND => c"not found",
        GCDN_ERR_RATE_LIMITED => c"rate limited",
        GCDN_ERR_REJECTED => c"rejected by the API",
        GCDN_ERR_SERVER => c"server error",
        GCDN_ERR_NETWORK => c"network error",
        GCDN_ERR_TIMEOUT => c"timed out",
        GCDN_ERR_PROTOCOL => c"protocol error",
        GCDN_ERR_PANIC => c"internal error (panic)",
        GCDN_ERR_CANCELLED => c"cancelled",
        _ => c"unknown status",
    };
    text.as_ptr()
}

/// The library's version, e.g. "0.1.0". Static: do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn gcdn_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Panics inside the panic boundary, on purpose: returns GCDN_ERR_PANIC with a message.
/// It exists so that tests and bindings can check their handling of GCDN_ERR_PANIC.
///
/// # Safety
/// `error_out` is NULL or a valid `char **`.
#[no_mangle]
pub unsafe extern "C" fn gcdn_debug_panic(error_out: *mut *mut c_char) -> i32 {
    boundary!(error_out, {
        panic!("gcdn_debug_panic was called");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_core() {
        let ffi = [
            GCDN_ERR_INVALID_ARGUMENT,
            GCDN_ERR_UNAUTHORIZED,
            GCDN_ERR_NOT_FOUND,
            GCDN_ERR_RATE_LIMITED,
            GCDN_ERR_REJECTED,
            GCDN_ERR_SERVER,
            GCDN_ERR_NETWORK,
            GCDN_ERR_TIMEOUT,
            GCDN_ERR_PROTOCOL,
            GCDN_ERR_PANIC,
            GCDN_ERR_CANCELLED,
        ];
        for (code, status) in ffi.iter().zip(Status::ALL) {
            assert_eq!(*code, status.code());
            let text = unsafe { CStr::from_ptr(gcdn_status_str(*code)) };
            assert_eq!(text.to_str().unwrap(), status.describe());
        }
    }
}
