-- manifests_of: the manifests in some reverse-index buckets, with their digests. Read only.
--
-- KEYS[1]   manifest table (ID -> digest)
-- KEYS[2..] reverse-index bucket sets
-- Returns   {members per bucket, the manifest IDs in order of first appearance, their
--           digests}; a manifest deleted meanwhile has no digest (false)
local manifest_table = KEYS[1]
local per_bucket, ids, seen = {}, {}, {}
for _, bucket_set in ipairs(rest(KEYS, 2)) do
  local members = redis.call('SMEMBERS', bucket_set)
  per_bucket[#per_bucket + 1] = members
  for _, id in ipairs(members) do
    if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
  end
end
return {per_bucket, ids, chunked('HMGET', manifest_table, ids)}
