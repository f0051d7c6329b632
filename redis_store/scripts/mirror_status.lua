-- mirror_status: the cache tier's complete-mirror mark, read together with how many
-- manifests were ever deleted (manifest IDs handed out minus the table's entries). Read only.
--
-- KEYS[1]   the mark (hash: base, mirrored, origin, since, manifests)
-- KEYS[2]   counters (the manifest ID counter)
-- KEYS[3]   manifest table (ID -> digest)
-- Returns   {manifests ever deleted, manifests held now, the mark's fields and values}
local mark, counters, manifest_table = KEYS[1], KEYS[2], KEYS[3]
local held = redis.call('HLEN', manifest_table)
local handed_out = tonumber(redis.call('HGET', counters, 'manifest') or '0')
return {handed_out - held, held, redis.call('HGETALL', mark)}
