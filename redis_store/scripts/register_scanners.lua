-- KEYS: scanners registry, seq. ARGV: scanner identities.
-- Insert-if-absent; returns the IDs in input order.
local out = {}
for i, ident in ipairs(ARGV) do
  local id = redis.call('HGET', KEYS[1], ident)
  if not id then
    id = tostring(redis.call('HINCRBY', KEYS[2], 'scanner', 1))
    redis.call('HSET', KEYS[1], ident, id)
  end
  out[i] = id
end
return out
