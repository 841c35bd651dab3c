//! The error type of the core: a [`Status`] class plus a human message.

use std::fmt;

/// The class of a failure. (How a binding numbers them is its own business: the C ABI's
/// numbering lives in `crate::ffi`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The caller's input was refused before anything was sent.
    InvalidArgument,
    /// HTTP 401 or 403.
    Unauthorized,
    /// HTTP 404.
    NotFound,
    /// HTTP 429, still, after the waiting the caller allowed.
    RateLimited,
    /// Any other 4xx: the API refused the request.
    Rejected,
    /// 5xx after retries.
    Server,
    /// DNS, connect, TLS, connection reset.
    Network,
    /// An attempt, or the whole call, ran out of time.
    Timeout,
    /// A response the client cannot make sense of.
    Protocol,
    /// A bug: a panic, caught where a binding calls in.
    Panic,
    /// The caller cancelled the call.
    Cancelled,
}

impl Status {
    /// Every status, once each.
    pub const ALL: [Status; 11] = [
        Status::InvalidArgument,
        Status::Unauthorized,
        Status::NotFound,
        Status::RateLimited,
        Status::Rejected,
        Status::Server,
        Status::Network,
        Status::Timeout,
        Status::Protocol,
        Status::Panic,
        Status::Cancelled,
    ];

    /// A short, static description: the one table of status names (the C ABI's
    /// `gcdn_status_str` is built from it).
    pub const fn describe(self) -> &'static str {
        match self {
            Status::InvalidArgument => "invalid argument",
            Status::Unauthorized => "unauthorized",
            Status::NotFound => "not found",
            Status::RateLimited => "rate limited",
            Status::Rejected => "rejected by the API",
            Status::Server => "server error",
            Status::Network => "network error",
            Status::Timeout => "timed out",
            Status::Protocol => "protocol error",
            Status::Panic => "internal error (panic)",
            Status::Cancelled => "cancelled",
        }
    }
}

/// A failed operation: what kind of failure, and a message fit to show a person.
///
/// Messages never contain the API key: the client redacts it from anything it quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Status::InvalidArgument, message)
    }

    /// The same error with `prefix` put before its message.
    pub fn context(mut self, prefix: impl fmt::Display) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// `text` with every occurrence of `secret` replaced by `[REDACTED]`. Secrets shorter than
/// 4 characters are left alone (they would match ordinary text).
pub fn redact<'a>(text: &'a str, secret: &str) -> std::borrow::Cow<'a, str> {
    if secret.len() >= 4 && text.contains(secret) {
        std::borrow::Cow::Owned(text.replace(secret, "[REDACTED]"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Quote untrusted text (an item the caller gave, a server's words) for a message: at most
/// `max` characters, control characters escaped, so a message stays one readable line.
pub fn quote(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 2);
    out.push('"');
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_own_name() {
        let names: std::collections::HashSet<&str> =
            Status::ALL.iter().map(|s| s.describe()).collect();
        assert_eq!(names.len(), Status::ALL.len());
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("/a\r\nb", 80), "\"/a\\r\\nb\"");
        assert_eq!(quote("abcdef", 3), "\"abc…\"");
        assert_eq!(quote("say \"hi\"", 80), "\"say \\\"hi\\\"\"");
    }
}
