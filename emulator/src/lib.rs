// The crate docs are the README: one description for Rust, C, Python and Go users.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod api;
mod cachekey;
mod control;
mod edge;
mod edgecache;
mod faults;
mod listings;
mod model;
mod replies;
#[cfg(feature = "testca")]
pub mod testca;
mod tls;
mod types;
mod wire;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use edge::EDGE_ID;
pub use edgecache::{CacheStatus, EdgeObject, EdgeRequest, MAX_EDGE_OBJECTS, MAX_EDGE_RECORDED};
pub use model::{
    messages, Endpoint, Limits, ListingFault, PurgeState, PurgeStatus, PurgeType, Refusal,
    Resource, RetryAfterMode, MAX_PREFETCH_PATHS, MAX_PURGE_RECORDS,
};
use types::Shared;
pub use types::{Config, Fault, FaultAction, Recorded, Tls, MAX_RECORDED};
use wire::lock;

/// A running emulator. Dropping it stops the server (and the edge), closes the connections
/// still open (without writing anything on them) and joins its threads.
pub struct Emulator {
    shared: Arc<Shared>,
    server: wire::Server,
    edge: Option<wire::Server>,
    addr: SocketAddr,
}

impl Emulator {
    /// Binds `127.0.0.1:config.port` and starts serving (HTTPS if `config.tls` is set;
    /// an unusable certificate or key is an [`io::ErrorKind::InvalidInput`] error), and the
    /// edge on `127.0.0.1:config.edge_port` (plain HTTP) if that is set.
    pub fn start(config: Config) -> io::Result<Emulator> {
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let addr = listener.local_addr()?;
        let base_url = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let edge_listener = config
            .edge_port
            .map(|port| TcpListener::bind(("127.0.0.1", port)))
            .transpose()?;
        let edge_url = edge_listener
            .as_ref()
            .map(|l| l.local_addr().map(|a| format!("http://{a}")))
            .transpose()?;
        let shared = Arc::new(Shared::new(config, base_url, edge_url));
        let router = Arc::new(Router(Arc::clone(&shared)));
        let server = wire::Server::start(listener, tls, router)?;
        let edge = edge_listener
            .map(|l| wire::Server::start(l, None, Arc::new(edge::EdgeRouter(Arc::clone(&shared)))))
            .transpose()?;
        Ok(Emulator {
            shared,
            server,
            edge,
            addr,
        })
    }

    /// The edge's address, `http://127.0.0.1:PORT` (`None` unless [`Config::edge_port`] was
    /// set): probes go there with the resource's host in `Host` (gcdn's `edges`).
    pub fn edge_url(&self) -> Option<String> {
        self.shared.edge_url.clone()
    }

    /// From now on, purges leave the edge's objects of these paths cached (`/a.js` matches
    /// that path with any query, or a key exactly; `/static/*` every path starting so):
    /// a URL that stays stale. Added to those given before.
    pub fn edge_ignore_purges(&self, paths: &[&str]) {
        let mut edge = self.shared.edge();
        edge.ignored.extend(paths.iter().map(|p| (*p).to_owned()));
    }

    /// Purges reach every path of the edge again.
    pub fn edge_clear_ignored(&self) {
        self.shared.edge().ignored.clear();
    }

    /// Caches `path_and_query` of resource `id` at the edge as of `at` (under the key the
    /// resource's options and rules make of it), as if it had been fetched then.
    pub fn edge_store(&self, id: i64, path_and_query: &str, at: SystemTime) {
        let account = self.shared.account();
        let key = match account.resources.get(&id) {
            Some(r) => cachekey::cache_key(&r.options, &r.rules, path_and_query),
            None => cachekey::cache_key(&serde_json::Value::Null, &[], path_and_query),
        };
        self.shared.edge().store(id, key, at);
    }

    /// Every object in the edge's cache, by resource then key.
    pub fn edge_objects(&self) -> Vec<EdgeObject> {
        self.shared.edge().objects()
    }

    /// Empties the edge's cache (the ignored paths stay).
    pub fn edge_clear_cache(&self) {
        self.shared.edge().clear();
    }

    /// Every request the edge received (the last [`MAX_EDGE_RECORDED`]), oldest first.
    pub fn edge_requests(&self) -> Vec<EdgeRequest> {
        self.shared.edge().requests.iter().cloned().collect()
    }

    /// Forgets the edge's recorded requests.
    pub fn clear_edge_requests(&self) {
        self.shared.edge().requests.clear();
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` in HTTPS mode (the certificate
    /// is for `localhost`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The accepted API key.
    pub fn api_key(&self) -> &str {
        &self.shared.initial.api_key
    }

    /// Adds or replaces a resource.
    pub fn add_resource(&self, r: Resource) {
        self.shared.account().resources.insert(r.id, r);
    }

    /// Removes a resource; returns it if it existed.
    pub fn remove_resource(&self, id: i64) -> Option<Resource> {
        self.shared.account().remove(id)
    }

    /// The resource `id`, as the API currently sees it (deleted ones included).
    pub fn resource(&self, id: i64) -> Option<Resource> {
        self.shared.account().resources.get(&id).cloned()
    }

    /// Every resource, by id.
    pub fn resources(&self) -> Vec<Resource> {
        self.shared.account().resources.values().cloned().collect()
    }

    /// Queues a fault behind those already queued.
    pub fn push_fault(&self, f: Fault) {
        lock(&self.shared.faults).push_back(f);
    }

    /// The faults still queued, in the order they are checked (each with the uses it has left).
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).iter().cloned().collect()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every API request received (control requests excluded), oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log().records.iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.log().clear();
    }

    /// The current limits.
    pub fn limits(&self) -> Limits {
        self.shared.account().limits.clone()
    }

    /// Replaces the limits. Requests already counted stay in their windows.
    pub fn set_limits(&self, l: Limits) {
        self.shared.account().limits = l;
    }

    /// Changes how `429` answers carry `Retry-After`.
    pub fn set_retry_after(&self, m: RetryAfterMode) {
        self.shared.account().retry_after = m;
    }

    /// Forgets every rate-limit window: the next purge of each type is accepted.
    pub fn clear_rate_limits(&self) {
        self.shared.account().clear_windows();
    }

    /// Every accepted purge (the last [`MAX_PURGE_RECORDS`]) with its status now, oldest first.
    pub fn purge_statuses(&self) -> Vec<PurgeStatus> {
        self.shared.account().purge_statuses()
    }

    /// How long purges accepted from now on stay `In progress` before their final status
    /// (default zero: final at once).
    pub fn set_purge_status_delay(&self, d: Duration) {
        self.shared.account().purge_delay = d;
    }

    /// The next `n` accepted purges end `Failed` (after the delay).
    pub fn fail_next_purges(&self, n: u32) {
        self.set_next_purge_states(n, PurgeState::Failed);
    }

    /// The next `n` accepted purges end in `state` (after the delay); `InProgress`: they
    /// never leave it. Queued behind earlier calls; it wins over
    /// [`Emulator::set_resource_purge_state`].
    pub fn set_next_purge_states(&self, n: u32, state: PurgeState) {
        if n > 0 {
            self.shared.account().next_ends.push_back((state, n));
        }
    }

    /// Every purge of resource `id` accepted from now on ends in `state` (`InProgress`:
    /// never leaves it); `None` restores `Successful`.
    pub fn set_resource_purge_state(&self, id: i64, state: Option<PurgeState>) {
        let mut account = self.shared.account();
        match state {
            Some(s) => account.resource_ends.insert(id, s),
            None => account.resource_ends.remove(&id),
        };
    }

    /// Makes a listing hostile ([`ListingFault::None`]: the real one again).
    pub fn set_listing_fault(&self, endpoint: Endpoint, fault: ListingFault) {
        self.shared.account().listing_faults.insert(endpoint, fault);
    }

    /// Back to the state right after start: seed resources only, no faults, no recorded
    /// requests, an empty edge (no objects, ignored paths or edge requests), empty rate windows, no purge records, no purge-state or listing switches,
    /// limits, `Retry-After` mode and purge-status delay from the start [`Config`].
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Logs one line per request (`METHOD path status`) to stderr. Off by default.
    pub fn set_logging(&self, on: bool) {
        self.shared.set_logging(on);
    }

    /// Turns recording of API requests on (the default) or off (long soak runs).
    pub fn set_recording(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.stop();
        if let Some(edge) = self.edge.as_mut() {
            edge.stop();
        }
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The wire layer's handler: control requests to `control`, the rest to `api`.
struct Router(Arc<Shared>);

impl wire::Handler for Router {
    fn handle(&self, rq: wire::Incoming, stop: &wire::Stop) -> wire::Answer {
        if !control::is_control(&rq.path) {
            return api::serve(&self.0, rq, stop);
        }
        let reply = control::handle(&self.0, &rq);
        self.0
            .log_line(|| format!("{} {} {}", rq.method, rq.path, reply.status));
        wire::Answer::Reply(reply)
    }

    fn log(&self, line: String) {
        self.0.log_line(|| line);
    }
}
