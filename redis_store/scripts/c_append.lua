-- Cluster step, slot {l:<digest>}. KEYS: layer set, layer artifact list.
-- ARGV: 'pkg' or '-', scanner ID, then per item: for 'pkg' package ID, source ID, artifact
-- tail, filepath; for '-' the entity ID. Appends the artifacts the list does not hold yet, as
-- index_packages and index_entities do. Returns the entity IDs of the items that were already
-- there (their references, taken by c_take, go back), or UNKNOWN_LAYER.
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('UNKNOWN_LAYER', '') end
local pkg, scid = ARGV[1] == 'pkg', ARGV[2]
local seen = {}
for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  seen[string.match(e, '^[^\n]*')] = true
end
local new, back = {}, {}
local step = pkg and 4 or 1
for b = 3, #ARGV, step do
  local ident
  if pkg then
    ident = ARGV[b] .. ',' .. scid .. ',' .. ARGV[b + 1] .. ',' .. ARGV[b + 2]
  else
    ident = ARGV[b] .. ',' .. scid
  end
  if seen[ident] then
    back[#back + 1] = ARGV[b]
    if pkg then back[#back + 1] = ARGV[b + 1] end
  else
    seen[ident] = true
    if pkg then new[#new + 1] = ident .. '\n' .. ARGV[b + 3] else new[#new + 1] = ident end
  end
end
if #new > 0 then chunked('RPUSH', KEYS[2], new) end
return back
