//! The single calls' `_with` forms: a call with a run's timeout, cancel token and progress
//! tick, its HTTP status kept in the run.

use std::ffi::c_char;

use super::calls::delete_flags;
use super::client::{client_ref, gcdn_client};
use super::run::{gcdn_run, with_run};
use super::strings::str_list;

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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `urls` is NULL or `n_urls` pointers to NUL-terminated strings (the contract above).
        let urls = unsafe { str_list(urls, n_urls, "URL") }?;
        // SAFETY: `run` is NULL or a live run (the contract above).
        let run = unsafe { run.as_ref() };
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `patterns` is NULL or `n_patterns` pointers to NUL-terminated strings (the contract above).
        let patterns = unsafe { str_list(patterns, n_patterns, "pattern") }?;
        // SAFETY: `run` is NULL or a live run (the contract above).
        let run = unsafe { run.as_ref() };
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `run` is NULL or a live run (the contract above).
        let run = unsafe { run.as_ref() };
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `run` is NULL or a live run (the contract above).
        let run = unsafe { run.as_ref() };
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        let options = delete_flags(flags)?;
        // SAFETY: `run` is NULL or a live run (the contract above).
        let run = unsafe { run.as_ref() };
        with_run(run, |s| {
            client.delete_resource_with(resource_id, options, s)
        })
    })
}
