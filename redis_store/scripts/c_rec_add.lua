-- Cluster step, slot {n:<name>}. KEYS: name hash, bucket set. ARGV: record, manifest ID,
-- bucket number. Adds the manifest to the record; returns 1 when the record is new (it keeps
-- the references c_check_records took), 0 when it existed (they go back). Idempotent.
redis.call('SADD', KEYS[2], ARGV[2])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local list, changed = list_add(cur, ARGV[3])
if changed then redis.call('HSET', KEYS[1], ARGV[1], list) end
if cur then return 0 end
return 1
