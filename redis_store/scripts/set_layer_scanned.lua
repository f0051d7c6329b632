-- set_layer_scanned: mark a persisted layer scanned by one scanner.
--
-- KEYS[1]   layer set (the layer exists while it does)
-- KEYS[2]   layer scanned set
-- KEYS[3]   counters (on one server: the scanner ID's epoch; absent on a cluster)
-- ARGV[1]   scanner ID (the client resolves identities to IDs)
-- ARGV[2]   the epoch of the scanner ID, or '' (not checked)
-- Returns   1, or UNKNOWN_LAYER, STALE_SCANNERS
local layer, scanned, counters = KEYS[1], KEYS[2], KEYS[3]
local scanner_id, epoch = ARGV[1], ARGV[2]
if redis.call('EXISTS', layer) == 0 then return fail('UNKNOWN_LAYER', '') end
local err = check_epoch(counters, epoch)
if err then return err end
redis.call('SADD', scanned, scanner_id)
return 1
