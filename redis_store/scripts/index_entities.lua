-- KEYS: layer set, layer artifact list, entity data, ids, refs, seq.
-- ARGV: scanner ID, counter name, then one entity value per item.
-- Upserts distributions, repositories or files and appends new artifacts "id,scid".
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('UNKNOWN_LAYER', '') end
local scid = ARGV[1]
local data, idk, refs, seq = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if #ARGV < 3 then return 0 end
local seen = {}
for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do seen[e] = true end
local new = {}
for i = 3, #ARGV do
  local id = upsert(idk, data, seq, ARGV[2], ARGV[i])
  local ident = id .. ',' .. scid
  if not seen[ident] then
    seen[ident] = true
    new[#new + 1] = ident
    addref(refs, id)
  end
end
if #new > 0 then chunked('RPUSH', KEYS[2], new) end
return #new
