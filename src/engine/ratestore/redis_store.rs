//! The Redis side of the rate store (cargo feature `rate-store`): see the parent module.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
#[cfg(feature = "rate-store-tls")]
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use super::wire::MAX_REPLY_BYTES;
use redis::ConnectionLike;

use super::wire::{Cut, Wire};
use super::{margin, PaceKey, PaceKind, RedisUrl, Slot, SlotStore, StoreError, Window};
use crate::engine::error::quote;
use crate::engine::pacer::{Go, Ticket};

// ---------------------------------------------------------------------------------------
// The scripts
// ---------------------------------------------------------------------------------------

/// KEYS[1] the schedule; ARGV: `<op>:<ticket>`, N, W ms, margin ms, max wait ms, lease ms (at
/// most 10 words with EVALSHA: a server with a password refuses more before AUTH, and the
/// error must say that the password is missing).
/// Field `t` holds the slot times (ms, ascending: what the coalescer's lead reads), field `i`
/// beside each its ticket and phase: `<ticket>r` reserved (counted at its time), `<ticket>f<lease
/// end>` in flight (counted as now, until the lease ends), `<ticket>a` answered (at its time);
/// `n` the last ticket; `d` the "no slot before" time a 429 set. A time without its `i` entry
/// (an older schedule) counts as answered.
/// - `take`: reserve the earliest slot unless further than max wait: {reserved 1|0, delay ms,
///   server now ms, ticket}.
/// - `start`: the ticket's request goes now if the window, counted over every other slot but
///   those reserved after it, lets it: {1, 0, now, ticket} (in flight); else {2, delay, now,
///   ticket} (moved that far, still reserved), or {0, delay, now, ticket} (released).
/// - `finish`: the ticket's answer came: answered now. `release`: a reserved ticket's slot is
///   freed. Both {1, 0, now, ticket}.
const SLOT_LUA: &str = r"
pcall(redis.replicate_commands)
local op, id = string.match(ARGV[1], '^(%a+):(%d+)$')
id = tonumber(id)
local n = tonumber(ARGV[2])
local w = tonumber(ARGV[3])
local m = tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local lease = tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 't', 'd', 'i')
local times, metas = {}, {}
if h[1] then for x in string.gmatch(h[1], '%d+') do times[#times + 1] = tonumber(x) end end
if h[3] then for x in string.gmatch(h[3], '[^ ]+') do metas[#metas + 1] = x end end
local d = tonumber(h[2] or '0') or 0
local slots = {}
for k = 1, #times do
  local e = {at = times[k], id = -1, ph = 'a', lease = 0}
  if #metas == #times then
    local tid, ph, le = string.match(metas[k], '^(%d+)([rfa])(%d*)$')
    if tid then
      e.id = tonumber(tid)
      e.ph = ph
      e.lease = tonumber(le) or 0
    end
  end
  slots[#slots + 1] = e
end
local function counted(e)
  if e.ph == 'f' then return math.max(e.at, math.min(now, e.lease)) end
  return e.at
end
local function opens(list)
  local at = now
  if d > at then at = d end
  if #list >= n then
    table.sort(list)
    local o = list[#list - n + 1] + w + m
    if o > at then at = o end
  end
  return at
end
local function save()
  local kept = {}
  local last = d
  for _, e in ipairs(slots) do
    local c = counted(e)
    if c + w + m > now then
      kept[#kept + 1] = e
      if e.ph == 'f' and e.lease > c then c = e.lease end
      if c > last then last = c end
    end
  end
  table.sort(kept, function(x, y) return x.at < y.at end)
  local ts, is = {}, {}
  for k, e in ipairs(kept) do
    ts[k] = string.format('%d', e.at)
    local le = ''
    if e.ph == 'f' then le = string.format('%d', e.lease) end
    is[k] = string.format('%d', e.id) .. e.ph .. le
  end
  redis.call('HSET', KEYS[1], 't', table.concat(ts, ' '), 'i', table.concat(is, ' '))
  local ttl = last - now + 2 * w + m
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
local function find()
  for k, e in ipairs(slots) do if e.id == id then return k end end
  return nil
end
if op == 'take' then
  local list = {}
  for _, e in ipairs(slots) do list[#list + 1] = counted(e) end
  local at = opens(list)
  local delay = at - now
  if delay > max_wait then return {0, delay, now, 0} end
  local tid = redis.call('HINCRBY', KEYS[1], 'n', 1)
  slots[#slots + 1] = {at = at, id = tid, ph = 'r', lease = 0}
  save()
  return {1, delay, now, tid}
end
local k = find()
if op == 'start' then
  if not k then
    slots[#slots + 1] = {at = now, id = id, ph = 'r', lease = 0}
    k = #slots
  end
  local mine = slots[k].at
  local list = {}
  for j, e in ipairs(slots) do
    if j ~= k and not (e.ph == 'r' and e.at > mine) then list[#list + 1] = counted(e) end
  end
  local at = opens(list)
  local e = slots[k]
  if at <= now then
    if now > e.at then e.at = now end
    e.ph = 'f'
    e.lease = now + lease
    save()
    return {1, 0, now, id}
  end
  local delay = at - now
  if delay > max_wait then
    table.remove(slots, k)
    save()
    return {0, delay, now, id}
  end
  e.at = at
  e.ph = 'r'
  save()
  return {2, delay, now, id}
end
if k and op == 'finish' then
  if now > slots[k].at then slots[k].at = now end
  slots[k].ph = 'a'
  save()
elseif k and op == 'release' and slots[k].ph == 'r' then
  table.remove(slots, k)
  save()
end
return {1, 0, now, id}
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
/// Each read and each write on an open connection may take at most this long, and a whole
/// operation (a take or a defer: up to three round trips when the script must be loaded)
/// twice this long, so a take or a defer never takes longer than
/// `CONNECT_TIMEOUT + 2 × IO_TIMEOUT`, however the server answers.
pub const IO_TIMEOUT: Duration = Duration::from_millis(300);
/// After a failure the store is not tried again for this long: calls fail at once.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 4;

/// A [`SlotStore`] on a Redis server (see the module docs).
pub struct RedisStore {
    url: RedisUrl,
    /// For `rediss://`: the TLS client configuration (bundled roots, or the CA file's).
    #[cfg(feature = "rate-store-tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
    pub(super) account: String,
    idle: Mutex<Vec<Wire>>,
    /// After a failure: not before this instant, and the message to give meanwhile.
    down: Mutex<Option<(Instant, String)>>,
    slot_script: redis::Script,
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
        #[cfg(feature = "rate-store-tls")]
        let tls = if url.tls {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Some(tls_config(roots).map_err(|e| StoreError {
                message: format!("rate store {url}: TLS: {e}"),
            })?)
        } else {
            None
        };
        Ok(RedisStore {
            url,
            #[cfg(feature = "rate-store-tls")]
            tls,
            account: account_hash(api_key),
            idle: Mutex::new(Vec::new()),
            down: Mutex::new(None),
            slot_script: redis::Script::new(SLOT_LUA),
            defer_script: redis::Script::new(DEFER_LUA),
            connect_timeout: CONNECT_TIMEOUT,
            io_timeout: IO_TIMEOUT,
            local_clock_offset_ms: AtomicI64::new(0),
            last_skew_ms: AtomicI64::new(i64::MIN),
        })
    }

    /// The URL it was made from (its `Display` has no password).
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// For `rediss://`: trust the CA certificates in `pem` instead of the bundled roots.
    #[cfg(feature = "rate-store-tls")]
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Result<RedisStore, StoreError> {
        let mut roots = rustls::RootCertStore::empty();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => roots
                    .add(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
                    .map_err(|e| self.error(format!("CA certificates: {e}")))?,
                Ok(_) => {}
                Err(e) => return Err(self.error(format!("CA certificates: not valid PEM: {e}"))),
            }
        }
        if roots.is_empty() {
            return Err(self.error("CA certificates: no PEM certificate"));
        }
        let config = tls_config(roots).map_err(|e| self.error(format!("TLS: {e}")))?;
        if self.url.tls {
            self.tls = Some(config);
        }
        Ok(self)
    }

    /// Without the cargo feature `rate-store-tls` there is no `rediss://` to trust a CA for.
    #[cfg(not(feature = "rate-store-tls"))]
    pub fn with_ca_pem(self, _pem: Vec<u8>) -> Result<RedisStore, StoreError> {
        Ok(self)
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
            PaceKind::Prefetch => "prefetch",
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

    pub(super) fn error(&self, what: impl fmt::Display) -> StoreError {
        let mut message = format!("rate store {}: {what}", self.url);
        if let Some(pw) = &self.url.password {
            // Server words never hold our password, but be sure, short ones included.
            if !pw.is_empty() && message.contains(pw.as_str()) {
                message = message.replace(pw.as_str(), "***");
            }
        }
        StoreError { message }
    }

    fn describe_redis_error(&self, e: &redis::RedisError, cut: Option<Cut>) -> String {
        use redis::ErrorKind;
        match cut {
            Some(Cut::Deadline(budget)) => {
                return format!(
                    "no whole answer within {} ms (the server is slow, or sends without end)",
                    budget.as_millis()
                )
            }
            Some(Cut::TooLong(cap)) => return format!("the answer is longer than {cap} bytes"),
            None => {}
        }
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
        f: impl FnOnce(&mut Wire) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        self.with_connection_capped(MAX_REPLY_BYTES, f)
    }

    /// [`RedisStore::with_connection`], its replies allowed `max_bytes` (the coalescing
    /// queue's batches, `coalesce.rs`).
    pub(super) fn with_connection_capped<T>(
        &self,
        max_bytes: usize,
        f: impl FnOnce(&mut Wire) -> redis::RedisResult<T>,
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
        let mut con = match pooled {
            Some(con) => con,
            None => match self.connect() {
                Ok(con) => con,
                Err((e, cut)) => return Err(self.fail(&e, cut)),
            },
        };
        // The whole operation: at most 2 × the I/O timeout, and MAX_REPLY_BYTES read.
        con.begin_capped(self.io_timeout.saturating_mul(2), max_bytes);
        match f(&mut con) {
            Ok(value) if con.is_open() => {
                *lock(&self.down) = None;
                let mut idle = lock(&self.idle);
                if idle.len() < MAX_IDLE {
                    idle.push(con);
                }
                Ok(value)
            }
            Ok(value) => {
                *lock(&self.down) = None;
                Ok(value)
            }
            Err(e) => Err(self.fail(&e, con.cut())),
        }
    }

    /// A failure: its message, and the store held off for [`RETRY_AFTER`].
    fn fail(&self, e: &redis::RedisError, cut: Option<Cut>) -> StoreError {
        let err = self.error(self.describe_redis_error(e, cut));
        *lock(&self.down) = Some((Instant::now() + RETRY_AFTER, err.message.clone()));
        lock(&self.idle).clear();
        err
    }

    /// A new connection (TCP, TLS, AUTH, SELECT within the connect timeout).
    fn connect(&self) -> Result<Wire, (redis::RedisError, Option<Cut>)> {
        Wire::connect(
            &self.url,
            #[cfg(feature = "rate-store-tls")]
            self.tls.as_ref(),
            self.connect_timeout,
            self.io_timeout,
        )
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

/// A TLS client configuration trusting `roots`, with the same provider as the API's (ring).
#[cfg(feature = "rate-store-tls")]
fn tls_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whole milliseconds, rounded up (windows, margins: never shorter than asked).
pub(super) fn ms_ceil(d: Duration) -> u64 {
    let ms = d.as_millis();
    let ms = if Duration::from_millis(ms as u64) < d {
        ms + 1
    } else {
        ms
    };
    ms.min(MAX_DELAY_MS as u128) as u64
}

/// Whole milliseconds, rounded down (a wait budget: never longer than allowed).
pub(super) fn ms_floor(d: Duration) -> u64 {
    d.as_millis().min(MAX_DELAY_MS as u128) as u64
}

impl RedisStore {
    /// One step of [`SLOT_LUA`] on `key`'s schedule: `[flag, delay ms, server now, ticket]`.
    fn slot_op(
        &self,
        op: &str,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
        ticket: u64,
        lease: Duration,
    ) -> Result<(i64, Duration, u64), StoreError> {
        let n = window.requests.max(1);
        let reply: Vec<i64> = self.with_connection(|con| {
            self.slot_script
                .key(self.redis_key(key))
                .arg(format!("{op}:{ticket}"))
                .arg(n)
                .arg(ms_ceil(window.per))
                .arg(ms_ceil(margin(window)))
                .arg(ms_floor(max_wait))
                .arg(ms_ceil(lease))
                .invoke(con)
        })?;
        let (flag, delay, id) = slot_op_reply(&reply)
            .map_err(|why| self.error(format!("the answer is not the script's ({why})")))?;
        self.note_server_time(reply[2]);
        Ok((flag, delay, id))
    }
}

/// The slot script's answer (`SLOT_LUA`), checked: `[flag 0|1|2, delay ms, server now ms,
/// ticket ≥ 0]`.
pub fn slot_op_reply(reply: &[i64]) -> Result<(i64, Duration, u64), String> {
    let &[flag, delay, now, ticket] = reply else {
        return Err(format!("expected 4 integers, got {}", reply.len()));
    };
    let (slot, _) = slot_of_reply(&[flag.min(1), delay, now])?;
    if !(0..=2).contains(&flag) {
        return Err(format!("flag {flag} is not 0, 1 or 2"));
    }
    if ticket < 0 {
        return Err(format!("ticket {ticket} out of range"));
    }
    let (Slot::At(d) | Slot::TooFar(d)) = slot;
    Ok((flag, d, ticket as u64))
}

impl SlotStore for RedisStore {
    fn take(&self, key: PaceKey, window: Window, max_wait: Duration) -> Result<Slot, StoreError> {
        self.take_ticket(key, window, max_wait)
            .map(|(slot, _)| slot)
    }

    fn take_ticket(
        &self,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
    ) -> Result<(Slot, Option<Ticket>), StoreError> {
        let (flag, delay, id) = self.slot_op("take", key, window, max_wait, 0, Duration::ZERO)?;
        Ok(match flag {
            1 => (Slot::At(delay), Some(Ticket(id))),
            _ => (Slot::TooFar(delay), None),
        })
    }

    fn start(
        &self,
        key: PaceKey,
        window: Window,
        ticket: Ticket,
        max_wait: Duration,
        lease: Duration,
    ) -> Result<Go, StoreError> {
        let (flag, delay, _) = self.slot_op("start", key, window, max_wait, ticket.0, lease)?;
        Ok(match flag {
            1 => Go::Now,
            2 => Go::Later(delay),
            _ => Go::TooFar(delay),
        })
    }

    fn finish(&self, key: PaceKey, window: Window, ticket: Ticket) -> Result<(), StoreError> {
        self.slot_op(
            "finish",
            key,
            window,
            Duration::ZERO,
            ticket.0,
            Duration::ZERO,
        )
        .map(|_| ())
    }

    fn release(&self, key: PaceKey, window: Window, ticket: Ticket) -> Result<(), StoreError> {
        self.slot_op(
            "release",
            key,
            window,
            Duration::ZERO,
            ticket.0,
            Duration::ZERO,
        )
        .map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn slot_op_replies() {
        let ms = Duration::from_millis;
        assert_eq!(slot_op_reply(&[2, 250, 5, 9]).unwrap(), (2, ms(250), 9));
        assert_eq!(slot_op_reply(&[1, 0, 5, 0]).unwrap(), (1, ms(0), 0));
        for bad in [
            &[][..],
            &[1, 0, 5],
            &[3, 0, 5, 1],
            &[1, -1, 5, 1],
            &[1, 0, 5, -1],
        ] {
            assert!(slot_op_reply(bad).is_err(), "{bad:?}");
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
