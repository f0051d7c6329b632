-- cluster/add_record: a cluster step on slot {n:<name>}. Adds a manifest to a record;
-- idempotent.
--
-- KEYS[1]   name hash
-- KEYS[2]   the record's bucket set for the manifest
-- ARGV[1]   record "pid:did:rid"
-- ARGV[2]   manifest ID
-- ARGV[3]   bucket number
-- Returns   1 when the record is new (it keeps the references cluster/check_records took),
--           0 when it existed (they go back)
local name_hash, bucket_set = KEYS[1], KEYS[2]
local record, manifest_id, bucket = ARGV[1], ARGV[2], ARGV[3]
redis.call('SADD', bucket_set, manifest_id)
local buckets = redis.call('HGET', name_hash, record)
local list, grew = list_add(buckets, bucket)
if grew then redis.call('HSET', name_hash, record, list) end
if buckets then return 0 end
return 1
