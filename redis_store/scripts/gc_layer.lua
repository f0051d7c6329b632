-- gc_layer: take deleted manifests out of a layer, then reclaim the layer if no manifest
-- uses it, with what its artifacts referenced.
--
-- KEYS[1]      layer manifest set
-- KEYS[2]      layer scanned set
-- KEYS[3..6]   layer pkg, dist, repo, file artifact lists
-- KEYS[7..18]  the 12 dictionary keys (data, ids, refs of pkg, dist, repo, file)
-- ARGV[1..]    IDs of deleted manifests the layer may still list (IDs are never reused)
-- Returns      1 if reclaimed, 0 if a manifest uses it (again)
local L = layer_keys({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]})
local D = dictionaries(KEYS, 7)
for _, manifest_id in ipairs(ARGV) do redis.call('SREM', L.manifests, manifest_id) end
if redis.call('EXISTS', L.manifests) == 1 then return 0 end
drop_layer(L, D)
return 1
