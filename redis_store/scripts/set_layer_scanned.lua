-- KEYS: scanners registry, layer set, layer scanned set. ARGV: scanner identity.
local ids, bad = scanner_ids(KEYS[1], ARGV, 1, 1)
if not ids then return fail('UNKNOWN_SCANNER', bad) end
if redis.call('EXISTS', KEYS[2]) == 0 then return fail('UNKNOWN_LAYER', '') end
redis.call('SADD', KEYS[3], ids[1])
return 1
