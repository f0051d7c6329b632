-- KEYS: layer artifact list, entity data. Read only.
-- ARGV: 'pkg' for package artifacts (which also reference a source) or '-', then scanner
-- IDs. Returns {matching artifacts in order, entity ids, entity values}.
local want = {}
for i = 2, #ARGV do want[ARGV[i]] = true end
local out, need, needed = {}, {}, {}
local pkg = ARGV[1] == 'pkg'
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
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
return {out, needed, chunked('HMGET', KEYS[2], needed)}
