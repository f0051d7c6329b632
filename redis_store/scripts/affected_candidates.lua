-- affected_candidates: every index record of some package names, with the entities they
-- reference, in one round trip. Read only.
--
-- KEYS[1]   package data
-- KEYS[2]   distribution data
-- KEYS[3]   repository data
-- KEYS[4..] one name hash per package name asked about
-- Returns   {records per name ({record, buckets, ...} each), package IDs, package values,
--           distribution IDs, values, repository IDs, values}
local package_data, distribution_data, repository_data = KEYS[1], KEYS[2], KEYS[3]
local per_name = {}
local need = {{}, {}, {}}
local seen = {{}, {}, {}}
for _, name_hash in ipairs(rest(KEYS, 4)) do
  local flat = redis.call('HGETALL', name_hash)
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
return {per_name, need[1], chunked('HMGET', package_data, need[1]), need[2],
        chunked('HMGET', distribution_data, need[2]), need[3],
        chunked('HMGET', repository_data, need[3])}
