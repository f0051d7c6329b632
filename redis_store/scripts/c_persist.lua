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
local layers = redis.call('HGET', m, 'layers') or ''
local have = {}
for _, d in ipairs(split(layers, ',')) do have[d] = true end
local changed = false
for i = 2, #ARGV do
  if not have[ARGV[i]] then
    have[ARGV[i]] = true
    if layers == '' then layers = ARGV[i] else layers = layers .. ',' .. ARGV[i] end
    changed = true
  end
end
if changed then redis.call('HSET', m, 'layers', layers) end
if changed or not redis.call('HGET', m, 'gen') then redis.call('HINCRBY', m, 'gen', 1) end
return mid
