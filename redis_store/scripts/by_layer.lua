-- by_layer: the artifacts some scanners wrote to a layer, with the entities they name.
-- Read only.
--
-- KEYS[1]   layer artifact list of the kind
-- KEYS[2]   entity data of the kind
-- ARGV[1]   'pkg' for package artifacts (which also reference a source), else '-'
-- ARGV[2..] scanner IDs
-- Returns   {matching artifacts in order, entity IDs, entity values}
local artifacts, data = KEYS[1], KEYS[2]
local packages = ARGV[1] == 'pkg'
local wanted = {}
for _, scanner_id in ipairs(rest(ARGV, 2)) do wanted[scanner_id] = true end
local out, need, needed = {}, {}, {}
for _, e in ipairs(redis.call('LRANGE', artifacts, 0, -1)) do
  local id, scanner_id, tail = string.match(e, '^(%d+),(%d+)(.*)$')
  if wanted[scanner_id] then
    out[#out + 1] = e
    if not need[id] then need[id] = true; needed[#needed + 1] = id end
    if packages then
      local source_id = string.match(tail, '^,(%d+)')
      if not need[source_id] then need[source_id] = true; needed[#needed + 1] = source_id end
    end
  end
end
return {out, needed, chunked('HMGET', data, needed)}
