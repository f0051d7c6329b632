-- KEYS: layer set, scanned set, pkg, dist, repo, file lists, then the 12 dictionary keys.
-- ARGV: IDs of deleted manifests the layer may still list (IDs are never reused).
-- Unlists them, then reclaims the layer if no manifest uses it, with what its artifacts
-- referenced. Returns 1 if reclaimed, 0 if a manifest uses it (again).
for _, mid in ipairs(ARGV) do redis.call('SREM', KEYS[1], mid) end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local E = {}
for i = 1, 12 do E[i] = KEYS[6 + i] end
for _, e in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  local p, _, src = string.match(e, '^(%d+),(%d+),(%d+)')
  unref(E[1], E[2], E[3], p); unref(E[1], E[2], E[3], src)
end
for t = 1, 3 do
  for _, e in ipairs(redis.call('LRANGE', KEYS[3 + t], 0, -1)) do
    unref(E[1 + t * 3], E[2 + t * 3], E[3 + t * 3], string.match(e, '^(%d+)'))
  end
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return 1
