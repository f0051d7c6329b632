-- persist_manifest: create the manifest if needed and link its layers (links are only
-- ever added); a change of its layers gives it a new generation.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   manifest table (ID -> digest)
-- KEYS[3]   counters
-- KEYS[4..] one layer set per distinct layer, aligned with ARGV[3..]
-- ARGV[1]   manifest digest
-- ARGV[2]   a new generation (a random token), taken if the manifest changes
-- ARGV[3..] the distinct layer digests
-- Returns   {ID, generation, layers, records}: what later writes plan with
local manifest, manifest_table, counters = KEYS[1], KEYS[2], KEYS[3]
local digest, new_generation, layer_digests = ARGV[1], ARGV[2], rest(ARGV, 3)
local manifest_id = redis.call('HGET', manifest, 'id')
if not manifest_id then
  manifest_id = tostring(redis.call('HINCRBY', counters, 'manifest', 1))
  redis.call('HSET', manifest, 'id', manifest_id, 'layers', '', 'recs', '')
  redis.call('HSET', manifest_table, manifest_id, digest)
end
touch(manifest)
for _, layer in ipairs(rest(KEYS, 4)) do redis.call('SADD', layer, manifest_id) end
if add_layers(manifest, layer_digests) or not redis.call('HGET', manifest, 'gen') then
  redis.call('HSET', manifest, 'gen', new_generation)
end
local v = redis.call('HMGET', manifest, 'gen', 'layers', 'recs')
return {manifest_id, v[1], v[2] or '', v[3] or ''}
