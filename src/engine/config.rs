//! Client settings, their defaults, and the checks that keep the API key safe.

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::account::Intervals;
use super::error::{contains_secret, quote, Error, Result};
use super::log::{Level, LogFn, LogSetting};
use super::ratestore::RedisUrl;
use ureq::http::Uri;

pub const DEFAULT_BASE_URL: &str = "https://api.gcore.com";
pub const ENV_API_KEY: &str = "GCORE_API_KEY";
pub const ENV_BASE_URL: &str = "GCORE_BASE_URL";

/// Settings a client is built from. Unset fields take the documented defaults.
/// `Debug` shows the base URL as messages do (scheme and host): it may hold a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Options {
    /// `None`: `GCORE_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub base_url: Option<String>,
    /// One attempt: connect, send, and the whole response. Default 30 s.
    pub timeout: Duration,
    /// Retries after a 408, a 5xx, a connection failure or a timeout. Default 2.
    pub max_retries: u32,
    /// The most one request waits, in total, on rate limits: its pacer slot, a 429's
    /// `Retry-After` (else one interval of the limit) and a `Retry-After` sent with a 408 or
    /// 5xx (backoff is bounded by `max_retries` instead). A wait past what is left of it is
    /// refused at once, without waiting, with [`Status::RateLimited`](super::Status) (a 408
    /// or 5xx keeps its own status) and how long it would have been. Default 150 s: enough
    /// for a per-minute window to reopen twice.
    pub max_rate_limit_wait: Duration,
    /// Pace purges by these intervals instead of the account's limits: one URL purge per
    /// `url`, one pattern purge or purge-all per `pattern`, per resource (a window of N = 1
    /// per W = the interval, plus [`margin`](super::pacer::margin)). The client's pacer gives
    /// every purge request a slot before it is sent and after each 429. `None` (the default):
    /// the account's own limits, read once per client from `GET /cdn/clients/me/limits` when
    /// a key's second request needs its slot (the first goes at once, unless a rate store is
    /// shared), sanity-checked; where they are not believed or cannot be read, the documented
    /// 2 URL purges and 1 pattern purge or purge-all a minute.
    pub purge_intervals: Option<Intervals>,
    /// Appended to the `User-Agent`, e.g. `gcdn-python/0.1.0`.
    pub user_agent_suffix: Option<String>,
    /// A PEM file of CA certificates to trust instead of the bundled roots.
    pub ca_file: Option<PathBuf>,
    /// A shared rate store (`redis://...`, checked; its `Debug` hides the password).
    /// `None`: `GCDN_RATE_STORE`, else the in-process pacer alone. See `ratestore`.
    pub rate_store: Option<RedisUrl>,
    /// When the rate store cannot be used: `false` (default) pace that call in-process and
    /// say so once; `true` fail the call with `Status::Network`.
    pub rate_store_fail_closed: bool,
    /// The log function and its maximum level (see [`super::log`]). `None`: stderr if
    /// `GCDN_LOG` names a level when the client is made, else no logging.
    pub log: Option<LogSetting>,
    /// Calls of a client that wait for a slot on the same resource and kind share requests
    /// (see `coalesce`). Default `true`; `false`: each call's items go in requests of their
    /// own, as in 0.2.
    pub coalesce: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_url: None,
            timeout: Duration::from_secs(30),
            max_retries: 2,
            max_rate_limit_wait: Duration::from_secs(150),
            purge_intervals: None,
            user_agent_suffix: None,
            ca_file: None,
            rate_store: None,
            rate_store_fail_closed: false,
            log: None,
            coalesce: true,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("base_url", &self.base_url.as_deref().map(shown))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_rate_limit_wait", &self.max_rate_limit_wait)
            .field("purge_intervals", &self.purge_intervals)
            .field("user_agent_suffix", &self.user_agent_suffix)
            .field("ca_file", &self.ca_file)
            .field("rate_store", &self.rate_store)
            .field("rate_store_fail_closed", &self.rate_store_fail_closed)
            .field("log", &self.log)
            .field("coalesce", &self.coalesce)
            .finish()
    }
}

/// Upper bound of `max_retries`: more is a mistake, not a policy.
pub const MAX_RETRIES_LIMIT: u32 = 100;

impl Options {
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        if timeout.is_zero() {
            return Err(Error::invalid("timeout must be greater than zero"));
        }
        self.timeout = timeout;
        Ok(())
    }

    pub fn set_max_retries(&mut self, retries: u32) -> Result<()> {
        if retries > MAX_RETRIES_LIMIT {
            return Err(Error::invalid(format!(
                "max_retries must be at most {MAX_RETRIES_LIMIT}, got {retries}"
            )));
        }
        self.max_retries = retries;
        Ok(())
    }

    pub fn set_base_url(&mut self, url: &str) -> Result<()> {
        BaseUrl::parse(url)?;
        self.base_url = Some(url.to_owned());
        Ok(())
    }

    pub fn set_purge_intervals(&mut self, url: Duration, pattern: Duration) -> Result<()> {
        if url.is_zero() || pattern.is_zero() {
            return Err(Error::invalid("purge intervals must be greater than zero"));
        }
        self.purge_intervals = Some(Intervals { url, pattern });
        Ok(())
    }

    pub fn set_user_agent_suffix(&mut self, suffix: &str) -> Result<()> {
        if suffix.len() > 200 || suffix.chars().any(|c| !(' '..='~').contains(&c)) {
            return Err(Error::invalid(
                "user agent suffix must be at most 200 printable ASCII characters",
            ));
        }
        self.user_agent_suffix = if suffix.is_empty() {
            None
        } else {
            Some(suffix.to_owned())
        };
        Ok(())
    }

    /// Share pacing through the Redis at `url` (see `ratestore::RedisUrl`). Refused at once
    /// when malformed, or when this build lacks the cargo feature `rate-store`; messages
    /// never show the password.
    pub fn set_rate_store(&mut self, url: &str) -> Result<()> {
        self.rate_store = Some(super::ratestore::checked_store_url(url)?);
        Ok(())
    }

    /// Send the records of every call at or below `max_level` to `log`, called on the
    /// thread running the call (possibly several at once), never under a lock of gcdn.
    pub fn set_log(&mut self, log: LogFn, max_level: Level) {
        self.log = Some(LogSetting {
            sink: log,
            max_level,
        });
    }

    /// No log function: back to `GCDN_LOG`.
    pub fn clear_log(&mut self) {
        self.log = None;
    }

    pub fn set_ca_file(&mut self, path: &str) -> Result<()> {
        if path.is_empty() {
            return Err(Error::invalid("CA file path is empty"));
        }
        self.ca_file = Some(PathBuf::from(path));
        Ok(())
    }
}

/// A checked base URL: `https://` anywhere, `http://` only to a loopback host, so the key
/// never travels in clear. Stored without a trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Parse and check `url` with `http::Uri`, the parser ureq itself uses to send the
    /// request: the host checked here is the host connected to (no second parser to differ).
    /// Messages never quote the URL's user information, query, fragment or path (the key
    /// may hide there and is not known yet): only its scheme and host.
    pub fn parse(url: &str) -> Result<BaseUrl> {
        let bad = |why: &str| Error::invalid(format!("base URL {}: {why}", shown(url)));
        if url.is_empty() {
            return Err(Error::invalid("base URL is empty"));
        }
        if let Some(at) = url.chars().position(|c| c.is_control() || c == ' ') {
            return Err(bad(&format!(
                "contains a space or a control character (character {})",
                at + 1
            )));
        }
        let uri = Uri::try_from(url).map_err(|_| bad("is not a valid URL"))?;
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(_) => return Err(bad("the scheme must be https (or http to a loopback host)")),
            None => return Err(bad("must start with https://")),
        };
        // `Uri` drops a fragment without a word: look for its mark itself (`#` can stand
        // nowhere else in a valid URI).
        if uri.query().is_some() || url.contains('#') {
            return Err(bad("must not have a query or a fragment"));
        }
        let authority = uri.authority().ok_or_else(|| bad("has no valid host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not carry user information"));
        }
        let host = authority.host();
        let ip = match host.strip_prefix('[') {
            Some(v6) => {
                let v6 = v6
                    .strip_suffix(']')
                    .ok_or_else(|| bad("has no valid host"))?;
                Some(IpAddr::V6(
                    v6.parse::<Ipv6Addr>()
                        .map_err(|_| bad("has no valid host"))?,
                ))
            }
            None if host.is_empty() => return Err(bad("has no valid host")),
            None => host.parse::<IpAddr>().ok(),
        };
        // `Uri` keeps a port it cannot read (`host:port`, `host:+1`) and reports none.
        match &authority.as_str()[host.len()..] {
            "" => {}
            port => {
                let digits = port.strip_prefix(':').unwrap_or(port);
                if digits.is_empty()
                    || digits.len() > 5
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || authority.port_u16().is_none()
                {
                    return Err(bad("has no valid port"));
                }
            }
        }
        let loopback =
            host.eq_ignore_ascii_case("localhost") || ip.is_some_and(|ip| ip.is_loopback());
        if !secure && !loopback {
            return Err(bad(
                "plain http:// is allowed only to a loopback host (127.0.0.0/8, ::1, localhost): \
                 the API key must not travel in clear; use https://",
            ));
        }
        let scheme = if secure { "https" } else { "http" };
        let path = uri.path().trim_end_matches('/');
        Ok(BaseUrl(format!("{scheme}://{}{path}", authority.as_str())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

/// `url` quoted for a message: its scheme and host, with any user information masked
/// (everything up to the last `@`) and whatever follows the host (path, query, fragment)
/// cut to `…`.
fn shown(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    // User information runs to the last `@`, even past a `/`, `?` or `#`: a password written
    // unescaped may hold them, and hiding too much beats showing part of it.
    let (masked, rest) = match rest.rfind('@') {
        Some(at) => ("***@", &rest[at + 1..]),
        None => ("", rest),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = format!("{masked}{}", &rest[..end]);
    let more = match rest.as_bytes().get(end) {
        None => "",
        Some(b'/') => "/…",
        Some(_) => "…",
    };
    quote(&format!("{scheme}{host}{more}"), 200)
}

/// The base URL a client for `api_key` talks to: `options.base_url`, else `GCORE_BASE_URL`,
/// else [`DEFAULT_BASE_URL`]. A URL that holds the key in any form (user information, path,
/// query, fragment, percent-encoded or not) is refused: the key goes in the
/// `Authorization` header only. No message quotes the key or a URL password.
pub fn resolve_base_url(options: &Options, api_key: &str) -> Result<BaseUrl> {
    let from_env;
    let (url, origin) = match &options.base_url {
        Some(url) => (url.as_str(), None),
        None => match std::env::var(ENV_BASE_URL) {
            Ok(url) if !url.is_empty() => {
                // It may hold the key: wiped on drop like the key itself.
                from_env = zeroize::Zeroizing::new(url);
                (from_env.as_str(), Some(ENV_BASE_URL))
            }
            _ => (DEFAULT_BASE_URL, None),
        },
    };
    let checked = BaseUrl::parse(url).and_then(|base| {
        // The whole URL is searched, host included: a key with a `/` in it reads as a host
        // and a path (`https://k$y/9@h` parses with host `k$y`).
        if contains_secret(url, api_key) {
            Err(Error::invalid(format!(
                "base URL {} holds the API key: the key goes only in the Authorization header, \
                 never in the URL; remove it from the URL",
                shown(url)
            )))
        } else {
            Ok(base)
        }
    });
    checked.map_err(|e| {
        let e = match origin {
            Some(var) => e.context(format!("from {var}")),
            None => e,
        };
        e.redacted(api_key)
    })
}

/// Check an API key: non-empty, printable ASCII, no spaces at its ends.
/// Messages never quote the key.
pub fn check_api_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("API key is empty"));
    }
    if key.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "API key contains a control character (CR, LF, tab, ...)",
        ));
    }
    if !key.is_ascii() {
        return Err(Error::invalid("API key must be ASCII"));
    }
    if key.trim() != key {
        return Err(Error::invalid("API key has spaces at its start or end"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere() {
        assert_eq!(
            BaseUrl::parse("https://api.gcore.com/").unwrap().as_str(),
            "https://api.gcore.com"
        );
        assert_eq!(
            BaseUrl::parse("HTTPS://proxy.corp:8443/gcore/")
                .unwrap()
                .as_str(),
            "https://proxy.corp:8443/gcore"
        );
    }

    #[test]
    fn http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://LOCALHOST",
            "http://[::1]:9000/",
        ] {
            assert!(BaseUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.gcore.com",
            "http://10.0.0.1",
            "http://[::2]:80",
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com",
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert!(e.message.contains("loopback"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "api.gcore.com",
            "ftp://x",
            "https://",
            "https://:80",
            "https://a:port",
            "https://u:p@host",
            "https://host/?q=1",
            "https://ho st",
            "https://host\r\n",
            "http://[::1",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_and_ports_as_the_sender_reads_them() {
        for (ok, stored) in [
            ("HTTP://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://[::1]", "http://[::1]"),
            (
                "https://[2001:db8::1]:443/p//",
                "https://[2001:db8::1]:443/p",
            ),
            ("https://h:0", "https://h:0"),
            ("https://h//", "https://h"),
        ] {
            assert_eq!(BaseUrl::parse(ok).unwrap().as_str(), stored, "{ok}");
        }
        for bad in [
            "https://h:",
            "https://h:+80",
            "https://h:65536",
            "https://h:8080:1",
            "https://[::1]x",
            "https://[zz]",
            "https://[fe80::1%25eth0]",
            "http://[::ffff:127.0.0.1]",
            "http://127.1",
            "http://0x7f.0.0.1",
            "http://localhost.",
            "https://h/#",
            "https://h?",
            "https://h/a b",
            "https://@h",
            "https://h@",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_quote_only_scheme_and_host() {
        for (url, shown) in [
            ("https://user:pw-1234@h/x", "\"https://***@h/…\""),
            ("https://pw-1234@h", "\"https://***@h\""),
            ("https://h/?token=pw-1234", "\"https://h/…\""),
            ("https://h#pw-1234", "\"https://h…\""),
            ("http://remote/pw-1234", "\"http://remote/…\""),
            ("https://h/pw-1234 x", "\"https://h/…\""),
            ("pw-1234@h", "\"***@h\""),
            ("https://apikey:pw/1234@h:1/x", "\"https://***@h:1/…\""),
            ("https://apikey:pw?1234@h", "\"https://***@h\""),
            ("https://h/a@b/pw-1234?c", "\"https://***@b/…\""),
        ] {
            let e = BaseUrl::parse(url).unwrap_err();
            assert!(!e.message.contains("pw-1234"), "{}", e.message);
            assert!(e.message.contains(shown), "{url}: {}", e.message);
        }
    }

    #[test]
    fn a_base_url_holding_the_key_is_refused_without_quoting_it() {
        let key = "k$y/9+Zq=";
        for url in [
            "https://k$y/9+Zq=@api.example.com",
            "https://apikey:k$y/9+Zq=@api.example.com",
            "https://api.example.com/k$y/9+Zq=",
            "https://api.example.com/?apikey=k$y/9+Zq=",
            "https://api.example.com/k%24y%2f9%2BZq%3d",
            "https://api.example.com/#k$y/9+Zq=",
            "http://api.example.com/k$y/9+Zq=",
            "https://api.example.com/a b/k$y/9+Zq=",
        ] {
            let options = Options {
                base_url: Some(url.to_owned()),
                ..Options::default()
            };
            let e = resolve_base_url(&options, key).unwrap_err();
            assert_eq!(e.status, super::super::error::Status::InvalidArgument);
            assert!(!contains_secret(&e.message, key), "{url}: {}", e.message);
            assert!(!e.message.contains("k$y"), "{url}: {}", e.message);
        }
        for (url, key) in [
            ("https://api.example.com/gcore", key),
            ("http://127.0.0.1:1234/api", "test-key"),
        ] {
            let options = Options {
                base_url: Some(url.to_owned()),
                ..Options::default()
            };
            assert_eq!(resolve_base_url(&options, key).unwrap().as_str(), url);
        }
    }

    #[test]
    fn debug_never_shows_what_a_base_url_may_hide() {
        let mut o = Options::default();
        o.set_base_url("https://api.example.com/k3y-in-path")
            .unwrap();
        o.base_url = Some("https://u:pw-1234@h/?k=k3y".to_owned());
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("pw-1234") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("https://***@h/…"), "{shown}");
    }

    #[test]
    fn keys() {
        assert!(check_api_key("123$abcdef").is_ok());
        assert!(check_api_key("").is_err());
        for bad in [
            "s3cr3t\r\nX-Evil: 1",
            "s3cr3t\tb",
            "s3cr3tключ",
            " s3cr3t",
            "s3cr3t ",
        ] {
            let e = check_api_key(bad).unwrap_err();
            assert!(!e.message.contains("s3cr3t"), "{}", e.message);
        }
    }

    #[test]
    fn option_bounds() {
        let mut o = Options::default();
        assert!(o.set_timeout(Duration::ZERO).is_err());
        assert!(o.set_max_retries(MAX_RETRIES_LIMIT + 1).is_err());
        assert!(o.set_base_url("http://example.com").is_err());
        assert_eq!(o, Options::default(), "a refused setting changes nothing");
        assert!(o
            .set_user_agent_suffix("gcdn-python/0.1.0 (CPython 3.11)")
            .is_ok());
        assert!(o.set_user_agent_suffix("x\r\ny").is_err());
    }
}
