//! The panic boundary (`boundary!`), and what every fallible export writes: its status, the
//! message in `*error_out`, its out-parameters.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::status::GCDN_OK;
use super::strings::c_string;
use crate::engine::{Error, Result, Status};
/// The panic boundary. The body of every export is one call of this macro, nothing before or
/// after it (tests/header.rs checks), and its first argument is what the caller gets when
/// the body panics:
///
/// - `boundary!(GCDN_ERR_PANIC, error_out, { .. })` for a fallible export: the block returns
///   `Result<()>`; `Ok` gives GCDN_OK and `*error_out = NULL`, an error its status and
///   message, a panic GCDN_ERR_PANIC and a message saying so.
/// - `boundary!(fallback, { .. })` for an export with no status: the block returns the
///   export's value, and a panic returns `fallback` (NULL, or `()` for a `void` export).
///
/// The body is a closure outside any `unsafe` block: its unsafe steps need blocks of their own.
macro_rules! boundary {
    (GCDN_ERR_PANIC, $error_out:expr, $body:block) => {{
        let body = move || -> $crate::engine::Result<()> { $body };
        // SAFETY: every fallible export takes `error_out` as the header's conventions say:
        // NULL, or a pointer to a writable `char *`.
        unsafe { $crate::ffi::boundary::run_guarded($error_out, body) }
    }};
    ($fallback:expr, $body:block) => {
        $crate::ffi::boundary::guarded_or($fallback, move || $body)
    };
}

/// Run `body`; its outcome (a panic caught) becomes a status and `*error_out`.
///
/// # Safety
/// `error_out` is NULL or points to a writable `char *`.
pub(crate) unsafe fn run_guarded(
    error_out: *mut *mut c_char,
    body: impl FnOnce() -> Result<()>,
) -> i32 {
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
            // SAFETY: this function's contract.
            unsafe { set_error(error_out, None) };
            GCDN_OK
        }
        Err(e) => {
            // SAFETY: this function's contract.
            unsafe { set_error(error_out, Some(e.message)) };
            e.status.code()
        }
    }
}

/// Run `body`, which has no status to return; a panic yields `fallback`.
pub(crate) fn guarded_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// `*error_out = message` as a C string to free with `gcdn_string_free` (NULL for `None`).
///
/// # Safety
/// `error_out` is NULL (nothing is written) or points to a writable `char *`.
unsafe fn set_error(error_out: *mut *mut c_char, message: Option<String>) {
    if error_out.is_null() {
        return;
    }
    let value = message.map_or(std::ptr::null_mut(), |m| c_string(m).into_raw());
    // SAFETY: not NULL (checked above), so writable by this function's contract.
    unsafe { *error_out = value };
}

/// `*out = value`, handed to the caller, who frees it with the handle's `_free`.
///
/// # Safety
/// `out` is not NULL and points to a writable pointer (callers check NULL before any work).
pub(crate) unsafe fn write_out<T>(out: *mut *mut T, value: Box<T>) {
    // SAFETY: this function's contract.
    unsafe { *out = Box::into_raw(value) };
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
    use std::ffi::CString;

    use super::*;
    use crate::ffi::status::GCDN_ERR_PANIC;

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

    /// A NUL in a message reaches `*error_out` as `?`, the whole message kept (strings.rs).
    #[test]
    fn a_nul_in_an_error_message_becomes_a_question_mark() {
        let mut message: *mut c_char = std::ptr::null_mut();
        let status = boundary!(GCDN_ERR_PANIC, &mut message, {
            Err(Error::new(Status::Rejected, "bad\0name\0"))
        });
        assert_eq!(status, Status::Rejected.code());
        let text = unsafe { CString::from_raw(message) };
        assert_eq!(text.to_str().unwrap(), "bad?name?");
    }
}
