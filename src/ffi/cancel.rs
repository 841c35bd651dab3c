//! `gcdn_cancel`: the cancellation token, and the client derived with one.

use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::write_out;
use super::client::{client_ref, gcdn_client};
use crate::engine::{CancelToken, Error};

/// An opaque cancellation token. Create with `gcdn_cancel_new`, fire with
/// `gcdn_cancel_fire` from any thread, free with `gcdn_cancel_free`. Thread-safe.
pub struct gcdn_cancel {
    pub(super) inner: Arc<CancelToken>,
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
        // SAFETY: `cancel` is NULL or a live token (the contract above).
        if let Some(token) = unsafe { cancel.as_ref() } {
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
            // SAFETY: not NULL, so a live cancel that no call uses (the contract above),
            // from `Box::into_raw`; dead from here on.
            drop(unsafe { Box::from_raw(cancel) });
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        // SAFETY: `cancel` is NULL or a live token (the contract above).
        let token = unsafe { cancel.as_ref() }.ok_or_else(|| Error::invalid("cancel is NULL"))?;
        if client_out.is_null() {
            return Err(Error::invalid("client_out is NULL"));
        }
        let derived = client.with_cancel(Arc::clone(&token.inner));
        // SAFETY: checked for NULL above; writable by the contract above.
        unsafe { write_out(client_out, Box::new(gcdn_client { inner: derived })) };
        Ok(())
    })
}
