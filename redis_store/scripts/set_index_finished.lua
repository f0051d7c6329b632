-- KEYS: scanners registry, manifest hash, manifest scanned set, report.
-- ARGV: encoded report, then scanner identities.
-- Records the scanners and stores the report in one step; idempotent.
local ids, bad = scanner_ids(KEYS[1], ARGV, 2, #ARGV)
if not ids then return fail('UNKNOWN_SCANNER', bad) end
if redis.call('EXISTS', KEYS[2]) == 0 then return fail('UNKNOWN_MANIFEST', '') end
if #ids > 0 then chunked('SADD', KEYS[3], ids) end
redis.call('SET', KEYS[4], ARGV[1])
touch(KEYS[2])
return 1
