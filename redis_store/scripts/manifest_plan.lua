-- KEYS: manifest hash, package data. Read only.
-- Returns what a later write needs to name its keys: {gen, id, layers, recs, names...}
-- with one package name per record of recs; {} for an unknown manifest.
local v = redis.call('HMGET', KEYS[1], 'gen', 'id', 'layers', 'recs')
if not v[1] then return {} end
local out = {v[1], v[2], v[3] or '', v[4] or ''}
local recs = split(v[4], ',')
local pids = {}
for i, rec in ipairs(recs) do pids[i] = string.match(rec, '^(%d+):') end
for _, val in ipairs(chunked('HMGET', KEYS[2], pids)) do
  if val then out[#out + 1] = package_name(val) else out[#out + 1] = '' end
end
return out
