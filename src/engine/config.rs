//! Client settings, their defaults, and the checks that keep the API key safe.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::account::Intervals;
use super::error::{quote, Error, Result};
use super::ratestore::RedisUrl;

pub const DEFAULT_BASE_URL: &str = "https://api.gcore.com";
pub const ENV_API_KEY: &str = "GCORE_API_KEY";
pub const ENV_BASE_URL: &str = "GCORE_BASE_URL";

/// Settings a client is built from. Unset fields take the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `None`: `GCORE_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub base_url: Option<String>,
    /// One attempt: connect, send, and the whole response. Default 30 s.
    pub timeout: Duration,
    /// Retries after a 408, a 5xx, a connection failure or a timeout. Default 2.
    pub max_retries: u32,
    /// The most one request waits, in total, for rate limits (429) and for `Retry-After`
    /// before it gives up. Default 150 s: enough for a per-minute window to reopen twice.
    pub max_rate_limit_wait: Duration,
    /// How long to wait after a 429 that carries no `Retry-After`, for URL purges and for
    /// pattern purges and purge-all. `None` (the default): the account's own limits, read
    /// once from `GET /cdn/clients/me/limits` at the first such 429; if that fails, the
    /// documented 2 and 1 requests a minute (30 s and 60 s).
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
        }
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
    pub fn parse(url: &str) -> Result<BaseUrl> {
        let bad = |why: &str| Error::invalid(format!("base URL {}: {why}", quote(url, 200)));
        if url.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("contains spaces or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must start with https://"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad("the scheme must be https (or http to a loopback host)")),
        };
        if rest.contains(['?', '#']) {
            return Err(bad("must not have a query or a fragment"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(bad("must not carry user information"));
        }
        let host = host_of(authority).ok_or_else(|| bad("has no valid host"))?;
        if !secure && !is_loopback(host) {
            return Err(bad(
                "plain http:// is allowed only to a loopback host (127.0.0.0/8, ::1, localhost): \
                 the API key must not travel in clear; use https://",
            ));
        }
        ureq::http::Uri::try_from(url).map_err(|_| bad("is not a valid URL"))?;
        let path = path.trim_end_matches('/');
        Ok(BaseUrl(format!(
            "{}://{}{}",
            scheme.to_ascii_lowercase(),
            authority,
            path
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

/// The host of `host[:port]` or `[v6]:port`, if well formed.
fn host_of(authority: &str) -> Option<&str> {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let after = &v6[end + 1..];
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        &v6[..end]
    } else {
        authority.split(':').next()?
    };
    if let Some((_, port)) = authority.rsplit_once(']').map_or_else(
        || authority.split_once(':'),
        |(_, after)| after.split_once(':'),
    ) {
        if port.parse::<u16>().is_err() {
            return None;
        }
    }
    (!host.is_empty()).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
