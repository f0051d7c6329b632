-- KEYS: manifest hash, report. ARGV: encoded report.
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('UNKNOWN_MANIFEST', '') end
redis.call('SET', KEYS[2], ARGV[1])
touch(KEYS[1])
return 1
