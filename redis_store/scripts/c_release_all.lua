-- Cluster step, slot {g}. KEYS: the 12 dictionary keys (data, ids, refs for pkg, dist, repo,
-- file). ARGV: per kind in that order, a count and then that many entity IDs, once per
-- reference given back. An entity left without references is reclaimed.
local at = 1
for t = 0, 3 do
  local n = tonumber(ARGV[at])
  for i = at + 1, at + n do
    unref(KEYS[1 + t * 3], KEYS[2 + t * 3], KEYS[3 + t * 3], ARGV[i])
  end
  at = at + n + 1
end
return at - 5
