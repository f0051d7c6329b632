-- KEYS: name hash, the 12 dictionary keys, then the record's bucket sets.
-- ARGV: record "pid:did:rid", then IDs of deleted manifests its buckets may still list.
-- Unlists those, then drops the record if none of its buckets holds a manifest.
local rec = ARGV[1]
if not redis.call('HGET', KEYS[1], rec) then return 0 end
for i = 14, #KEYS do
  for j = 2, #ARGV do redis.call('SREM', KEYS[i], ARGV[j]) end
end
for i = 14, #KEYS do
  if redis.call('SCARD', KEYS[i]) > 0 then return 0 end
end
local E = {}
for i = 1, 12 do E[i] = KEYS[1 + i] end
local p, d, r = record_ids(rec)
redis.call('HDEL', KEYS[1], rec)
unref(E[1], E[2], E[3], p); unref(E[4], E[5], E[6], d); unref(E[7], E[8], E[9], r)
return 1
