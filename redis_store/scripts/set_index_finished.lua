-- KEYS: manifest hash, manifest scanned set, report (one slot).
-- ARGV: encoded report, then scanner IDs (resolved by the client).
-- Records the scanners and stores the report in one step; idempotent.
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('UNKNOWN_MANIFEST', '') end
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids > 0 then chunked('SADD', KEYS[2], ids) end
redis.call('SET', KEYS[3], ARGV[1])
touch(KEYS[1])
return 1
