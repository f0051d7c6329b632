-- KEYS: manifest hash, manifests table, seq, then one layer set per distinct layer.
-- ARGV: manifest digest, then the distinct layer digests aligned with KEYS[4..].
-- Creates the manifest if needed and links its layers; links are only ever added.
local m, manifests, seq = KEYS[1], KEYS[2], KEYS[3]
local mid = redis.call('HGET', m, 'id')
if not mid then
  mid = tostring(redis.call('HINCRBY', seq, 'manifest', 1))
  redis.call('HSET', m, 'id', mid, 'layers', '', 'recs', '')
  redis.call('HSET', manifests, mid, ARGV[1])
end
touch(m)
for i = 4, #KEYS do redis.call('SADD', KEYS[i], mid) end
if add_layers(m, 2) or not redis.call('HGET', m, 'gen') then
  redis.call('HSET', m, 'gen', redis.call('HINCRBY', seq, 'gen', 1))
end
return mid
