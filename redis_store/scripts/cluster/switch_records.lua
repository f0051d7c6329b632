-- cluster/switch_records: a cluster step on slot {m:<digest>}. Switches the manifest to its
-- new records (atomic per manifest) and notes, until cluster/settle_records, the
-- reverse-index work still to do ('pending' records to remove, 'dirty' while records may be
-- missing), so that an interrupted index_manifest is finished by the next writer.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   lock
-- ARGV[1]   manifest ID
-- ARGV[2]   the record list the caller read
-- ARGV[3]   the new record list
-- ARGV[4]   the records to take out of the reverse index
-- ARGV[5]   the writer's lock token
-- Returns   OK, RETRY (the manifest changed since it was read), or UNKNOWN_MANIFEST,
--           LOCK_LOST
local manifest, lock = KEYS[1], KEYS[2]
local manifest_id, read_list, new_list, pending, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5]
local v = redis.call('HMGET', manifest, 'id', 'recs')
if not v[1] then return fail('UNKNOWN_MANIFEST', '') end
local err = check_fence(lock, token)
if err then return err end
if v[1] ~= manifest_id or (v[2] or '') ~= read_list then return 'RETRY' end
redis.call('HSET', manifest, 'recs', new_list, 'pending', pending, 'dirty', '1')
redis.call('HINCRBY', manifest, 'gen', 1)
return 'OK'
