-- cluster/remove_record: a cluster step on slot {n:<name>}. Takes manifests out of a
-- record's buckets and drops the record once no bucket holds a manifest; idempotent.
--
-- KEYS[1]   name hash
-- KEYS[2..] the record's bucket sets
-- ARGV[1]   record "pid:did:rid"
-- ARGV[2..] the bucket numbers of KEYS[2..], then the manifest IDs to take out
-- Returns   1 when it dropped the record (its references go back), else 0
local name_hash, bucket_sets = KEYS[1], rest(KEYS, 2)
local record = ARGV[1]
local bucket_numbers = slice(ARGV, 2, 1 + #bucket_sets)
local manifest_ids = rest(ARGV, 2 + #bucket_sets)
for _, bucket_set in ipairs(bucket_sets) do
  for _, manifest_id in ipairs(manifest_ids) do redis.call('SREM', bucket_set, manifest_id) end
end
local buckets = redis.call('HGET', name_hash, record)
if not buckets then return 0 end
for i, bucket_set in ipairs(bucket_sets) do
  if redis.call('EXISTS', bucket_set) == 0 then
    buckets = list_remove(buckets, bucket_numbers[i])
  end
end
if buckets == '' then return redis.call('HDEL', name_hash, record) end
redis.call('HSET', name_hash, record, buckets)
return 0
