-- mirror_mark: set, adjust or clear the cache tier's complete-mirror mark.
--
-- KEYS[1]   the mark (hash: base, mirrored, origin, since, manifests)
-- KEYS[2]   counters (the manifest ID counter)
-- KEYS[3]   manifest table (ID -> digest)
-- ARGV[1]   'mark', 'mirrored' or 'clear'
-- ARGV[2]   mark: the deletion count the fill began at; mirrored: how many deletions the
--           origin made too (the mark is left alone when there is none)
-- ARGV[3]   mark: the origin's name
-- Returns   {manifests ever deleted, manifests held now, the mark's fields and values}
local mark, counters, manifest_table = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local held = redis.call('HLEN', manifest_table)
local deleted = tonumber(redis.call('HGET', counters, 'manifest') or '0') - held
if op == 'mark' then
  local now = redis.call('TIME')
  redis.call('DEL', mark)
  redis.call('HSET', mark, 'base', ARGV[2], 'mirrored', 0, 'origin', ARGV[3],
    'since', now[1], 'manifests', held)
elseif op == 'mirrored' then
  if redis.call('EXISTS', mark) == 1 then
    redis.call('HINCRBY', mark, 'mirrored', tonumber(ARGV[2]))
  end
elseif op == 'clear' then
  redis.call('DEL', mark)
else
  return redis.error_reply('ERR mirror_mark: unknown operation ' .. tostring(op))
end
return {deleted, held, redis.call('HGETALL', mark)}
