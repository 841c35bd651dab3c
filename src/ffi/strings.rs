//! C strings across the boundary: arguments and arrays in ([`str_arg`], [`str_list`]), every
//! string the library hands out made one way ([`c_string`], the NUL policy), and the
//! library's own strings: `gcdn_string_free`, `gcdn_status_str`, `gcdn_version`.

use std::ffi::{c_char, CStr, CString};

use super::status::status_names;
use crate::engine::{Error, Result};

/// Most items one purge call accepts; a larger count is GCDN_ERR_INVALID_ARGUMENT.
pub const GCDN_MAX_ITEMS: usize = 1_000_000;
// The engine enforces the cap for Rust callers too; the header's number is the engine's.
const _: () = assert!(GCDN_MAX_ITEMS == crate::engine::validate::MAX_ITEMS);

/// A borrowed `&str` from a C string; NULL or invalid UTF-8 is an invalid argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    // SAFETY: not NULL, so a NUL-terminated string that outlives `'a` (this function's contract).
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8")))
}

/// Borrow `n` C strings; any NULL or invalid UTF-8 item is an invalid argument.
///
/// # Safety
/// `items` is NULL or points to `n` pointers, each NULL or a NUL-terminated string.
pub(crate) unsafe fn str_list<'a>(
    items: *const *const c_char,
    n: usize,
    noun: &str,
) -> Result<Vec<&'a str>> {
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
    // SAFETY: not NULL, so `n` readable pointers (this function's contract); `n` is at most
    // GCDN_MAX_ITEMS, far below isize::MAX bytes.
    unsafe { std::slice::from_raw_parts(items, n) }
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            // The item's name is only spelled out when it is needed for a message.
            if p.is_null() {
                return Err(Error::invalid(format!("{noun} {i} is NULL")));
            }
            // SAFETY: not NULL, so a NUL-terminated string (this function's contract).
            unsafe { CStr::from_ptr(p) }
                .to_str()
                .map_err(|_| Error::invalid(format!("{noun} {i} is not valid UTF-8")))
        })
        .collect()
}

/// `text` as a C string: the one way this library makes the strings it hands to C (messages in
/// `*error_out`, log records' strings, event and report messages).
///
/// The NUL policy: a NUL inside the text, which a C string cannot hold, becomes `?`. The
/// string is then the whole text, not the part before the NUL, and the `?` shows a reader
/// that a character was replaced there. (No message should hold a NUL: the engine escapes
/// control characters where it quotes what it was sent. The JSON of `gcdn_report_json`
/// escapes a NUL as `\u0000` instead, as JSON does.) Without a NUL, the text's bytes are
/// taken as they are (a `String` is not copied).
pub(crate) fn c_string(text: impl Into<Vec<u8>>) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        for b in bytes.iter_mut().filter(|b| **b == 0) {
            *b = b'?';
        }
        // Cannot fail: no NUL is left.
        CString::new(bytes).unwrap_or_default()
    })
}

/// `gcdn_version`'s string.
const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the crate version holds a NUL"),
    };

/// Free a message this library put in `*error_out`.
///
/// `s` must be NULL (nothing happens) or a message this library stored in `*error_out`,
/// not yet freed; never a string from gcdn_status_str or gcdn_version, nor one the caller
/// allocated.
#[no_mangle]
pub unsafe extern "C" fn gcdn_string_free(s: *mut c_char) {
    boundary!((), {
        if !s.is_null() {
            // SAFETY: not NULL, so a message from `*error_out` not yet freed (the contract
            // above): made by `CString::into_raw`.
            drop(unsafe { CString::from_raw(s) });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_becomes_a_question_mark_and_the_text_is_kept_whole() {
        assert_eq!(c_string("a\0b").as_bytes(), b"a?b");
        assert_eq!(c_string("\0").as_bytes(), b"?");
        assert_eq!(c_string(String::from("\0x\0\0")).as_bytes(), b"?x??");
        // Other text is taken as it is, UTF-8 included.
        assert_eq!(c_string("größe?").as_bytes(), "größe?".as_bytes());
        assert_eq!(c_string("").as_bytes(), b"");
    }
}
