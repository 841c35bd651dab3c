//! Shared pacing on Redis: a [`SlotStore`] whose schedule lives in a Redis server, so every
//! client of every process (and host) that uses the same store and the same API key keeps to
//! one schedule per (resource, kind).
//!
//! - Keys never contain the API key: `gcdn:v1:<account-hash>:<resource>:<kind>`, the account
//!   hash being the hex of the first 16 bytes of SHA-256(`"gcdn-rate-store-v1\0"` + key)
//!   (SHA-256 from `ring`, already linked for TLS). Each key is one hash: field `t` holds the
//!   last N reserved slot times (ms, ascending), field `d` the "no slot before" time a 429 set.
//! - Taking a slot is one atomic step on the server: a Lua script (EVALSHA; loaded on
//!   NOSCRIPT by `redis::Script`) runs the same window rule as the in-process pacer on the
//!   server's own clock (`TIME`), so hosts with skewed clocks agree. Keys expire when idle
//!   (2 × W + margin after their last slot).
//! - Bounded: connecting (TCP, TLS, AUTH and SELECT) may take `CONNECT_TIMEOUT`, each read
//!   and write `IO_TIMEOUT`, a whole take or defer `2 × IO_TIMEOUT`, and its replies
//!   `MAX_REPLY_BYTES`, however the server answers (`wire.rs`: the store's own connection, as
//!   the `redis` crate's bounds each read only, so a server that keeps streaming would be
//!   read and buffered without end); after a failure the store is not tried again for
//!   `RETRY_AFTER` (calls fail at once meanwhile), so a dead, slow or hostile Redis costs a
//!   purge at most `CONNECT_TIMEOUT + 2 × IO_TIMEOUT`. (These are in `redis_store.rs`,
//!   built with the cargo feature `rate-store`.)
//! - The password of the URL never appears in a message: `RedisStore::describe` is
//!   `redis://host:port/db`, and server words are redacted before they are quoted.
//! - [`pacer_for`]: the client's pacer from its options' store fields ([`StoreChoice`]). When Redis cannot be used the pacer
//!   paces that request in-process and tells the call's observer (`Note::StoreFallback`),
//!   which the log says once (`store_fallback`, warn) until the store works again (fail-open).
//!   Fail-closed (`Options::rate_store_fail_closed`): the request fails with
//!   `Status::Network`, naming the store, never its password.

use std::fmt;
use std::sync::Arc;

use super::coalesce::{Coalescer, InProcess};
use super::error::{quote, redact_url_password, Error};
use super::pacer::Pacer;

#[cfg(feature = "rate-store")]
pub mod coalesce;
#[cfg(feature = "rate-store")]
mod redis_store;
#[cfg(feature = "rate-store")]
mod wire;
#[cfg(feature = "rate-store")]
pub use redis_store::*;

pub use super::pacer::{margin, PaceKey, PaceKind, Slot, SlotStore, StoreError, Window};

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// ---------------------------------------------------------------------------------------
// The Redis URL
// ---------------------------------------------------------------------------------------

pub const DEFAULT_PORT: u16 = 6379;
/// The environment variable read when no rate store is set in the options.
pub const ENV_RATE_STORE: &str = "GCDN_RATE_STORE";

/// A checked `redis://[user[:password]@]host[:port][/db]` URL. Its `Debug` and `Display`
/// show no password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// `rediss://`: TLS, the server's certificate verified (bundled roots, or the client's
    /// CA file). Needs the cargo feature `rate-store-tls`.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub db: i64,
    pub username: Option<String>,
    password: Option<String>,
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}/{}", self.host, self.port, self.db)
        } else {
            write!(f, "{scheme}://{}:{}/{}", self.host, self.port, self.db)
        }
    }
}

/// `url` for a message about it, its password masked by the engine's
/// [`redact_url_password`]. That one reads any text, so it keeps user information without a
/// `:` (a user name) and ends a URL at a space or control character; a store URL is one
/// token whose user information may be a bare password (`redis://secret@host`, as some
/// clients read it) or hold spaces, so in those cases everything before the last `@` is
/// hidden.
fn shown_url(url: &str) -> String {
    let masked = redact_url_password(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return masked.into_owned();
    };
    match rest.rsplit_once('@') {
        Some((_, host))
            if !masked.contains(":***@")
                || url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            format!("{scheme}://***@{host}")
        }
        _ => masked.into_owned(),
    }
}

impl RedisUrl {
    /// Check a store URL. Messages quote it with its password replaced by `***`.
    ///
    /// Not `redis::IntoConnectionInfo`: that refuses `rediss://` unless redis's own TLS
    /// features are on (ours is the rustls of `wire.rs`), takes what this store must refuse
    /// (`?protocol=`, `#insecure`, `unix://`, a user without a password, any database number),
    /// says only "Redis URL did not parse" where this names the fault, and does not exist in
    /// builds without the `rate-store` feature, which check the URL too.
    pub fn parse(url: &str) -> Result<RedisUrl, StoreError> {
        let bad = |why: &str| StoreError {
            message: format!("rate store URL {}: {why}", quote(&shown_url(url), 200)),
        };
        if url.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("contains spaces or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must start with redis://"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "redis" => false,
            "rediss" if cfg!(feature = "rate-store-tls") => true,
            "rediss" => {
                return Err(bad(
                    "rediss:// (TLS) needs a libgcdn built with the cargo feature \
                     rate-store-tls; use redis:// on a trusted network or a TLS tunnel",
                ))
            }
            _ => return Err(bad("the scheme must be redis:// or rediss://")),
        };
        // The user information runs to the last `@` (a password may hold `/`, `?`, `#`).
        let (userinfo, after) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if after.contains(['?', '#']) {
            return Err(bad("must not have a query or a fragment"));
        }
        let end = after.find('/').unwrap_or(after.len());
        let (hostport, path) = after.split_at(end);
        let (mut username, mut password) = (None, None);
        if let Some(userinfo) = userinfo {
            let Some((user, pw)) = userinfo.split_once(':') else {
                return Err(bad(
                    "user information without a password (write redis://:password@host for a \
                     password alone, redis://user:password@host for an ACL user)",
                ));
            };
            let pw = Some(pw);
            let user = percent_decode(user).ok_or_else(|| bad("bad %-escape in the user name"))?;
            if !user.is_empty() {
                username = Some(user);
            }
            if let Some(pw) = pw {
                let pw = percent_decode(pw).ok_or_else(|| bad("bad %-escape in the password"))?;
                if !pw.is_empty() {
                    password = Some(pw);
                }
            }
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let close = v6.find(']').ok_or_else(|| bad("has no valid host"))?;
            let host = &v6[..close];
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("has no valid host"));
            }
            let after = &v6[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("has no valid host")),
            };
            (host.to_owned(), port)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            return Err(bad("has no valid host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        };
        let db = match path.trim_start_matches('/') {
            "" => 0,
            db => db
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=1_000_000).contains(d))
                .ok_or_else(|| bad("the path must be a database number, e.g. /0"))?,
        };
        Ok(RedisUrl {
            tls,
            host: host.to_ascii_lowercase(),
            port,
            db,
            username,
            password,
        })
    }

    /// Whether the URL carries a password.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }
}

/// A store URL checked for a client's options: [`RedisUrl::parse`], then refused if this
/// build cannot use it.
pub fn checked_store_url(url: &str) -> Result<RedisUrl, Error> {
    let parsed = RedisUrl::parse(url).map_err(|e| Error::invalid(e.message))?;
    if cfg!(feature = "rate-store") {
        Ok(parsed)
    } else {
        Err(Error::invalid(format!(
            "rate store {parsed}: this libgcdn was built without shared pacing (cargo feature \
             rate-store; `make build` turns it on)"
        )))
    }
}

/// What [`pacer_for`] reads of a client's options (`config::Options`' fields of the same
/// names): the store (the options', else `GCDN_RATE_STORE`), fail-open or fail-closed, and
/// the CA file a `rediss://` store is checked with.
#[derive(Clone, Copy, Debug)]
pub struct StoreChoice<'a> {
    pub rate_store: Option<&'a RedisUrl>,
    pub fail_closed: bool,
    pub ca_file: Option<&'a std::path::Path>,
}

/// The pacer a client gets from its options: over the options' rate store, else
/// `GCDN_RATE_STORE` (fail-open, or fail-closed as the options say); neither: in-process.
/// With `coalesce`, also its coalescer: through the same store across processes
/// ([`coalesce::Shared`]), else in-process. `api_key` is only hashed. Nothing is sent here
/// (the store connects at its first call).
pub fn pacer_for(
    options: StoreChoice<'_>,
    api_key: &str,
    coalesce: bool,
) -> Result<(Pacer, Option<Arc<dyn Coalescer>>), Error> {
    let in_process = || coalesce.then(|| Arc::new(InProcess::new()) as Arc<dyn Coalescer>);
    let url = match options.rate_store {
        Some(url) => url.clone(),
        None => match std::env::var(ENV_RATE_STORE) {
            Ok(v) if !v.trim().is_empty() => checked_store_url(v.trim())
                .map_err(|e| e.context(format!("from {ENV_RATE_STORE}")))?,
            _ => return Ok((Pacer::in_process(), in_process())),
        },
    };
    #[cfg(feature = "rate-store")]
    {
        let mut store =
            RedisStore::from_url(url, api_key).map_err(|e| Error::invalid(e.message))?;
        if store.url().tls {
            if let Some(path) = options.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    Error::invalid(format!(
                        "CA file {}: {e}",
                        quote(&path.to_string_lossy(), 200)
                    ))
                })?;
                store = store
                    .with_ca_pem(pem)
                    .map_err(|e| Error::invalid(e.message))?;
            }
        }
        let store = Arc::new(store);
        let coalescer = coalesce.then(|| {
            Arc::new(coalesce::Shared::new(store.clone(), options.fail_closed))
                as Arc<dyn Coalescer>
        });
        let store: Arc<dyn SlotStore> = store;
        let pacer = if options.fail_closed {
            Pacer::with_store_fail_closed(store)
        } else {
            Pacer::with_store(store)
        };
        Ok((pacer, coalescer))
    }
    #[cfg(not(feature = "rate-store"))]
    {
        let _ = (url, api_key);
        Ok((Pacer::in_process(), in_process()))
    }
}

/// `s` with its %-escapes decoded (percent-encoding's decoder); `None` when an escape is not
/// `%` and two hex digits (the decoder would keep it as it is) or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let well_formed = s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::Options;

    #[test]
    fn urls() {
        let u = RedisUrl::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("127.0.0.1", 6380, 2));
        assert!(!u.has_password());
        let u = RedisUrl::parse("REDIS://user:p%40ss%3Aw@Cache.Local").unwrap();
        assert_eq!(u.to_string(), "redis://cache.local:6379/0");
        assert_eq!(u.username.as_deref(), Some("user"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w"));
        assert!(!format!("{u:?}").contains("p@ss"));
        let u = RedisUrl::parse("redis://:pw-only@[::1]:7000/").unwrap();
        assert_eq!(u.to_string(), "redis://[::1]:7000/0");
        assert_eq!(u.password.as_deref(), Some("pw-only"));
        assert_eq!(u.username, None);
        for bad in [
            "",
            "127.0.0.1:6379",
            "http://h:1",
            "redis://",
            "redis://:s3cret-pw@",
            "redis://h:0",
            "redis://h:99999",
            "redis://h:port",
            "redis://h/db",
            "redis://h/-1",
            "redis://h/0?protocol=resp3",
            "redis://:s3cret-pw@h/0 x",
            "redis://u:s3cret-pw%zz@h",
            "redis://h\r\n",
            "redis://[::1",
            "redis://ho$t",
            "redis://:s3cret/pw@h:99999",
            "redis://u:s3cret?pw#x@h:1/x",
            "redis://s3cret-pw@h:0",
            "redis://s3cret-pw@h",
            "redis://u:s3cret pw@h",
            "redis://u:a@s3cret pw@h",
            "redis://s3cret\t@h",
        ] {
            let e = RedisUrl::parse(bad).unwrap_err();
            assert!(e.message.starts_with("rate store URL"), "{bad:?}: {e}");
            assert!(!e.message.contains("s3cret"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn bad_urls_are_shown_without_anything_that_may_be_a_password() {
        for (url, shown) in [
            ("redis://u:pw@h:0", "redis://u:***@h:0"),
            ("redis://secret@h:0", "redis://***@h:0"),
            ("redis://u:se cret@h", "redis://***@h"),
            ("redis://u:a@b c@h", "redis://***@h"),
            ("redis://u:a\tb@h", "redis://***@h"),
            ("redis://h:0", "redis://h:0"),
            ("h:0", "h:0"),
        ] {
            assert_eq!(shown_url(url), shown, "{url:?}");
        }
    }

    #[test]
    fn options_take_a_checked_url_only_when_built_for_it() {
        let mut o = Options::default();
        let r = o.set_rate_store("redis://:pw-5678@127.0.0.1:6379/1");
        if cfg!(feature = "rate-store") {
            r.unwrap();
            let shown = format!("{o:?}");
            assert!(shown.contains("redis://127.0.0.1:6379/1"), "{shown}");
            assert!(!shown.contains("pw-5678"), "{shown}");
        } else {
            let e = r.unwrap_err();
            assert!(e.message.contains("cargo feature rate-store"), "{e}");
            assert!(!e.message.contains("pw-5678"), "{e}");
            assert_eq!(o, Options::default());
        }
    }
}
