//! `gcdn_client`: create, derive with a call timeout, free. (Deriving with a cancel token is
//! in cancel.rs, the calls in calls.rs.)

use std::ffi::c_char;
use std::time::Duration;

use super::boundary::write_out;
use super::options::gcdn_options;
use super::strings::str_arg;
use crate::engine::{Client, Error, Options, Result};

/// An opaque client. Create with `gcdn_client_new`, free with `gcdn_client_free`.
/// Every call takes it as `const gcdn_client *` and does not change it: one client may be
/// used from many threads at once, and they share its pool of keep-alive connections.
pub struct gcdn_client {
    pub(super) inner: Client,
}

/// # Safety
/// `p` is NULL or a pointer this library handed out and that was not freed.
pub(super) unsafe fn client_ref<'a>(p: *const gcdn_client) -> Result<&'a Client> {
    // SAFETY: this function's contract.
    unsafe { p.as_ref() }
        .map(|c| &c.inner)
        .ok_or_else(|| Error::invalid("client is NULL"))
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
            // SAFETY: `api_key` is NULL or a NUL-terminated string (the contract above).
            Some(unsafe { str_arg(api_key, "api_key") }?)
        };
        let defaults;
        // SAFETY: `options` is NULL or a live builder no other thread uses (the contract above).
        let options = match unsafe { options.as_ref() } {
            Some(o) => &o.inner,
            None => {
                defaults = Options::default();
                &defaults
            }
        };
        let client = Client::new(key, options)?;
        // SAFETY: checked for NULL above; writable by the contract above.
        unsafe { write_out(client_out, Box::new(gcdn_client { inner: client })) };
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
        // SAFETY: `client` is NULL or a live client (the contract above).
        let client = unsafe { client_ref(client) }?;
        if client_out.is_null() {
            return Err(Error::invalid("client_out is NULL"));
        }
        if call_timeout_ms == 0 {
            return Err(Error::invalid("call timeout must be greater than zero"));
        }
        let derived = client.with_call_timeout(Duration::from_millis(call_timeout_ms));
        // SAFETY: checked for NULL above; writable by the contract above.
        unsafe { write_out(client_out, Box::new(gcdn_client { inner: derived })) };
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
            // SAFETY: not NULL, so a live client that no call uses (the contract above),
            // from `Box::into_raw`; dead from here on.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}
