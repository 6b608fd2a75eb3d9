-- Concurrency leases with a first-come first-served wait queue: the Lua twin of
-- ConcurrencyCell in core/src/quota.rs.
--
-- Lease and ticket ids are chosen by the caller (random, below 2^52), so a call that timed out
-- can be undone later without knowing whether it ran: `abort` releases whatever that id got.
--
-- KEYS[1]  leases: sorted set, member lease id, score expiry ms (NOEXP: no TTL)
-- KEYS[2]  waiters: list of '<ticket>:<deadline ms>', oldest first
-- KEYS[3]  statistics hash: hwm, total, samples, reclaimed
-- KEYS[4]  tombstones: sorted set of aborted ids (score: when), kept ten minutes, so that an
--          acquisition that arrives after its own abort (a stalled connection) is not granted
-- ARGV     now ('' = server time), operation, operation arguments:
--   acquire  max, ttl_ms (-1: none), queue (0|1), max_wait_ms, ticket ('' for a new request),
--            id for a new lease or ticket
--            -> {now, 1, lease, active} granted | {now, 2, ticket, position, wait_left, active}
--               queued | {now, 3, active, timed_out, retry_after_ms} rejected
--               | {now, 4} the id is in use | {now, 5} the id was aborted (the caller draws
--               another in both cases)
--   available max, cost          -> {now, ok, active}
--   release  lease               -> {now, released}
--   cancel   ticket              -> {now, cancelled}
--   abort    id                  -> {now, undone}: releases the lease or drops the ticket `id`
--   stats                        -> {now, active, hwm, total, samples, reclaimed, waiting}

local NOEXP = 9007199254740992

local function pos_or_zero(x)
  if x > 0 then return x end
  return 0
end
local now = now_ms(ARGV[1])
local op = ARGV[2]
local leases, waiters, stats, tombstones = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local function read_waiters()
  local out = {}
  for i, w in ipairs(redis.call('LRANGE', waiters, 0, -1)) do
    local t, d = string.match(w, '^(%d+):(%d+)$')
    out[i] = { raw = w, ticket = tonumber(t), deadline = tonumber(d) }
  end
  return out
end

-- Removes waiter `ticket` from the queue: 1 if it was there.
local function drop_waiter(ticket)
  for _, w in ipairs(read_waiters()) do
    if w.ticket == ticket then
      redis.call('LREM', waiters, 1, w.raw)
      return 1
    end
  end
  return 0
end

-- Leases past their TTL are reclaimed, waiters past their deadline dropped.
local function reclaim()
  local gone = redis.call('ZREMRANGEBYSCORE', leases, '-inf', fmt(now))
  if gone > 0 then
    redis.call('HINCRBY', stats, 'reclaimed', gone)
  end
  for _, w in ipairs(read_waiters()) do
    if w.deadline < now then
      redis.call('LREM', waiters, 1, w.raw)
    end
  end
end

-- Samples the active count (high-water mark, running average).
local function sample()
  local active = redis.call('ZCARD', leases)
  local hwm = tonumber(redis.call('HGET', stats, 'hwm') or '0')
  if active > hwm then
    redis.call('HSET', stats, 'hwm', active)
  end
  redis.call('HINCRBY', stats, 'total', active)
  redis.call('HINCRBY', stats, 'samples', 1)
  return active
end

local function earliest_expiry()
  local first = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  if first[2] then
    local e = tonumber(first[2])
    if e < NOEXP then return e - now end
  end
  return 0
end

if op == 'acquire' then
  local max, ttl, queue, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
  local ticket, id = tonumber(ARGV[7]), ARGV[8]
  if redis.call('ZSCORE', leases, id) then
    return { now, 4 }
  end
  if redis.call('ZSCORE', tombstones, id) then
    return { now, 5 }
  end
  for _, w in ipairs(read_waiters()) do
    if w.ticket == tonumber(id) then
      return { now, 4 }
    end
  end
  reclaim()
  local active = redis.call('ZCARD', leases)
  local free = 0
  if max > active then free = max - active end
  local retry = earliest_expiry()
  local function grant()
    local exp = NOEXP
    if ttl >= 0 then exp = now + ttl end
    redis.call('ZADD', leases, fmt(exp), id)
    return { now, 1, tonumber(id), sample() }
  end
  if ticket then
    local ws = read_waiters()
    for i, w in ipairs(ws) do
      if w.ticket == ticket then
        if i - 1 < free then
          redis.call('LREM', waiters, 1, w.raw)
          return grant()
        end
        return { now, 2, ticket, i - 1, w.deadline - now, active }
      end
    end
    return { now, 3, active, 1, retry }
  end
  if redis.call('LLEN', waiters) == 0 and free > 0 then
    return grant()
  end
  if queue and max_wait > 0 then
    local len = redis.call('RPUSH', waiters, id .. ':' .. fmt(now + max_wait))
    return { now, 2, tonumber(id), len - 1, max_wait, active }
  end
  return { now, 3, active, 0, retry }
elseif op == 'available' then
  local max, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
  local active = redis.call('ZCOUNT', leases, '(' .. fmt(now), '+inf')
  local waiting = 0
  for _, w in ipairs(read_waiters()) do
    if w.deadline >= now then waiting = waiting + 1 end
  end
  local ok = 0
  if waiting == 0 and active + cost <= max then ok = 1 end
  return { now, ok, active }
elseif op == 'release' then
  reclaim()
  if redis.call('ZREM', leases, ARGV[3]) == 0 then
    return { now, 0 }
  end
  sample()
  return { now, 1 }
elseif op == 'cancel' then
  return { now, drop_waiter(tonumber(ARGV[3])) }
elseif op == 'abort' then
  local id = ARGV[3]
  redis.call('ZADD', tombstones, fmt(now), id)
  redis.call('ZREMRANGEBYSCORE', tombstones, '-inf', fmt(pos_or_zero(now - 600000)))
  redis.call('PEXPIRE', tombstones, 600000)
  if redis.call('ZREM', leases, id) == 1 then
    sample()
    return { now, 1 }
  end
  return { now, drop_waiter(tonumber(id)) }
elseif op == 'stats' then
  local s = redis.call('HMGET', stats, 'hwm', 'total', 'samples', 'reclaimed')
  return {
    now,
    redis.call('ZCARD', leases),
    tonumber(s[1] or '0'),
    tonumber(s[2] or '0'),
    tonumber(s[3] or '0'),
    tonumber(s[4] or '0'),
    redis.call('LLEN', waiters),
  }
end
return redis.error_reply('tenantguard: unknown concurrency operation ' .. tostring(op))
