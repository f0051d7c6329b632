-- cluster/leave_layer: a cluster step on slot {l:<digest>}. Takes deleted manifests out of
-- the layer and reclaims the layer once no manifest uses it.
--
-- KEYS[1]   layer manifest set
-- KEYS[2]   layer scanned set
-- KEYS[3]   layer pkg artifact list
-- KEYS[4]   layer dist artifact list
-- KEYS[5]   layer repo artifact list
-- KEYS[6]   layer file artifact list
-- ARGV[1..] IDs of deleted manifests (IDs are never reused)
-- Returns   {} when the layer is still used, else {package IDs, distribution IDs,
--           repository IDs, file IDs} its artifacts referenced, once per reference (they go
--           back with cluster/release_entities)
local L = layer_keys({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]})
for _, manifest_id in ipairs(ARGV) do redis.call('SREM', L.manifests, manifest_id) end
if redis.call('EXISTS', L.manifests) == 1 then return {} end
local ids = artifact_ids(L)
redis.call('DEL', L.scanned, L.pkg, L.dist, L.repo, L.file)
return {ids.pkg, ids.dist, ids.repo, ids.file}
