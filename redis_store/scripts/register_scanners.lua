-- register_scanners: insert-if-absent scanner identities; their IDs never change while the
-- registry lasts. The first registration also sets the registry's epoch (see check_epoch).
--
-- KEYS[1]   scanner registry (identity -> ID)
-- KEYS[2]   counters
-- ARGV[1]   an epoch token, taken if the registry has none yet
-- ARGV[2..] scanner identities, JSON ["name", "version", "kind"]
-- Returns   {the registry's epoch, then the scanners' IDs in input order}
local registry, counters = KEYS[1], KEYS[2]
local new_epoch, identities = ARGV[1], rest(ARGV, 2)
redis.call('HSETNX', counters, 'epoch', new_epoch)
local out = {redis.call('HGET', counters, 'epoch')}
for _, identity in ipairs(identities) do
  local id = redis.call('HGET', registry, identity)
  if not id then
    id = tostring(redis.call('HINCRBY', counters, 'scanner', 1))
    redis.call('HSET', registry, identity, id)
  end
  out[#out + 1] = id
end
return out
