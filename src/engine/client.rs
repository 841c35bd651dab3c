//! The client: the five operations and the chunking of long lists. Requests, retries and
//! waits are `request.rs`'s; pacing `pacer.rs`'s; the account's limits `account.rs`'s.

use std::sync::Arc;
use std::time::Duration;

use ureq::http::Method;

use super::account::{Account, AccountLimits};
use super::call::{CallCtx, CallSettings};
use super::cancel::CancelToken;
use super::coalesce::{Coalescer, InProcess};
use super::config::{self, Options};
use super::error::{Error, Result, Status};
use super::http::{Transport, BODY_CAP};
use super::log::{self, Logger};
use super::note::Observer;
use super::pacer::{PaceKind, Pacer, SlotStore, Window};
use super::purge::{self, PurgeKind};
use super::request::{Api, Failed, Request, SentInfo};
use super::validate::{self, ItemKind};

/// URLs per purge request: the API's documented limit.
pub const URLS_PER_REQUEST: usize = super::account::DOCUMENTED_MAX_URLS;
/// Patterns per purge request: the API's documented limit.
pub const PATTERNS_PER_REQUEST: usize = super::account::DOCUMENTED_MAX_PATTERNS;

/// What `delete_resource` does besides the DELETE itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Send `PATCH {"active": false}` first: the API refuses to delete an active resource.
    pub deactivate_first: bool,
    /// A resource that does not exist counts as deleted.
    pub missing_ok: bool,
}

/// What [`Client::delete_resource_detailed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The resource did not exist (404) and `missing_ok` was set.
    pub missing: bool,
    /// The HTTP status of the last answer (`None` only when none came).
    pub http_status: Option<u16>,
}

/// A Gcore CDN API client. Cheap to clone; clones (and clients derived with
/// [`Client::with_call_timeout`] / [`Client::with_cancel`]) share one connection pool, one
/// pacer and one reading of the account's limits.
/// `Send + Sync`: any number of threads may call through one client at once.
#[derive(Clone)]
pub struct Client {
    api: Arc<Api>,
    /// The call settings of calls that do not give their own.
    defaults: CallSettings,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.api.base.as_str())
            .field("api_key", &"[REDACTED]")
            .field("call_timeout", &self.defaults.timeout)
            .field("cancellable", &self.defaults.cancel.is_some())
            .field("pacer", &self.api.pacer)
            .finish()
    }
}

/// The user agent every request carries.
pub fn user_agent(suffix: Option<&str>) -> String {
    let base = concat!("gcdn/", env!("CARGO_PKG_VERSION"));
    match suffix {
        Some(s) => format!("{base} {s}"),
        None => base.to_owned(),
    }
}

impl Client {
    /// A client for `api_key` (`None`: `GCORE_API_KEY`), with `options`; its pacing history
    /// lives in this process.
    pub fn new(api_key: Option<&str>, options: &Options) -> Result<Client> {
        Client::build(api_key, options, None)
    }

    /// A client whose pacer keeps its history in `store` (e.g. shared through Redis by every
    /// process of an account), falling back on an in-process history when the store fails.
    pub fn new_with_slot_store(
        api_key: Option<&str>,
        options: &Options,
        store: Arc<dyn SlotStore>,
    ) -> Result<Client> {
        Client::build(api_key, options, Some(Pacer::with_store(store)))
    }

    /// `pacer` `None`: the one `options` ask for (`ratestore::pacer_for`).
    fn build(api_key: Option<&str>, options: &Options, pacer: Option<Pacer>) -> Result<Client> {
        let env_key;
        let api_key = match api_key {
            Some(k) => k,
            None => {
                env_key =
                    zeroize::Zeroizing::new(std::env::var(config::ENV_API_KEY).map_err(|_| {
                        Error::invalid(format!(
                            "no API key given and {} is not set",
                            config::ENV_API_KEY
                        ))
                    })?);
                env_key.as_str()
            }
        };
        config::check_api_key(api_key)?;
        let (pacer, coalescer) = match pacer {
            Some(p) => (
                p,
                options
                    .coalesce
                    .then(|| Arc::new(InProcess::new()) as Arc<dyn Coalescer>),
            ),
            None => super::ratestore::pacer_for(
                super::ratestore::StoreChoice {
                    rate_store: options.rate_store.as_ref(),
                    fail_closed: options.rate_store_fail_closed,
                    ca_file: options.ca_file.as_deref(),
                },
                api_key,
                options.coalesce,
            )?,
        };
        let base = config::resolve_base_url(options, api_key)?;
        let transport = Transport::new(
            api_key,
            options.timeout,
            &user_agent(options.user_agent_suffix.as_deref()),
            options.ca_file.as_deref(),
            base.is_https(),
        )?;
        Ok(Client {
            api: Arc::new(Api {
                transport,
                base,
                max_retries: options.max_retries,
                wait_budget: options.max_rate_limit_wait,
                purge_intervals: options.purge_intervals,
                account: Account::new(),
                pacer,
                api_key: zeroize::Zeroizing::new(api_key.to_owned()),
                logger: Logger::for_client(options.log.as_ref(), api_key)?.map(Arc::new),
                ca_file: options.ca_file.clone(),
                user_agent: user_agent(options.user_agent_suffix.as_deref()),
                coalescer,
            }),
            defaults: CallSettings::default(),
        })
    }

    /// A client sharing this one's connections, pacer and settings whose every call ends,
    /// with [`Status::Timeout`] or the last error seen, once `limit` has passed since it began.
    pub fn with_call_timeout(&self, limit: Duration) -> Client {
        let mut derived = self.clone();
        derived.defaults.timeout = Some(limit);
        derived
    }

    /// A client sharing this one's connections, pacer and settings (call timeout included)
    /// whose calls stop with [`Status::Cancelled`] once `token` is fired: at once during a
    /// wait (backoff, rate limit, pacer), else before the next attempt. An attempt in flight
    /// is not cut.
    pub fn with_cancel(&self, token: Arc<CancelToken>) -> Client {
        let mut derived = self.clone();
        derived.defaults.cancel = Some(token);
        derived
    }

    pub fn base_url(&self) -> &str {
        self.api.base.as_str()
    }

    /// Purge the cached copies of `urls` (paths such as `/img/a.jpg?v=2`). Repeats are sent
    /// once; lists longer than the API takes go in requests of 100, one after another, each
    /// in its slot of the client's pacer.
    pub fn purge_urls<S: AsRef<str>>(&self, resource_id: i64, urls: &[S]) -> Result<()> {
        self.purge_urls_with(resource_id, urls, &CallSettings::default())
    }

    /// [`Client::purge_urls`] with this call's own settings.
    pub fn purge_urls_with<S: AsRef<str>>(
        &self,
        resource_id: i64,
        urls: &[S],
        settings: &CallSettings,
    ) -> Result<()> {
        validate::resource_id(resource_id)?;
        let urls = validate::unique_items(ItemKind::Url, urls).map_err(|e| self.redacted(e))?;
        purge::send_call(
            self,
            &self.context(settings, None),
            resource_id,
            PurgeKind::Urls,
            &urls,
        )
    }

    /// Purge everything under each pattern (`/images/*`; `*` only at the end). Repeats are
    /// sent once; lists go in requests of 10, one after another.
    pub fn purge_patterns<S: AsRef<str>>(&self, resource_id: i64, patterns: &[S]) -> Result<()> {
        self.purge_patterns_with(resource_id, patterns, &CallSettings::default())
    }

    /// [`Client::purge_patterns`] with this call's own settings.
    pub fn purge_patterns_with<S: AsRef<str>>(
        &self,
        resource_id: i64,
        patterns: &[S],
        settings: &CallSettings,
    ) -> Result<()> {
        validate::resource_id(resource_id)?;
        let patterns =
            validate::unique_items(ItemKind::Pattern, patterns).map_err(|e| self.redacted(e))?;
        let ctx = self.context(settings, None);
        purge::send_call(self, &ctx, resource_id, PurgeKind::Patterns, &patterns)
    }

    /// Purge the resource's whole cache: `{"paths": []}`.
    pub fn purge_all(&self, resource_id: i64) -> Result<()> {
        self.purge_all_with(resource_id, &CallSettings::default())
    }

    /// [`Client::purge_all`] with this call's own settings.
    pub fn purge_all_with(&self, resource_id: i64, settings: &CallSettings) -> Result<()> {
        validate::resource_id(resource_id)?;
        let ctx = self.context(settings, None);
        purge::send_call(self, &ctx, resource_id, PurgeKind::All, &[])
    }

    /// `PATCH {"active": false}`: stop serving content, as deletion requires.
    pub fn deactivate_resource(&self, resource_id: i64) -> Result<()> {
        self.deactivate_resource_with(resource_id, &CallSettings::default())
    }

    /// [`Client::deactivate_resource`] with this call's own settings.
    pub fn deactivate_resource_with(
        &self,
        resource_id: i64,
        settings: &CallSettings,
    ) -> Result<()> {
        validate::resource_id(resource_id)?;
        self.deactivate(&self.context(settings, None), resource_id)
            .map_err(|f| {
                f.error
                    .context(format!("deactivate resource {resource_id}"))
            })
    }

    /// `DELETE` the resource, first deactivating it if asked to.
    pub fn delete_resource(&self, resource_id: i64, options: DeleteOptions) -> Result<()> {
        self.delete_resource_with(resource_id, options, &CallSettings::default())
    }

    /// [`Client::delete_resource`] with this call's own settings.
    pub fn delete_resource_with(
        &self,
        resource_id: i64,
        options: DeleteOptions,
        settings: &CallSettings,
    ) -> Result<()> {
        self.delete_resource_detailed(resource_id, options, settings)
            .map(drop)
            .map_err(|f| f.error)
    }

    /// [`Client::delete_resource_with`], telling what happened (for callers that report each
    /// step, as the CLI's `delete --json` does): on success whether the resource was found
    /// missing (`missing_ok`) and the last HTTP status; on failure the request's
    /// [`Failed`] (its `http_status` too), its message prefixed as `delete_resource`'s is.
    pub fn delete_resource_detailed(
        &self,
        resource_id: i64,
        options: DeleteOptions,
        settings: &CallSettings,
    ) -> std::result::Result<Deleted, Failed> {
        validate::resource_id(resource_id).map_err(|error| Failed {
            error,
            earlier_attempt_uncertain: false,
            attempts: 0,
            http_status: None,
            rate_limited: 0,
        })?;
        let ctx = self.context(settings, None);
        let missing = |f: &Failed| Deleted {
            missing: true,
            http_status: f.http_status,
        };
        if options.deactivate_first {
            match self.deactivate(&ctx, resource_id) {
                Ok(()) => {}
                Err(f) if f.error.status == Status::NotFound && options.missing_ok => {
                    return Ok(missing(&f))
                }
                Err(mut f) => {
                    f.error = f.error.context(format!(
                        "delete resource {resource_id}: deactivating it first failed"
                    ));
                    return Err(f);
                }
            }
        }
        let url = self.resource_url(resource_id, "");
        match self.api.request(&ctx, &unpaced(Method::DELETE, &url, None)) {
            Ok(sent) => Ok(Deleted {
                missing: false,
                http_status: Some(sent.info.http_status),
            }),
            Err(f) if f.error.status == Status::NotFound && options.missing_ok => Ok(missing(&f)),
            // DELETE is idempotent: when an earlier attempt may have been carried out and the
            // retry finds nothing, the resource is deleted, which is what was asked.
            Err(f) if f.error.status == Status::NotFound && f.earlier_attempt_uncertain => {
                Ok(Deleted {
                    missing: false,
                    http_status: f.http_status,
                })
            }
            Err(mut f) => {
                f.error = f.error.context(format!("delete resource {resource_id}"));
                Err(f)
            }
        }
    }

    fn deactivate(&self, ctx: &CallCtx, resource_id: i64) -> std::result::Result<(), Failed> {
        let url = self.resource_url(resource_id, "");
        let body: &[u8] = br#"{"active":false}"#;
        self.api
            .request(ctx, &unpaced(Method::PATCH, &url, Some(body)))
            .map(drop)
    }

    /// A context for one call (or job run) beginning now: `settings` over the client's own
    /// (from `with_call_timeout` / `with_cancel`), the client's wait budget, and `observer`
    /// (the client's logger, if any, is told every note as well).
    pub(crate) fn context(&self, settings: &CallSettings, observer: Option<Observer>) -> CallCtx {
        let observer = log::with_logger(self.api.logger.as_ref(), observer);
        CallCtx::new(&settings.or(&self.defaults), self.api.wait_budget, observer)
    }

    /// `error` without the key (in any form) or any URL password.
    fn redacted(&self, error: Error) -> Error {
        error.redacted(&self.api.api_key)
    }

    /// For [`purge::send`] alone (the one purge path): send the purge request `body`
    /// (`{"urls": [...]}`, `{"paths": [...]}` or `{"paths": []}`) on `resource_id`, in its
    /// slot of the client's pacer under `kind`'s limit, retried as any purge is. Nothing is
    /// validated here.
    #[cfg(test)]
    pub(crate) fn send_purge(
        &self,
        ctx: &CallCtx,
        resource_id: i64,
        kind: PaceKind,
        body: &[u8],
    ) -> std::result::Result<SentInfo, Failed> {
        self.send_purge_slotted(ctx, resource_id, kind, body, None)
    }

    /// [`Client::send_purge`]; `slotted`: the caller waited for the first attempt's slot
    /// already ([`Client::wait_purge_slot`]), taken under this limit.
    pub(crate) fn send_purge_slotted(
        &self,
        ctx: &CallCtx,
        resource_id: i64,
        kind: PaceKind,
        body: &[u8],
        slotted: Option<Window>,
    ) -> std::result::Result<SentInfo, Failed> {
        let url = self.resource_url(resource_id, "/purge");
        self.api.purge(ctx, &url, resource_id, kind, body, slotted)
    }

    /// For the coalescer: reserve the next slot in the client's pacer on `resource_id` under
    /// `kind`'s limit and wait for it (within the call's budget and deadline, refused at once
    /// when it opens too late); `on_slot` is told the slot before the wait.
    pub(crate) fn wait_purge_slot(
        &self,
        ctx: &CallCtx,
        resource_id: i64,
        kind: PaceKind,
        on_slot: &dyn Fn(super::pacer::Slot),
    ) -> Result<Window> {
        self.api
            .wait_slot(ctx, super::pacer::PaceKey { resource_id, kind }, on_slot)
    }

    /// How long one attempt of a request may take (the client's timeout).
    #[cfg(feature = "rate-store")]
    pub(crate) fn request_timeout(&self) -> std::time::Duration {
        self.api.transport.timeout()
    }

    /// The client's coalescer (`None`: coalescing is off; each call's items go in requests of
    /// their own).
    pub(crate) fn coalescer(&self) -> Option<&Arc<dyn Coalescer>> {
        self.api.coalescer.as_ref()
    }

    /// The most items one request of `kind` may carry: the account's limit when it is known,
    /// else the documented one.
    pub(crate) fn per_request(&self, kind: PurgeKind) -> usize {
        let limits = self.api.account.known();
        match kind {
            PurgeKind::Urls => limits.map_or(URLS_PER_REQUEST, |l| l.max_urls),
            PurgeKind::Patterns => limits.map_or(PATTERNS_PER_REQUEST, |l| l.max_patterns),
            PurgeKind::All => 0,
        }
        .max(1)
    }

    /// A prefetch request (`{"paths": [...]}`) on `resource_id`, in its slot of the client's
    /// pacer under the prefetch limit, retried as any purge is.
    pub(crate) fn send_prefetch(
        &self,
        ctx: &CallCtx,
        resource_id: i64,
        body: &[u8],
    ) -> std::result::Result<SentInfo, Failed> {
        let url = self.resource_url(resource_id, "/prefetch");
        self.api
            .purge(ctx, &url, resource_id, PaceKind::Prefetch, body, None)
    }

    /// What edge probes connect with: the client's CA file and user agent, never its key.
    pub(crate) fn prober(
        &self,
        timeout: std::time::Duration,
    ) -> Result<super::job::verify::Prober> {
        super::job::verify::Prober::new(self.api.ca_file.as_deref(), &self.api.user_agent, timeout)
    }

    /// For the job runner's listings: `GET <base><path_and_query>`, retried like any GET, not
    /// paced; the body, or [`Status::Protocol`] when it is longer than `cap` bytes.
    pub(crate) fn get(&self, ctx: &CallCtx, path_and_query: &str, cap: usize) -> Result<Vec<u8>> {
        self.api
            .get(ctx, path_and_query, cap)
            .map_err(|f| f.error.context(format!("GET {path_and_query}")))
    }

    /// The account's limits (rates and batch limits), read when first needed; the documented
    /// ones when they cannot be read (`from_account: false`).
    pub(crate) fn account_limits(&self, ctx: &CallCtx) -> AccountLimits {
        self.api.limits(ctx)
    }

    /// The limit the pacer keeps to for `kind`: the caller's `purge_intervals`, else the
    /// account's limits, else the documented ones.
    pub(crate) fn window(&self, ctx: &CallCtx, kind: PaceKind) -> Window {
        self.api.window(ctx, kind)
    }

    /// The client's pacer (shared by its clones and derived clients).
    #[cfg(test)]
    pub(crate) fn pacer(&self) -> &Pacer {
        &self.api.pacer
    }

    /// `<base>/cdn/resources/<id><suffix>`, in one allocation sized up front. `write!` of the
    /// id into it measures within a few ns of hand-built digits (about 33 against 30 ns per
    /// URL, -O3), and `format!` of the whole (about 115 ns) is what it replaced.
    fn resource_url(&self, resource_id: i64, suffix: &str) -> String {
        use std::fmt::Write;
        let base = self.api.base.as_str();
        // "/cdn/resources/" and at most 20 characters of an i64.
        let mut url = String::with_capacity(base.len() + 15 + 20 + suffix.len());
        url.push_str(base);
        url.push_str("/cdn/resources/");
        write!(url, "{resource_id}").expect("writing to a String cannot fail");
        url.push_str(suffix);
        url
    }
}

/// An API request that is not a purge: not paced; a 429 on it is backed off.
fn unpaced<'a>(method: Method, url: &'a str, body: Option<&'a [u8]>) -> Request<'a> {
    Request {
        method,
        url,
        body,
        cap: BODY_CAP,
        pace: None,
        slotted: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = Client::new(Some("secret-key-123"), &Options::default()).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-key-123"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn validation_fails_before_anything_is_sent() {
        // Port 9 on loopback: nothing listens, so any request would fail as a network error,
        // not as the invalid argument asserted here.
        let mut o = Options::default();
        o.set_base_url("http://127.0.0.1:9").unwrap();
        let c = Client::new(Some("k"), &o).unwrap();
        let empty: [&str; 0] = [];
        for e in [
            c.purge_urls(1, &empty).unwrap_err(),
            c.purge_urls(0, &["/a"]).unwrap_err(),
            c.purge_urls(1, &["/a", "b"]).unwrap_err(),
            c.purge_patterns(1, &["/a*b"]).unwrap_err(),
            c.purge_all(-1).unwrap_err(),
            c.delete_resource(0, DeleteOptions::default()).unwrap_err(),
            c.deactivate_resource(0).unwrap_err(),
        ] {
            assert_eq!(e.status, Status::InvalidArgument, "{}", e.message);
        }
    }

    #[test]
    fn resource_urls() {
        let mut o = Options::default();
        o.set_base_url("https://api.example.com/prefix").unwrap();
        let c = Client::new(Some("k"), &o).unwrap();
        for (id, suffix, url) in [
            (1, "", "https://api.example.com/prefix/cdn/resources/1"),
            (
                90,
                "/purge",
                "https://api.example.com/prefix/cdn/resources/90/purge",
            ),
            (
                i64::MAX,
                "",
                "https://api.example.com/prefix/cdn/resources/9223372036854775807",
            ),
            (-7, "", "https://api.example.com/prefix/cdn/resources/-7"),
            (
                i64::MIN,
                "",
                "https://api.example.com/prefix/cdn/resources/-9223372036854775808",
            ),
        ] {
            assert_eq!(c.resource_url(id, suffix), url);
            assert_eq!(
                c.resource_url(id, suffix),
                format!("https://api.example.com/prefix/cdn/resources/{id}{suffix}")
            );
        }
    }

    #[test]
    fn user_agent_names_the_version_and_the_binding() {
        assert_eq!(
            user_agent(None),
            concat!("gcdn/", env!("CARGO_PKG_VERSION"))
        );
        assert!(user_agent(Some("gcdn-go/0.1.0")).ends_with(" gcdn-go/0.1.0"));
    }
}

/// The job runner's entry points and the observer, against the emulator.
#[cfg(test)]
mod job_api_tests {
    use super::*;
    use crate::engine::note::{Note, WaitReason};
    use gcdn_emulator::{Config, Emulator, Fault};
    use std::sync::Mutex;

    fn setup() -> (Emulator, Client) {
        let emu = Emulator::start(Config {
            seed_resources: vec![5],
            ..Config::default()
        })
        .unwrap();
        emu.set_logging(false);
        let mut o = Options::default();
        o.set_base_url(&emu.base_url()).unwrap();
        o.max_rate_limit_wait = Duration::from_secs(5);
        let c = Client::new(Some(emu.api_key()), &o).unwrap();
        (emu, c)
    }

    /// Every note, as text.
    fn recorder() -> (Observer, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let observer: Observer = {
            let seen = Arc::clone(&seen);
            Arc::new(move |n: &Note<'_>| seen.lock().unwrap().push(format!("{n:?}")))
        };
        (observer, seen)
    }

    #[test]
    fn send_purge_reports_attempts_and_429s_and_tells_the_observer() {
        let (emu, c) = setup();
        emu.push_fault(
            Fault::respond(429, r#"{"errors": ["Too many requests"]}"#)
                .with_header("Retry-After", "0")
                .on("POST", "/cdn/resources/5/purge"),
        );
        emu.push_fault(
            Fault::respond(200, r#"{"purge_by_urls_request_limit": "1/w"}"#)
                .on("GET", "/cdn/clients/me/limits"),
        );
        let (observer, seen) = recorder();
        let ctx = c.context(&CallSettings::default(), Some(observer));
        let sent = c
            .send_purge(&ctx, 5, PaceKind::Urls, br#"{"urls":["/a"]}"#)
            .unwrap();
        assert_eq!(
            sent,
            SentInfo {
                attempts: 2,
                http_status: 201,
                rate_limited: 1
            }
        );
        let seen = seen.lock().unwrap().join("\n");
        for expected in [
            r#"Attempt { method: "POST", path: "/cdn/resources/5/purge", attempt: 1, status: Some(429)"#,
            "RateLimited { resource_id: Some(5), kind: Some(Urls), retry_after: Some(0ns) }",
            r#"Retry { method: "POST", path: "/cdn/resources/5/purge", attempt: 1, error: "HTTP 429: Too many requests" }"#,
            "LimitsRead { from_account: true, message: \"read the account's limits: URL purges 2/60 s",
            "LimitsReplaced { resource_id: None, kind: None, message: \"the account's purge_by_urls_request_limit \\\"1/w\\\" is slower than 1 request a day: using the documented 2/60 s\" }",
            "Wait { resource_id: Some(5), kind: Some(Urls), wait: ",
            "why: RetryAfter }",
            r#"Attempt { method: "POST", path: "/cdn/resources/5/purge", attempt: 2, status: Some(201)"#,
        ] {
            assert!(seen.contains(expected), "{expected}\nnot in\n{seen}");
        }
        // The next one is two requests into a 2/60 s window: past the 5 s budget, refused
        // at once with nothing sent.
        let f = c
            .send_purge(&ctx, 5, PaceKind::Urls, br#"{"urls":["/b"]}"#)
            .unwrap_err();
        assert_eq!(f.error.status, Status::RateLimited, "{}", f.error);
        assert_eq!((f.attempts, f.http_status, f.rate_limited), (0, None, 0));
        assert!(f.error.message.contains("nothing was sent"), "{}", f.error);
        let limits = c.account_limits(&ctx);
        assert!(limits.from_account);
        assert_eq!(limits.urls, Window::documented(PaceKind::Urls));
        assert_eq!(
            c.window(&ctx, PaceKind::Patterns).per,
            Duration::from_secs(60)
        );
        assert_eq!(c.pacer().describe(), "in-process");
        let _ = WaitReason::Pacer;
    }

    #[test]
    fn get_reads_listings_within_their_cap() {
        let (emu, c) = setup();
        let ctx = c.context(&CallSettings::default(), None);
        let body = c.get(&ctx, "/cdn/resources/5", 100_000).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], 5);
        // Retried like any GET.
        emu.push_fault(Fault::respond(503, "").on("GET", "/cdn/resources/5"));
        assert!(c.get(&ctx, "/cdn/resources/5", 100_000).is_ok());
        let e = c.get(&ctx, "/cdn/resources/5", 10).unwrap_err();
        assert_eq!(e.status, Status::Protocol, "{e}");
        assert!(e.message.contains("longer than 10 bytes"), "{e}");
        let e = c.get(&ctx, "/cdn/resources/77", 100_000).unwrap_err();
        assert_eq!(e.status, Status::NotFound, "{e}");
    }
}
