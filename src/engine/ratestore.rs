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
//! - Bounded: connecting (with AUTH and SELECT) may take [`CONNECT_TIMEOUT`], each read and
//!   write [`IO_TIMEOUT`]; after a failure the store is not tried again for [`RETRY_AFTER`]
//!   (calls fail at once meanwhile), so a dead or slow Redis costs a purge little.
//! - The password of the URL never appears in a message: [`RedisStore::describe`] is
//!   `redis://host:port/db`, and server words are redacted before they are quoted.
//! - [`FallbackStore`]: the store the client uses. When Redis cannot be used it falls back
//!   to the in-process store for that call and says so once (fail-open), or refuses the call
//!   (fail-closed; the pacer turns the [`StoreError`] into `Status::Network`).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use super::error::quote;

// ---------------------------------------------------------------------------------------
// The pacer contract (BRIEF, owner: core task, src/engine/pacer.rs). Defined here until
// pacer.rs lands on `main`; then these go and `use super::pacer::*` takes their place.
// ---------------------------------------------------------------------------------------

/// Which limit a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaceKind {
    Urls,
    /// Pattern purges and purge-all.
    Patterns,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaceKey {
    pub resource_id: i64,
    pub kind: PaceKind,
}

/// N requests per window W.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub requests: u32,
    pub per: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Reserved: go after this long (ZERO = now).
    At(Duration),
    /// NOT reserved: the slot opens only this far from now.
    TooFar(Duration),
}

/// Why a store could not answer. The message never contains a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    pub message: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub trait SlotStore: Send + Sync {
    /// Reserve the earliest slot for `key` under `window` (plus `margin(window)`), unless it
    /// is further than `max_wait` from now.
    fn take(&self, key: PaceKey, window: Window, max_wait: Duration) -> Result<Slot, StoreError>;
    /// The API answered 429 on `key`: no slot for anyone before `after` from now.
    fn defer(&self, key: PaceKey, window: Window, after: Duration) -> Result<(), StoreError>;
    /// For messages/logs: "in-process" or "redis://host:port/db" (never a password).
    fn describe(&self) -> String;
}

/// The safety margin added to every window (placeholder of `pacer::margin`).
pub fn margin(window: Window) -> Duration {
    window.per / 50 + Duration::from_millis(10)
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
        if self.host.contains(':') {
            write!(f, "redis://[{}]:{}/{}", self.host, self.port, self.db)
        } else {
            write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
        }
    }
}

/// `url` with the password of its user information (if any) replaced by `***`, for
/// messages. The user information runs to the LAST `@`, so a password holding `/`, `?`, `#`
/// or `@` unescaped is hidden whole; user information without a `:` is hidden whole too
/// (some clients read `redis://secret@host` as a password). Local helper: the secrets
/// task's `error::redact_url_password` can replace it once on `main`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None if userinfo.is_empty() => String::new(),
                None => "***".to_owned(),
            };
            format!("{scheme}://{shown}@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

impl RedisUrl {
    /// Check a store URL. Messages quote it with its password replaced by `***`.
    pub fn parse(url: &str) -> Result<RedisUrl, StoreError> {
        let bad = |why: &str| StoreError {
            message: format!(
                "rate store URL {}: {why}",
                quote(&redact_url_password(url), 200)
            ),
        };
        if url.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("contains spaces or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must start with redis://"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "redis" => {}
            "rediss" => {
                return Err(bad(
                    "rediss:// (TLS) is not supported by this build; use redis:// on a trusted \
                     network or a TLS tunnel",
                ))
            }
            _ => return Err(bad("the scheme must be redis://")),
        }
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

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------
// The scripts
// ---------------------------------------------------------------------------------------

/// KEYS[1] the schedule; ARGV: N, W ms, margin ms, max wait ms.
/// Returns {reserved 1|0, delay ms, server now ms}.
const TAKE_LUA: &str = r"
pcall(redis.replicate_commands)
local n = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local m = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 't', 'd')
local slots = {}
if h[1] then
  for s in string.gmatch(h[1], '%d+') do slots[#slots + 1] = tonumber(s) end
end
local at = now
if h[2] then
  local d = tonumber(h[2])
  if d and d > at then at = d end
end
local k = #slots
if k > 0 and slots[k] > at then at = slots[k] end
if k >= n and slots[k - n + 1] + w + m > at then at = slots[k - n + 1] + w + m end
local delay = at - now
if delay > max_wait then return {0, delay, now} end
slots[k + 1] = at
local kept = {}
for i = math.max(1, #slots - n + 1), #slots do kept[#kept + 1] = string.format('%d', slots[i]) end
redis.call('HSET', KEYS[1], 't', table.concat(kept, ' '))
redis.call('PEXPIRE', KEYS[1], delay + 2 * w + m)
return {1, delay, now}
";

/// KEYS[1] the schedule; ARGV: after ms, W ms, margin ms. Returns {1, after ms, server now ms}.
const DEFER_LUA: &str = r"
pcall(redis.replicate_commands)
local after = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local m = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local till = now + after
local d = tonumber(redis.call('HGET', KEYS[1], 'd') or '0') or 0
if till > d then redis.call('HSET', KEYS[1], 'd', string.format('%d', till)) end
local want = after + 2 * w + m
if redis.call('PTTL', KEYS[1]) < want then redis.call('PEXPIRE', KEYS[1], want) end
return {1, after, now}
";

/// The script's answer, checked: `[reserved 0|1, delay ms ≥ 0, server now ms > 0]`.
/// Anything else is a protocol error (a Redis that answers garbage, or not our script).
pub fn slot_of_reply(reply: &[i64]) -> Result<(Slot, i64), String> {
    let &[reserved, delay, now] = reply else {
        return Err(format!("expected 3 integers, got {}", reply.len()));
    };
    if !(0..=MAX_DELAY_MS).contains(&delay) {
        return Err(format!("delay {delay} ms out of range"));
    }
    if now <= 0 {
        return Err(format!("server time {now} out of range"));
    }
    let d = Duration::from_millis(delay as u64);
    match reserved {
        1 => Ok((Slot::At(d), now)),
        0 => Ok((Slot::TooFar(d), now)),
        x => Err(format!("reserved flag {x} is neither 0 nor 1")),
    }
}

/// Nothing the scripts answer can be further away than this (30 days).
const MAX_DELAY_MS: i64 = 30 * 86_400_000;

// ---------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------

/// Connecting, with AUTH and SELECT, may take at most this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Each read and each write on an open connection may take at most this long.
pub const IO_TIMEOUT: Duration = Duration::from_millis(300);
/// After a failure the store is not tried again for this long: calls fail at once.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 4;

/// A [`SlotStore`] on a Redis server (see the module docs).
pub struct RedisStore {
    url: RedisUrl,
    info: redis::ConnectionInfo,
    account: String,
    idle: Mutex<Vec<redis::Connection>>,
    /// After a failure: not before this instant, and the message to give meanwhile.
    down: Mutex<Option<(Instant, String)>>,
    take_script: redis::Script,
    defer_script: redis::Script,
    connect_timeout: Duration,
    io_timeout: Duration,
    /// A test hook: added to this host's clock (ms). The schedule never reads the local clock;
    /// only [`RedisStore::server_clock_skew_ms`] does.
    local_clock_offset_ms: AtomicI64,
    last_skew_ms: AtomicI64,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisStore({})", self.url)
    }
}

/// The account part of the keys: hex of SHA-256("gcdn-rate-store-v1\0" + key), 16 bytes.
pub fn account_hash(api_key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"gcdn-rate-store-v1\0");
    ctx.update(api_key.as_bytes());
    let digest = ctx.finish();
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RedisStore {
    /// A store on `url` for the account of `api_key` (only its hash is kept). Checks the URL;
    /// connects at the first call, not here.
    pub fn new(url: &str, api_key: &str) -> Result<RedisStore, StoreError> {
        RedisStore::from_url(RedisUrl::parse(url)?, api_key)
    }

    pub fn from_url(url: RedisUrl, api_key: &str) -> Result<RedisStore, StoreError> {
        let mut settings = RedisConnectionInfo::default()
            .set_db(url.db)
            .set_skip_set_lib_name();
        if let Some(user) = &url.username {
            settings = settings.set_username(user);
        }
        if let Some(pw) = &url.password {
            settings = settings.set_password(pw);
        }
        let info = ConnectionAddr::Tcp(url.host.clone(), url.port)
            .into_connection_info()
            .map_err(|e| StoreError {
                message: format!("rate store {url}: {}", e.kind_text()),
            })?
            .set_redis_settings(settings);
        Ok(RedisStore {
            url,
            info,
            account: account_hash(api_key),
            idle: Mutex::new(Vec::new()),
            down: Mutex::new(None),
            take_script: redis::Script::new(TAKE_LUA),
            defer_script: redis::Script::new(DEFER_LUA),
            connect_timeout: CONNECT_TIMEOUT,
            io_timeout: IO_TIMEOUT,
            local_clock_offset_ms: AtomicI64::new(0),
            last_skew_ms: AtomicI64::new(i64::MIN),
        })
    }

    /// Shorter (or longer) timeouts than [`CONNECT_TIMEOUT`] / [`IO_TIMEOUT`].
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> RedisStore {
        self.connect_timeout = connect.max(Duration::from_millis(1));
        self.io_timeout = io.max(Duration::from_millis(1));
        self
    }

    /// The Redis key of `key`'s schedule: `gcdn:v1:<account-hash>:<resource>:<kind>`.
    pub fn redis_key(&self, key: PaceKey) -> String {
        let kind = match key.kind {
            PaceKind::Urls => "urls",
            PaceKind::Patterns => "patterns",
        };
        format!("gcdn:v1:{}:{}:{kind}", self.account, key.resource_id)
    }

    /// Test hook: pretend this host's clock is `ms` off.
    #[doc(hidden)]
    pub fn set_local_clock_offset_ms(&self, ms: i64) {
        self.local_clock_offset_ms.store(ms, Ordering::Relaxed);
    }

    /// The server's clock minus this host's, as seen at the last answer (ms; `None` before
    /// the first). Diagnostic only: the schedule runs on the server's clock alone.
    pub fn server_clock_skew_ms(&self) -> Option<i64> {
        let s = self.last_skew_ms.load(Ordering::Relaxed);
        (s != i64::MIN).then_some(s)
    }

    /// Connect (or reuse a connection) and PING: to check a store at once.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.with_connection(|con| redis::cmd("PING").query::<String>(con).map(|_| ()))
    }

    fn local_now_ms(&self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        now + self.local_clock_offset_ms.load(Ordering::Relaxed)
    }

    fn error(&self, what: impl fmt::Display) -> StoreError {
        let mut message = format!("rate store {}: {what}", self.url);
        if let Some(pw) = &self.url.password {
            // Server words never hold our password, but be sure, short ones included.
            if !pw.is_empty() && message.contains(pw.as_str()) {
                message = message.replace(pw.as_str(), "***");
            }
        }
        StoreError { message }
    }

    fn describe_redis_error(&self, e: &redis::RedisError) -> String {
        use redis::ErrorKind;
        if e.is_timeout() {
            return format!(
                "no answer within {} ms (connect timeout {} ms)",
                self.io_timeout.as_millis(),
                self.connect_timeout.as_millis()
            );
        }
        if e.is_connection_refusal() {
            return format!("cannot connect: {}", e.kind_text());
        }
        let code = e.code().unwrap_or("");
        if e.kind() == ErrorKind::AuthenticationFailed
            || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
        {
            let given = if self.url.has_password() {
                "the password in the URL was refused"
            } else {
                "the server requires a password and the URL has none"
            };
            return format!("authentication failed: {given} ({})", e.kind_text());
        }
        match e.kind() {
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
                format!("the answer is not a valid Redis reply ({})", e.kind_text())
            }
            _ => e.kind_text(),
        }
    }

    /// Run `f` on a connection: an idle one, or a new one. The connection goes back to the
    /// pool only if `f` succeeded; any failure closes it and holds the store off for
    /// [`RETRY_AFTER`].
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        if let Some((until, message)) = &*lock(&self.down) {
            if Instant::now() < *until {
                return Err(StoreError {
                    message: format!(
                        "{message} (not tried again for {} ms after a failure)",
                        RETRY_AFTER.as_millis()
                    ),
                });
            }
        }
        let pooled = lock(&self.idle).pop();
        let result = match pooled {
            Some(con) => Ok(con),
            None => self.connect(),
        }
        .and_then(|mut con| f(&mut con).map(|v| (v, con)));
        match result {
            Ok((value, con)) => {
                *lock(&self.down) = None;
                let mut idle = lock(&self.idle);
                if idle.len() < MAX_IDLE {
                    idle.push(con);
                }
                Ok(value)
            }
            Err(e) => {
                let err = self.error(self.describe_redis_error(&e));
                *lock(&self.down) = Some((Instant::now() + RETRY_AFTER, err.message.clone()));
                lock(&self.idle).clear();
                Err(err)
            }
        }
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.info.clone())?;
        let con = client.get_connection_with_timeout(self.connect_timeout)?;
        con.set_read_timeout(Some(self.io_timeout))?;
        con.set_write_timeout(Some(self.io_timeout))?;
        Ok(con)
    }

    fn note_server_time(&self, server_now_ms: i64) {
        self.last_skew_ms
            .store(server_now_ms - self.local_now_ms(), Ordering::Relaxed);
    }
}

trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for redis::RedisError {
    /// The error's own words, one line.
    fn kind_text(&self) -> String {
        quote(&self.to_string(), 200).trim_matches('"').to_owned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whole milliseconds, rounded up (windows, margins: never shorter than asked).
fn ms_ceil(d: Duration) -> u64 {
    let ms = d.as_millis();
    let ms = if Duration::from_millis(ms as u64) < d {
        ms + 1
    } else {
        ms
    };
    ms.min(MAX_DELAY_MS as u128) as u64
}

/// Whole milliseconds, rounded down (a wait budget: never longer than allowed).
fn ms_floor(d: Duration) -> u64 {
    d.as_millis().min(MAX_DELAY_MS as u128) as u64
}

impl SlotStore for RedisStore {
    fn take(&self, key: PaceKey, window: Window, max_wait: Duration) -> Result<Slot, StoreError> {
        let n = window.requests.max(1);
        let reply: Vec<i64> = self.with_connection(|con| {
            self.take_script
                .key(self.redis_key(key))
                .arg(n)
                .arg(ms_ceil(window.per))
                .arg(ms_ceil(margin(window)))
                .arg(ms_floor(max_wait))
                .invoke(con)
        })?;
        let (slot, server_now) = slot_of_reply(&reply)
            .map_err(|why| self.error(format!("the answer is not the script's ({why})")))?;
        self.note_server_time(server_now);
        Ok(slot)
    }

    fn defer(&self, key: PaceKey, window: Window, after: Duration) -> Result<(), StoreError> {
        let reply: Vec<i64> = self.with_connection(|con| {
            self.defer_script
                .key(self.redis_key(key))
                .arg(ms_ceil(after))
                .arg(ms_ceil(window.per))
                .arg(ms_ceil(margin(window)))
                .invoke(con)
        })?;
        let (_, server_now) = slot_of_reply(&reply)
            .map_err(|why| self.error(format!("the answer is not the script's ({why})")))?;
        self.note_server_time(server_now);
        Ok(())
    }

    fn describe(&self) -> String {
        self.url.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Fallback: the store a client uses when a rate store is set
// ---------------------------------------------------------------------------------------

/// What a [`FallbackStore`] tells when it falls back (once) — the observer / log hook.
pub type FallbackHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A primary (shared) store with an in-process one behind it.
///
/// Fail-open (the default): when the primary fails, this call is paced by `local`, and the
/// first such failure (and the first after each recovery) is told to `hook` (default:
/// standard error when `GCDN_LOG` is set). Fail-closed: the primary's error is returned.
pub struct FallbackStore {
    pub primary: Arc<dyn SlotStore>,
    pub local: Arc<dyn SlotStore>,
    pub fail_closed: bool,
    warned: AtomicBool,
    hook: Option<FallbackHook>,
}

impl FallbackStore {
    pub fn new(primary: Arc<dyn SlotStore>, local: Arc<dyn SlotStore>, fail_closed: bool) -> Self {
        FallbackStore {
            primary,
            local,
            fail_closed,
            warned: AtomicBool::new(false),
            hook: None,
        }
    }

    /// Tell fallbacks to `hook` instead of the default.
    pub fn with_hook(mut self, hook: FallbackHook) -> Self {
        self.hook = Some(hook);
        self
    }

    fn fell_back(&self, e: &StoreError) {
        if self.warned.swap(true, Ordering::Relaxed) {
            return;
        }
        let text = format!(
            "{}; pacing in-process until it answers again (other processes are not \
             coordinated meanwhile)",
            e.message
        );
        match &self.hook {
            Some(hook) => hook(&text),
            None => {
                if std::env::var_os("GCDN_LOG").is_some_and(|v| !v.is_empty() && v != "0") {
                    eprintln!("gcdn: warning: {text}");
                }
            }
        }
    }

    fn recovered(&self) {
        if self.warned.load(Ordering::Relaxed) {
            self.warned.store(false, Ordering::Relaxed);
            if let Some(hook) = &self.hook {
                hook(&format!(
                    "rate store {}: answering again",
                    self.primary.describe()
                ));
            }
        }
    }
}

impl SlotStore for FallbackStore {
    fn take(&self, key: PaceKey, window: Window, max_wait: Duration) -> Result<Slot, StoreError> {
        match self.primary.take(key, window, max_wait) {
            Ok(slot) => {
                self.recovered();
                Ok(slot)
            }
            Err(e) if self.fail_closed => Err(e),
            Err(e) => {
                self.fell_back(&e);
                self.local.take(key, window, max_wait)
            }
        }
    }

    fn defer(&self, key: PaceKey, window: Window, after: Duration) -> Result<(), StoreError> {
        // The local schedule hears of every 429 too, so a fallback starts from it.
        let local = self.local.defer(key, window, after);
        match self.primary.defer(key, window, after) {
            Ok(()) => local,
            Err(e) if self.fail_closed => Err(e),
            Err(e) => {
                self.fell_back(&e);
                local
            }
        }
    }

    fn describe(&self) -> String {
        self.primary.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "rediss://:s3cret-pw@h:1",
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
        ] {
            let e = RedisUrl::parse(bad).unwrap_err();
            assert!(e.message.starts_with("rate store URL"), "{bad:?}: {e}");
            assert!(!e.message.contains("s3cret"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url_password("redis://u:pw@h:1/0"),
            "redis://u:***@h:1/0"
        );
        assert_eq!(redact_url_password("redis://:pw@h"), "redis://:***@h");
        assert_eq!(redact_url_password("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(
            redact_url_password("redis://a:b@c@h/0"),
            "redis://a:***@h/0"
        );
        assert_eq!(
            redact_url_password("redis://a:b/c?d#e@h/0"),
            "redis://a:***@h/0"
        );
        assert_eq!(redact_url_password("redis://secret@h"), "redis://***@h");
    }

    #[test]
    fn keys_hide_the_api_key() {
        let a = account_hash("secret-api-key");
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, account_hash("secret-api-kez"));
        let s = RedisStore::new("redis://127.0.0.1:1/0", "secret-api-key").unwrap();
        let k = s.redis_key(PaceKey {
            resource_id: 42,
            kind: PaceKind::Patterns,
        });
        assert_eq!(k, format!("gcdn:v1:{a}:42:patterns"));
        assert!(!k.contains("secret"));
    }

    #[test]
    fn replies() {
        assert_eq!(
            slot_of_reply(&[1, 250, 5]).unwrap(),
            (Slot::At(Duration::from_millis(250)), 5)
        );
        assert_eq!(
            slot_of_reply(&[0, 9, 5]).unwrap(),
            (Slot::TooFar(Duration::from_millis(9)), 5)
        );
        for bad in [
            &[][..],
            &[1, 2],
            &[2, 0, 5],
            &[1, -1, 5],
            &[1, 0, 0],
            &[1, 0, 5, 6],
        ] {
            assert!(slot_of_reply(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rounding() {
        assert_eq!(ms_ceil(Duration::from_micros(1500)), 2);
        assert_eq!(ms_ceil(Duration::from_millis(3)), 3);
        assert_eq!(ms_floor(Duration::from_micros(1999)), 1);
        assert_eq!(ms_floor(Duration::MAX), MAX_DELAY_MS as u64);
    }
}
