-- Rate rules (GCRA, fixed window, sliding-window counter) over one resource of one tenant:
-- the Lua twin of core/src/limiter.rs `evaluate`, checked against it by a differential test.
--
-- KEYS[1]  the tenant's rate hash (field: resource; value: one encoded cell per window)
-- KEYS[2]  federated mode: the resource's demand hash (field: process, value: '<units>:<ms>')
-- ARGV     now ('' = server time), resource, algorithm (g|f|s), cost, max_delay_ms,
--          consume (0|1), expire (0|1: keep a TTL on the hash, server time only),
--          demand, member, interval_ms (federated mode, demand > 0: see below), then five
--          numbers per window: limit, window_ms, t_ns, cap, span_ns
-- Returns  {admitted, delay_ms, retry_after_ms, remaining, reset_ms, never, now, reserved}
--
-- Federated mode: after deciding the request itself (admitted or not), the calling process
-- (member) reports its demand (units asked for per interval) and reserves its share of the
-- limit for the next interval, demand / total demand of the processes seen in the last three
-- intervals, taking as many of those units as fit within one interval from now. The caller
-- admits them locally.
--
-- Cells: 'e' (empty), 'g:<tat ms>:<tat ns within the ms>', 'f:<start>:<count>:<limit>',
-- 's:<start>:<cur>:<prev>:<limit>' (limit: the one the count was scheduled under; cells
-- written before it existed lack it). GCRA works in ns relative to now, which stays below 2^53.

local NS = 1000000
local now = now_ms(ARGV[1])
local field, alg = ARGV[2], ARGV[3]
local cost, max_delay = tonumber(ARGV[4]), tonumber(ARGV[5])
local consume, expire = ARGV[6] == '1', ARGV[7] == '1'
local demand, member, interval = tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10])
local n = (#ARGV - 10) / 5
local windows = {}
for i = 1, n do
  local b = 10 + (i - 1) * 5
  windows[i] = {
    limit = tonumber(ARGV[b + 1]),
    wl = math.max(tonumber(ARGV[b + 2]), 1),
    t = tonumber(ARGV[b + 3]),
    cap = tonumber(ARGV[b + 4]),
    span = tonumber(ARGV[b + 5]),
  }
end

local EMPTY = { k = 'e' }
local cells = {}
local raw = redis.call('HGET', KEYS[1], field)
if raw then
  for part in string.gmatch(raw, '[^,]+') do
    local k, a, b, c, d = string.match(part, '^(%a):?(%d*):?(%d*):?(%d*):?(%d*)$')
    cells[#cells + 1] = { k = k or 'e', a = tonumber(a), b = tonumber(b), c = tonumber(c), d = tonumber(d) }
  end
end
if #cells ~= n then
  -- Window count changed (plan change or reload): keep the first window's state.
  local first = cells[1] or EMPTY
  cells = {}
  for i = 1, n do
    cells[i] = (i == 1) and first or EMPTY
  end
end

local function enc(c)
  if c.k == 'g' then
    return 'g:' .. fmt(c.a) .. ':' .. fmt(c.b)
  elseif c.k == 'f' then
    return 'f:' .. fmt(c.a) .. ':' .. fmt(c.b) .. ':' .. fmt(c.c or 0)
  elseif c.k == 's' then
    return 's:' .. fmt(c.a) .. ':' .. fmt(c.b) .. ':' .. fmt(c.c) .. ':' .. fmt(c.d or 0)
  end
  return 'e'
end

-- `count` units scheduled under limit `old`, re-expressed under `lim` (limiter.rs `rebase`).
local function rebase(count, old, lim)
  if old == nil or old == 0 or old == lim or count == 0 then return count end
  local before = idiv(count - 1, old)
  return before * lim + math.min(count - before * old, lim)
end

local function pos(x)
  if x > 0 then return x end
  return 0
end

local function gcra(c, w)
  local rel = 0 -- theoretical arrival time - now, in ns (never negative)
  if c.k == 'g' then
    rel = pos((c.a - now) * NS + c.b)
  end
  local remaining_now, reset_now = idiv(pos(w.span - rel), w.t), cdiv(rel, NS)
  if cost > w.cap then
    return { next = c, wait = 0, remaining = remaining_now, reset = reset_now,
      remaining_now = remaining_now, reset_now = reset_now, never = true }
  end
  local new = rel + cost * w.t
  local wait = pos(new - w.span)
  local remaining = 0
  if wait == 0 then
    remaining = idiv(w.span - new, w.t)
  end
  local ms = idiv(new, NS)
  return {
    next = { k = 'g', a = now + ms, b = new - ms * NS },
    wait = cdiv(wait, NS),
    remaining = remaining,
    reset = cdiv(new, NS),
    remaining_now = remaining_now,
    reset_now = reset_now,
    idle = cdiv(new, NS),
    never = false,
  }
end

-- `cost` more units on top of `count`: the new count and the window the request runs in
-- (0: the current one). A request runs whole in one window (limiter.rs `reserve`).
local function reserve(count, lim)
  local new = count + cost
  if new <= lim then return new, 0 end
  local j0 = idiv(count, lim)
  if new <= (j0 + 1) * lim then return new, j0 end
  return (j0 + 1) * lim + cost, j0 + 1
end

local function fixed(c, w)
  local wl, lim = w.wl, w.limit
  local aligned = now - imod(now, wl)
  local start, count = aligned, 0
  if c.k == 'f' and imod(c.a, wl) == 0 then
    start, count = c.a, rebase(c.b, c.c, lim)
  end
  if now >= start + wl then
    local k = idiv(now - start, wl)
    count = pos(count - k * lim)
    start = start + k * wl
  end
  -- Full again once the last window a unit is counted in has ended.
  local function reset_of(x)
    if x == 0 then return 0 end
    return pos(start + (1 + idiv(x - 1, lim)) * wl - now)
  end
  local remaining_now, reset_now = pos(lim - count), reset_of(count)
  if cost > lim then
    return { next = c, wait = 0, remaining = remaining_now, reset = reset_now,
      remaining_now = remaining_now, reset_now = reset_now, never = true }
  end
  local new, j = reserve(count, lim)
  return {
    next = { k = 'f', a = start, b = new, c = lim },
    wait = pos(start + j * wl - now),
    remaining = pos(lim - new),
    reset = reset_of(new),
    remaining_now = remaining_now,
    reset_now = reset_now,
    idle = pos(start + (2 + idiv(new - 1, lim)) * wl - now),
    never = false,
  }
end

local function sliding(c, w)
  local wl, lim = w.wl, w.limit
  local aligned = now - imod(now, wl)
  local start, cur, prev = aligned, 0, 0
  if c.k == 's' and imod(c.a, wl) == 0 then
    start, cur, prev = c.a, rebase(c.b, c.d, lim), c.c
  end
  if now >= start + wl then
    -- `passed` windows went by; units reserved beyond a window's limit carry over, `lim` per window.
    local passed = idiv(aligned - start, wl)
    prev = math.min(pos(cur - (passed - 1) * lim), lim)
    cur = pos(cur - passed * lim)
    start = aligned
  end
  local e = math.min(pos(now - start), wl - 1)
  local function est(x)
    return prev * (wl - e) + x * wl
  end
  local function spill(x)
    return idiv(pos(x - 1), math.max(lim, 1))
  end
  local function reset_of(x)
    if x > 0 then return pos(start + (2 + spill(x)) * wl - now) end
    if prev > 0 then return pos(start + wl - now) end
    return 0
  end
  local function remaining_of(x)
    return idiv(pos(lim * wl - est(x)), wl)
  end
  local remaining_now, reset_now = remaining_of(cur), reset_of(cur)
  if cost > lim then
    return { next = c, wait = 0, remaining = remaining_now, reset = reset_now,
      remaining_now = remaining_now, reset_now = reset_now, never = true }
  end
  local after = reserve(cur, lim)
  local fits = est(after) <= lim * wl
  -- Within the current window the previous window's weight decays linearly: the request may
  -- fit later in this window.
  local in_current = nil
  if not fits and after <= lim and prev > 0 then
    local room = (lim - after) * wl
    local e_needed = pos(wl - idiv(room, prev))
    if imod(room, prev) ~= 0 then e_needed = math.max(e_needed, 1) end
    if e_needed < wl then in_current = pos(start + e_needed - now) end
  end
  local wait = 0
  if fits then
    wait = pos(start - now)
  elseif in_current then
    wait = in_current
  else
    -- A later window: the request is counted in the window it runs in (this one's remaining
    -- slots are skipped). Reserved units run `lim` per window, one every wl / lim.
    if after <= lim then after = lim + cost end
    local j = spill(after)
    local f = math.min(cdiv((after - j * lim) * wl, lim), wl - 1)
    wait = pos(start + j * wl + f - now)
  end
  local remaining = 0
  if fits then remaining = remaining_of(after) end
  return {
    next = { k = 's', a = start, b = after, c = prev, d = lim },
    wait = wait,
    remaining = remaining,
    reset = reset_of(after),
    remaining_now = remaining_now,
    reset_now = reset_now,
    idle = pos(start + (2 + spill(after)) * wl - now),
    never = false,
  }
end

local eval = gcra
if alg == 'f' then eval = fixed elseif alg == 's' then eval = sliding end

local admitted, delay, retry, remaining, reset, never = 1, 0, 0, math.huge, 0, 0
local remaining_now, reset_now = math.huge, 0
local evals = {}
for i = 1, n do
  local r = eval(cells[i], windows[i])
  evals[i] = r
  if r.never then never = 1 end
  delay = math.max(delay, r.wait)
  remaining = math.min(remaining, r.remaining)
  reset = math.max(reset, r.reset)
  remaining_now = math.min(remaining_now, r.remaining_now)
  reset_now = math.max(reset_now, r.reset_now)
end
if n == 0 then
  remaining, remaining_now = 0, 0
end
-- Several windows and a delay: the request runs at now + delay, so the windows that would
-- have admitted it sooner are evaluated again at that time (limiter.rs `settle_several`).
if never == 0 and delay > 0 and delay <= max_delay and n > 1 and cost > 0 then
  local own, base, d, settled = {}, now, delay, false
  for i = 1, n do own[i] = evals[i].wait end
  for _ = 1, 8 do
    if d > max_delay then break end
    now = base + d
    local more = 0
    for i = 1, n do
      if own[i] ~= d then
        local r = eval(cells[i], windows[i])
        more = math.max(more, r.wait)
        evals[i].next = r.next
        evals[i].idle = (r.idle or 0) + d
      end
    end
    now = base
    if more == 0 then
      settled = true
      break
    end
    d = d + more
  end
  if not settled then d = math.max(d, max_delay + 1) end
  delay = d
end
local refused = never == 1 or delay > max_delay
if refused then
  if never == 1 then retry = 0 else retry = delay end
  -- A refusal changes nothing: units left and time to full as they are.
  remaining, reset = remaining_now, reset_now
  admitted, delay = 0, 0
end
if not consume or (cost == 0 and demand == 0) or (refused and demand == 0) then
  return { admitted, delay, retry, remaining, reset, never, now, 0 }
end
local idle = 0
if not refused then
  for i = 1, n do
    cells[i] = evals[i].next
    idle = math.max(idle, evals[i].idle or 0)
  end
end
-- Federated mode: report the demand, reserve this process's share for the next interval.
local taken = 0
if demand > 0 and n > 0 then
  local fed = KEYS[2]
  redis.call('HSET', fed, member, fmt(demand) .. ':' .. fmt(now))
  local all, total = redis.call('HGETALL', fed), 0
  for i = 1, #all, 2 do
    local d, t = string.match(all[i + 1], '^(%d+):(%d+)$')
    if t == nil or tonumber(t) + 3 * interval < now then
      redis.call('HDEL', fed, all[i])
    else
      total = total + tonumber(d)
    end
  end
  if expire then
    redis.call('PEXPIRE', fed, 3 * interval + 1000)
  end
  local per_interval = idiv(windows[1].limit * interval, windows[1].wl)
  local share = idiv(per_interval * demand, math.max(total, demand))
  -- The most units up to `share` that every window admits within one interval from now.
  local lo, hi, best = 1, share, nil
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    cost = mid
    local fits, more = true, {}
    for i = 1, n do
      more[i] = eval(cells[i], windows[i])
      if more[i].never or more[i].wait > interval then
        fits = false
        break
      end
    end
    if fits then
      best, lo = more, mid + 1
      taken = mid
    else
      hi = mid - 1
    end
  end
  if best then
    for i = 1, n do
      cells[i] = best[i].next
      idle = math.max(idle, best[i].idle or 0)
    end
  end
end
local out = {}
for i = 1, n do
  out[i] = enc(cells[i])
end
redis.call('HSET', KEYS[1], field, table.concat(out, ','))
if expire then
  -- Keep the hash while any cell holds state a fresh one would not (plus a second).
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl == -1 or (ttl >= 0 and ttl < idle + 1000) then
    redis.call('PEXPIRE', KEYS[1], idle + 1000)
  end
end
return { admitted, delay, retry, remaining, reset, never, now, taken }
