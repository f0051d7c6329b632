-- KEYS: layer set, layer scanned set (one slot). ARGV: scanner ID (the client resolves
-- identities to IDs, which never change once assigned).
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('UNKNOWN_LAYER', '') end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
