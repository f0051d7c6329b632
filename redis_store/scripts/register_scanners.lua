-- register_scanners: insert-if-absent scanner identities; their IDs never change.
--
-- KEYS[1]   scanner registry (identity -> ID)
-- KEYS[2]   counters
-- ARGV[1..] scanner identities, JSON ["name", "version", "kind"]
-- Returns   the scanners' IDs, in input order
local registry, counters = KEYS[1], KEYS[2]
local out = {}
for i, identity in ipairs(ARGV) do
  local id = redis.call('HGET', registry, identity)
  if not id then
    id = tostring(redis.call('HINCRBY', counters, 'scanner', 1))
    redis.call('HSET', registry, identity, id)
  end
  out[i] = id
end
return out
