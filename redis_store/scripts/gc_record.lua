-- gc_record: take deleted manifests out of a record's buckets, then drop the record if no
-- bucket holds a manifest.
--
-- KEYS[1]      name hash
-- KEYS[2..13]  the 12 dictionary keys (data, ids, refs of pkg, dist, repo, file)
-- KEYS[14..]   the record's bucket sets
-- ARGV[1]      record "pid:did:rid"
-- ARGV[2..]    IDs of deleted manifests its buckets may still list
-- Returns      1 if the record was dropped, else 0
local name_hash, D, bucket_sets = KEYS[1], dictionaries(KEYS, 2), rest(KEYS, 14)
local record, dead = ARGV[1], rest(ARGV, 2)
if not redis.call('HGET', name_hash, record) then return 0 end
for _, bucket_set in ipairs(bucket_sets) do
  for _, manifest_id in ipairs(dead) do redis.call('SREM', bucket_set, manifest_id) end
end
for _, bucket_set in ipairs(bucket_sets) do
  if redis.call('SCARD', bucket_set) > 0 then return 0 end
end
redis.call('HDEL', name_hash, record)
unref_record(D, record)
return 1
