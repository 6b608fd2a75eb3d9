-- Duration leases (transactions): the Lua twin of DurationCell in core/src/quota.rs. Statuses
-- (deadlines, time left) are computed by the Rust side from the returned times; the script
-- only needs the expiry test to decide whether activity counts and whether an end was late.
--
-- KEYS[1]  leases hash: field lease id, value '<started ms>:<last activity ms>'
-- KEYS[2]  statistics hash: hwm, timeouts
-- KEYS[3]  the tenant's id counter
-- ARGV     now ('' = server time), operation, operation arguments:
--   begin                        -> {now, lease}
--   touch  lease, max_ms, idle_ms (-1: none) -> {now, found, started, last}
--   end    lease, max_ms, idle_ms            -> {now, found, started, last}
--   list                         -> {now, lease, started, last, lease, started, last, ...}
--   stats                        -> {now, active, hwm, timeouts}

local now = now_ms(ARGV[1])
local op = ARGV[2]
local leases, stats, ids = KEYS[1], KEYS[2], KEYS[3]

local function expired(started, last, max_ms, idle_ms)
  return (max_ms >= 0 and now > started + max_ms) or (idle_ms >= 0 and now > last + idle_ms)
end

local function get(lease)
  local v = redis.call('HGET', leases, lease)
  if not v then return nil end
  local s, l = string.match(v, '^(%d+):(%d+)$')
  return tonumber(s), tonumber(l)
end

if op == 'begin' then
  local lease = redis.call('INCR', ids)
  redis.call('HSET', leases, lease, fmt(now) .. ':' .. fmt(now))
  local active = redis.call('HLEN', leases)
  if active > tonumber(redis.call('HGET', stats, 'hwm') or '0') then
    redis.call('HSET', stats, 'hwm', active)
  end
  return { now, lease }
elseif op == 'touch' or op == 'end' then
  local lease, max_ms, idle_ms = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  local s, l = get(lease)
  if not s then return { now, 0, 0, 0 } end
  local late = expired(s, l, max_ms, idle_ms)
  if op == 'touch' then
    if not late and now > l then
      l = now
      redis.call('HSET', leases, lease, fmt(s) .. ':' .. fmt(l))
    end
  else
    redis.call('HDEL', leases, lease)
    if late then redis.call('HINCRBY', stats, 'timeouts', 1) end
  end
  return { now, 1, s, l }
elseif op == 'list' then
  local out = { now }
  local all = redis.call('HGETALL', leases)
  for i = 1, #all, 2 do
    local s, l = string.match(all[i + 1], '^(%d+):(%d+)$')
    out[#out + 1] = tonumber(all[i])
    out[#out + 1] = tonumber(s)
    out[#out + 1] = tonumber(l)
  end
  return out
elseif op == 'stats' then
  local st = redis.call('HMGET', stats, 'hwm', 'timeouts')
  return { now, redis.call('HLEN', leases), tonumber(st[1] or '0'), tonumber(st[2] or '0') }
end
return redis.error_reply('tenantguard: unknown duration operation ' .. tostring(op))
