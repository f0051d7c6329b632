-- Cluster step, slot {m:<digest>}. KEYS: manifest hash.
-- ARGV: manifest ID to claim if the manifest is new ('' to only look), then layer digests.
-- Creates the manifest with the given ID if it has none (an ID is handed out by c_new_id in
-- {g}), and adds the layers to its list. Returns the manifest's ID, or nil when it is new and
-- no ID was given.
local m = KEYS[1]
local mid = redis.call('HGET', m, 'id')
if not mid then
  if ARGV[1] == '' then return false end
  mid = ARGV[1]
  redis.call('HSET', m, 'id', mid, 'layers', '', 'recs', '')
end
touch(m)
local changed = add_layers(m, 2)
if changed or not redis.call('HGET', m, 'gen') then redis.call('HINCRBY', m, 'gen', 1) end
return mid
