-- cluster/persist_manifest: a cluster step on slot {m:<digest>}. Claims the manifest under
-- an ID (handed out by cluster/new_manifest_id in {g}) if it has none, and adds the layers
-- to its list.
--
-- KEYS[1]   manifest hash
-- ARGV[1]   manifest ID to claim if the manifest is new ('' to only look)
-- ARGV[2..] layer digests
-- Returns   the manifest's ID, or nil when it is new and no ID was given
local manifest = KEYS[1]
local claim, layer_digests = ARGV[1], rest(ARGV, 2)
local manifest_id = redis.call('HGET', manifest, 'id')
if not manifest_id then
  if claim == '' then return false end
  manifest_id = claim
  redis.call('HSET', manifest, 'id', manifest_id, 'layers', '', 'recs', '')
end
touch(manifest)
local changed = add_layers(manifest, layer_digests)
if changed or not redis.call('HGET', manifest, 'gen') then
  redis.call('HINCRBY', manifest, 'gen', 1)
end
return manifest_id
