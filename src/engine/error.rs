//! The error type of the core: a [`Status`] class plus a human message.

use std::borrow::Cow;
use std::fmt;

/// The class of a failure. Each has a stable number, its status code: the C ABI's
/// `GCDN_ERR_*` (0, `GCDN_OK`, is success and no `Status`), the CLI's JSON `status`, a
/// report's `status`. A number never changes and is never reused: a new status gets the
/// next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    /// The caller's input was refused before anything was sent.
    InvalidArgument = 1,
    /// HTTP 401 or 403.
    Unauthorized = 2,
    /// HTTP 404.
    NotFound = 3,
    /// Rate limited: a wait on the rate limits (pacer slot, 429) would go past the request's
    /// wait budget and was refused at once, or HTTP 429 came back more often than gcdn waits.
    RateLimited = 4,
    /// Any other 4xx: the API refused the request.
    Rejected = 5,
    /// 5xx after retries.
    Server = 6,
    /// DNS, connect, TLS, connection reset.
    Network = 7,
    /// An attempt, or the whole call, ran out of time.
    Timeout = 8,
    /// A response the client cannot make sense of.
    Protocol = 9,
    /// A bug: a panic, caught where a binding calls in.
    Panic = 10,
    /// The caller cancelled the call.
    Cancelled = 11,
    /// Everything was purged and confirmed, but the edge still serves a copy cached before
    /// the purge for at least one URL (a verifying run only).
    Stale = 12,
}

impl Status {
    /// Every status, once each.
    pub const ALL: [Status; 12] = [
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
        Status::Stale,
    ];

    /// The status code: `self as i32`, spelled out.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The status whose code is `code`; `None` for 0 (success) and unknown codes.
    pub const fn from_code(code: i32) -> Option<Status> {
        let mut i = 0;
        while i < Status::ALL.len() {
            if Status::ALL[i] as i32 == code {
                return Some(Status::ALL[i]);
            }
            i += 1;
        }
        None
    }

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
            Status::Stale => "stale at the edge",
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
    /// The HTTP status of the API's last answer in the failed request, `None` when no answer
    /// came (refused input, network failure, timeout, cancel).
    pub http_status: Option<u16>,
}

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
            http_status: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Status::InvalidArgument, message)
    }

    /// The same error with `secret` (in any form [`redact`] knows) and the password of
    /// any URL taken out of its message.
    pub fn redacted(mut self, secret: &str) -> Self {
        if let Cow::Owned(clean) = redact(&self.message, secret) {
            self.message = clean;
        }
        if let Cow::Owned(clean) = redact_url_password(&self.message) {
            self.message = clean;
        }
        self
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

/// What a redacted secret is replaced by.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every occurrence of `secret` replaced by `[REDACTED]`: written out, and in
/// every encoded form a URL, a JSON text or a quoted message gives it, each character
/// written on its own way and mixed freely: `%XX` (upper or lower hex), JSON `\u00XX` (any
/// case), `\"` `\\` `\/`, and `+` for a space. A secret cut short by [`quote`] (a prefix
/// of at least 4 characters right before its `…`) is redacted too. Secrets shorter than
/// 4 characters are left alone (they would match ordinary text). Borrows, without
/// allocating, when there is nothing to redact.
pub fn redact<'a>(text: &'a str, secret: &str) -> Cow<'a, str> {
    if secret.len() < 4 {
        return Cow::Borrowed(text);
    }
    let key = secret.as_bytes();
    let plus = key.contains(&b' ');
    // The common case: no escape mark at all, so only the secret as written can be there.
    if !text
        .bytes()
        .any(|b| matches!(b, b'%' | b'\\' | 0xE2) || (plus && b == b'+'))
    {
        return match text.contains(secret) {
            true => Cow::Owned(text.replace(secret, REDACTED)),
            false => Cow::Borrowed(text),
        };
    }
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        let may_start = b == key[0] || b == b'%' || b == b'\\' || (b == b'+' && key[0] == b' ');
        if may_start && text.is_char_boundary(at) {
            if let Some(end) = encoded_match(bytes, at, key) {
                if text.is_char_boundary(end) {
                    let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    o.push_str(&text[copied..at]);
                    o.push_str(REDACTED);
                    copied = end;
                    at = end;
                    continue;
                }
            }
        }
        at += 1;
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
    }
}

/// Whether `text` holds `secret` in any form [`redact`] takes out.
pub fn contains_secret(text: &str, secret: &str) -> bool {
    matches!(redact(text, secret), Cow::Owned(_))
}

/// The value of two hex digits.
fn hex2(hi: u8, lo: u8) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16);
    Some((d(hi)? * 16 + d(lo)?) as u8)
}

/// The ways `b` may be written at `text[at..]`, as the lengths they take there, in
/// `out` (at most 4); how many there are.
fn forms_at(text: &[u8], at: usize, b: u8, out: &mut [usize; 4]) -> usize {
    let rest = &text[at..];
    let mut n = 0;
    let mut add = |len: usize| {
        out[n] = len;
        n += 1;
    };
    match rest {
        [c, ..] if *c == b => add(1),
        [b'+', ..] if b == b' ' => add(1),
        _ => {}
    }
    if let [b'%', hi, lo, ..] = rest {
        if hex2(*hi, *lo) == Some(b) {
            add(3);
        }
    }
    if let [b'\\', c, ..] = rest {
        if *c == b && matches!(b, b'"' | b'\\' | b'/') {
            add(2);
        }
        if let [_, b'u', h1, h2, h3, h4, ..] = rest {
            if b < 0x80 && hex2(*h1, *h2) == Some(0) && hex2(*h3, *h4) == Some(b) {
                add(6);
            }
        }
    }
    n
}

/// Where an encoding of `key` that begins at `text[start]` ends (the key cut short by a
/// `…` counts, after 4 of its characters), if one does.
///
/// A depth-first search over (key position, text position). Only `%` and `\` in the key
/// can be read more than one way at the same place; the states where that happens are
/// remembered once they fail, so a hostile text cannot make the search blow up.
fn encoded_match(text: &[u8], start: usize, key: &[u8]) -> Option<usize> {
    const ELLIPSIS: &[u8] = "…".as_bytes();
    /// A place where the key's next character can be read more than one way.
    struct Branch {
        k: usize,
        j: usize,
        forms: [usize; 4],
        count: usize,
        next: usize,
    }
    let mut stack: Vec<Branch> = Vec::new();
    let mut failed: Option<std::collections::HashSet<(usize, usize)>> = None;
    let (mut k, mut j) = (0, start);
    loop {
        // Walk forward while the way is clear.
        loop {
            if k == key.len() || (k >= 4 && text[j..].starts_with(ELLIPSIS)) {
                return Some(j);
            }
            let mut forms = [0; 4];
            let count = forms_at(text, j, key[k], &mut forms);
            if count == 0 || (count > 1 && failed.as_ref().is_some_and(|f| f.contains(&(k, j)))) {
                break;
            }
            if count > 1 {
                stack.push(Branch {
                    k,
                    j,
                    forms,
                    count,
                    next: 1,
                });
            }
            j += forms[0];
            k += 1;
        }
        // A dead end: take the next way at the latest branching that still has one; a
        // branching with none left is remembered as failed.
        loop {
            let branch = stack.last_mut()?;
            if branch.next < branch.count {
                k = branch.k + 1;
                j = branch.j + branch.forms[branch.next];
                branch.next += 1;
                break;
            }
            let (bk, bj) = (branch.k, branch.j);
            stack.pop();
            failed.get_or_insert_with(Default::default).insert((bk, bj));
        }
    }
}

/// `text` with the password of every URL in it (`scheme://user:password@host`) replaced by
/// `***`: `redis://user:***@host:6379/0`. The user name stays; a URL without a password,
/// and the rest of the text, are left as they are. A password is taken to run to the last
/// `@` before the next space or quote even when it holds a `/`, `?` or `#` (written
/// unescaped, as people do): hiding too much beats showing part of it. Borrows when there
/// is nothing to hide.
pub fn redact_url_password(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let auth_start = from + found + 3;
        let token_len = text[auth_start..]
            .find(|c: char| matches!(c, '"' | '<' | '>') || c.is_whitespace() || c.is_control())
            .unwrap_or(text.len() - auth_start);
        let token = &text[auth_start..auth_start + token_len];
        // The next URL in the same token starts a new search.
        let token = token.find("://").map_or(token, |next| &token[..next]);
        if let Some(at) = token.rfind('@') {
            if let Some(colon) = token[..at].find(':') {
                let (pw_start, pw_end) = (auth_start + colon + 1, auth_start + at);
                if pw_start < pw_end {
                    let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    o.push_str(&text[copied..pw_start]);
                    o.push_str("***");
                    copied = pw_end;
                }
            }
        }
        from = auth_start + token.len();
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
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
    fn codes_run_from_1_in_the_order_of_all() {
        let codes: Vec<i32> = Status::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, (1..=12).collect::<Vec<_>>());
        for status in Status::ALL {
            assert_eq!(Status::from_code(status.code()), Some(status));
        }
        for unknown in [0, -1, 13, i32::MIN, i32::MAX] {
            assert_eq!(Status::from_code(unknown), None);
        }
    }

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

    const KEY: &str = "k$y/with+plus=and\"q\\b";

    #[test]
    fn redact_takes_out_every_encoded_form() {
        for form in [
            KEY.to_owned(),
            "k%24y%2Fwith%2Bplus%3Dand%22q%5Cb".to_owned(),
            "k%24y%2fwith%2bplus%3dand%22q%5cb".to_owned(),
            "%6B%24%79%2F%77%69%74%68%2B%70%6C%75%73%3D%61%6E%64%22%71%5C%62".to_owned(),
            r#"k\u0024y\/with\u002Bplus\u003dand\"q\\b"#.to_owned(),
            r#"k\u0024y%2Fwith+plus=and\u0022q%5Cb"#.to_owned(),
            quote(KEY, 100).trim_matches('"').to_owned(),
        ] {
            let text = format!("before {form} after");
            let out = redact(&text, KEY);
            assert_eq!(out, "before [REDACTED] after", "{form}");
            assert!(contains_secret(&text, KEY));
        }
        // Spaces may come as `+` or `%20`.
        assert_eq!(redact("a b+c%20d", "b c d"), "a [REDACTED]");
        // A near miss stays.
        let near = "k%24y/with+plus=and\"q\\X";
        assert!(matches!(redact(near, KEY), Cow::Borrowed(_)));
        // Twice, and back to back.
        assert_eq!(
            redact("x=abcd1234&y=abcd%31234abcd1234", "abcd1234"),
            "x=[REDACTED]&y=[REDACTED][REDACTED]"
        );
    }

    #[test]
    fn redact_takes_out_a_key_cut_short_by_quote() {
        let text = quote(&format!("/a?token={KEY}"), 14);
        assert!(text.contains("k$y/w"), "{text}");
        let out = redact(&text, KEY);
        assert!(!out.contains("k$y/"), "{out}");
        assert!(out.ends_with("[REDACTED]…\""), "{out}");
        // Three characters are ordinary text.
        assert_eq!(redact("k$y…", KEY), "k$y…");
    }

    #[test]
    fn redact_borrows_when_there_is_nothing() {
        for text in ["", "plain text", "100% \\ sure…", "k$y", "%6B%24%79"] {
            assert!(matches!(redact(text, KEY), Cow::Borrowed(_)), "{text}");
        }
        assert!(
            matches!(redact("abc", "abc"), Cow::Borrowed(_)),
            "short secret"
        );
    }

    #[test]
    fn redact_stays_fast_on_a_hostile_text() {
        // Every `%` and `\` of this key can be read two ways at every place.
        let key = "%25%25%25%25%25%25%25%25%25%25\\\\\\\\\\\\\\\\";
        let text = "%25".repeat(3_000) + &"\\".repeat(3_000);
        let t = std::time::Instant::now();
        let _ = redact(&text, key);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn url_passwords_are_masked() {
        for (text, shown) in [
            (
                "redis://user:pw@host:6379/0",
                "redis://user:***@host:6379/0",
            ),
            ("redis://:pw@host", "redis://:***@host"),
            (
                "see \"https://u:p%40ss@h/x\" now",
                "see \"https://u:***@h/x\" now",
            ),
            ("rediss://u:pa/ss?#@h", "rediss://u:***@h"),
            // The password runs to the LAST `@`, an unescaped `@` in it included.
            ("redis://a:b@c@h/0", "redis://a:***@h/0"),
            ("a://u:1@h b://v:2@i", "a://u:***@h b://v:***@i"),
            (
                "x=https://u:p@h/?next=redis://v:q@i",
                "x=https://u:***@h/?next=redis://v:***@i",
            ),
        ] {
            assert_eq!(redact_url_password(text), shown, "{text}");
        }
        for text in [
            "redis://host:6379",
            "https://user@h",
            "https://u:@h",
            "no url",
            "a://",
        ] {
            assert!(
                matches!(redact_url_password(text), Cow::Borrowed(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn errors_are_redacted_of_keys_and_url_passwords() {
        let e = Error::invalid(format!(
            "bad {} at redis://me:hunter2@h",
            "k%24y/with+plus=and\"q\\b"
        ))
        .redacted(KEY);
        assert_eq!(e.message, "bad [REDACTED] at redis://me:***@h");
    }
}
