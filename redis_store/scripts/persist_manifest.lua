-- persist_manifest: create the manifest if needed and link its layers (links are only
-- ever added).
--
-- KEYS[1]   manifest hash
-- KEYS[2]   manifest table (ID -> digest)
-- KEYS[3]   counters
-- KEYS[4..] one layer set per distinct layer, aligned with ARGV[2..]
-- ARGV[1]   manifest digest
-- ARGV[2..] the distinct layer digests
-- Returns   the manifest's ID
local manifest, manifest_table, counters = KEYS[1], KEYS[2], KEYS[3]
local digest, layer_digests = ARGV[1], rest(ARGV, 2)
local manifest_id = redis.call('HGET', manifest, 'id')
if not manifest_id then
  manifest_id = tostring(redis.call('HINCRBY', counters, 'manifest', 1))
  redis.call('HSET', manifest, 'id', manifest_id, 'layers', '', 'recs', '')
  redis.call('HSET', manifest_table, manifest_id, digest)
end
touch(manifest)
for _, layer in ipairs(rest(KEYS, 4)) do redis.call('SADD', layer, manifest_id) end
if add_layers(manifest, layer_digests) or not redis.call('HGET', manifest, 'gen') then
  redis.call('HSET', manifest, 'gen', redis.call('HINCRBY', counters, 'gen', 1))
end
return manifest_id
