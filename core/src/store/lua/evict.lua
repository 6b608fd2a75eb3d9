-- Drops rate cells that the Rust side found idle, unless they changed in the meantime.
-- KEYS[1]  the tenant's rate hash
-- ARGV     now (unused), then pairs of resource, encoded cell as read
-- Returns  the number of cells dropped
local dropped = 0
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    dropped = dropped + 1
  end
end
return dropped
