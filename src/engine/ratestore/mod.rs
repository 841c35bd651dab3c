//! Shared pacing on Redis: a [`SlotStore`] whose schedule lives in a Redis server, so every
//! client of every process (and host) that uses the same store and the same API key keeps to
//! one schedule per (resource, kind).
//!
//! - Keys never contain the API key: `gcdn:v1:<account-hash>:<resource>:<kind>`, the account
//!   hash being the hex of the first 16 bytes of SHA-256(`"gcdn-rate-store-v1\0"` + key)
//!   (SHA-256 from `ring`, already linked for TLS). Each key is one hash: field `t` holds the
//!   slot times that still constrain one (ms, ascending), field `i` beside each its ticket and
//!   phase (reserved, in flight under a lease, answered), `n` the last ticket, field `d` the
//!   "no slot before" time a 429 set.
//! - Each step is atomic on the server: a Lua script (EVALSHA; loaded on NOSCRIPT by
//!   `redis::Script`) runs the same rules as the in-process pacer on the server's own clock
//!   (`TIME`), so hosts with skewed clocks agree: take a slot; start its request (the window
//!   checked again over the requests that went out, at their real times: a slot's request
//!   may have to wait more); finish it when its answer came (counted then); release a slot
//!   never used. A request in flight counts as now until its answer, or until its lease (the
//!   request timeout and a second) ends: a killed process holds a window no longer. Keys
//!   expire when idle (2 × W + margin after their last slot or lease).
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
//! - `pacer_for`: the client's pacer from its options' store fields ([`StoreChoice`]). When Redis cannot be used the pacer
//!   paces that request in-process and tells the call's observer (`Note::StoreFallback`),
//!   which the log says once (`store_fallback`, warn) until the store works again (fail-open).
//!   Fail-closed (`Options::rate_store_fail_closed`): the request fails with
//!   `Status::Network`, naming the store, never its password.

use std::fmt;
use std::sync::Arc;

use super::coalesce::{Coalescer, InProcess};
#[cfg(feature = "rate-store")]
use super::error::quote;
use super::error::Error;
use super::pacer::Pacer;

#[cfg(feature = "rate-store")]
pub mod coalesce;
#[cfg(feature = "rate-store")]
mod redis_store;
mod url;
#[cfg(feature = "rate-store")]
mod wire;
#[cfg(feature = "rate-store")]
pub use redis_store::*;
pub use url::{checked_store_url, RedisUrl, DEFAULT_PORT};

pub use super::pacer::{margin, PaceKey, PaceKind, Slot, SlotStore, StoreError, Window};

/// The environment variable read when no rate store is set in the options.
pub const ENV_RATE_STORE: &str = "GCDN_RATE_STORE";

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What `pacer_for` reads of a client's options (`config::Options`' fields of the same
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
pub(crate) fn pacer_for(
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
