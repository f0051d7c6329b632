-- manifest_plan: what a later write of the manifest needs to name its keys. Read only.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   package data
-- Returns   {generation, ID, layers, records, one package name per record}, or {} for an
--           unknown manifest
local manifest, package_data = KEYS[1], KEYS[2]
local v = redis.call('HMGET', manifest, 'gen', 'id', 'layers', 'recs')
if not v[1] then return {} end
local out = {v[1], v[2], v[3] or '', v[4] or ''}
local package_ids = {}
for i, record in ipairs(split(v[4], ',')) do package_ids[i] = string.match(record, '^(%d+):') end
for _, value in ipairs(chunked('HMGET', package_data, package_ids)) do
  if value then out[#out + 1] = package_name(value) else out[#out + 1] = '' end
end
return out
