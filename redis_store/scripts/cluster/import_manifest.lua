-- cluster/import_manifest: a cluster step on slot {m:<digest>}, the last of an import. Writes
-- the manifest, its report and scanner markers at once (from here on readers see it whole),
-- if the writer still holds the manifest's lock.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   manifest scanned set
-- KEYS[3]   report
-- KEYS[4]   lock
-- ARGV[1]   manifest ID (handed out by cluster/import_entities)
-- ARGV[2]   the layer digests, comma-separated
-- ARGV[3]   the record list (sorted, comma-separated)
-- ARGV[4]   the encoded report
-- ARGV[5]   the scanners' IDs, comma-separated
-- ARGV[6]   the writer's lock token
-- ARGV[7]   '1' to release the lock (the writer took it for the import), else '0'
-- Returns   1, or LOCK_LOST (nothing written), or EXISTS (the manifest was created
--           meanwhile: nothing written)
local manifest, scanned, report, lock = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local err = check_fence(lock, ARGV[6])
if err then return err end
if redis.call('EXISTS', manifest) == 1 then return fail('EXISTS', '') end
redis.call('HSET', manifest, 'id', ARGV[1], 'layers', ARGV[2], 'recs', ARGV[3], 'gen', 1)
chunked('SADD', scanned, split(ARGV[5], ','))
redis.call('SET', report, ARGV[4])
touch(manifest)
if ARGV[7] == '1' then redis.call('DEL', lock) end
return 1
