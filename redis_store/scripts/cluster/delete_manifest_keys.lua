-- cluster/delete_manifest_keys: a cluster step on slot {m:<digest>}. Deletes the manifest's
-- own keys (atomic per manifest: from then on it answers nothing); its records, layers and
-- references then go with cluster/remove_record, cluster/leave_layer and
-- cluster/release_entities.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   manifest scanned set
-- KEYS[3]   report
-- KEYS[4]   lock
-- ARGV[1]   the manifest ID the caller planned with
-- ARGV[2]   the generation the caller planned with
-- ARGV[3]   the caller's lock token, or ''
-- Returns   DELETED, GONE, LOCKED or RETRY
local manifest, scanned, report, lock = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local planned_id, planned_generation, token = ARGV[1], ARGV[2], ARGV[3]
local v = redis.call('HMGET', manifest, 'id', 'gen')
if not v[1] then return 'GONE' end
if v[1] ~= planned_id or v[2] ~= planned_generation then return 'RETRY' end
local holder = redis.call('GET', lock)
if holder and holder ~= token then return 'LOCKED' end
redis.call('DEL', manifest, scanned, report)
return 'DELETED'
