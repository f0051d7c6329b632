-- KEYS: package data, distribution data, repository data, then one name hash per package
--       name asked about. Read only.
-- Returns {records per name ({record, buckets, ...} each), package IDs, package values,
-- distribution IDs, values, repository IDs, values}: every candidate record of the names
-- with the entities it references, in one round trip.
local per_name = {}
local need = {{}, {}, {}}
local seen = {{}, {}, {}}
for i = 4, #KEYS do
  local flat = redis.call('HGETALL', KEYS[i])
  per_name[#per_name + 1] = flat
  for j = 1, #flat, 2 do
    local p, d, r = record_ids(flat[j])
    for t, id in ipairs({p, d, r}) do
      if id ~= '0' and not seen[t][id] then
        seen[t][id] = true
        need[t][#need[t] + 1] = id
      end
    end
  end
end
return {per_name, need[1], chunked('HMGET', KEYS[1], need[1]), need[2],
        chunked('HMGET', KEYS[2], need[2]), need[3], chunked('HMGET', KEYS[3], need[3])}
