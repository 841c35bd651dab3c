//! The C ABI. Thin by design: it turns pointers into Rust values, calls [`crate::engine`], and
//! turns the result into a status code and an owned message. `include/gcdn.h` is generated
//! from this file by cbindgen (`make header`).
//!
//! # The panic boundary
//!
//! No panic may unwind into C. The body of every export is exactly one [`boundary!`] call,
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
/// rate-limit wait budget, purge intervals from the account's limits.
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
/// other 4xx is never retried; 429 waits are governed by the rate-limit wait budget instead.
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

/// Set the most one request may wait, in total, on rate limits (HTTP 429) and on
/// `Retry-After`, in milliseconds. After a 429 the client waits for `Retry-After` when the
/// API sends one, else for the purge interval (see `gcdn_options_set_purge_intervals_ms`),
/// then tries again; when the next wait would go past this budget it stops at once with
/// GCDN_ERR_RATE_LIMITED. 0 means never wait. Default 150000 (a per-minute window can reopen
/// twice).
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

/// Set how long to wait after a 429 that carries no `Retry-After`, in milliseconds: for
/// purges by URL, and for purges by pattern and purge-all. Both must be greater than zero.
/// Unset (the default), the client reads the account's own limits once, at the first such
/// 429, from `GET /cdn/clients/me/limits` (e.g. `"2/m"` gives 30000), and falls back to the
/// documented 2 and 1 requests a minute (30000 and 60000) if that fails.
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
/// request after another; 429s are waited out within the rate-limit wait budget. If a
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
