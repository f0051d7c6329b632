-- KEYS: entity data, ids, refs. ARGV: entity IDs nothing referenced when last looked at.
-- Reclaims those still without references; returns how many.
local n = 0
for _, id in ipairs(ARGV) do
  if tonumber(redis.call('HGET', KEYS[3], id) or '0') <= 0 then
    redis.call('HDEL', KEYS[3], id)
    local v = redis.call('HGET', KEYS[1], id)
    if v then
      redis.call('HDEL', KEYS[2], string.sub(v, 1, 16))
      redis.call('HDEL', KEYS[1], id)
      n = n + 1
    end
  end
end
return n
