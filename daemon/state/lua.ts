/**
 * The Lua scripts of the Redis resource store. Each store operation is one
 * script call, so every decision is atomic, also across several daemon
 * replicas of one domain sharing one Redis.
 *
 * Key schema, all under one hash tag per domain so that every key of a domain
 * lives in one Redis Cluster slot (BASE = `<prefix>:{<domain>}:`):
 *   BASE links              set: link ids with a capacity
 *   BASE cap:<link>         hash: class -> capacity bit/s
 *   BASE use:<link>|<class> hash: slot index -> held+booked bit/s (field absent = 0)
 *   BASE res:<id>           hash: state; req = "s0 s1 rate cls link,link,... start end"
 *                           (slot window, bit/s, class, links or "-" for none, requested window);
 *                           exp = hold expiry (kept on an expired one); with metadata also
 *                           owner, agr (agreement id) and meta (the metadata as JSON)
 *   BASE holds              sorted set: reservation id scored by hold expiry (ms)
 *   BASE agr:<agreement>    set: ids reserved with metadata for the agreement, until released
 *                           or aborted; lives as long as its holds' tombstones, or as told at commit
 *   BASE abandoned          set: agreements with an expired hold, not yet taken (takeAbandoned)
 *
 * Slot index s covers [s*slotMs, (s+1)*slotMs). Time comes from Redis TIME, so
 * replicas with skewed clocks agree on hold expiry.
 *
 * Expired holds are swept lazily at the start of every script: each one gives
 * back its usage once, so capacity of an abandoned hold returns with no process
 * watching it; the first expired hold of an agreement adds the agreement to
 * `abandoned`. The sweep touches keys of other reservations (and their
 * agreement indexes) that are not in KEYS; they share the domain's hash tag,
 * so they are in the same cluster slot (Redis allows that; a key in another
 * slot would be refused).
 *
 * Retention: a released, aborted or expired reservation stays as a tombstone
 * for tombstoneMs (so its id cannot be booked again); a committed one until its
 * window is over plus tombstoneMs. Usage fields of slots in the past are not
 * removed yet (admission never reads them); they cost a few bytes per slot used.
 */

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function unbook(base, links, cls, rate, s0, s1)
  for _, link in ipairs(links) do
    local ukey = base .. 'use:' .. link .. '|' .. cls
    for s = s0, s1 - 1 do
      local v = redis.call('HINCRBY', ukey, s, -rate)
      if v <= 0 then redis.call('HDEL', ukey, s) end
    end
  end
end

-- req = "s0 s1 rate cls link,link,... start end" (links "-": none)
local function parse_req(req)
  local s0, s1, rate, cls, links = string.match(req, '^(%d+) (%d+) (%d+) (%S+) (%S+)')
  local list = {}
  if links ~= '-' then
    for l in string.gmatch(links, '[^,]+') do list[#list + 1] = l end
  end
  return tonumber(s0), tonumber(s1), tonumber(rate), cls, list
end

local function close_res(base, rkey, req, new_state, tomb, keep_exp)
  local s0, s1, rate, cls, links = parse_req(req)
  unbook(base, links, cls, rate, s0, s1)
  redis.call('HSET', rkey, 'state', new_state)
  if not keep_exp then redis.call('HDEL', rkey, 'exp') end
  redis.call('PEXPIRE', rkey, tomb)
end

-- the fields of each reservation of an agreement index: {id, state, req, exp, meta}
local function members(base, idx)
  local out = {}
  for _, m in ipairs(redis.call('SMEMBERS', idx)) do
    local r = redis.call('HMGET', base .. 'res:' .. m, 'state', 'req', 'exp', 'meta')
    if r[1] then out[#out + 1] = {m, r[1], r[2], r[3], r[4]} end
  end
  return out
end

local function sweep(base, holds, now, tomb)
  local n = 0
  while true do
    local ids = redis.call('ZRANGEBYSCORE', holds, '-inf', now, 'LIMIT', 0, 128)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      local rkey = base .. 'res:' .. id
      local r = redis.call('HMGET', rkey, 'state', 'req', 'agr')
      if r[1] == 'held' then
        close_res(base, rkey, r[2], 'expired', tomb, true)
        n = n + 1
        if r[3] then
          -- report the agreement once: at the first of its holds that expires
          local first = true
          for _, m in ipairs(redis.call('SMEMBERS', base .. 'agr:' .. r[3])) do
            if m ~= id and redis.call('HGET', base .. 'res:' .. m, 'state') == 'expired' then first = false break end
          end
          if first then
            redis.call('SADD', base .. 'abandoned', r[3])
            redis.call('PEXPIRE', base .. 'abandoned', tomb)
          end
        end
      end
      redis.call('ZREM', holds, id)
    end
  end
  return n
end
`;

/**
 * reserve. KEYS: holds, res:<id>, then per link cap:<link>, use:<link>|<cls>,
 * then agr:<agreement> when there is metadata.
 * ARGV: base, id, cls, rate, s0, s1, holdTtlMs, tombMs, req, end, owner, agreement, meta
 * (the last three "" without metadata), link1, link2, ...
 * Returns: {"ok", exp} | {"dup", state, exp} | {"short", {link, slot, cap, used}, ...}
 * | {"conflict", state} | {"closed", state} | {"nolink", link} | {"noclass", link} | {"past", now}
 * | {"owner", owner}.
 */
export const RESERVE = `${COMMON}
local holds, rkey = KEYS[1], KEYS[2]
local base, id, cls = ARGV[1], ARGV[2], ARGV[3]
local rate, s0, s1 = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl, tomb, req = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local owner, agr, meta = ARGV[11], ARGV[12], ARGV[13]
local nlinks = #ARGV - 13
local idx = agr ~= '' and KEYS[#KEYS] or nil
local now = now_ms()
sweep(base, holds, now, tomb)

local ex = redis.call('HMGET', rkey, 'state', 'req', 'exp', 'owner')
if ex[1] then
  if ex[1] == 'held' or ex[1] == 'committed' then
    if ex[2] ~= req then return {'conflict', ex[1]} end
    if idx then
      if ex[4] and ex[4] ~= owner then return {'owner', ex[4]} end
      -- a retried reserve of a live hold carries the quote the caller was given last
      if ex[1] == 'held' then redis.call('HSET', rkey, 'meta', meta) end
    end
    return {'dup', ex[1], tonumber(ex[3]) or 0}
  end
  return {'closed', ex[1]}
end
if tonumber(ARGV[10]) <= now then return {'past', now} end
if idx then
  -- the agreement belongs to whoever holds it first: claimed in this same step
  for _, m in ipairs(redis.call('SMEMBERS', idx)) do
    local o = redis.call('HGET', base .. 'res:' .. m, 'owner')
    if o and o ~= owner then return {'owner', o} end
  end
end

local short = {'short'}
for i = 1, nlinks do
  local ckey, ukey = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local cap = redis.call('HGET', ckey, cls)
  if not cap then
    if redis.call('EXISTS', ckey) == 0 then return {'nolink', ARGV[13 + i]} end
    return {'noclass', ARGV[13 + i]}
  end
  cap = tonumber(cap)
  if s1 - s0 == 1 then
    local u = tonumber(redis.call('HGET', ukey, s0)) or 0
    if u + rate > cap then short[#short + 1] = {ARGV[13 + i], s0, cap, u} end
  else
    local s = s0
    local found = false
    while s < s1 and not found do
      local fields = {}
      local last = math.min(s1 - 1, s + 999)
      for f = s, last do fields[#fields + 1] = f end
      local used = redis.call('HMGET', ukey, unpack(fields))
      for j = 1, #used do
        local u = tonumber(used[j]) or 0
        if u + rate > cap then
          short[#short + 1] = {ARGV[13 + i], s + j - 1, cap, u}
          found = true
          break
        end
      end
      s = last + 1
    end
  end
end
if #short > 1 then return short end

for i = 1, nlinks do
  local ukey = KEYS[2 + 2 * i]
  for s = s0, s1 - 1 do redis.call('HINCRBY', ukey, s, rate) end
end
local exp = now + ttl
if idx then
  redis.call('HSET', rkey, 'state', 'held', 'req', req, 'exp', exp, 'owner', owner, 'agr', agr, 'meta', meta)
  redis.call('SADD', idx, id)
  if redis.call('PTTL', idx) < ttl + tomb then redis.call('PEXPIRE', idx, ttl + tomb) end
else
  redis.call('HSET', rkey, 'state', 'held', 'req', req, 'exp', exp)
end
redis.call('ZADD', holds, exp, id)
return {'ok', exp}
`;

/**
 * commit. KEYS: holds, res:<id>. ARGV: base, id, tombMs, slotMs, expected
 * agreement size or "", agreement index TTL ms or "" (the index is found by
 * the reservation's agr field: same hash tag).
 * Returns JSON: ["ok", req, meta] | ["dup", req, meta] | ["unknown"] | ["closed", state]
 * | ["changed", size] (req: the stored request, so that the caller needs no second round trip).
 */
export const COMMIT = `${COMMON}
local holds, rkey = KEYS[1], KEYS[2]
local base, id, tomb, slot_ms = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local expect, idx_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
sweep(base, holds, now_ms(), tomb)
local r = redis.call('HMGET', rkey, 'state', 'req', 'agr', 'meta')
if not r[1] then return cjson.encode({'unknown'}) end
local idx = r[3] and (base .. 'agr:' .. r[3]) or nil
if expect and idx and (r[1] == 'held' or r[1] == 'committed') then
  -- a committed agreement whose index was let go has nothing left to compare
  local size = redis.call('SCARD', idx)
  if size ~= expect and (size > 0 or r[1] == 'held') then return cjson.encode({'changed', size}) end
end
if r[1] ~= 'held' and r[1] ~= 'committed' then return cjson.encode({'closed', r[1]}) end
if idx_ttl and idx then redis.call('PEXPIRE', idx, idx_ttl) end
if r[1] == 'committed' then return cjson.encode({'dup', r[2], r[4]}) end
local _, s1 = parse_req(r[2])
redis.call('HSET', rkey, 'state', 'committed')
redis.call('HDEL', rkey, 'exp')
redis.call('ZREM', holds, id)
-- A booking record lives until its window is over plus the tombstone time.
redis.call('PEXPIREAT', rkey, s1 * slot_ms + tomb)
return cjson.encode({'ok', r[2], r[4]})
`;

/**
 * release (mode "release") and abort (mode "abort"). KEYS: holds, res:<id>.
 * ARGV: base, id, tombMs, mode.
 * Returns JSON: ["changed", previous] | ["same", previous] | ["unknown"] | ["committed"] (abort of a booking).
 */
export const CLOSE = `${COMMON}
local holds, rkey = KEYS[1], KEYS[2]
local base, id, tomb, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
sweep(base, holds, now_ms(), tomb)
local r = redis.call('HMGET', rkey, 'state', 'req', 'agr')
local state = r[1]
if r[3] then redis.call('SREM', base .. 'agr:' .. r[3], id) end
if not state then
  if mode == 'abort' then
    -- Remember the abort so that a reserve arriving late cannot book this id.
    redis.call('HSET', rkey, 'state', 'aborted')
    redis.call('PEXPIRE', rkey, tomb)
  end
  return cjson.encode({'unknown'})
end
if mode == 'abort' and state == 'committed' then return cjson.encode({'committed'}) end
if state == 'held' or state == 'committed' then
  close_res(base, rkey, r[2], mode == 'abort' and 'aborted' or 'released', tomb)
  redis.call('ZREM', holds, id)
  return cjson.encode({'changed', state})
end
return cjson.encode({'same', state})
`;

/**
 * usage of one link/class. KEYS: holds, cap:<link>, use:<link>|<cls>.
 * ARGV: base, tombMs, cls, s0, s1. Returns JSON: [cap or false, [used...]].
 */
export const USAGE = `${COMMON}
sweep(ARGV[1], KEYS[1], now_ms(), tonumber(ARGV[2]))
local cap = redis.call('HGET', KEYS[2], ARGV[3])
local out = {}
local s0, s1 = tonumber(ARGV[4]), tonumber(ARGV[5])
local s = s0
while s < s1 do
  local fields = {}
  local last = math.min(s1 - 1, s + 999)
  for f = s, last do fields[#fields + 1] = f end
  local used = redis.call('HMGET', KEYS[3], unpack(fields))
  for j = 1, #used do out[#out + 1] = tonumber(used[j]) or 0 end
  s = last + 1
end
return cjson.encode({cap and tonumber(cap) or false, out})
`;

/**
 * utilisation of every link/class in one slot (or the current one).
 * KEYS: holds, links. ARGV: base, tombMs, slotMs, slot (or "" for now).
 * Returns JSON: [slot, [[link, cls, cap, used], ...]].
 */
export const UTILISATION = `${COMMON}
local base = ARGV[1]
local now = now_ms()
sweep(base, KEYS[1], now, tonumber(ARGV[2]))
local slot = tonumber(ARGV[4])
if not slot then slot = math.floor(now / tonumber(ARGV[3])) end
local rows = {}
for _, link in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local caps = redis.call('HGETALL', base .. 'cap:' .. link)
  for i = 1, #caps, 2 do
    local used = redis.call('HGET', base .. 'use:' .. link .. '|' .. caps[i], slot)
    rows[#rows + 1] = {link, caps[i], tonumber(caps[i + 1]), tonumber(used) or 0}
  end
end
return cjson.encode({slot, rows})
`;

/** sweep. KEYS: holds. ARGV: base, tombMs. Returns the number of holds expired. */
export const SWEEP = `${COMMON}
return sweep(ARGV[1], KEYS[1], now_ms(), tonumber(ARGV[2]))
`;

/**
 * the reservations of one agreement. KEYS: holds, agr:<agreement>. ARGV: base, tombMs.
 * Returns JSON: [[id, state, req, exp, meta], ...] (absent fields false).
 */
export const AGREEMENT = `${COMMON}
sweep(ARGV[1], KEYS[1], now_ms(), tonumber(ARGV[2]))
return cjson.encode(members(ARGV[1], KEYS[2]))
`;

/**
 * take abandoned agreements. KEYS: holds, abandoned. ARGV: base, tombMs, max.
 * Returns JSON: [expired by this call, [[agreement, [[id, state, req, exp, meta], ...]], ...]].
 */
export const TAKE_ABANDONED = `${COMMON}
local base = ARGV[1]
local n = sweep(base, KEYS[1], now_ms(), tonumber(ARGV[2]))
local out = {}
for _, a in ipairs(redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))) do
  out[#out + 1] = {a, members(base, base .. 'agr:' .. a)}
end
return cjson.encode({n, out})
`;
