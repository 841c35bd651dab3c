//! The single calls on a client: delete, deactivate, purge by URL, by pattern, everything.
//! Their per-run `_with` forms are in calls_with.rs.

use std::ffi::c_char;

use super::client::{client_ref, gcdn_client};
use super::strings::str_list;
use crate::engine::{DeleteOptions, Error, Result};

/// `gcdn_delete_resource` flag: send `PATCH {"active": false}` first, then `DELETE`
/// (the API refuses to delete an active resource).
pub const GCDN_DELETE_DEACTIVATE_FIRST: u32 = 1u32 << 0;
/// `gcdn_delete_resource` flag: a resource that does not exist counts as deleted.
pub const GCDN_DELETE_MISSING_OK: u32 = 1u32 << 1;

/// The delete flags as options; unknown bits are refused.
pub(super) fn delete_flags(flags: u32) -> Result<DeleteOptions> {
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        unsafe { client_ref(client) }?.deactivate_resource(resource_id)
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `urls` is NULL or `n_urls` pointers to NUL-terminated strings (the contract above).
        client.purge_urls(resource_id, &unsafe { str_list(urls, n_urls, "URL") }?)
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `patterns` is NULL or `n_patterns` pointers to NUL-terminated strings (the contract above).
        client.purge_patterns(resource_id, &unsafe {
            str_list(patterns, n_patterns, "pattern")
        }?)
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        unsafe { client_ref(client) }?.purge_all(resource_id)
    })
}
