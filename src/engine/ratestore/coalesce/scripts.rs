//! The Lua scripts of the queue, each one atomic step on the server, on its clock (`TIME`).

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

pub(super) struct Scripts {
    pub(super) enqueue: redis::Script,
    pub(super) lead: redis::Script,
    pub(super) claim: redis::Script,
    pub(super) publish: redis::Script,
    pub(super) renew: redis::Script,
    pub(super) release: redis::Script,
    pub(super) poll: redis::Script,
    pub(super) withdraw: redis::Script,
}

pub(super) fn scripts() -> &'static Scripts {
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
