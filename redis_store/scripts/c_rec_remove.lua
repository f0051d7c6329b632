-- Cluster step, slot {n:<name>}. KEYS: name hash, then bucket sets.
-- ARGV: record, then the bucket numbers of KEYS[2..], then manifest IDs to take out.
-- Removes the manifests from the record's buckets and drops the record once no bucket holds
-- a manifest. Returns 1 when it dropped the record (its references go back). Idempotent.
local rec, nb = ARGV[1], #KEYS - 1
for i = 2, #KEYS do
  for j = 2 + nb, #ARGV do redis.call('SREM', KEYS[i], ARGV[j]) end
end
local cur = redis.call('HGET', KEYS[1], rec)
if not cur then return 0 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then cur = list_remove(cur, ARGV[i]) end
end
if cur == '' then return redis.call('HDEL', KEYS[1], rec) end
redis.call('HSET', KEYS[1], rec, cur)
return 0
