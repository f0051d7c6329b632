-- set_layer_scanned: mark a persisted layer scanned by one scanner.
--
-- KEYS[1]   layer set (the layer exists while it does)
-- KEYS[2]   layer scanned set
-- ARGV[1]   scanner ID (the client resolves identities to IDs)
-- Returns   1, or UNKNOWN_LAYER
local layer, scanned = KEYS[1], KEYS[2]
local scanner_id = ARGV[1]
if redis.call('EXISTS', layer) == 0 then return fail('UNKNOWN_LAYER', '') end
redis.call('SADD', scanned, scanner_id)
return 1
