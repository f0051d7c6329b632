-- cluster/import_layer: a cluster step on slot {l:<digest>}. Links an imported manifest to
-- one of its layers, marks the layer scanned by every scanner of the report, and appends the
-- artifacts the layer does not hold yet.
--
-- KEYS[1]   layer manifest set
-- KEYS[2]   layer scanned set
-- KEYS[3]   layer package artifact list
-- KEYS[4]   layer distribution artifact list
-- KEYS[5]   layer repository artifact list
-- ARGV[1]   manifest ID
-- ARGV[2]   the scanners' IDs, comma-separated
-- ARGV[3]   how many package, distribution and repository artifacts follow (3 counts)
-- ARGV[4]   the artifacts (packed: their bytes end to end)
-- ARGV[5]   their lengths, comma-separated
-- Returns   the entity IDs of the artifacts the layer held already, per kind {pkg, dist,
--           repo}, once per reference (cluster/import_entities took one for each: they go
--           back)
local manifests, scanned = KEYS[1], KEYS[2]
local lists = {pkg = KEYS[3], dist = KEYS[4], repo = KEYS[5]}
local counts = split(ARGV[3], ',')
local artifacts = unpacked(ARGV[4], ARGV[5])
redis.call('SADD', manifests, ARGV[1])
chunked('SADD', scanned, split(ARGV[2], ','))
local back = {{}, {}, {}}
local next_artifact = 1
for t, kind in ipairs({'pkg', 'dist', 'repo'}) do
  local count = tonumber(counts[t])
  if count > 0 then
    local seen = {}
    for _, e in ipairs(redis.call('LRANGE', lists[kind], 0, -1)) do
      seen[string.match(e, '^[^\n]*')] = true
    end
    local new = {}
    for i = next_artifact, next_artifact + count - 1 do
      local identity = string.match(artifacts[i], '^[^\n]*')
      if seen[identity] then
        if kind == 'pkg' then
          local p, _, src = string.match(identity, '^(%d+),(%d+),(%d+)')
          back[1][#back[1] + 1] = p
          back[1][#back[1] + 1] = src
        else
          back[t][#back[t] + 1] = string.match(identity, '^(%d+)')
        end
      else
        seen[identity] = true
        new[#new + 1] = artifacts[i]
      end
    end
    if #new > 0 then chunked('RPUSH', lists[kind], new) end
    next_artifact = next_artifact + count
  end
end
return back
