-- cluster/append_artifacts: a cluster step on slot {l:<digest>}. Appends the artifacts the
-- layer's list does not hold yet, as index_packages and index_entities do on one server.
--
-- KEYS[1]   layer set (the layer exists while it does)
-- KEYS[2]   layer artifact list of the kind
-- ARGV[1]   'pkg' for packages, else '-'
-- ARGV[2]   scanner ID
-- ARGV[3..] per item: for 'pkg' 4 values (package ID, source ID, artifact tail, filepath),
--           otherwise 1 (the entity ID)
-- Returns   the entity IDs of the items already there (the references
--           cluster/take_entities took for them go back), or UNKNOWN_LAYER
local layer, artifacts = KEYS[1], KEYS[2]
local packages, scanner_id = ARGV[1] == 'pkg', ARGV[2]
if redis.call('EXISTS', layer) == 0 then return fail('UNKNOWN_LAYER', '') end
local seen = {}
for _, e in ipairs(redis.call('LRANGE', artifacts, 0, -1)) do
  seen[string.match(e, '^[^\n]*')] = true
end
local new, back = {}, {}
for _, item in ipairs(groups(ARGV, 3, packages and 4 or 1)) do
  local identity
  if packages then
    identity = item[1] .. ',' .. scanner_id .. ',' .. item[2] .. ',' .. item[3]
  else
    identity = item[1] .. ',' .. scanner_id
  end
  if seen[identity] then
    back[#back + 1] = item[1]
    if packages then back[#back + 1] = item[2] end
  else
    seen[identity] = true
    if packages then new[#new + 1] = identity .. '\n' .. item[4] else new[#new + 1] = identity end
  end
end
if #new > 0 then chunked('RPUSH', artifacts, new) end
return back
