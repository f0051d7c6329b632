-- cluster/drop_manifest_id: a cluster step on slot {g}. Forgets a table entry if it still
-- names that digest: an ID cluster/persist_manifest did not claim (another writer created
-- the manifest first), or a deleted manifest's.
--
-- KEYS[1]   manifest table (ID -> digest)
-- ARGV[1]   manifest ID
-- ARGV[2]   manifest digest
-- Returns   1 if the entry was dropped, else 0
local manifest_table = KEYS[1]
local manifest_id, digest = ARGV[1], ARGV[2]
if redis.call('HGET', manifest_table, manifest_id) == digest then
  return redis.call('HDEL', manifest_table, manifest_id)
end
return 0
