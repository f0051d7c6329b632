-- Cluster step, slot {m:<digest>}. KEYS: manifest hash, scanned set, report, lock.
-- ARGV: manifest ID and gen the caller planned with, the caller's lock token or ''.
-- Deletes the manifest's own keys (atomic per manifest: from then on it answers nothing);
-- its records, layers and references are then undone by c_rec_remove, c_layer_leave and
-- c_release. Returns DELETED, GONE, LOCKED or RETRY.
local v = redis.call('HMGET', KEYS[1], 'id', 'gen')
if not v[1] then return 'GONE' end
if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] then return 'RETRY' end
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[3] then return 'LOCKED' end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 'DELETED'
