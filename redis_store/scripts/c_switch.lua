-- Cluster step, slot {m:<digest>}. KEYS: manifest hash.
-- ARGV: manifest ID, the record list the caller read, the new record list, the records to
-- take out of the reverse index.
-- Switches the manifest to its new records (atomic per manifest) and notes, until c_settle,
-- the reverse-index work still to do ('pending' records to remove, 'dirty' while records may
-- be missing), so that an interrupted index_manifest is finished by the next writer.
local m = KEYS[1]
local v = redis.call('HMGET', m, 'id', 'recs')
if not v[1] then return fail('UNKNOWN_MANIFEST', '') end
if v[1] ~= ARGV[1] or (v[2] or '') ~= ARGV[2] then return 'RETRY' end
redis.call('HSET', m, 'recs', ARGV[3], 'pending', ARGV[4], 'dirty', '1')
redis.call('HINCRBY', m, 'gen', 1)
return 'OK'
