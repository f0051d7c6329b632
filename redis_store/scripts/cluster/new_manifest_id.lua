-- cluster/new_manifest_id: a cluster step on slot {g}. Hands out a manifest ID and records
-- it in the table; cluster/persist_manifest then claims it.
--
-- KEYS[1]   counters
-- KEYS[2]   manifest table (ID -> digest)
-- ARGV[1]   manifest digest
-- Returns   the new ID
local counters, manifest_table = KEYS[1], KEYS[2]
local digest = ARGV[1]
local manifest_id = tostring(redis.call('HINCRBY', counters, 'manifest', 1))
redis.call('HSET', manifest_table, manifest_id, digest)
return manifest_id
