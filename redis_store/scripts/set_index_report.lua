-- set_index_report: store (overwrite) a persisted manifest's report.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   report
-- KEYS[3]   lock
-- ARGV[1]   encoded report
-- ARGV[2]   the writer's lock token, or '' (written without the lock)
-- ARGV[3]   the writer's run token, or ''
-- ARGV[4]   the write's sequence number within the run
-- Returns   1 (0 for a late write, dropped), or UNKNOWN_MANIFEST, LOCK_LOST
local manifest, report, lock = KEYS[1], KEYS[2], KEYS[3]
local blob, token, run, sequence = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', manifest) == 0 then return fail('UNKNOWN_MANIFEST', '') end
local err = check_fence(lock, token)
if err then return err end
if is_late(manifest, run, sequence) then return 0 end
redis.call('SET', report, blob)
note_run(manifest, run, sequence)
touch(manifest)
return 1
