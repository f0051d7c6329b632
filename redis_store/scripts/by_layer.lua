-- KEYS: scanners registry, layer artifact list, entity data. Read only.
-- ARGV: 'pkg' for package artifacts (which also reference a source) or '-', then scanner
-- identities. Returns {scanner ids, matching artifacts in order, entity ids, entity values}.
local ids, bad = scanner_ids(KEYS[1], ARGV, 2, #ARGV)
if not ids then return fail('UNKNOWN_SCANNER', bad) end
local want = {}
for _, id in ipairs(ids) do want[id] = true end
local out, need, needed = {}, {}, {}
local pkg = ARGV[1] == 'pkg'
for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local a, s, rest = string.match(e, '^(%d+),(%d+)(.*)$')
  if want[s] then
    out[#out + 1] = e
    if not need[a] then need[a] = true; needed[#needed + 1] = a end
    if pkg then
      local src = string.match(rest, '^,(%d+)')
      if not need[src] then need[src] = true; needed[#needed + 1] = src end
    end
  end
end
return {ids, out, needed, chunked('HMGET', KEYS[3], needed)}
