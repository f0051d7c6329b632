-- set_index_finished: record the scanners that finished the manifest and store its report,
-- in one step; idempotent.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   manifest scanned set
-- KEYS[3]   report
-- KEYS[4]   lock
-- KEYS[5]   counters (on one server: the scanner IDs' epoch; absent on a cluster)
-- ARGV[1]   encoded report
-- ARGV[2]   the writer's lock token, or ''
-- ARGV[3]   the writer's run token, or ''
-- ARGV[4]   the write's sequence number within the run
-- ARGV[5]   the epoch of the scanner IDs, or '' (not checked)
-- ARGV[6..] scanner IDs (resolved by the client)
-- Returns   1 (0 for a late write, dropped), or UNKNOWN_MANIFEST, LOCK_LOST, STALE_SCANNERS
local manifest, scanned, report, lock, counters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local blob, token, run, sequence, epoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local scanner_ids = rest(ARGV, 6)
if redis.call('EXISTS', manifest) == 0 then return fail('UNKNOWN_MANIFEST', '') end
local err = check_fence(lock, token) or check_epoch(counters, epoch)
if err then return err end
if is_late(manifest, run, sequence) then return 0 end
if #scanner_ids > 0 then chunked('SADD', scanned, scanner_ids) end
redis.call('SET', report, blob)
note_run(manifest, run, sequence)
touch(manifest)
return 1
