//! The edge's cache, without any I/O: objects by resource and cache key, the keys whose next
//! answer is `BYPASS`, the paths whose purges are ignored, and the requests the edge received.
//! Imports only [`cachekey`](crate::cachekey).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Instant, SystemTime};

use crate::cachekey::{path_of, purge_key};

/// At most this many objects are cached; when full, the one cached longest ago is forgotten.
pub const MAX_EDGE_OBJECTS: usize = 100_000;
/// At most this many edge requests are recorded (oldest forgotten first).
pub const MAX_EDGE_RECORDED: usize = 20_000;

/// The `Cache` header of an edge answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from the cache.
    Hit,
    /// Not in the cache (first request, or first after a purge by URL): fetched and cached.
    Miss,
    /// First request after a purge by pattern or purge-all: fetched and cached again.
    Bypass,
}

impl CacheStatus {
    /// `HIT`, `MISS`, `BYPASS`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

/// An object in the edge's cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeObject {
    /// The resource it belongs to.
    pub resource_id: i64,
    /// Its cache key: the path and the query parameters the resource keeps, sorted.
    pub key: String,
    /// When it was cached (`X-Cached-Since`).
    pub cached_since: SystemTime,
}

/// A request the edge received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRequest {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The `Host` header (empty if none).
    pub host: String,
    /// Path and query, as sent.
    pub path: String,
    /// Headers in the order received; names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Status answered.
    pub status: u16,
    /// The `Cache` header answered, if any.
    pub cache: Option<CacheStatus>,
    /// When the request had arrived.
    pub received: Instant,
}

impl EdgeRequest {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub(crate) struct EdgeCache {
    objects: HashMap<(i64, String), SystemTime>,
    bypass: HashSet<(i64, String)>,
    /// Paths (`/a`, or a prefix `/img/*`) whose purges leave their objects cached.
    pub ignored: Vec<String>,
    pub requests: VecDeque<EdgeRequest>,
}

impl EdgeCache {
    /// Answers a request for `key`: a `HIT` with its time, or a `MISS`/`BYPASS` that caches
    /// it at `now`.
    pub fn fetch(&mut self, id: i64, key: String, now: SystemTime) -> (CacheStatus, SystemTime) {
        let k = (id, key);
        if let Some(&at) = self.objects.get(&k) {
            return (CacheStatus::Hit, at);
        }
        let status = if self.bypass.remove(&k) {
            CacheStatus::Bypass
        } else {
            CacheStatus::Miss
        };
        self.store(k.0, k.1, now);
        (status, now)
    }

    /// Caches `key` as of `at` (prefetch, or the control API).
    pub fn store(&mut self, id: i64, key: String, at: SystemTime) {
        let k = (id, key);
        self.bypass.remove(&k);
        if self.objects.len() >= MAX_EDGE_OBJECTS && !self.objects.contains_key(&k) {
            let oldest = self
                .objects
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.objects.remove(&oldest);
            }
        }
        self.objects.insert(k, at);
    }

    fn is_ignored(&self, key: &str) -> bool {
        let path = path_of(key);
        self.ignored.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => p == key || p == path,
        })
    }

    /// A purge by URL: the objects whose keys the items name (parameter order aside) are
    /// dropped; their next answer is a `MISS`.
    pub fn purge_urls(&mut self, id: i64, items: &[String]) {
        for item in items {
            let key = purge_key(item);
            if !self.is_ignored(&key) {
                let k = (id, key);
                self.objects.remove(&k);
                self.bypass.remove(&k);
            }
        }
    }

    /// A purge by pattern (`patterns` non-empty: `/a` ≡ `/a*`, query ignored) or purge-all
    /// (empty): the matching objects are dropped; their next answer is a `BYPASS`.
    pub fn purge_patterns(&mut self, id: i64, patterns: &[String]) {
        let prefixes: Vec<&str> = patterns
            .iter()
            .map(|p| {
                let p = path_of(p);
                p.strip_suffix('*').unwrap_or(p)
            })
            .collect();
        let hit: Vec<(i64, String)> = self
            .objects
            .keys()
            .filter(|(rid, key)| {
                *rid == id
                    && (prefixes.is_empty() || prefixes.iter().any(|p| path_of(key).starts_with(p)))
                    && !self.is_ignored(key)
            })
            .cloned()
            .collect();
        for k in hit {
            self.objects.remove(&k);
            self.bypass.insert(k);
        }
    }

    /// Forgets every object (and every pending `BYPASS`).
    pub fn clear(&mut self) {
        self.objects.clear();
        self.bypass.clear();
    }

    /// Every cached object, by resource then key.
    pub fn objects(&self) -> Vec<EdgeObject> {
        let mut out: Vec<EdgeObject> = self
            .objects
            .iter()
            .map(|((id, key), at)| EdgeObject {
                resource_id: *id,
                key: key.clone(),
                cached_since: *at,
            })
            .collect();
        out.sort_by(|a, b| (a.resource_id, &a.key).cmp(&(b.resource_id, &b.key)));
        out
    }

    pub fn record(&mut self, r: EdgeRequest) {
        if self.requests.len() >= MAX_EDGE_RECORDED {
            self.requests.pop_front();
        }
        self.requests.push_back(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn miss_hit_and_purges() {
        let mut c = EdgeCache::default();
        assert_eq!(c.fetch(1, "/a?v=1".into(), t(10)).0, CacheStatus::Miss);
        assert_eq!(
            c.fetch(1, "/a?v=1".into(), t(20)),
            (CacheStatus::Hit, t(10))
        );
        // Another resource has its own objects.
        assert_eq!(c.fetch(2, "/a?v=1".into(), t(20)).0, CacheStatus::Miss);
        c.purge_urls(1, &["/a".into()]);
        assert_eq!(c.fetch(1, "/a?v=1".into(), t(30)).0, CacheStatus::Hit);
        c.purge_urls(1, &["/a?v=1".into()]);
        assert_eq!(c.fetch(1, "/a?v=1".into(), t(30)).0, CacheStatus::Miss);
        c.fetch(1, "/img/x.png".into(), t(30));
        c.fetch(1, "/imgs".into(), t(30));
        c.purge_patterns(1, &["/img/*".into()]);
        assert_eq!(
            c.fetch(1, "/img/x.png".into(), t(40)).0,
            CacheStatus::Bypass
        );
        assert_eq!(
            c.fetch(1, "/img/x.png".into(), t(50)),
            (CacheStatus::Hit, t(40))
        );
        assert_eq!(c.fetch(1, "/imgs".into(), t(40)).0, CacheStatus::Hit);
        c.purge_patterns(1, &[]);
        assert_eq!(c.fetch(1, "/imgs".into(), t(60)).0, CacheStatus::Bypass);
        assert_eq!(c.fetch(2, "/a?v=1".into(), t(60)).0, CacheStatus::Hit);
    }

    #[test]
    fn ignored_paths_survive_purges() {
        let mut c = EdgeCache {
            ignored: vec!["/keep.js".into(), "/static/*".into()],
            ..EdgeCache::default()
        };
        for k in ["/keep.js?v=1", "/static/a.css", "/gone.js"] {
            c.fetch(1, k.into(), t(1));
        }
        c.purge_urls(1, &["/keep.js?v=1".into(), "/gone.js".into()]);
        c.purge_patterns(1, &[]);
        let keys: Vec<String> = c.objects().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["/keep.js?v=1", "/static/a.css"]);
    }
}
