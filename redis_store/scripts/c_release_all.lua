-- Cluster step, slot {g}. KEYS: the 12 dictionary keys (data, ids, refs for pkg, dist, repo,
-- file). ARGV: per kind in that order, a number of pairs and then that many (entity ID,
-- references given back) pairs. An entity left without references is reclaimed.
local at = 1
for t = 0, 3 do
  local n = tonumber(ARGV[at])
  for i = at + 1, at + 2 * n, 2 do
    unref(KEYS[1 + t * 3], KEYS[2 + t * 3], KEYS[3 + t * 3], ARGV[i], tonumber(ARGV[i + 1]))
  end
  at = at + 2 * n + 1
end
return 1
