-- KEYS: scanners registry, layer scanned set. ARGV: scanner identity. Read only.
local ids, bad = scanner_ids(KEYS[1], ARGV, 1, 1)
if not ids then return fail('UNKNOWN_SCANNER', bad) end
return redis.call('SISMEMBER', KEYS[2], ids[1])
