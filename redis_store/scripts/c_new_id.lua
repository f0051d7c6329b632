-- Cluster step, slot {g}. KEYS: seq, manifests table. ARGV: manifest digest.
-- Hands out a manifest ID and records it in the table; c_persist then claims it.
local mid = tostring(redis.call('HINCRBY', KEYS[1], 'manifest', 1))
redis.call('HSET', KEYS[2], mid, ARGV[1])
return mid
