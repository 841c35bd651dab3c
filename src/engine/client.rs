//! The client: the five operations, chunking of long lists, and the retry loop.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use ureq::http::Method;

use super::api_error;
use super::cancel::CancelToken;
use super::config::{self, BaseUrl, Options};
use super::error::{quote, redact, Error, Result, Status};
use super::http::{Fault, Reply, Transport};
use super::limits::{self, Intervals};
use super::retry::{self, Decision, FailureClass, Policy, RetryState};
use super::validate::{self, ItemKind};

/// How many times one client tries to read the account's limits before it settles for the
/// documented ones.
const LIMITS_TRIES: u32 = 3;

/// URLs per purge request: the API's documented limit.
pub const URLS_PER_REQUEST: usize = 100;
/// Patterns per purge request: the API's documented limit.
pub const PATTERNS_PER_REQUEST: usize = 10;

/// What `delete_resource` does besides the DELETE itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Send `PATCH {"active": false}` first: the API refuses to delete an active resource.
    pub deactivate_first: bool,
    /// A resource that does not exist counts as deleted.
    pub missing_ok: bool,
}

/// A Gcore CDN API client. Cheap to clone; clones share one connection pool.
/// `Send + Sync`: any number of threads may call through one client at once.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    /// Limit on a whole call (attempts, backoff and waits), if any.
    call_timeout: Option<Duration>,
    /// Fired from another thread to stop calls at their next wait or attempt.
    cancel: Option<Arc<CancelToken>>,
}

struct Shared {
    transport: Transport,
    base: BaseUrl,
    max_retries: u32,
    wait_budget: Duration,
    /// Set by the caller, if at all.
    purge_intervals: Option<Intervals>,
    /// Read from the account's limits at the first 429 that needed them.
    learned_intervals: OnceLock<Intervals>,
    /// A thread is reading the account's limits: the others use the documented ones.
    limits_fetching: AtomicBool,
    /// Tries at reading them so far; after [`LIMITS_TRIES`] failures the client stops asking.
    limits_tries: AtomicU32,
    /// To redact from any message, however it got there. Wiped on drop.
    api_key: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.shared.base.as_str())
            .field("api_key", &"[REDACTED]")
            .field("call_timeout", &self.call_timeout)
            .field("cancellable", &self.cancel.is_some())
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

/// The parts of one API call that the retry loop and the messages need.
struct Call<'a> {
    method: Method,
    url: &'a str,
    body: Option<&'a [u8]>,
    /// Which rate limit the request counts against.
    rate: RateKind,
    /// The call's deadline, if it has a call timeout.
    deadline: Option<Instant>,
}

/// The rate limit a request counts against: it decides the wait after a bare 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RateKind {
    UrlPurge,
    /// Purges by pattern and purge-all.
    PatternPurge,
    /// No documented limit: a 429 is waited out like a server error.
    Other,
}

/// A request that succeeded.
struct Sent {
    /// Whether it met a 429 on the way: the rate window was full.
    rate_limited: bool,
}

/// Why a pause ended early.
enum Interrupted {
    Cancelled,
    /// The wait would run past the call's deadline.
    Deadline,
}

/// A request that failed for good.
struct Failed {
    error: Error,
    /// An earlier attempt may have reached the server and been carried out: it failed in
    /// transit, after the request could have been sent.
    earlier_attempt_uncertain: bool,
}

#[derive(Serialize)]
struct UrlsBody<'a> {
    urls: &'a [&'a str],
}

#[derive(Serialize)]
struct PathsBody<'a> {
    paths: &'a [&'a str],
}

impl Client {
    /// A client for `api_key` (`None`: `GCORE_API_KEY`), with `options`.
    pub fn new(api_key: Option<&str>, options: &Options) -> Result<Client> {
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
        let base = config::resolve_base_url(options, api_key)?;
        let transport = Transport::new(
            api_key,
            options.timeout,
            &user_agent(options.user_agent_suffix.as_deref()),
            options.ca_file.as_deref(),
            base.is_https(),
        )?;
        Ok(Client {
            shared: Arc::new(Shared {
                transport,
                base,
                max_retries: options.max_retries,
                wait_budget: options.max_rate_limit_wait,
                purge_intervals: options.purge_intervals,
                learned_intervals: OnceLock::new(),
                limits_fetching: AtomicBool::new(false),
                limits_tries: AtomicU32::new(0),
                api_key: zeroize::Zeroizing::new(api_key.to_owned()),
            }),
            call_timeout: None,
            cancel: None,
        })
    }

    /// A client sharing this one's connections and settings whose every call ends, with
    /// [`Status::Timeout`] or the last error seen, once `limit` has passed since it began.
    pub fn with_call_timeout(&self, limit: Duration) -> Client {
        Client {
            call_timeout: Some(limit),
            ..self.clone()
        }
    }

    /// A client sharing this one's connections and settings (call timeout included) whose
    /// calls stop with [`Status::Cancelled`] once `token` is fired: at once during a wait
    /// (backoff, rate limit), else before the next attempt. An attempt in flight is not cut.
    pub fn with_cancel(&self, token: Arc<CancelToken>) -> Client {
        Client {
            cancel: Some(token),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        self.shared.base.as_str()
    }

    /// Purge the cached copies of `urls` (paths such as `/img/a.jpg?v=2`). Repeats are sent
    /// once; lists longer than the API takes go in requests of 100, one after another.
    pub fn purge_urls<S: AsRef<str>>(&self, resource_id: i64, urls: &[S]) -> Result<()> {
        validate::resource_id(resource_id)?;
        let urls = validate::unique_items(ItemKind::Url, urls).map_err(|e| self.redacted(e))?;
        self.purge_in_chunks(resource_id, ItemKind::Url, &urls)
    }

    /// Purge everything under each pattern (`/images/*`; `*` only at the end). Repeats are
    /// sent once; lists go in requests of 10, one after another.
    pub fn purge_patterns<S: AsRef<str>>(&self, resource_id: i64, patterns: &[S]) -> Result<()> {
        validate::resource_id(resource_id)?;
        let patterns =
            validate::unique_items(ItemKind::Pattern, patterns).map_err(|e| self.redacted(e))?;
        self.purge_in_chunks(resource_id, ItemKind::Pattern, &patterns)
    }

    /// Purge the resource's whole cache: `{"paths": []}`.
    pub fn purge_all(&self, resource_id: i64) -> Result<()> {
        validate::resource_id(resource_id)?;
        let body = serde_json::to_vec(&PathsBody { paths: &[] }).expect("static JSON");
        self.request(Call {
            method: Method::POST,
            url: &self.resource_url(resource_id, "/purge"),
            body: Some(&body),
            rate: RateKind::PatternPurge,
            deadline: self.deadline(),
        })
        .map(drop)
        .map_err(|f| {
            f.error
                .context(format!("purge all of resource {resource_id}"))
        })
    }

    /// `PATCH {"active": false}`: stop serving content, as deletion requires.
    pub fn deactivate_resource(&self, resource_id: i64) -> Result<()> {
        validate::resource_id(resource_id)?;
        self.deactivate(resource_id, self.deadline()).map_err(|f| {
            f.error
                .context(format!("deactivate resource {resource_id}"))
        })
    }

    /// `DELETE` the resource, first deactivating it if asked to.
    pub fn delete_resource(&self, resource_id: i64, options: DeleteOptions) -> Result<()> {
        validate::resource_id(resource_id)?;
        let deadline = self.deadline();
        let gone = |f: &Failed| {
            f.error.status == Status::NotFound
                && (options.missing_ok || f.earlier_attempt_uncertain)
        };
        if options.deactivate_first {
            match self.deactivate(resource_id, deadline) {
                Ok(()) => {}
                Err(f) if f.error.status == Status::NotFound && options.missing_ok => return Ok(()),
                Err(f) => {
                    return Err(f.error.context(format!(
                        "delete resource {resource_id}: deactivating it first failed"
                    )))
                }
            }
        }
        match self.request(Call {
            method: Method::DELETE,
            url: &self.resource_url(resource_id, ""),
            body: None,
            rate: RateKind::Other,
            deadline,
        }) {
            Ok(_) => Ok(()),
            // DELETE is idempotent: when an earlier attempt may have been carried out and the
            // retry finds nothing, the resource is deleted, which is what was asked.
            Err(f) if gone(&f) => Ok(()),
            Err(f) => Err(f.error.context(format!("delete resource {resource_id}"))),
        }
    }

    fn deactivate(
        &self,
        resource_id: i64,
        deadline: Option<Instant>,
    ) -> std::result::Result<(), Failed> {
        self.request(Call {
            method: Method::PATCH,
            url: &self.resource_url(resource_id, ""),
            body: Some(br#"{"active":false}"#),
            rate: RateKind::Other,
            deadline,
        })
        .map(drop)
    }

    fn purge_in_chunks(&self, resource_id: i64, kind: ItemKind, items: &[&str]) -> Result<()> {
        let (per_request, rate, noun) = match kind {
            ItemKind::Url => (URLS_PER_REQUEST, RateKind::UrlPurge, "URL"),
            ItemKind::Pattern => (PATTERNS_PER_REQUEST, RateKind::PatternPurge, "pattern"),
        };
        let url = self.resource_url(resource_id, "/purge");
        let deadline = self.deadline();
        let total = items.len().div_ceil(per_request);
        let mut body = Vec::new();
        // Once the API has answered 429, the window is known to be full: the rest of the list
        // goes out one request per interval, instead of each request being refused first.
        let mut next_at: Option<Instant> = None;
        for (n, chunk) in items.chunks(per_request).enumerate() {
            // One buffer for every request, sized up front: `{"urls":["...",...]}`.
            body.clear();
            body.reserve(12 + chunk.iter().map(|i| i.len() + 3).sum::<usize>());
            match kind {
                ItemKind::Url => serde_json::to_writer(&mut body, &UrlsBody { urls: chunk }),
                ItemKind::Pattern => serde_json::to_writer(&mut body, &PathsBody { paths: chunk }),
            }
            .map_err(|e| Error::new(Status::Protocol, format!("could not encode JSON: {e}")))?;
            let paced = match next_at.map(|at| at.saturating_duration_since(Instant::now())) {
                Some(wait) if !wait.is_zero() => match self.pause(wait, deadline) {
                    Ok(()) => Ok(()),
                    Err(Interrupted::Cancelled) => Err(Error::new(
                        Status::Cancelled,
                        "the call was cancelled while pacing requests to the rate limit",
                    )),
                    Err(Interrupted::Deadline) => Err(Error::new(
                        Status::Timeout,
                        "the call timeout ends before the rate limit allows the next request",
                    )),
                },
                _ => Ok(()),
            };
            let result = paced
                .map_err(|error| self.failed(error, false))
                .and_then(|()| {
                    self.request(Call {
                        method: Method::POST,
                        url: &url,
                        body: Some(&body),
                        rate,
                        deadline,
                    })
                });
            match &result {
                Ok(sent) if sent.rate_limited || next_at.is_some() => {
                    let interval = self.rate_interval(rate, true, deadline);
                    next_at = Some(Instant::now() + interval + interval / 50);
                }
                _ => {}
            }
            if let Err(f) = result {
                let first = n * per_request;
                let what = if total == 1 {
                    format!("purge by {noun} of resource {resource_id}")
                } else {
                    format!(
                        "purge by {noun} of resource {resource_id} stopped at request {} of {total} \
                         ({noun}s {}-{} of the {} unique); {first} {noun}s were purged by the {n} \
                         request(s) before it",
                        n + 1,
                        first + 1,
                        first + chunk.len(),
                        items.len(),
                    )
                };
                return Err(f.error.context(what));
            }
        }
        Ok(())
    }

    /// `<base>/cdn/resources/<id><suffix>`, put together by hand: `format!` costs more than
    /// the rest of building a request.
    fn resource_url(&self, resource_id: i64, suffix: &str) -> String {
        let base = self.shared.base.as_str();
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = resource_id.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut url = String::with_capacity(base.len() + 16 + digits.len() - at + suffix.len());
        url.push_str(base);
        url.push_str("/cdn/resources/");
        if resource_id < 0 {
            url.push('-');
        }
        url.extend(digits[at..].iter().map(|&d| char::from(d)));
        url.push_str(suffix);
        url
    }

    fn deadline(&self) -> Option<Instant> {
        self.call_timeout.map(|d| Instant::now() + d)
    }

    /// Send one API request, retrying as the policy allows; a 2xx reply, or why not.
    fn request(&self, call: Call<'_>) -> std::result::Result<Sent, Failed> {
        let shared = &*self.shared;
        let mut policy = Policy {
            max_retries: shared.max_retries,
            wait_budget: shared.wait_budget,
            rate_limit_interval: Duration::ZERO,
        };
        let mut state = RetryState::new();
        let mut uncertain = false;
        let mut rate_limited = false;
        loop {
            if self
                .cancel
                .as_deref()
                .is_some_and(CancelToken::is_cancelled)
            {
                let error = Error::new(Status::Cancelled, "the call was cancelled");
                return Err(self.failed(error, uncertain));
            }
            let timeout = match call.deadline {
                None => shared.transport.timeout(),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(self.failed(
                            Error::new(
                                Status::Timeout,
                                "the call timeout ran out before the request could be sent",
                            ),
                            uncertain,
                        ));
                    }
                    left.min(shared.transport.timeout())
                }
            };
            state.attempts += 1;
            let (error, class, retry_after) =
                match shared
                    .transport
                    .send(call.method.clone(), call.url, call.body, timeout)
                {
                    Ok(reply) if (200..300).contains(&reply.status) => {
                        return Ok(Sent { rate_limited })
                    }
                    Ok(reply) => {
                        // A gateway that timed out or failed upstream may have passed the
                        // request on: it may have been carried out.
                        uncertain |= matches!(reply.status, 502 | 504);
                        self.classify_reply(&reply)
                    }
                    Err(fault) => {
                        let Fault {
                            status,
                            message,
                            transient,
                            maybe_sent,
                        } = fault;
                        uncertain |= maybe_sent;
                        let class = if transient {
                            FailureClass::Transient
                        } else {
                            FailureClass::Final
                        };
                        (Error::new(status, message), class, None)
                    }
                };
            if class == FailureClass::RateLimited && retry_after.is_none() {
                // With no budget to wait there is no point asking the account's limits.
                let ask = !policy.wait_budget.is_zero();
                policy.rate_limit_interval = self.rate_interval(call.rate, ask, call.deadline);
            }
            match state.decide(&policy, class, retry_after) {
                Decision::RetryAfter(wait) => {
                    rate_limited |= class == FailureClass::RateLimited;
                    match self.pause(wait, call.deadline) {
                        Ok(()) => {}
                        Err(Interrupted::Deadline) => {
                            let error = error.context(format!(
                                "giving up: the call timeout ends before the next try (in {})",
                                retry::secs(wait)
                            ));
                            return Err(self.failed(error, uncertain));
                        }
                        Err(Interrupted::Cancelled) => {
                            let error = Error::new(
                                Status::Cancelled,
                                format!(
                                    "the call was cancelled while waiting to retry after: {error}"
                                ),
                            );
                            return Err(self.failed(error, uncertain));
                        }
                    }
                }
                Decision::GiveUp(note) => {
                    let error = if note.is_empty() {
                        error
                    } else {
                        Error::new(error.status, format!("{} ({note})", error.message))
                    };
                    return Err(self.failed(error, uncertain));
                }
            }
        }
    }

    /// How long to wait after a bare 429 (one without `Retry-After`) for `rate`: the caller's
    /// setting, else the account's limits (asked for if `ask`, within `deadline`), else the
    /// documented ones. Zero for an endpoint with no documented limit: back off instead.
    fn rate_interval(&self, rate: RateKind, ask: bool, deadline: Option<Instant>) -> Duration {
        let shared = &*self.shared;
        if rate == RateKind::Other {
            return Duration::ZERO;
        }
        let intervals = match (shared.purge_intervals, shared.learned_intervals.get()) {
            (Some(set), _) => set,
            (None, Some(learned)) => *learned,
            (None, None) if ask => self.learn_intervals(deadline).unwrap_or_default(),
            (None, None) => Intervals::default(),
        };
        match rate {
            RateKind::UrlPurge => intervals.url,
            _ => intervals.pattern,
        }
    }

    /// `GET /cdn/clients/me/limits`, without retries, within the call's deadline and never
    /// while the call is cancelled or another thread is already asking; only an answer is
    /// kept, so a failure is tried again at a later 429 (up to [`LIMITS_TRIES`] times).
    fn learn_intervals(&self, deadline: Option<Instant>) -> Option<Intervals> {
        let shared = &*self.shared;
        if shared.limits_tries.load(Ordering::Relaxed) >= LIMITS_TRIES
            || self
                .cancel
                .as_deref()
                .is_some_and(CancelToken::is_cancelled)
            || shared.limits_fetching.swap(true, Ordering::Acquire)
        {
            return None;
        }
        shared.limits_tries.fetch_add(1, Ordering::Relaxed);
        let mut timeout = shared.transport.timeout().min(Duration::from_secs(10));
        if let Some(deadline) = deadline {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
        }
        let learned = if timeout < Duration::from_millis(100) {
            None
        } else {
            let url = format!("{}/cdn/clients/me/limits", shared.base.as_str());
            match shared.transport.send(Method::GET, &url, None, timeout) {
                Ok(reply) if reply.status == 200 => Some(
                    *shared
                        .learned_intervals
                        .get_or_init(|| limits::from_account_limits(&reply.body)),
                ),
                _ => None,
            }
        };
        shared.limits_fetching.store(false, Ordering::Release);
        learned
    }

    /// Sleep for `wait`, unless the call is cancelled first or the wait would outlast the
    /// call's deadline (then it does not sleep at all).
    fn pause(
        &self,
        wait: Duration,
        deadline: Option<Instant>,
    ) -> std::result::Result<(), Interrupted> {
        if deadline.is_some_and(|d| Instant::now() + wait >= d) {
            return Err(Interrupted::Deadline);
        }
        match &self.cancel {
            Some(token) if token.sleep(wait) => Err(Interrupted::Cancelled),
            Some(_) => Ok(()),
            None => {
                std::thread::sleep(wait);
                Ok(())
            }
        }
    }

    fn classify_reply(&self, reply: &Reply) -> (Error, FailureClass, Option<Duration>) {
        let status = reply.status;
        let retry_after = reply
            .retry_after
            .as_deref()
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let class = match status {
            429 => FailureClass::RateLimited,
            408 | 500..=599 => FailureClass::Transient,
            _ => FailureClass::Final,
        };
        let key = self.shared.api_key.as_str();
        let message = if (300..400).contains(&status) {
            let to = reply
                .location
                .as_deref()
                .map(|l| format!(" to {}", quote(&redact(l, key), 200)))
                .unwrap_or_default();
            format!(
                "HTTP {status}: the API answered with a redirect{to}, which gcdn does not follow \
                 (the API key would go with it); set the base URL to the address that answers"
            )
        } else {
            api_error::describe(status, &reply.body, key)
        };
        (
            Error::new(api_error::status_for(status), message),
            class,
            retry_after,
        )
    }

    /// `error` without the key (in any form) or any URL password.
    fn redacted(&self, error: Error) -> Error {
        error.redacted(&self.shared.api_key)
    }

    /// Wrap a final error, redacting the key from it whatever path it came by.
    fn failed(&self, error: Error, uncertain: bool) -> Failed {
        Failed {
            error: self.redacted(error),
            earlier_attempt_uncertain: uncertain,
        }
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
