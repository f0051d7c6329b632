-- scanner_ids: the IDs of registered scanners, with the registry's epoch (set now if the
-- registry has none: a store written before epochs existed, or one that lost its data).
--
-- KEYS[1]   scanner registry (identity -> ID)
-- KEYS[2]   counters
-- ARGV[1]   an epoch token, taken if the registry has none yet
-- ARGV[2..] scanner identities
-- Returns   {the registry's epoch, then each scanner's ID or nil}
local registry, counters = KEYS[1], KEYS[2]
local new_epoch, identities = ARGV[1], rest(ARGV, 2)
redis.call('HSETNX', counters, 'epoch', new_epoch)
local out = {redis.call('HGET', counters, 'epoch')}
for _, identity in ipairs(identities) do
  out[#out + 1] = redis.call('HGET', registry, identity) or false
end
return out
