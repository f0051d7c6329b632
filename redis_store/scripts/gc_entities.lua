-- gc_entities: reclaim entities of one kind that still have no references.
--
-- KEYS[1]   entity data
-- KEYS[2]   entity ids
-- KEYS[3]   entity refs
-- ARGV[1..] entity IDs nothing referenced when last looked at
-- Returns   how many were reclaimed
local entities = dictionary(KEYS[1], KEYS[2], KEYS[3])
local reclaimed = 0
for _, id in ipairs(ARGV) do
  if tonumber(redis.call('HGET', entities.refs, id) or '0') <= 0 then
    redis.call('HDEL', entities.refs, id)
    local value = redis.call('HGET', entities.data, id)
    if value then
      redis.call('HDEL', entities.ids, string.sub(value, 1, 16))
      redis.call('HDEL', entities.data, id)
      reclaimed = reclaimed + 1
    end
  end
end
return reclaimed
