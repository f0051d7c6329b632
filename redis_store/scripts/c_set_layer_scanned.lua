-- Cluster step, slot {l:<digest>}. KEYS: layer set, layer scanned set. ARGV: scanner ID.
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('UNKNOWN_LAYER', '') end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
