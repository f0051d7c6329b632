-- Cluster step, slot {g}. KEYS: manifests table. ARGV: manifest ID, digest.
-- Forgets a table entry, if it still names that digest: an ID c_persist did not claim (another
-- writer created the manifest first), or a deleted manifest's.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
