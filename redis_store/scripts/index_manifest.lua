-- KEYS: manifest hash, seq, the 12 dictionary keys (data, ids, refs for pkg, dist, repo,
--       file), then (name hash, bucket set) per changed record.
-- ARGV: expected gen, the new record list, the manifest's bucket number, then
--       (record "pid:did:rid", package name, '+' or '-') per changed record.
-- Replaces the manifest's index records with the new list in one step: validates every
-- new record's IDs first, then adds and removes reverse-index entries.
local m, seq = KEYS[1], KEYS[2]
local PD, PI, PR = KEYS[3], KEYS[4], KEYS[5]
local DD, DI, DR = KEYS[6], KEYS[7], KEYS[8]
local RD, RI, RR = KEYS[9], KEYS[10], KEYS[11]
local gen = redis.call('HGET', m, 'gen')
if not gen then return fail('UNKNOWN_MANIFEST', '') end
if gen ~= ARGV[1] then return 'RETRY' end
local mid = redis.call('HGET', m, 'id')
local bucket = ARGV[3]
local n = (#ARGV - 3) / 3
for i = 0, n - 1 do
  local rec, name, op = ARGV[4 + i * 3], ARGV[5 + i * 3], ARGV[6 + i * 3]
  if op == '+' then
    local err = check_record(PD, DD, RD, rec, name)
    if err then return err end
  end
end
for i = 0, n - 1 do
  local rec, op = ARGV[4 + i * 3], ARGV[6 + i * 3]
  local nk, bk = KEYS[15 + i * 2], KEYS[16 + i * 2]
  local p, d, r = record_ids(rec)
  local cur = redis.call('HGET', nk, rec)
  if op == '+' then
    redis.call('SADD', bk, mid)
    if not cur then addref(PR, p); addref(DR, d); addref(RR, r) end
    local list, changed = list_add(cur, bucket)
    if changed then redis.call('HSET', nk, rec, list) end
  elseif redis.call('SREM', bk, mid) == 1 and redis.call('SCARD', bk) == 0 then
    local list = list_remove(cur, bucket)
    if list == '' then
      redis.call('HDEL', nk, rec)
      unref(PD, PI, PR, p); unref(DD, DI, DR, d); unref(RD, RI, RR, r)
    else
      redis.call('HSET', nk, rec, list)
    end
  end
end
redis.call('HSET', m, 'recs', ARGV[2], 'gen', redis.call('HINCRBY', seq, 'gen', 1))
return 'OK'
