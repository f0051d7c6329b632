-- KEYS: manifest hash, manifest scanned set, report, lock, manifests table, the 12
--       dictionary keys (data, ids, refs for pkg, dist, repo, file), then 6 keys per layer
--       (layer set, scanned set, pkg, dist, repo, file lists), then (name hash, bucket set)
--       per index record.
-- ARGV: expected gen, the caller's lock token or '', number of layers, bucket number,
--       then the manifest's records.
-- Deletes one manifest, its index records, and every layer no other manifest uses, and
-- reclaims entities nothing references any more. Returns DELETED, GONE, LOCKED or RETRY.
local m = KEYS[1]
local gen = redis.call('HGET', m, 'gen')
if not gen then return 'GONE' end
if gen ~= ARGV[1] then return 'RETRY' end
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[2] then return 'LOCKED' end
local mid = redis.call('HGET', m, 'id')
local E = {}
for i = 1, 12 do E[i] = KEYS[5 + i] end
local nlayers, bucket = tonumber(ARGV[3]), ARGV[4]
local rbase = 18 + nlayers * 6
for i = 5, #ARGV do
  local rec = ARGV[i]
  local nk, bk = KEYS[rbase + (i - 5) * 2], KEYS[rbase + (i - 5) * 2 + 1]
  if redis.call('SREM', bk, mid) == 1 and redis.call('SCARD', bk) == 0 then
    local list = list_remove(redis.call('HGET', nk, rec), bucket)
    if list == '' then
      local p, d, r = record_ids(rec)
      redis.call('HDEL', nk, rec)
      unref(E[1], E[2], E[3], p); unref(E[4], E[5], E[6], d); unref(E[7], E[8], E[9], r)
    else
      redis.call('HSET', nk, rec, list)
    end
  end
end
for j = 0, nlayers - 1 do
  local k = 18 + j * 6
  redis.call('SREM', KEYS[k], mid)
  if redis.call('SCARD', KEYS[k]) == 0 then
    for _, e in ipairs(redis.call('LRANGE', KEYS[k + 2], 0, -1)) do
      local p, _, src = string.match(e, '^(%d+),(%d+),(%d+)')
      unref(E[1], E[2], E[3], p); unref(E[1], E[2], E[3], src)
    end
    for t = 1, 3 do
      for _, e in ipairs(redis.call('LRANGE', KEYS[k + 2 + t], 0, -1)) do
        unref(E[1 + t * 3], E[2 + t * 3], E[3 + t * 3], string.match(e, '^(%d+)'))
      end
    end
    redis.call('DEL', KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5])
  end
end
redis.call('DEL', m, KEYS[2], KEYS[3])
redis.call('HDEL', KEYS[5], mid)
return 'DELETED'
