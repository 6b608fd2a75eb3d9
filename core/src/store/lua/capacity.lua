-- Capacity gauges (storage bytes and named gauges): the Lua twin of `apply_capacity` in
-- core/src/quota.rs.
--
-- KEYS[1]  the tenant's capacity hash (field: resource, value: units used)
-- ARGV     now (unused; kept for the common layout), resource, operation (set|add|sub|get),
--          amount, max (-1: none; add only)
-- Returns  {applied, value after}

local field, op, amount, max = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local used = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if op == 'set' then
  used = amount
elseif op == 'add' then
  local nxt = used + amount
  if max >= 0 and nxt > max then
    return { 0, used }
  end
  used = math.min(nxt, 9007199254740992) -- saturates, like the Rust rule at u64::MAX
elseif op == 'sub' then
  used = math.max(used - amount, 0)
elseif op ~= 'get' then
  return redis.error_reply('tenantguard: unknown capacity operation ' .. tostring(op))
end
if op ~= 'get' then
  redis.call('HSET', KEYS[1], field, fmt(used))
end
return { 1, used }
