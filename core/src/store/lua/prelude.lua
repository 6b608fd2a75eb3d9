-- Shared by every tenantguard script (prepended by the Rust store). Redis runs Lua 5.1, whose
-- numbers are doubles: every value the scripts handle stays below 2^53 (the Rust side refuses
-- parameters that could leave that range), and divisions go through idiv, which is exact there.

-- floor(a / b) for integers a >= 0, b > 0.
local function idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

-- ceil(a / b) for integers a >= 0, b > 0.
local function cdiv(a, b)
  return idiv(a + b - 1, b)
end

-- a mod b for integers a >= 0, b > 0.
local function imod(a, b)
  return a - idiv(a, b) * b
end

-- An integer as decimal text, without exponent.
local function fmt(n)
  return string.format('%.0f', n)
end

-- The decision time in ms: the caller's (ARGV[1]) when given, else the Redis server's clock.
-- One clock for every process sharing the store is what makes their decisions consistent.
local function now_ms(arg)
  if arg ~= nil and arg ~= '' then
    return tonumber(arg)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
