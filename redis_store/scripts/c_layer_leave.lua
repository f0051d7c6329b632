-- Cluster step, slot {l:<digest>}. KEYS: layer set, scanned set, pkg, dist, repo, file lists.
-- ARGV: IDs of deleted manifests (IDs are never reused).
-- Takes the manifests out of the layer and reclaims the layer once no manifest uses it.
-- Returns {} when the layer is still used, else {package IDs, distribution IDs, repository
-- IDs, file IDs} its artifacts referenced, once per reference (they go back with c_release).
for _, mid in ipairs(ARGV) do redis.call('SREM', KEYS[1], mid) end
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local out = {{}, {}, {}, {}}
for _, e in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  local p, _, src = string.match(e, '^(%d+),(%d+),(%d+)')
  out[1][#out[1] + 1] = p
  out[1][#out[1] + 1] = src
end
for t = 1, 3 do
  for _, e in ipairs(redis.call('LRANGE', KEYS[3 + t], 0, -1)) do
    out[1 + t][#out[1 + t] + 1] = string.match(e, '^(%d+)')
  end
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return out
