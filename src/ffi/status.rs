//! The status codes: `GCDN_OK`, and the engine's [`Status`] numbers as the header's
//! `GCDN_ERR_*` `#define`s.
//!
//! [`Status`] is `#[repr(i32)]`: its discriminants are the numbers (rustls-ffi's
//! `rustls_result` is one enum for both, too). The header needs each as an `int32_t` macro
//! with its C doc comment, which cbindgen writes only for a `const` with a literal value: so
//! each is spelled out here, and a compile-time check ties it to its `Status`, both ways (every
//! constant is its status's number, and every status has its constant).

use std::ffi::CStr;

use crate::engine::Status;

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
/// A verifying run (`gcdn_run_set_verify`): everything was purged and confirmed, but at least
/// one URL is still `stale` at the edge (served from a copy cached before its purge). The
/// report says which (`gcdn_report_verified_*`).
pub const GCDN_ERR_STALE: i32 = 12;

// Each constant is its status's number...
const _: () = {
    assert!(GCDN_ERR_INVALID_ARGUMENT == Status::InvalidArgument as i32);
    assert!(GCDN_ERR_UNAUTHORIZED == Status::Unauthorized as i32);
    assert!(GCDN_ERR_NOT_FOUND == Status::NotFound as i32);
    assert!(GCDN_ERR_RATE_LIMITED == Status::RateLimited as i32);
    assert!(GCDN_ERR_REJECTED == Status::Rejected as i32);
    assert!(GCDN_ERR_SERVER == Status::Server as i32);
    assert!(GCDN_ERR_NETWORK == Status::Network as i32);
    assert!(GCDN_ERR_TIMEOUT == Status::Timeout as i32);
    assert!(GCDN_ERR_PROTOCOL == Status::Protocol as i32);
    assert!(GCDN_ERR_PANIC == Status::Panic as i32);
    assert!(GCDN_ERR_CANCELLED == Status::Cancelled as i32);
    assert!(GCDN_ERR_STALE == Status::Stale as i32);
};

/// ...and every status has its constant: a new `Status` stops this match compiling until
/// it has a `GCDN_ERR_*` here (and so in the header).
const fn header_constant(status: Status) -> i32 {
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
        Status::Stale => GCDN_ERR_STALE,
    }
}

const _: () = {
    let mut i = 0;
    while i < Status::ALL.len() {
        assert!(header_constant(Status::ALL[i]) == Status::ALL[i] as i32);
        i += 1;
    }
    // 0 is success: no status has it.
    assert!(Status::from_code(GCDN_OK).is_none());
};

/// `gcdn_status_str`'s strings, made at compile time from the one table of names
/// ([`Status::describe`]) plus "ok" and "unknown status": all NUL-terminated, one after
/// another in one static buffer.
pub(crate) mod status_names {
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
            Status::from_code(code).map_or(COUNT - 1, |s| {
                Status::ALL.iter().position(|&a| a == s).expect("in ALL") + 1
            })
        };
        CStr::from_bytes_until_nul(&BYTES[START[index]..]).expect("NUL-terminated by BYTES")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::gcdn_status_str;

    #[test]
    fn codes_are_the_abis() {
        let codes: Vec<i32> = Status::ALL.iter().map(|&s| header_constant(s)).collect();
        assert_eq!(codes, (1..=12).collect::<Vec<_>>());
        assert_eq!(GCDN_OK, 0);
    }

    #[test]
    fn status_strings_are_the_engines_names() {
        let text = |code| {
            unsafe { CStr::from_ptr(gcdn_status_str(code)) }
                .to_str()
                .unwrap()
        };
        for status in Status::ALL {
            assert_eq!(text(status.code()), status.describe());
        }
        assert_eq!(text(GCDN_OK), "ok");
        for unknown in [-1, 13, 1000, i32::MIN, i32::MAX] {
            assert_eq!(text(unknown), "unknown status");
        }
    }
}
