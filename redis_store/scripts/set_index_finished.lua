-- set_index_finished: record the scanners that finished the manifest and store its report,
-- in one step; idempotent.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   manifest scanned set
-- KEYS[3]   report
-- ARGV[1]   encoded report
-- ARGV[2..] scanner IDs (resolved by the client)
-- Returns   1, or UNKNOWN_MANIFEST
local manifest, scanned, report = KEYS[1], KEYS[2], KEYS[3]
local blob, scanner_ids = ARGV[1], rest(ARGV, 2)
if redis.call('EXISTS', manifest) == 0 then return fail('UNKNOWN_MANIFEST', '') end
if #scanner_ids > 0 then chunked('SADD', scanned, scanner_ids) end
redis.call('SET', report, blob)
touch(manifest)
return 1
