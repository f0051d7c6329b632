-- cluster/import_records: a cluster step on slot {n:<name>}. Adds an imported manifest to
-- the records of one package name; idempotent.
--
-- KEYS[1]   name hash
-- KEYS[2..] per record, its bucket set for the manifest
-- ARGV[1]   manifest ID
-- ARGV[2]   bucket number
-- ARGV[3..] the records "pid:did:rid", aligned with KEYS[2..]
-- Returns   per record, 1 when it is new (it keeps the references cluster/import_entities
--           took), 0 when it existed (they go back)
local name_hash, manifest_id, bucket = KEYS[1], ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  local record = ARGV[i]
  redis.call('SADD', KEYS[i - 1], manifest_id)
  if redis.call('HSETNX', name_hash, record, bucket) == 1 then
    out[#out + 1] = 1
  else
    local list, grew = list_add(redis.call('HGET', name_hash, record), bucket)
    if grew then redis.call('HSET', name_hash, record, list) end
    out[#out + 1] = 0
  end
end
return out
