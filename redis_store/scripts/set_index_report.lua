-- set_index_report: store (overwrite) a persisted manifest's report.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   report
-- ARGV[1]   encoded report
-- Returns   1, or UNKNOWN_MANIFEST
local manifest, report = KEYS[1], KEYS[2]
local blob = ARGV[1]
if redis.call('EXISTS', manifest) == 0 then return fail('UNKNOWN_MANIFEST', '') end
redis.call('SET', report, blob)
touch(manifest)
return 1
