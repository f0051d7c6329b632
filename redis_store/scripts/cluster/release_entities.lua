-- cluster/release_entities: a cluster step on slot {g}. Gives back references of several
-- kinds; an entity left without references is reclaimed.
--
-- KEYS[1..12] the 12 dictionary keys (data, ids, refs of pkg, dist, repo, file)
-- ARGV[1..]   per kind in that order: a count n, then n pairs (entity ID, references
--             given back)
-- Returns     1
local D = dictionaries(KEYS, 1)
local at = 1
for _, kind in ipairs(KINDS) do
  local n = tonumber(ARGV[at])
  for _, pair in ipairs(groups(slice(ARGV, at + 1, at + 2 * n), 1, 2)) do
    unref(D[kind], pair[1], tonumber(pair[2]))
  end
  at = at + 2 * n + 1
end
return 1
