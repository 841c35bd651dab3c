//! Coalescing purges across processes (and hosts) through the rate store's Redis (issue 21).
//!
//! Callers with the same API key, resource and kind queue their items in Redis; the caller
//! that leads takes the next slot, claims up to a request's worth of the queued items, sends
//! them in one request and publishes the outcome to every caller that wanted them; the others
//! wait for their items' outcomes. All of it is Lua on the server, on the server's clock
//! (`TIME`), so hosts whose clocks disagree still agree on leases.
//!
//! The keys, under `gcdn:v1:<account-hash>:<resource>:<kind>:co:` (`<kind>` `urls` or
//! `patterns`), every one with a TTL:
//! - `q` (list): the pending items, oldest first, each once; `p` (hash): item → the tickets
//!   (callers) that want it, space-separated. At most `max_queue` items pending, at most
//!   `MAX_WAITERS` tickets on one item: past that an enqueue is refused (the caller sends on
//!   its own). `t` (hash): ticket → its items, so that a claim takes each caller whole.
//! - `s` (string): the leader's token, held (PX) from the moment it leads until it publishes:
//!   its slot's wait plus the lease, then the lease from its claim. Nobody else leads
//!   meanwhile; a leader that dies is replaced when it expires.
//! - `c:<batch>` (hash, item → tickets) and `l` (sorted set, batch → lease end, server ms):
//!   the claimed items. A claim whose lease ends unpublished is put back at the head of the
//!   queue (by the next `lead`, on the server's clock) and sent by another caller.
//! - `k:<ticket>` (string): the ticket is known (so a caller whose state the server lost, a
//!   restarted or flushed Redis, queues its items again); `r:<ticket>` (list): the outcomes
//!   published for it, one entry per request that carried its items.
//!
//! The lease and its heartbeat: a claim's lease is short (the client's request timeout, 1 to
//! 30 s: [`lease_for`]) so that a dead sender's items are sent by another caller soon; while
//! its request goes, the sender renews it every third of a lease from a thread of its own
//! (`renew`, on the server's clock), so a request slower than the lease (retries, backoff, a
//! slow answer) is not taken for a dead sender's and sent twice. A lease of the request's
//! worst case (timeout × attempts + backoff) would have done that too, but a sender killed
//! at its first attempt would then hold its callers' items for minutes. Renewing stops when
//! the send returns, when the claim is found lost, and after [`HOLD_MOST`] at most; a sender
//! whose process stalls past a lease may find its items sent again by another caller (a
//! purge sent twice, never an item told OK that no 2xx covered).
//!
//! Nobody is told OK for an item no 2xx covered: an entry `0` is published only by the
//! leader whose request got a 2xx; a failed request publishes its error only while its claim
//! is still held (else the items are back in the queue for another try); a leader that sent
//! nothing (its own deadline, its budget) puts its claim back at once.
//!
//! Bounded: every operation is one script, through the store's connection (its timeouts), its
//! reply capped at [`MAX_BATCH_REPLY_BYTES`]; items longer than [`MAX_ITEM_BYTES`] are not
//! queued; replies are checked (a hostile server's garbage is an error, never an item).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::redis_store::{ms_ceil, ms_floor, RedisStore};
use super::{margin, PaceKey, PaceKind, SlotStore, StoreError, Window};
use crate::engine::call::CallCtx;
use crate::engine::client::Client;
use crate::engine::coalesce::{Coalescer, Delivered, InProcess, ItemsDigest};
use crate::engine::error::{Error, Status};
use crate::engine::note::{Note, WaitReason};
use crate::engine::purge::{self, PurgeKind};
use crate::engine::request::{Failed, SentInfo};
use crate::engine::wait::{Refused, Waits};

/// The longest item queued in Redis (bytes); a caller with a longer one sends on its own.
pub const MAX_ITEM_BYTES: usize = 2048;
/// Pending items on one (resource, kind) at most; past it an enqueue is refused.
pub const MAX_QUEUE: usize = 10_000;
/// Callers waiting on one item at most.
pub const MAX_WAITERS: usize = 1_000;
/// The most one operation's replies may hold: a claim of 100 items of [`MAX_ITEM_BYTES`] and
/// their tickets, with room to spare.
pub const MAX_BATCH_REPLY_BYTES: usize = 1024 * 1024;
/// Queued items a claim looks through for callers that fit whole.
const CLAIM_SCAN: usize = 1_000;
/// Outcome entries read per poll.
const POLL_MAX: usize = 100;

// ---------------------------------------------------------------------------------------
// The scripts
// ---------------------------------------------------------------------------------------

/// KEYS: q, p, k:<ticket>, t. ARGV: ticket, ttl ms, max queue, max waiters, items...
/// Returns 1 (queued), 0 (full: nothing queued).
const ENQUEUE_LUA: &str = r"
local ticket = ARGV[1]
local ttl = tonumber(ARGV[2])
local maxq = tonumber(ARGV[3])
local maxw = tonumber(ARGV[4])
local new = 0
for i = 5, #ARGV do
  local w = redis.call('HGET', KEYS[2], ARGV[i])
  if w then
    local _, spaces = string.gsub(w, ' ', '')
    if spaces + 1 >= maxw then return 0 end
  else
    new = new + 1
  end
end
if redis.call('LLEN', KEYS[1]) + new > maxq then return 0 end
for i = 5, #ARGV do
  local it = ARGV[i]
  local w = redis.call('HGET', KEYS[2], it)
  if w then
    redis.call('HSET', KEYS[2], it, w .. ' ' .. ticket)
  else
    redis.call('RPUSH', KEYS[1], it)
    redis.call('HSET', KEYS[2], it, ticket)
  end
end
redis.call('HSET', KEYS[4], ticket, table.concat(ARGV, '\n', 5))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('SET', KEYS[3], '1', 'PX', ttl)
return 1
";

/// Put expired claims back (a fragment of LEAD_LUA and RELEASE_LUA): `requeue(batch)`.
const REQUEUE_FN: &str = r"
local function requeue(b)
  local c = redis.call('HGETALL', ARGV[7] .. b)
  for i = #c - 1, 1, -2 do
    local it, ts = c[i], c[i + 1]
    local w = redis.call('HGET', KEYS[2], it)
    if w then
      redis.call('HSET', KEYS[2], it, w .. ' ' .. ts)
    else
      redis.call('LPUSH', KEYS[1], it)
      redis.call('HSET', KEYS[2], it, ts)
    end
  end
  redis.call('DEL', ARGV[7] .. b)
  redis.call('ZREM', KEYS[3], b)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
end
";

/// KEYS: q, p, l, s, the pacer's schedule. ARGV: token, lease ms, ttl ms, N, W ms, margin
/// ms, claim prefix, max wait ms. Puts expired claims back, keeps a pending queue alive for
/// ttl; then returns
/// {0, ms the leader holds on} | {1, 0} (nothing pending) | {2, delay} (leads: its slot opens
/// in delay ms; `s` held for delay + lease) | {3, delay} (the slot is past max wait), each
/// with the server's now (ms) last.
const LEAD_BODY: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 16)
for _, b in ipairs(gone) do requeue(b) end
if redis.call('LLEN', KEYS[1]) > 0 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
end
local held = redis.call('PTTL', KEYS[4])
if held > 0 then return {0, held, now} end
if held == -1 then redis.call('DEL', KEYS[4]) end
if redis.call('LLEN', KEYS[1]) == 0 then return {1, 0, now} end
local n = tonumber(ARGV[4])
local w = tonumber(ARGV[5])
local m = tonumber(ARGV[6])
local h = redis.call('HMGET', KEYS[5], 't', 'd')
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
if delay > tonumber(ARGV[8]) then return {3, delay, now} end
redis.call('SET', KEYS[4], ARGV[1], 'PX', delay + tonumber(ARGV[2]))
return {2, delay, now}
";

/// KEYS: q, p, l, s, c:<batch>, t. ARGV: token, lease ms, ttl ms, max items, batch, scan.
/// Claims up to max items, each caller whole: an item comes with every pending item of the
/// callers that want it (and of theirs, ...); a group that does not fit is left for the next
/// request and the scan goes on (within the first `scan` items of the queue). Only when the
/// first group alone is larger than a request (callers chained by shared items) are items
/// taken in queue order. Returns {'0'} (no longer the leader) or
/// {'1', now, item, tickets, item, tickets, ...}.
const CLAIM_LUA: &str = r"
pcall(redis.replicate_commands)
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {'0'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local room = tonumber(ARGV[4])
local scan = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[6]) - 1)
local chosen, taken, inscan = {}, {}, {}
for _, it in ipairs(scan) do inscan[it] = true end
for _, it in ipairs(scan) do
  if #chosen >= room then break end
  if not taken[it] then
    local group, ing, seen = {it}, {[it] = true}, {}
    local fits, i = true, 1
    while fits and i <= #group do
      local w = redis.call('HGET', KEYS[2], group[i]) or ''
      for tk in string.gmatch(w, '%S+') do
        if not seen[tk] then
          seen[tk] = true
          local all = redis.call('HGET', KEYS[6], tk)
          if all then
            for x in string.gmatch(all, '[^\n]+') do
              if not ing[x] and not taken[x] and redis.call('HEXISTS', KEYS[2], x) == 1 then
                ing[x] = true
                group[#group + 1] = x
              end
            end
          end
        end
      end
      if #chosen + #group > room then fits = false end
      i = i + 1
    end
    if fits then
      for _, x in ipairs(group) do
        chosen[#chosen + 1] = x
        taken[x] = true
      end
    elseif #chosen == 0 then
      for _, x in ipairs(scan) do
        if #chosen >= room then break end
        chosen[#chosen + 1] = x
        taken[x] = true
      end
      break
    end
  end
end
redis.call('LTRIM', KEYS[1], #scan, -1)
for i = #scan, 1, -1 do
  if not taken[scan[i]] then redis.call('LPUSH', KEYS[1], scan[i]) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ttl) end
local out = {'1', string.format('%d', now)}
local tickets = {}
for _, it in ipairs(chosen) do
  if not inscan[it] then redis.call('LREM', KEYS[1], 1, it) end
  local ts = redis.call('HGET', KEYS[2], it) or ''
  redis.call('HDEL', KEYS[2], it)
  redis.call('HSET', KEYS[5], it, ts)
  for tk in string.gmatch(ts, '%S+') do tickets[tk] = true end
  out[#out + 1] = it
  out[#out + 1] = ts
end
for tk in pairs(tickets) do
  local all = redis.call('HGET', KEYS[6], tk)
  local pending = false
  if all then
    for x in string.gmatch(all, '[^\n]+') do
      if redis.call('HEXISTS', KEYS[2], x) == 1 then pending = true break end
    end
  end
  if not pending then redis.call('HDEL', KEYS[6], tk) end
end
if #chosen > 0 then
  redis.call('PEXPIRE', KEYS[5], lease + ttl)
  redis.call('ZADD', KEYS[3], now + lease, ARGV[5])
  redis.call('PEXPIRE', KEYS[3], lease + ttl)
end
redis.call('SET', KEYS[4], ARGV[1], 'PX', lease)
return out
";

/// KEYS: c:<batch>, l, s. ARGV: token, batch, lease ms, ttl ms. The sender's heartbeat: while
/// the claim is held, its lease ends `lease` from the server's now again (the leader's hold
/// too, while it is the sender's). Returns 1 if the claim was still held, else 0 (it expired:
/// its items are back in the queue, or already sent again).
const RENEW_LUA: &str = r"
pcall(redis.replicate_commands)
if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[2], lease + ttl)
redis.call('PEXPIRE', KEYS[1], lease + ttl)
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', lease)
end
return 1
";

/// KEYS: c:<batch>, l, s. ARGV: token, batch, ok 1|0, ttl ms, result prefix, then ticket,
/// entry pairs. An OK is always published (a 2xx covered the items); an error only while
/// the claim is held. Returns 1 if the claim was still held.
const PUBLISH_LUA: &str = r"
local owned = redis.call('EXISTS', KEYS[1]) == 1
local ttl = tonumber(ARGV[4])
if ARGV[3] == '1' or owned then
  for i = 6, #ARGV - 1, 2 do
    local r = ARGV[5] .. ARGV[i]
    if redis.call('LLEN', r) < 1000 then redis.call('RPUSH', r, ARGV[i + 1]) end
    redis.call('PEXPIRE', r, ttl)
  end
end
if owned then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
if owned then return 1 end
return 0
";

/// KEYS: q, p, l, s. ARGV: token, batch, ttl ms (as ARGV[3]), -, -, -, claim prefix.
/// Puts the batch back at the head of the queue and gives up the lead. Returns 1.
const RELEASE_BODY: &str = r"
if ARGV[2] ~= '' and redis.call('ZSCORE', KEYS[3], ARGV[2]) then requeue(ARGV[2]) end
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
return 1
";

/// KEYS: r:<ticket>, k:<ticket>. ARGV: ttl ms, max entries.
/// Returns {alive '1'|'0', entry...}.
const POLL_LUA: &str = r"
local alive = redis.call('EXISTS', KEYS[2])
local out = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('LTRIM', KEYS[1], #out, -1)
if alive == 1 then redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[1])) end
table.insert(out, 1, string.format('%d', alive))
return out
";

/// KEYS: q, p, k:<ticket>, r:<ticket>, t. ARGV: ticket, items... Takes the ticket off each
/// item still pending (the item off the queue when nobody else wants it); forgets the ticket.
/// Returns the items withdrawn.
const WITHDRAW_LUA: &str = r"
local ticket = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local it = ARGV[i]
  local w = redis.call('HGET', KEYS[2], it)
  if w then
    local kept = {}
    local mine = false
    for tk in string.gmatch(w, '%S+') do
      if tk == ticket then mine = true else kept[#kept + 1] = tk end
    end
    if mine then
      out[#out + 1] = it
      if #kept == 0 then
        redis.call('HDEL', KEYS[2], it)
        redis.call('LREM', KEYS[1], 1, it)
      else
        redis.call('HSET', KEYS[2], it, table.concat(kept, ' '))
      end
    end
  end
end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HDEL', KEYS[5], ticket)
return out
";

// ---------------------------------------------------------------------------------------
// The protocol
// ---------------------------------------------------------------------------------------

/// A caller's ticket (16 hex digits, random): where its outcomes are published.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(String);

impl Ticket {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8 random bytes as hex (tickets, leader tokens, batch ids).
fn random_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    // SystemRandom fails only when the OS has no randomness at all; the clock then.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        b = (t ^ u64::from(std::process::id()).rotate_left(32)).to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn is_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What `lead` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lead {
    /// Another caller leads, for at most this long more.
    Held(Duration),
    /// Nothing is pending (what was is claimed, or published).
    Empty,
    /// This caller leads: its slot opens in this long; claim then.
    Go(Duration),
    /// The next slot opens this far away: past what the caller may wait. Nothing held.
    TooFar(Duration),
}

/// Items claimed by a leader: each with the tickets that want it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub id: String,
    pub items: Vec<(String, Vec<Ticket>)>,
}

impl Batch {
    /// How many callers (tickets) the batch carries items of.
    pub fn callers(&self) -> usize {
        self.items
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .collect::<HashSet<_>>()
            .len()
    }
}

/// The outcome of the request that carried a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: its HTTP status, attempts and 429s met, and the items it carried (every caller's).
    Ok {
        http_status: u16,
        attempts: u32,
        rate_limited: u32,
        items: usize,
    },
    /// It failed: the status code (C numbers, `Status::code`) and message.
    Failed { status: i32, message: String },
}

/// One published entry, as a waiting caller reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub outcome: Outcome,
    /// How many callers the request carried items of.
    pub callers: usize,
    /// This caller's items it carried.
    pub items: Vec<String>,
    /// Every item the request carried, as its purge status lists them (a 2xx's; what a job
    /// confirms the request by). `None` once several requests are summed.
    pub digest: Option<ItemsDigest>,
}

impl Published {
    /// `self` (a 2xx's) and another 2xx that carried `mine` of the caller's items, summed.
    fn and(
        self,
        callers: usize,
        http_status: u16,
        attempts: u32,
        rate_limited: u32,
        items: usize,
        mine: Vec<String>,
    ) -> Published {
        let Outcome::Ok {
            attempts: a,
            rate_limited: r,
            items: i,
            ..
        } = self.outcome
        else {
            return self;
        };
        let mut all = self.items;
        all.extend(mine);
        Published {
            outcome: Outcome::Ok {
                http_status,
                attempts: a.saturating_add(attempts),
                rate_limited: r.saturating_add(rate_limited),
                items: i.saturating_add(items),
            },
            callers: self.callers.max(callers),
            items: all,
            digest: None,
        }
    }
}

/// The queue of one (resource, kind) of an account, on a [`RedisStore`].
pub struct Queue<'s> {
    store: &'s RedisStore,
    pace: PaceKey,
    prefix: String,
}

/// The scripts' arguments, as strings.
macro_rules! strs {
    ($($a:expr),* $(,)?) => { [$($a.to_string()),*] };
}

/// A reply that is not what the script answers.
fn garbage(store: &RedisStore, why: impl std::fmt::Display) -> StoreError {
    store.error(format!(
        "the coalescing queue's answer is not the script's ({why})"
    ))
}

impl<'s> Queue<'s> {
    pub fn new(store: &'s RedisStore, pace: PaceKey) -> Queue<'s> {
        let kind = match pace.kind {
            PaceKind::Urls => "urls",
            PaceKind::Patterns => "patterns",
            // Prefetches are not purges: never coalesced (Shared::deliver takes purges only).
            PaceKind::Prefetch => "prefetch",
        };
        let prefix = format!("gcdn:v1:{}:{}:{kind}:co:", store.account, pace.resource_id);
        Queue {
            store,
            pace,
            prefix,
        }
    }

    /// The Redis key `name` of this queue (`q`, `p`, `s`, `l`, `c:<batch>`, `k:<ticket>`, ...).
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        self.store
            .with_connection_capped(MAX_BATCH_REPLY_BYTES, |con| {
                let mut inv = script.prepare_invoke();
                for k in keys {
                    inv.key(k);
                }
                for a in args {
                    inv.arg(a.as_str());
                }
                inv.invoke(con)
            })
    }

    /// Queue `items` (unique, checked, each at most [`MAX_ITEM_BYTES`]) for a new ticket;
    /// `None` when the queue is full (nothing queued). Its keys live `ttl` (renewed by
    /// [`Queue::poll`]).
    pub fn enqueue(&self, items: &[&str], ttl: Duration) -> Result<Option<Ticket>, StoreError> {
        let ticket = Ticket(random_id());
        let mut args = Vec::from(strs![ticket.0, ms_ceil(ttl).max(1), MAX_QUEUE, MAX_WAITERS]);
        args.extend(items.iter().map(|i| (*i).to_owned()));
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key(&format!("k:{}", ticket.0)),
            self.key("t"),
        ];
        let r: i64 = self.run(&scripts().enqueue, &keys, &args)?;
        match r {
            1 => Ok(Some(ticket)),
            0 => Ok(None),
            x => Err(garbage(self.store, format!("enqueue answered {x}"))),
        }
    }

    /// Put expired claims back; then lead (the next slot under `window` within `max_wait`,
    /// `token` held for its wait plus `lease`) if nobody leads and items are pending.
    pub fn lead(
        &self,
        token: &str,
        window: Window,
        lease: Duration,
        ttl: Duration,
        max_wait: Duration,
    ) -> Result<Lead, StoreError> {
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key("l"),
            self.key("s"),
            self.store.redis_key(self.pace),
        ];
        let (lease, ttl) = (ms_ceil(lease).max(1), ms_ceil(ttl).max(1));
        let (n, w, m) = (
            window.requests.max(1),
            ms_ceil(window.per),
            ms_ceil(margin(window)),
        );
        let (claims, max_wait) = (self.key("c:"), ms_floor(max_wait));
        let r: Vec<i64> = self.run(
            &scripts().lead,
            &keys,
            &strs![token, lease, ttl, n, w, m, claims, max_wait],
        )?;
        let &[what, ms, now] = r.as_slice() else {
            return Err(garbage(self.store, format!("{} integers", r.len())));
        };
        if !(0..=30 * 86_400_000).contains(&ms) || now <= 0 {
            return Err(garbage(self.store, format!("{ms} ms at {now}")));
        }
        let d = Duration::from_millis(ms as u64);
        Ok(match what {
            0 => Lead::Held(d),
            1 => Lead::Empty,
            2 => Lead::Go(d),
            3 => Lead::TooFar(d),
            x => return Err(garbage(self.store, format!("lead answered {x}"))),
        })
    }

    /// As the leader (`token`): claim up to `max_items` of the queue, oldest first, each
    /// caller's items whole (a caller that does not fit waits for the next request), for
    /// `lease`. `None`: no longer the leader (its hold expired). An empty batch: nothing was
    /// pending.
    pub fn claim(
        &self,
        token: &str,
        max_items: usize,
        lease: Duration,
        ttl: Duration,
    ) -> Result<Option<Batch>, StoreError> {
        let id = random_id();
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key("l"),
            self.key("s"),
            self.key(&format!("c:{id}")),
            self.key("t"),
        ];
        let (lease, ttl, max) = (ms_ceil(lease).max(1), ms_ceil(ttl).max(1), max_items);
        let r: Vec<String> = self.run(
            &scripts().claim,
            &keys,
            &strs![token, lease, ttl, max, id, CLAIM_SCAN],
        )?;
        match r.first().map(String::as_str) {
            Some("0") if r.len() == 1 => return Ok(None),
            Some("1") if r.len().is_multiple_of(2) && r.len() - 2 <= 2 * max_items => {}
            _ => {
                return Err(garbage(
                    self.store,
                    format!("a claim of {} fields", r.len()),
                ))
            }
        }
        let mut items = Vec::with_capacity(r.len() / 2 - 1);
        let mut seen = HashSet::new();
        for pair in r[2..].chunks(2) {
            let (item, tickets) = (&pair[0], &pair[1]);
            if !valid_item(item) || !seen.insert(item.as_str()) {
                return Err(garbage(self.store, "an item that was never queued"));
            }
            let tickets: Vec<Ticket> = tickets.split(' ').map(|t| Ticket(t.to_owned())).collect();
            if tickets.iter().any(|t| !is_id(&t.0)) || tickets.len() > MAX_WAITERS {
                return Err(garbage(self.store, "a ticket that is not one"));
            }
            items.push((item.clone(), tickets));
        }
        Ok(Some(Batch { id, items }))
    }

    /// As the sender of `batch` (`token`): its lease ends `lease` from the server's now again.
    /// False: the claim was no longer held (its lease had ended).
    pub fn renew(
        &self,
        token: &str,
        batch: &Batch,
        lease: Duration,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let keys = [
            self.key(&format!("c:{}", batch.id)),
            self.key("l"),
            self.key("s"),
        ];
        let (lease, ttl) = (ms_ceil(lease).max(1), ms_ceil(ttl).max(1));
        let r: i64 = self.run(&scripts().renew, &keys, &strs![token, batch.id, lease, ttl])?;
        match r {
            1 => Ok(true),
            0 => Ok(false),
            x => Err(garbage(self.store, format!("renew answered {x}"))),
        }
    }

    /// As the leader (`token`): publish `outcome` of `batch`'s request to every ticket that
    /// wanted its items, and give up the lead. An error is published only while the claim
    /// is held (else the items are queued again). True if the claim was still held.
    pub fn publish(
        &self,
        token: &str,
        batch: &Batch,
        outcome: &Outcome,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let callers = batch.callers();
        let head = match outcome {
            Outcome::Ok {
                http_status,
                attempts,
                rate_limited,
                items,
            } => {
                let digest = ItemsDigest::of(batch.items.iter().map(|(i, _)| i.as_str()));
                format!(
                    "0\n{callers}\n{http_status} {attempts} {rate_limited} {items} {}",
                    digest.encode()
                )
            }
            Outcome::Failed { status, message } => {
                let one_line: String = message
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(2000)
                    .collect();
                format!("{status}\n{callers}\n{one_line}")
            }
        };
        let mut per_ticket: HashMap<&Ticket, String> = HashMap::new();
        for (item, tickets) in &batch.items {
            for t in tickets {
                let e = per_ticket.entry(t).or_insert_with(|| head.clone());
                e.push('\n');
                e.push_str(item);
            }
        }
        let keys = [
            self.key(&format!("c:{}", batch.id)),
            self.key("l"),
            self.key("s"),
        ];
        let ok = u8::from(matches!(outcome, Outcome::Ok { .. }));
        let (ttl, results) = (ms_ceil(ttl).max(1), self.key("r:"));
        let mut args = Vec::from(strs![token, batch.id, ok, ttl, results]);
        for (t, entry) in per_ticket {
            args.push(t.0.clone());
            args.push(entry);
        }
        let r: i64 = self.run(&scripts().publish, &keys, &args)?;
        Ok(r == 1)
    }

    /// As the leader (`token`): put `batch` (if any) back at the head of the queue at once
    /// (nothing of it was sent) and give up the lead.
    pub fn release(
        &self,
        token: &str,
        batch: Option<&Batch>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let keys = [self.key("q"), self.key("p"), self.key("l"), self.key("s")];
        let id = batch.map_or("", |b| b.id.as_str());
        let (ttl, claims) = (ms_ceil(ttl).max(1), self.key("c:"));
        let r: i64 = self.run(
            &scripts().release,
            &keys,
            &strs![token, id, ttl, "", "", "", claims],
        )?;
        if r == 1 {
            Ok(())
        } else {
            Err(garbage(self.store, format!("release answered {r}")))
        }
    }

    /// The outcomes published for `ticket` since the last poll (at most a hundred), and
    /// whether the server still knows the ticket (it renews it for `ttl`).
    pub fn poll(
        &self,
        ticket: &Ticket,
        ttl: Duration,
    ) -> Result<(bool, Vec<Published>), StoreError> {
        let keys = [
            self.key(&format!("r:{}", ticket.0)),
            self.key(&format!("k:{}", ticket.0)),
        ];
        let (ttl, max) = (ms_ceil(ttl).max(1), POLL_MAX);
        let r: Vec<String> = self.run(&scripts().poll, &keys, &strs![ttl, max])?;
        let alive = match r.first().map(String::as_str) {
            Some("1") => true,
            Some("0") => false,
            _ => return Err(garbage(self.store, "a poll without its flag")),
        };
        if r.len() > POLL_MAX + 1 {
            return Err(garbage(self.store, format!("{} entries", r.len() - 1)));
        }
        let mut out = Vec::with_capacity(r.len() - 1);
        for entry in &r[1..] {
            out.push(parse_entry(entry).ok_or_else(|| garbage(self.store, "an outcome entry"))?);
        }
        Ok((alive, out))
    }

    /// Take `ticket` off those of `items` still pending; forget the ticket. The items
    /// withdrawn (the others are in flight, or published).
    pub fn withdraw(&self, ticket: &Ticket, items: &[&str]) -> Result<Vec<String>, StoreError> {
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key(&format!("k:{}", ticket.0)),
            self.key(&format!("r:{}", ticket.0)),
            self.key("t"),
        ];
        let mut args = Vec::from(strs![ticket.0]);
        args.extend(items.iter().map(|i| (*i).to_owned()));
        let r: Vec<String> = self.run(&scripts().withdraw, &keys, &args)?;
        if r.len() > items.len() || r.iter().any(|w| !items.contains(&w.as_str())) {
            return Err(garbage(self.store, "withdrew items it was not given"));
        }
        Ok(r)
    }
}

/// An item as queued: a path (`/...`), no control character, at most [`MAX_ITEM_BYTES`].
pub fn valid_item(item: &str) -> bool {
    item.starts_with('/') && item.len() <= MAX_ITEM_BYTES && !item.chars().any(char::is_control)
}

/// `<status>\n<callers>\n<message>\n<item>...` → [`Published`]; a 2xx's message is
/// `<http status> <attempts> <429s> <items carried> <count>:<hash>` (the [`ItemsDigest`] of
/// the items carried).
fn parse_entry(entry: &str) -> Option<Published> {
    let mut lines = entry.split('\n');
    let status: i32 = lines.next()?.parse().ok()?;
    let callers: usize = lines.next()?.parse().ok()?;
    let message = lines.next()?;
    let items: Vec<String> = lines.map(str::to_owned).collect();
    if items.is_empty() || !items.iter().all(|i| valid_item(i)) || callers == 0 {
        return None;
    }
    let mut digest = None;
    let outcome = match status {
        0 => {
            let fields: Vec<&str> = message.split(' ').collect();
            let &[http, attempts, rate_limited, carried, all] = fields.as_slice() else {
                return None;
            };
            let n: Vec<u64> = [http, attempts, rate_limited, carried]
                .iter()
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            let &[http, attempts, rate_limited, carried] = n.as_slice() else {
                return None;
            };
            let all = ItemsDigest::decode(all)?;
            if !(200..300).contains(&http) || attempts == 0 || carried < items.len() as u64 {
                return None;
            }
            digest = Some(all);
            Outcome::Ok {
                http_status: http as u16,
                attempts: u32::try_from(attempts).ok()?,
                rate_limited: u32::try_from(rate_limited).ok()?,
                items: usize::try_from(carried).ok()?,
            }
        }
        s if s > 0 => Outcome::Failed {
            status: s,
            message: message.to_owned(),
        },
        _ => return None,
    };
    Some(Published {
        outcome,
        callers,
        items,
        digest,
    })
}

struct Scripts {
    enqueue: redis::Script,
    lead: redis::Script,
    claim: redis::Script,
    publish: redis::Script,
    renew: redis::Script,
    release: redis::Script,
    poll: redis::Script,
    withdraw: redis::Script,
}

fn scripts() -> &'static Scripts {
    static S: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    S.get_or_init(|| Scripts {
        enqueue: redis::Script::new(ENQUEUE_LUA),
        lead: redis::Script::new(&format!(
            "pcall(redis.replicate_commands)\n{REQUEUE_FN}\n{LEAD_BODY}"
        )),
        claim: redis::Script::new(CLAIM_LUA),
        publish: redis::Script::new(PUBLISH_LUA),
        renew: redis::Script::new(RENEW_LUA),
        release: redis::Script::new(&format!("{REQUEUE_FN}\n{RELEASE_BODY}")),
        poll: redis::Script::new(POLL_LUA),
        withdraw: redis::Script::new(WITHDRAW_LUA),
    })
}

// ---------------------------------------------------------------------------------------
// One caller's part
// ---------------------------------------------------------------------------------------

/// How a caller takes part (see [`purge`]).
#[derive(Clone, Copy, Debug)]
pub struct Part {
    /// The limit slots are taken under.
    pub window: Window,
    /// Items per request at most.
    pub max_items: usize,
    /// How long a claim (and a leader's hold past its slot) lasts unpublished.
    pub lease: Duration,
    /// The keys' lifetime, renewed while the caller waits.
    pub ttl: Duration,
}

/// The lease for a request timeout: the timeout, within 1 s and 30 s.
pub fn lease_for(request_timeout: Duration) -> Duration {
    request_timeout.clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// What the caller does for [`purge`]: wait (charged to its budget and deadline, cancellably)
/// and send a request of items.
pub trait Caller {
    /// The longest rate-limit wait the caller may still make.
    fn allowance(&self) -> Duration;
    /// Wait `d`; `Err` (the caller's error) when it cannot (budget, deadline, cancel).
    fn wait(&mut self, d: Duration) -> Result<(), Stop>;
    /// Send one request of `items` in the slot just waited for: its HTTP status, attempts
    /// and 429s met.
    fn send(&mut self, items: &[&str]) -> Result<(u16, u32, u32), SendFailed>;
}

/// Why a caller stopped waiting: its status (C number) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub status: i32,
    pub message: String,
}

/// A request that failed: its status and message, and whether anything was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendFailed {
    pub status: i32,
    pub message: String,
    pub nothing_sent: bool,
}

/// How a caller's part ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every item was in a request that got a 2xx. `requests`: how many distinct requests
    /// carried them (one, unless callers chained by shared items outgrew a request, or a
    /// claim was put back); `led`: how many of those this caller sent; `all`: those requests
    /// summed (attempts, 429s and items carried added up, the most callers of one, the last
    /// HTTP status, this caller's items).
    Purged {
        requests: usize,
        led: usize,
        all: Published,
    },
    /// An item's request failed (the first failure published for this caller), or the
    /// caller stopped (`stop`): `purged` its items purged before, `in_flight` those claimed
    /// by a request whose outcome it did not wait for.
    Failed {
        status: i32,
        message: String,
        /// How many callers the failed request carried (0: the caller's own stop).
        callers: usize,
        purged: Vec<String>,
        in_flight: Vec<String>,
    },
    /// The queue was full: nothing of it queued; the caller sends on its own.
    Full,
    /// The store failed: `unsent` items of the caller no 2xx is known to have covered
    /// (withdrawn when the store still answered).
    StoreFailed {
        error: StoreError,
        purged: Vec<String>,
        unsent: Vec<String>,
    },
}

/// Poll spacing: from 10 ms, doubling to 200 ms.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MOST: Duration = Duration::from_millis(200);

/// One caller's items through the queue: queue them, then until every one has an outcome
/// (or the caller stops): read the outcomes published for it, lead when nobody does (wait
/// for the slot, claim, send, publish), else wait a little.
pub fn purge(
    store: &RedisStore,
    pace: PaceKey,
    items: &[&str],
    part: Part,
    caller: &mut dyn Caller,
) -> Ended {
    let queue = Queue::new(store, pace);
    let mut ticket = match queue.enqueue(items, part.ttl) {
        Ok(Some(t)) => t,
        Ok(None) => return Ended::Full,
        Err(error) => {
            return Ended::StoreFailed {
                error,
                purged: Vec::new(),
                unsent: items.iter().map(|s| (*s).to_owned()).collect(),
            }
        }
    };
    let mut left: Vec<&str> = items.to_vec();
    let mut purged: Vec<String> = Vec::new();
    let mut requests = 0;
    let mut led = 0;
    let mut all: Option<Published> = None;
    let mut pause = POLL_FIRST;
    let token = random_id();
    let store_failed = |error: StoreError, left: &[&str], purged: Vec<String>| Ended::StoreFailed {
        error,
        purged,
        unsent: left.iter().map(|s| (*s).to_owned()).collect(),
    };
    loop {
        let (alive, published) = match queue.poll(&ticket, part.ttl) {
            Ok(p) => p,
            Err(e) => return store_failed(e, &left, purged),
        };
        for p in published {
            let mine: Vec<String> = p
                .items
                .into_iter()
                .filter(|i| left.contains(&i.as_str()))
                .collect();
            if mine.is_empty() {
                continue;
            }
            match p.outcome {
                Outcome::Ok {
                    http_status,
                    attempts,
                    rate_limited,
                    items,
                } => {
                    requests += 1;
                    left.retain(|l| !mine.iter().any(|m| m == l));
                    purged.extend(mine.iter().cloned());
                    all = Some(match all.take() {
                        None => Published { items: mine, ..p },
                        Some(before) => {
                            before.and(p.callers, http_status, attempts, rate_limited, items, mine)
                        }
                    });
                }
                Outcome::Failed { status, message } => {
                    let in_flight = match queue.withdraw(&ticket, &left) {
                        Ok(withdrawn) => left
                            .iter()
                            .filter(|l| !mine.iter().any(|m| m == *l))
                            .filter(|l| !withdrawn.iter().any(|w| w == *l))
                            .map(|l| (*l).to_owned())
                            .collect(),
                        Err(_) => Vec::new(),
                    };
                    return Ended::Failed {
                        status,
                        message,
                        callers: p.callers,
                        purged,
                        in_flight,
                    };
                }
            }
        }
        if let (true, Some(all)) = (left.is_empty(), all.take()) {
            let _ = queue.withdraw(&ticket, &[]);
            return Ended::Purged { requests, led, all };
        }
        if !alive {
            // The server lost the ticket (restarted, flushed): queue what is left again.
            ticket = match queue.enqueue(&left, part.ttl) {
                Ok(Some(t)) => t,
                Ok(None) => return Ended::Full,
                Err(e) => return store_failed(e, &left, purged),
            };
            continue;
        }
        let lead = match queue.lead(
            &token,
            part.window,
            part.lease,
            part.ttl,
            caller.allowance(),
        ) {
            Ok(l) => l,
            Err(e) => return store_failed(e, &left, purged),
        };
        let stop = match lead {
            Lead::Go(delay) => match caller.wait(delay) {
                Err(stop) => {
                    let _ = queue.release(&token, None, part.ttl);
                    Some(stop)
                }
                Ok(()) => {
                    match queue.claim(&token, part.max_items, part.lease, part.ttl) {
                        Err(e) => return store_failed(e, &left, purged),
                        Ok(None) => {}
                        Ok(Some(batch)) if batch.items.is_empty() => {
                            let _ = queue.release(&token, None, part.ttl);
                        }
                        Ok(Some(batch)) => {
                            let its: Vec<&str> =
                                batch.items.iter().map(|(i, _)| i.as_str()).collect();
                            let sent = send_renewing(&queue, &token, &batch, part, caller, &its);
                            let outcome = match sent {
                                Ok((http_status, attempts, rate_limited)) => Outcome::Ok {
                                    http_status,
                                    attempts,
                                    rate_limited,
                                    items: its.len(),
                                },
                                Err(f) if f.nothing_sent => {
                                    // Its own stop: the batch goes back for another caller.
                                    if let Err(e) = queue.release(&token, Some(&batch), part.ttl) {
                                        return store_failed(e, &left, purged);
                                    }
                                    let stop = Stop {
                                        status: f.status,
                                        message: f.message,
                                    };
                                    return stopped(&queue, &ticket, stop, &left, purged);
                                }
                                Err(f) => Outcome::Failed {
                                    status: f.status,
                                    message: f.message,
                                },
                            };
                            led += 1;
                            if let Err(e) = queue.publish(&token, &batch, &outcome, part.ttl) {
                                // Ours are known: a 2xx covered them, or the request failed.
                                let mine: Vec<String> = its
                                    .iter()
                                    .filter(|i| left.contains(i))
                                    .map(|i| (*i).to_owned())
                                    .collect();
                                if matches!(outcome, Outcome::Ok { .. }) {
                                    left.retain(|l| !mine.iter().any(|m| m == l));
                                    purged.extend(mine);
                                }
                                return store_failed(e, &left, purged);
                            }
                        }
                    }
                    pause = POLL_FIRST;
                    None
                }
            },
            Lead::TooFar(d) => Some(Stop {
                status: super::super::error::Status::RateLimited.code(),
                message: format!(
                    "the next {} purge slot opens in {}, past what the call may wait",
                    pace.kind.noun(),
                    super::super::format::secs(d)
                ),
            }),
            Lead::Held(held) => caller
                .wait(pause.min(held.max(Duration::from_millis(1))))
                .err(),
            Lead::Empty => caller.wait(pause).err(),
        };
        if let Some(stop) = stop {
            return stopped(&queue, &ticket, stop, &left, purged);
        }
        if !matches!(lead, Lead::Go(_)) {
            pause = (pause * 2).min(POLL_MOST);
        }
    }
}

/// How often a sender renews its claim: three times a lease.
fn heartbeat_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(10))
}

/// The longest a sender keeps its claim by renewing it. Its send is bounded by its own
/// timeouts and deadline, far below this; a sender stuck past it loses the claim (its items
/// go back to the queue) rather than holding them without bound.
pub const HOLD_MOST: Duration = Duration::from_secs(600);

/// `caller.send(items)` of `batch`, its claim renewed meanwhile (every third of a lease, on
/// a thread of its own) until the send returns: a request slower than the lease (retries,
/// backoff, a slow answer) is not taken for a dead sender's and sent again.
fn send_renewing(
    queue: &Queue<'_>,
    token: &str,
    batch: &Batch,
    part: Part,
    caller: &mut dyn Caller,
    items: &[&str],
) -> Result<(u16, u32, u32), SendFailed> {
    let (done, beat) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let began = std::time::Instant::now();
            let every = heartbeat_every(part.lease);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = beat.recv_timeout(every) {
                if began.elapsed() >= HOLD_MOST {
                    break;
                }
                // Lost (the lease ended while this process was stalled): stop; the publish
                // tells whether the claim was still held. A store error: try again next beat.
                if let Ok(false) = queue.renew(token, batch, part.lease, part.ttl) {
                    break;
                }
            }
        });
        let sent = caller.send(items);
        drop(done);
        sent
    })
}

/// The caller stops: withdraw what is still pending; the rest is in flight.
fn stopped(
    queue: &Queue<'_>,
    ticket: &Ticket,
    stop: Stop,
    left: &[&str],
    purged: Vec<String>,
) -> Ended {
    let in_flight = match queue.withdraw(ticket, left) {
        Ok(withdrawn) => left
            .iter()
            .filter(|l| !withdrawn.iter().any(|w| w == *l))
            .map(|l| (*l).to_owned())
            .collect(),
        Err(_) => left.iter().map(|l| (*l).to_owned()).collect(),
    };
    Ended::Failed {
        status: stop.status,
        message: stop.message,
        callers: 0,
        purged,
        in_flight,
    }
}

// ---------------------------------------------------------------------------------------
// Behind the client's coalescer seam
// ---------------------------------------------------------------------------------------

/// The client's coalescer when a rate store is set: a caller's items through the queue in
/// Redis ([`purge`]), shared with every process of the account. Purge-all, a caller with
/// more than a request's worth or an item longer than [`MAX_ITEM_BYTES`], and a full queue
/// go through the in-process coalescer; so does a caller whose store fails (fail-open, told
/// to the observer as `Note::StoreFallback`), with its items no 2xx is known to have covered,
/// unless the store is fail-closed (`Status::Network`).
pub struct Shared {
    store: std::sync::Arc<RedisStore>,
    local: InProcess,
    fail_closed: bool,
}

impl Shared {
    pub fn new(store: std::sync::Arc<RedisStore>, fail_closed: bool) -> Shared {
        Shared {
            store,
            local: InProcess::new(),
            fail_closed,
        }
    }
}

/// The keys' lifetime for a caller: its wait budget and two leases, within 30 s and 15 min
/// (renewed while it waits).
fn ttl_for(budget: Duration, lease: Duration) -> Duration {
    budget
        .saturating_add(lease * 2)
        .clamp(Duration::from_secs(30), Duration::from_secs(900))
}

/// A library caller: waits through its call's [`Waits`], sends through the one purge path.
struct Through<'a> {
    client: &'a Client,
    ctx: &'a CallCtx,
    waits: Waits<'a>,
    resource_id: i64,
    kind: PurgeKind,
    pace: PaceKey,
}

impl Caller for Through<'_> {
    fn allowance(&self) -> Duration {
        self.waits.rate_allowance()
    }

    fn wait(&mut self, d: Duration) -> Result<(), Stop> {
        self.waits
            .wait(d, WaitReason::Pacer, Some(self.pace))
            .map_err(|refused| Stop {
                status: refused.status().code(),
                message: match refused {
                    Refused::Cancelled => "the call was cancelled".to_owned(),
                    r => format!(
                        "waiting for the shared {} purge request: {}",
                        self.pace.kind.noun(),
                        r.explain()
                    ),
                },
            })
    }

    fn send(&mut self, items: &[&str]) -> Result<(u16, u32, u32), SendFailed> {
        purge::send_alone(self.client, self.ctx, self.resource_id, self.kind, items)
            .map(|i| (i.http_status, i.attempts, i.rate_limited))
            .map_err(|f| SendFailed {
                status: f.error.status.code(),
                message: f.error.message,
                nothing_sent: f.attempts == 0,
            })
    }
}

impl Coalescer for Shared {
    fn deliver(
        &self,
        client: &Client,
        ctx: &CallCtx,
        resource_id: i64,
        kind: PurgeKind,
        items: &[&str],
    ) -> Result<Delivered, Failed> {
        let max_items = client.per_request(kind);
        if kind == PurgeKind::All
            || items.is_empty()
            || items.len() > max_items
            || !items.iter().all(|i| valid_item(i))
        {
            return self.local.deliver(client, ctx, resource_id, kind, items);
        }
        let pace = PaceKey {
            resource_id,
            kind: purge::pace_kind(kind),
        };
        let lease = lease_for(client.request_timeout());
        let part = Part {
            window: client.window(ctx, pace.kind),
            max_items,
            lease,
            ttl: ttl_for(ctx.wait_budget(), lease),
        };
        let mut caller = Through {
            client,
            ctx,
            waits: ctx.waits(),
            resource_id,
            kind,
            pace,
        };
        let failed = |status: Status, message: String, uncertain: bool| Failed {
            error: Error::new(status, message),
            earlier_attempt_uncertain: uncertain,
            attempts: 0,
            http_status: None,
            rate_limited: 0,
        };
        let ended = purge(&self.store, pace, items, part, &mut caller);
        // What the caller waited in the queue counts against its budget in the fallback.
        let rest = ctx.with_wait_budget(ctx.wait_budget().saturating_sub(caller.waits.waited()));
        match ended {
            Ended::Purged { all, requests, .. } => {
                let Outcome::Ok {
                    http_status,
                    attempts,
                    rate_limited,
                    items: carried,
                } = all.outcome
                else {
                    return Err(failed(Status::Protocol, "no outcome".into(), false));
                };
                if all.callers > 1 {
                    ctx.note(&Note::Shared {
                        resource_id,
                        kind: pace.kind,
                        items: carried,
                        callers: all.callers,
                    });
                }
                Ok(Delivered {
                    info: SentInfo {
                        attempts,
                        http_status,
                        rate_limited,
                    },
                    items: carried,
                    callers: all.callers,
                    for_others: carried.saturating_sub(all.items.len()),
                    // One request carried them all: the job confirms it by all of its items.
                    shared: all.digest.filter(|_| requests == 1),
                })
            }
            Ended::Failed {
                status,
                message,
                callers,
                purged,
                in_flight,
            } => {
                let noun = pace.kind.noun();
                let mut message = message;
                if callers > 1 {
                    message.push_str(&format!(
                        " (a request shared by {callers} callers through the rate store; {} of \
                         this caller's {noun}s were purged before it)",
                        purged.len()
                    ));
                }
                if !in_flight.is_empty() {
                    message.push_str(&format!(
                        "; {} {noun}(s) of this caller were in flight in a shared request, not \
                         known to be purged",
                        in_flight.len()
                    ));
                }
                let status = Status::from_code(status).unwrap_or(Status::Protocol);
                Err(failed(status, message, !in_flight.is_empty()))
            }
            Ended::Full => self.local.deliver(client, &rest, resource_id, kind, items),
            Ended::StoreFailed { error, unsent, .. } => {
                let store = self.store.describe();
                ctx.note(&Note::StoreFallback {
                    store: &store,
                    message: &error.message,
                });
                if self.fail_closed {
                    return Err(failed(
                        Status::Network,
                        format!(
                            "{} (fail-closed: no purge is sent while the rate store cannot be \
                             used)",
                            error.message
                        ),
                        false,
                    ));
                }
                let unsent: Vec<&str> = unsent.iter().map(String::as_str).collect();
                if unsent.is_empty() {
                    // The caller's own request got its 2xx; publishing it failed.
                    return Ok(Delivered::alone(
                        SentInfo {
                            attempts: 1,
                            http_status: 200,
                            rate_limited: 0,
                        },
                        items.len(),
                    ));
                }
                self.local
                    .deliver(client, &rest, resource_id, kind, &unsent)
            }
        }
    }

    fn describe(&self) -> String {
        self.store.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_garbage_does_not() {
        assert_eq!(
            parse_entry(&format!("0\n3\n201 1 0 4 {}\n/a\n/b", digest4())),
            Some(Published {
                outcome: Outcome::Ok {
                    http_status: 201,
                    attempts: 1,
                    rate_limited: 0,
                    items: 4
                },
                callers: 3,
                items: vec!["/a".into(), "/b".into()],
                digest: ItemsDigest::decode(&digest4()),
            })
        );
        assert_eq!(
            parse_entry("5\n2\nHTTP 503: down\n/a").unwrap().outcome,
            Outcome::Failed {
                status: 5,
                message: "HTTP 503: down".into()
            }
        );
        for bad in [
            "",
            "0",
            "0\n1\n",
            "0\n1\nx\n/a",
            "x\n1\n\n/a",
            "-1\n1\nm\n/a",
            "0\n0\n\n/a",
            "0\n1\n\n",
            "0\n1\n\n/a",
            "0\n1\n429 1 0 1\n/a",
            "0\n1\n200 1 0 0\n/a",
            "0\n1\n200 0 0 1\n/a",
            "0\n1\n200 1 0\n/a",
            // No digest of the request's items, or not one.
            "0\n1\n200 1 0 1\n/a",
            "0\n1\n200 1 0 1 1:0123\n/a",
            "0\n1\n200 1 0 1 x:0123456789abcdef0123456789abcdef\n/a",
        ] {
            assert_eq!(parse_entry(bad), None, "{bad:?}");
        }
        let long = format!("0\n1\n200 1 0 1\n/{}", "a".repeat(MAX_ITEM_BYTES));
        assert_eq!(parse_entry(&long), None);
    }

    fn digest4() -> String {
        ItemsDigest::of(["/a", "/b", "/c", "/d"]).encode()
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (random_id(), random_id());
        assert!(is_id(&a) && is_id(&b) && a != b, "{a} {b}");
        assert!(!is_id("0123456789abcdeg"));
    }

    #[test]
    fn leases_are_bounded() {
        assert_eq!(lease_for(Duration::from_millis(10)), Duration::from_secs(1));
        assert_eq!(lease_for(Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(lease_for(Duration::MAX), Duration::from_secs(30));
    }
}
