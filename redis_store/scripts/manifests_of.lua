-- KEYS: manifests table, then reverse-index bucket sets. Read only.
-- Returns {members per bucket, then the digests of all those manifest IDs in order of first
-- appearance}; a manifest deleted meanwhile has no digest (false).
local per_bucket, ids, seen = {}, {}, {}
for i = 2, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  per_bucket[#per_bucket + 1] = members
  for _, id in ipairs(members) do
    if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
  end
end
return {per_bucket, ids, chunked('HMGET', KEYS[1], ids)}
